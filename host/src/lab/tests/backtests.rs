//! Backtests end to end on the simulator: the decision diff, comparisons, scans kept with
//! shared ids, rule parameters, attribution, calibration, and rules that misbehave.

use super::*;

fn report(positions: Vec<Position>) -> crate::lab::RunReport {
    crate::lab::RunReport {
        id: None,
        label: String::new(),
        source: String::new(),
        plugins: Vec::new(),
        params: Vec::new(),
        settings: crate::engine::Settings::default(),
        metrics: crate::lab::metrics::compute(dec!(1000), &[], &positions, &[]),
        equity: Vec::new(),
        positions,
        trades: Vec::new(),
        decisions: Vec::new(),
        attribution: Vec::new(),
        attribution_summary: crate::lab::AttributionSummary::default(),
        stats: crate::lab::RunStats::default(),
        quotes: Vec::new(),
        calibration: None,
    }
}

fn closed(id: u64, market: &str, liquidated: Option<Leg>, proceeds: Decimal) -> Position {
    let mut p = Position {
        id,
        market_id: market.into(),
        question: format!("Question {market}?"),
        status: PositionStatus::Closed,
        liquidated,
        liquidated_at_ms: liquidated.map(|_| 5),
        close_reason: Some("resolved".into()),
        closed_at_ms: Some(10),
        ..Position::blank()
    };
    p.legs[0].bought = dec!(100);
    p.legs[0].cost = dec!(50);
    p.legs[0].sold = dec!(100);
    p.legs[0].proceeds = proceeds;
    p
}

#[test]
fn the_diff_lists_exactly_the_markets_where_the_runs_differ_largest_consequence_first() {
    let a = report(vec![
        closed(1, "same", None, dec!(60)),
        closed(2, "only-a", None, dec!(55)),
        closed(3, "exit", Some(Leg::Yes), dec!(40)),
    ]);
    let b = report(vec![
        closed(1, "same", None, dec!(60)),
        closed(2, "exit", None, dec!(70)),
        closed(3, "only-b", None, dec!(49)),
    ]);
    let diff = crate::lab::diff_runs(&a, &b);
    let markets: Vec<&str> = diff.iter().map(|r| r.market_id.as_str()).collect();
    assert_eq!(markets, ["exit", "only-a", "only-b"], "by |P&L A − B|: 30, 5, 1");
    assert_eq!(diff[0].pnl_diff, dec!(-30));
    assert!(
        diff[0].a.contains("liquidated yes 1970-01-01 00:00") && !diff[0].b.contains("liquidated"),
        "{}",
        diff[0].a
    );
    assert_eq!((diff[1].b.as_str(), diff[1].pnl_diff), ("-", dec!(5)));
    assert_eq!((diff[2].a.as_str(), diff[2].pnl_b, diff[2].pnl_diff), ("-", dec!(-1), dec!(1)));
    assert!(crate::lab::diff_runs(&a, &a).is_empty(), "a run does not differ from itself");
}

/// The engine sets the rules plugin's drop, stop loss and take profit from the settings at
/// start: a `--param` for them would be silently replaced, so it is refused with the setting.
#[test]
fn a_rule_parameter_the_settings_drive_is_refused_with_the_setting_to_use() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plugins");
    crate::plugins::install_defaults(&dir).unwrap();
    let mut bt = Backtest::new(
        DataSource::Sim { seed: 1, days: 1, markets: 10, start_ms: SimConfig::default().start_ms },
        PluginOptions::new(&dir, None),
    );
    bt.overrides.param("equilibrage.liquidation-drop=0.5").unwrap();
    let err = bt.run(&|_, _| {}).unwrap_err().to_string();
    assert!(err.contains("--set engine.liquidation_drop_percent"), "{err}");
}

