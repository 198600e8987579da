//! Shadow plugins at work: every call the engine makes to its active scorer or liquidation
//! rules is repeated on the kind's shadow, on a thread of its own, after the active call and off
//! the tick-to-order path; the answers are compared, recorded, and never acted on.

mod board;
mod picks;

pub use board::{
    EntryDiff, RulesDiff, RulesShadow, ScorerShadow, ShadowIdentity, ShadowReport, SideTrack, Sold, Track,
};
pub use picks::{PaperPair, PickTotal, Picker, Picks, STAKE};

use crate::engine::{Decision, Exit, Observer, RulesCall, Scored, ScoringCall, Seen, exit_of};
use crate::plugins::{PluginKind, Plugins, abi};
use board::{Evaluation, ScanCompared};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Calls waiting for the shadows; beyond this the newest are dropped (and counted).
const QUEUE: usize = 64;

/// How often the report is written to disk while it changes.
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// How long after the active call a shadow call waits at least: the active decision's orders
/// are on their way by then, so the shadow never competes with them for a core (measured in
/// `docs/benchmarks.md`: without it, the tick-to-order p99 rose on two cores).
const AFTER_ACTIVE: Duration = Duration::from_millis(3);

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
        let work = Worker {
            plugins: plugins.clone(),
            report: Arc::clone(&report),
            next: next.clone(),
            state_file,
            pending: Arc::clone(&pending),
            last_exits: Mutex::default(),
        };
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
        if !self.plugins.has_shadow(PluginKind::Scorer) {
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
            _ => {}
        }
    }
}

/// The shadow thread: calls the shadows, compares, records, saves.
struct Worker {
    plugins: Plugins,
    report: Arc<Mutex<ShadowReport>>,
    next: Option<Arc<dyn Observer>>,
    state_file: PathBuf,
    pending: Arc<AtomicU64>,
    /// The last decision of the shadow rules recorded per position.
    last_exits: Mutex<std::collections::HashMap<u64, Option<Exit>>>,
}

