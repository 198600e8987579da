//! The backend over a real engine on the simulator, with 10,000 closed positions in the store:
//! every read the dashboard makes, the actions, the live events, and what a Dashboard page's
//! reads cost while the engine runs (asserted in release builds, where the budget applies).

use super::{HostBackend, Venue, WalletInfo};
use crate::engine::{Account, Clock, Engine, EngineOptions, Settings};
use crate::exchange::sim::{SimConfig, SimExchange};
use crate::plugins::{PluginOptions, Plugins, install_defaults};
use crate::store::{Leg, LegState, Position, PositionStatus, Purpose, Sequence, Store};
use crate::wallet::WalletDir;
use crate::wallet::keystore::Strength;
use equilibrage_web::{Backend, BackendError, HistoryFilter, Outcome};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLOSED: u64 = 10_000;
const HOUR: i64 = 3_600_000;

/// A closed position: 100 YES bought for 50 and sold for `proceeds`, a fifth liquidated.
fn closed(id: u64, closed_at: i64, proceeds: Decimal) -> Position {
    let yes = LegState {
        token: format!("seeded-y{id}"),
        outcome: "Yes".into(),
        bought: dec!(100),
        cost: dec!(50),
        sold: dec!(100),
        proceeds,
        fees: Decimal::ZERO,
        exited_at_ms: Some(closed_at),
        exit: Some(Purpose::Close),
    };
    Position {
        id,
        market_id: format!("0xseeded{id}"),
        question: format!("Seeded market number {id}?"),
        opened_at_ms: closed_at - HOUR,
        capital: dec!(100),
        legs: [yes, LegState { token: format!("seeded-n{id}"), outcome: "No".into(), ..LegState::default() }],
        status: PositionStatus::Closed,
        liquidated: id.is_multiple_of(5).then_some(Leg::No),
        closed_at_ms: Some(closed_at),
        close_reason: Some("seeded".into()),
        score: Some(7.0),
        updated_at_ms: closed_at,
        version: 1,
        ..Position::blank()
    }
}

