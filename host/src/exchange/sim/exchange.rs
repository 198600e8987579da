//! The simulator behind the `Exchange` trait: a cash balance and positions, market orders filled
//! against the simulated books, idempotent by client order id, trades confirmed at once, and
//! winning shares paid out at 1 when a market resolves.

use super::{NewsItem, SimConfig, SimError, Simulator, StepOutput, WhaleTrade};
use crate::exchange::book::{BookSide, FillError, OrderBook, Side};
use crate::exchange::error::{ExchangeError, Result};
use crate::exchange::types::{
    Balance, Market, MarketEvent, OpenOrder, OrderAck, OrderKind, OrderRequest, OrderStatus, TradeReport,
    TradeStatus,
};
use crate::exchange::venue::{BoxFuture, Exchange};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

#[derive(Debug)]
struct State {
    sim: Simulator,
    cash: Decimal,
    /// Shares held per token.
    positions: BTreeMap<String, Decimal>,
    trades: Vec<TradeReport>,
    /// Answers by client order id, so a retried placement never trades twice.
    placed: BTreeMap<String, OrderAck>,
    next_id: u64,
}

/// The simulated venue. Cheap to clone; clones share the world.
#[derive(Debug, Clone)]
pub struct SimExchange {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<MarketEvent>,
    whales: broadcast::Sender<WhaleTrade>,
    news: broadcast::Sender<NewsItem>,
}

impl SimExchange {
    /// A simulated world with `cash` pUSD to trade.
    #[must_use]
    pub fn new(config: SimConfig, cash: Decimal) -> Self {
        let state = State {
            sim: Simulator::new(config),
            cash,
            positions: BTreeMap::new(),
            trades: Vec::new(),
            placed: BTreeMap::new(),
            next_id: 0,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            events: broadcast::channel(4_096).0,
            whales: broadcast::channel(1_024).0,
            news: broadcast::channel(256).0,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Simulated time, Unix milliseconds.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.state().sim.now_ms()
    }

    /// Whale trades as they happen (the Data API's role for the simulator).
    #[must_use]
    pub fn whale_trades(&self) -> broadcast::Receiver<WhaleTrade> {
        self.whales.subscribe()
    }

    /// News items as they appear.
    #[must_use]
    pub fn news(&self) -> broadcast::Receiver<NewsItem> {
        self.news.subscribe()
    }

    /// Markets still open and the pUSD held, for the dashboard.
    #[must_use]
    pub fn summary(&self) -> (usize, Decimal) {
        let state = self.state();
        (state.sim.markets.iter().filter(|m| m.resolved.is_none()).count(), state.cash)
    }

    /// Shares held of a token.
    #[must_use]
    pub fn position(&self, token: &str) -> Decimal {
        self.state().positions.get(token).copied().unwrap_or_default()
    }

    /// Advances the world by `dt_ms`, pays out resolved markets and publishes what happened.
    pub fn advance(&self, dt_ms: i64) -> StepOutput {
        let out = {
            let mut state = self.state();
            let out = state.sim.step(dt_ms);
            for event in &out.events {
                if let MarketEvent::Resolved { winning_token, .. } = event {
                    settle(&mut state, winning_token);
                }
            }
            out
        };
        // Nobody listening is fine: the simulator runs whether or not the bot watches.
        for e in &out.events {
            let _ = self.events.send(e.clone());
        }
        for w in &out.whale_trades {
            let _ = self.whales.send(w.clone());
        }
        for n in &out.news {
            let _ = self.news.send(n.clone());
        }
        out
    }

    /// Runs the world on a tokio task: every `tick` of real time it advances `tick × speed`
    /// (speed 1 is real time; 60 makes a simulated hour pass in a minute). Stops when the
    /// returned handle is aborted or dropped with the runtime.
    #[must_use]
    pub fn spawn_driver(&self, speed: f64, tick: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let exchange = self.clone();
        #[allow(clippy::cast_possible_truncation, reason = "a bounded, validated speed times a tick")]
        let step_ms = (tick.as_secs_f64() * 1_000.0 * speed.max(0.0)).round() as i64;
        tokio::spawn(async move {
            let mut clock = tokio::time::interval(tick);
            clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                clock.tick().await;
                exchange.advance(step_ms);
            }
        })
    }

