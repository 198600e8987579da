//! The whale tracker (issue 7) against the mock Polymarket's Data API on 127.0.0.1: large
//! trades and top holders detected and recorded, market makers flagged and left out of the
//! signals, signals reaching the scorer, malformed records skipped without losing data, paging,
//! rate limiting, the status the dashboard shows; and the simulator's whale trades moving prices
//! their way.

mod support;

use equilibrage::config::Config;
use equilibrage::engine::Engine;
use equilibrage::exchange::Side;
use equilibrage::exchange::sim::{SimConfig, SimExchange, Simulator, WhaleTrade};
use equilibrage::feeds::whales::{MarketMakerRule, TokenBucket, WhaleTracker, WhalesConfig, table};
use equilibrage::store::{Store, WhaleRecord};
use equilibrage_testkit::MockPolymarket;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::runtime;
use tokio::sync::broadcast;

fn cid(n: u32) -> String {
    format!("0x{n:064x}")
}

fn wallet(n: u32) -> String {
    format!("0x{n:040x}")
}

/// A Data API `/trades` record.
fn trade(who: &str, market: &str, outcome: u32, side: &str, usd: u32, price: &str, ts_s: i64) -> Value {
    let p: f64 = price.parse().unwrap();
    json!({
        "proxyWallet": who, "side": side, "asset": format!("{market}-{outcome}"), "conditionId": market,
        "size": f64::from(usd) / p, "price": p, "timestamp": ts_s, "title": "t", "slug": "s",
        "eventSlug": "e", "outcome": if outcome == 0 { "Yes" } else { "No" }, "outcomeIndex": outcome,
        "name": "", "pseudonym": "", "transactionHash": format!("0x{who}{market}{outcome}{side}{ts_s}"),
    })
}

fn config(mock: &MockPolymarket) -> WhalesConfig {
    let mut c = Config::load(None).unwrap().signals.whales;
    c.data_url = mock.http_url();
    c.requests_per_10s = 1_000;
    c
}

fn tracker(c: WhalesConfig, store: &Store) -> (WhaleTracker, broadcast::Receiver<WhaleTrade>) {
    let (tx, rx) = broadcast::channel(10_000);
    (WhaleTracker::new(c, store.clone(), tx).unwrap(), rx)
}

fn drain(rx: &mut broadcast::Receiver<WhaleTrade>) -> Vec<WhaleTrade> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    (dir, store)
}

const NOW_S: i64 = 1_800_000_000;

/// A log sink for `tracing_subscriber::fmt`.
#[derive(Clone, Default)]
struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

