//! Orders with a journal: every order is written down before it is sent, its venue order id
//! kept as soon as the venue acknowledges it, and resolved in the same transaction that records
//! its fill.

use super::ledger::{Account, apply_fill};
use super::observer::{Decision, Seen};
use super::trader::restatus;
use super::{EngineEvent, Inner, Result, cache_account, cache_position, mark};
use crate::exchange::{
    Amount, ExchangeError, FillPolicy, OrderAck, OrderKind, OrderRequest, OrderStatus, Side,
};
use crate::store::{Action, Intent, IntentAmount, Position, Settlement, TradeRecord};
use rust_decimal::Decimal;

/// What became of one order.
#[derive(Debug)]
pub(super) enum Placed {
    /// It filled (possibly partly); the fill is recorded.
    Filled(Box<TradeRecord>),
    /// Nothing traded, for this reason; the intent is resolved.
    Nothing(String),
    /// The venue's answer is not known; the intent stays journalled for reconciliation.
    Unknown(String),
}

/// A fill to record for an intent.
#[derive(Debug, Clone)]
pub(super) struct FillReport {
    pub order_id: String,
    pub trade_ids: Vec<String>,
    pub shares: Decimal,
    pub notional: Decimal,
    pub fee: Decimal,
    pub status: Settlement,
    pub tx_hash: Option<String>,
}

impl FillReport {
    fn from_ack(ack: &OrderAck) -> Self {
        Self {
            order_id: ack.order_id.clone(),
            trade_ids: ack.trade_ids.clone(),
            shares: ack.filled_shares,
            notional: ack.notional,
            fee: ack.fee,
            status: Settlement::Matched,
            tx_hash: None,
        }
    }
}

impl Inner {
    /// `local_ms` on the venue's clock, by the clocks' difference known now (`None`: not
    /// measured yet). Journalled with each intent, so a clock that jumps before the
    /// reconciliation does not move the window its fills are looked for in.
    pub(super) fn venue_time(&self, local_ms: i64) -> Option<i64> {
        self.exchange.clock_offset_ms().map(|o| local_ms.saturating_add(o))
    }

    /// Writes an intent to the journal.
    async fn journal(&self, intent: &Intent) -> Result<()> {
        let mut i = intent.clone();
        if i.venue_at_ms.is_none() {
            i.venue_at_ms = self.venue_time(i.created_at_ms);
        }
        self.store.write(move |w| w.put_intent(&i)).await?;
        Ok(())
    }