/// Two versions of a scorer that disagree on a known set of markets (the fixture scores 10, or
/// 1 for markets ending within `veto-days`): the decision diff of their backtests lists exactly
/// the markets of that set the first version traded, and nothing else.
#[test]
fn two_scorer_versions_differ_in_the_diff_on_exactly_the_markets_they_disagree_on() {
    const DAY: f64 = 86_400_000.0;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    let veto = &equilibrage_plugin_artifacts::VETO_SCORER;
    std::fs::write(dir.join(veto.file), veto.bytes).unwrap();
    let config = SimConfig { seed: 9, markets: 16, ..SimConfig::default() };
    let start = config.start_ms;
    // Version B vetoes the markets ending before the middle of the listing's end dates.
    let listing = Simulator::new(config.clone()).markets();
    #[allow(clippy::cast_precision_loss, reason = "test end dates")]
    let mut days: Vec<f64> = listing.iter().map(|m| (m.end_ms.unwrap() - start) as f64 / DAY).collect();
    days.sort_by(f64::total_cmp);
    let cut = f64::midpoint(days[days.len() / 2 - 1], days[days.len() / 2]);
    #[allow(clippy::cast_precision_loss, reason = "test end dates")]
    let vetoed: std::collections::BTreeSet<&str> = listing
        .iter()
        .filter(|m| ((m.end_ms.unwrap() - start) as f64 / DAY) < cut)
        .map(|m| m.id.as_str())
        .collect();

    let mut a = Backtest::new(
        DataSource::Sim { seed: 9, days: 1, markets: 16, start_ms: start },
        PluginOptions::new(&dir, None),
    );
    // One scan, room for every market, a small stake each.
    a.to_ms = Some(start + 60_000);
    a.settings.auto_trading = true;
    a.settings.max_positions = 100;
    a.settings.capital_allocation_percent = Decimal::ONE;
    let mut b = a.clone();
    b.overrides.param(&format!("veto-scorer.veto-days={cut}")).unwrap();
    let (ra, rb) = (a.run(&|_, _| {}).unwrap(), b.run(&|_, _| {}).unwrap());

    let entered = |r: &crate::lab::RunReport| -> std::collections::BTreeSet<String> {
        r.positions.iter().map(|p| p.market_id.clone()).collect()
    };
    let (ea, eb) = (entered(&ra), entered(&rb));
    let expected: Vec<&str> = ea.iter().map(String::as_str).filter(|m| vetoed.contains(m)).collect();
    assert!(expected.len() >= 2 && ea.len() > expected.len(), "A traded vetoed and other markets: {ea:?}");
    assert!(eb.iter().all(|m| !vetoed.contains(m.as_str())), "B trades no vetoed market");
    let diff = crate::lab::diff_runs(&ra, &rb);
    let mut listed: Vec<&str> = diff.iter().map(|r| r.market_id.as_str()).collect();
    listed.sort_unstable();
    assert_eq!(listed, expected, "the diff lists exactly the markets the versions disagree on");
    assert!(diff.iter().all(|r| r.b == "-" && r.a.starts_with("entered")), "A entered them, B did not");
}

/// `hours` of the simulator (`seed`, `markets`) with the default plugins installed under `root`,
/// auto-trading every candidate.
pub(in crate::lab) fn trading_base(
    root: &std::path::Path,
    seed: u64,
    markets: usize,
    hours: i64,
) -> Backtest {
    let dir = root.join("plugins");
    crate::plugins::install_defaults(&dir).unwrap();
    let start = SimConfig::default().start_ms;
    let mut base = Backtest::new(
        DataSource::Sim { seed, days: 1, markets, start_ms: start },
        PluginOptions::new(&dir, None),
    );
    base.to_ms = Some(start + hours * 3_600_000);
    base.settings.auto_trading = true;
    base.settings.opportunity_threshold = 1;
    base
}

