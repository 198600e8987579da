use super::*;
use crate::exchange::book::{Amount, BookSide, FillPolicy, Level, TakerFee};
use crate::exchange::types::{OrderKind, OrderStatus, Outcome, TradeStatus};
use rust_decimal_macros::dec;
use std::time::Duration;

/// A data venue with fixed markets and books that change only when the test says so.
struct Feed {
    markets: Mutex<Vec<Market>>,
    books: Mutex<BookSet>,
    events: broadcast::Sender<MarketEvent>,
}

impl Feed {
    /// Market `m1` (tokens `yes`, `no`; tick 0.01, minimum 5 shares, taker fee 2 %): the yes
    /// book bids 0.49×20, 0.48×30 and asks 0.52×25, 0.53×60; the no book is its mirror.
    fn new(capacity: usize) -> Arc<Self> {
        let feed = Self {
            markets: Mutex::new(vec![market("m1", "yes", "no")]),
            books: Mutex::new(BookSet::new(dec!(5))),
            events: broadcast::channel(capacity).0,
        };
        feed.set_quietly(snapshot(
            "yes",
            &[(dec!(0.49), dec!(20)), (dec!(0.48), dec!(30))],
            &[(dec!(0.52), dec!(25)), (dec!(0.53), dec!(60))],
        ));
        feed.set_quietly(snapshot(
            "no",
            &[(dec!(0.48), dec!(25)), (dec!(0.47), dec!(60))],
            &[(dec!(0.51), dec!(20)), (dec!(0.52), dec!(30))],
        ));
        Arc::new(feed)
    }

    /// Changes a book and tells subscribers.
    fn publish(&self, event: MarketEvent) {
        self.set_quietly(event.clone());
        let _ = self.events.send(event);
    }

    /// Changes a book without telling anyone (as if the message were lost).
    fn set_quietly(&self, event: MarketEvent) {
        self.books.lock().unwrap().apply(&event);
    }

    fn current(&self, token: &str) -> OrderBook {
        self.books.lock().unwrap().get(token).cloned().unwrap()
    }
}

impl Exchange for Feed {
    fn name(&self) -> &'static str {
        "feed"
    }
    fn markets(&self) -> BoxFuture<'_, Result<Vec<Arc<Market>>>> {
        let markets = self.markets.lock().unwrap().iter().cloned().map(Arc::new).collect();
        Box::pin(async move { Ok(markets) })
    }
    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<OrderBook>> {
        let book = self.books.lock().unwrap().get(token).cloned();
        Box::pin(async move { book.ok_or_else(|| ExchangeError::NotFound(format!("token {token}"))) })
    }
    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.events.subscribe()
    }
    fn place(&self, _: OrderRequest) -> BoxFuture<'_, Result<OrderAck>> {
        Box::pin(async { Err(ExchangeError::Rejected { reason: "data only".into() }) })
    }
    fn cancel<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(ExchangeError::Rejected { reason: "data only".into() }) })
    }
    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn trades(&self, _: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        Box::pin(async { Err(ExchangeError::Rejected { reason: "data only".into() }) })
    }
}

fn market(id: &str, yes: &str, no: &str) -> Market {
    Market {
        id: id.into(),
        question: format!("{id}?"),
        slug: id.into(),
        category: "test".into(),
        end_ms: None,
        outcomes: [
            Outcome { name: "Yes".into(), token_id: yes.into() },
            Outcome { name: "No".into(), token_id: no.into() },
        ],
        tick_size: dec!(0.01),
        min_size: dec!(5),
        neg_risk: false,
        liquidity: Decimal::ZERO,
        volume_24h: Decimal::ZERO,
        accepting_orders: true,
        fee: TakerFee { rate: dec!(0.02), exponent: Decimal::ONE },
    }
}

fn levels(levels: &[(Decimal, Decimal)]) -> Vec<Level> {
    levels.iter().map(|&(price, size)| Level { price, size }).collect()
}

