//! Shadow plugins at work: every call the engine makes to an active plugin is repeated on the
//! kind's shadow, on a thread of its own, after the active call and off the tick-to-order path;
//! the answers are compared, recorded, and never acted on.

mod board;
mod picks;
mod signals;
mod worker;

pub use board::{
    EntryDiff, RulesDiff, RulesShadow, ScorerShadow, ShadowIdentity, ShadowReport, SideTrack, Sold, Track,
};
pub use picks::{PaperPair, PickTotal, Picker, Picks, STAKE};
pub use signals::{SAME_ACTIVITY, SignalShadow};

use crate::engine::{Exit, NewsCall, Observer, RulesCall, ScoringCall, Seen, SignalColumns, WhaleCall};
use crate::fast_hash::FastHashMap;
use crate::plugins::{PluginKind, Plugins, abi};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use worker::Worker;

/// Calls waiting for the shadows; beyond this the newest are dropped (and counted).
const QUEUE: usize = 64;

/// How often the report is written to disk while it changes.
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// How long after the active call a shadow call waits at least: the active decision's orders
/// are on their way by then, so the shadow never competes with them for a core (measured in
/// `docs/benchmarks.md`: without it, the tick-to-order p99 rose on two cores).
const AFTER_ACTIVE: Duration = Duration::from_millis(3);

/// A whale or news shadow's signal columns by market, and what was compared with the active
/// answer and agreed (when the active plugin answered).
type SignalAnswer = (FastHashMap<String, SignalColumns>, Option<(u64, u64)>);

/// A call the shadow repeats, and when it was handed over.
struct Job {
    handed: Instant,
    call: Call,
}

enum Call {
    Score {
        at_ms: i64,
        now_ms: i64,
        batch: Box<abi::MarketBatch>,
        ids: Vec<String>,
        active: Arc<crate::plugins::Scored>,
        threshold: f32,
        free_slots: usize,
        held: Vec<String>,
    },
    Rules {
        at_ms: i64,
        now_ms: i64,
        positions: Vec<u64>,
        views: Vec<abi::PositionView>,
        active: Vec<Option<Exit>>,
        by: String,
    },
    Whales {
        at_ms: i64,
        now_ms: i64,
        input: abi::AnalysisInput,
        market_ids: Vec<String>,
        active: Option<abi::Analysis>,
    },
    News {
        at_ms: i64,
        now_ms: i64,
        items: Vec<abi::NewsItem>,
        texts: Vec<abi::MarketText>,
        market_ids: Vec<String>,
        active: Option<Vec<abi::NewsMatch>>,
    },
}

/// The engine's observer while shadows may run: it tells `next` (the recorder) everything first,
/// then hands the active plugins' calls to the shadow thread. Cheap when no shadow is loaded.
pub struct ShadowRunner {
    next: Option<Arc<dyn Observer>>,
    plugins: Plugins,
    tx: Mutex<Option<SyncSender<Job>>>,
    report: Arc<Mutex<ShadowReport>>,
    dropped: AtomicU64,
    /// Calls handed over and not compared yet.
    pending: Arc<AtomicU64>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for ShadowRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowRunner").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ShadowRunner {
    /// Starts the shadow thread. `state_file` keeps the comparison across restarts (a shadow
    /// whose file changed starts afresh); `next` is told everything the engine sees, first.
    ///
    /// # Errors
    /// When the thread cannot start.
    pub fn start(
        plugins: Plugins,
        state_file: PathBuf,
        next: Option<Arc<dyn Observer>>,
    ) -> std::io::Result<Arc<Self>> {
        let report = Arc::new(Mutex::new(load(&state_file)));
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let pending = Arc::new(AtomicU64::new(0));
        let work =
            Worker::new(plugins.clone(), Arc::clone(&report), next.clone(), state_file, Arc::clone(&pending));
        let worker = std::thread::Builder::new().name("shadow".into()).spawn(move || {
            crate::lab::yield_to_trading();
            work.run(&rx);
        })?;
        Ok(Arc::new(Self {
            next,
            plugins,
            tx: Mutex::new(Some(tx)),
            report,
            dropped: AtomicU64::new(0),
            pending,
            worker: Mutex::new(Some(worker)),
        }))
    }