/// The two runs of a comparison share the signal plugins' answers (the same whale and news
/// plugins over the same data) and the simulator's world, drawn once: B asks none of A's
/// questions again, and both runs are the runs they would be alone, every scan's factors
/// included.
#[test]
fn a_comparisons_runs_share_the_signal_answers_and_are_as_they_would_be_alone() {
    let root = tempfile::tempdir().unwrap();
    let mut a = trading_base(root.path(), 4, 12, 4);
    a.calibrate = false;
    let mut b = a.clone();
    b.overrides.param("default-scorer.weight-liquidity=0.9").unwrap();
    // Alone, each run draws its own world.
    assert!(a.world.is_none() && b.world.is_none());
    let (alone_a, alone_b) = (a.run(&|_, _| {}).unwrap(), b.run(&|_, _| {}).unwrap());
    let (a, b) = a.compared_with(b);
    let memo = std::sync::Arc::clone(a.plugins.memo.as_ref().unwrap());
    assert!(std::sync::Arc::ptr_eq(&memo, b.plugins.memo.as_ref().unwrap()));
    let world = a.world.as_ref().expect("a simulated comparison draws its world once");
    assert!(std::sync::Arc::ptr_eq(world, b.world.as_ref().unwrap()));
    let ra = a.run(&|_, _| {}).unwrap();
    let asked = memo.stats();
    assert!(asked.misses > 0 && asked.hits == 0, "A asks everything once: {asked:?}");
    let rb = b.run(&|_, _| {}).unwrap();
    let both = memo.stats();
    assert_eq!((both.misses, both.hits), (asked.misses, asked.misses), "B asks nothing again");
    assert!(!ra.decisions.is_empty());
    assert_eq!(ra.deterministic_json(), alone_a.deterministic_json());
    assert_eq!(rb.deterministic_json(), alone_b.deterministic_json());
    assert_ne!(ra.deterministic_json(), rb.deterministic_json(), "the scorers differ");
}

/// A backtest keeps every scan's candidates; a market scanned again shares its id with the
/// scans before (one copy kept, not one a scan), and the decisions read as before.
#[test]
fn kept_scans_share_the_ids_of_the_markets_they_scanned_again() {
    let root = tempfile::tempdir().unwrap();
    let mut bt = trading_base(root.path(), 4, 12, 2);
    bt.calibrate = false;
    let report = bt.run(&|_, _| {}).unwrap();
    let scans: Vec<&[crate::engine::Scored]> = report
        .decisions
        .iter()
        .filter_map(|d| match &d.decision {
            Decision::Scanned { candidates, error: None, .. } => Some(&**candidates),
            _ => None,
        })
        .collect();
    assert!(scans.len() > 2, "{} scans", scans.len());
    let mut shared = 0;
    for pair in scans.windows(2) {
        for c in pair[1] {
            let before = pair[0].iter().find(|b| b.market_id == c.market_id);
            if let Some(b) = before {
                assert!(std::sync::Arc::ptr_eq(&b.market_id, &c.market_id), "{} kept twice", c.market_id);
                shared += 1;
            }
        }
    }
    assert!(shared > 0, "markets scanned again");
    // Shared or not, an id reads (and serialises) as the market's id.
    let first = &scans[0][0];
    assert!(first.market_id.starts_with("0x"), "{}", first.market_id);
    let json = serde_json::to_value(first).unwrap();
    assert_eq!(json["market_id"], serde_json::Value::String(first.market_id.to_string()));
}

/// A backtest of `days` simulated days of 12 markets (seed 5, the default plugins under
/// `root`) that trades often and leaves often: a low threshold, more slots, a tighter
/// liquidation, stops and targets, and sweeps every ten minutes.
fn trading_often(root: &Path, days: u32) -> Backtest {
    let dir = root.join("plugins");
    crate::plugins::install_defaults(&dir).unwrap();
    let mut bt = Backtest::new(
        DataSource::Sim { seed: 5, days, markets: 12, start_ms: SimConfig::default().start_ms },
        PluginOptions::new(&dir, None),
    );
    bt.settings.auto_trading = true;
    bt.settings.opportunity_threshold = 1;
    bt.settings.max_positions = 6;
    bt.settings.liquidation_drop_percent = dec!(15);
    bt.settings.stop_loss_percent = dec!(20);
    bt.settings.take_profit_percent = dec!(20);
    bt.settings.sweep_interval_secs = 600;
    bt
}

