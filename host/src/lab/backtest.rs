//! Backtests: the engine, with its plugins, driven through a recording (or the embedded
//! simulator) on the data's own clock, one step at a time and as fast as the CPU allows. Each
//! step's consequences (orders, fills, price points) land before the next step, so a run is a
//! function of its data, plugins and settings alone.

use super::attribution::{Attribution, AttributionSummary, attribute, summarise};
use super::driver::{DecisionLog, Driver, FEED_BATCH, SIM_STEP_MS};
use super::metrics::{self, Metrics, Sample};
use super::overrides::Overrides;
use super::record::Decisions;
use super::replay::ReplayVenue;
use super::{LabError, Result, recording};
use crate::engine::{Clock, Decision, Engine, EngineOptions, Settings, TrendsConfig};
use crate::exchange::Exchange;
use crate::exchange::sim::{SimConfig, SimExchange, World};
use crate::plugins::{CallMemo, PluginKind, PluginOptions, Plugins};
use crate::store::{Leg, Position, PricePoint, Store, TradeRecord};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const DAY_MS: i64 = 86_400_000;
/// A position's chart shows its market this long before it was entered and after it closed.
const QUOTES_AROUND_MS: i64 = 3_600_000;

/// Where a backtest's market data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A recording directory or segment.
    Recording(PathBuf),
    /// The embedded simulator from a seed, for `days` simulated days.
    Sim { seed: u64, days: u32, markets: usize, start_ms: i64 },
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Recording(p) => write!(f, "recording {}", p.display()),
            Self::Sim { seed, days, markets, .. } => {
                write!(
                    f,
                    "simulator seed {seed}, {days} day{}, {markets} markets",
                    if *days == 1 { "" } else { "s" }
                )
            }
        }
    }
}

/// When a replay scans and sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Where the recorded engine scanned and swept (the same moments, the same books): what
    /// parity with the recorded run needs. A recording without scans replays none.
    #[default]
    AsRecorded,
    /// Every `scan_interval_secs` and `sweep_interval_secs` of recorded time.
    Interval,
}

/// One backtest.
#[derive(Debug, Clone)]
pub struct Backtest {
    pub source: DataSource,
    /// Plugin directory and runtime options (the directory is loaded once, not watched).
    pub plugins: PluginOptions,
    pub settings: Settings,
    pub overrides: Overrides,
    pub trends: TrendsConfig,
    /// Only data from/to these times (Unix ms) reaches the engine; the venue still follows the
    /// books before `from`, so the first decision sees the market as it stood.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// The simulated wallet's pUSD.
    pub cash: Decimal,
    pub schedule: Schedule,
    pub label: String,
    /// Simulate the equilibrage trade of scored candidates for the calibration chart (see
    /// [`super::calibration`]); sweeps leave it off.
    pub calibrate: bool,
    /// Keep the engine's decisions (each scan's scored candidates among them) for the report.
    /// A sweep that drops them turns this off: unless the calibration reads them, the engine
    /// then does not describe its decisions at all, and the report keeps no quotes of its
    /// positions (the run's store keeps a lean price history, `Store::in_memory_lean`).
    pub keep_decisions: bool,
    /// The simulator's world drawn beforehand, which a simulated run follows instead of drawing
    /// the same steps again ([`Backtest::share_world`]); `None` draws it during the run.
    pub world: Option<Arc<World>>,
}

/// A decision of the run, when it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedDecision {
    pub at_ms: i64,
    #[serde(flatten)]
    pub decision: Decision,
}

/// How the run went, besides its results (not part of what must repeat bit for bit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Recorded records read, and market events handed to the engine.
    pub records: u64,
    pub market_events: u64,
    pub scans: u64,
    pub sweeps: u64,
    /// Records the recorder had dropped (gaps in the recording).
    pub gaps: u64,
    pub wall_ms: u64,
    /// Where the recording was cut short, when it was.
    pub torn: Option<String>,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Its id in the results store, once stored.
    pub id: Option<u64>,
    pub label: String,
    pub source: String,
    /// Active plugins, `kind name@version (file)`.
    pub plugins: Vec<String>,
    pub params: Vec<(String, String, f64)>,
    pub settings: Settings,
    pub metrics: Metrics,
    pub equity: Vec<Sample>,
    pub positions: Vec<Position>,
    pub trades: Vec<TradeRecord>,
    pub decisions: Vec<TimedDecision>,
    /// Every closed position's P&L attribution, and their sum (runs stored before attribution
    /// existed load without them).
    #[serde(default)]
    pub attribution: Vec<Attribution>,
    #[serde(default)]
    pub attribution_summary: AttributionSummary,
    pub stats: RunStats,
    /// Each position's market quotes over its life (an hour either side), for its chart: kept
    /// in the results store beside the report, not in its JSON.
    #[serde(skip)]
    pub quotes: Vec<(u64, Vec<PricePoint>)>,
    /// The scored candidates and their simulated trades (kept beside the report, not in it).
    #[serde(skip)]
    pub calibration: Option<super::calibration::Calibration>,
}

