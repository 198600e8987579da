//! Crash recovery: journalled orders whose answer was never recorded are matched against the
//! venue's own trades (recorded once, or resolved as unfilled), interrupted entries are finished
//! and the ledger is checked against the venue's balance.

use super::ledger::{Account, reverse_fill};
use super::orders::{FillReport, Placed};
use super::{Inner, Result};
use crate::exchange::{Side, TradeReport, TradeStatus};
use crate::store::{Action, Intent, IntentAmount, PositionStatus, Settlement, TradeRecord};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};

/// An intent the venue shows no trace of is taken as never filled once it is this old (the
/// venue answers a placement in well under a second).
const GRACE_MS: i64 = 10_000;

/// Trades a sweep reads at most to follow their settlement.
const SETTLEMENT_PAGE: usize = 10_000;

/// How far along settlement is, for taking the least advanced of several trades.
fn progress(s: Settlement) -> u8 {
    match s {
        Settlement::Failed => 0,
        Settlement::Matched => 1,
        Settlement::Retrying => 2,
        Settlement::Mined => 3,
        Settlement::Confirmed => 4,
    }
}

fn settlement(s: TradeStatus) -> Settlement {
    match s {
        TradeStatus::Matched => Settlement::Matched,
        TradeStatus::Mined => Settlement::Mined,
        TradeStatus::Confirmed => Settlement::Confirmed,
        TradeStatus::Retrying => Settlement::Retrying,
        TradeStatus::Failed => Settlement::Failed,
    }
}

/// The venue's trades of one order not recorded yet, as one fill. With the order's id known
/// (journalled from its acknowledgement), its own trades; without, the earliest order on the
/// intent's token and side placed after the intent was written, by the venue's clock (the
/// place journalled with the intent, else `offset_ms`: venue minus local, now), with the
/// venue's trade times rounded down to seconds.
fn find_fill(
    intent: &Intent,
    trades: &[TradeReport],
    known: &Known,
    claimed: &HashSet<String>,
    offset_ms: i64,
) -> Option<FillReport> {
    let side = if intent.action == Action::Buy { Side::Buy } else { Side::Sell };
    let written_at_venue =
        intent.venue_at_ms.unwrap_or_else(|| intent.created_at_ms.saturating_add(offset_ms));
    let mut orders: BTreeMap<&str, Vec<&TradeReport>> = BTreeMap::new();
    for t in trades.iter().filter(|t| {
        let ours = match &intent.order_id {
            Some(id) => t.order_id == *id,
            // Matched by time, an order already booked is not a candidate, even when its trades'
            // ids were never learnt (an order answer without them): it belongs to another intent.
            None => {
                t.token == intent.token
                    && t.side == side
                    && t.at_ms >= written_at_venue - 5_000
                    && !known.order_ids.contains(&t.order_id)
            }
        };
        ours && t.status != TradeStatus::Failed
            && !known.trade_ids.contains(&t.trade_id)
            && !claimed.contains(&t.order_id)
    }) {
        orders.entry(t.order_id.as_str()).or_default().push(t);
    }
    let (order_id, fills) = orders
        .into_iter()
        // Matched by time, an order that traded more than the intent asked for is not ours,
        // whatever else fits: taking it would book shares the position never had.
        .filter(|(_, fills)| intent.order_id.is_some() || fits(intent, fills))
        .min_by_key(|(_, fills)| fills.iter().map(|t| t.at_ms).min().unwrap_or(i64::MAX))?;
    let order_id = order_id.to_owned();
    let status = fills
        .iter()
        .map(|t| settlement(t.status))
        .min_by_key(|s| progress(*s))
        .unwrap_or(Settlement::Matched);
    Some(FillReport {
        order_id,
        trade_ids: fills.iter().map(|t| t.trade_id.clone()).collect(),
        shares: fills.iter().map(|t| t.shares).sum(),
        notional: fills.iter().map(|t| t.shares * t.price).sum(),
        fee: fills.iter().map(|t| t.fee).sum(),
        status,
        tx_hash: fills.iter().find_map(|t| t.tx_hash.clone()),
    })
}

/// What the ledger already holds of the venue's trades: their ids, and the orders they came from.
#[derive(Debug, Default)]
struct Known {
    trade_ids: HashSet<String>,
    order_ids: HashSet<String>,
}

