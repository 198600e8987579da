//! Trading decisions: entries split 50/50 with leg-risk handling, exits, closes and settlement
//! at resolution, each order through the journal (`orders`).

use super::ledger::{Account, apply_fill};
use super::observer::{Decision, Seen};
use super::orders::Placed;
use super::rules::Exit;
use super::{EngineError, EngineEvent, Inner, Result};
use crate::exchange::{Amount, BookSide, FillPolicy, Market, Side};
use crate::store::{
    Action, Intent, IntentAmount, Leg, LegState, Position, PositionStatus, Purpose, Settlement, TradeRecord,
};
use rust_decimal::{Decimal, RoundingStrategy};

/// pUSD rounded down to the cent: what an entry commits (the trader's sizing, and the lab's
/// simulation of it).
pub fn cents(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::ToZero)
}

impl Inner {
    fn market(&self, id: &str) -> Option<std::sync::Arc<Market>> {
        self.state().markets.get(id).cloned()
    }

    /// Claims a position for one operation at a time.
    fn claim(&self, id: u64) -> Result<Position> {
        let mut state = self.state();
        let p = state.positions.get(&id).cloned().ok_or(EngineError::NotOpen(id))?;
        if !state.busy.insert(id) {
            return Err(EngineError::Busy(id));
        }
        Ok(p)
    }

    pub(super) fn release(&self, id: u64) {
        self.state().busy.remove(&id);
    }

    fn cached(&self, id: u64) -> Option<Position> {
        self.state().positions.get(&id).cloned()
    }