impl RunReport {
    /// The part that must repeat exactly for the same data, plugins and settings, as JSON
    /// (everything but the id, the label and the wall-clock figures).
    #[must_use]
    pub fn deterministic_json(&self) -> String {
        let mut copy = self.clone();
        copy.id = None;
        copy.label = String::new();
        copy.stats = RunStats::default();
        copy.quotes.clear();
        copy.calibration = None;
        serde_json::to_string(&copy).unwrap_or_default()
    }
}

/// The time span of a recording, from its segments' headers.
fn recording_span(path: &std::path::Path) -> Result<(i64, i64)> {
    let spans: Vec<(i64, i64)> = recording::headers(path)?.iter().filter_map(|(_, h)| h.span).collect();
    let start = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.1).max().unwrap_or(start);
    Ok((start, end))
}

/// The most the two runs of a comparison keep of the signal plugins' answers they share.
const COMPARISON_MEMO_BYTES: usize = 256 << 20;

impl Backtest {
    /// The two runs of a comparison, `self` and `other` (A and B), over the same data: their
    /// signal plugins, where they are the same files with the same parameters, answer each whale
    /// analysis and news matching once for both (`PluginOptions::memo`).
    #[must_use]
    pub fn compared_with(mut self, mut other: Self) -> (Self, Self) {
        let memo = Arc::new(CallMemo::new(COMPARISON_MEMO_BYTES));
        self.plugins.memo = Some(Arc::clone(&memo));
        other.plugins.memo = Some(memo);
        if self.source == other.source {
            self.share_world();
            other.world.clone_from(&self.world);
        }
        (self, other)
    }

    /// For a simulated source, draws the simulator's world now ([`World`]): the runs cloned from
    /// this one then follow it (a sweep's variants, a comparison's runs) instead of each drawing
    /// the same steps, with the same results. Nothing for a recording, or when drawn already.
    pub fn share_world(&mut self) {
        if self.world.is_none()
            && let Some((config, steps)) = self.sim_world()
        {
            self.world = Some(Arc::new(World::draw(config, SIM_STEP_MS, steps)));
        }
    }

    /// The simulator a simulated run starts, and the steps it takes (to its end, or `to`).
    fn sim_world(&self) -> Option<(SimConfig, usize)> {
        let DataSource::Sim { seed, days, markets, start_ms } = self.source else { return None };
        let config = SimConfig { seed, markets, start_ms, ..SimConfig::default() };
        let end = start_ms.saturating_add(i64::from(days) * DAY_MS);
        let stop = self.to_ms.map_or(end, |to| to.min(end));
        Some((config, usize::try_from(stop.saturating_sub(start_ms) / SIM_STEP_MS).unwrap_or(0)))
    }

    /// A backtest of `source` with the plugins of `plugins`, and defaults for the rest: default
    /// settings, no overrides, default trend windows, 10,000 pUSD, the recorded schedule.
    #[must_use]
    pub fn new(source: DataSource, plugins: PluginOptions) -> Self {
        Self {
            source,
            plugins,
            settings: Settings::default(),
            overrides: Overrides::default(),
            trends: TrendsConfig::default(),
            from_ms: None,
            to_ms: None,
            cash: Decimal::from(10_000),
            schedule: Schedule::AsRecorded,
            label: String::new(),
            calibrate: true,
            keep_decisions: true,
            world: None,
        }
    }

    /// The span of data time the run covers (Unix ms): the data's own span, within `from`/`to`.
    ///
    /// # Errors
    /// A recording whose segment headers cannot be read.
    pub fn span(&self) -> Result<(i64, i64)> {
        let (start, end) = match &self.source {
            DataSource::Sim { days, start_ms, .. } => (*start_ms, start_ms + i64::from(*days) * DAY_MS),
            DataSource::Recording(path) => recording_span(path)?,
        };
        let start = self.from_ms.map_or(start, |f| f.max(start));
        let end = self.to_ms.map_or(end, |t| t.min(end));
        Ok((start, end.max(start)))
    }

