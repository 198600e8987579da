//! Parameter sweeps: a grid or seeded random draws over settings and plugin parameters, each
//! variant its own deterministic backtest, run in parallel; variants are chosen on the first
//! part of the data and the best are reported on the held-out rest (walk-forward).

use super::backtest::{Backtest, RunReport};
use super::metrics::Metrics;
use super::{LabError, Result};
use crate::exchange::sim::rng::Rng;
use crate::plugins::{CallMemo, MemoStats};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Most variants one sweep runs.
pub const MAX_VARIANTS: usize = 10_000;

/// What a sweep ranks its variants by (higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Profit and loss, pUSD.
    #[default]
    Pnl,
    /// Return, percent.
    Return,
    /// Sharpe ratio of daily returns (none under two days: ranked last).
    Sharpe,
    /// Return over the maximum drawdown, both in percent; drawdowns under 1 % count as 1 %.
    DrawdownAdjusted,
}

impl Objective {
    pub const ALL: [Self; 4] = [Self::Pnl, Self::Return, Self::Sharpe, Self::DrawdownAdjusted];

    /// Its name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pnl => "pnl",
            Self::Return => "return",
            Self::Sharpe => "sharpe",
            Self::DrawdownAdjusted => "drawdown-adjusted",
        }
    }

    /// The objective named `s`.
    ///
    /// # Errors
    /// An unknown name, with the known ones.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|o| o.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|o| o.name()).collect();
            LabError::Invalid(format!("objective {s:?}: one of {}", names.join(", ")))
        })
    }

    /// The run's figure for this objective, or none when the run gives none.
    #[must_use]
    pub fn score(self, m: &Metrics) -> Option<Decimal> {
        match self {
            Self::Pnl => Some(m.pnl),
            Self::Return => Some(m.return_percent),
            Self::Sharpe => m.sharpe.and_then(Decimal::from_f64_retain).map(|s| s.round_dp(4)),
            Self::DrawdownAdjusted => {
                Some((m.return_percent / m.max_drawdown_percent.max(Decimal::ONE)).round_dp(4))
            }
        }
    }
}

/// One swept key: a setting (`engine.max_positions`) or a plugin parameter
/// (`default-scorer.weight-liquidity`), with the values a grid takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

impl Axis {
    /// Parses `KEY=V1,V2,…`.
    ///
    /// # Errors
    /// No `=`, or no value.
    pub fn parse(arg: &str) -> Result<Self> {
        let (key, values) = arg.split_once('=').ok_or_else(|| {
            LabError::Invalid(format!("--grid {arg:?}: expected KEY=V1,V2,… e.g. engine.max_positions=3,5,8"))
        })?;
        let values: Vec<String> =
            values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect();
        if values.is_empty() {
            return Err(LabError::Invalid(format!("--grid {arg:?}: no values")));
        }
        Ok(Self { key: key.trim().to_owned(), values })
    }
}

/// One randomly drawn key: values from `lo` to `hi` inclusive, in steps of the finer of the two
/// bounds' last decimal place (`0.10..0.90` draws to hundredths, `1..10` whole numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub key: String,
    pub lo: Decimal,
    pub hi: Decimal,
}

impl Range {
    /// Parses `KEY=LO..HI`.
    ///
    /// # Errors
    /// Not of that shape, bounds that are not decimals, or `LO > HI`.
    pub fn parse(arg: &str) -> Result<Self> {
        let bad = || {
            LabError::Invalid(format!(
                "--random {arg:?}: expected KEY=LO..HI, e.g. default-scorer.weight-liquidity=0.10..0.40"
            ))
        };
        let (key, range) = arg.split_once('=').ok_or_else(bad)?;
        let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
        let lo = Decimal::from_str(lo.trim()).map_err(|_| bad())?;
        let hi = Decimal::from_str(hi.trim()).map_err(|_| bad())?;
        if lo > hi {
            return Err(LabError::Invalid(format!("--random {arg:?}: {lo} is above {hi}")));
        }
        Ok(Self { key: key.trim().to_owned(), lo, hi })
    }

