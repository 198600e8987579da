//! A lab for the web layer's tests: a run, a comparison and a sweep in memory, hostile text in
//! every string a recording, plugin or market controls, and the job forms it was given.

use super::{HOSTILE, dec};
use crate::backend::{BackendError, BackendResult, FieldError};
use crate::lab::*;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub(crate) struct FakeLab {
    pub started: Mutex<Vec<LabJobForm>>,
}

fn metrics(pnl: &str) -> MetricsView {
    MetricsView {
        initial_capital: dec("10000"),
        final_equity: dec("10000") + dec(pnl),
        pnl: dec(pnl),
        return_percent: dec(pnl) / dec("100"),
        max_drawdown: dec("12.5"),
        max_drawdown_percent: dec("0.125"),
        sharpe: Some(1.25),
        positions: 2,
        closed: 1,
        win_rate_percent: Some(dec("100")),
        liquidations: 1,
        fees: dec("0.25"),
        exposure_percent: dec("10"),
        days: 3,
    }
}

pub(crate) fn attribution() -> AttributionView {
    AttributionView {
        pnl: dec("27.75"),
        spread: dec("-2"),
        fees: dec("-0.25"),
        liquidated_leg: dec("-19"),
        kept_leg: dec("49"),
        entry_mid: [Some(dec("0.51")), Some(dec("0.49"))],
        winner: Some("yes".into()),
        hold_to_resolution: Some(dec("-2.2")),
        sell_pair_at_liquidation: None,
    }
}

fn totals() -> AttributionTotals {
    AttributionTotals {
        positions: 1,
        pnl: dec("27.75"),
        spread: dec("-2"),
        fees: dec("-0.25"),
        liquidated_leg: dec("-19"),
        kept_leg: dec("49"),
        liquidated: 1,
        rule_vs_hold: Some(EstimateView {
            n: 1,
            total: dec("29.95"),
            mean: dec("29.95"),
            low: None,
            high: None,
        }),
        rule_vs_pair: None,
        exits_vs_hold: None,
    }
}

fn row(id: u64, open: bool) -> LabPositionRow {
    LabPositionRow {
        id,
        market_id: format!("m{id}"),
        question: format!("{HOSTILE} market {id}"),
        status: if open { "active".into() } else { "closed".into() },
        opened_at_ms: 1_700_000_000_000,
        closed_at_ms: (!open).then_some(1_700_100_000_000),
        liquidated: (!open).then(|| "no".into()),
        close_reason: (!open).then(|| "resolution".into()),
        score: Some(7.5),
        scorer: Some(format!("{HOSTILE}@1.0.0#0123456789ab")),
        capital: dec("100"),
        pnl: if open { dec("0") } else { dec("27.75") },
        attribution: (!open).then(attribution),
    }
}

pub(crate) fn run(id: u64, pnl: &str) -> RunView {
    let day = 86_400_000;
    RunView {
        summary: RunSummary {
            id,
            label: format!("{HOSTILE} run"),
            source: "simulator seed 1, 3 days, 300 markets".into(),
            plugins: vec![format!("scorer {HOSTILE}@1.0.0 (s.wasm)")],
            changes: vec!["engine.max_positions=5".into()],
            metrics: metrics(pnl),
            wall_ms: 1234,
        },
        equity: (0..10)
            .map(|i| (1_700_000_000_000 + i * 3_600_000, dec("10000") + rust_decimal::Decimal::from(i)))
            .collect(),
        daily: vec![(1_699_920_000_000, dec("5")), (1_699_920_000_000 + day, dec("-3"))],
        positions: vec![row(1, false), row(2, true)],
        attribution: totals(),
    }
}

