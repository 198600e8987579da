//! The sweep's tests: spaces and objectives, and whole sweeps on the simulator.

use super::*;
use crate::lab::ResultsStore;
use crate::lab::tests::trading_base;
use rust_decimal_macros::dec;

#[test]
fn a_grid_is_every_combination_in_order() {
    let space = Space::Grid(vec![
        Axis::parse("engine.max_positions=3,5").unwrap(),
        Axis::parse("default-scorer.weight-liquidity=0.1, 0.2,0.3").unwrap(),
    ]);
    let v = space.variants().unwrap();
    assert_eq!(v.len(), 6);
    assert_eq!(
        v[0],
        [
            ("engine.max_positions".into(), "3".into()),
            ("default-scorer.weight-liquidity".into(), "0.1".into())
        ]
    );
    assert_eq!(v[5][0].1, "5");
    assert_eq!(v[5][1].1, "0.3");
    assert!(Axis::parse("engine.max_positions=").is_err());
    assert!(Axis::parse("engine.max_positions").is_err());
    let twice = Space::Grid(vec![Axis::parse("a=1").unwrap(), Axis::parse("a=2").unwrap()]);
    assert!(twice.variants().unwrap_err().to_string().contains("swept twice"));
    let huge = Space::Grid((0..6).map(|i| Axis::parse(&format!("k{i}=1,2,3,4,5,6")).unwrap()).collect());
    let refused = huge.variants().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("46656 variants"), "{refused}");
}

#[test]
fn random_draws_repeat_for_a_seed_and_keep_the_bounds_precision() {
    let space = |seed| Space::Random {
        ranges: vec![
            Range::parse("engine.max_positions=1..10").unwrap(),
            Range::parse("s.w=0.10..0.40").unwrap(),
        ],
        draws: 50,
        seed,
    };
    let a = space(7).variants().unwrap();
    assert_eq!(a, space(7).variants().unwrap(), "same seed, same draws");
    assert_ne!(a, space(8).variants().unwrap());
    for v in &a {
        let n: u32 = v[0].1.parse().expect("whole numbers for whole bounds");
        assert!((1..=10).contains(&n));
        let w = Decimal::from_str(&v[1].1).unwrap();
        assert!(w >= dec!(0.10) && w <= dec!(0.40) && w.scale() <= 2, "{w}");
    }
    assert!(Range::parse("a=2..1").is_err());
    assert!(Range::parse("a=x..1").is_err());
    assert!(Range::parse("a=1").is_err());
}

#[test]
fn objectives_rank_higher_first_and_missing_last() {
    let mut order = [(1, None), (2, Some(dec!(1))), (3, Some(dec!(5))), (4, Some(dec!(1)))];
    order.sort_by(|a, b| by_score(a.1, b.1).then(a.0.cmp(&b.0)));
    assert_eq!(order.iter().map(|o| o.0).collect::<Vec<_>>(), [3, 2, 4, 1]);
    assert_eq!(Objective::parse("drawdown-adjusted").unwrap(), Objective::DrawdownAdjusted);
    assert!(Objective::parse("profit").unwrap_err().to_string().contains("pnl, return, sharpe"));
}

