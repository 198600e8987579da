//! Reconciliation that does not trust clocks: an order whose answer never arrived is matched
//! to the venue's trades on the venue's clock, so a machine clock seconds off the venue's never
//! takes a fill for a miss and buys twice.

mod support;

use equilibrage::engine::{Clock, Engine, EngineOptions, Settings};
use equilibrage::exchange::Exchange as _;
use equilibrage::exchange::polymarket::LiveExchange;
use equilibrage::store::{PositionStatus, Store};
use equilibrage_testkit::{MockMarket, MockPolymarket};
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use support::{live_config, runtime, signer};

const CONDITION: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";

/// A mock with one market, books on both sides and 1000 pUSD.
async fn one_market() -> MockPolymarket {
    let mock = MockPolymarket::start().await;
    mock.add_market(MockMarket::binary("801", CONDITION, YES, NO));
    mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(500))]);
    mock.set_balance(dec!(1000));
    mock
}

async fn entry_whose_answers_time_out(skew_secs: i64) {
    let mock = one_market().await;
    mock.set_clock_skew(skew_secs);
    let mut config = live_config(&mock);
    config.retry.timeout = Duration::from_millis(800);
    let venue = LiveExchange::connect(config, signer(&mock, true)).await.unwrap();
    // The venue fills each order at once, but its answer comes after the bot gave up waiting.
    mock.faults().delay_answer("/order", Duration::from_millis(2_500));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let options = EngineOptions { settings: Settings::default(), clock: Clock::system(), metrics: true };
    let engine = Engine::open(Arc::new(venue), plugins, store, options).await.unwrap();

    let p = engine.enter(CONDITION, Some(dec!(20))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active, "both fills found at once: {p:?}");
    assert_eq!(mock.trades().len(), 2, "one buy per side at the venue");
    let posts = mock.requests().iter().filter(|r| r.method == "POST" && r.path == "/order").count();
    assert_eq!(posts, 2, "no order sent twice");
    let trades = engine.trades().unwrap();
    assert_eq!(trades.len(), 2, "the ledger records both fills");
    for (leg, token) in [(&p.legs[0], YES), (&p.legs[1], NO)] {
        assert_eq!(leg.held(), mock.position(token), "the ledger holds what the venue holds");
    }
    // The sweep's later reconciliation changes nothing.
    let _tasks = engine.spawn();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mock.trades().len(), 2);
    assert_eq!(engine.trades().unwrap().len(), 2);
}

/// The venue's clock could not be read at sign-in (a burst of 429s) while this machine is 6 s
/// ahead of it: an order whose answer timed out is not concluded unfilled from trade times on an
/// unmeasured clock. The clock is measured again within seconds, and the fills are found then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_venues_clock_unknown_a_timed_out_fill_waits_for_the_clock_and_is_found() {
    let mock = one_market().await;
    mock.set_clock_skew(-6);
    // Retried after 1, 2, 4 and 8 s: measured about 15 s after sign-in.
    mock.faults().fail_for("/time", 429, "Too Many Requests", Duration::from_secs(14));
    let mut config = live_config(&mock);
    config.retry.timeout = Duration::from_millis(800);
    let venue = LiveExchange::connect(config, signer(&mock, true)).await.unwrap();
    assert_eq!(venue.clock_offset_ms(), None, "not measured yet");
    mock.faults().delay_answer("/order", Duration::from_millis(2_500));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    // A sweep (and its reconciliation) every second, so several run past the grace period
    // before the clock is known.
    let settings = Settings { sweep_interval_secs: 1, ..Settings::default() };
    let options = EngineOptions { settings, clock: Clock::system(), metrics: true };
    let engine = Engine::open(Arc::new(venue.clone()), plugins, store, options).await.unwrap();
    let _tasks = engine.spawn();

    let _ = engine.enter(CONDITION, Some(dec!(20))).await;
    assert_eq!(mock.trades().len(), 2, "the venue filled both orders");
    // Past the grace period and a few sweeps, still without the clock: nothing was concluded.
    tokio::time::sleep(Duration::from_secs(13)).await;
    assert_eq!(venue.clock_offset_ms(), None);
    assert_eq!(
        engine.health().unwrap().pending_intents,
        2,
        "both still journalled, neither taken as unfilled"
    );
    // The clock comes back; the sweep finds both fills.
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    while engine.trades().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the fills were not found once the clock was known");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let offset = venue.clock_offset_ms().expect("measured by now");
    assert!((-7_000..=-5_000).contains(&offset), "{offset}");
    assert_eq!(engine.health().unwrap().pending_intents, 0);
    assert_eq!(mock.trades().len(), 2, "nothing bought twice");
    let posts = mock.requests().iter().filter(|r| r.method == "POST" && r.path == "/order").count();
    assert_eq!(posts, 2, "no order sent twice");
    let p = &engine.positions()[0].position;
    for (leg, token) in [(&p.legs[0], YES), (&p.legs[1], NO)] {
        assert_eq!(leg.held(), mock.position(token), "the ledger holds what the venue holds");
    }
}

