//! Shadow plugins as the Plugins page and `/api/plugins/shadows` show them.

use super::PluginView;
use rust_decimal::Decimal;
use serde::Serialize;

/// A shadow plugin: what it is, and how it compares with the active plugin of its kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowView {
    /// The shadow as loaded from `shadow/` (its own calls, faults and latency).
    pub plugin: PluginView,
    /// Whether its kind's calls are repeated on it (the newest shadow of a kind is).
    pub serving: bool,
    /// The active plugin it was last compared with (`name@version`, or `built-in`).
    pub against: Option<String>,
    /// Since when it is compared (Unix ms), and how many comparisons: scans for a scorer,
    /// position evaluations for rules, calls for a whale analyzer or news aggregator.
    pub since_ms: Option<i64>,
    pub compared: u64,
    /// What "agree" means for its kind, and how often it did (0..1).
    pub agreement_means: String,
    pub agreement: Option<f64>,
    /// What following the shadow would have made more (negative: less) so far. Rules: on the
    /// positions where they decided differently; scorer: the shadow's picks against the
    /// active's (see `picks`); whale analyzer and news aggregator: the picks of the active
    /// scorer given the shadow's signals against its picks as it scored.
    pub pnl_difference: Option<Decimal>,
    /// Scorer: the markets only one of the two would have entered, bought on paper.
    pub picks: Option<PicksView>,
    /// Scorer (and whale and news shadows, through the active scorer given their signals):
    /// mean |shadow − active| score, the last scan's rank correlation, the scans compared on
    /// their entries, and those after which both would have entered the same markets.
    pub mean_score_difference: Option<f64>,
    pub correlation: Option<f64>,
    pub scans: Option<u64>,
    pub same_entries: Option<u64>,
    /// The latest differences, newest first.
    pub differences: Vec<ShadowDiffView>,
    /// Calls the shadow missed because it fell behind.
    pub dropped: u64,
}

/// The markets only one scorer would have entered, each bought on paper for `stake` pUSD (half
/// a side at the asks of the scan), held, and marked at the best bids of later scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PicksView {
    pub stake: Decimal,
    /// The shadow's picks: how many, and what they would have made before fees.
    pub shadow: u64,
    pub shadow_pnl: Decimal,
    /// The active scorer's picks the shadow would have skipped.
    pub active: u64,
    pub active_pnl: Decimal,
}

/// One difference between a shadow and the active plugin, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowDiffView {
    pub at_ms: i64,
    /// The position it concerns, for rules.
    pub position: Option<u64>,
    pub active: String,
    pub shadow: String,
}

/// A plugin version the bot has had active, and whether it can be rolled back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginVersionView {
    pub kind: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// `name@version#<hash>`, as trades name it.
    pub id: String,
    /// The active plugin of its kind now.
    pub active: bool,
    /// Its component is kept (`versions/` in the plugin directory): it can be rolled back to.
    pub kept: bool,
    /// When it was active (Unix ms, `to_ms` null while it still is), oldest first.
    pub periods: Vec<PeriodView>,
}

/// A period a plugin version was active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeriodView {
    pub from_ms: i64,
    pub to_ms: Option<i64>,
}

/// What the operator does with a shadow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowAction {
    /// Make it the active plugin of its kind (the atomic swap hot reload uses).
    Promote,
    /// Stop shadowing: its file moves to `retired/`.
    Retire,
}

impl ShadowAction {
    /// From the path segment.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "promote" => Some(Self::Promote),
            "retire" => Some(Self::Retire),
            _ => None,
        }
    }
}