impl Lab for FakeLab {
    fn overview(&self) -> BackendResult<LabOverview> {
        Ok(LabOverview {
            recordings: vec![RecordingView {
                name: format!("{HOSTILE}-sim"),
                venue: "sim".into(),
                from_ms: Some(1_700_000_000_000),
                to_ms: Some(1_700_086_400_000),
                segments: 2,
                bytes: 3_227_915,
                markets: Some(300),
                events: Some(377_347),
                active: true,
            }],
            runs: vec![run(2, "-7").summary, run(1, "12").summary],
            live_by_version: vec![
                VersionPnlView {
                    kind: "scorer".into(),
                    version: Some(format!("{HOSTILE}@1.0.0#0123456789ab")),
                    positions: 3,
                    pnl: dec("-4.5"),
                },
                VersionPnlView {
                    kind: "liquidation-rules".into(),
                    version: None,
                    positions: 3,
                    pnl: dec("-4.5"),
                },
            ],
            comparisons: vec![ComparisonSummary {
                id: 1,
                label: HOSTILE.into(),
                a: 1,
                b: 2,
                pnl_a: dec("12"),
                pnl_b: dec("-7"),
                source: "simulator".into(),
            }],
            sweeps: vec![SweepSummary {
                id: 1,
                label: String::new(),
                source: "simulator".into(),
                variants: 2,
                objective: "pnl".into(),
                holdout_percent: 25,
            }],
            jobs: vec![
                JobView {
                    id: 2,
                    kind: "comparison".into(),
                    label: HOSTILE.into(),
                    state: "running".into(),
                    percent: 40,
                    step: 1,
                    steps: 2,
                    error: None,
                    results: Vec::new(),
                    submitted_ms: 1_700_000_000_000,
                },
                JobView {
                    id: 1,
                    kind: "backtest".into(),
                    label: String::new(),
                    state: "done".into(),
                    percent: 100,
                    step: 1,
                    steps: 1,
                    error: None,
                    results: vec!["/lab/runs/1".into()],
                    submitted_ms: 1_700_000_000_000,
                },
            ],
            plugin_files: vec![
                PluginFileView {
                    kind: "scorer".into(),
                    choice: "plugins/default_scorer.wasm".into(),
                    plugin: "default-scorer@1.0.0".into(),
                    active: true,
                },
                PluginFileView {
                    kind: "scorer".into(),
                    choice: format!("lab/{HOSTILE}.wasm"),
                    plugin: format!("{HOSTILE}@2.0.0"),
                    active: false,
                },
            ],
            base_settings: vec!["engine.max_positions=3".into()],
            live_attribution: totals(),
        })
    }

    fn results(&self) -> BackendResult<LabOverview> {
        let o = self.overview()?;
        Ok(LabOverview {
            runs: o.runs,
            comparisons: o.comparisons,
            sweeps: o.sweeps,
            jobs: o.jobs,
            ..LabOverview::default()
        })
    }

    fn run(&self, id: u64) -> BackendResult<RunView> {
        match id {
            1 => Ok(run(1, "12")),
            2 => Ok(run(2, "-7")),
            _ => Err(BackendError::NotFound(format!("no run {id}"))),
        }
    }

    fn comparison(&self, id: u64) -> BackendResult<ComparisonView> {
        if id != 1 {
            return Err(BackendError::NotFound(format!("no comparison {id}")));
        }
        Ok(ComparisonView {
            id: 1,
            label: HOSTILE.into(),
            a: run(1, "12"),
            b: run(2, "-7"),
            diff: vec![DiffRowView {
                market_id: "m1".into(),
                question: HOSTILE.into(),
                a: "entered 2023-11-14 22:13".into(),
                b: "-".into(),
                pnl_a: dec("27.75"),
                pnl_b: dec("0"),
                pnl_diff: dec("27.75"),
                positions_a: vec![1],
                positions_b: Vec::new(),
            }],
        })
    }

    fn sweep(&self, id: u64) -> BackendResult<SweepView> {
        if id != 1 {
            return Err(BackendError::NotFound(format!("no sweep {id}")));
        }
        let variant = |v: usize, assignment: &str, pnl: &str, held: Option<&str>| SweepRowView {
            variant: v,
            assignment: vec![assignment.into()],
            train: metrics(pnl),
            train_score: Some(dec(pnl)),
            train_run: Some(1),
            holdout: held.map(metrics),
            holdout_score: held.map(dec),
            holdout_run: held.map(|_| 2),
        };
        Ok(SweepView {
            summary: SweepSummary {
                id: 1,
                label: String::new(),
                source: "simulator".into(),
                variants: 2,
                objective: "pnl".into(),
                holdout_percent: 25,
            },
            split_ms: Some(1_700_050_000_000),
            rows: vec![
                variant(1, "max_positions=3", "20", Some("-4")),
                variant(2, "max_positions=6", "10", Some("8")),
            ],
        })
    }

