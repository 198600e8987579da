//! Shadow plugins and plugin versions for the Plugins page: the registry's shadows joined with
//! the shadow runner's comparison, the versions on record, and the operator's promote, retire,
//! upload and roll back.

use super::{HostBackend, Shared, views};
use crate::lab::{
    Picker, RulesShadow, SAME_ACTIVITY, ScorerShadow, ShadowReport, ShadowRunner, SignalShadow,
};
use crate::plugins::{PluginKind, PluginStatus, PromoteError};
use equilibrage_web::{BackendError, BackendResult};
use equilibrage_web::{PeriodView, PicksView, PluginVersionView, ShadowAction, ShadowDiffView, ShadowView};
use std::sync::Arc;

impl HostBackend {
    /// Shows how the shadow plugins compare with the active ones, from `runner` (the engine's
    /// observer). Without it the Plugins page lists shadows without comparisons.
    #[must_use]
    pub fn with_shadows(self, runner: Arc<ShadowRunner>) -> Self {
        let _ = self.shared.shadows.set(runner);
        self
    }
}

fn diffs_of_scorer(shared: &Shared, s: &ScorerShadow) -> Vec<ShadowDiffView> {
    let name = |id: &String| shared.engine.question(id).unwrap_or_else(|| id.clone());
    let list = |m: &[String]| {
        if m.is_empty() {
            "nothing".to_owned()
        } else {
            format!("enter {}", m.iter().map(name).collect::<Vec<_>>().join("; "))
        }
    };
    s.recent
        .iter()
        .rev()
        .map(|d| ShadowDiffView {
            at_ms: d.at_ms,
            position: None,
            active: list(&d.active_only),
            shadow: list(&d.shadow_only),
        })
        .collect()
}

fn diffs_of_rules(r: &RulesShadow) -> Vec<ShadowDiffView> {
    r.recent
        .iter()
        .rev()
        .map(|d| {
            // What it decided, at the bid of the side it sells.
            let said = |exit: Option<crate::engine::Exit>| match exit {
                None => "hold".to_owned(),
                Some(x) => match d.bid_of(x) {
                    Some(b) => format!("{x:?} at {b}"),
                    None => format!("{x:?}"),
                },
            };
            ShadowDiffView {
                at_ms: d.at_ms,
                position: Some(d.position),
                active: said(d.active),
                shadow: said(d.shadow),
            }
        })
        .collect()
}

/// One shadow as the page shows it, with its comparison when it is the one compared.
fn view(shared: &Shared, p: &PluginStatus, report: &ShadowReport, dropped: u64) -> ShadowView {
    let mut v = ShadowView {
        plugin: views::plugin(p),
        serving: p.active,
        against: None,
        since_ms: None,
        compared: 0,
        agreement_means: String::new(),
        agreement: None,
        pnl_difference: None,
        picks: None,
        mean_score_difference: None,
        correlation: None,
        scans: None,
        same_entries: None,
        differences: Vec::new(),
        dropped,
    };
    match p.info.kind {
        PluginKind::Scorer => {
            v.agreement_means = "market scorings on the same side of the entry threshold".into();
            if let Some(s) = report.scorer.as_ref().filter(|s| p.active && s.id.sha256 == p.sha256) {
                v.against = Some(s.id.active.clone());
                v.since_ms = Some(s.id.since_ms);
                v.compared = s.scans;
                v.agreement = s.agreement();
                entry_effect(shared, &mut v, s);
            }
        }
        PluginKind::LiquidationRules => {
            v.agreement_means = "position evaluations where both decided the same".into();
            v.pnl_difference = Some(rust_decimal::Decimal::ZERO);
            if let Some(r) = report.rules.as_ref().filter(|r| p.active && r.id.sha256 == p.sha256) {
                v.against = Some(r.id.active.clone());
                v.since_ms = Some(r.id.since_ms);
                v.compared = r.checks;
                v.agreement = r.agreement();
                v.pnl_difference = Some(r.pnl_difference().round_dp(6));
                v.differences = diffs_of_rules(r);
            }
        }
        PluginKind::WhaleAnalyzer | PluginKind::NewsAggregator => {
            let whales = p.info.kind == PluginKind::WhaleAnalyzer;
            v.agreement_means = if whales {
                format!(
                    "markets given the same whale signal (the same whale count, activity within {SAME_ACTIVITY}), of those either gave one"
                )
            } else {
                "item–market matches both made, of those either made".into()
            };
            let compared = if whales { report.whales.as_ref() } else { report.news.as_ref() };
            if let Some(s) = compared.filter(|s| p.active && s.id.sha256 == p.sha256) {
                signal_view(shared, &mut v, s);
            }
        }
    }
    v
}