    /// Sends a journalled intent and records what came of it.
    pub(super) async fn send(&self, intent: &Intent) -> Placed {
        let (side, amount) = match (intent.action, intent.amount) {
            (Action::Buy, IntentAmount::Usd(v)) => (Side::Buy, Amount::Usd(v)),
            (Action::Buy, IntentAmount::Shares(v)) => (Side::Buy, Amount::Shares(v)),
            (_, IntentAmount::Shares(v) | IntentAmount::Usd(v)) => (Side::Sell, Amount::Shares(v)),
        };
        let policy = if intent.fill_and_kill { FillPolicy::FillAndKill } else { FillPolicy::FillOrKill };
        let order = OrderRequest {
            client_id: intent.client_id.clone(),
            token: intent.token.clone(),
            side,
            kind: OrderKind::Market { amount, policy },
        };
        if self.observed() {
            let (amount, by_usd) = match amount {
                Amount::Usd(v) => (v, true),
                Amount::Shares(v) => (v, false),
            };
            self.saw(Seen::Decision(&Decision::Order {
                position: intent.position_id,
                client_id: intent.client_id.clone(),
                token: intent.token.clone(),
                side: format!("{side:?}").to_lowercase(),
                amount,
                by_usd,
            }));
        }
        super::monitor::tick_to_order();
        let placed = self.exchange.place(order).await;
        if let Some(m) = self.metrics {
            m.order(side_label(side), outcome_label(&placed));
        }
        if self.observed() {
            let (shares, notional, fee, outcome) = match &placed {
                Ok(ack) => {
                    (ack.filled_shares, ack.notional, ack.fee, format!("{:?}", ack.status).to_lowercase())
                }
                Err(e) => (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, e.to_string()),
            };
            self.saw(Seen::Decision(&Decision::Fill {
                client_id: intent.client_id.clone(),
                shares,
                notional,
                fee,
                outcome,
            }));
        }
        match placed {
            Ok(ack) if matches!(ack.status, OrderStatus::Delayed | OrderStatus::Live) => {
                // Its fills come later: they will be matched by this id, whatever the clocks say.
                let mut known = intent.clone();
                known.order_id = Some(ack.order_id.clone()).filter(|id| !id.is_empty());
                let kept = match self.journal(&known).await {
                    Ok(()) => String::new(),
                    Err(e) => format!(" (its id could not be journalled: {e})"),
                };
                Placed::Unknown(format!(
                    "order {} is {:?}; its fills will be reconciled{kept}",
                    ack.order_id, ack.status
                ))
            }
            Ok(ack) => self.record(intent, FillReport::from_ack(&ack)).await,
            Err(e @ (ExchangeError::Rejected { .. } | ExchangeError::Retryable { .. })) => {
                // Nothing reached the book: the intent is resolved with nothing traded.
                let reason = e.to_string();
                match self.resolve_unfilled(intent).await {
                    Ok(()) => Placed::Nothing(reason),
                    Err(e) => Placed::Unknown(format!("{reason}; and the journal could not be updated: {e}")),
                }
            }
            Err(e) => {
                // Sent, fate unknown: find out from the venue's trades before doing anything else.
                match self.reconcile_intent(intent).await {
                    Ok(Some(placed)) => placed,
                    Ok(None) => Placed::Unknown(e.to_string()),
                    Err(r) => Placed::Unknown(format!("{e}; reconciliation failed: {r}")),
                }
            }
        }
    }

    /// Journals then sends.
    pub(super) async fn execute(&self, intent: &Intent) -> Placed {
        if let Err(e) = self.journal(intent).await {
            return Placed::Nothing(format!("not sent: the journal could not be written: {e}"));
        }
        self.send(intent).await
    }

    /// Resolves an intent that traded nothing.
    pub(super) async fn resolve_unfilled(&self, intent: &Intent) -> Result<()> {
        let id = intent.client_id.clone();
        self.store.write(move |w| w.remove_intent(&id).map(|_| ())).await?;
        Ok(())
    }