    /// Enters a position (see [`super::Engine::enter`]).
    pub(super) async fn enter(
        &self,
        market_id: &str,
        capital: Option<Decimal>,
        score: Option<f32>,
    ) -> Result<Position> {
        let _one_at_a_time = self.entry.lock().await;
        let settings = self.settings();
        let (open, held, available) = {
            let state = self.state();
            let held = state.positions.values().any(|p| p.market_id == market_id);
            let cash = state.account.as_ref().map_or(Decimal::ZERO, |a| a.cash);
            (state.positions.len(), held, cash)
        };
        if open >= usize::try_from(settings.max_positions).unwrap_or(usize::MAX) {
            return Err(EngineError::NoSlot { max: settings.max_positions });
        }
        if held {
            return Err(EngineError::AlreadyHeld(market_id.into()));
        }
        let market = match self.market(market_id) {
            Some(m) => m,
            None => {
                self.refresh_markets().await?;
                self.market(market_id).ok_or_else(|| EngineError::UnknownMarket(market_id.into()))?
            }
        };
        if !market.accepting_orders {
            return Err(EngineError::MarketClosed(market_id.into()));
        }
        let explicit = capital.is_some();
        let capital = match capital {
            Some(c) if c <= Decimal::ZERO => return Err(EngineError::BadAmount(c)),
            Some(c) => cents(c),
            None => cents(available * settings.capital_allocation()),
        };
        if capital > available {
            return Err(EngineError::InsufficientCapital { wanted: capital, available });
        }
        let mut half = cents(capital / Decimal::TWO);
        if half <= Decimal::ZERO {
            return Err(EngineError::BadAmount(capital));
        }
        // Pre-trade check: each side's half rests within the slippage of its best ask, and a
        // fill-or-kill buy of it walks the book as it is now.
        let mut books = Vec::with_capacity(2);
        for leg in Leg::BOTH {
            let token = &market.outcomes[leg.index()].token_id;
            let book = self.venue_book(token).await?;
            let depth = book.depth_within(BookSide::Asks, settings.max_slippage());
            if depth < half {
                return Err(EngineError::Liquidity {
                    leg: leg.as_str(),
                    reason: format!(
                        "{depth} pUSD rests within {} % of the best ask; {half} needed",
                        settings.max_slippage_percent
                    ),
                });
            }
            self.state().books.insert(token.clone(), book.clone());
            books.push(book);
        }
        // A buy's taker fee is paid in pUSD on top of its amount: both legs and their fees must
        // fit in the cash, or the second leg fails for want of its fee. An amount the operator
        // chose is refused; the configured share of the cash shrinks to fit.
        let reserve = |half: Decimal| -> Result<Decimal> {
            let mut fees = Decimal::ZERO;
            for (leg, book) in Leg::BOTH.iter().zip(&books) {
                let fill = book
                    .walk(Side::Buy, Amount::Usd(half), FillPolicy::FillOrKill, market.fee)
                    .map_err(|e| EngineError::Liquidity { leg: leg.as_str(), reason: e.to_string() })?;
                // The exchange may price the fee on every share at the order's worst price.
                fees += fill.fee.max(market.fee.on(fill.shares, fill.worst_price));
            }
            Ok(fees)
        };
        let mut fees = reserve(half)?;
        if half * Decimal::TWO + fees > available {
            let wanted = half * Decimal::TWO + fees;
            if explicit {
                return Err(EngineError::InsufficientCapital { wanted, available });
            }
            // Fees shrink with the amount, so one step fits.
            half = cents((available - fees) / Decimal::TWO);
            if half <= Decimal::ZERO {
                return Err(EngineError::InsufficientCapital { wanted, available });
            }
            fees = reserve(half)?;
            if half * Decimal::TWO + fees > available {
                return Err(EngineError::InsufficientCapital {
                    wanted: half * Decimal::TWO + fees,
                    available,
                });
            }
        }

        // The position and both orders are journalled together, before anything is sent.
        let now = self.clock.now_ms();
        let venue_at_ms = self.venue_time(now);
        let m = market.clone();
        let id_seq = self.client_seq.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
        let scorer = self.state().scan_scorer.clone();
        let (position, intents) = self
            .store
            .write(move |w| {
                let id = w.next_id(crate::store::Sequence::Position)?;
                let leg_state = |l: Leg| LegState {
                    token: m.outcomes[l.index()].token_id.clone(),
                    outcome: m.outcomes[l.index()].name.clone(),
                    ..LegState::default()
                };
                let position = Position {
                    id,
                    market_id: m.id.clone(),
                    question: m.question.clone(),
                    opened_at_ms: now,
                    capital: half * Decimal::TWO,
                    legs: [leg_state(Leg::Yes), leg_state(Leg::No)],
                    status: PositionStatus::Opening,
                    liquidated: None,
                    liquidated_at_ms: None,
                    closed_at_ms: None,
                    close_reason: None,
                    closing: None,
                    score,
                    scorer: scorer.clone(),
                    fee_rate: m.fee.rate,
                    fee_exponent: m.fee.exponent,
                    neg_risk: m.neg_risk,
                    updated_at_ms: now,
                    version: 1,
                };
                let intents = Leg::BOTH.map(|l| Intent {
                    client_id: super::client_id(id, l, Purpose::Entry, now, id_seq + l.index() as u64),
                    position_id: id,
                    leg: l,
                    action: Action::Buy,
                    purpose: Purpose::Entry,
                    token: m.outcomes[l.index()].token_id.clone(),
                    amount: IntentAmount::Usd(half),
                    fill_and_kill: false,
                    created_at_ms: now,
                    reason: "entry".into(),
                    order_id: None,
                    venue_at_ms,
                    decided_by: scorer.clone(),
                });
                w.put_position(&position)?;
                for i in &intents {
                    w.put_intent(i)?;
                }
                Ok((position, intents))
            })
            .await?;
        let id = position.id;
        self.saw(Seen::Decision(&Decision::Entry {
            position: id,
            market_id: position.market_id.clone(),
            capital: position.capital,
            score,
        }));
        self.exchange.watch(&[position.legs[0].token.clone(), position.legs[1].token.clone()]);
        self.state().busy.insert(id);
        self.publish(position, None);
        tracing::info!(position = id, market = %market.question, capital = %(half * Decimal::TWO), "entering");

        let (yes, no) = tokio::join!(self.send(&intents[0]), self.send(&intents[1]));
        let mut outcomes = [yes, no];
        for leg in Leg::BOTH {
            let mut attempts = 0;
            while matches!(outcomes[leg.index()], Placed::Nothing(_))
                && matches!(outcomes[leg.other().index()], Placed::Filled(_))
                && attempts < settings.leg_retries
            {
                attempts += 1;
                let retry = Intent {
                    client_id: self.client_id(id, leg, Purpose::Entry),
                    created_at_ms: self.clock.now_ms(),
                    reason: format!("entry, retry {attempts}"),
                    // A new order: nothing of the earlier one's.
                    order_id: None,
                    venue_at_ms: None,
                    ..intents[leg.index()].clone()
                };
                tracing::warn!(position = id, leg = leg.as_str(), attempts, "entry side failed; retrying");
                outcomes[leg.index()] = self.execute(&retry).await;
            }
        }
        let reasons: Vec<String> = Leg::BOTH
            .iter()
            .filter_map(|l| match &outcomes[l.index()] {
                Placed::Nothing(r) | Placed::Unknown(r) => Some(format!("{}: {r}", l.as_str())),
                Placed::Filled(_) => None,
            })
            .collect();
        if outcomes.iter().any(|o| matches!(o, Placed::Unknown(_))) {
            // The sweep reconciles and finishes the entry once the venue's answer is known.
            self.release(id);
            self.error("trader", format!("position {id}: entry outcome unknown ({})", reasons.join("; ")));
            return self.cached(id).ok_or(EngineError::UnknownPosition(id));
        }
        let finished = self.finish_opening(id, &reasons.join("; ")).await;
        self.release(id);
        finished
    }