#[tokio::test]
async fn large_trades_and_top_holders_are_detected_and_recorded() {
    let mock = MockPolymarket::start().await;
    let (a, b) = (cid(1), cid(2));
    mock.add_public_trades([
        trade(&wallet(1), &a, 0, "BUY", 20_000, "0.5", NOW_S - 60),
        trade(&wallet(2), &b, 1, "BUY", 8_000, "0.4", NOW_S - 50),
        // Below the cash threshold: the server filters it out.
        trade(&wallet(3), &a, 0, "BUY", 100, "0.5", NOW_S - 40),
        // Another market, not asked for.
        trade(&wallet(4), &cid(9), 0, "BUY", 50_000, "0.5", NOW_S - 30),
    ]);
    mock.set_holders(
        &a,
        vec![
            json!({"token": "a-yes", "holders": [
                {"proxyWallet": wallet(5), "asset": "a-yes", "amount": 250_000.0, "outcomeIndex": 0,
                 "pseudonym": "Big-Holder", "name": "big", "verified": false},
                {"proxyWallet": wallet(6), "asset": "a-yes", "amount": 50.0, "outcomeIndex": 0,
                 "pseudonym": "", "name": "", "verified": false}]}),
            json!({"token": "a-no", "holders": [
                {"proxyWallet": wallet(1), "asset": "a-no", "amount": 30_000.0, "outcomeIndex": 1,
                 "pseudonym": "", "name": "", "verified": false}]}),
        ],
    );
    let (_dir, store) = temp_store();
    let (mut t, mut rx) = tracker(config(&mock), &store);
    let report = t.poll(&[a.clone(), b.clone()], NOW_S * 1_000).await.unwrap();
    let trades = drain(&mut rx);
    let who: Vec<&str> = trades.iter().map(|t| t.wallet.as_str()).collect();
    assert_eq!(who, [wallet(2), wallet(1)], "newest first, small and other markets' trades left out");
    assert_eq!((report.trades, report.skipped, report.failures), (2, 0, 0));
    assert_eq!(trades[1].market, a);
    assert_eq!((trades[1].outcome, trades[1].side, trades[1].price), (0, Side::Buy, dec!(0.5)));
    assert_eq!(trades[1].shares, dec!(40000));
    assert_eq!(trades[1].at_ms, (NOW_S - 60) * 1_000);
    // Holders: the big one is a new whale; the small one is no whale.
    assert_eq!(report.holders, 2);
    assert_eq!(report.new_whales, [wallet(5), wallet(1)]);
    let read = store.read().unwrap();
    let big = read.whale(&wallet(5)).unwrap().expect("holder recorded");
    assert_eq!(big.top_holding, dec!(250000));
    assert_eq!(big.markets, [std::sync::Arc::<str>::from(a.as_str())]);
    assert!(read.whale(&wallet(6)).unwrap().is_none());
    // The query the tracker sent: the markets, the cash filter, paging.
    let sent = mock.requests().into_iter().find(|r| r.path == "/trades").unwrap();
    assert!(
        sent.query.contains("filterType=CASH") && sent.query.contains("filterAmount=5000"),
        "{}",
        sent.query
    );
    assert!(sent.query.contains("limit=500") && sent.query.contains("offset=0"), "{}", sent.query);
    // A second poll brings nothing twice.
    let again = t.poll(&[a, b], NOW_S * 1_000 + 600_000).await.unwrap();
    assert_eq!(again.trades, 0);
    assert!(drain(&mut rx).is_empty());
}

/// The next trade on the channel, waiting (generously bounded) for it.
async fn next(rx: &mut broadcast::Receiver<WhaleTrade>) -> WhaleTrade {
    tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.expect("a trade in time").expect("open")
}

/// Waits (polling, generously bounded) until `done` holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `run` itself: it polls on its interval, cycle after cycle, and a trade that appears between
/// two cycles reaches the engine's channel once, however often it is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_loop_polls_every_interval_and_hands_each_new_trade_on_once() {
    let mock = MockPolymarket::start().await;
    let a = cid(1);
    mock.add_public_trades([trade(&wallet(1), &a, 0, "BUY", 20_000, "0.5", NOW_S - 60)]);
    let mut c = config(&mock);
    c.interval_secs = 1; // below the configurable minimum: only a test wants cycles this fast
    let (_dir, store) = temp_store();
    let (t, mut rx) = tracker(c, &store);
    let status = t.status();
    let markets = vec![a.clone()];
    let task = tokio::spawn(t.run(move || markets.clone(), || NOW_S * 1_000));
    // One `/holders` request per cycle (one market), made after the cycle's trades were handed on:
    // once it is counted, that cycle's trades are in the channel.
    let cycles = || mock.requests().iter().filter(|r| r.path == "/holders").count();

    assert_eq!(next(&mut rx).await.wallet, wallet(1), "the first cycle hands the trade on");
    wait_until("a second cycle", || cycles() >= 2).await;
    assert!(drain(&mut rx).is_empty(), "served again, handed on once");

    mock.add_public_trades([trade(&wallet(2), &a, 1, "BUY", 9_000, "0.4", NOW_S - 30)]);
    let fresh = next(&mut rx).await;
    assert_eq!(
        (fresh.wallet.as_str(), fresh.outcome),
        (wallet(2).as_str(), 1),
        "a later cycle brings the new one"
    );
    let seen = cycles();
    wait_until("two more cycles", || cycles() >= seen + 2).await;
    let again = drain(&mut rx);
    assert!(again.is_empty(), "each trade once, whatever the cycles: {again:?}");
    let trade_requests = mock.requests().iter().filter(|r| r.path == "/trades").count();
    assert!(trade_requests >= cycles(), "every cycle read /trades: {trade_requests}");
    assert!(!task.is_finished(), "it runs until stopped");
    task.abort();
    // Each cycle publishes its outcome and, on the clock it is given, when the next one is.
    let s = status.current();
    assert_eq!((s.last_success_ms, s.failures, s.markets), (Some(NOW_S * 1_000), 0, 1));
    assert_eq!(s.next_poll_ms, Some(NOW_S * 1_000 + 1_000), "one interval after the clock's now");
}