/// A sweep's variants are independent, deterministic runs: one thread or two give the same
/// table and the same runs. The table is ranked on the training part; the held-out runs trade
/// only after the split, the training runs only before it; the store keeps it all.
#[test]
fn a_sweep_gives_the_same_results_on_one_thread_and_on_two() {
    let root = tempfile::tempdir().unwrap();
    let base = trading_base(root.path(), 3, 8, 12);
    let sweep = |threads| Sweep {
        base: base.clone(),
        space: Space::Grid(vec![
            Axis::parse("engine.max_positions=1,6").unwrap(),
            Axis::parse("engine.capital_allocation_percent=5,20").unwrap(),
        ]),
        objective: Objective::Pnl,
        holdout_percent: 25,
        top: 2,
        threads,
        keep_decisions: false,
    };
    let one = sweep(1).run(&|_, _| {}).unwrap();
    let mut two = sweep(2).run(&|_, _| {}).unwrap();
    assert_eq!(one.report.deterministic_json(), two.report.deterministic_json());
    let runs = |o: &SweepOutcome| -> Vec<String> {
        o.runs
            .iter()
            .flat_map(|(t, h)| std::iter::once(t).chain(h))
            .map(RunReport::deterministic_json)
            .collect()
    };
    assert_eq!(runs(&one), runs(&two));
    // A sweep that keeps the decisions (so the engine describes each) gets the same results.
    let kept = Sweep { keep_decisions: true, ..sweep(1) }.run(&|_, _| {}).unwrap();
    assert_eq!(kept.report.deterministic_json(), one.report.deterministic_json());
    assert!(kept.runs.iter().all(|(t, _)| !t.decisions.is_empty()), "kept when asked");
    let without_decisions = |o: &SweepOutcome| -> Vec<String> {
        o.runs
            .iter()
            .flat_map(|(t, h)| std::iter::once(t).chain(h))
            .map(|r| RunReport { decisions: Vec::new(), ..r.clone() }.deterministic_json())
            .collect()
    };
    assert_eq!(without_decisions(&kept), runs(&one));

    let r = &one.report;
    assert_eq!(r.rows.len(), 4);
    let scores: Vec<Decimal> = r.rows.iter().map(|row| row.train_score.unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    let distinct: std::collections::BTreeSet<String> =
        r.rows.iter().map(|row| row.train.pnl.to_string()).collect();
    assert!(distinct.len() > 1, "the variants trade differently: {distinct:?}");
    assert_eq!(
        r.rows.iter().map(|row| row.holdout.is_some()).collect::<Vec<_>>(),
        [true, true, false, false]
    );
    let split = r.split_ms.unwrap();
    assert_eq!(split, r.span.0 + (r.span.1 - r.span.0) * 3 / 4);
    for (t, h) in &one.runs {
        assert!(!t.positions.is_empty(), "{}: trades", t.label);
        assert!(t.positions.iter().all(|p| p.opened_at_ms <= split), "training stops at the split");
        assert!(t.decisions.is_empty(), "decisions are not kept unless asked");
        if let Some(h) = h {
            assert!(h.positions.iter().all(|p| p.opened_at_ms >= split), "held out starts at the split");
        }
    }

    let store = ResultsStore::open(root.path()).unwrap();
    let id = store.put_sweep(&mut two).unwrap();
    let back = store.sweep(id).unwrap().unwrap();
    assert_eq!(back, two.report);
    let best = &back.rows[0];
    let run = store.get(best.train_run.unwrap()).unwrap().unwrap();
    assert_eq!(run.metrics, best.train);
    assert_eq!(run.label, format!("variant {} train", best.variant));
    assert_eq!(
        store.get(best.holdout_run.unwrap()).unwrap().unwrap().metrics,
        *best.holdout.as_ref().unwrap()
    );
}

/// The variants of a sweep see the same whale trades and news, so the signal plugins answer each
/// analysis once (`plugins::CallMemo`): on one thread the first variant asks every time and the
/// others never. Each variant's run, with every scan's factors, is still the run it would be
/// alone, without the memo.
#[test]
fn a_sweeps_variants_share_the_signal_answers_and_each_run_is_as_it_would_be_alone() {
    let root = tempfile::tempdir().unwrap();
    let mut base = trading_base(root.path(), 5, 12, 8);
    base.calibrate = false;
    let sweep = Sweep {
        base: base.clone(),
        space: Space::Grid(vec![
            Axis::parse("engine.max_positions=1,4").unwrap(),
            // Whales by any trade of 100 pUSD, or by none.
            Axis::parse("default-whales.min-trade=100,10000000").unwrap(),
        ]),
        objective: Objective::Pnl,
        holdout_percent: 0,
        top: 0,
        threads: 1,
        // Every scan's candidates and their factors, whale and news signals among them.
        keep_decisions: true,
    };
    let outcome = sweep.run(&|_, _| {}).unwrap();
    let m = outcome.memo;
    // The first variant asks every analysis; the second asks the whale analyses again (another
    // parameter value) but none of the news matchings; the last two ask nothing: so at least as
    // many answers are shared as asked.
    assert!(m.misses > 0 && m.hits >= m.misses && m.refused == 0, "{m:?}");
    assert!(outcome.runs[0].0.stats.scans > 10);
    let mut whale_factors = std::collections::BTreeMap::new();
    for (row, (run, _)) in outcome.report.rows.iter().zip(&outcome.runs) {
        let mut alone = base.clone();
        for (k, v) in &row.set {
            if k.starts_with("engine.") {
                alone.overrides.set(&format!("{k}={v}")).unwrap();
            } else {
                alone.overrides.param(&format!("{k}={v}")).unwrap();
            }
        }
        assert!(alone.plugins.memo.is_none());
        let alone = alone.run(&|_, _| {}).unwrap();
        assert!(!alone.decisions.is_empty());
        assert_eq!(
            alone.deterministic_json(),
            run.deterministic_json(),
            "variant {} ({:?})",
            row.variant,
            row.set
        );
        whale_factors.insert(row.set.clone(), whale_activity(run));
    }
    let with = |trade: &str| {
        let set = vec![
            ("engine.max_positions".to_owned(), "1".to_owned()),
            ("default-whales.min-trade".to_owned(), trade.to_owned()),
        ];
        whale_factors[&set].clone()
    };
    assert_ne!(with("100"), with("10000000"), "the two whale settings give different signals");
}

/// Each scan's whale-activity factor values, in order.
fn whale_activity(run: &RunReport) -> Vec<Vec<f32>> {
    run.decisions
        .iter()
        .filter_map(|d| match &d.decision {
            crate::engine::Decision::Scanned { factors, candidates, .. } => {
                let i = factors.iter().position(|f| f.contains("whale"))?;
                Some(candidates.iter().map(|c| c.factors[i]).collect())
            }
            _ => None,
        })
        .collect()
}