    /// A value drawn from the range.
    fn draw(&self, rng: &mut Rng) -> Decimal {
        let scale = self.lo.scale().max(self.hi.scale());
        let step = Decimal::new(1, scale);
        // Both bounds are multiples of the step, so this is a whole number.
        let steps = ((self.hi - self.lo) / step).trunc();
        let steps = u64::try_from(steps).unwrap_or(u64::MAX - 1);
        let k = rng.next_u64() % (steps + 1);
        (self.lo + Decimal::from(k) * step).normalize()
    }
}

/// The variants a sweep runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// Every combination of the axes' values.
    Grid(Vec<Axis>),
    /// `draws` variants, each key drawn from its range by a generator seeded with `seed`.
    Random { ranges: Vec<Range>, draws: usize, seed: u64 },
}

/// What one variant sets: (key, value) in the order the keys were given.
pub type Assignment = Vec<(String, String)>;

impl Space {
    /// Its variants, in a fixed order.
    ///
    /// # Errors
    /// No keys, a key given twice, or more than [`MAX_VARIANTS`] variants.
    pub fn variants(&self) -> Result<Vec<Assignment>> {
        let keys: Vec<&str> = match self {
            Self::Grid(axes) => axes.iter().map(|a| a.key.as_str()).collect(),
            Self::Random { ranges, .. } => ranges.iter().map(|r| r.key.as_str()).collect(),
        };
        if keys.is_empty() {
            return Err(LabError::Invalid("a sweep needs --grid KEY=V1,V2,… or --random KEY=LO..HI".into()));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                return Err(LabError::Invalid(format!("{k} is swept twice")));
            }
        }
        let too_many =
            |n: usize| LabError::Invalid(format!("{n} variants; a sweep runs at most {MAX_VARIANTS}"));
        match self {
            Self::Grid(axes) => {
                let n = axes.iter().try_fold(1_usize, |n, a| n.checked_mul(a.values.len()));
                match n {
                    Some(n) if n <= MAX_VARIANTS => {}
                    n => return Err(too_many(n.unwrap_or(usize::MAX))),
                }
                let mut out: Vec<Assignment> = vec![Vec::new()];
                for axis in axes {
                    out = out
                        .into_iter()
                        .flat_map(|base| {
                            axis.values.iter().map(move |v| {
                                let mut a = base.clone();
                                a.push((axis.key.clone(), v.clone()));
                                a
                            })
                        })
                        .collect();
                }
                Ok(out)
            }
            Self::Random { ranges, draws, seed } => {
                if *draws > MAX_VARIANTS {
                    return Err(too_many(*draws));
                }
                let mut rng = Rng::new(*seed);
                Ok((0..*draws)
                    .map(|_| ranges.iter().map(|r| (r.key.clone(), r.draw(&mut rng).to_string())).collect())
                    .collect())
            }
        }
    }
}

/// `base` with what a variant sets: `engine.X` (or a bare setting name) through `--set`,
/// `plugin.param` through `--param`.
fn with_assignment(base: &Backtest, set: &Assignment) -> Result<Backtest> {
    let mut bt = base.clone();
    // A sweep ranks variants by their figures; calibration is for a run looked at alone.
    bt.calibrate = false;
    for (k, v) in set {
        if k.starts_with("engine.") || !k.contains('.') {
            bt.overrides.set(&format!("{k}={v}"))?;
        } else {
            bt.overrides.param(&format!("{k}={v}"))?;
        }
    }
    Ok(bt)
}

/// A sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The data, plugins and settings every variant starts from.
    pub base: Backtest,
    pub space: Space,
    pub objective: Objective,
    /// Percent of the data's time held out at its end (0: none, up to 90).
    pub holdout_percent: u8,
    /// How many of the best variants on the training part also run on the held-out part.
    pub top: usize,
    /// Runs at once.
    pub threads: usize,
    /// Keep each run's decisions (every scan's scored candidates) and its positions' quotes:
    /// large over many runs.
    pub keep_decisions: bool,
}

