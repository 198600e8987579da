//! The trading engine end to end — the seed's manual verification plan, automated on the
//! simulator and on the live venue against the mock Polymarket: settings that persist and refuse
//! bad values, scans scored 1–10 and sorted, 50/50 entries, automatic liquidation on a 30 % drop,
//! manual close into history, leg failure unwound, a faulting rules plugin replaced by the
//! built-in rule, a faulting scorer skipping its scan, journalled orders recovered once, and a
//! held token's change before any snapshot of its book.

#[path = "../support/mod.rs"]
mod support;

mod faults;
mod live;

use equilibrage::engine::{
    Account, Clock, Engine, EngineError, EngineEvent, EngineOptions, RulesSource, Settings, SettingsPatch,
};
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::exchange::{
    Amount, BookSide, Exchange, ExchangeError, FillPolicy, Level, MarketEvent, OrderKind, OrderRequest, Side,
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

/// The books of one moment taken together (a simulator step in a backtest): a held position is
/// evaluated once, with its books as the moment leaves them, never between two of them; the
/// same crash handed over alone liquidates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moments_books_are_evaluated_once_as_the_moment_leaves_them() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, _store, venue, engine) = on_sim(&plugins).await;
    let market = best(&engine).await;
    let p = engine.enter(&market, None).await.unwrap();
    let calls = || plugins.list().into_iter().find(|l| l.info.name == "equilibrage").unwrap().stats.calls;
    let yes = p.leg(Leg::Yes);
    let book = |bid: Decimal| MarketEvent::Book {
        token: yes.token.clone(),
        bids: vec![Level { price: bid, size: dec!(100000) }],
        asks: vec![Level { price: bid + dec!(0.02), size: dec!(100000) }],
        at_ms: venue.now_ms(),
    };
    // The YES bid falls 40 % under its entry price and is back at it within the moment.
    let crash = book((yes.entry_price() * dec!(0.6)).round_dp(2));
    let back = book(yes.entry_price());
    let before = calls();
    engine.on_market_events(&[crash.clone(), back]).await;
    engine.settle().await;
    assert_eq!(calls() - before, 1, "one evaluation for the moment");
    assert_eq!(engine.position(p.id).unwrap().position.status, PositionStatus::Active);
    engine.on_market_event(crash).await;
    engine.settle().await;
    assert_eq!(calls() - before, 2);
    let after = engine.position(p.id).unwrap().position;
    assert_eq!((after.status, after.liquidated), (PositionStatus::Liquidated, Some(Leg::Yes)), "{after:?}");
}

/// After a restart the engine holds its positions but no books yet: a change to a held token's
/// book, in a moment among other books, takes a snapshot of that book first (the snapshot, newer
/// than the change, is what counts) and evaluates the position once; the other books of the
/// moment are taken around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_tokens_change_before_any_snapshot_takes_one_within_a_moment() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, store, venue, engine) = on_sim(&plugins).await;
    let market = best(&engine).await;
    let listing = venue.markets().await.unwrap();
    let other = listing.iter().find(|m| m.id != market).unwrap();
    let p = engine.enter(&market, None).await.unwrap();
    engine.settle().await;
    drop(engine);
    let restarted = open(Arc::new(venue.clone()), &plugins, &store, sim_clock(&venue)).await;
    let yes = p.leg(Leg::Yes).token.clone();
    assert_eq!(restarted.position(p.id).unwrap().bids, [None, None], "no book after the restart");
    let calls = || plugins.list().into_iter().find(|l| l.info.name == "equilibrage").unwrap().stats.calls;
    let before = calls();
    let snapshot = venue.book(&yes).await.unwrap().best_bid().unwrap().price;
    let book = |token: &str| MarketEvent::Book {
        token: token.to_owned(),
        bids: vec![Level { price: dec!(0.40), size: dec!(100) }],
        asks: vec![Level { price: dec!(0.60), size: dec!(100) }],
        at_ms: venue.now_ms(),
    };
    let change = MarketEvent::PriceChange {
        token: yes.clone(),
        side: BookSide::Bids,
        price: (snapshot + dec!(0.01)).min(dec!(0.98)),
        size: dec!(10),
        at_ms: venue.now_ms(),
    };
    let others = [&other.outcomes[0].token_id, &other.outcomes[1].token_id];
    restarted.on_market_events(&[book(others[0]), change, book(others[1])]).await;
    restarted.settle().await;
    assert_eq!(calls() - before, 1, "one evaluation, after the snapshot");
    let view = restarted.position(p.id).unwrap();
    assert_eq!(view.position.status, PositionStatus::Active);
    assert_eq!(view.bids[0], Some(snapshot), "the snapshot's best bid, not the change's");
}