/// Whether an order's fills are within what `intent` asked for: its shares, or its pUSD (to the
/// cent: the venue rounds a market buy's shares).
fn fits(intent: &Intent, fills: &[&TradeReport]) -> bool {
    match intent.amount {
        IntentAmount::Shares(asked) => fills.iter().map(|t| t.shares).sum::<Decimal>() <= asked,
        IntentAmount::Usd(asked) => {
            fills.iter().map(|t| t.shares * t.price).sum::<Decimal>() <= asked + Decimal::new(1, 2)
        }
    }
}

/// Writes settlement changes; a trade that failed is undone in its position and the account, in
/// the same transaction. Returns the positions and the account it changed.
fn record_settlements(
    w: &mut crate::store::Writer<'_>,
    trades: &[TradeRecord],
) -> crate::store::Result<(Vec<crate::store::Position>, Option<Account>)> {
    let mut positions: BTreeMap<u64, crate::store::Position> = BTreeMap::new();
    let mut account: Option<Account> = None;
    for t in trades {
        let failed_now = t.status == Settlement::Failed
            && w.trade(t.id)?.is_some_and(|old| old.status != Settlement::Failed);
        w.put_trade(t)?;
        if !failed_now {
            continue;
        }
        let mut p = match positions.remove(&t.position_id) {
            Some(p) => p,
            None => match w.position(t.position_id)? {
                Some(p) => p,
                None => continue,
            },
        };
        reverse_fill(&mut p, t);
        restatus_after_failure(&mut p, t.at_ms);
        p.version += 1;
        let mut a = match account.take() {
            Some(a) => a,
            None => w.config(Account::KEY)?.unwrap_or_else(|| Account::new(Decimal::ZERO, "", t.at_ms)),
        };
        a.reverse(t);
        account = Some(a);
        positions.insert(p.id, p);
    }
    for p in positions.values() {
        w.put_position(p)?;
    }
    if let Some(a) = &mut account {
        a.put(w)?;
    }
    Ok((positions.into_values().collect(), account))
}

/// A position's status once a failed trade is undone: what it holds decides.
fn restatus_after_failure(p: &mut crate::store::Position, at_ms: i64) {
    use crate::store::Leg;
    if p.status == PositionStatus::Opening {
        return;
    }
    match Leg::BOTH.map(|l| p.leg(l).is_held()) {
        [true, true] => {
            p.status = PositionStatus::Active;
            p.liquidated = None;
            p.liquidated_at_ms = None;
            p.closed_at_ms = None;
            p.close_reason = None;
        }
        [false, false] => {
            p.status = PositionStatus::Closed;
            p.closed_at_ms.get_or_insert(at_ms);
            p.close_reason.get_or_insert_with(|| "a trade failed at settlement; nothing is held".into());
        }
        [yes, _] => {
            let gone = if yes { Leg::No } else { Leg::Yes };
            p.status = PositionStatus::Liquidated;
            p.liquidated = Some(gone);
            p.liquidated_at_ms.get_or_insert(at_ms);
            p.closed_at_ms = None;
            p.close_reason = None;
        }
    }
}

impl Inner {
    /// At start: pending orders, then interrupted entries, then the balance check (when no order
    /// is left journalled).
    pub(super) async fn recover(&self) -> Result<()> {
        let pending = self.store.read()?.intents()?.len();
        if pending > 0 {
            tracing::warn!(pending, "orders journalled but not recorded: reconciling with the venue");
        }
        // The listing first: venues price the fees of reported trades from market schedules.
        if pending > 0
            && let Err(e) = self.refresh_markets().await
        {
            tracing::warn!(error = %e, "listing markets before reconciling");
        }
        self.reconcile(true).await;
        self.finish_interrupted_entries("entry interrupted by a restart").await;
        let journalled = self.store.read()?.intents()?.len();
        if journalled > 0 {
            // Orders the venue may still be filling move its balance: no comparison until then.
            tracing::info!(journalled, "orders still journalled: balance check skipped");
            return Ok(());
        }
        match self.exchange.balance().await {
            Ok(balance) => {
                let cash = self.state().account.as_ref().map_or(Decimal::ZERO, |a| a.cash);
                // The venue reports whole micro-units of pUSD; the ledger keeps fills exactly
                // (shares × price can have more places), so less than a micro-unit is no difference.
                if (balance.collateral - cash).abs() >= Decimal::new(1, 6) {
                    self.error(
                        "recovery",
                        format!(
                            "the venue holds {} pUSD, the ledger expects {cash}: deposits, withdrawals or \
                             trades made outside the bot",
                            balance.collateral
                        ),
                    );
                }
            }
            Err(e) => self.error("recovery", format!("balance check: {e}")),
        }
        Ok(())
    }