    /// Ends an entry from what its sides hold: both → active; one → sold back (unwound); none →
    /// failed. Used after an entry and, after a crash, by recovery.
    pub(super) async fn finish_opening(&self, id: u64, why: &str) -> Result<Position> {
        let p = self.cached(id).ok_or(EngineError::UnknownPosition(id))?;
        if p.status != PositionStatus::Opening {
            return Ok(p);
        }
        let held = Leg::BOTH.map(|l| p.leg(l).is_held());
        match held {
            [true, true] => {
                let mut p = p;
                p.status = PositionStatus::Active;
                self.save(p).await
            }
            [false, false] => {
                let mut p = p;
                p.status = PositionStatus::Failed;
                p.closed_at_ms = Some(self.clock.now_ms());
                p.close_reason = Some(format!("entry failed, nothing bought ({why})"));
                let saved = self.save(p).await?;
                self.error("trader", format!("position {id}: entry failed ({why})"));
                Ok(saved)
            }
            _ => {
                let filled = if held[0] { Leg::Yes } else { Leg::No };
                let failed = filled.other();
                let shares = p.leg(filled).sellable();
                let unwind = Intent {
                    client_id: self.client_id(id, filled, Purpose::Unwind),
                    position_id: id,
                    leg: filled,
                    action: Action::Sell,
                    purpose: Purpose::Unwind,
                    token: p.leg(filled).token.clone(),
                    amount: IntentAmount::Shares(shares),
                    fill_and_kill: true,
                    created_at_ms: self.clock.now_ms(),
                    reason: format!("unwind: the {} side could not be bought ({why})", failed.as_str()),
                    order_id: None,
                    venue_at_ms: None,
                    decided_by: None,
                };
                let outcome = self.execute(&unwind).await;
                let mut p = self.cached(id).ok_or(EngineError::UnknownPosition(id))?;
                if p.leg(filled).is_held() {
                    // Could not sell it all back: keep managing what is left as a one-sided position.
                    p.status = PositionStatus::Liquidated;
                    p.liquidated = Some(failed);
                    p.liquidated_at_ms = Some(self.clock.now_ms());
                    let saved = self.save(p).await?;
                    self.error(
                        "trader",
                        format!(
                            "position {id}: {} side failed and the unwind left shares ({outcome:?})",
                            failed.as_str()
                        ),
                    );
                    return Ok(saved);
                }
                p.status = PositionStatus::Unwound;
                p.closed_at_ms = Some(self.clock.now_ms());
                p.close_reason = Some(unwind.reason.clone());
                let saved = self.save(p).await?;
                self.error("trader", format!("position {id}: {}", unwind.reason));
                Ok(saved)
            }
        }
    }

    /// Sells what a side holds, fill-and-kill.
    async fn sell(&self, p: &Position, leg: Leg, purpose: Purpose, reason: &str, by: Option<&str>) -> Placed {
        let shares = p.leg(leg).sellable();
        if shares <= Decimal::ZERO {
            return Placed::Nothing("nothing held".into());
        }
        let intent = Intent {
            client_id: self.client_id(p.id, leg, purpose),
            position_id: p.id,
            leg,
            action: Action::Sell,
            purpose,
            token: p.leg(leg).token.clone(),
            amount: IntentAmount::Shares(shares),
            fill_and_kill: true,
            created_at_ms: self.clock.now_ms(),
            reason: reason.to_owned(),
            order_id: None,
            venue_at_ms: None,
            decided_by: by.map(str::to_owned),
        };
        self.execute(&intent).await
    }

    /// Carries out an exit decision on a claimed position, then releases it.
    /// `by`: the plugin version that decided it (`None`: the operator or the built-in rule).
    pub(super) async fn act(&self, id: u64, exit: Exit, reason: String, by: Option<String>) {
        let result = self.act_claimed(id, exit, &reason, by.as_deref()).await;
        self.release(id);
        if let Err(e) = result {
            self.error("trader", format!("position {id}: {exit:?} failed: {e}"));
        }
    }

    async fn act_claimed(&self, id: u64, exit: Exit, reason: &str, by: Option<&str>) -> Result<()> {
        let Some(p) = self.cached(id) else { return Ok(()) };
        let legs: Vec<Leg> = match exit {
            Exit::Liquidate(l) | Exit::StopLoss(l) | Exit::TakeProfit(l) => vec![l],
            Exit::CloseAll => {
                if p.closing.is_none() {
                    let mut p = p;
                    p.closing = Some(reason.to_owned());
                    self.save(p).await?;
                }
                Leg::BOTH.to_vec()
            }
        };
        for leg in legs {
            let Some(current) = self.cached(id) else { return Ok(()) };
            match self.sell(&current, leg, exit.purpose(), reason, by).await {
                Placed::Filled(t) => {
                    tracing::info!(position = id, leg = leg.as_str(), shares = %t.shares, price = %t.price, reason, "sold");
                }
                Placed::Nothing(why) | Placed::Unknown(why) => {
                    self.error("trader", format!("position {id}: selling {} failed: {why}", leg.as_str()));
                }
            }
        }
        Ok(())
    }