    /// The comparison so far.
    #[must_use]
    pub fn report(&self) -> ShadowReport {
        let mut r = lock(&self.report).clone();
        r.dropped += self.dropped.load(Ordering::Relaxed);
        r
    }

    /// Waits (up to 10 s) until every call handed over so far has been compared: for tests.
    pub fn settle(&self) {
        for _ in 0..2_000 {
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the shadow thread after the calls queued, saving the report.
    pub fn stop(&self) {
        lock(&self.tx).take();
        if let Some(w) = lock(&self.worker).take() {
            let _ = w.join();
        }
    }

    fn hand_over(&self, call: Call) {
        let job = Job { handed: Instant::now(), call };
        let guard = lock(&self.tx);
        let Some(tx) = guard.as_ref() else { return };
        self.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(job) {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn scoring(&self, at_ms: i64, call: &ScoringCall<'_>) {
        if !crate::engine::SCORING_SHADOWS.into_iter().any(|k| self.plugins.has_shadow(k)) {
            return;
        }
        self.hand_over(Call::Score {
            at_ms,
            now_ms: call.now_ms,
            batch: Box::new(call.batch.clone()),
            ids: call.market_ids.iter().map(|s| (*s).to_owned()).collect(),
            active: Arc::new(call.scored.clone()),
            threshold: call.threshold,
            free_slots: call.free_slots,
            held: call.held.iter().map(|s| (*s).to_owned()).collect(),
        });
    }

    fn rules(&self, at_ms: i64, call: &RulesCall<'_>) {
        if !self.plugins.has_shadow(PluginKind::LiquidationRules) {
            return;
        }
        let mut active = vec![None; call.views.len()];
        for (i, exit, _) in call.decisions {
            if let Some(slot) = active.get_mut(*i) {
                *slot = Some(*exit);
            }
        }
        self.hand_over(Call::Rules {
            at_ms,
            now_ms: call.now_ms,
            positions: call.positions.to_vec(),
            views: call.views.to_vec(),
            active,
            by: call.by.to_owned(),
        });
    }

    fn whales(&self, at_ms: i64, call: &WhaleCall<'_>) {
        if !self.plugins.has_shadow(PluginKind::WhaleAnalyzer) {
            return;
        }
        self.hand_over(Call::Whales {
            at_ms,
            now_ms: call.now_ms,
            input: call.input.clone(),
            market_ids: call.market_ids.iter().map(|s| (*s).to_owned()).collect(),
            active: call.answer.cloned(),
        });
    }

    fn news(&self, at_ms: i64, call: &NewsCall<'_>) {
        if !self.plugins.has_shadow(PluginKind::NewsAggregator) {
            return;
        }
        self.hand_over(Call::News {
            at_ms,
            now_ms: call.now_ms,
            items: call.items.to_vec(),
            texts: call.markets.to_vec(),
            market_ids: call.market_ids.iter().map(|s| (*s).to_owned()).collect(),
            active: call.answer.map(<[abi::NewsMatch]>::to_vec),
        });
    }
}

impl Drop for ShadowRunner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Observer for ShadowRunner {
    fn seen(&self, at_ms: i64, what: Seen<'_>) {
        if let Some(next) = &self.next {
            next.seen(at_ms, what);
        }
        match what {
            Seen::Scoring(call) => self.scoring(at_ms, call),
            Seen::Rules(call) => self.rules(at_ms, call),
            Seen::WhaleAnalysis(call) => self.whales(at_ms, call),
            Seen::NewsMatching(call) => self.news(at_ms, call),
            _ => {}
        }
    }

    fn wants_market_events(&self) -> bool {
        self.next.as_ref().is_some_and(|n| n.wants_market_events())
    }
}

fn load(path: &Path) -> ShadowReport {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(file = %path.display(), error = %e, "the shadows' comparison is unreadable; starting afresh");
            ShadowReport::default()
        }),
        Err(_) => ShadowReport::default(),
    }
}

/// Writes the report atomically (a temporary file, then a rename).
fn save(path: &Path, report: &ShadowReport) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?)?;
    std::fs::rename(&partial, path)
}