/// A whale or news shadow's comparison; its P&L, entries and score differences are those of
/// the active scorer given its signals.
fn signal_view(shared: &Shared, v: &mut ShadowView, s: &SignalShadow) {
    v.against = Some(s.id.active.clone());
    v.since_ms = Some(s.id.since_ms);
    v.compared = s.calls;
    v.agreement = s.agreement();
    entry_effect(shared, v, &s.effect);
}

/// What a scorer's answers (a shadow's, or the active's given a shadow's signals) would have
/// changed: score differences, entries, and the picks bought on paper.
fn entry_effect(shared: &Shared, v: &mut ShadowView, s: &ScorerShadow) {
    v.mean_score_difference = s.mean_abs_diff();
    v.correlation = s.last_correlation;
    v.scans = Some(s.scans);
    v.same_entries = Some(s.same_entries);
    v.differences = diffs_of_scorer(shared, s);
    let (mine, theirs) = (s.picks.total(Picker::Shadow), s.picks.total(Picker::Active));
    v.pnl_difference = Some(s.picks.difference().normalize());
    v.picks = Some(PicksView {
        stake: crate::lab::STAKE,
        shadow: mine.count,
        shadow_pnl: mine.pnl.normalize(),
        active: theirs.count,
        active_pnl: theirs.pnl.normalize(),
    });
}

pub(super) fn list(shared: &Shared) -> Vec<ShadowView> {
    let report = shared.shadows.get().map(|r| r.report()).unwrap_or_default();
    let dropped = report.dropped;
    shared.plugins.shadows().iter().map(|p| view(shared, p, &report, dropped)).collect()
}

fn promote_error(e: PromoteError) -> BackendError {
    match e {
        PromoteError::NoShadow(_) => BackendError::NotFound(e.to_string()),
        PromoteError::Invalid(m) => BackendError::invalid(m),
        PromoteError::Io { .. } => BackendError::Internal(e.to_string()),
    }
}

pub(super) fn act(shared: &Shared, kind: &str, action: ShadowAction) -> BackendResult<String> {
    let kind: PluginKind = kind.parse().map_err(BackendError::NotFound)?;
    let shadow = shared
        .plugins
        .shadow_info(kind)
        .map(|(info, _)| format!("{}@{}", info.name, info.version))
        .ok_or_else(|| BackendError::NotFound(format!("no {kind} plugin is shadowing")))?;
    match action {
        ShadowAction::Promote => {
            shared.plugins.promote(kind).map_err(promote_error)?;
            // The page that follows lists the versions: the promoted one among them.
            shared.engine.note_plugin_versions_now();
            Ok(format!("{shadow} is now the active {kind} plugin."))
        }
        ShadowAction::Retire => {
            let to = shared.plugins.retire(kind).map_err(promote_error)?;
            Ok(format!("{shadow} no longer shadows; its file is in {}.", to.display()))
        }
    }
}

pub(super) fn upload(shared: &Shared, file: &str, bytes: &[u8]) -> BackendResult<(String, String)> {
    let status = shared.plugins.install_shadow_file(file, bytes).map_err(promote_error)?;
    match status.result {
        Ok(label) => {
            let (kind, plugin) = label.split_once('/').unwrap_or(("", &label));
            Ok((kind.to_owned(), plugin.trim_end_matches(" (shadow)").to_owned()))
        }
        Err(why) => {
            // A refused file stays out of the shadow directory.
            let _ = std::fs::remove_file(&status.file);
            Err(BackendError::invalid(format!("{file}: {why}")))
        }
    }
}

pub(super) fn versions(shared: &Shared) -> Vec<PluginVersionView> {
    let records = match shared.engine.store_read().and_then(|r| r.plugin_versions()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "reading the plugin versions");
            return Vec::new();
        }
    };
    records
        .into_iter()
        .map(|r| {
            let kept = r.kind.parse::<PluginKind>().is_ok_and(|k| shared.plugins.has_version(k, &r.sha256));
            PluginVersionView {
                id: r.id(),
                active: r.is_active(),
                kept,
                periods: r
                    .periods
                    .iter()
                    .map(|p| PeriodView { from_ms: p.from_ms, to_ms: p.to_ms })
                    .collect(),
                kind: r.kind,
                name: r.name,
                version: r.version,
                sha256: r.sha256,
            }
        })
        .collect()
}

pub(super) fn rollback(shared: &Shared, kind: &str, sha256: &str) -> BackendResult<String> {
    let kind: PluginKind = kind.parse().map_err(BackendError::NotFound)?;
    if !shared.plugins.has_version(kind, sha256) {
        return Err(BackendError::NotFound(format!("no kept {kind} version {sha256:?}")));
    }
    shared.plugins.rollback(kind, sha256).map_err(promote_error)?;
    shared.engine.note_plugin_versions_now();
    let now = shared.plugins.active_version_id(kind).map_or_else(String::new, |v| v.to_string());
    Ok(format!("Rolled back: {now} is the active {kind} plugin again."))
}