/// With no market to poll (no scan yet, nothing held), the run loop asks nothing and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_to_poll_the_status_says_the_tracker_is_idle() {
    let mock = MockPolymarket::start().await;
    let mut c = config(&mock);
    c.interval_secs = 1;
    let (_dir, store) = temp_store();
    let (t, _rx) = tracker(c, &store);
    let status = t.status();
    let task = tokio::spawn(t.run(Vec::new, || NOW_S * 1_000));
    wait_until("the idle state published", || status.current().idle).await;
    task.abort();
    let s = status.current();
    assert_eq!((s.last_poll_ms, s.last_success_ms, s.failures), (None, None, 0), "never polled");
    assert_eq!(s.next_poll_ms, Some(NOW_S * 1_000 + 1_000), "it looks again after the wait");
    assert!(mock.requests().is_empty(), "nothing asked");
}

/// What the dashboard shows (`WhaleTracker::status`, served by the host backend): a good poll's
/// counts, then a Data API refusing every request: the error and the failed polls in a row,
/// the earlier success kept. Times are the clock the polls are given, so nothing here depends on
/// the machine's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_shows_a_polls_counts_then_a_failing_data_api_with_the_last_success_kept() {
    let mock = MockPolymarket::start().await;
    let (a, b) = (cid(1), cid(2));
    let mut malformed = trade(&wallet(3), &b, 0, "BUY", 9_000, "0.5", NOW_S - 20);
    malformed["side"] = json!("HOLD");
    mock.add_public_trades([
        trade(&wallet(1), &a, 0, "BUY", 20_000, "0.5", NOW_S - 60),
        trade(&wallet(2), &b, 1, "SELL", 8_000, "0.4", NOW_S - 50),
        malformed,
    ]);
    mock.set_holders(
        &a,
        vec![json!({"token": "a-yes", "holders": [
            {"proxyWallet": wallet(5), "asset": "a-yes", "amount": 250_000.0, "outcomeIndex": 0}]})],
    );
    let (_dir, store) = temp_store();
    let (mut t, _rx) = tracker(config(&mock), &store);
    let status = t.status();
    let fresh = status.current();
    assert_eq!((fresh.data_url.as_str(), fresh.interval_secs), (mock.http_url().as_str(), 600));
    assert_eq!(
        (fresh.last_poll_ms, fresh.last_success_ms, fresh.failures),
        (None, None, 0),
        "not polled yet"
    );

    let first = NOW_S * 1_000;
    let markets = [a.clone(), b.clone()];
    t.poll(&markets, first).await.unwrap();
    let s = status.current();
    assert_eq!((s.last_poll_ms, s.last_success_ms), (Some(first), Some(first)));
    assert!(s.last_poll_duration_ms.is_some());
    assert_eq!(
        (s.markets, s.trades_received, s.trades_new, s.skipped, s.holders),
        (2, 3, 2, 1, 1),
        "three records, two new trades, one malformed, one holder: {s:?}"
    );
    assert_eq!((s.pages, s.capped), (2, 0), "a page of trades, then an empty one");
    assert_eq!((s.failed_requests, s.failures, s.last_error.as_deref()), (0, 0, None));
    assert!(!s.idle);

    // From now on the Data API refuses everything (403 is not retried): one /trades request and
    // a /holders request per market fail; nothing is answered, so the poll failed.
    mock.faults().fail_next("/", 403, "blocked", 1_000);
    t.poll(&markets, first + 600_000).await.unwrap();
    let s = status.current();
    assert_eq!((s.last_poll_ms, s.last_success_ms), (Some(first + 600_000), Some(first)), "success kept");
    assert_eq!((s.failures, s.failed_requests), (1, 3), "{s:?}");
    assert_eq!(s.last_error.as_deref(), Some(r#"Data API /holders: HTTP 403: {"error":"blocked"}"#));
    assert_eq!((s.trades_received, s.trades_new, s.holders, s.pages), (0, 0, 0, 0), "this poll's counts");
    t.poll(&markets, first + 1_200_000).await.unwrap();
    let s = status.current();
    assert_eq!((s.failures, s.last_success_ms), (2, Some(first)), "failed polls in a row");

    // The dashboard's view of it, through the host backend the binary hands the handle to.
    use equilibrage::web_backend::{HostBackend, Venue, WalletInfo};
    use equilibrage_web::Backend as _;
    let (venue, engine, _pd, plugins) = sim_engine(&store).await;
    let bare = HostBackend::new(plugins, Venue::Sim(venue), engine, WalletInfo::for_mode("paper"));
    assert_eq!(bare.whale_tracker(), None, "no tracker, no status");
    let backend = bare.with_whale_status(status.clone());
    let shown = backend.whale_tracker().expect("the tracker's status");
    assert_eq!((shown.failures, shown.failed_requests), (2, 3));
    assert_eq!((shown.last_success_ms, shown.last_poll_ms), (Some(first), Some(first + 1_200_000)));
    assert_eq!(shown.last_error.as_deref(), Some(r#"Data API /holders: HTTP 403: {"error":"blocked"}"#));
    assert_eq!(shown.data_url, mock.http_url());
}

#[tokio::test]
async fn a_malformed_record_is_skipped_and_loses_neither_its_page_nor_stored_data() {
    let mock = MockPolymarket::start().await;
    let a = cid(1);
    let mut bad_price = trade(&wallet(7), &a, 0, "BUY", 9_000, "0.5", NOW_S - 20);
    bad_price["price"] = json!("abc");
    let mut no_wallet = trade(&wallet(8), &a, 0, "BUY", 9_000, "0.5", NOW_S - 15);
    no_wallet.as_object_mut().unwrap().remove("proxyWallet");
    let mut odd_outcome = trade(&wallet(9), &a, 0, "BUY", 9_000, "0.5", NOW_S - 12);
    odd_outcome["outcomeIndex"] = json!(7);
    mock.add_public_trades([
        trade(&wallet(1), &a, 0, "BUY", 9_000, "0.5", NOW_S - 30),
        bad_price,
        no_wallet,
        odd_outcome,
        trade(&wallet(2), &a, 1, "SELL", 9_000, "0.5", NOW_S - 10),
    ]);
    mock.set_holders(&a, vec![json!({"token": "x", "holders": [{"proxyWallet": wallet(3)}]})]);
    let (_dir, store) = temp_store();
    let kept = WhaleRecord {
        address: wallet(1),
        total_volume: dec!(123),
        trade_count: 1,
        markets: vec![cid(5).into()],
        ..WhaleRecord::default()
    };
    let k = kept.clone();
    store.write(move |w| w.put_whale(k)).await.unwrap();
    let (mut t, mut rx) = tracker(config(&mock), &store);
    // The log, captured on this (current-thread) runtime's thread.
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt().with_writer(log.clone()).with_ansi(false).finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let report = t.poll(std::slice::from_ref(&a), NOW_S * 1_000).await.unwrap();
    drop(guard);
    let logged = log.text();
    assert!(logged.contains("ERROR") && logged.contains("malformed /trades record skipped"), "{logged}");
    for reason in ["price is not a number", "missing proxyWallet", "outcomeIndex 7", "missing outcomeIndex"] {
        assert!(logged.contains(reason), "the reason {reason:?} is logged: {logged}");
    }
    assert_eq!(report.skipped, 4, "three bad trades and a holder without amount: {report:?}");
    let who: Vec<String> = drain(&mut rx).into_iter().map(|t| t.wallet).collect();
    assert_eq!(who, [wallet(2), wallet(1)], "the good records of the page arrive");
    assert_eq!(store.read().unwrap().whale(&wallet(1)).unwrap(), Some(kept), "stored data untouched");
    // A page the server keeps failing is given up after its retries, counted, and nothing else
    // is lost.
    mock.faults().fail_next("/trades", 500, "boom", 3);
    let report = t.poll(&[a], NOW_S * 1_000 + 1).await.unwrap();
    assert_eq!(report.failures, 1);
    assert_eq!(store.read().unwrap().whales().unwrap().len(), 1);
}

#[tokio::test]
async fn trades_are_paged_up_to_the_page_cap_and_retried_after_429() {
    let mock = MockPolymarket::start().await;
    let a = cid(1);
    mock.add_public_trades(
        (0..7).map(|i| trade(&wallet(i + 1), &a, 0, "BUY", 6_000, "0.5", NOW_S - 100 + i64::from(i))),
    );
    mock.set_page_limit(2);
    let (_dir, store) = temp_store();
    let (mut t, mut rx) = tracker(config(&mock), &store);
    mock.faults().fail_next("/trades", 429, "Too Many Requests", 1);
    let report = t.poll(std::slice::from_ref(&a), NOW_S * 1_000).await.unwrap();
    assert_eq!(report.failures, 0, "a 429 is retried");
    assert_eq!((report.trades, report.pages, report.capped), (7, 5, 0), "2+2+2+1 and an empty page");
    assert_eq!(drain(&mut rx).len(), 7);
    let offsets: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == "/trades")
        .filter_map(|r| r.query.split('&').find(|p| p.starts_with("offset=")).map(str::to_owned))
        .collect();
    assert_eq!(offsets, ["offset=0", "offset=0", "offset=2", "offset=4", "offset=6", "offset=7"]);

    let mut c = config(&mock);
    c.max_pages = 2;
    let (mut capped, mut rx) = tracker(c, &store);
    let report = capped.poll(&[a], NOW_S * 1_000).await.unwrap();
    assert_eq!((report.trades, report.pages, report.capped), (4, 2, 1), "stops safely at the cap");
    assert_eq!(drain(&mut rx).len(), 4);
}

/// On tokio's paused clock, so the bucket's timing is exact whatever the machine's load.
#[tokio::test(start_paused = true)]
async fn the_token_bucket_allows_a_tenth_of_the_window_at_once_then_its_rate() {
    let bucket = TokenBucket::new(50, Duration::from_secs(10));
    let start = tokio::time::Instant::now();
    for _ in 0..5 {
        bucket.acquire().await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "a burst of 5 at once");
    for _ in 0..10 {
        bucket.acquire().await;
    }
    // Then 5 a second: ten more take two seconds (to the rounding of the sleeps).
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1_990) && took <= Duration::from_millis(2_010), "{took:?}");
}