/// One variant's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Its place in the order the variants were made, from 1.
    pub variant: usize,
    pub set: Assignment,
    pub train: Metrics,
    pub train_score: Option<Decimal>,
    /// Only for the best `top` on the training part.
    pub holdout: Option<Metrics>,
    pub holdout_score: Option<Decimal>,
    /// The runs in the results store, once stored.
    pub train_run: Option<u64>,
    pub holdout_run: Option<u64>,
}

/// What a sweep found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Its id in the results store, once stored.
    pub id: Option<u64>,
    pub label: String,
    pub source: String,
    pub plugins: Vec<String>,
    pub objective: Objective,
    pub holdout_percent: u8,
    /// The data time the sweep covers, and where the held-out part starts (Unix ms).
    pub span: (i64, i64),
    pub split_ms: Option<i64>,
    /// Best training score first; variants without a score last, then in variant order.
    pub rows: Vec<SweepRow>,
    pub threads: usize,
    pub wall_ms: u64,
}

impl SweepReport {
    /// What must repeat exactly on the same data, plugins, settings and space, whatever the
    /// number of threads: everything but the id, the label, the run ids and the timing.
    #[must_use]
    pub fn deterministic_json(&self) -> String {
        let mut copy = self.clone();
        copy.id = None;
        copy.label = String::new();
        copy.threads = 0;
        copy.wall_ms = 0;
        for r in &mut copy.rows {
            r.train_run = None;
            r.holdout_run = None;
        }
        serde_json::to_string(&copy).unwrap_or_default()
    }
}

/// A sweep's report and its runs: for each row, its training run and (for the best) its
/// held-out run, in the order of `rows`.
#[derive(Debug)]
pub struct SweepOutcome {
    pub report: SweepReport,
    pub runs: Vec<(RunReport, Option<RunReport>)>,
    /// Signal plugin calls the variants shared (how many depends on which runs met first).
    pub memo: MemoStats,
}

/// The most a sweep keeps of the signal plugins' answers it shares between variants.
const MEMO_BYTES: usize = 512 << 20;

/// Runs `jobs` on `threads` threads; each run is independent, so results do not depend on
/// which thread ran what. `done` counts finished runs for progress.
fn run_parallel(
    jobs: &[Backtest],
    threads: usize,
    done: &AtomicU64,
    total: u64,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Vec<Result<RunReport>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunReport>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let quiet = crate::logging::is_quiet();
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            s.spawn(|| {
                if quiet {
                    crate::logging::quiet_thread();
                }
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return };
                    let r = job.run(&|_, _| {});
                    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(LabError::Invalid("a sweep run did not finish".into()))))
        .collect()
}

