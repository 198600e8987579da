//! The simulator behind the `Exchange` trait: a cash balance and positions, market orders filled
//! against the simulated books, limit (GTC) orders that match what they cross and rest the rest,
//! idempotent by client order id, trades confirmed at once, and winning shares paid out at 1 when
//! a market resolves.

use super::{NewsItem, SimConfig, Simulator, StepOutput, WhaleTrade, World};
use crate::exchange::account::{Account, Liquidity, Placed};
use crate::exchange::book::{BookSide, Fill, OrderBook, Side};
use crate::exchange::error::{ExchangeError, Result};
use crate::exchange::types::{Balance, Market, MarketEvent, OpenOrder, OrderAck, OrderRequest, TradeReport};
use crate::exchange::venue::{BoxFuture, Exchange};
use rust_decimal::Decimal;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

#[derive(Debug)]
struct State {
    sim: Simulator,
    account: Account,
}

/// The bot's fills take liquidity out of the simulated books.
impl Liquidity for Simulator {
    fn book(&self, token: &str) -> Option<&OrderBook> {
        Simulator::book(self, token)
    }

    fn take(&mut self, token: &str, side: Side, fill: &Fill) {
        Simulator::take(self, token, side, fill);
    }
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
        Self::of(Simulator::new(config), cash)
    }

    /// A simulated venue in a world drawn beforehand ([`World`]: the runs of a sweep share one),
    /// with `cash` pUSD to trade.
    #[must_use]
    pub fn following(world: Arc<World>, cash: Decimal) -> Self {
        Self::of(Simulator::following(world), cash)
    }

    fn of(sim: Simulator, cash: Decimal) -> Self {
        let state = State { sim, account: Account::new("sim", cash) };
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

    /// Takes over the shares the bot held in an earlier run: the simulated world restarts with
    /// every run, the bot's holdings carry over. Order and trade ids continue from the world's
    /// start time so they never repeat across runs.
    pub fn restore_holdings(&self, holdings: &[(String, Decimal)]) {
        let mut state = self.state();
        let base = u64::try_from(state.sim.now_ms()).unwrap_or_default().saturating_mul(1_000);
        state.account.restore(holdings, base);
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
        (state.sim.markets.iter().filter(|m| m.resolved.is_none()).count(), state.account.cash())
    }

    /// Shares held of a token.
    #[must_use]
    pub fn position(&self, token: &str) -> Decimal {
        self.state().account.position(token)
    }

    /// Advances the world by `dt_ms`, pays out resolved markets and publishes what happened.
    pub fn advance(&self, dt_ms: i64) -> StepOutput {
        let out = {
            let mut state = self.state();
            let State { sim, account } = &mut *state;
            let out = sim.step(dt_ms);
            for event in &out.events {
                if let MarketEvent::Resolved { winning_token, .. } = event
                    && let Some(market) = sim.market_of(winning_token)
                {
                    account.settle(market, winning_token);
                }
            }
            let now = sim.now_ms();
            account.match_resting(sim, now);
            out
        };
        // Nobody listening is fine: the simulator runs whether or not the bot watches. Nothing
        // is copied for a channel nobody listens to (a backtest takes `out` itself).
        publish(&self.events, &out.events);
        publish(&self.whales, &out.whale_trades);
        publish(&self.news, &out.news);
        out
    }

    /// Hands back a step's events once read, for the next steps to reuse their buffers
    /// ([`Simulator::recycle`]).
    pub fn recycle(&self, events: Vec<MarketEvent>) {
        self.state().sim.recycle(events);
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
        let State { sim, account } = &mut *state;
        if let Some(ack) = account.answer(&order.client_id) {
            return Ok(ack);
        }
        let not_found = || ExchangeError::NotFound(format!("token {}", order.token));
        let market = sim.market_of(&order.token).ok_or_else(not_found)?;
        let book = sim.book(&order.token).ok_or_else(not_found)?;
        let now = sim.now_ms();
        let Placed { ack, fill } = account.place(order, market, book, now)?;
        if fill.shares.is_zero() {
            return Ok(ack);
        }
        sim.take(&order.token, order.side, &fill);
        // A fill took liquidity: publish the book it left, so subscribers' books stay exact.
        let book = sim.book(&order.token).map(|b| MarketEvent::Book {
            token: order.token.clone(),
            bids: b.levels(BookSide::Bids).collect(),
            asks: b.levels(BookSide::Asks).collect(),
            at_ms: now,
        });
        drop(state);
        if let Some(book) = book {
            let _ = self.events.send(MarketEvent::Trade {
                token: order.token.clone(),
                side: order.side,
                price: fill.worst_price,
                size: fill.shares,
                at_ms: now,
            });
            let _ = self.events.send(book);
        }
        Ok(ack)
    }

    fn cancel_now(&self, order_id: &str) -> Result<()> {
        self.state().account.cancel(order_id)
    }
}