impl Worker {
    fn run(&self, rx: &Receiver<Job>) {
        let mut dirty = false;
        let mut saved = Instant::now();
        loop {
            match rx.recv_timeout(SAVE_EVERY) {
                Ok(job) => {
                    if let Some(wait) = AFTER_ACTIVE.checked_sub(job.handed.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    dirty |= self.take(job.call);
                    self.pending.fetch_sub(1, Ordering::AcqRel);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if dirty && saved.elapsed() >= SAVE_EVERY {
                self.save();
                (dirty, saved) = (false, Instant::now());
            }
        }
        if dirty {
            self.save();
        }
    }

    fn save(&self) {
        let report = lock(&self.report).clone();
        if let Err(e) = save(&self.state_file, &report) {
            tracing::warn!(file = %self.state_file.display(), error = %e, "saving the shadows' comparison");
        }
    }

    /// Repeats one call on the shadow; whether anything changed.
    fn take(&self, call: Call) -> bool {
        match call {
            Call::Score { at_ms, now_ms, batch, ids, active, threshold, free_slots, held } => {
                let Some((info, sha)) = self.plugins.shadow_info(PluginKind::Scorer) else { return false };
                let started = Instant::now();
                let Some(answer) = self.plugins.shadow_score(now_ms, &batch) else { return false };
                let us = elapsed_us(started);
                let active_label = format!("{}@{}", active.plugin.name, active.plugin.version);
                let mut report = lock(&self.report);
                let s = report.scorer.get_or_insert_with(ScorerShadow::default);
                if s.id.sha256 != sha {
                    *s = ScorerShadow::default();
                }
                renew_id(&mut s.id, &info.name, &info.version, &sha, at_ms);
                s.id.active = active_label;
                note_call(&mut s.id, us, answer.as_ref().err());
                let Ok(scored) = answer else { return true };
                let would_enter = s.compare(&ScanCompared {
                    at_ms,
                    ids: &ids,
                    batch: &batch,
                    active: &active.scores,
                    shadow: &scored.scores,
                    threshold,
                    free_slots,
                    held: &held,
                });
                drop(report);
                if let Some(next) = &self.next {
                    let candidates = ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| Scored {
                            market_id: id.clone(),
                            score: scored.scores.get(i).copied().unwrap_or_default(),
                            factors: scored.factors_of(i).to_vec(),
                        })
                        .collect();
                    next.seen(
                        at_ms,
                        Seen::Decision(&Decision::ShadowScored {
                            scorer: format!("{}@{}", info.name, info.version),
                            factors: info.factors.iter().map(|f| f.name.clone()).collect(),
                            candidates,
                            would_enter,
                        }),
                    );
                }
                true
            }
            Call::Rules { at_ms, now_ms, positions, views, active, by } => {
                if views.is_empty() {
                    return false;
                }
                let Some((info, sha)) = self.plugins.shadow_info(PluginKind::LiquidationRules) else {
                    return false;
                };
                let started = Instant::now();
                let Some(answer) = self.plugins.shadow_evaluate(now_ms, &views) else { return false };
                let us = elapsed_us(started);
                let label = format!("{}@{}", info.name, info.version);
                let mut report = lock(&self.report);
                let r = report.rules.get_or_insert_with(RulesShadow::default);
                if r.id.sha256 != sha {
                    *r = RulesShadow::default();
                }
                renew_id(&mut r.id, &info.name, &info.version, &sha, at_ms);
                r.id.active = match self.plugins.active_info(PluginKind::LiquidationRules) {
                    Some(a) if a.name == by => format!("{}@{}", a.name, a.version),
                    _ => by,
                };
                note_call(&mut r.id, us, answer.as_ref().err());
                let Ok(decided) = answer else { return true };
                let mut shadow: Vec<Option<(Exit, String)>> = vec![None; views.len()];
                for d in &decided.decisions {
                    if let Some(slot) = usize::try_from(d.position).ok().and_then(|i| shadow.get_mut(i)) {
                        *slot = Some((exit_of(&d.action), d.reason.clone()));
                    }
                }
                for (i, view) in views.iter().enumerate() {
                    r.compare(&Evaluation {
                        at_ms,
                        position: positions[i],
                        view,
                        active: active[i],
                        shadow: shadow[i].as_ref().map(|(x, why)| (*x, why.as_str())),
                    });
                }
                drop(report);
                if let Some(next) = &self.next {
                    let mut last = lock(&self.last_exits);
                    for (i, s) in shadow.iter().enumerate() {
                        // A decision is recorded when the shadow makes it, not again on every
                        // evaluation after (it is never obeyed, so it would repeat).
                        let now = s.as_ref().map(|(x, _)| *x);
                        if last.insert(positions[i], now) == Some(now) {
                            continue;
                        }
                        let Some((exit, reason)) = s else { continue };
                        let v = &views[i];
                        next.seen(
                            at_ms,
                            Seen::Decision(&Decision::ShadowExit {
                                position: positions[i],
                                action: format!("{exit:?}"),
                                reason: reason.clone(),
                                by: label.clone(),
                                bids: [v.yes.best_bid.map(board::decimal), v.no.best_bid.map(board::decimal)],
                            }),
                        );
                    }
                }
                true
            }
        }
    }
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Starts the identity afresh for a shadow seen for the first time (or whose file changed).
fn renew_id(id: &mut ShadowIdentity, name: &str, version: &str, sha: &str, at_ms: i64) {
    if id.sha256 != sha {
        *id = ShadowIdentity {
            shadow: format!("{name}@{version}"),
            sha256: sha.to_owned(),
            since_ms: at_ms,
            ..ShadowIdentity::default()
        };
    }
}

fn note_call(id: &mut ShadowIdentity, us: u64, error: Option<&crate::plugins::PluginError>) {
    id.calls += 1;
    id.total_us = id.total_us.saturating_add(us);
    id.max_us = id.max_us.max(us);
    if let Some(e) = error {
        id.faults += 1;
        id.last_error = Some(e.to_string());
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