fn snapshot(token: &str, bids: &[(Decimal, Decimal)], asks: &[(Decimal, Decimal)]) -> MarketEvent {
    MarketEvent::Book { token: token.into(), bids: levels(bids), asks: levels(asks), at_ms: 0 }
}

fn setup() -> (Arc<Feed>, PaperExchange) {
    let feed = Feed::new(64);
    let paper = PaperExchange::new(feed.clone(), dec!(1000));
    (feed, paper)
}

fn market_order(id: &str, token: &str, side: Side, amount: Amount, policy: FillPolicy) -> OrderRequest {
    OrderRequest {
        client_id: id.into(),
        token: token.into(),
        side,
        kind: OrderKind::Market { amount, policy },
    }
}

fn buy(id: &str, token: &str, usd: Decimal, policy: FillPolicy) -> OrderRequest {
    market_order(id, token, Side::Buy, Amount::Usd(usd), policy)
}

fn limit(id: &str, token: &str, side: Side, price: Decimal, shares: Decimal) -> OrderRequest {
    OrderRequest {
        client_id: id.into(),
        token: token.into(),
        side,
        kind: OrderKind::Limit { price, shares, post_only: false },
    }
}

async fn cash(paper: &PaperExchange) -> Decimal {
    paper.balance().await.unwrap().collateral
}

/// Waits (never more than 5 s) for the follower task to bring about `done`.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    waited.await.unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test]
async fn a_buy_by_pusd_walks_into_the_second_level_and_pays_the_fee_per_level() {
    let (_feed, paper) = setup();
    let ack = paper.place(buy("b", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    // Level 1: 25 × 0.52 = 13. 17 left / 0.53 = 32.0754… → 32.07 shares costing 16.9971.
    assert_eq!(ack.status, OrderStatus::Matched);
    assert_eq!((ack.filled_shares, ack.notional), (dec!(57.07), dec!(29.9971)));
    // Fees: 25 × 0.02 × 0.52 × 0.48 = 0.1248; 32.07 × 0.02 × 0.53 × 0.47 = 0.15977274 → 0.15977.
    assert_eq!(ack.fee, dec!(0.28457));
    assert!(ack.order_id.starts_with("paper-order-"), "{}", ack.order_id);
    // 1000 − 29.9971 − 0.28457.
    assert_eq!(cash(&paper).await, dec!(969.71833));
    assert_eq!(paper.position("yes"), dec!(57.07));
    let trades = paper.trades(0).await.unwrap();
    assert_eq!(trades.len(), 1);
    let t = &trades[0];
    assert_eq!((&t.order_id, &t.token, t.side), (&ack.order_id, &"yes".to_string(), Side::Buy));
    // Average price 29.9971 / 57.07 = 0.525619414…
    assert_eq!(t.price.round_dp(9), dec!(0.525619415));
    assert_eq!(
        (t.shares, t.fee, t.status, t.tx_hash.as_deref()),
        (dec!(57.07), dec!(0.28457), TradeStatus::Confirmed, None)
    );
    assert_eq!(ack.trade_ids, vec![t.trade_id.clone()]);
}

#[tokio::test]
async fn a_fok_beyond_the_depth_is_killed_and_changes_nothing() {
    let (_feed, paper) = setup();
    // All the asks: 13 + 60 × 0.53 = 44.80 pUSD.
    let err = paper.place(buy("k", "yes", dec!(50), FillPolicy::FillOrKill)).await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Rejected { reason } if reason.contains("couldn't be fully filled") && reason.contains("44.80")),
        "{err}"
    );
    assert_eq!(cash(&paper).await, dec!(1000));
    assert_eq!(paper.position("yes"), Decimal::ZERO);
    assert!(paper.trades(0).await.unwrap().is_empty());
    assert!(paper.open_orders().await.unwrap().is_empty());
    // Not even the client id is remembered: a smaller order under it goes through.
    let ack = paper.place(buy("k", "yes", dec!(13), FillPolicy::FillOrKill)).await.unwrap();
    assert_eq!((ack.filled_shares, ack.notional), (dec!(25), dec!(13.00)));
}

