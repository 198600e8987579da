//! The trading engine end to end — the seed's manual verification plan, automated on the
//! simulator and on the live venue against the mock Polymarket: settings that persist and refuse
//! bad values, scans scored 1–10 and sorted, 50/50 entries, automatic liquidation on a 30 % drop,
//! manual close into history, leg failure unwound, a faulting rules plugin replaced by the
//! built-in rule, a faulting scorer skipping its scan, and journalled orders recovered once.

mod support;

use equilibrage::engine::{
    Account, Clock, Engine, EngineError, EngineEvent, EngineOptions, RulesSource, Settings, SettingsPatch,
};
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::exchange::{
    Amount, Balance, BoxFuture, Exchange, ExchangeError, FillPolicy, Level, Market, MarketEvent, OpenOrder,
    OrderAck, OrderBook, OrderKind, OrderRequest, Side, TradeReport,
};
use equilibrage::plugins::{PluginKind, Plugins};
use equilibrage::store::{Action, Intent, IntentAmount, Leg, PositionStatus, Purpose, Store, TradeRecord};
use equilibrage_plugin_artifacts as guests;
use equilibrage_testkit::{MockMarket, MockPolymarket};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{live, runtime};
use tokio::sync::broadcast;

fn sim() -> SimExchange {
    SimExchange::new(SimConfig { seed: 7, markets: 40, ..SimConfig::default() }, dec!(10000))
}

fn sim_clock(sim: &SimExchange) -> Clock {
    let sim = sim.clone();
    Clock::from_fn(move || sim.now_ms())
}

async fn open(exchange: Arc<dyn Exchange>, plugins: &Plugins, store: &Store, clock: Clock) -> Engine {
    let options = EngineOptions { settings: Settings::default(), clock, metrics: true };
    Engine::open(exchange, plugins.clone(), store.clone(), options).await.expect("engine opens")
}

/// An engine on a fresh simulator and a fresh database (kept while the directory lives).
async fn on_sim(plugins: &Plugins) -> (tempfile::TempDir, Store, SimExchange, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let venue = sim();
    let engine = open(Arc::new(venue.clone()), plugins, &store, sim_clock(&venue)).await;
    (dir, store, venue, engine)
}

/// Polls `check` until it holds, or fails after `secs`.
async fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The best opportunity of a fresh scan.
async fn best(engine: &Engine) -> String {
    let scan = engine.scan().await.unwrap();
    assert_eq!(scan.error, None);
    engine.opportunities(0.0).unwrap()[0].market_id.clone()
}