    /// Closes a position: both remaining sides (see [`super::Engine::close`]).
    pub(super) async fn close(&self, id: u64, reason: String) -> Result<Position> {
        if !self.state().positions.contains_key(&id) {
            let known = self.store.read()?.position(id)?.is_some();
            return Err(if known { EngineError::NotOpen(id) } else { EngineError::UnknownPosition(id) });
        }
        let p = self.claim(id)?;
        if p.status == PositionStatus::Opening {
            self.release(id);
            return Err(EngineError::Busy(id));
        }
        self.act(id, Exit::CloseAll, reason, None).await;
        match self.cached(id) {
            Some(p) => Ok(p),
            None => self.store.read()?.position(id)?.ok_or(EngineError::UnknownPosition(id)),
        }
    }

    /// A market resolved: every side held pays 1 (winner) or 0; the positions close.
    pub(super) async fn settle_market(&self, market_id: &str, winning_token: &str) {
        let ids: Vec<u64> =
            self.state().positions.values().filter(|p| p.market_id == market_id).map(|p| p.id).collect();
        for id in ids {
            let at = self.clock.now_ms();
            let winner = winning_token.to_owned();
            let written = self
                .store
                .write(move |w| {
                    let Some(mut p) = w.position(id)? else { return Ok(None) };
                    if !p.status.is_open() {
                        return Ok(None);
                    }
                    let mut account: Account =
                        w.config(Account::KEY)?.unwrap_or_else(|| Account::new(Decimal::ZERO, "", at));
                    let mut trades = Vec::new();
                    for leg in Leg::BOTH {
                        let held = p.leg(leg).held();
                        if held <= Decimal::ZERO {
                            continue;
                        }
                        let price = if p.leg(leg).token == winner { Decimal::ONE } else { Decimal::ZERO };
                        let trade = TradeRecord {
                            id: w.next_id(crate::store::Sequence::Trade)?,
                            position_id: id,
                            leg,
                            action: Action::Settle,
                            purpose: Purpose::Settlement,
                            client_id: String::new(),
                            order_id: String::new(),
                            exchange_trade_ids: vec![],
                            price,
                            shares: held,
                            notional: held * price,
                            fee: Decimal::ZERO,
                            status: Settlement::Confirmed,
                            tx_hash: None,
                            at_ms: at,
                            reason: "market resolved".into(),
                            decided_by: None,
                        };
                        apply_fill(&mut p, &trade);
                        account.apply(&trade);
                        w.put_trade(&trade)?;
                        trades.push(trade);
                    }
                    let won = p.legs.iter().find(|l| l.token == winner).map_or("?", |l| l.outcome.as_str());
                    p.status = PositionStatus::Closed;
                    p.closed_at_ms = Some(at);
                    p.close_reason = Some(format!("market resolved: {won} won"));
                    p.version += 1;
                    w.put_position(&p)?;
                    account.put(w)?;
                    Ok(Some((p, account, trades)))
                })
                .await;
            match written {
                Ok(Some((p, account, trades))) => {
                    self.publish(p, Some(account));
                    for t in trades {
                        self.emit(EngineEvent::TradeExecuted { trade: Box::new(t) });
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.error("trader", format!("position {id}: settlement could not be recorded: {e}"))
                }
            }
        }
    }
}

/// Status after a fill outside an entry: a side sold by the liquidation rule marks the position
/// liquidated; nothing left closes it.
pub(super) fn restatus(p: &mut Position, trade: &TradeRecord) {
    if p.status == PositionStatus::Opening || trade.action == Action::Buy {
        return;
    }
    let gone = !p.leg(trade.leg).is_held();
    if trade.purpose == Purpose::Liquidation && gone && p.liquidated.is_none() {
        p.liquidated = Some(trade.leg);
        p.liquidated_at_ms = Some(trade.at_ms);
    }
    let held = Leg::BOTH.map(|l| p.leg(l).is_held());
    match held {
        [false, false] => {
            p.status = PositionStatus::Closed;
            p.closed_at_ms = Some(trade.at_ms);
            p.close_reason = Some(p.closing.take().unwrap_or_else(|| trade.reason.clone()));
        }
        [true, true] => p.status = PositionStatus::Active,
        _ if p.liquidated.is_some() => p.status = PositionStatus::Liquidated,
        _ => {}
    }
}