    fn place_now(&self, order: &OrderRequest) -> Result<OrderAck> {
        let mut state = self.state();
        if let Some(ack) = state.placed.get(&order.client_id) {
            return Ok(ack.clone());
        }
        let OrderKind::Market { amount, policy } = order.kind else {
            return Err(ExchangeError::Rejected {
                reason: "the simulator takes market orders (FOK/FAK) only".into(),
            });
        };
        // Check funds against a dry run, then execute the same walk.
        let book = state
            .sim
            .book(&order.token)
            .ok_or_else(|| ExchangeError::NotFound(format!("token {}", order.token)))?;
        let fee = state
            .sim
            .markets()
            .into_iter()
            .find(|m| m.outcomes.iter().any(|o| o.token_id == order.token))
            .map(|m| m.fee)
            .unwrap_or_default();
        let dry = book.walk(order.side, amount, policy, fee).map_err(rejected)?;
        match order.side {
            Side::Buy if dry.notional + dry.fee > state.cash => {
                return Err(ExchangeError::Rejected { reason: "not enough balance / allowance".into() });
            }
            Side::Sell if dry.shares > state.positions.get(&order.token).copied().unwrap_or_default() => {
                return Err(ExchangeError::Rejected { reason: "not enough balance / allowance".into() });
            }
            _ => {}
        }
        let fill = state.sim.execute(&order.token, order.side, amount, policy).map_err(|e| match e {
            SimError::Fill(f) => rejected(f),
            other => ExchangeError::Rejected { reason: other.to_string() },
        })?;
        let held = state.positions.entry(order.token.clone()).or_default();
        match order.side {
            Side::Buy => {
                *held += fill.shares;
                state.cash -= fill.notional + fill.fee;
            }
            Side::Sell => {
                *held -= fill.shares;
                state.cash += fill.notional - fill.fee;
            }
        }
        state.next_id += 1;
        let id = state.next_id;
        let now = state.sim.now_ms();
        let trade = TradeReport {
            trade_id: format!("sim-trade-{id}"),
            order_id: format!("sim-order-{id}"),
            token: order.token.clone(),
            side: order.side,
            price: fill.average_price(),
            shares: fill.shares,
            fee: fill.fee,
            status: TradeStatus::Confirmed,
            tx_hash: Some(format!("0x{id:064x}")),
            at_ms: now,
        };
        let ack = OrderAck {
            order_id: trade.order_id.clone(),
            status: OrderStatus::Matched,
            filled_shares: fill.shares,
            notional: fill.notional,
            fee: fill.fee,
            trade_ids: vec![trade.trade_id.clone()],
        };
        state.trades.push(trade);
        state.placed.insert(order.client_id.clone(), ack.clone());
        // The fill took liquidity: publish the book it left, so subscribers' books stay exact.
        let book = state.sim.book(&order.token).map(|b| MarketEvent::Book {
            token: order.token.clone(),
            bids: b.levels(BookSide::Bids).collect(),
            asks: b.levels(BookSide::Asks).collect(),
            at_ms: now,
        });
        drop(state);
        let _ = self.events.send(MarketEvent::Trade {
            token: order.token.clone(),
            side: order.side,
            price: fill.worst_price,
            size: fill.shares,
            at_ms: now,
        });
        if let Some(book) = book {
            let _ = self.events.send(book);
        }
        Ok(ack)
    }
}

fn rejected(e: FillError) -> ExchangeError {
    ExchangeError::Rejected { reason: e.to_string() }
}

/// Pays 1 pUSD per winning share and clears the market's positions.
fn settle(state: &mut State, winning_token: &str) {
    let Some(m) =
        state.sim.markets.iter().find(|m| m.market.outcomes.iter().any(|o| o.token_id == winning_token))
    else {
        return;
    };
    let tokens: Vec<String> = m.market.outcomes.iter().map(|o| o.token_id.clone()).collect();
    for token in &tokens {
        if let Some(shares) = state.positions.remove(token)
            && token == winning_token
        {
            state.cash += shares;
        }
    }
}