    /// The sweep's part: pending orders of positions with nothing in flight.
    pub(super) async fn reconcile_pending(&self) {
        self.reconcile(false).await;
    }

    /// Matches pending intents with the venue's trades. At start every intent is looked at (its
    /// sender is gone), later only those past the grace period and not in flight; either way one
    /// the venue shows no trade for is resolved as unfilled only once past the grace period: the
    /// venue may still fill an order a killed process sent a moment ago.
    async fn reconcile(&self, at_start: bool) {
        let intents = match self.store.journal() {
            Ok(i) => i,
            Err(e) => return self.error("recovery", format!("reading the journal: {e}")),
        };
        let now = self.clock.now_ms();
        let intents: Vec<Intent> = {
            let state = self.state();
            intents
                .iter()
                .filter(|i| {
                    at_start || (!state.busy.contains(&i.position_id) && now - i.created_at_ms >= GRACE_MS)
                })
                .cloned()
                .collect()
        };
        let Some(since) = intents.iter().map(|i| i.created_at_ms).min() else { return };
        // Unknown until measured: the query's minute of margin covers a skew of seconds, but
        // no order without an id is concluded unfilled from trade times meanwhile.
        let clock = self.exchange.clock_offset_ms();
        let offset = clock.unwrap_or(0);
        let trades = match self.exchange.trades(since.saturating_add(offset) - 60_000).await {
            Ok(t) => t,
            Err(e) => return self.error("recovery", format!("the venue's trades: {e}; will retry")),
        };
        let known = match self.known_fills() {
            Ok(k) => k,
            Err(e) => return self.error("recovery", e.to_string()),
        };
        let mut claimed = HashSet::new();
        for intent in intents {
            // Matched by time, with no way yet to place the intent on the venue's clock.
            let windowed = intent.order_id.is_none() && intent.venue_at_ms.is_none();
            let found = if windowed && clock.is_none() {
                None
            } else {
                find_fill(&intent, &trades, &known, &claimed, offset)
            };
            let placed = match found {
                Some(fill) => {
                    claimed.insert(fill.order_id.clone());
                    self.record(&intent, fill).await
                }
                None if windowed && clock.is_none() => Placed::Unknown(
                    "the venue's clock is not known yet, so its trades cannot be matched by time; \
                     the sweep asks again once it is"
                        .into(),
                ),
                None if now - intent.created_at_ms < GRACE_MS => Placed::Unknown(
                    "no trade at the venue yet; the sweep asks again after the grace period".into(),
                ),
                None => match self.resolve_unfilled(&intent).await {
                    Ok(()) => Placed::Nothing("no trade at the venue".into()),
                    Err(e) => Placed::Unknown(e.to_string()),
                },
            };
            tracing::info!(client_id = %intent.client_id, position = intent.position_id, outcome = ?placed, "reconciled");
        }
    }

    /// One intent whose placement had no clear answer, right after it was sent.
    pub(super) async fn reconcile_intent(&self, intent: &Intent) -> Result<Option<Placed>> {
        let placed_on_venue_clock = intent.order_id.is_some() || intent.venue_at_ms.is_some();
        let Some(offset) = self.exchange.clock_offset_ms().or_else(|| placed_on_venue_clock.then_some(0))
        else {
            // Matched by time only, on a clock not measured yet: the sweep decides later.
            return Ok(None);
        };
        let trades = self.exchange.trades(intent.created_at_ms.saturating_add(offset) - 60_000).await?;
        let known = self.known_fills()?;
        match find_fill(intent, &trades, &known, &HashSet::new(), offset) {
            Some(fill) => Ok(Some(self.record(intent, fill).await)),
            None => Ok(None),
        }
    }

