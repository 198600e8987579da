//! Tests of the trends: windows against fresh ones, known histories, the scorer's part, config.

use super::*;
use rust_decimal_macros::dec;

const HOUR: i64 = 3_600_000;

fn point(at_ms: i64, bid: Option<Decimal>, ask: Option<Decimal>, volume: Option<Decimal>) -> PricePoint {
    PricePoint { at_ms, yes_bid: bid, yes_ask: ask, no_bid: None, no_ask: None, volume_24h: volume }
}

/// Mids 0.40, 0.45, (no ask: skipped), 0.43, 0.50 an hour apart: moves +0.05, −0.02, +0.07.
fn history() -> Vec<PricePoint> {
    vec![
        point(0, Some(dec!(0.39)), Some(dec!(0.41)), Some(dec!(1000))),
        point(HOUR, Some(dec!(0.44)), Some(dec!(0.46)), None),
        point(2 * HOUR, Some(dec!(0.10)), None, Some(dec!(1500))),
        point(3 * HOUR, Some(dec!(0.42)), Some(dec!(0.44)), Some(dec!(1250.5))),
        point(4 * HOUR, Some(dec!(0.49)), Some(dec!(0.51)), None),
    ]
}

/// The scorer's part of a full trend, as the scorer's features define it: the points, the
/// 24 h volatility, the momentum in price units, and the volume's change relative to its first
/// reading (the last volume less the change), 0 where unknown.
fn scorer_part(t: &Trend) -> ScorerTrend {
    let first_volume = t.volume_24h.zip(t.volume_change).map(|(last, change)| last - change);
    let volume_change_24h = match (first_volume, t.volume_change) {
        (Some(first), Some(change)) if first > Decimal::ZERO => (change / first).to_f32().unwrap_or(0.0),
        _ => 0.0,
    };
    ScorerTrend {
        points: t.points,
        volatility_24h: t.volatility_24h,
        momentum_24h: t.momentum.and_then(|m| m.to_f32()).unwrap_or(0.0),
        volume_change_24h,
    }
}

/// A window slid along a long history (points arriving, old ones leaving) gives exactly
/// the trend of the points left, computed from scratch.
#[test]
fn a_sliding_window_equals_a_fresh_one_of_the_same_points() {
    let mut all = Vec::new();
    let mut mid = dec!(0.50);
    for i in 0..500_i64 {
        // A walk of uneven steps; every seventh point lacks an ask, every fifth a volume.
        mid += Decimal::new((i * 37 % 11) - 5, 3);
        let ask = (i % 7 != 0).then_some(mid + dec!(0.01));
        let volume = (i % 5 != 0).then(|| Decimal::from(1_000 + i * 3));
        all.push(point(i * 60_000, Some(mid - dec!(0.01)), ask, volume));
    }
    let mut w = TrendWindow::default();
    for (i, p) in all.iter().enumerate() {
        w.push(p);
        let from = p.at_ms - 90 * 60_000;
        w.evict_before(from);
        let kept: Vec<PricePoint> = all[..=i].iter().filter(|q| q.at_ms >= from).cloned().collect();
        let fresh = Trend::from_points(&kept, 5_400);
        assert_eq!(w.trend(5_400), fresh, "after point {i}");
        // The scorer's part, computed alone, is the full trend's, bit for bit.
        let (ours, full) = (w.scorer_trend(), scorer_part(&fresh));
        assert_eq!(ours, full, "after point {i}");
        assert_eq!(
            (
                ours.volatility_24h.map(f64::to_bits),
                ours.momentum_24h.to_bits(),
                ours.volume_change_24h.to_bits()
            ),
            (
                full.volatility_24h.map(f64::to_bits),
                full.momentum_24h.to_bits(),
                full.volume_change_24h.to_bits()
            ),
        );
    }
}

/// The trend of `points` from scratch, series by series: the mids of the points with both YES
/// quotes, the volumes of those with one, and the sums over them; what a window must give
/// however it keeps its points.
fn trend_from_scratch(points: &[PricePoint], window_secs: u64) -> Trend {
    let mids: Vec<(i64, Decimal)> =
        points.iter().filter_map(|p| Some((p.at_ms, (p.yes_bid? + p.yes_ask?) / Decimal::TWO))).collect();
    let volumes: Vec<Decimal> = points.iter().filter_map(|p| p.volume_24h).collect();
    let moves_sq: Decimal = mids.windows(2).map(|w| (w[1].1 - w[0].1) * (w[1].1 - w[0].1)).sum();
    let (first, last) = (mids.first(), mids.last());
    let moves = mids.len().saturating_sub(1);
    let volatility = match (first, last) {
        (Some(f), Some(l)) if moves >= 2 => {
            let n = Decimal::from(moves);
            let mean = (l.1 - f.1) / n;
            (moves_sq / n - mean * mean).max(Decimal::ZERO).to_f64().map(f64::sqrt)
        }
        _ => None,
    };
    let volatility_24h = match (first, last) {
        #[expect(clippy::cast_precision_loss, reason = "a test's time difference")]
        (Some(f), Some(l)) if mids.len() >= 3 && l.0 > f.0 => {
            Some((crate::engine::rules::float(moves_sq) / (l.0 - f.0) as f64 * DAY_MS).sqrt())
        }
        _ => None,
    };
    Trend {
        window_secs,
        points: points.len(),
        yes_mid: last.map(|m| m.1),
        momentum: (mids.len() >= 2).then(|| last.zip(first).map(|(l, f)| l.1 - f.1)).flatten(),
        volatility,
        volatility_24h,
        volume_24h: volumes.last().copied(),
        volume_change: (volumes.len() >= 2).then(|| volumes[volumes.len() - 1] - volumes[0]),
    }
}