    fn calibration(&self, run: u64) -> BackendResult<CalibrationView> {
        if run != 1 {
            return Err(BackendError::NotFound(format!("run {run} was not calibrated")));
        }
        let bucket = |score: u8| BucketView {
            score,
            pnl: (score > 2).then(|| EstimateView {
                n: usize::from(score) * 3,
                total: dec("30"),
                mean: rust_decimal::Decimal::from(i32::from(score) - 6),
                low: Some(rust_decimal::Decimal::from(i32::from(score) - 9)),
                high: Some(rust_decimal::Decimal::from(i32::from(score) - 3)),
            }),
        };
        Ok(CalibrationView {
            run: Some(run),
            candidates: 400,
            simulated: 120,
            buckets: (1..=10).map(bucket).collect(),
            score_correlation: Some(0.125),
            factors: vec![(HOSTILE.into(), Some(-0.5)), ("liquidity".into(), None)],
        })
    }

    fn live_calibration(&self) -> BackendResult<CalibrationView> {
        Ok(CalibrationView { run: None, ..self.calibration(1)? })
    }

    fn position(&self, run: Option<u64>, id: u64) -> BackendResult<PositionDetail> {
        if id != 1 {
            return Err(BackendError::NotFound(format!("no position {id}")));
        }
        let q = |t: i64, yb: &str| QuoteView {
            at_ms: t,
            yes_bid: Some(dec(yb)),
            yes_ask: Some(dec(yb) + dec("0.02")),
            no_bid: Some(dec("0.98") - dec(yb)),
            no_ask: Some(dec("1") - dec(yb)),
        };
        Ok(PositionDetail {
            run,
            position: row(1, false),
            legs: [
                LegDetail {
                    outcome: "Yes".into(),
                    bought: dec("100"),
                    cost: dec("52"),
                    sold: dec("100"),
                    proceeds: dec("100"),
                    fees: dec("0.1"),
                },
                LegDetail {
                    outcome: HOSTILE.into(),
                    bought: dec("100"),
                    cost: dec("50"),
                    sold: dec("100"),
                    proceeds: dec("30"),
                    fees: dec("0.15"),
                },
            ],
            quotes: vec![
                q(1_700_000_000_000, "0.5"),
                q(1_700_050_000_000, "0.68"),
                q(1_700_100_000_000, "0.99"),
            ],
            markers: vec![
                MarkerView {
                    at_ms: 1_700_000_000_000,
                    kind: "entry".into(),
                    leg: "yes".into(),
                    price: dec("0.52"),
                },
                MarkerView {
                    at_ms: 1_700_050_000_000,
                    kind: "liquidation".into(),
                    leg: "no".into(),
                    price: dec("0.3"),
                },
                MarkerView {
                    at_ms: 1_700_100_000_000,
                    kind: "resolution".into(),
                    leg: "yes".into(),
                    price: dec("1"),
                },
            ],
            trades: vec![LabTradeView {
                id: 1,
                at_ms: 1_700_000_000_000,
                leg: "yes".into(),
                action: "buy".into(),
                purpose: "entry".into(),
                price: dec("0.52"),
                shares: dec("100"),
                notional: dec("52"),
                fee: dec("0.1"),
                reason: HOSTILE.into(),
                decided_by: Some("default-scorer@0.2.0#0123456789ab".into()),
            }],
        })
    }

    fn start(&self, form: &LabJobForm) -> BackendResult<JobView> {
        if form.days.trim() == "0" {
            return Err(BackendError::Invalid {
                message: "the job was not started".into(),
                fields: vec![FieldError { field: "days".into(), message: "`days` must be 1 or more".into() }],
            });
        }
        self.started.lock().unwrap().push(form.clone());
        Ok(JobView { id: 3, kind: form.kind.clone(), state: "queued".into(), steps: 1, ..JobView::default() })
    }

    fn upload_plugin(&self, name: &str, bytes: &[u8]) -> BackendResult<PluginFileView> {
        if !bytes.starts_with(b"\0asm") {
            return Err(BackendError::Invalid {
                message: format!("{name} is not a plugin this bot can run"),
                fields: vec![FieldError {
                    field: "file".into(),
                    message: "not a WebAssembly component".into(),
                }],
            });
        }
        Ok(PluginFileView {
            kind: "scorer".into(),
            choice: format!("lab/{name}"),
            plugin: "up@1.0.0".into(),
            active: false,
        })
    }

    fn jobs(&self) -> Vec<JobView> {
        self.overview().map(|o| o.jobs).unwrap_or_default()
    }

    fn job(&self, id: u64) -> BackendResult<JobView> {
        self.overview()?
            .jobs
            .into_iter()
            .find(|j| j.id == id)
            .ok_or_else(|| BackendError::NotFound(format!("no job {id}")))
    }
}
