//! Market trends end to end, on the simulator with the default plugins: price history recorded
//! by the scanner, a volatile, moving history raising a market's score through the default
//! scorer (its volatility and trend factors), and
//! `/api/info/trends`'s view of it (momentum, volatility, volume change; neutral with one point).

mod support;

use equilibrage::engine::{Trend, TrendsConfig};
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::store::{Opportunity, PricePoint, Store};
use equilibrage::web_backend::{HostBackend, Venue, WalletInfo};
use equilibrage_web::Backend as _;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use support::runtime;

const HOUR: i64 = 3_600_000;

fn factor(o: &Opportunity, name: &str) -> f32 {
    o.factors.iter().find(|f| &*f.name == name).map(|f| f.value).expect("factor")
}

fn of<'a>(list: &'a [Opportunity], market: &str) -> &'a Opportunity {
    list.iter().find(|o| o.market_id == market).expect("still a candidate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volatile_history_raises_the_score_and_the_api_shows_the_trend() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    // The simulator's clock stands still unless driven: both scans see the same books.
    let sim = SimExchange::new(SimConfig { seed: 7, markets: 40, ..SimConfig::default() }, dec!(10000));
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    engine.set_trends_config(TrendsConfig { windows_secs: vec![86_400, 3_600], ..TrendsConfig::default() });
    let now = engine.now_ms();

    assert_eq!(engine.scan().await.unwrap().error, None);
    let before = engine.opportunities(0.0).unwrap();
    assert!(before.len() >= 2, "{before:?}");
    // No history yet: the running estimate has seen one point, so no market has volatility.
    let (target, other) = (before[before.len() - 1].clone(), before[0].clone());
    assert!(factor(&target, "volatility").abs() < f32::EPSILON);
    // The scan recorded a point per candidate, with the listing's 24 h volume (written off the
    // scan's path: waited for).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let recorded = loop {
        let points = store.read().unwrap().prices(&target.market_id, now, now).unwrap();
        if !points.is_empty() {
            break points;
        }
        assert!(std::time::Instant::now() < deadline, "the scan's price point was not recorded");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].volume_24h, Some(target.volume_24h));
    assert_eq!((recorded[0].yes_bid, recorded[0].yes_ask), (target.yes_bid, target.yes_ask));

    // A day of history for one market, as a store the engine restarts on holds it: its YES mid
    // swings 0.40 ↔ 0.42 every two hours, and its volume grows from 1,000.
    let history: Vec<PricePoint> = (0..12_i64)
        .map(|i| {
            let mid = if i % 2 == 0 { dec!(0.40) } else { dec!(0.42) };
            PricePoint {
                at_ms: now - 24 * HOUR + i * 2 * HOUR,
                yes_bid: Some(mid - dec!(0.01)),
                yes_ask: Some(mid + dec!(0.01)),
                no_bid: None,
                no_ask: None,
                volume_24h: Some(dec!(1000) + Decimal::from(i) * dec!(50)),
            }
        })
        .collect();
    let seeded = history.clone();
    let market = target.market_id.clone();
    store
        .write(move |w| {
            for p in &seeded {
                w.put_price(&market, p)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    // Σ move² = 11 × 0.02² over 22 h: a day's volatility of sqrt(0.0048) ≈ 0.069, above the
    // default scorer's 0.05 target.
    let day = Trend::from_points(&history, 86_400);
    assert!((day.volatility_24h.unwrap() - 0.0048_f64.sqrt()).abs() < 1e-9);

    // The restarted engine's scanner reads each market's history when it first follows it (the
    // first engine keeps the windows it began and never reads them back).
    drop(engine);
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    engine.set_trends_config(TrendsConfig { windows_secs: vec![86_400, 3_600], ..TrendsConfig::default() });
    assert_eq!(engine.scan().await.unwrap().error, None);
    let after = engine.opportunities(0.0).unwrap();
    let (was, now_is) = (&target, of(&after, &target.market_id));
    assert!((factor(now_is, "volatility") - 1.0).abs() < 1e-6, "{:?}", now_is.factors);
    assert!(now_is.score > was.score, "a volatile market scores higher: {} → {}", was.score, now_is.score);
    // Momentum and volume change reach the scorer too: the mid went 0.40 → 0.42 (0.2 of the
    // default 0.10 target, weighted 70 %) and the volume 1,000 → 1,550 (+55 %, weighted 30 %).
    assert!(factor(was, "trend").abs() < f32::EPSILON, "no history, no trend: {:?}", was.factors);
    let trend = factor(now_is, "trend");
    assert!((trend - (0.7 * 0.2 + 0.3 * 0.55)).abs() < 1e-5, "trend factor {trend}");
    // A market without history scores as before.
    assert!((of(&after, &other.market_id).score - other.score).abs() < 1e-6);

    // The API's view: the seeded day plus the scan's own point at `now`.
    let backend = HostBackend::new(plugins, Venue::Sim(sim), engine.clone(), WalletInfo::for_mode("sim"));
    assert_eq!(backend.trend_windows(), vec![86_400, 3_600]);
    let trends = backend.trends(86_400, 50).unwrap();
    let t = trends.iter().find(|t| t.market_id == target.market_id).expect("the seeded market is shown");
    let expected = Trend::from_points(
        &store.read().unwrap().prices(&target.market_id, now - 24 * HOUR, now).unwrap(),
        86_400,
    );
    assert_eq!(t.points, 13);
    assert_eq!(
        (t.change, t.volatility, t.volatility_24h),
        (expected.momentum, expected.volatility, expected.volatility_24h)
    );
    let mid_now = (target.yes_bid.unwrap() + target.yes_ask.unwrap()) / Decimal::TWO;
    assert_eq!(t.yes_mid, Some(mid_now));
    assert_eq!(t.change, Some(mid_now - dec!(0.40)), "momentum: the mid now less the first mid");
    assert_eq!(t.volume_24h, Some(target.volume_24h));
    assert_eq!(t.volume_change, Some(target.volume_24h - dec!(1000)));
    // A market with only the scan's point: its mid, and neutral momentum and volatility.
    let one = trends.iter().find(|t| t.market_id == other.market_id).expect("the other market is shown");
    assert_eq!((one.points, one.change, one.volatility, one.volume_change), (1, None, None, None));
    assert!(one.yes_mid.is_some());
    // The JSON the API serves.
    let json = serde_json::to_value(t).unwrap();
    for field in [
        "market_id",
        "question",
        "yes_mid",
        "change",
        "volatility",
        "volatility_24h",
        "volume_24h",
        "volume_change",
        "points",
        "window_secs",
    ] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
    // The last hour holds only the scan's point.
    let hour = backend.trends(3_600, 50).unwrap();
    let t = hour.iter().find(|t| t.market_id == target.market_id).unwrap();
    assert_eq!((t.points, t.change, t.window_secs), (1, None, 3_600));
}

#[test]
fn the_trends_config_is_read_and_checked() {
    let defaults = equilibrage::config::Config::load(None).unwrap();
    assert_eq!(defaults.signals.trends, TrendsConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.toml");
    std::fs::write(&path, "[signals.trends]\nwindows_secs = [900]\nrecord_markets = 50\n").unwrap();
    let mine = equilibrage::config::Config::load(Some(&path)).unwrap();
    assert_eq!((mine.signals.trends.windows_secs, mine.signals.trends.record_markets), (vec![900], 50));
    std::fs::write(&path, "[signals.trends]\nwindows_secs = [30]\n").unwrap();
    let bad = equilibrage::config::Config::load(Some(&path)).unwrap_err().to_string();
    assert!(bad.contains("signals.trends.windows_secs"), "{bad}");
}

/// The scorer's trends are kept between scans and only the new points are read: after a day of
/// scans, an engine that reads every market's history whole (a fresh one on the same database)
/// scores every candidate exactly as the one that kept it. Midway every market leaves the
/// candidates for an hour and a half (a volume floor none reaches) and comes back: the windows
/// kept meanwhile (never read back) are still what the whole read gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trends_kept_between_scans_equal_a_whole_read_of_the_history() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let sim = SimExchange::new(SimConfig { seed: 3, markets: 40, ..SimConfig::default() }, dec!(10000));
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    // A point per candidate every scan, scans every simulated 10 minutes for a day and a half:
    // the oldest points leave the 24 h window on the way.
    engine.set_trends_config(TrendsConfig { record_every_secs: 600, ..TrendsConfig::default() });
    let floor = |volume: Decimal| equilibrage::engine::SettingsPatch {
        min_volume_24h: Some(volume),
        ..equilibrage::engine::SettingsPatch::default()
    };
    let usual = engine.settings().min_volume_24h;
    for i in 0..216 {
        if i == 100 || i == 110 {
            let volume = if i == 100 { dec!(1000000000000) } else { usual };
            engine.update_settings(&floor(volume)).await.unwrap();
        }
        let scan = engine.scan().await.unwrap();
        assert_eq!(scan.error, None);
        assert_eq!(scan.candidates == 0, (100..110).contains(&i), "scan {i}: {} candidates", scan.candidates);
        engine.idle().await;
        for e in sim.advance(600_000).events {
            engine.on_market_event(e).await;
        }
    }
    let fresh = support::engine_on_sim(&sim, &plugins, &store).await;
    let kept = engine.scan().await.unwrap();
    let whole = fresh.scan().await.unwrap();
    assert_eq!((kept.error, whole.error), (None, None));
    let scores = |e: &equilibrage::engine::Engine| {
        let mut s: Vec<(String, Vec<f32>)> = e
            .opportunities(0.0)
            .unwrap()
            .into_iter()
            .map(|o| (o.market_id.clone(), o.factors.iter().map(|f| f.value).collect()))
            .collect();
        s.sort_by(|a, b| a.0.cmp(&b.0));
        s
    };
    let (a, b) = (scores(&engine), scores(&fresh));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let trends = engine.opportunities(0.0).unwrap().iter().filter(|o| factor(o, "trend") != 0.0).count();
    assert!(trends > 0, "the history moved the trend factor");
}
