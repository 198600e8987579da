//! Backtests: the engine, with its plugins, driven through a recording (or the embedded
//! simulator) on the data's own clock, one step at a time and as fast as the CPU allows. Each
//! step's consequences (orders, fills, price points) land before the next step, so a run is a
//! function of its data, plugins and settings alone.

use super::metrics::{self, Metrics, Sample};
use super::overrides::Overrides;
use super::record::{Record, Timed};
use super::replay::ReplayVenue;
use super::{LabError, Result, recording};
use crate::engine::{Clock, Decision, Engine, EngineOptions, Observer, Seen, Settings, TrendsConfig};
use crate::exchange::sim::{SimConfig, SimExchange};
use crate::exchange::{Exchange, MarketEvent};
use crate::plugins::{PluginKind, PluginOptions, Plugins};
use crate::store::{Position, Store, TradeRecord};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

const DAY_MS: i64 = 86_400_000;
/// The simulator's step in a backtest: its clock in the bot moves a minute at a time too.
const SIM_STEP_MS: i64 = 60_000;
/// Account samples are at least this far apart in data time.
const SAMPLE_EVERY_MS: i64 = 3_600_000;

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
                write!(f, "simulator seed {seed}, {days} days, {markets} markets")
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
    pub stats: RunStats,
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
        serde_json::to_string(&copy).unwrap_or_default()
    }
}

/// Keeps the engine's decisions for the report.
#[derive(Debug, Default)]
struct DecisionLog(Mutex<Vec<TimedDecision>>);

impl Observer for DecisionLog {
    fn seen(&self, at_ms: i64, what: Seen<'_>) {
        if let Seen::Decision(d) = what {
            // Scan start and sweep markers are for replays, not for reading.
            if matches!(d, Decision::ScanStarted { .. } | Decision::SweepStarted | Decision::SweepEnded) {
                return;
            }
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(TimedDecision { at_ms, decision: d.clone() });
        }
    }
}

/// What a step of the run is waiting to finish before the next data is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    Scan(u64),
    Sweep,
}

/// Drives one run.
struct Driver {
    engine: Engine,
    venue: Option<Arc<ReplayVenue>>,
    now: Arc<AtomicI64>,
    schedule: Schedule,
    settings: Settings,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    next_scan: Option<i64>,
    next_sweep: Option<i64>,
    window: Option<(Window, i64)>,
    queue: VecDeque<Timed>,
    deferred: Vec<Timed>,
    samples: Vec<Sample>,
    stats: RunStats,
    done: bool,
}

impl Driver {
    fn set_now(&self, at_ms: i64) {
        self.now.fetch_max(at_ms, Ordering::AcqRel);
        if let Some(v) = &self.venue {
            v.set_now(at_ms);
        }
    }

    /// What a record says about the venue (a replay's; the simulator keeps its own).
    fn apply(&self, record: &Record) {
        if let Some(v) = &self.venue {
            v.apply(record);
        }
    }

    fn feeding(&self, at_ms: i64) -> bool {
        self.from_ms.is_none_or(|f| at_ms >= f)
    }

    /// Samples the account now.
    fn sample(&mut self) {
        if let Ok(o) = self.engine.overview() {
            let at_ms = self.now.load(Ordering::Acquire);
            self.samples.push(Sample { at_ms, equity: o.total, allocated: o.allocated });
        }
    }

    /// Samples the account after a scan or sweep, at most once per [`SAMPLE_EVERY_MS`] of data
    /// time: enough for daily returns and a drawdown seen hour by hour, small enough to store.
    fn sample_if_due(&mut self) {
        let now = self.now.load(Ordering::Acquire);
        if self.samples.last().is_none_or(|s| now - s.at_ms >= SAMPLE_EVERY_MS) {
            self.sample();
        }
    }

    async fn scan(&mut self) {
        if let Err(e) = self.engine.scan().await {
            tracing::warn!(error = %e, "backtest scan");
        }
        self.engine.idle().await;
        self.stats.scans += 1;
        self.sample_if_due();
    }

    async fn sweep(&mut self) {
        self.engine.sweep().await;
        self.engine.idle().await;
        self.stats.sweeps += 1;
        self.sample_if_due();
    }

    fn scan_every_ms(&self) -> i64 {
        i64::try_from(self.settings.scan_interval_secs).unwrap_or(i64::MAX / 1_000) * 1_000
    }

    fn sweep_every_ms(&self) -> i64 {
        i64::try_from(self.settings.sweep_interval_secs).unwrap_or(i64::MAX / 1_000) * 1_000
    }