    /// Records a fill and resolves its intent, in one transaction; updates the cache and tells
    /// subscribers. A fill of nothing just resolves the intent.
    pub(super) async fn record(&self, intent: &Intent, fill: FillReport) -> Placed {
        // The venue's numbers are checked where they are parsed; a fill that still makes no
        // sense is not booked: its intent stays journalled for reconciliation.
        let negative = |d: Decimal| d.is_sign_negative() && !d.is_zero();
        if negative(fill.shares) || negative(fill.notional) || negative(fill.fee) {
            return Placed::Unknown(format!(
                "order {}: a fill of {} shares for {} pUSD (fee {}) makes no sense; not recorded",
                fill.order_id, fill.shares, fill.notional, fill.fee
            ));
        }
        if fill.shares.is_zero() {
            return match self.resolve_unfilled(intent).await {
                Ok(()) => Placed::Nothing("nothing matched".into()),
                Err(e) => Placed::Unknown(format!("the journal could not be updated: {e}")),
            };
        }
        let at_ms = self.clock.now_ms();
        let intent = intent.clone();
        let written = self
            .store
            .write(move |w| {
                if !w.remove_intent(&intent.client_id)? {
                    // Already recorded (a reconciliation got there first).
                    return Ok(None);
                }
                let Some(mut position) = w.position(intent.position_id)? else {
                    return Ok(None);
                };
                let id = w.next_id(crate::store::Sequence::Trade)?;
                let trade = TradeRecord {
                    id,
                    position_id: intent.position_id,
                    leg: intent.leg,
                    action: intent.action,
                    purpose: intent.purpose,
                    client_id: intent.client_id.clone(),
                    order_id: fill.order_id,
                    exchange_trade_ids: fill.trade_ids,
                    price: fill.notional / fill.shares,
                    shares: fill.shares,
                    notional: fill.notional,
                    fee: fill.fee,
                    status: fill.status,
                    tx_hash: fill.tx_hash,
                    at_ms,
                    reason: intent.reason.clone(),
                    decided_by: intent.decided_by.clone(),
                };
                apply_fill(&mut position, &trade);
                restatus(&mut position, &trade);
                position.version += 1;
                let mut account: Account =
                    w.config(Account::KEY)?.unwrap_or_else(|| Account::new(Decimal::ZERO, "", at_ms));
                account.apply(&trade);
                w.put_trade(&trade)?;
                w.put_position(&position)?;
                account.put(w)?;
                Ok(Some((trade, position, account)))
            })
            .await;
        match written {
            Ok(Some((trade, position, account))) => {
                self.publish(position, Some(account));
                self.emit(EngineEvent::TradeExecuted { trade: Box::new(trade.clone()) });
                Placed::Filled(Box::new(trade))
            }
            Ok(None) => Placed::Nothing("already recorded".into()),
            Err(e) => Placed::Unknown(format!("filled, but the fill could not be recorded: {e}")),
        }
    }

    /// Caches a written position (and account) and tells subscribers. Writes in flight together
    /// may get here in another order than they were committed: a copy older than the one cached
    /// changes nothing and is not announced (the newer one was).
    pub(super) fn publish(&self, position: Position, account: Option<Account>) {
        {
            let mut state = self.state();
            if let Some(a) = account {
                cache_account(&mut state, a);
            }
            let (bids, asks) = super::tops(&state, &position);
            if !cache_position(&mut state, position.clone()) {
                return;
            }
            let pnl = mark(&position, bids);
            // Sent under the lock, so subscribers hear of a position's copies in version order
            // (sending never waits).
            self.emit(EngineEvent::PositionUpdate { position: Box::new(position.clone()), pnl, bids, asks });
        }
        // Every position write passes here, so the closed positions' summaries stay in step.
        self.history.note(&position);
    }

    /// Writes a position changed outside a fill (status, closing flag).
    pub(super) async fn save(&self, mut position: Position) -> Result<Position> {
        let at = self.clock.now_ms();
        let written = self
            .store
            .write(move |w| {
                let stored = w.position(position.id)?.map_or(0, |p| p.version);
                position.version = stored + 1;
                position.updated_at_ms = at;
                w.put_position(&position)?;
                Ok(position)
            })
            .await?;
        self.publish(written.clone(), None);
        Ok(written)
    }
}

fn side_label(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// An order's outcome as the `result` label of the orders metric.
fn outcome_label(placed: &crate::exchange::Result<OrderAck>) -> &'static str {
    match placed {
        Ok(ack) => match ack.status {
            OrderStatus::Matched if ack.filled_shares.is_zero() => "unmatched",
            OrderStatus::Matched => "matched",
            OrderStatus::Delayed => "delayed",
            OrderStatus::Live => "live",
            OrderStatus::Unmatched => "unmatched",
            OrderStatus::Cancelled => "cancelled",
        },
        Err(ExchangeError::Rejected { .. }) => "rejected",
        Err(ExchangeError::Retryable { .. }) => "retryable",
        Err(ExchangeError::OutcomeUnknown { .. }) => "unknown",
        Err(ExchangeError::Malformed { .. } | ExchangeError::NotFound(_)) => "failed",
    }
}
