//! The shadow thread: repeats the engine's calls on the shadows, compares, records, saves.

use super::board::{Evaluation, ScanCompared};
use super::signals::{self, Pending, SignalShadow};
use super::{
    AFTER_ACTIVE, Call, Job, RulesShadow, SAVE_EVERY, ScorerShadow, ShadowIdentity, ShadowReport,
    SignalAnswer, board, lock, save,
};
use crate::engine::{Decision, Exit, Observer, Scored, Seen, SignalColumns, exit_of};
use crate::plugins::{PluginKind, Plugins};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The shadow thread: calls the shadows, compares, records, saves.
pub(super) struct Worker {
    plugins: Plugins,
    report: Arc<Mutex<ShadowReport>>,
    next: Option<Arc<dyn Observer>>,
    state_file: PathBuf,
    pending: Arc<AtomicU64>,
    /// The last decision of the shadow rules recorded per position.
    last_exits: Mutex<HashMap<u64, Option<Exit>>>,
    /// The whale and news shadows' latest signals, waiting for the scan that scores them.
    signals: Mutex<[Option<Pending>; 2]>,
}

impl Worker {
    pub(super) fn new(
        plugins: Plugins,
        report: Arc<Mutex<ShadowReport>>,
        next: Option<Arc<dyn Observer>>,
        state_file: PathBuf,
        pending: Arc<AtomicU64>,
    ) -> Self {
        Self {
            plugins,
            report,
            next,
            state_file,
            pending,
            last_exits: Mutex::default(),
            signals: Mutex::default(),
        }
    }