    /// Scans and sweeps due by `at_ms` on the interval schedule, each at its own time.
    async fn timers(&mut self, at_ms: i64) {
        // As the engine's own loops: a scan at the start, a sweep one interval later.
        if self.next_scan.is_none() {
            self.next_scan = Some(at_ms);
            self.next_sweep = Some(at_ms + self.sweep_every_ms());
        }
        loop {
            let due = [self.next_scan, self.next_sweep].into_iter().flatten().filter(|t| *t <= at_ms).min();
            let Some(t) = due else { return };
            self.now.fetch_max(t, Ordering::AcqRel);
            if self.next_scan == Some(t) {
                self.next_scan = Some(t + self.scan_every_ms());
                if self.feeding(t) {
                    self.scan().await;
                }
            } else {
                self.next_sweep = Some(t + self.sweep_every_ms());
                if self.feeding(t) {
                    self.sweep().await;
                }
            }
        }
    }

    /// Hands over a market event and waits for what it set off.
    async fn market(&mut self, e: MarketEvent, at_ms: i64) {
        if self.feeding(at_ms) {
            self.stats.market_events += 1;
            self.engine.on_market_event(e).await;
            self.engine.idle().await;
        }
    }

    /// Takes a batch of records, in order.
    async fn feed(&mut self, batch: impl IntoIterator<Item = Timed>) {
        let before = self.queue.len();
        self.queue.extend(batch);
        self.stats.records += (self.queue.len() - before) as u64;
        while let Some(t) = self.queue.pop_front() {
            if self.done {
                self.queue.clear();
                return;
            }
            self.step(t).await;
        }
    }

    async fn step(&mut self, t: Timed) {
        if self.to_ms.is_some_and(|to| t.at_ms > to) {
            self.done = true;
            return;
        }
        if self.schedule == Schedule::Interval {
            self.timers(t.at_ms).await;
        }
        self.set_now(t.at_ms);
        if let Some((window, started)) = self.window {
            match &t.record {
                // The venue's answers during a scan or sweep are what it answered then: in place
                // before the engine asks.
                Record::Listed(_) | Record::Delisted(_) | Record::Book { .. } => self.apply(&t.record),
                Record::Decision(d)
                    if matches!((&**d, window), (Decision::Scanned { scan_id, .. }, Window::Scan(w)) if *scan_id == w)
                        || matches!((&**d, window), (Decision::SweepEnded, Window::Sweep)) =>
                {
                    self.window = None;
                    // The scan (or sweep) runs when the recorded one started.
                    self.now.store(started, Ordering::Release);
                    if self.feeding(started) {
                        match window {
                            Window::Scan(_) => self.scan().await,
                            Window::Sweep => self.sweep().await,
                        }
                    }
                    self.now.fetch_max(t.at_ms, Ordering::AcqRel);
                    // What came in meanwhile follows, in order, before anything newer.
                    for d in std::mem::take(&mut self.deferred).into_iter().rev() {
                        self.queue.push_front(d);
                    }
                }
                _ => self.deferred.push(t),
            }
            return;
        }
        match t.record {
            Record::Listed(_) | Record::Delisted(_) | Record::Book { .. } => self.apply(&t.record),
            Record::Market(e) => {
                if let Some(v) = &self.venue {
                    v.apply_event(&e);
                }
                self.market(e, t.at_ms).await;
            }
            Record::Whale(w) => {
                if self.feeding(t.at_ms) {
                    self.engine.push_whale_trades([w]);
                }
            }
            Record::News(n) => {
                if self.feeding(t.at_ms) {
                    (self.engine.news_sink())(vec![n]);
                }
            }
            Record::Decision(d) => match (*d, self.schedule) {
                (Decision::ScanStarted { scan_id }, Schedule::AsRecorded) => {
                    self.window = Some((Window::Scan(scan_id), t.at_ms));
                }
                (Decision::SweepStarted, Schedule::AsRecorded) => {
                    self.window = Some((Window::Sweep, t.at_ms))
                }
                _ => {}
            },
            Record::Gap { dropped } => self.stats.gaps += dropped,
        }
    }
}