/// A window slid along a history with runs of points lacking a mid or a volume (up to a dozen
/// in a row, at either end of the window as it slides, and whole windows without any), with
/// points replacing the newest: after every point its trend is the one computed from scratch
/// of the points it should hold, bit for bit, and so is the scorer's part.
#[test]
fn a_window_with_runs_of_points_without_mids_or_volumes_gives_the_trend_from_scratch() {
    let mut seed = 11_u64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let (mut w, mut held): (TrendWindow, Vec<PricePoint>) = (TrendWindow::default(), Vec::new());
    let (mut mid, mut at) = (dec!(0.50), 0_i64);
    let (mut no_mid_run, mut no_volume_run) = (0, 0);
    for i in 0..6_000_u64 {
        // Now and then a run of points without a mid, or without a volume, begins.
        if no_mid_run == 0 && next(40) == 0 {
            no_mid_run = next(13);
        }
        if no_volume_run == 0 && next(30) == 0 {
            no_volume_run = next(13);
        }
        mid += Decimal::new(i64::try_from(next(9)).unwrap() - 4, 3);
        let ask = (no_mid_run == 0).then_some(mid + dec!(0.01));
        let volume =
            (no_volume_run == 0).then(|| Decimal::new(i64::try_from(100_000 + next(5_000)).unwrap(), 1));
        (no_mid_run, no_volume_run) = (no_mid_run.saturating_sub(1), no_volume_run.saturating_sub(1));
        // One point in six lands on the newest point's millisecond and replaces it.
        if next(6) != 0 || held.is_empty() {
            at += i64::try_from(1 + next(3)).unwrap() * 60_000;
        }
        let p = point(at, Some(mid - dec!(0.01)), ask, volume);
        w.add(&p);
        if held.last().is_some_and(|q| q.at_ms == at) {
            held.pop();
        }
        held.push(p);
        let from = at - 30 * 60_000;
        w.evict_before(from);
        held.retain(|q| q.at_ms >= from);
        let want = trend_from_scratch(&held, 1_800);
        assert_eq!(w.trend(1_800), want, "after point {i}");
        let (ours, full) = (w.scorer_trend(), scorer_part(&want));
        assert_eq!(
            (ours.points, ours.volatility_24h.map(f64::to_bits), ours.momentum_24h.to_bits()),
            (full.points, full.volatility_24h.map(f64::to_bits), full.momentum_24h.to_bits()),
            "after point {i}"
        );
        assert_eq!(ours.volume_change_24h.to_bits(), full.volume_change_24h.to_bits(), "after point {i}");
    }
}

/// Points added as the store keeps them: one at the newest point's time replaces it, an
/// older one is dropped; the window equals a fresh one of what the store would hold.
#[test]
fn added_points_follow_the_stores_overwrite_rule() {
    let mut w = TrendWindow::default();
    let mut stored: std::collections::BTreeMap<i64, PricePoint> = std::collections::BTreeMap::new();
    let mut mid = dec!(0.40);
    for i in 0..300_i64 {
        mid += Decimal::new((i * 13 % 7) - 3, 3);
        // Every fourth point lands on the previous one's millisecond, every ninth behind it.
        let at = match i {
            _ if i % 9 == 0 && i > 0 => (i - 2) * 1_000,
            _ if i % 4 == 0 && i > 0 => (i - 1) * 1_000,
            _ => i * 1_000,
        };
        let ask = (i % 5 != 0).then_some(mid + dec!(0.01));
        let p = point(at, Some(mid - dec!(0.01)), ask, (i % 3 == 0).then(|| Decimal::from(i)));
        if stored.last_key_value().is_none_or(|(last, _)| at >= *last) {
            stored.insert(at, p);
        }
        w.add(&p);
        let kept: Vec<PricePoint> = stored.values().copied().collect();
        assert_eq!(w.trend(86_400), Trend::from_points(&kept, 86_400), "after point {i}");
    }
}

#[test]
fn momentum_volatility_and_volume_change_of_a_known_history() {
    let t = Trend::from_points(&history(), 86_400);
    assert_eq!((t.window_secs, t.points), (86_400, 5));
    assert_eq!((t.yes_mid, t.momentum), (Some(dec!(0.50)), Some(dec!(0.10))));
    // Mean move 0.0333…; deviations 0.0167, −0.0533, 0.0367: variance 0.0014889, sd 0.038586.
    let sd = t.volatility.expect("volatility");
    assert!((sd - 0.001_488_9_f64.sqrt()).abs() < 1e-6, "{sd}");
    // Σ move² = 0.0025 + 0.0004 + 0.0049 = 0.0078 over 4 h: × 6 for a day, sqrt(0.0468).
    let day = t.volatility_24h.expect("24 h volatility");
    assert!((day - 0.0468_f64.sqrt()).abs() < 1e-9, "{day}");
    // Volumes 1000, 1500, 1250.5: the last, and its change from the first, exactly.
    assert_eq!((t.volume_24h, t.volume_change), (Some(dec!(1250.5)), Some(dec!(250.5))));
}