/// Best first; none last; ties in variant order.
fn by_score(a: Option<Decimal>, b: Option<Decimal>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.cmp(&a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

impl Sweep {
    /// Runs every variant on the training part, then the best `top` on the held-out part,
    /// reporting progress as (runs done, runs in all).
    ///
    /// # Errors
    /// A bad space or holdout, or the first variant that fails, named with what it sets.
    pub fn run(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<SweepOutcome> {
        let started = std::time::Instant::now();
        if self.holdout_percent > 90 {
            return Err(LabError::Invalid(format!(
                "--holdout {}: at most 90 (percent of the data held out)",
                self.holdout_percent
            )));
        }
        let variants = self.space.variants()?;
        let span = self.base.span()?;
        let split = (self.holdout_percent > 0).then(|| {
            let train = i128::from(span.1 - span.0) * i128::from(100 - self.holdout_percent) / 100;
            span.0 + i64::try_from(train).unwrap_or(0)
        });
        // Decisions a sweep drops are not made in the first place.
        let mut base = Backtest { keep_decisions: self.keep_decisions, ..self.base.clone() };
        // The variants see the same whale trades and news: each analysis is asked of the
        // plugins once, not once per variant.
        let memo = Arc::clone(base.plugins.memo.get_or_insert_with(|| Arc::new(CallMemo::new(MEMO_BYTES))));
        // ...and the same simulated world, drawn once for all of them (when more than one run
        // follows it).
        if variants.len() > 1 || split.is_some() {
            base.share_world();
        }
        let mut train_base = base.clone();
        if let Some(split) = split {
            train_base.to_ms = Some(split);
        }
        let jobs: Vec<Backtest> = variants
            .iter()
            .enumerate()
            .map(|(i, set)| {
                let mut bt = with_assignment(&train_base, set)?;
                bt.label = format!("{} variant {} train", self.base.label, i + 1).trim().to_owned();
                // Refused now rather than by a run in the middle of the sweep.
                bt.overrides.apply_settings(&bt.settings)?;
                Ok(bt)
            })
            .collect::<Result<_>>()?;
        let top = if split.is_some() { self.top.min(jobs.len()) } else { 0 };
        let total = (jobs.len() + top) as u64;
        let done = AtomicU64::new(0);
        let failed = |i: usize, e: LabError| {
            let set: Vec<String> = variants[i].iter().map(|(k, v)| format!("{k}={v}")).collect();
            LabError::Invalid(format!("variant {} ({}): {e}", i + 1, set.join(" ")))
        };
        let mut trained: Vec<RunReport> = Vec::with_capacity(jobs.len());
        for (i, r) in run_parallel(&jobs, self.threads, &done, total, progress).into_iter().enumerate() {
            // Without decisions kept, a run made none and kept no quotes (see
            // `Backtest::keep_decisions`).
            trained.push(r.map_err(|e| failed(i, e))?);
        }
        let mut order: Vec<usize> = (0..trained.len()).collect();
        order.sort_by(|a, b| {
            by_score(self.objective.score(&trained[*a].metrics), self.objective.score(&trained[*b].metrics))
                .then(a.cmp(b))
        });
        let mut held: Vec<Option<RunReport>> = (0..trained.len()).map(|_| None).collect();
        if let Some(split) = split {
            let chosen = &order[..top];
            let jobs: Vec<Backtest> = chosen
                .iter()
                .map(|i| {
                    let mut bt = with_assignment(&base, &variants[*i])?;
                    bt.from_ms = Some(split);
                    bt.label = format!("{} variant {} held out", self.base.label, i + 1).trim().to_owned();
                    Ok(bt)
                })
                .collect::<Result<_>>()?;
            for (r, i) in run_parallel(&jobs, self.threads, &done, total, progress).into_iter().zip(chosen) {
                held[*i] = Some(r.map_err(|e| failed(*i, e))?);
            }
        }
        let mut rows = Vec::with_capacity(order.len());
        let mut runs = Vec::with_capacity(order.len());
        let mut trained: Vec<Option<RunReport>> = trained.into_iter().map(Some).collect();
        for i in order {
            let (Some(t), h) = (trained[i].take(), held[i].take()) else { continue };
            rows.push(SweepRow {
                variant: i + 1,
                set: variants[i].clone(),
                train_score: self.objective.score(&t.metrics),
                train: t.metrics.clone(),
                holdout_score: h.as_ref().and_then(|h| self.objective.score(&h.metrics)),
                holdout: h.as_ref().map(|h| h.metrics.clone()),
                train_run: None,
                holdout_run: None,
            });
            runs.push((t, h));
        }
        let report = SweepReport {
            id: None,
            label: self.base.label.clone(),
            source: self.base.source.to_string(),
            plugins: runs.first().map(|(t, _)| t.plugins.clone()).unwrap_or_default(),
            objective: self.objective,
            holdout_percent: self.holdout_percent,
            span,
            split_ms: split,
            rows,
            threads: self.threads,
            wall_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        Ok(SweepOutcome { report, runs, memo: memo.stats() })
    }
}

#[cfg(test)]
mod tests;