impl Backtest {
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
        }
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| LabError::Invalid(format!("starting the backtest runtime: {e}")))?;
        let store = Store::in_memory()?;
        let log = Arc::new(DecisionLog::default());
        let now = Arc::new(AtomicI64::new(0));
        let mut driver = match &self.source {
            DataSource::Sim { seed, markets, start_ms, .. } => {
                let sim = SimExchange::new(
                    SimConfig { seed: *seed, markets: *markets, start_ms: *start_ms, ..SimConfig::default() },
                    self.cash,
                );
                now.store(*start_ms, Ordering::Release);
                let clock = {
                    let sim = sim.clone();
                    Clock::from_fn(move || sim.now_ms())
                };
                let venue: Arc<dyn Exchange> = Arc::new(sim.clone());
                let engine = rt.block_on(Engine::open(
                    venue,
                    plugins.clone(),
                    store.clone(),
                    EngineOptions { settings: settings.clone(), clock },
                ))?;
                let mut d = self.driver(engine, None, &now, &settings, &log);
                rt.block_on(d.run_sim(&sim, self, progress));
                d
            }
            DataSource::Recording(path) => {
                // Progress is in data time, over the span the segments' headers give.
                let spans: Vec<(i64, i64)> =
                    recording::headers(path)?.iter().filter_map(|(_, h)| h.span).collect();
                let start = spans.iter().map(|s| s.0).min().unwrap_or(0);
                let end = spans.iter().map(|s| s.1).max().unwrap_or(start);
                let total = u64::try_from(end - start).unwrap_or(0);
                now.store(start, Ordering::Release);
                let venue = Arc::new(ReplayVenue::new(self.cash));
                venue.set_now(start);
                let clock = {
                    let now = Arc::clone(&now);
                    Clock::from_fn(move || now.load(Ordering::Acquire))
                };
                let exchange: Arc<dyn Exchange> = Arc::clone(&venue) as Arc<dyn Exchange>;
                let engine = rt.block_on(Engine::open(
                    exchange,
                    plugins.clone(),
                    store.clone(),
                    EngineOptions { settings: settings.clone(), clock },
                ))?;
                let mut d = self.driver(engine, Some(venue), &now, &settings, &log);
                let mut batch = Vec::with_capacity(4_096);
                let summary = recording::read(path, |t| {
                    batch.push(t);
                    if batch.len() >= 4_096 {
                        rt.block_on(d.feed(batch.drain(..)));
                        let done = d.now.load(Ordering::Acquire) - start;
                        progress(u64::try_from(done).unwrap_or(0), total);
                    }
                    Ok(())
                })?;
                rt.block_on(d.feed(batch.drain(..)));
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
        let decisions = std::mem::take(&mut *log.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
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
            stats,
        })
    }

    /// The plugin directory, loaded once (not watched), with the parameter overrides applied;
    /// and the active plugins, `kind name@version (file)`.
    fn load_plugins(&self) -> Result<(Plugins, Vec<String>)> {
        let invalid = |e: crate::plugins::RuntimeError| LabError::Invalid(format!("plugins: {e}"));
        let plugins = Plugins::new(self.plugins.clone()).map_err(invalid)?;
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

    fn driver(
        &self,
        engine: Engine,
        venue: Option<Arc<ReplayVenue>>,
        now: &Arc<AtomicI64>,
        settings: &Settings,
        log: &Arc<DecisionLog>,
    ) -> Driver {
        engine.set_trends_config(self.trends.clone());
        let _ = engine.set_observer(Arc::clone(log) as Arc<dyn Observer>);
        Driver {
            engine,
            venue,
            now: Arc::clone(now),
            schedule: self.schedule,
            settings: settings.clone(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            next_scan: None,
            next_sweep: None,
            window: None,
            queue: VecDeque::new(),
            deferred: Vec::new(),
            samples: Vec::new(),
            stats: RunStats::default(),
            done: false,
        }
    }
}

impl Driver {
    /// Steps the simulator a minute at a time, scanning and sweeping on its clock.
    async fn run_sim(&mut self, sim: &SimExchange, bt: &Backtest, progress: &(dyn Fn(u64, u64) + Sync)) {
        let DataSource::Sim { days, start_ms, .. } = bt.source else { return };
        let end = start_ms + i64::from(days) * DAY_MS;
        let total = u64::try_from((end - start_ms) / SIM_STEP_MS).unwrap_or(0);
        self.sample();
        let mut step = 0_u64;
        loop {
            let t = sim.now_ms();
            self.now.store(t, Ordering::Release);
            self.timers(t).await;
            if self.to_ms.is_some_and(|to| t > to) || t >= end {
                return;
            }
            let out = sim.advance(SIM_STEP_MS);
            let at = sim.now_ms();
            self.now.store(at, Ordering::Release);
            for e in out.events {
                self.market(e, at).await;
            }
            if self.feeding(at) {
                self.engine.push_whale_trades(out.whale_trades);
                if !out.news.is_empty() {
                    (self.engine.news_sink())(out.news);
                }
            }
            step += 1;
            self.stats.records = step;
            if step.is_multiple_of(256) {
                progress(step, total);
            }
        }
    }
}