fn plugins(dir: &std::path::Path) -> Plugins {
    install_defaults(dir).unwrap();
    // Compiling the guests is the slow part of a debug build: keep them across runs.
    let cache = std::env::temp_dir().join("equilibrage-unit-test-plugin-cache");
    let plugins = Plugins::new(PluginOptions::new(dir, Some(cache))).unwrap();
    plugins.load_dir().unwrap();
    plugins
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_engine_with_ten_thousand_closed_positions_serves_the_dashboard_cheaply() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let sim = SimExchange::new(SimConfig { seed: 11, markets: 300, ..SimConfig::default() }, dec!(10000));
    let start = sim.now_ms();
    // 10,000 closes over the last ~20 days: P&L −5, 0, +5, +10 in turn (sums to 25,000).
    store
        .write(move |w| {
            w.put_config(Account::KEY, &Account::new(dec!(10000), "sim", start - 30 * 24 * HOUR))?;
            for i in 0..CLOSED {
                let id = w.next_id(Sequence::Position)?;
                let at = start - 20 * 24 * HOUR + i64::try_from(i).unwrap() * 170_000;
                let proceeds = [dec!(45), dec!(50), dec!(55), dec!(60)][usize::try_from(i % 4).unwrap()];
                w.put_position(&closed(id, at, proceeds))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let plugins = plugins(&dir.path().join("plugins"));
    let clock = {
        let sim = sim.clone();
        Clock::from_fn(move || sim.now_ms())
    };
    let options = EngineOptions { settings: Settings::default(), clock, metrics: true };
    let engine = Engine::open(Arc::new(sim.clone()), plugins.clone(), store.clone(), options).await.unwrap();
    let custody = WalletDir::in_data_dir(dir.path()).with_strength(Strength::LIGHT);
    let wallet = WalletInfo { custody: Some(custody.clone()), ..WalletInfo::for_mode("sim") };
    let backend = HostBackend::new(plugins, Venue::Sim(sim.clone()), engine.clone(), wallet);
    let mut live = backend.subscribe();

    // The summaries came from the store at open.
    let overview = backend.overview().unwrap();
    let stats = &overview.stats;
    assert_eq!((stats.closed_positions, stats.wins, stats.losses), (CLOSED, 5_000, 2_500));
    assert_eq!((stats.liquidations, stats.win_rate_percent), (2_000, Some(dec!(50))));
    assert_eq!(
        (stats.best_pnl, stats.worst_pnl, stats.avg_hold_secs),
        (Some(dec!(10)), Some(dec!(-5)), Some(3_600))
    );
    let performance = backend.performance().unwrap();
    assert_eq!(performance.equity.len(), 10_001);
    assert_eq!(performance.equity.last().map(|e| e.1), Some(dec!(35000)));
    assert_eq!(performance.realised_pnl, dec!(25000));

    // The engine runs: scans, sweeps, the simulated market moves.
    let mut tasks = engine.spawn();
    let driver = sim.spawn_driver(60.0, Duration::from_millis(100));
    let scan = backend.scan().await.unwrap();
    assert_eq!(scan.error, None);
    let best: Vec<String> = backend.opportunities(0.0, 3).unwrap().into_iter().map(|o| o.market_id).collect();
    assert_eq!(best.len(), 3);
    let mut entered = Vec::new();
    for market in &best[..2] {
        entered.push(backend.enter(market.clone(), Some(dec!(100))).await.unwrap());
    }
    let again = backend.enter(best[0].clone(), None).await.unwrap_err();
    assert!(matches!(again, BackendError::Conflict(_)), "already held: {again:?}");
    let unknown = backend.enter("0xnope".into(), None).await.unwrap_err();
    assert!(matches!(unknown, BackendError::NotFound(_)), "{unknown:?}");
    let zero = backend.enter(best[2].clone(), Some(Decimal::ZERO)).await.unwrap_err();
    assert!(
        matches!(zero, BackendError::Invalid { ref fields, .. } if fields[0].field == "capital"),
        "{zero:?}"
    );
    entered.push(backend.enter(best[2].clone(), Some(dec!(100))).await.unwrap());
    // The entered markets are marked held wherever they stand (a scheduled scan may have
    // re-ranked the list meanwhile).
    let listed = backend.opportunities(0.0, 2_000).unwrap();
    assert!(listed.iter().filter(|o| best.contains(&o.market_id)).all(|o| o.held));
    assert!(listed.iter().filter(|o| !best.contains(&o.market_id)).all(|o| !o.held));
    let full = backend.enter(best[0].clone(), None).await.unwrap_err();
    assert!(matches!(full, BackendError::Conflict(_)), "no free slot: {full:?}");
    assert_eq!(backend.positions().len(), 3);

    // Live events, serialised once, stamped with the time they were sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut updates, mut fills) = (0, 0);
    while (updates == 0 || fills == 0) && Instant::now() < deadline {
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), live.recv()).await {
            let v: serde_json::Value = serde_json::from_str(&e.json).unwrap();
            assert!(v["sent_at_ms"].as_i64().is_some(), "{v}");
            updates += usize::from(v["type"] == "position_update");
            fills +=
                usize::from(v["type"] == "trade_executed" && v["trade"]["question"].as_str() != Some(""));
        }
    }
    assert!(updates > 0 && fills > 0, "position updates and fills reach subscribers");

    // A Dashboard page's reads, many times over, while the engine runs.
    let reader = backend.clone();
    let (timings, history_ms) = tokio::task::spawn_blocking(move || {
        let mut timings = Vec::with_capacity(3_000);
        for _ in 0..3_000 {
            let started = Instant::now();
            let o = reader.overview().unwrap();
            let p = reader.positions();
            let r = reader.opportunities(0.0, 10).unwrap();
            assert!(o.active_positions == p.len() && r.len() == 10);
            timings.push(started.elapsed());
        }
        let started = Instant::now();
        let page = reader.history(&HistoryFilter::default(), 0, 50).unwrap();
        assert_eq!((page.positions.len(), page.total), (50, 10_000));
        (timings, started.elapsed())
    })
    .await
    .unwrap();
    let mut sorted = timings.clone();
    sorted.sort();
    let total: Duration = timings.iter().sum();
    let (p50, p99) = (percentile(&sorted, 50), percentile(&sorted, 99));
    eprintln!(
        "dashboard reads (overview + positions + 10 opportunities, health included): p50 {p50:?}, p99 {p99:?}, \
         {:.0}/s on one thread; a History page of 50 of 10,000: {history_ms:?}",
        3_000.0 / total.as_secs_f64()
    );
    // Figures only: the targets are met in the dashboard benchmark (docs/benchmarks.md).

    // History filters and pages come from the summaries; trades from the store.
    let wins = backend
        .history(&HistoryFilter { outcome: Some(Outcome::Win), ..HistoryFilter::default() }, 0, 10)
        .unwrap();
    assert_eq!((wins.total, wins.total_pnl), (5_000, dec!(37500)));
    let one = backend.history(
        &HistoryFilter { market: Some("number 42?".into()), ..HistoryFilter::default() },
        0,
        10,
    );
    assert_eq!(one.unwrap().positions.iter().map(|p| p.id).collect::<Vec<_>>(), [42]);
    let trades = backend.trades(&HistoryFilter::default(), 0, 200).unwrap().trades;
    assert!(trades.len() >= 6 && trades.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    // Closing one moves it into the history at once.
    let closed = backend.close(entered[0].id).await.unwrap();
    assert!(!closed.open, "{closed:?}");
    assert_eq!(backend.overview().unwrap().stats.closed_positions, CLOSED + 1);
    assert_eq!(backend.history(&HistoryFilter::default(), 0, 1).unwrap().positions[0].id, entered[0].id);
    assert!(matches!(backend.close(entered[0].id).await, Err(BackendError::Conflict(_))));
    assert!(matches!(backend.close(999_999).await, Err(BackendError::NotFound(_))));

    // Settings: coerced, validated by the engine, errors by field.
    let mut patch = serde_json::Map::new();
    patch.insert("stop_loss_percent".into(), "12.5".into());
    let view = backend.update_settings(patch).await.unwrap();
    let stop = view.fields.iter().find(|f| f.name == "stop_loss_percent").unwrap();
    assert_eq!(stop.value, serde_json::json!("12.5"));
    let mut bad = serde_json::Map::new();
    bad.insert("max_positions".into(), "0".into());
    bad.insert("bogus".into(), "1".into());
    match backend.update_settings(bad).await {
        Err(BackendError::Invalid { fields, .. }) => assert_eq!(fields[0].field, "bogus"),
        other => panic!("{other:?}"),
    }
    let mut bad = serde_json::Map::new();
    bad.insert("max_positions".into(), "0".into());
    match backend.update_settings(bad).await {
        Err(BackendError::Invalid { fields, .. }) => assert_eq!(fields[0].field, "max_positions"),
        other => panic!("{other:?}"),
    }
    // A key posted from the dashboard is stored encrypted, shown only as its address, and once.
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let form = |k: &str, p: &str| equilibrage_web::WalletForm { private_key: k.into(), password: p.into() };
    match backend.set_wallet(form("11", "long enough")).await {
        Err(BackendError::Invalid { fields, .. }) => assert_eq!(fields[0].field, "private_key"),
        other => panic!("{other:?}"),
    }
    assert!(!custody.has_key(), "a refused key writes nothing");
    let stored = backend.set_wallet(form(key, "a long password")).await.unwrap();
    assert_eq!(stored.address.as_deref(), Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
    assert!(stored.key_present && stored.note.contains("encrypted"));
    assert_eq!(backend.settings().wallet, stored);
    let on_disk = std::fs::read_to_string(custody.key_path()).unwrap();
    assert!(!on_disk.contains(key) && !on_disk.contains("a long password"));
    assert_eq!(
        custody.unlock(&secrecy::SecretString::from("a long password".to_owned())).unwrap().address,
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
    let again = backend.set_wallet(form(&"22".repeat(32), "another password")).await;
    assert!(matches!(again, Err(BackendError::Conflict(_))), "{again:?}");
    assert_eq!(std::fs::read_to_string(custody.key_path()).unwrap(), on_disk, "the first key stays");
    assert!(backend.trends(3_600, 10).is_ok());
    assert!(matches!(backend.whale("0xnobody"), Err(BackendError::NotFound(_))));
    assert!(backend.plugins().len() >= 4);
    let params = backend.set_plugin_params("scorer".into(), "nope".into(), vec![]).await;
    assert!(matches!(params, Err(BackendError::NotFound(_))), "{params:?}");

    tasks.abort();
    driver.abort();
}

/// A promotion, and a roll back, are in the versions the dashboard lists as soon as the action
/// returns: the page that follows shows them. The engine's loops are not started here, so the
/// plugin loop, which also notes them a moment later, cannot be the one that did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_and_a_roll_back_are_listed_when_the_action_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let sim = SimExchange::new(SimConfig { seed: 3, markets: 20, ..SimConfig::default() }, dec!(1000));
    let plugin_dir = dir.path().join("plugins");
    install_defaults(&plugin_dir).unwrap();
    let cache = std::env::temp_dir().join("equilibrage-unit-test-plugin-cache");
    // Versions kept, as the bot keeps them, so the replaced default can be rolled back to.
    let plugins =
        Plugins::new(PluginOptions { keep_versions: true, ..PluginOptions::new(&plugin_dir, Some(cache)) })
            .unwrap();
    plugins.load_dir().unwrap();
    let clock = {
        let sim = sim.clone();
        Clock::from_fn(move || sim.now_ms())
    };
    let options = EngineOptions { settings: Settings::default(), clock, metrics: true };
    let engine = Engine::open(Arc::new(sim.clone()), plugins.clone(), store, options).await.unwrap();
    let eager = equilibrage_plugin_artifacts::EAGER_RULES;
    plugins.install_shadow_file(eager.file, eager.bytes).unwrap().result.unwrap();
    let backend = Arc::new(HostBackend::new(plugins, Venue::Sim(sim), engine, WalletInfo::for_mode("sim")));
    let rules = |versions: Vec<equilibrage_web::PluginVersionView>| {
        let mut rows: Vec<(String, bool)> = versions
            .into_iter()
            .filter(|v| v.kind == "liquidation-rules")
            .map(|v| (v.name, v.active))
            .collect();
        rows.sort();
        rows
    };
    // The dashboard's actions run off the runtime's workers, as here.
    let b = Arc::clone(&backend);
    let (said, listed) = tokio::task::spawn_blocking(move || {
        let said = b.shadow_action("liquidation-rules", equilibrage_web::ShadowAction::Promote).unwrap();
        (said, rules(b.plugin_versions()))
    })
    .await
    .unwrap();
    assert!(said.contains("is now the active liquidation-rules plugin"), "{said}");
    assert_eq!(listed, [("eager-rules".to_owned(), true), ("equilibrage".to_owned(), false)]);

    let default =
        backend.plugin_versions().into_iter().find(|v| v.name == "equilibrage").map(|v| v.sha256).unwrap();
    let b = Arc::clone(&backend);
    let listed = tokio::task::spawn_blocking(move || {
        b.rollback_plugin("liquidation-rules", &default).unwrap();
        rules(b.plugin_versions())
    })
    .await
    .unwrap();
    assert_eq!(listed, [("eager-rules".to_owned(), false), ("equilibrage".to_owned(), true)]);
}