    /// Follows recorded trades to settlement: status and transaction hash from the venue's
    /// record. A trade the venue reports failed is an error for the operator: the venue undid it.
    pub(super) async fn refresh_settlements(&self) {
        // Taken before the read: a trade written meanwhile has the next sweep read again.
        let writes = self.store.trade_writes();
        let from = {
            let state = self.state();
            if state.settled_through == Some(writes) {
                return;
            }
            state.unsettled_from
        };
        let page = match self.store.read().and_then(|r| r.trades_after(from, SETTLEMENT_PAGE)) {
            Ok(t) => t,
            Err(e) => return self.error("recovery", format!("reading trades: {e}")),
        };
        let unsettled = |t: &TradeRecord| {
            !t.exchange_trade_ids.is_empty()
                && matches!(t.status, Settlement::Matched | Settlement::Mined | Settlement::Retrying)
        };
        let pending: Vec<TradeRecord> = page.iter().filter(|t| unsettled(t)).cloned().collect();
        let mut still_open: Vec<u64> = Vec::new();
        if let Some(since) = pending.iter().map(|t| t.at_ms).min() {
            let venue = match self.exchange.trades(since - 60_000).await {
                Ok(t) => t,
                Err(e) => return tracing::warn!(error = %e, "settlement status"),
            };
            let by_id: HashMap<&str, &TradeReport> = venue.iter().map(|t| (t.trade_id.as_str(), t)).collect();
            let mut changed = Vec::new();
            for mut t in pending {
                let reports: Vec<&TradeReport> =
                    t.exchange_trade_ids.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect();
                let status = if reports.len() < t.exchange_trade_ids.len() {
                    t.status
                } else if reports.iter().any(|r| r.status == TradeStatus::Failed) {
                    Settlement::Failed
                } else {
                    reports
                        .iter()
                        .map(|r| settlement(r.status))
                        .min_by_key(|s| progress(*s))
                        .unwrap_or(t.status)
                };
                let tx = reports.iter().find_map(|r| r.tx_hash.clone());
                if status != t.status || (tx.is_some() && tx != t.tx_hash) {
                    t.status = status;
                    t.tx_hash = tx.or(t.tx_hash);
                    changed.push(t.clone());
                }
                if unsettled(&t) {
                    still_open.push(t.id);
                }
            }
            if !changed.is_empty() {
                let writes = changed.clone();
                let written = self.store.write(move |w| record_settlements(w, &writes)).await;
                let (positions, account) = match written {
                    Ok(w) => w,
                    Err(e) => return self.error("recovery", format!("recording settlement: {e}")),
                };
                for p in positions {
                    self.publish(p, account.clone());
                }
                for t in changed {
                    if t.status == Settlement::Failed {
                        self.error(
                            "settlement",
                            format!(
                                "trade {} ({:?} {} of position {}) failed at settlement: the venue undid it, \
                                 and so did the ledger",
                                t.id,
                                t.action,
                                t.leg.as_str(),
                                t.position_id
                            ),
                        );
                    }
                    self.emit(super::EngineEvent::TradeExecuted { trade: Box::new(t) });
                }
            }
        }
        // Next time, start just before the oldest trade still settling (or after this page).
        let next = match still_open.iter().min() {
            Some(id) => Some(id - 1).filter(|i| *i > 0),
            None => page.last().map(|t| t.id).or(from),
        };
        let mut state = self.state();
        state.unsettled_from = next;
        // Every trade read is settled and none is left unread: nothing to follow until a write.
        state.settled_through = (still_open.is_empty() && page.len() < SETTLEMENT_PAGE).then_some(writes);
    }