/// An entry's answers time out and the venue's trades cannot be read, so the bot dies with both
/// orders journalled and unreconciled. Before it starts again, one of the clocks jumps 14 s (the
/// venue's was 7 s behind, now 7 s ahead). Each intent kept its place on the venue's clock from
/// when it was journalled, so the restart finds both fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_keeps_its_place_on_the_venues_clock_when_a_clock_jumps_before_the_restart() {
    let mock = one_market().await;
    mock.set_clock_skew(-7);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bot.redb");
    let (_plugins_dir, plugins) = runtime(&[]);
    {
        let mut config = live_config(&mock);
        config.retry.timeout = Duration::from_millis(800);
        let venue = LiveExchange::connect(config, signer(&mock, true)).await.unwrap();
        mock.faults().delay_answer("/order", Duration::from_millis(2_500));
        let outage = std::time::Instant::now() + Duration::from_secs(5);
        mock.faults().fail_for("/data/trades", 503, "Trading is currently disabled", Duration::from_secs(5));
        let store = Store::open(&db).unwrap();
        let options = EngineOptions { settings: Settings::default(), clock: Clock::system(), metrics: true };
        let engine = Engine::open(Arc::new(venue), plugins.clone(), store, options).await.unwrap();
        let _ = engine.enter(CONDITION, Some(dec!(20))).await;
        assert_eq!(mock.trades().len(), 2, "the venue filled both orders");
        assert_eq!(engine.health().unwrap().pending_intents, 2, "both unreconciled when the bot dies");
        tokio::time::sleep(outage.saturating_duration_since(std::time::Instant::now())).await;
    }
    // The clocks' difference moves 14 s; the venue answers again.
    mock.set_clock_skew(7);
    mock.faults().delay_answer("/order", Duration::ZERO);
    let venue = LiveExchange::connect(live_config(&mock), signer(&mock, true)).await.unwrap();
    let store = Store::open(&db).unwrap();
    let options = EngineOptions { settings: Settings::default(), clock: Clock::system(), metrics: true };
    let engine = Engine::open(Arc::new(venue), plugins, store, options).await.unwrap();
    assert_eq!(engine.health().unwrap().pending_intents, 0, "reconciled at start");
    assert_eq!(engine.trades().unwrap().len(), 2, "both fills found");
    let p = &engine.positions()[0].position;
    for (leg, token) in [(&p.legs[0], YES), (&p.legs[1], NO)] {
        assert_eq!(leg.held(), mock.position(token), "the ledger holds what the venue holds");
    }
    let posts = mock.requests().iter().filter(|r| r.method == "POST" && r.path == "/order").count();
    assert_eq!(posts, 2, "no order sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_whose_answer_timed_out_is_found_with_the_machine_clock_seconds_ahead() {
    entry_whose_answers_time_out(-6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_whose_answer_timed_out_is_found_with_the_machine_clock_seconds_behind() {
    entry_whose_answers_time_out(6).await;
}

/// A venue whose trades say nonsense (a price of 10²⁰, a negative size) is malformed input: the
/// fill is not recorded from it, nothing panics, and once the venue answers sanely again the
/// fill is recorded once, as it really was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_priced_out_of_range_or_negative_are_refused_at_the_border_and_lose_nothing() {
    for (field, nonsense) in [("price", "1e20"), ("size", "-22"), ("size", "1e15")] {
        let mock = MockPolymarket::start().await;
        mock.add_market(MockMarket::binary("802", CONDITION, YES, NO));
        mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(500))]);
        mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(500))]);
        mock.set_balance(dec!(1000));
        let mut config = live_config(&mock);
        config.retry.timeout = Duration::from_millis(800);
        let venue = LiveExchange::connect(config, signer(&mock, true)).await.unwrap();
        mock.faults().delay_answer("/order", Duration::from_millis(2_500));
        mock.faults().override_trades(field, Some(serde_json::json!(nonsense)));
        let (_plugins_dir, plugins) = runtime(&[]);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("bot.redb")).unwrap();
        // The sweep reconciles journalled orders; every second here.
        let settings = Settings { sweep_interval_secs: 1, ..Settings::default() };
        let options = EngineOptions { settings, clock: Clock::system(), metrics: true };
        let engine = Engine::open(Arc::new(venue), plugins, store, options).await.unwrap();

        let p = engine.enter(CONDITION, Some(dec!(20))).await.unwrap();
        assert_eq!(p.status, PositionStatus::Opening, "{field} {nonsense}: nothing recorded from nonsense");
        assert!(engine.trades().unwrap().is_empty(), "{field} {nonsense}: the ledger is untouched");
        assert_eq!(mock.trades().len(), 2, "the venue did fill both orders");

        // The venue makes sense again: the journalled orders are reconciled, once each.
        mock.faults().override_trades(field, None);
        mock.faults().delay_answer("/order", Duration::ZERO);
        let tasks = engine.spawn();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while engine.position(p.id).unwrap().position.status != PositionStatus::Active {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{field} {nonsense}: reconciled after the grace period"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let trades = engine.trades().unwrap();
        assert_eq!(trades.len(), 2, "{field} {nonsense}");
        assert!(
            trades
                .iter()
                .all(|t| t.shares > rust_decimal::Decimal::ZERO && t.price < rust_decimal::Decimal::ONE)
        );
        assert_eq!(mock.trades().len(), 2, "{field} {nonsense}: nothing bought twice");
        assert!(
            engine.loops().iter().all(|l| l.running && l.restarts == 0),
            "{field} {nonsense}: no loop failed"
        );
        drop(tasks);
    }
}
