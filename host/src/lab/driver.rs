//! One backtest's stepping: hands the data to the engine a record (or a simulator minute) at a
//! time, runs the recorded (or interval) scans and sweeps at their moments, and waits for what
//! each step set off before the next.

use super::backtest::{Backtest, DataSource, RunStats, Schedule, TimedDecision};
use super::calibration::Calibrator;
use super::metrics::Sample;
use super::record::{Record, Timed};
use super::replay::ReplayVenue;
use crate::engine::{Decision, Engine, Observer, Seen, Settings};
use crate::exchange::sim::SimExchange;
use crate::exchange::{Exchange, MarketEvent};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

const DAY_MS: i64 = 86_400_000;
/// The simulator's step in a backtest: its clock in the bot moves a minute at a time too.
pub(super) const SIM_STEP_MS: i64 = 60_000;
/// Account samples are at least this far apart in data time.
const SAMPLE_EVERY_MS: i64 = 3_600_000;

/// Keeps the engine's decisions for the report.
#[derive(Debug, Default)]
pub(super) struct DecisionLog(pub(super) Mutex<Vec<TimedDecision>>);

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

    fn wants_market_events(&self) -> bool {
        false
    }
}

/// What a step of the run is waiting to finish before the next data is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
    Scan(u64),
    Sweep,
}

/// Records a replay feeds its driver at a time; also the spent market events the driver keeps
/// for the recording's decoder (a batch's worth).
pub(super) const FEED_BATCH: usize = 4_096;

/// Drives one run.
pub(super) struct Driver {
    pub(super) engine: Engine,
    pub(super) venue: Option<Arc<ReplayVenue>>,
    pub(super) now: Arc<AtomicI64>,
    pub(super) schedule: Schedule,
    pub(super) settings: Settings,
    pub(super) from_ms: Option<i64>,
    pub(super) to_ms: Option<i64>,
    pub(super) next_scan: Option<i64>,
    pub(super) next_sweep: Option<i64>,
    pub(super) window: Option<(Window, i64)>,
    pub(super) queue: VecDeque<Timed>,
    pub(super) deferred: Vec<Timed>,
    /// Replayed market events the run is done with, for the recording's decoder to write the
    /// next ones into ([`FEED_BATCH`] at most).
    pub(super) spent: Vec<MarketEvent>,
    pub(super) samples: Vec<Sample>,
    pub(super) stats: RunStats,
    /// Markets resolved in the data: condition id → winning token.
    pub(super) resolutions: std::collections::HashMap<String, String>,
    pub(super) calibrator: Option<Calibrator>,
    log: Arc<DecisionLog>,
    venue_api: Arc<dyn Exchange>,
    pub(super) done: bool,
    /// When the market events last handed to the engine happened: no scan or sweep on the
    /// interval schedule runs before it (it would see books of its future).
    fed_ms: i64,
}

impl Driver {
    /// A driver of `engine` for `bt`, observing its decisions into `log`.
    pub(super) fn new(
        bt: &Backtest,
        engine: Engine,
        venue: Option<Arc<ReplayVenue>>,
        now: &Arc<AtomicI64>,
        settings: &Settings,
        log: &Arc<DecisionLog>,
        venue_api: Arc<dyn Exchange>,
    ) -> Self {
        engine.set_trends_config(bt.trends.clone());
        if bt.keep_decisions || bt.calibrate {
            let _ = engine.set_observer(Arc::clone(log) as Arc<dyn Observer>);
        }
        Self {
            engine,
            venue,
            now: Arc::clone(now),
            schedule: bt.schedule,
            settings: settings.clone(),
            from_ms: bt.from_ms,
            to_ms: bt.to_ms,
            next_scan: None,
            next_sweep: None,
            window: None,
            queue: VecDeque::new(),
            deferred: Vec::new(),
            spent: Vec::new(),
            samples: Vec::new(),
            stats: RunStats::default(),
            resolutions: std::collections::HashMap::new(),
            calibrator: bt.calibrate.then(|| Calibrator::new(settings)),
            log: Arc::clone(log),
            venue_api,
            done: false,
            fed_ms: i64::MIN,
        }
    }