#[test]
fn the_scorer_sees_momentum_in_price_units_and_volume_change_relative_to_its_start() {
    let changes = |points: &[PricePoint]| {
        let mut w = TrendWindow::default();
        for p in points {
            w.push(p);
        }
        let t = w.scorer_trend();
        (t.momentum_24h, t.volume_change_24h)
    };
    let (momentum, volume) = changes(&history());
    assert!((momentum - 0.10).abs() < 1e-7, "{momentum}");
    assert!((volume - 0.2505).abs() < 1e-7, "250.5 on 1000: {volume}");
    assert_eq!(changes(&history()[..1]), (0.0, 0.0));
    let from_zero = [point(0, None, None, Some(Decimal::ZERO)), point(HOUR, None, None, Some(dec!(5)))];
    assert_eq!(changes(&from_zero), (0.0, 0.0), "no base: unknown");
}

#[test]
fn a_falling_market_has_negative_momentum() {
    let points: Vec<PricePoint> = history()
        .into_iter()
        .map(|p| {
            point(p.at_ms, p.yes_ask.map(|a| Decimal::ONE - a), p.yes_bid.map(|b| Decimal::ONE - b), None)
        })
        .collect();
    let t = Trend::from_points(&points, 3_600);
    assert_eq!(t.momentum, Some(dec!(-0.10)));
    assert_eq!((t.volume_24h, t.volume_change), (None, None));
}

#[test]
fn no_or_one_point_is_neutral() {
    let empty = Trend::from_points(&[], 3_600);
    assert_eq!(empty.points, 0);
    assert_eq!(
        (empty.yes_mid, empty.momentum, empty.volume_24h, empty.volume_change),
        (None, None, None, None)
    );
    assert_eq!((empty.volatility, empty.volatility_24h), (None, None));
    let one = Trend::from_points(&history()[..1], 3_600);
    assert_eq!((one.points, one.yes_mid, one.momentum), (1, Some(dec!(0.40)), None));
    assert_eq!((one.volatility, one.volume_24h, one.volume_change), (None, Some(dec!(1000)), None));
    // Two points: a momentum, but one move is no spread.
    let two = Trend::from_points(&history()[..2], 3_600);
    assert_eq!((two.momentum, two.volatility), (Some(dec!(0.05)), None));
}

#[test]
fn a_flat_history_has_zero_volatility() {
    let points: Vec<PricePoint> =
        (0..5).map(|i| point(i * HOUR, Some(dec!(0.5)), Some(dec!(0.52)), Some(dec!(10)))).collect();
    let t = Trend::from_points(&points, 86_400);
    assert_eq!((t.momentum, t.volume_change), (Some(Decimal::ZERO), Some(Decimal::ZERO)));
    assert_eq!((t.volatility, t.volatility_24h), (Some(0.0), Some(0.0)));
}

#[test]
fn points_stored_before_volumes_decode_without_one() {
    let old = point(5, Some(dec!(0.4)), Some(dec!(0.42)), None);
    let json = serde_json::to_string(&old).expect("encode");
    assert!(!json.contains("volume_24h"), "{json}");
    assert_eq!(serde_json::from_str::<PricePoint>(&json).expect("decode"), old);
    let new = point(5, None, None, Some(dec!(12.5)));
    assert_eq!(serde_json::from_str::<PricePoint>(&serde_json::to_string(&new).unwrap()).unwrap(), new);
}

#[test]
fn config_is_validated() {
    assert_eq!(TrendsConfig::default().validate(), Ok(()));
    let bad = |c: TrendsConfig| c.validate().expect_err("invalid").0;
    assert_eq!(
        bad(TrendsConfig { windows_secs: vec![], ..TrendsConfig::default() }),
        "signals.trends.windows_secs"
    );
    assert_eq!(
        bad(TrendsConfig { windows_secs: vec![3_600, 59], ..TrendsConfig::default() }),
        "signals.trends.windows_secs"
    );
    assert_eq!(
        bad(TrendsConfig { windows_secs: vec![MAX_WINDOW_SECS + 1], ..TrendsConfig::default() }),
        "signals.trends.windows_secs"
    );
    assert_eq!(
        bad(TrendsConfig { record_every_secs: 10, ..TrendsConfig::default() }),
        "signals.trends.record_every_secs"
    );
    assert_eq!(
        bad(TrendsConfig { record_markets: 100_001, ..TrendsConfig::default() }),
        "signals.trends.record_markets"
    );
    assert_eq!(window_start(10_000_000, 3_600), 10_000_000 - 3_600_000);
}