/// Sends a copy of each of `items` to the channel's receivers, if it has any.
fn publish<T: Clone>(channel: &broadcast::Sender<T>, items: &[T]) {
    if channel.receiver_count() == 0 {
        return;
    }
    for item in items {
        let _ = channel.send(item.clone());
    }
}

impl Exchange for SimExchange {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn markets(&self) -> BoxFuture<'_, Result<Vec<Arc<Market>>>> {
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
        Box::pin(async move { self.cancel_now(order_id) })
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>> {
        let open = self.state().account.open_orders();
        Box::pin(async move { Ok(open) })
    }

    fn trades(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>> {
        let trades = self.state().account.trades_since(since_ms);
        Box::pin(async move { Ok(trades) })
    }

    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        let balance = self.state().account.balance();
        Box::pin(async move { Ok(balance) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::book::{Amount, FillPolicy};
    use crate::exchange::types::{OrderKind, OrderStatus, TradeStatus};
    use rust_decimal_macros::dec;

    fn exchange() -> SimExchange {
        SimExchange::new(
            SimConfig { seed: 9, markets: 20, horizon_days: 1, ..SimConfig::default() },
            dec!(1000),
        )
    }

    /// What a step produced reaches each subscriber whole and in order (`publish` skips only
    /// channels without one), also after steps taken while nobody listened.
    #[test]
    fn subscribers_get_every_step_whole_and_in_order() {
        let ex = exchange();
        let unwatched = ex.advance(60 * 60_000);
        assert!(!unwatched.events.is_empty());
        let (mut events, mut whales, mut news) = (ex.events(), ex.whale_trades(), ex.news());
        fn drain<T: Clone>(rx: &mut broadcast::Receiver<T>) -> Vec<T> {
            std::iter::from_fn(|| rx.try_recv().ok()).collect()
        }
        let mut seen = StepOutput::default();
        let mut produced = StepOutput::default();
        for _ in 0..24 {
            let out = ex.advance(10 * 60_000);
            seen.events.extend(drain(&mut events));
            seen.whale_trades.extend(drain(&mut whales));
            seen.news.extend(drain(&mut news));
            produced.events.extend(out.events);
            produced.whale_trades.extend(out.whale_trades);
            produced.news.extend(out.news);
        }
        assert!(
            !produced.events.is_empty() && !produced.whale_trades.is_empty() && !produced.news.is_empty()
        );
        assert_eq!(seen, produced);
    }

    #[tokio::test]
    async fn a_buy_moves_cash_into_shares_exactly_and_a_retry_does_not_trade_twice() {
        let ex = exchange();
        let mut events = ex.events();
        let market = ex.markets().await.unwrap().remove(0);
        let token = market.outcomes[0].token_id.clone();
        let ack = ex.place(OrderRequest::buy_usd("c-1", &token, dec!(50))).await.unwrap();
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
        let again = ex.place(OrderRequest::buy_usd("c-1", &token, dec!(50))).await.unwrap();
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
        let mut big = OrderRequest::buy_usd("big", &token, dec!(5000));
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

    fn limit(
        client_id: &str,
        token: &str,
        side: Side,
        price: Decimal,
        shares: Decimal,
        post_only: bool,
    ) -> OrderRequest {
        OrderRequest {
            client_id: client_id.into(),
            token: token.into(),
            side,
            kind: OrderKind::Limit { price, shares, post_only },
        }
    }

    #[tokio::test]
    async fn a_resting_limit_buy_locks_its_cash_and_cancelling_gives_it_back_exactly() {
        let ex = exchange();
        let m = ex.markets().await.unwrap().remove(0);
        let token = m.outcomes[0].token_id.clone();
        let book = ex.book(&token).await.unwrap();
        let below = book.best_bid().unwrap().price - m.tick_size;
        let ack = ex.place(limit("l-1", &token, Side::Buy, below, dec!(20), true)).await.unwrap();
        assert_eq!((ack.status, ack.filled_shares), (OrderStatus::Live, Decimal::ZERO));
        assert_eq!(ex.balance().await.unwrap().collateral, dec!(1000) - below * dec!(20));
        let open = ex.open_orders().await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].price, open[0].original_shares, open[0].matched_shares),
            (below, dec!(20), Decimal::ZERO)
        );
        ex.cancel(&ack.order_id).await.unwrap();
        assert_eq!(ex.balance().await.unwrap().collateral, dec!(1000));
        assert!(ex.open_orders().await.unwrap().is_empty());
        assert!(matches!(ex.cancel(&ack.order_id).await, Err(ExchangeError::NotFound(_))));
    }

    #[tokio::test]
    async fn crossing_limits_take_what_they_cross_post_only_refuses_and_bad_prices_are_named() {
        let ex = exchange();
        let m = ex.markets().await.unwrap().remove(0);
        let token = m.outcomes[0].token_id.clone();
        let ask = ex.book(&token).await.unwrap().best_ask().unwrap();
        let err = ex.place(limit("p", &token, Side::Buy, ask.price, dec!(10), true)).await.unwrap_err();
        assert!(err.to_string().contains("crosses book"), "{err}");
        // More than the best level holds, priced at it: that level fills, the rest rests.
        let shares = ask.size + dec!(10);
        let ack = ex.place(limit("x", &token, Side::Buy, ask.price, shares, false)).await.unwrap();
        assert_eq!((ack.status, ack.filled_shares), (OrderStatus::Live, ask.size));
        assert_eq!(ex.position(&token), ask.size);
        let cash = ex.balance().await.unwrap().collateral;
        assert_eq!(cash, dec!(1000) - ack.notional - ack.fee - dec!(10) * ask.price);
        let off_grid = m.tick_size / dec!(2) + dec!(0.5);
        let err = ex.place(limit("g", &token, Side::Buy, off_grid, dec!(10), false)).await.unwrap_err();
        assert!(err.to_string().contains("minimum tick size"), "{err}");
        let err = ex.place(limit("s", &token, Side::Buy, dec!(0.3), dec!(1), false)).await.unwrap_err();
        assert!(err.to_string().contains("lower than the minimum"), "{err}");
    }

    #[tokio::test]
    async fn a_resting_order_fills_at_its_price_when_the_market_moves_through_it() {
        let ex = exchange();
        let markets = ex.markets().await.unwrap();
        // A bid just under the market in every market; over a simulated day prices wander through some.
        let mut placed = Vec::new();
        for (i, m) in markets.iter().enumerate() {
            let token = m.outcomes[0].token_id.clone();
            let bid = ex.book(&token).await.unwrap().best_bid().unwrap().price;
            let ack =
                ex.place(limit(&format!("r-{i}"), &token, Side::Buy, bid, dec!(5), false)).await.unwrap();
            placed.push((token, bid, ack.order_id));
        }
        for _ in 0..12 {
            ex.advance(5 * 60_000);
        }
        let trades = ex.trades(0).await.unwrap();
        assert!(!trades.is_empty(), "some resting bids were reached");
        for t in &trades {
            let (token, bid, _) = placed.iter().find(|(_, _, id)| *id == t.order_id).unwrap();
            assert_eq!(
                (&t.token, t.price, t.fee),
                (token, *bid, Decimal::ZERO),
                "maker fills at its own price, no fee"
            );
            assert_eq!(ex.position(token), t.shares);
        }
        // Cash: everything locked or spent at the bid prices, nothing else.
        let locked: Decimal = placed.iter().map(|(_, bid, _)| *bid * dec!(5)).sum();
        assert_eq!(ex.balance().await.unwrap().collateral, dec!(1000) - locked);
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
            ex.place(OrderRequest::buy_usd(&format!("yes-{i}"), &m.outcomes[0].token_id, dec!(10)))
                .await
                .unwrap();
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