    pub(super) fn run(&self, rx: &Receiver<Job>) {
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
                let scan = ScanCompared {
                    at_ms,
                    ids: &ids,
                    batch: &batch,
                    active: &active.scores,
                    shadow: &[],
                    threshold,
                    free_slots,
                    held: &held,
                };
                let scored = self.score_shadow(now_ms, &scan, &active);
                let signals = self.signal_effects(now_ms, &scan);
                scored || signals
            }
            Call::Whales { at_ms, now_ms, input, market_ids, active } => {
                let started = Instant::now();
                let Some(answer) = self.plugins.shadow_analyze(now_ms, &input) else { return false };
                let us = elapsed_us(started);
                let ids: Vec<&str> = market_ids.iter().map(String::as_str).collect();
                let answer = answer.map(|shadow| {
                    let mut columns = crate::fast_hash::FastHashMap::default();
                    SignalColumns::add_whales(&mut columns, &shadow, &ids);
                    (columns, active.as_ref().map(|a| signals::compare_whales(a, &shadow)))
                });
                self.take_signals(PluginKind::WhaleAnalyzer, (at_ms, now_ms, us), answer)
            }
            Call::News { at_ms, now_ms, items, texts, market_ids, active } => {
                let started = Instant::now();
                let Some(answer) = self.plugins.shadow_match_news(now_ms, &items, &texts) else {
                    return false;
                };
                let us = elapsed_us(started);
                let ids: Vec<&str> = market_ids.iter().map(String::as_str).collect();
                let answer = answer.map(|shadow| {
                    let mut columns = crate::fast_hash::FastHashMap::default();
                    SignalColumns::add_all_news(&mut columns, &shadow, &ids);
                    (columns, active.as_ref().map(|a| signals::compare_news(a, &shadow)))
                });
                self.take_signals(PluginKind::NewsAggregator, (at_ms, now_ms, us), answer)
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

impl Worker {
    /// The shadow scorer on a scan's input, if there is one; whether anything changed.
    fn score_shadow(&self, now_ms: i64, scan: &ScanCompared<'_>, active: &crate::plugins::Scored) -> bool {
        let Some((info, sha)) = self.plugins.shadow_info(PluginKind::Scorer) else { return false };
        let started = Instant::now();
        let Some(answer) = self.plugins.shadow_score(now_ms, scan.batch) else { return false };
        let us = elapsed_us(started);
        let mut report = lock(&self.report);
        let s = report.scorer.get_or_insert_with(ScorerShadow::default);
        if s.id.sha256 != sha {
            *s = ScorerShadow::default();
        }
        renew_id(&mut s.id, &info.name, &info.version, &sha, scan.at_ms);
        s.id.active = format!("{}@{}", active.plugin.name, active.plugin.version);
        note_call(&mut s.id, us, answer.as_ref().err());
        let Ok(scored) = answer else { return true };
        let would_enter = s.compare(&ScanCompared { shadow: &scored.scores, ..*scan });
        drop(report);
        if let Some(next) = &self.next {
            let candidates = scan
                .ids
                .iter()
                .enumerate()
                .map(|(i, id)| Scored {
                    market_id: id.as_str().into(),
                    score: scored.scores.get(i).copied().unwrap_or_default(),
                    factors: scored.factors_of(i).to_vec(),
                })
                .collect();
            next.seen(
                scan.at_ms,
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

    /// The report's entry of a whale or news shadow, started afresh for a new file.
    fn signal_shadow<'r>(
        report: &'r mut ShadowReport,
        kind: PluginKind,
        name: &str,
        version: &str,
        sha: &str,
        at_ms: i64,
    ) -> &'r mut SignalShadow {
        let slot = if kind == PluginKind::WhaleAnalyzer { &mut report.whales } else { &mut report.news };
        let s = slot.get_or_insert_with(SignalShadow::default);
        if s.id.sha256 != sha {
            *s = SignalShadow::default();
        }
        renew_id(&mut s.id, name, version, sha, at_ms);
        s
    }

    /// A whale or news shadow's answer: counted, compared with the active answer, and its
    /// signals kept for the scan that scores them. The answer is the shadow's signal columns
    /// and, when the active plugin answered too, what was compared and agreed; `us` is how long
    /// the shadow took.
    fn take_signals(
        &self,
        kind: PluginKind,
        (at_ms, now_ms, us): (i64, i64, u64),
        answer: Result<SignalAnswer, crate::plugins::PluginError>,
    ) -> bool {
        let Some((info, sha)) = self.plugins.shadow_info(kind) else { return false };
        let mut report = lock(&self.report);
        let s = Self::signal_shadow(&mut report, kind, &info.name, &info.version, &sha, at_ms);
        s.id.active =
            self.plugins.active_info(kind).map_or_else(String::new, |a| format!("{}@{}", a.name, a.version));
        s.id.last_ms = at_ms;
        note_call(&mut s.id, us, answer.as_ref().err());
        let Ok((columns, compared)) = answer else { return true };
        if let Some(c) = compared {
            s.count(c);
        }
        drop(report);
        let by = format!("{}@{}", info.name, info.version);
        let stale = lock(&self.signals)[signal_slot(kind)].replace(Pending { now_ms, at_ms, by, columns });
        if let Some(p) = stale {
            self.record_signals(kind, &p, Vec::new());
        }
        true
    }

    /// What the active scorer makes of the whale and news shadows' signals of this scan.
    fn signal_effects(&self, now_ms: i64, scan: &ScanCompared<'_>) -> bool {
        let mut changed = false;
        for kind in [PluginKind::WhaleAnalyzer, PluginKind::NewsAggregator] {
            let Some(pending) = lock(&self.signals)[signal_slot(kind)].take() else { continue };
            // Signals from another scan (one that scored nothing) are recorded as they are.
            if pending.now_ms != now_ms {
                self.record_signals(kind, &pending, Vec::new());
                continue;
            }
            let batch = signals::with_columns(scan.batch, scan.ids, kind, &pending.columns);
            let rescored = match self.plugins.score(now_ms, &batch) {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "rescoring a scan with a shadow's signals");
                    self.record_signals(kind, &pending, Vec::new());
                    continue;
                }
            };
            let Some((info, sha)) = self.plugins.shadow_info(kind) else { continue };
            let mut report = lock(&self.report);
            let s = Self::signal_shadow(&mut report, kind, &info.name, &info.version, &sha, scan.at_ms);
            let would_enter = s.effect.compare(&ScanCompared { shadow: &rescored.scores, ..*scan });
            drop(report);
            self.record_signals(kind, &pending, would_enter);
            changed = true;
        }
        changed
    }

    fn record_signals(&self, kind: PluginKind, pending: &Pending, would_enter: Vec<String>) {
        if let Some(next) = &self.next {
            next.seen(
                pending.at_ms,
                Seen::Decision(&Decision::ShadowSignals {
                    by: pending.by.clone(),
                    plugin_kind: kind.as_str().to_owned(),
                    markets: pending.markets(),
                    would_enter,
                }),
            );
        }
    }
}

/// Where a whale (0) or news (1) shadow's pending signals are kept in `Worker::signals`.
fn signal_slot(kind: PluginKind) -> usize {
    usize::from(kind == PluginKind::NewsAggregator)
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