    fn set_now(&self, at_ms: i64) {
        // Nearly every record shares its time with the one before: a read, and no write.
        if at_ms > self.now.load(Ordering::Acquire) {
            self.now.fetch_max(at_ms, Ordering::AcqRel);
        }
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
    pub(super) fn sample(&mut self) {
        if let Ok(o) = self.engine.overview() {
            let at_ms = self.now.load(Ordering::Acquire);
            self.samples.push(Sample { at_ms, equity: o.total, allocated: o.allocated });
        }
    }

    /// The run's first sample, before its first scan or sweep: the account as the data starts
    /// reaching the engine (at `from`, not at the start of the data).
    fn sample_at_start(&mut self) {
        if self.samples.is_empty() {
            self.sample();
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
        self.sample_at_start();
        self.calibration_books().await;
        if let Err(e) = self.engine.scan().await {
            tracing::warn!(error = %e, "backtest scan");
        }
        self.engine.idle().await;
        self.stats.scans += 1;
        self.calibrate_scan().await;
        self.sample_if_due();
    }

    /// Books of listed markets the calibration has not seen yet, from the venue before the
    /// scan's orders take liquidity from them (the engine's own first books come the same way).
    async fn calibration_books(&mut self) {
        let Some(c) = &self.calibrator else { return };
        let Ok(listing) = self.venue_api.markets().await else { return };
        let wanted: Vec<String> = listing
            .iter()
            .flat_map(|m| m.outcomes.iter().map(|o| o.token_id.clone()))
            .filter(|t| !c.has_book(t))
            .collect();
        for token in wanted {
            if let Ok(book) = self.venue_api.book(&token).await
                && let Some(c) = &mut self.calibrator
            {
                c.snapshot(&token, book);
            }
        }
    }

    /// Simulates the trades of the scan's candidates (see [`super::calibration`]).
    async fn calibrate_scan(&mut self) {
        if self.calibrator.is_none() {
            return;
        }
        // The last scan's candidates, and the positions it entered.
        let (factors, candidates, entered) = {
            let log = self.log.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut entered = std::collections::HashMap::new();
            let mut scanned = None;
            for d in log.iter().rev() {
                match &d.decision {
                    Decision::Entry { position, market_id, capital, .. } => {
                        entered.insert(market_id.clone(), (*position, *capital));
                    }
                    Decision::Scanned { factors, candidates, .. } => {
                        scanned = Some((factors.clone(), candidates.clone()));
                        break;
                    }
                    _ => {}
                }
            }
            let Some((factors, candidates)) = scanned else { return };
            (factors, candidates, entered)
        };
        let Ok(listing) = self.venue_api.markets().await else { return };
        let capital = self
            .engine
            .overview()
            .map(|o| crate::engine::cents(o.available * self.settings.capital_allocation()))
            .unwrap_or_default();
        let now = self.now.load(Ordering::Acquire);
        if let Some(c) = &mut self.calibrator {
            c.after_scan(now, &factors, &candidates, &entered, capital, &listing);
        }
    }

    async fn sweep(&mut self) {
        self.sample_at_start();
        if let Some(c) = &mut self.calibrator {
            c.sweep(self.now.load(Ordering::Acquire));
        }
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
            debug_assert!(t >= self.fed_ms, "a scan or sweep at {t} after the books of {}", self.fed_ms);
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
    async fn market(&mut self, e: &MarketEvent, at_ms: i64) {
        self.market_step(std::slice::from_ref(e), at_ms).await;
    }

    /// Hands over the market events of one moment together (a simulator step moves every book at
    /// once) and waits for what they set off: a held market is evaluated once, with its books as
    /// the moment leaves them.
    async fn market_step(&mut self, events: &[MarketEvent], at_ms: i64) {
        for e in events {
            if let MarketEvent::Resolved { market, winning_token, .. } = e {
                self.resolutions.insert(market.clone(), winning_token.clone());
            }
        }
        if let Some(c) = &mut self.calibrator {
            c.on_events(events, at_ms);
        }
        if self.feeding(at_ms) && !events.is_empty() {
            self.fed_ms = self.fed_ms.max(at_ms);
            self.stats.market_events += events.len() as u64;
            self.engine.on_market_events(events).await;
            self.engine.idle().await;
        }
    }

    /// Takes a batch of records, in order.
    pub(super) async fn feed(&mut self, batch: impl IntoIterator<Item = Timed>) {
        // The run's record count is the reader's (`ReadSummary::records`), which also counts the
        // decisions a replay steps over without handing them here.
        self.queue.extend(batch);
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
                self.market(&e, t.at_ms).await;
                if self.spent.len() < FEED_BATCH {
                    self.spent.push(e);
                }
            }
            Record::Whale(w) => {
                if self.feeding(t.at_ms) {
                    self.engine.push_whale_trades([*w]);
                }
            }
            Record::News(n) => {
                if self.feeding(t.at_ms) {
                    (self.engine.news_sink())(vec![*n]);
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

impl Driver {
    /// Steps the simulator a minute at a time, scanning and sweeping on its clock.
    pub(super) async fn run_sim(
        &mut self,
        sim: &SimExchange,
        bt: &Backtest,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) {
        let DataSource::Sim { days, start_ms, .. } = bt.source else { return };
        let end = start_ms + i64::from(days) * DAY_MS;
        let total = u64::try_from((end - start_ms) / SIM_STEP_MS).unwrap_or(0);
        // The last moment whose data reaches the engine.
        let stop = self.to_ms.map_or(end, |to| to.min(end));
        let mut step = 0_u64;
        loop {
            let t = sim.now_ms();
            if t > stop {
                return;
            }
            self.now.store(t, Ordering::Release);
            // What is due now first: the first call sets the schedule going from the run's start.
            self.timers(t).await;
            // What falls due before the next step runs on the market as it is until then (the
            // simulator's books move only at each step), not on the next step's books; nothing
            // past the end (or `to`) runs or reaches the engine.
            let next = t + SIM_STEP_MS;
            self.timers((next - 1).min(stop)).await;
            if next > stop {
                return;
            }
            let out = sim.advance(SIM_STEP_MS);
            let at = sim.now_ms();
            self.now.store(at, Ordering::Release);
            self.market_step(&out.events, at).await;
            sim.recycle(out.events);
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