#[tokio::test]
async fn a_fak_takes_what_the_book_holds() {
    let (_feed, paper) = setup();
    let ack = paper.place(buy("f", "yes", dec!(50), FillPolicy::FillAndKill)).await.unwrap();
    assert_eq!(ack.status, OrderStatus::Matched);
    // 25 at 0.52 and all 60 at 0.53; the other 5.20 pUSD stays.
    assert_eq!((ack.filled_shares, ack.notional), (dec!(85), dec!(44.80)));
    // 0.1248 + 60 × 0.02 × 0.53 × 0.47 = 0.1248 + 0.29892.
    assert_eq!(ack.fee, dec!(0.42372));
    assert_eq!(cash(&paper).await, dec!(954.77628));
    assert_eq!(paper.position("yes"), dec!(85));
}

#[tokio::test]
async fn a_restored_account_holds_what_the_last_run_held_and_numbers_ids_afresh() {
    let feed = Feed::new(64);
    let paper = PaperExchange::restored(feed.clone(), dec!(500), &[("yes".into(), dec!(25))]);
    assert_eq!((cash(&paper).await, paper.position("yes")), (dec!(500), dec!(25)));
    let sell = market_order("s", "yes", Side::Sell, Amount::Shares(dec!(25)), FillPolicy::FillOrKill);
    let ack = paper.place(sell).await.unwrap();
    assert_eq!(ack.notional, dec!(12.20));
    assert_eq!(paper.position("yes"), Decimal::ZERO);
    // Ids continue from the wall clock, so they never repeat a previous run's.
    let n: u64 = ack.order_id.rsplit('-').next().unwrap().parse().unwrap();
    assert!(n > 1_000_000_000_000_000, "{}", ack.order_id);
}