/// A simulated month traded with a low threshold: every closed position's attribution adds up
/// exactly to its P&L (and that P&L is the ledger's), the sum over the run is the sum of the
/// positions, and the results store gives back the attribution and each position's quotes.
#[test]
fn attribution_adds_up_exactly_over_every_position_of_a_simulated_month() {
    use crate::lab::ResultsStore;
    let root = tempfile::tempdir().unwrap();
    let mut bt = trading_often(root.path(), 30);
    // Markets that resolve within the month; scans hourly.
    bt.settings.max_days_to_end = 20;
    bt.settings.scan_interval_secs = 3_600;
    let mut r = bt.run(&|_, _| {}).unwrap();
    let closed: Vec<&Position> = r
        .positions
        .iter()
        .filter(|p| !p.status.is_open() && p.legs.iter().any(|l| !l.bought.is_zero()))
        .collect();
    assert!(closed.len() >= 10, "a month of trading closes positions: {}", closed.len());
    assert_eq!(r.attribution.len(), closed.len(), "one attribution per closed position");
    for (a, p) in r.attribution.iter().zip(&closed) {
        assert_eq!(a.position_id, p.id);
        assert_eq!(a.pnl, crate::engine::mark(p, [None, None]).realised, "position {}", p.id);
        assert_eq!(a.parts_sum(), a.pnl, "position {}: {a:?}", p.id);
    }
    assert!(r.attribution.iter().any(|a| a.liquidated.is_some()), "some positions were liquidated");
    assert!(
        r.attribution.iter().all(|a| a.entry_mid.iter().all(Option::is_some)),
        "every entry's quotes were recorded"
    );
    assert!(r.attribution.iter().any(|a| a.hold_to_resolution.is_some()), "some markets resolved");
    let s = &r.attribution_summary;
    assert_eq!(s.pnl, r.attribution.iter().map(|a| a.pnl).sum::<Decimal>());
    assert_eq!(s.spread + s.fees + s.liquidated_leg + s.kept_leg, s.pnl);
    // The same run keeping no decisions (as a sweep's variant does) keeps of the price history
    // only what the attribution reads (`Store::in_memory_lean`): the same attribution, and the
    // same report but for the decisions and the charts it does not keep.
    let lean = Backtest { keep_decisions: false, calibrate: false, ..bt.clone() }.run(&|_, _| {}).unwrap();
    assert!(lean.quotes.is_empty(), "no charts kept");
    assert_eq!(lean.attribution, r.attribution);
    let without = |r: &crate::lab::RunReport| {
        crate::lab::RunReport { decisions: Vec::new(), ..r.clone() }.deterministic_json()
    };
    assert_eq!(without(&lean), without(&r));

    let first = closed[0].id;
    let store = ResultsStore::open(root.path()).unwrap();
    let id = store.put(&mut r).unwrap();
    let back = store.get_without_decisions(id).unwrap().unwrap();
    assert_eq!(back.attribution, r.attribution);
    let quotes = store.quotes(id, first).unwrap();
    assert!(!quotes.is_empty() && quotes.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
    assert_eq!(quotes, r.quotes.iter().find(|(p, _)| *p == first).unwrap().1);
}

/// Calibration over two simulated days: every scored candidate's simulated trade is on record
/// with its bucket, and a candidate the run entered ends as the position did. Both walk the
/// same books with the same fill and fee code and follow the same rule on the same book
/// changes, so their P&L agree exactly (no fee rounding differs: the venue and the simulation
/// charge `fill.fee` of the same walk).
#[test]
fn a_calibrated_candidate_that_was_entered_ends_as_its_position_did() {
    let root = tempfile::tempdir().unwrap();
    let mut bt = trading_often(root.path(), 2);
    bt.settings.scan_interval_secs = 1_800;
    let r = bt.run(&|_, _| {}).unwrap();
    let cal = r.calibration.as_ref().expect("calibrated");
    let summary = cal.summarise();
    assert_eq!(summary.buckets.len(), 10);
    assert!(summary.simulated > 50, "{} simulated of {}", summary.simulated, summary.candidates);
    assert_eq!(summary.factors.len(), cal.factors.len());
    assert!(cal.candidates.iter().all(|c| c.mid.is_some()), "each candidate's mid then");
    assert!(cal.candidates.iter().any(|c| c.mid_1h.is_some() && c.mid_24h.is_some()));
    let mut compared = 0;
    for p in r.positions.iter().filter(|p| !p.status.is_open() && p.legs.iter().all(|l| !l.bought.is_zero()))
    {
        let c = cal
            .candidates
            .iter()
            .find(|c| c.position == Some(p.id))
            .expect("the entered candidate is on record");
        assert!(c.closed, "position {} closed, its simulated trade too", p.id);
        assert_eq!(c.pnl, Some(crate::engine::mark(p, [None, None]).realised), "position {}", p.id);
        compared += 1;
    }
    assert!(compared >= 5, "{compared} positions compared");
    // Decisions not asked for stay out of the report, though the calibration reads them.
    let lean = crate::lab::Backtest { keep_decisions: false, ..bt }.run(&|_, _| {}).unwrap();
    assert!(lean.decisions.is_empty() && !r.decisions.is_empty());
    assert_eq!(
        lean.deterministic_json(),
        crate::lab::RunReport { decisions: Vec::new(), ..r.clone() }.deterministic_json()
    );
}

/// Plugin calls run inline on a backtest's one thread. Liquidation rules that print at every
/// call cost the run nothing; rules that panic fault at every call, and the built-in rule then
/// makes the same exits the default rules plugin makes; rules that sleep are stopped at once
/// (a plugin may not wait), with the same outcome, rather than holding the run.
#[test]
fn rules_that_print_panic_or_sleep_do_not_stop_a_backtest() {
    let root = tempfile::tempdir().unwrap();
    let defaults = root.path().join("defaults");
    crate::plugins::install_defaults(&defaults).unwrap();
    let noisy = root.path().join("noisy");
    crate::plugins::install_defaults(&noisy).unwrap();
    std::fs::remove_file(noisy.join("equilibrage.wasm")).unwrap();
    let rules = &equilibrage_plugin_artifacts::NOISY_RULES;
    std::fs::write(noisy.join(rules.file), rules.bytes).unwrap();
    let start = SimConfig::default().start_ms;
    let backtest = |dir: &Path, param: Option<&str>| {
        let mut bt = Backtest::new(
            DataSource::Sim { seed: 3, days: 1, markets: 8, start_ms: start },
            PluginOptions::new(dir, None),
        );
        bt.to_ms = Some(start + 12 * 3_600_000);
        bt.settings.auto_trading = true;
        bt.settings.opportunity_threshold = 1;
        bt.settings.max_positions = 8;
        if let Some(p) = param {
            bt.overrides.param(p).unwrap();
        }
        bt.run(&|_, _| {}).unwrap()
    };
    let exits_by = |r: &crate::lab::RunReport| -> Vec<String> {
        r.decisions
            .iter()
            .filter_map(|d| match &d.decision {
                Decision::Exit { by, .. } => Some(by.clone()),
                _ => None,
            })
            .collect()
    };
    let trades = |r: &crate::lab::RunReport| -> Vec<String> {
        r.trades
            .iter()
            .map(|t| format!("p{} {:?} {:?} {} x {}", t.position_id, t.leg, t.action, t.price, t.shares))
            .collect()
    };

    let reference = backtest(&defaults, None);
    let by = exits_by(&reference);
    assert!(!by.is_empty() && by.iter().all(|b| b == "equilibrage"), "the default rules sell: {by:?}");

    let printing = backtest(&noisy, None);
    assert!(!printing.positions.is_empty(), "it trades");
    assert!(exits_by(&printing).is_empty(), "printing rules that never sell answered every call");

    let panicking = backtest(&noisy, Some("noisy-rules.panic=1"));
    let by = exits_by(&panicking);
    assert!(!by.is_empty() && by.iter().all(|b| b == "built-in"), "{by:?}");
    assert_eq!(trades(&panicking), trades(&reference), "the built-in rule trades as the default plugin");

    let sleeping = backtest(&noisy, Some("noisy-rules.sleep=1"));
    assert_eq!(exits_by(&sleeping), exits_by(&panicking));
    assert_eq!(trades(&sleeping), trades(&reference));
}