#[tokio::test]
async fn requests_respect_the_rate_limit() {
    let mock = MockPolymarket::start().await;
    let markets: Vec<String> = (1..=6).map(cid).collect();
    let mut c = config(&mock);
    c.requests_per_10s = 20; // 2 at once, then 2 a second
    let (_dir, store) = temp_store();
    let (mut t, _rx) = tracker(c, &store);
    let start = Instant::now();
    t.poll(&markets, NOW_S * 1_000).await.unwrap();
    let took = start.elapsed();
    let sent = mock.requests().len();
    assert_eq!(sent, 7, "one /trades page and six /holders");
    assert!(took >= Duration::from_millis(2_400), "7 requests at 2/s after a burst of 2: {took:?}");
}

#[test]
fn market_makers_and_win_rates_follow_the_documented_rules() {
    let (_dir, store) = temp_store();
    let t = |who: u32, market: u32, outcome: usize, side: Side| WhaleTrade {
        wallet: wallet(who),
        market: cid(market),
        outcome,
        side,
        price: dec!(0.5),
        shares: dec!(20000),
        at_ms: 1,
    };
    let mut trades = Vec::new();
    for m in 0..25 {
        trades.push(t(1, m, 0, Side::Buy));
        trades.push(t(1, m, 1, Side::Buy)); // both sides: quoting
        trades.push(t(2, m, 0, Side::Buy)); // one side everywhere: a view, not a maker
    }
    trades.push(t(3, 0, 0, Side::Buy));
    trades.push(t(3, 1, 1, Side::Buy));
    let rule = MarketMakerRule::default();
    let new = store.write_blocking(move |w| table::record_trades(w, &trades, rule)).unwrap();
    assert_eq!(new, [wallet(1), wallet(2), wallet(3)]);
    let read = store.read().unwrap();
    let maker = read.whale(&wallet(1)).unwrap().unwrap();
    assert!(maker.market_maker && maker.markets.len() == 25 && maker.trade_count == 50);
    assert_eq!(maker.total_volume, dec!(500000));
    assert!(!read.whale(&wallet(2)).unwrap().unwrap().market_maker, "many markets, one side");
    drop(read);
    // Market 0 resolves YES, market 1 NO: wallet 3 won both; wallet 2 won 0 and lost 1.
    store
        .write_blocking(|w| {
            let who = [wallet(1), wallet(2), wallet(3)];
            table::record_resolution(w, &cid(0), 0, &who)?;
            table::record_resolution(w, &cid(1), 1, &who)?;
            table::record_resolution(w, &cid(1), 1, &who) // counted once
        })
        .unwrap();
    let read = store.read().unwrap();
    let w3 = read.whale(&wallet(3)).unwrap().unwrap();
    assert_eq!((w3.wins, w3.losses, table::win_rate_percent(&w3)), (2, 0, Some(100.0)));
    let w2 = read.whale(&wallet(2)).unwrap().unwrap();
    assert_eq!((w2.wins, w2.losses, table::win_rate_percent(&w2)), (1, 1, Some(50.0)));
    let w1 = read.whale(&wallet(1)).unwrap().unwrap();
    assert_eq!((w1.wins, w1.losses), (0, 0), "flat (both sides equal): not counted");
}