    fn known_fills(&self) -> Result<Known> {
        let mut known = Known::default();
        for t in self.store.read()?.trades()? {
            if !t.order_id.is_empty() {
                known.order_ids.insert(t.order_id);
            }
            known.trade_ids.extend(t.exchange_trade_ids);
        }
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{IntentAmount, Leg, Purpose};
    use rust_decimal_macros::dec;

    fn intent(order_id: Option<&str>) -> Intent {
        Intent {
            client_id: "p1-yes-entry".into(),
            position_id: 1,
            leg: Leg::Yes,
            action: Action::Buy,
            purpose: Purpose::Entry,
            token: "tok-yes".into(),
            amount: IntentAmount::Usd(dec!(10)),
            fill_and_kill: false,
            created_at_ms: 1_000_000,
            reason: "entry".into(),
            order_id: order_id.map(str::to_owned),
            venue_at_ms: None,
            decided_by: None,
        }
    }

    fn trade(id: &str, order: &str, at_ms: i64) -> TradeReport {
        TradeReport {
            trade_id: id.into(),
            order_id: order.into(),
            token: "tok-yes".into(),
            side: Side::Buy,
            price: dec!(0.5),
            shares: dec!(20),
            fee: Decimal::ZERO,
            status: TradeStatus::Matched,
            tx_hash: None,
            at_ms,
        }
    }

    #[test]
    fn an_order_id_from_the_acknowledgement_decides_whatever_the_times_say() {
        let (nothing, none) = (Known::default(), HashSet::new());
        // Another order on the same token and side, right after the intent; ours, filled a
        // minute "before" it on a venue clock far off.
        let trades = [trade("t-other", "0xother", 1_000_500), trade("t-ours", "0xours", 940_000)];
        let by_id = find_fill(&intent(Some("0xours")), &trades, &nothing, &none, 0).unwrap();
        assert_eq!(
            (by_id.order_id.as_str(), by_id.trade_ids.as_slice()),
            ("0xours", ["t-ours".to_owned()].as_slice())
        );
        // Without an id, the window decides: the other order is the only one after the intent.
        let by_time = find_fill(&intent(None), &trades, &nothing, &none, 0).unwrap();
        assert_eq!(by_time.order_id, "0xother");
        // An id with no trade yet is no fill, even with a candidate in the window.
        assert!(find_fill(&intent(Some("0xlater")), &trades, &nothing, &none, 0).is_none());
    }

    #[test]
    fn matched_by_time_an_order_larger_than_the_intent_is_not_ours() {
        let (nothing, none) = (Known::default(), HashSet::new());
        // The intent buys 10 pUSD: an order that spent 10 (20 × 0.5) fits; one of 40 × 0.5 does not.
        let mut big = trade("t-big", "0xbig", 1_000_100);
        big.shares = dec!(40);
        let trades = [big.clone(), trade("t-fits", "0xfits", 1_000_200)];
        assert_eq!(find_fill(&intent(None), &trades, &nothing, &none, 0).unwrap().order_id, "0xfits");
        assert!(find_fill(&intent(None), &[big.clone()], &nothing, &none, 0).is_none());
        // A sell of 321.45 shares never takes a fill of 529.63.
        let sell =
            Intent { action: Action::Sell, amount: IntentAmount::Shares(dec!(321.45)), ..intent(None) };
        let sold = |id: &str, shares| TradeReport { side: Side::Sell, shares, ..trade(id, id, 1_000_300) };
        assert!(find_fill(&sell, &[sold("0xlarge", dec!(529.63))], &nothing, &none, 0).is_none());
        assert_eq!(
            find_fill(&sell, &[sold("0xours", dec!(321.45))], &nothing, &none, 0).unwrap().shares,
            dec!(321.45)
        );
        // With the order's id from its acknowledgement, the venue's record stands as it is.
        assert_eq!(find_fill(&intent(Some("0xbig")), &[big], &nothing, &none, 0).unwrap().shares, dec!(40));
    }

    #[test]
    fn without_an_id_the_window_is_on_the_venues_clock() {
        let (nothing, none) = (Known::default(), HashSet::new());
        // The venue's clock runs 6 s behind this machine's; its trade is stamped in whole seconds.
        let trades = [trade("t1", "0xo", 994_000)];
        assert!(find_fill(&intent(None), &trades, &nothing, &none, 0).is_none(), "a local window misses it");
        assert!(
            find_fill(&intent(None), &trades, &nothing, &none, -6_000).is_some(),
            "the venue's window finds it"
        );
        // Journalled with its place on the venue's clock, the intent keeps it: when a clock
        // jumps 14 s before the reconciliation, today's difference does not move the window.
        let stamped = Intent { venue_at_ms: Some(994_000), ..intent(None) };
        assert!(
            find_fill(&stamped, &trades, &nothing, &none, 8_000).is_some(),
            "the journalled place decides"
        );
        assert!(
            find_fill(&intent(None), &trades, &nothing, &none, 8_000).is_none(),
            "today's difference misses it"
        );
    }

    /// The soak's case: an earlier sell was booked from an order answer that named no trade ids,
    /// so its trade is unknown by id; a later sell on the same token, reconciled by time, must
    /// not take that order's trade for its own.
    #[test]
    fn matched_by_time_an_order_already_booked_is_not_ours() {
        let none = HashSet::new();
        let sell = Intent { action: Action::Sell, amount: IntentAmount::Shares(dec!(600)), ..intent(None) };
        let sold = |id: &str, shares| TradeReport { side: Side::Sell, shares, ..trade(id, id, 1_000_300) };
        let trades = [sold("0xbooked", dec!(529.63))];
        let booked = Known { trade_ids: HashSet::new(), order_ids: HashSet::from(["0xbooked".to_owned()]) };
        assert!(find_fill(&sell, &trades, &booked, &none, 0).is_none());
        assert_eq!(find_fill(&sell, &trades, &Known::default(), &none, 0).unwrap().order_id, "0xbooked");
        // With the intent's own order id, the venue's record of that order stands.
        let by_id = Intent { order_id: Some("0xbooked".into()), ..sell };
        assert!(find_fill(&by_id, &trades, &booked, &none, 0).is_some());
    }
}