#[tokio::test]
async fn a_sell_by_shares_takes_the_bids_best_first() {
    let (_feed, paper) = setup();
    paper.place(buy("b", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    let sell = market_order("s", "yes", Side::Sell, Amount::Shares(dec!(25)), FillPolicy::FillOrKill);
    let ack = paper.place(sell).await.unwrap();
    // 20 at 0.49 = 9.80 and 5 at 0.48 = 2.40.
    assert_eq!((ack.filled_shares, ack.notional), (dec!(25), dec!(12.20)));
    // 20 × 0.02 × 0.49 × 0.51 = 0.09996; 5 × 0.02 × 0.48 × 0.52 = 0.02496.
    assert_eq!(ack.fee, dec!(0.12492));
    // 969.71833 + 12.20 − 0.12492.
    assert_eq!(cash(&paper).await, dec!(981.79341));
    assert_eq!(paper.position("yes"), dec!(32.07));
    let trades = paper.trades(0).await.unwrap();
    assert_eq!((trades[1].side, trades[1].price), (Side::Sell, dec!(0.488)));
    // More than is held, or a sell by pUSD: refused, nothing changes.
    let too_many = market_order("t", "yes", Side::Sell, Amount::Shares(dec!(40)), FillPolicy::FillAndKill);
    let err = paper.place(too_many).await.unwrap_err();
    assert!(err.to_string().contains("not enough balance"), "{err}");
    let by_usd = market_order("u", "yes", Side::Sell, Amount::Usd(dec!(5)), FillPolicy::FillAndKill);
    let err = paper.place(by_usd).await.unwrap_err();
    assert!(err.to_string().contains("not a pUSD amount"), "{err}");
    assert_eq!((cash(&paper).await, paper.position("yes")), (dec!(981.79341), dec!(32.07)));
}

#[tokio::test]
async fn a_gtc_rests_and_fills_at_its_price_when_the_live_book_crosses_it() {
    let (feed, paper) = setup();
    let ack = paper.place(limit("g", "yes", Side::Buy, dec!(0.50), dec!(20))).await.unwrap();
    assert_eq!((ack.status, ack.filled_shares), (OrderStatus::Live, Decimal::ZERO));
    assert_eq!(cash(&paper).await, dec!(990.00), "20 × 0.50 locked");
    // Someone offers 8 at 0.50: 8 of ours fill.
    feed.publish(MarketEvent::PriceChange {
        token: "yes".into(),
        side: BookSide::Asks,
        price: dec!(0.50),
        size: dec!(8),
        at_ms: 1,
    });
    wait_until("the first maker fill", || paper.position("yes") == dec!(8)).await;
    let open = paper.open_orders().await.unwrap();
    assert_eq!((open[0].original_shares, open[0].matched_shares), (dec!(20), dec!(8)));
    // The market drops through our price: the other 12 fill, still at 0.50 and without fee.
    feed.publish(snapshot("yes", &[(dec!(0.48), dec!(10))], &[(dec!(0.49), dec!(100))]));
    wait_until("the order to fill", || paper.position("yes") == dec!(20)).await;
    assert!(paper.open_orders().await.unwrap().is_empty());
    let trades = paper.trades(0).await.unwrap();
    let fills: Vec<_> = trades.iter().map(|t| (t.order_id.as_str(), t.price, t.shares, t.fee)).collect();
    assert_eq!(
        fills,
        vec![
            (ack.order_id.as_str(), dec!(0.50), dec!(8), Decimal::ZERO),
            (ack.order_id.as_str(), dec!(0.50), dec!(12), Decimal::ZERO)
        ]
    );
    assert_eq!(cash(&paper).await, dec!(990.00));
    assert_eq!(paper.held_book("yes"), Some(feed.current("yes")), "the live book is left as it is");
}

#[tokio::test]
async fn cancelling_gives_back_locked_cash_and_shares() {
    let (_feed, paper) = setup();
    let bid = paper.place(limit("l", "yes", Side::Buy, dec!(0.45), dec!(20))).await.unwrap();
    paper.place(buy("b", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    let ask = paper.place(limit("a", "yes", Side::Sell, dec!(0.60), dec!(30))).await.unwrap();
    // 1000 − 9.00 locked − 30.28167 spent; 57.07 − 30 shares locked.
    assert_eq!((cash(&paper).await, paper.position("yes")), (dec!(960.71833), dec!(27.07)));
    assert_eq!(paper.open_orders().await.unwrap().len(), 2);
    paper.cancel(&bid.order_id).await.unwrap();
    assert_eq!(cash(&paper).await, dec!(969.71833));
    paper.cancel(&ask.order_id).await.unwrap();
    assert_eq!(paper.position("yes"), dec!(57.07));
    assert!(paper.open_orders().await.unwrap().is_empty());
    assert!(matches!(paper.cancel(&ask.order_id).await, Err(ExchangeError::NotFound(_))));
}

#[tokio::test]
async fn resolution_pays_the_winner_at_one_the_loser_at_zero_and_cancels_resting_orders() {
    let (feed, paper) = setup();
    paper.place(buy("y", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    // 10 / 0.51 → 19.60 no shares for 9.996, fee 19.60 × 0.02 × 0.51 × 0.49 = 0.0979608 → 0.09796.
    let no = paper.place(buy("n", "no", dec!(10), FillPolicy::FillOrKill)).await.unwrap();
    assert_eq!((no.filled_shares, no.notional, no.fee), (dec!(19.60), dec!(9.996), dec!(0.09796)));
    paper.place(limit("r", "no", Side::Buy, dec!(0.40), dec!(10))).await.unwrap();
    // 1000 − 30.28167 − 10.09396 − 4.00 locked.
    assert_eq!(cash(&paper).await, dec!(955.62437));
    feed.publish(MarketEvent::Resolved { market: "m1".into(), winning_token: "yes".into(), at_ms: 2 });
    wait_until("settlement", || paper.position("yes").is_zero()).await;
    // The lock comes back, 57.07 yes shares pay 1 each, the no shares nothing.
    assert_eq!(cash(&paper).await, dec!(955.62437) + dec!(4.00) + dec!(57.07));
    assert_eq!(paper.position("no"), Decimal::ZERO);
    assert!(paper.open_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_repeated_client_id_gets_the_first_answer_and_trades_once() {
    let (_feed, paper) = setup();
    let ack = paper.place(buy("c-1", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    let again = paper.place(buy("c-1", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    let different = paper.place(buy("c-1", "no", dec!(10), FillPolicy::FillAndKill)).await.unwrap();
    assert_eq!((&again, &different), (&ack, &ack));
    assert_eq!(paper.trades(0).await.unwrap().len(), 1);
    assert_eq!(cash(&paper).await, dec!(969.71833));
}

#[tokio::test]
async fn fills_do_not_consume_the_live_book() {
    let (feed, paper) = setup();
    let before = feed.current("yes");
    let first = paper.place(buy("1", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    assert_eq!(paper.held_book("yes").as_ref(), Some(&before));
    let second = paper.place(buy("2", "yes", dec!(30), FillPolicy::FillOrKill)).await.unwrap();
    assert_eq!(
        (second.filled_shares, second.notional, second.fee),
        (first.filled_shares, first.notional, first.fee)
    );
    assert_eq!(paper.held_book("yes").as_ref(), Some(&before));
    assert_eq!(paper.book("yes").await.unwrap(), before);
    assert_eq!(cash(&paper).await, dec!(1000) - dec!(2) * dec!(30.28167));
}

#[tokio::test]
async fn bad_orders_are_refused_with_the_simulators_reasons_and_change_nothing() {
    let (feed, paper) = setup();
    let err = paper.place(buy("x", "nope", dec!(10), FillPolicy::FillOrKill)).await.unwrap_err();
    assert_eq!(err, ExchangeError::NotFound("token nope".into()));
    let err = paper.place(limit("x", "yes", Side::Buy, dec!(0.505), dec!(10))).await.unwrap_err();
    assert!(err.to_string().contains("breaks minimum tick size rule: 0.01"), "{err}");
    let err = paper.place(limit("x", "yes", Side::Buy, dec!(0.30), dec!(4))).await.unwrap_err();
    assert!(err.to_string().contains("Size (4) lower than the minimum: 5"), "{err}");
    let err = paper.place(limit("x", "yes", Side::Buy, dec!(0.30), dec!(5.001))).await.unwrap_err();
    assert!(err.to_string().contains("lower than the minimum"), "{err}");
    let small = market_order("x", "yes", Side::Buy, Amount::Shares(dec!(4)), FillPolicy::FillOrKill);
    let err = paper.place(small).await.unwrap_err();
    assert!(err.to_string().contains("below the market's minimum of 5 shares"), "{err}");
    let mut post_only = limit("x", "yes", Side::Buy, dec!(0.52), dec!(10));
    post_only.kind = OrderKind::Limit { price: dec!(0.52), shares: dec!(10), post_only: true };
    let err = paper.place(post_only).await.unwrap_err();
    assert!(err.to_string().contains("crosses book"), "{err}");
    assert_eq!(cash(&paper).await, dec!(1000));
    assert!(paper.trades(0).await.unwrap().is_empty() && paper.open_orders().await.unwrap().is_empty());
    // A market listed after the cache was filled is found by refreshing it.
    feed.markets.lock().unwrap().push(market("m2", "up", "down"));
    feed.set_quietly(snapshot("up", &[(dec!(0.30), dec!(50))], &[(dec!(0.40), dec!(50))]));
    let ack = paper.place(buy("x", "up", dec!(4), FillPolicy::FillOrKill)).await.unwrap();
    assert_eq!((ack.filled_shares, ack.notional), (dec!(10), dec!(4.00)));
}

#[tokio::test]
async fn a_change_to_an_unknown_book_takes_a_snapshot() {
    let (feed, paper) = setup();
    assert_eq!(paper.held_book("no"), None);
    feed.publish(MarketEvent::PriceChange {
        token: "no".into(),
        side: BookSide::Bids,
        price: dec!(0.49),
        size: dec!(7),
        at_ms: 1,
    });
    wait_until("a snapshot of the no book", || paper.held_book("no").is_some()).await;
    let held = paper.held_book("no").unwrap();
    assert_eq!(held, feed.current("no"));
    assert_eq!(held.best_bid(), Some(Level { price: dec!(0.49), size: dec!(7) }));
}

#[tokio::test]
async fn a_lagged_feed_takes_fresh_snapshots_and_resting_orders_see_them() {
    let feed = Feed::new(4);
    let paper = PaperExchange::new(feed.clone(), dec!(1000));
    paper.place(limit("g", "yes", Side::Buy, dec!(0.50), dec!(20))).await.unwrap();
    // The book moves through our price but the message is lost; then the feed overflows
    // (nothing awaits here, so the follower cannot keep up on this single-threaded runtime).
    feed.set_quietly(snapshot("yes", &[(dec!(0.48), dec!(10))], &[(dec!(0.50), dec!(30))]));
    for i in 0..10 {
        let _ = feed.events.send(MarketEvent::Trade {
            token: "no".into(),
            side: Side::Buy,
            price: dec!(0.5),
            size: dec!(1),
            at_ms: i,
        });
    }
    wait_until("the order to fill from a fresh snapshot", || paper.position("yes") == dec!(20)).await;
    assert_eq!(paper.held_book("yes"), Some(feed.current("yes")));
    assert_eq!(cash(&paper).await, dec!(990.00));
}

#[tokio::test]
async fn dropping_the_venue_ends_its_follower() {
    let (feed, paper) = setup();
    assert_eq!(feed.events.receiver_count(), 1);
    drop(paper);
    wait_until("the follower to end", || feed.events.receiver_count() == 0).await;
}

#[tokio::test]
async fn over_the_simulator_paper_fills_without_touching_the_simulated_books() {
    use crate::exchange::sim::{SimConfig, SimExchange};
    let sim = Arc::new(SimExchange::new(
        SimConfig { seed: 9, markets: 20, horizon_days: 1, ..SimConfig::default() },
        Decimal::ZERO,
    ));
    let paper = PaperExchange::new(sim.clone(), dec!(1000));
    let markets = paper.markets().await.unwrap();
    let token = markets[0].outcomes[0].token_id.clone();
    let before = sim.book(&token).await.unwrap();
    let expected =
        before.walk(Side::Buy, Amount::Usd(dec!(50)), FillPolicy::FillOrKill, markets[0].fee).unwrap();
    let ack = paper.place(buy("b", &token, dec!(50), FillPolicy::FillOrKill)).await.unwrap();
    assert_eq!(
        (ack.filled_shares, ack.notional, ack.fee),
        (expected.shares, expected.notional, expected.fee)
    );
    assert_eq!(sim.book(&token).await.unwrap(), before, "the data venue's book is untouched");
    assert!(sim.trades(0).await.unwrap().is_empty());
    // Bids at the best bid everywhere; over an hour the simulated market reaches some.
    let mut bids = Vec::new();
    for (i, m) in markets.iter().enumerate() {
        let t = m.outcomes[0].token_id.clone();
        let bid = sim.book(&t).await.unwrap().best_bid().unwrap().price;
        let ack = paper.place(limit(&format!("r-{i}"), &t, Side::Buy, bid, dec!(5))).await.unwrap();
        bids.push((ack.order_id, bid));
    }
    for _ in 0..12 {
        sim.advance(5 * 60_000);
    }
    let maker_fills = || {
        let trades = paper.inner.state().account.trades_since(0);
        trades.into_iter().filter(|t| t.fee.is_zero() && t.order_id != ack.order_id).collect::<Vec<_>>()
    };
    wait_until("a maker fill", || !maker_fills().is_empty()).await;
    for t in maker_fills() {
        let (_, bid) = bids.iter().find(|(id, _)| *id == t.order_id).unwrap();
        assert_eq!(t.price, *bid);
    }
}