    /// Runs the backtest on a runtime of its own (one thread), reporting progress as
    /// (done, total) in the source's own units.
    ///
    /// # Errors
    /// Plugins that do not load, settings that do not validate, a recording that cannot be
    /// read (named with its offset), or the engine failing to start.
    pub fn run(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<RunReport> {
        let started = std::time::Instant::now();
        let settings = self.overrides.apply_settings(&self.settings)?;
        let (plugins, active) = self.load_plugins()?;
        let quiet = crate::logging::is_quiet();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .on_thread_start(move || {
                if quiet {
                    crate::logging::quiet_thread();
                }
            })
            .build()
            .map_err(|e| LabError::Invalid(format!("starting the backtest runtime: {e}")))?;
        // A run that keeps no decisions (a sweep's variant) keeps no charts either: its store
        // keeps of the price history only what the attribution reads.
        let lean = !self.keep_decisions && !self.calibrate;
        let store = if lean { Store::in_memory_lean()? } else { Store::in_memory()? };
        let log = Arc::new(DecisionLog::default());
        let now = Arc::new(AtomicI64::new(0));
        let mut driver = match &self.source {
            DataSource::Sim { start_ms, .. } => {
                let (config, steps) = self.sim_world().unwrap_or_default();
                let sim = match &self.world {
                    Some(world) if world.covers(&config, SIM_STEP_MS, steps) => {
                        SimExchange::following(Arc::clone(world), self.cash)
                    }
                    _ => SimExchange::new(config, self.cash),
                };
                now.store(*start_ms, Ordering::Release);
                let clock = {
                    let sim = sim.clone();
                    Clock::from_fn(move || sim.now_ms())
                };
                let venue: Arc<dyn Exchange> = Arc::new(sim.clone());
                let engine = rt.block_on(Engine::open(
                    Arc::clone(&venue),
                    plugins.clone(),
                    store.clone(),
                    EngineOptions { settings: settings.clone(), clock, metrics: false },
                ))?;
                let mut d = Driver::new(self, engine, None, &now, &settings, &log, Arc::clone(&venue));
                rt.block_on(d.run_sim(&sim, self, progress));
                d
            }
            DataSource::Recording(path) => {
                // Progress is in data time, over the span the segments' headers give.
                let (start, end) = recording_span(path)?;
                let total = u64::try_from(end - start).unwrap_or(0);
                now.store(start, Ordering::Release);
                let venue = Arc::new(ReplayVenue::new(self.cash));
                venue.set_now(start);
                let clock = {
                    let now = Arc::clone(&now);
                    Clock::from_fn(move || now.load(Ordering::Acquire))
                };
                let exchange: Arc<dyn Exchange> = Arc::clone(&venue) as Arc<dyn Exchange>;
                let exchange_for_driver = Arc::clone(&exchange);
                let engine = rt.block_on(Engine::open(
                    exchange,
                    plugins.clone(),
                    store.clone(),
                    EngineOptions { settings: settings.clone(), clock, metrics: false },
                ))?;
                let mut d =
                    Driver::new(self, engine, Some(venue), &now, &settings, &log, exchange_for_driver);
                let mut batch = Vec::with_capacity(FEED_BATCH);
                // On its own schedule the replay never looks at the recorded decisions.
                let decisions = match self.schedule {
                    Schedule::AsRecorded => Decisions::Decode,
                    Schedule::Interval => Decisions::Skip,
                };
                let summary = recording::read_with(path, decisions, |t, spent| {
                    batch.push(t);
                    if batch.len() >= FEED_BATCH {
                        rt.block_on(d.feed(batch.drain(..)));
                        // The events the batch is done with lend the next ones their buffers.
                        spent.append(&mut d.spent);
                        let done = d.now.load(Ordering::Acquire) - start;
                        progress(u64::try_from(done).unwrap_or(0), total);
                    }
                    Ok(())
                })?;
                rt.block_on(d.feed(batch.drain(..)));
                d.stats.records = summary.records;
                if d.stats.scans == 0 && d.schedule == Schedule::AsRecorded {
                    tracing::warn!(
                        "no recorded scan was replayed; `--schedule interval` scans on recorded time"
                    );
                }
                d.stats.torn = summary
                    .torn
                    .map(|(file, offset, reason)| format!("{} at byte {offset}: {reason}", file.display()));
                d
            }
        };
        // A recording that ends inside a scan or sweep: what came meanwhile still counts.
        driver.window = None;
        let rest = std::mem::take(&mut driver.deferred);
        driver.queue.extend(rest);
        rt.block_on(driver.feed(std::iter::empty()));
        driver.sample();
        rt.block_on(driver.engine.idle());
        let read = store.read()?;
        let positions = read.positions()?;
        let trades = read.trades()?;
        let metrics = metrics::compute(self.cash, &driver.samples, &positions, &trades);
        let end_ms = driver.now.load(Ordering::Acquire);
        let mut quotes = Vec::with_capacity(positions.len());
        let mut attribution = Vec::new();
        for p in &positions {
            let from = p.opened_at_ms.saturating_sub(QUOTES_AROUND_MS);
            let to = p.closed_at_ms.unwrap_or(end_ms).saturating_add(QUOTES_AROUND_MS);
            let points = read.prices(&p.market_id, from, to)?;
            let winner = driver
                .resolutions
                .get(&p.market_id)
                .and_then(|token| Leg::BOTH.into_iter().find(|&l| p.leg(l).token == *token));
            attribution.extend(attribute(p, &trades, &points, winner));
            if !lean {
                quotes.push((p.id, points));
            }
        }
        let attribution_summary = summarise(&attribution);
        // The log also fills for the calibration alone: decisions not asked for stay out.
        let decisions = if self.keep_decisions {
            std::mem::take(&mut *log.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
        } else {
            Vec::new()
        };
        let mut stats = std::mem::take(&mut driver.stats);
        stats.wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(RunReport {
            id: None,
            label: self.label.clone(),
            source: self.source.to_string(),
            plugins: active,
            params: self.overrides.params.clone(),
            settings,
            metrics,
            equity: driver.samples,
            positions,
            trades,
            decisions,
            attribution,
            attribution_summary,
            stats,
            quotes,
            calibration: driver.calibrator.take().map(super::calibration::Calibrator::finish),
        })
    }

    /// The plugin directory, loaded once (not watched), with the parameter overrides applied;
    /// and the active plugins, `kind name@version (file)`.
    fn load_plugins(&self) -> Result<(Plugins, Vec<String>)> {
        let invalid = |e: crate::plugins::RuntimeError| LabError::Invalid(format!("plugins: {e}"));
        // A backtest's plugin calls are not the bot's: kept out of the process's metrics. Its
        // rules are asked again at one data moment (a sweep after a market event): the same
        // question gets the last answer.
        let options = PluginOptions { metrics: false, repeat_rules: true, ..self.plugins.clone() };
        let plugins = Plugins::new(options).map_err(invalid)?;
        for f in plugins.load_dir().map_err(invalid)? {
            if let Err(e) = &f.result {
                tracing::warn!(file = %f.file.display(), error = %e, "plugin not loaded for the backtest");
            }
        }
        let loaded = plugins.list();
        for (plugin, param, value) in &self.overrides.params {
            let kind =
                loaded.iter().find(|p| p.info.name == *plugin).map(|p| p.info.kind).ok_or_else(|| {
                    LabError::Invalid(format!(
                        "--param: no plugin named {plugin:?} in {}",
                        self.plugins.dir.display()
                    ))
                })?;
            // The engine sets these from the settings at start, over whatever was given here.
            if kind == PluginKind::LiquidationRules
                && let Some(setting) = crate::engine::setting_of_rule_param(param)
            {
                return Err(LabError::Invalid(format!(
                    "--param {plugin}.{param}: the engine sets it from engine.{setting}; use --set engine.{setting}=PERCENT"
                )));
            }
            plugins
                .set_params(kind, plugin, &[(param.clone(), *value)])
                .map_err(|e| LabError::Invalid(format!("--param {plugin}.{param}: {e}")))?;
        }
        let active = PluginKind::ALL
            .iter()
            .filter_map(|k| loaded.iter().find(|p| p.active && p.info.kind == *k).map(|p| (k, p)))
            .map(|(k, p)| {
                let file = p.file.file_name().unwrap_or_default().to_string_lossy();
                format!("{k} {}@{} ({file})", p.info.name, p.info.version)
            })
            .collect();
        Ok((plugins, active))
    }
}