fn trades_of(engine: &Engine, position: u64) -> Vec<TradeRecord> {
    engine.trades().unwrap().into_iter().filter(|t| t.position_id == position).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_persist_across_restart_and_invalid_values_change_nothing() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.redb");
    let venue = sim();
    {
        let store = Store::open(&path).unwrap();
        let engine = open(Arc::new(venue.clone()), &plugins, &store, sim_clock(&venue)).await;
        let changed = engine
            .update_settings(&SettingsPatch {
                stop_loss_percent: Some(dec!(15)),
                take_profit_percent: Some(dec!(40)),
                capital_allocation_percent: Some(dec!(10)),
                max_positions: Some(3),
                opportunity_threshold: Some(6),
                auto_trading: Some(true),
                ..SettingsPatch::default()
            })
            .await
            .unwrap();
        assert_eq!(changed.stop_loss_percent, dec!(15));
        // The seed's invalid values: refused by name, all of them, and nothing changes.
        let bad = SettingsPatch {
            capital_allocation_percent: Some(dec!(-10)),
            opportunity_threshold: Some(11),
            max_positions: Some(0),
            stop_loss_percent: Some(dec!(5)),
            ..SettingsPatch::default()
        };
        match engine.update_settings(&bad).await {
            Err(EngineError::Settings(e)) => {
                let text = e.to_string();
                for field in ["capital_allocation_percent", "opportunity_threshold", "max_positions"] {
                    assert!(text.contains(field), "{field} not named in: {text}");
                }
                assert!(
                    text.contains("got 11") && text.contains("got -10") && text.contains("got 0"),
                    "{text}"
                );
            }
            other => panic!("invalid settings accepted: {other:?}"),
        }
        assert_eq!(engine.settings(), changed, "a refused change leaves everything as it was");
        // The liquidation parameters reached the rules plugin.
        let rules =
            plugins.list().into_iter().find(|p| p.active && p.info.kind == PluginKind::LiquidationRules);
        let rules = rules.unwrap();
        let param =
            |name: &str| rules.info.params.iter().position(|p| p.name == name).map(|i| rules.params[i]);
        assert_eq!(param("stop-loss"), Some(0.15));
        assert_eq!(param("take-profit"), Some(0.40));
    }
    // A restart, configured with the defaults: the stored settings win.
    let store = Store::open(&path).unwrap();
    let engine = open(Arc::new(venue.clone()), &plugins, &store, sim_clock(&venue)).await;
    let kept = engine.settings();
    assert_eq!((kept.stop_loss_percent, kept.take_profit_percent), (dec!(15), dec!(40)));
    assert!(kept.auto_trading);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_yields_opportunities_scored_1_to_10_best_first_with_their_factors() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, _store, _venue, engine) = on_sim(&plugins).await;
    let mut events = engine.subscribe();
    let scan = engine.scan().await.unwrap();
    assert_eq!(scan.error, None);
    assert_eq!(scan.listed, 40);
    assert!(scan.candidates > 20 && scan.scored == scan.candidates, "{scan:?}");
    let all = engine.opportunities(0.0).unwrap();
    assert_eq!(all.len() as u64, scan.scored);
    assert!(all.iter().all(|o| (1.0..=10.0).contains(&o.score)));
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score), "sorted best first");
    let first = &all[0];
    assert_eq!(first.factors.len(), 8);
    assert!(first.factors.iter().any(|f| &*f.name == "liquidity"
        && f.weight.as_ref().is_some_and(|(n, w)| &**n == "weight-liquidity" && *w > 0.0)));
    assert!(first.yes_ask.is_some() && first.no_ask.is_some());
    // min_score filters.
    let six = engine.opportunities(6.0).unwrap();
    assert!(six.iter().all(|o| o.score >= 6.0));
    // Events: the scan, and each opportunity at or above the threshold.
    let mut new = 0;
    let mut completed = false;
    while let Ok(event) = events.try_recv() {
        match event {
            EngineEvent::NewOpportunity { opportunity } => {
                assert!(opportunity.score >= 6.0);
                new += 1;
            }
            EngineEvent::ScanCompleted { scan: s } => completed = s.id == scan.id,
            _ => {}
        }
    }
    assert!(completed);
    assert_eq!(new, six.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_splits_capital_50_50_and_a_manual_close_moves_it_to_history_with_exact_pnl() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, store, venue, engine) = on_sim(&plugins).await;
    let market = best(&engine).await;
    let before = engine.overview().unwrap();
    assert_eq!(before.available, dec!(10000));

    let p = engine.enter(&market, None).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active);
    // 10 % of 10,000, half on each side.
    assert_eq!(p.capital, dec!(1000));
    let buys = trades_of(&engine, p.id);
    assert_eq!(buys.len(), 2);
    for t in &buys {
        assert_eq!((t.action, t.purpose), (Action::Buy, Purpose::Entry));
        // Each side spends its 500, short of at most one hundredth of a share.
        assert!(t.notional <= dec!(500) && dec!(500) - t.notional < t.price / dec!(100), "{t:?}");
        assert_eq!(venue.position(&p.leg(t.leg).token), t.shares, "the venue holds what was recorded");
    }
    let spent: Decimal = buys.iter().map(|t| t.notional + t.fee).sum();
    // Once `enter` returns, memory and store both hold every fill it recorded: its two sides are
    // recorded concurrently and may be published in the other order than they were committed.
    let after = engine.overview().unwrap();
    assert_eq!(after.available, dec!(10000) - spent);
    let stored: Account = store.read().unwrap().config(Account::KEY).unwrap().unwrap();
    assert_eq!(stored.cash, after.available, "the store's cash is the engine's");
    assert_eq!(after.open_positions, 1);
    assert_eq!(venue.summary().1, after.available, "the ledger's cash is the venue's");
    // A second entry on the same market is refused.
    assert!(matches!(engine.enter(&market, None).await, Err(EngineError::AlreadyHeld(_))));

    let closed = engine.close(p.id).await.unwrap();
    assert_eq!(closed.status, PositionStatus::Closed);
    assert_eq!(closed.close_reason.as_deref(), Some("manual close"));
    assert!(engine.positions().is_empty());
    let history = engine.history().unwrap();
    assert_eq!(history[0].id, p.id);
    let trades = trades_of(&engine, p.id);
    assert_eq!(trades.iter().filter(|t| t.action == Action::Sell && t.purpose == Purpose::Close).count(), 2);
    // P&L is what the trades say, exactly, and the cash agrees.
    let pnl: Decimal = trades
        .iter()
        .map(|t| match t.action {
            Action::Buy => -t.notional - t.fee,
            _ => t.notional - t.fee,
        })
        .sum();
    let view = engine.position(p.id).unwrap();
    assert_eq!(view.pnl.realised, pnl);
    let o = engine.overview().unwrap();
    assert_eq!(o.realised_pnl, pnl);
    assert_eq!(o.available, dec!(10000) + pnl);
    // The dashboard's in-memory history has it at once, with the same P&L.
    let closed_history = engine.closed_history();
    assert_eq!(closed_history.get(p.id).map(|c| c.pnl), Some(pnl));
    assert_eq!((closed_history.len(), closed_history.stats().closed), (1, 1));
    assert_eq!(venue.summary().1, o.available);
    // The sweep follows trades to settlement: the simulator confirms at once, with a tx hash.
    assert!(trades.iter().all(|t| t.status == equilibrage::store::Settlement::Matched));
    engine.sweep().await;
    for t in trades_of(&engine, p.id) {
        assert_eq!(t.status, equilibrage::store::Settlement::Confirmed, "{t:?}");
        assert!(t.tx_hash.as_deref().is_some_and(|h| h.starts_with("0x")), "{t:?}");
    }
    assert!(matches!(engine.close(p.id).await, Err(EngineError::NotOpen(_))));
    assert!(matches!(engine.close(999).await, Err(EngineError::UnknownPosition(999))));
    // A fresh start rebuilds the same history from the store.
    drop(engine);
    let reopened = open(Arc::new(venue.clone()), &plugins, &store, sim_clock(&venue)).await;
    assert_eq!(reopened.closed_history().get(p.id).map(|c| c.pnl), Some(pnl));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_refuse_bad_amounts_full_slots_and_unknown_markets_without_trading() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, _store, _venue, engine) = on_sim(&plugins).await;
    engine.scan().await.unwrap();
    let markets: Vec<String> = engine.opportunities(0.0).unwrap().into_iter().map(|o| o.market_id).collect();
    assert!(matches!(engine.enter(&markets[0], Some(dec!(-5))).await, Err(EngineError::BadAmount(_))));
    assert!(matches!(
        engine.enter(&markets[0], Some(dec!(20000))).await,
        Err(EngineError::InsufficientCapital { .. })
    ));
    assert!(matches!(engine.enter("0xnope", None).await, Err(EngineError::UnknownMarket(_))));
    assert!(engine.trades().unwrap().is_empty(), "nothing traded");
    engine
        .update_settings(&SettingsPatch { max_positions: Some(1), ..SettingsPatch::default() })
        .await
        .unwrap();
    engine.enter(&markets[0], Some(dec!(50))).await.unwrap();
    assert!(matches!(engine.enter(&markets[1], Some(dec!(50))).await, Err(EngineError::NoSlot { max: 1 })));
    assert_eq!(engine.trades().unwrap().len(), 2);
}