impl Exchange for SimExchange {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn markets(&self) -> BoxFuture<'_, Result<Vec<Market>>> {
        let markets = self.state().sim.markets();
        Box::pin(async move { Ok(markets) })
    }

    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<OrderBook>> {
        let book = self.state().sim.book(token).cloned();
        Box::pin(async move { book.ok_or_else(|| ExchangeError::NotFound(format!("token {token}"))) })
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.events.subscribe()
    }

    fn place(&self, order: OrderRequest) -> BoxFuture<'_, Result<OrderAck>> {
        Box::pin(async move { self.place_now(&order) })
    }

    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Result<()>> {
        // Market orders never rest, so there is never anything to cancel.
        Box::pin(async move { Err(ExchangeError::NotFound(format!("open order {order_id}"))) })
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn trades(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>> {
        let trades = self.state().trades.iter().filter(|t| t.at_ms >= since_ms).cloned().collect();
        Box::pin(async move { Ok(trades) })
    }

    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        let cash = self.state().cash;
        Box::pin(async move { Ok(Balance { collateral: cash, allowance: None }) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::book::{Amount, FillPolicy};
    use rust_decimal_macros::dec;

    fn exchange() -> SimExchange {
        SimExchange::new(
            SimConfig { seed: 9, markets: 20, horizon_days: 1, ..SimConfig::default() },
            dec!(1000),
        )
    }

    fn buy(client_id: &str, token: &str, usd: Decimal) -> OrderRequest {
        OrderRequest {
            client_id: client_id.into(),
            token: token.into(),
            side: Side::Buy,
            kind: OrderKind::Market { amount: Amount::Usd(usd), policy: FillPolicy::FillOrKill },
        }
    }

    #[tokio::test]
    async fn a_buy_moves_cash_into_shares_exactly_and_a_retry_does_not_trade_twice() {
        let ex = exchange();
        let mut events = ex.events();
        let market = ex.markets().await.unwrap().remove(0);
        let token = market.outcomes[0].token_id.clone();
        let ack = ex.place(buy("c-1", &token, dec!(50))).await.unwrap();
        assert_eq!(ack.status, OrderStatus::Matched);
        let cash = ex.balance().await.unwrap().collateral;
        assert_eq!(cash, dec!(1000) - ack.notional - ack.fee);
        assert_eq!(ex.position(&token), ack.filled_shares);
        // Subscribers see the book the fill left behind.
        let mut books = crate::exchange::BookSet::new(dec!(5));
        while let Ok(e) = events.try_recv() {
            books.apply(&e);
        }
        assert_eq!(books.get(&token), Some(&ex.book(&token).await.unwrap()));
        let again = ex.place(buy("c-1", &token, dec!(50))).await.unwrap();
        assert_eq!(again, ack);
        assert_eq!(ex.balance().await.unwrap().collateral, cash, "no second trade");
        let trades = ex.trades(0).await.unwrap();
        assert_eq!(trades.len(), 1);
        assert_eq!(trades[0].status, TradeStatus::Confirmed);
    }

    #[tokio::test]
    async fn orders_beyond_the_balance_or_the_position_are_rejected_and_change_nothing() {
        let ex = exchange();
        let token = ex.markets().await.unwrap()[0].outcomes[1].token_id.clone();
        // Fill-and-kill: whatever the book holds (thousands of pUSD here) is beyond 1,000 of cash.
        let mut big = buy("big", &token, dec!(5000));
        big.kind = OrderKind::Market { amount: Amount::Usd(dec!(5000)), policy: FillPolicy::FillAndKill };
        let err = ex.place(big).await.unwrap_err();
        assert!(matches!(&err, ExchangeError::Rejected { reason } if reason.contains("balance")), "{err}");
        let sell = OrderRequest {
            client_id: "s".into(),
            token: token.clone(),
            side: Side::Sell,
            kind: OrderKind::Market { amount: Amount::Shares(dec!(10)), policy: FillPolicy::FillOrKill },
        };
        assert!(matches!(ex.place(sell).await, Err(ExchangeError::Rejected { .. })));
        assert_eq!(ex.balance().await.unwrap().collateral, dec!(1000));
        assert!(ex.trades(0).await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_driver_advances_simulated_time_at_its_speed() {
        let ex = exchange();
        let start = ex.now_ms();
        let driver = ex.spawn_driver(60.0, std::time::Duration::from_secs(1));
        tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
        driver.abort();
        // Ticks at 0 s, 1 s … 10 s of (paused, auto-advanced) real time: 11 minutes simulated.
        assert_eq!(ex.now_ms() - start, 11 * 60_000);
    }

    #[tokio::test]
    async fn resolution_pays_winning_shares_at_one_and_events_are_published() {
        let ex = exchange();
        let mut events = ex.events();
        let markets = ex.markets().await.unwrap();
        for (i, m) in markets.iter().enumerate() {
            ex.place(buy(&format!("yes-{i}"), &m.outcomes[0].token_id, dec!(10))).await.unwrap();
        }
        let spent = dec!(1000) - ex.balance().await.unwrap().collateral;
        let held: Vec<Decimal> = markets.iter().map(|m| ex.position(&m.outcomes[0].token_id)).collect();
        let mut winners = Decimal::ZERO;
        for _ in 0..(26 * 12) {
            for e in ex.advance(5 * 60_000).events {
                if let MarketEvent::Resolved { winning_token, .. } = e
                    && let Some(i) = markets.iter().position(|m| m.outcomes[0].token_id == winning_token)
                {
                    winners += held[i];
                }
            }
        }
        assert!(ex.markets().await.unwrap().is_empty(), "every market ended within a day");
        assert_eq!(ex.balance().await.unwrap().collateral, dec!(1000) - spent + winners);
        assert!(events.try_recv().is_ok(), "events were broadcast");
    }
}