/// A simulator engine that gets whale trades only from the test.
async fn sim_engine(store: &Store) -> (SimExchange, Engine, tempfile::TempDir, equilibrage::Plugins) {
    let (plugins_dir, plugins) = runtime(&[]);
    let venue = SimExchange::new(SimConfig { seed: 7, markets: 40, ..SimConfig::default() }, dec!(10000));
    let engine = support::engine_on_sim(&venue, &plugins, store).await;
    (venue, engine, plugins_dir, plugins)
}

fn whale_factor(engine: &Engine, market: &str) -> (f32, f32) {
    let o = engine.opportunities(0.0).unwrap().into_iter().find(|o| o.market_id == market).expect("scanned");
    (o.factors.iter().find(|f| &*f.name == "whales").map_or(-1.0, |f| f.value), o.score)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_trades_reach_the_scorer_and_market_makers_do_not_count() {
    let (_dir, store) = temp_store();
    let (venue, engine, _pd, plugins) = sim_engine(&store).await;
    engine.scan().await.unwrap();
    let ops = engine.opportunities(0.0).unwrap();
    let (x, y) = (ops[0].market_id.clone(), ops[1].market_id.clone());
    let (before, score_before) = whale_factor(&engine, &x);
    assert!(before.abs() < f32::EPSILON, "no whales yet: {before}");
    let now_s = venue.now_ms() / 1_000;

    // A market maker: both sides of 25 markets, x among them, large trades.
    let mock = MockPolymarket::start().await;
    let mut mm = Vec::new();
    for m in std::iter::once(x.clone()).chain((100..124).map(cid)) {
        mm.push(trade(&wallet(66), &m, 0, "BUY", 30_000, "0.5", now_s - 300));
        mm.push(trade(&wallet(66), &m, 1, "BUY", 30_000, "0.5", now_s - 290));
    }
    mock.add_public_trades(mm);
    let mut c = config(&mock);
    c.page_size = 100;
    let (mut t, mut rx) = tracker(c, &store);
    let mut markets: Vec<String> = vec![x.clone()];
    markets.extend((100..124).map(cid));
    t.poll(&markets, venue.now_ms()).await.unwrap();
    engine.push_whale_trades(drain(&mut rx));
    engine.scan().await.unwrap();
    let maker = store.read().unwrap().whale(&wallet(66)).unwrap().expect("recorded");
    assert!(maker.market_maker, "flagged: {} markets", maker.markets.len());
    let (with_mm, _) = whale_factor(&engine, &x);
    assert!(with_mm.abs() < f32::EPSILON, "a market maker is no conviction: {with_mm}");

    // A wallet with a view buys YES of x, large.
    mock.add_public_trades([
        trade(&wallet(77), &x, 0, "BUY", 40_000, "0.5", now_s - 100),
        trade(&wallet(78), &y, 1, "BUY", 4_000, "0.5", now_s - 90),
    ]);
    t.poll(std::slice::from_ref(&x), venue.now_ms()).await.unwrap();
    engine.push_whale_trades(drain(&mut rx));
    engine.scan().await.unwrap();
    let (after, score_after) = whale_factor(&engine, &x);
    assert!(after > 0.5, "whale activity reaches the scorer: {after}");
    assert!(score_after > score_before, "and raises the score: {score_before} -> {score_after}");
    let buyer = store.read().unwrap().whale(&wallet(77)).unwrap().expect("recorded");
    assert!(
        !buyer.market_maker
            && buyer.total_volume == dec!(40000)
            && buyer.markets == [std::sync::Arc::<str>::from(x.as_str())]
    );
    assert_eq!(store.read().unwrap().whale(&wallet(78)).unwrap(), None, "below the cash threshold");

    // What `/api/whales` and `/api/whales/{address}` serve.
    use equilibrage::web_backend::{HostBackend, Venue, WalletInfo};
    use equilibrage_web::Backend as _;
    let backend =
        HostBackend::new(plugins, Venue::Sim(venue.clone()), engine.clone(), WalletInfo::for_mode("sim"));
    let listed = backend.whales(10).unwrap();
    let mm = listed.iter().find(|w| w.address == wallet(66)).expect("listed");
    assert!(
        mm.market_maker && mm.markets == 25 && mm.two_sided_markets == 25 && mm.win_rate_percent.is_none()
    );
    assert_eq!(listed[0].address, wallet(66), "largest volume first");
    let detail = backend.whale(&wallet(77)).unwrap();
    assert!(!detail.whale.market_maker && detail.whale.trade_count == 1);
    assert_eq!(detail.activity.len(), 1);
    assert_eq!(
        (detail.activity[0].bought, detail.activity[0].sold),
        ([dec!(80000), Decimal::ZERO], [Decimal::ZERO; 2])
    );
}

#[test]
fn simulated_whale_flow_moves_prices_its_way() {
    let mut sim = Simulator::new(SimConfig { seed: 11, markets: 200, ..SimConfig::default() });
    let markets = sim.markets();
    let yes_mid = |sim: &Simulator, market: &str| -> Option<Decimal> {
        let m = markets.iter().find(|m| m.id == market)?;
        let b = sim.book(&m.outcomes[0].token_id)?;
        Some((b.best_bid()?.price + b.best_ask()?.price) / dec!(2))
    };
    let (mut agree, mut disagree) = (0, 0);
    for _ in 0..24 * 6 {
        let out = sim.step(600_000);
        let before: Vec<(WhaleTrade, Decimal)> =
            out.whale_trades.into_iter().filter_map(|t| yes_mid(&sim, &t.market).map(|p| (t, p))).collect();
        sim.step(1);
        for (t, p) in before {
            let Some(q) = yes_mid(&sim, &t.market) else { continue };
            let toward_yes = (t.outcome == 0) == (t.side == Side::Buy);
            if q == p {
                continue;
            }
            if (q > p) == toward_yes {
                agree += 1;
            } else {
                disagree += 1;
            }
        }
    }
    assert!(agree > 2 * disagree && agree >= 10, "whale flow leads the price: {agree} agree, {disagree} not");
}