/// A venue that refuses every order on one token (and counts the attempts).
struct Refusing {
    inner: SimExchange,
    token: String,
    attempts: AtomicUsize,
}

impl Exchange for Refusing {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn markets(&self) -> BoxFuture<'_, equilibrage::exchange::Result<Vec<std::sync::Arc<Market>>>> {
        self.inner.markets()
    }
    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, equilibrage::exchange::Result<OrderBook>> {
        self.inner.book(token)
    }
    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.inner.events()
    }
    fn place(&self, order: OrderRequest) -> BoxFuture<'_, equilibrage::exchange::Result<OrderAck>> {
        if order.token == self.token {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            return Box::pin(async {
                Err(ExchangeError::Rejected { reason: "not enough balance / allowance".into() })
            });
        }
        self.inner.place(order)
    }
    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, equilibrage::exchange::Result<()>> {
        self.inner.cancel(order_id)
    }
    fn open_orders(&self) -> BoxFuture<'_, equilibrage::exchange::Result<Vec<OpenOrder>>> {
        self.inner.open_orders()
    }
    fn trades(&self, since_ms: i64) -> BoxFuture<'_, equilibrage::exchange::Result<Vec<TradeReport>>> {
        self.inner.trades(since_ms)
    }
    fn balance(&self) -> BoxFuture<'_, equilibrage::exchange::Result<Balance>> {
        self.inner.balance()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_that_keeps_failing_is_retried_then_the_filled_leg_is_unwound_and_recorded() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let venue = sim();
    // Find a good market first, on the plain simulator.
    let market_id = {
        let scout = open(
            Arc::new(venue.clone()),
            &plugins,
            &Store::open(&dir.path().join("scout.redb")).unwrap(),
            sim_clock(&venue),
        )
        .await;
        best(&scout).await
    };
    let market = venue.markets().await.unwrap().into_iter().find(|m| m.id == market_id).unwrap();
    let no_token = market.outcomes[1].token_id.clone();
    let refusing =
        Arc::new(Refusing { inner: venue.clone(), token: no_token.clone(), attempts: AtomicUsize::new(0) });
    let engine = open(refusing.clone(), &plugins, &store, sim_clock(&venue)).await;
    let mut events = engine.subscribe();

    let p = engine.enter(&market_id, None).await.unwrap();
    assert_eq!(p.status, PositionStatus::Unwound, "{p:?}");
    // The first attempt and the two configured retries.
    assert_eq!(refusing.attempts.load(Ordering::SeqCst), 3);
    let reason = p.close_reason.clone().unwrap();
    assert!(
        reason.contains("no side could not be bought") && reason.contains("not enough balance"),
        "{reason}"
    );
    let trades = trades_of(&engine, p.id);
    assert_eq!(trades.len(), 2, "{trades:?}");
    assert_eq!((trades[0].leg, trades[0].action), (Leg::Yes, Action::Buy));
    assert_eq!(
        (trades[1].leg, trades[1].action, trades[1].purpose),
        (Leg::Yes, Action::Sell, Purpose::Unwind)
    );
    assert_eq!(trades[0].shares, trades[1].shares);
    assert_eq!(venue.position(&p.leg(Leg::Yes).token), Decimal::ZERO);
    assert_eq!(venue.position(&no_token), Decimal::ZERO);
    // Never silent: an error event says what happened; the ledger matches the venue.
    let mut told = false;
    while let Ok(e) = events.try_recv() {
        if let EngineEvent::Error { message, .. } = e {
            told |= message.contains("unwind");
        }
    }
    assert!(told);
    assert_eq!(engine.overview().unwrap().available, venue.summary().1);
    assert!(engine.history().unwrap().iter().any(|h| h.id == p.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulting_rules_plugin_leaves_the_built_in_rule_protecting_positions() {
    let (_plugins_dir, plugins) = runtime(&[("zz-rules.wasm", guests::BAD_RULES.bytes)]);
    // The fixture traps on every call in mode 4.
    plugins.set_params(PluginKind::LiquidationRules, "bad-rules", &[("mode".into(), 4.0)]).unwrap();
    let (_dir, _store, venue, engine) = on_sim(&plugins).await;
    let mut events = engine.subscribe();
    let market = best(&engine).await;
    let p = engine.enter(&market, None).await.unwrap();
    let yes = p.leg(Leg::Yes);
    // The YES bid falls 40 % under its entry price.
    let crash = (yes.entry_price() * dec!(0.6)).round_dp(2);
    engine
        .on_market_event(MarketEvent::Book {
            token: yes.token.clone(),
            bids: vec![Level { price: crash, size: dec!(100000) }],
            asks: vec![Level { price: crash + dec!(0.02), size: dec!(100000) }],
            at_ms: venue.now_ms(),
        })
        .await;
    engine.settle().await;
    let after = engine.position(p.id).unwrap().position;
    assert_eq!(after.status, PositionStatus::Liquidated, "{after:?}");
    assert_eq!(after.liquidated, Some(Leg::Yes));
    assert!(after.leg(Leg::No).held() > Decimal::ZERO, "the other side is kept");
    let sold = trades_of(&engine, p.id).into_iter().find(|t| t.action == Action::Sell).unwrap();
    assert_eq!(sold.purpose, Purpose::Liquidation);
    assert!(sold.reason.contains("built-in rule"), "{}", sold.reason);
    match engine.health().unwrap().rules {
        RulesSource::BuiltIn { reason } => assert!(reason.contains("bad-rules"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut shown = false;
    while let Ok(e) = events.try_recv() {
        shown |= matches!(e, EngineEvent::RulesSource { source: RulesSource::BuiltIn { .. } });
    }
    assert!(shown, "the dashboard hears the built-in rule took over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulting_scorer_skips_the_scan_with_a_visible_error_and_the_engine_goes_on() {
    let (_plugins_dir, plugins) = runtime(&[("zz-bad.wasm", guests::BAD_OUTPUT.bytes)]);
    plugins.set_params(PluginKind::Scorer, "bad-output", &[("mode".into(), 1.0)]).unwrap();
    let (_dir, _store, _venue, engine) = on_sim(&plugins).await;
    let mut events = engine.subscribe();
    let _tasks = engine.spawn();
    let scan = engine.scan().await.unwrap();
    let error = scan.error.unwrap();
    assert!(error.contains("outside 1-10"), "{error}");
    // The fault reaches the engine's event stream, from the scanner and from the plugin runtime.
    let mut sources = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sources.len() < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(EngineEvent::Error { source, message, .. })) if message.contains("outside 1-10") => {
                sources.insert(source);
            }
            Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("the fault was not told to subscribers ({sources:?}): {other:?}"),
        }
    }
    assert!(engine.opportunities(0.0).unwrap().is_empty());
    assert!(engine.health().unwrap().last_error.unwrap().1.contains("skipped"));
    // Fixed plugin, next scan works.
    plugins.set_params(PluginKind::Scorer, "bad-output", &[("mode".into(), 0.0)]).unwrap();
    assert_eq!(engine.scan().await.unwrap().error, None);
    assert!(!engine.opportunities(0.0).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journalled_orders_are_recovered_once_after_a_crash() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, store, venue, engine) = on_sim(&plugins).await;
    let market = best(&engine).await;
    let p = engine.enter(&market, None).await.unwrap();
    let (yes, no) = (p.leg(Leg::Yes).clone(), p.leg(Leg::No).clone());
    drop(engine);

    // The bot journalled two sells and died: one reached the venue and filled, one never left.
    let intent = |id: &str, leg: Leg, token: &str, shares: Decimal| Intent {
        client_id: id.into(),
        position_id: p.id,
        leg,
        action: Action::Sell,
        purpose: Purpose::Liquidation,
        token: token.into(),
        amount: IntentAmount::Shares(shares),
        fill_and_kill: true,
        created_at_ms: venue.now_ms(),
        reason: "yes best bid fell".into(),
        order_id: None,
        venue_at_ms: None,
        decided_by: None,
    };
    let sent = intent("crash-sent", Leg::Yes, &yes.token, yes.held());
    // The venue gets a grace period to show a trade for an order the dead process sent; this one
    // was journalled longer ago than that.
    let lost = Intent {
        created_at_ms: venue.now_ms() - 11_000,
        ..intent("crash-lost", Leg::No, &no.token, no.held())
    };
    let (s, l) = (sent.clone(), lost.clone());
    store
        .write(move |w| {
            w.put_intent(&s)?;
            w.put_intent(&l)
        })
        .await
        .unwrap();
    let ack = venue
        .place(OrderRequest {
            client_id: "crash-sent".into(),
            token: yes.token.clone(),
            side: Side::Sell,
            kind: OrderKind::Market { amount: Amount::Shares(yes.held()), policy: FillPolicy::FillAndKill },
        })
        .await
        .unwrap();

    // Restart: the sell is found at the venue and recorded once; the other is resolved unfilled.
    for _ in 0..2 {
        let engine = open(Arc::new(venue.clone()), &plugins, &store, sim_clock(&venue)).await;
        assert!(store.read().unwrap().intents().unwrap().is_empty());
        let trades = trades_of(&engine, p.id);
        let recovered: Vec<_> = trades.iter().filter(|t| t.client_id == "crash-sent").collect();
        assert_eq!(recovered.len(), 1, "recorded exactly once: {trades:?}");
        assert_eq!(recovered[0].exchange_trade_ids, ack.trade_ids);
        assert_eq!((recovered[0].shares, recovered[0].notional), (ack.filled_shares, ack.notional));
        assert!(!trades.iter().any(|t| t.client_id == "crash-lost"));
        let now = engine.position(p.id).unwrap().position;
        assert_eq!(now.status, PositionStatus::Liquidated);
        assert_eq!(now.leg(Leg::Yes).held(), Decimal::ZERO);
        assert_eq!(now.leg(Leg::No).held(), no.held());
        let account: Account = store.read().unwrap().config(Account::KEY).unwrap().unwrap();
        assert_eq!(account.cash, venue.summary().1, "the ledger agrees with the venue");
    }
}

// --- the live venue, against the mock Polymarket ---

const CONDITION: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";
const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_percent_drop_on_the_live_feed_liquidates_that_side_automatically() {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("601", CONDITION, YES, NO);
    market.question = "Will the engine liquidate?".into();
    mock.add_market(market);
    mock.set_book(YES, &[(dec!(0.49), dec!(500))], &[(dec!(0.51), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.48), dec!(500))], &[(dec!(0.50), dec!(500))]);
    mock.set_balance(dec!(1000));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let _tasks = engine.spawn();

    let p = engine.enter(CONDITION, Some(dec!(100))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active);
    assert_eq!(mock.position(YES), p.leg(Leg::Yes).held());
    assert_eq!(mock.position(NO), p.leg(Leg::No).held());
    // 50 pUSD a side: 98.0392 YES at 0.51 (a market buy's shares carry 4 decimals), 100 NO at 0.50.
    assert_eq!((p.leg(Leg::Yes).held(), p.leg(Leg::No).held()), (dec!(98.0392), dec!(100)));

    // The YES bid falls to 0.35, more than 30 % under 0.51: the feed delivers it, the monitor sells.
    wait_until(10, "the market subscription", || mock.market_subscribers(YES) > 0).await;
    // A price move that decides nothing is still announced, with the new bid (the dashboard's
    // live prices), and nothing is written for it.
    let mut events = engine.subscribe();
    let version = engine.position(p.id).unwrap().position.version;
    mock.set_book(NO, &[(dec!(0.47), dec!(500))], &[(dec!(0.50), dec!(500))]);
    let announced = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(EngineEvent::PositionUpdate { position, bids, pnl, .. }) = events.recv().await
                && position.id == p.id
                && bids[1] == Some(dec!(0.47))
            {
                return (position.version, pnl);
            }
        }
    })
    .await
    .expect("a position update for the price move");
    assert_eq!(announced.0, version, "announced, not written");
    assert_eq!(announced.1.unrealised, engine.position(p.id).unwrap().pnl.unrealised);
    mock.set_book(YES, &[(dec!(0.35), dec!(500))], &[(dec!(0.37), dec!(500))]);
    wait_until(10, "the liquidation", || {
        engine.position(p.id).is_ok_and(|v| v.position.status == PositionStatus::Liquidated)
    })
    .await;
    engine.settle().await;
    let after = engine.position(p.id).unwrap().position;
    assert_eq!(after.liquidated, Some(Leg::Yes));
    assert_eq!(after.leg(Leg::No).held(), dec!(100), "NO is kept");
    // Shares trade in hundredths: 98.03 sold, the 0.0092 of dust the pUSD buy left stays.
    assert_eq!(mock.position(YES), dec!(0.0092));
    assert_eq!(after.leg(Leg::Yes).held(), mock.position(YES));
    let sale = trades_of(&engine, p.id).into_iter().find(|t| t.action == Action::Sell).unwrap();
    assert_eq!(
        (sale.leg, sale.purpose, sale.price, sale.shares),
        (Leg::Yes, Purpose::Liquidation, dec!(0.35), dec!(98.03))
    );
    // The ledger and the exchange agree to the last micro-pUSD.
    assert_eq!(engine.overview().unwrap().available, mock.balance());
    // Settlement: MATCHED until the chain confirms, then CONFIRMED.
    mock.settle_trades();
    engine.sweep().await;
    assert!(
        trades_of(&engine, p.id).iter().all(|t| t.status == equilibrage::store::Settlement::Confirmed),
        "{:?}",
        trades_of(&engine, p.id)
    );
    // Nothing else moved: a NO rise does not trigger anything with stop loss and take profit off.
    mock.set_book(NO, &[(dec!(0.70), dec!(500))], &[(dec!(0.72), dec!(500))]);
    engine.sweep().await;
    engine.settle().await;
    assert_eq!(engine.position(p.id).unwrap().position.status, PositionStatus::Liquidated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_parameters_are_checked_applied_live_and_kept_for_the_next_start() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, store, _venue, engine) = on_sim(&plugins).await;
    let weight = |p: &Plugins| {
        let s = p.list().into_iter().find(|p| p.info.name == "default-scorer").unwrap();
        let i = s.info.params.iter().position(|p| p.name == "weight-news").unwrap();
        s.params[i]
    };
    let refused =
        engine.set_plugin_params(PluginKind::Scorer, "default-scorer", &[("weight-news".into(), 7.0)]).await;
    assert!(matches!(refused, Err(EngineError::Params(_))), "{refused:?}");
    assert!((weight(&plugins) - 0.05).abs() < 1e-12, "unchanged");
    engine
        .set_plugin_params(PluginKind::Scorer, "default-scorer", &[("weight-news".into(), 0.5)])
        .await
        .unwrap();
    assert!((weight(&plugins) - 0.5).abs() < 1e-12, "applied live");
    // The next start presets what was stored before loading the plugins.
    let again_dir = tempfile::tempdir().unwrap();
    equilibrage::plugins::install_defaults(again_dir.path()).unwrap();
    let mut options = equilibrage::plugins::PluginOptions::new(again_dir.path(), Some(support::cache_dir()));
    options.limits = support::limits();
    let again = Plugins::new(options).unwrap();
    for (kind, name, values) in store.read().unwrap().plugin_params().unwrap() {
        again.preset_params(kind.parse().unwrap(), &name, values);
    }
    again.load_dir().unwrap();
    assert!((weight(&again) - 0.5).abs() < 1e-12, "kept across the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whale_trades_and_news_reach_the_scorer_through_their_plugins_and_are_stored() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, store, venue, engine) = on_sim(&plugins).await;
    let mut tasks = engine.spawn();
    engine.follow_signals(
        equilibrage::engine::SignalFeeds { whales: venue.whale_trades(), news: venue.news() },
        &mut tasks,
    );
    // Six simulated hours, a minute at a time.
    let mut produced = (0, 0);
    for _ in 0..360 {
        let out = venue.advance(60_000);
        produced.0 += out.whale_trades.len();
        produced.1 += out.news.len();
        tokio::task::yield_now().await;
    }
    assert!(produced.0 > 0 && produced.1 > 0, "the simulator produced {produced:?}");
    let factor = |o: &equilibrage::store::Opportunity, name: &str| {
        o.factors.iter().find(|f| &*f.name == name).map_or(0.0, |f| f.value)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scan = engine.scan().await.unwrap();
        assert_eq!(scan.error, None);
        let all = engine.opportunities(0.0).unwrap();
        let whales = all.iter().filter(|o| factor(o, "whales") > 0.0).count();
        let news = all.iter().filter(|o| factor(o, "news") > 0.0).count();
        let read = store.read().unwrap();
        if whales > 0 && news > 0 && !read.whales().unwrap().is_empty() && !read.news(10).unwrap().is_empty()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "signals never reached the scores ({whales} whale, {news} news)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let whale = &store.read().unwrap().whales().unwrap()[0];
    assert!(whale.total_volume > Decimal::ZERO && whale.trade_count > 0 && !whale.markets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_market_settles_at_one_and_zero_and_closes_the_position() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, _store, venue, engine) = on_sim(&plugins).await;
    engine.scan().await.unwrap();
    // The candidate that ends first.
    let soonest = engine.opportunities(0.0).unwrap().into_iter().min_by_key(|o| o.end_ms.unwrap()).unwrap();
    // The liquidation rule stays out of the way: only the resolution should act.
    engine
        .update_settings(&SettingsPatch {
            liquidation_drop_percent: Some(dec!(99)),
            ..SettingsPatch::default()
        })
        .await
        .unwrap();
    let p = engine.enter(&soonest.market_id, Some(dec!(20))).await.unwrap();
    let _tasks = engine.spawn();
    let end = soonest.end_ms.unwrap();
    while venue.now_ms() <= end + 3_600_000 {
        venue.advance(600_000);
        tokio::task::yield_now().await;
    }
    wait_until(10, "the settlement", || engine.position(p.id).is_ok_and(|v| !v.position.status.is_open()))
        .await;
    let done = engine.position(p.id).unwrap().position;
    assert_eq!(done.status, PositionStatus::Closed);
    assert!(done.close_reason.as_deref().unwrap().starts_with("market resolved"), "{done:?}");
    let payouts: Vec<TradeRecord> =
        trades_of(&engine, p.id).into_iter().filter(|t| t.purpose == Purpose::Settlement).collect();
    assert_eq!(payouts.len(), 2);
    let mut prices: Vec<Decimal> = payouts.iter().map(|t| t.price).collect();
    prices.sort();
    assert_eq!(prices, vec![Decimal::ZERO, Decimal::ONE]);
    for t in &payouts {
        assert_eq!(t.notional, t.shares * t.price);
    }
    assert_eq!(
        engine.overview().unwrap().available,
        venue.summary().1,
        "the payout reached the ledger and the venue alike"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taker_fees_on_the_live_venue_are_recorded_as_the_exchange_charges_them() {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("602", CONDITION, YES, NO);
    market.fee_rate = dec!(0.02);
    mock.add_market(market);
    // Two levels a side, so the entry walks into the second with the fee priced per level.
    mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(40)), (dec!(0.46), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(30)), (dec!(0.56), dec!(500))]);
    mock.set_balance(dec!(1000));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    engine
        .update_settings(&SettingsPatch { max_slippage_percent: Some(dec!(5)), ..SettingsPatch::default() })
        .await
        .unwrap();
    let p = engine.enter(CONDITION, Some(dec!(60))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active);
    let closed = engine.close(p.id).await.unwrap();
    assert_eq!(closed.status, PositionStatus::Closed);

    let ours = trades_of(&engine, p.id);
    let theirs = mock.trades();
    assert_eq!(ours.len(), 4);
    for t in &ours {
        let fills: Vec<_> = theirs.iter().filter(|m| t.exchange_trade_ids.contains(&m.id)).collect();
        assert!(!fills.is_empty(), "{t:?}");
        let fee: Decimal = fills.iter().map(|m| m.fee).sum();
        let shares: Decimal = fills.iter().map(|m| m.size).sum();
        assert!(fee > Decimal::ZERO, "a 2 % market charges a fee");
        assert_eq!((t.fee, t.shares), (fee, shares), "recorded as charged: {t:?}");
    }
    let o = engine.overview().unwrap();
    assert_eq!(o.fees, ours.iter().map(|t| t.fee).sum::<Decimal>());
    assert_eq!(o.available, mock.balance(), "cash after fees agrees with the exchange");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_of_all_the_cash_keeps_back_the_taker_fees_so_both_legs_fill() {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("603", CONDITION, YES, NO);
    market.fee_rate = dec!(0.02);
    mock.add_market(market);
    mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(500))]);
    mock.set_balance(dec!(100));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let all_of_it = SettingsPatch {
        capital_allocation_percent: Some(dec!(100)),
        max_slippage_percent: Some(dec!(5)),
        ..SettingsPatch::default()
    };
    engine.update_settings(&all_of_it).await.unwrap();
    // All the cash as the operator's own amount leaves nothing for the fees: refused, unsent.
    let e = engine.enter(CONDITION, Some(dec!(100))).await.unwrap_err();
    assert!(matches!(e, EngineError::InsufficientCapital { .. }) && e.to_string().contains("fees"), "{e}");
    assert!(mock.orders().is_empty());
    // All the cash as the configured share: the legs shrink until they and their fees fit.
    let p = engine.enter(CONDITION, None).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active, "{p:?}");
    assert!(p.legs.iter().all(|l| l.bought > Decimal::ZERO), "both legs filled: {p:?}");
    assert!(p.capital < dec!(100) && p.capital >= dec!(98.9), "{}", p.capital);
    assert_eq!(mock.orders().len(), 2, "no retries, no unwinding");
    let o = engine.overview().unwrap();
    assert!(mock.balance() >= Decimal::ZERO);
    assert_eq!(o.available, mock.balance(), "cash after fees agrees with the exchange");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_scan_counts_the_protocol_v2_markets_it_leaves_out() {
    let mock = MockPolymarket::start().await;
    mock.add_market(MockMarket::binary("604", CONDITION, YES, NO));
    let mut v2 = MockMarket::binary("605", &format!("0x{:064x}", 5), "77", "78");
    v2.version = Some("v2".into());
    mock.add_market(v2);
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let scan = engine.scan().await.unwrap();
    assert_eq!((scan.listed, scan.protocol_v2, scan.failed_pages), (1, 1, 0), "{scan:?}");
    assert!(
        engine
            .enter("0x0000000000000000000000000000000000000000000000000000000000000005", None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_that_fails_at_settlement_is_undone_in_the_position_and_the_ledger() {
    let mock = MockPolymarket::start().await;
    mock.add_market(MockMarket::binary("603", CONDITION, YES, NO));
    mock.set_book(YES, &[(dec!(0.49), dec!(500))], &[(dec!(0.50), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.49), dec!(500))], &[(dec!(0.50), dec!(500))]);
    mock.set_balance(dec!(1000));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let mut events = engine.subscribe();
    // The first trade of the entry will fail on chain.
    mock.faults().fail_next_trade();
    let p = engine.enter(CONDITION, Some(dec!(100))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active, "both sides matched");
    mock.settle_trades();
    engine.sweep().await;
    let failed: Vec<TradeRecord> = trades_of(&engine, p.id)
        .into_iter()
        .filter(|t| t.status == equilibrage::store::Settlement::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", trades_of(&engine, p.id));
    let undone = failed[0].leg;
    let after = engine.position(p.id).unwrap().position;
    // The side whose buy failed was never held: the position is one-sided, and watched as such.
    assert_eq!(after.leg(undone).held(), Decimal::ZERO);
    assert_eq!(after.status, PositionStatus::Liquidated);
    assert_eq!(after.liquidated, Some(undone));
    assert_eq!(after.leg(undone.other()).held(), mock.position(&after.leg(undone.other()).token));
    assert_eq!(mock.position(&after.leg(undone).token), Decimal::ZERO);
    assert_eq!(engine.overview().unwrap().available, mock.balance(), "the ledger undid it as the venue did");
    let mut told = false;
    while let Ok(e) = events.try_recv() {
        if let EngineEvent::Error { message, .. } = e {
            told |= message.contains("failed at settlement");
        }
    }
    assert!(told, "the operator hears of it");
    // Once only: another sweep changes nothing.
    engine.sweep().await;
    assert_eq!(engine.overview().unwrap().available, mock.balance());
}
