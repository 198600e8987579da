//! What the Lab pages and `/api/lab` show: recordings, backtest runs, comparisons, sweeps, jobs,
//! position detail and P&L attribution, as the host hands them over (money as exact decimals).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Everything the Lab page lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabOverview {
    pub recordings: Vec<RecordingView>,
    /// Newest first.
    pub runs: Vec<RunSummary>,
    pub comparisons: Vec<ComparisonSummary>,
    pub sweeps: Vec<SweepSummary>,
    /// Newest first.
    pub jobs: Vec<JobView>,
    /// Plugin files a run can use, per kind: the plugin directory's and the lab's candidates.
    pub plugin_files: Vec<PluginFileView>,
    /// What a new run starts from: the bot's settings, as `engine.<field>=<value>` lines.
    pub base_settings: Vec<String>,
    /// P&L attribution over the live (or paper) history.
    pub live_attribution: AttributionTotals,
    /// The same closed positions' P&L by the plugin versions that decided them.
    pub live_by_version: Vec<VersionPnlView>,
}

/// The realised P&L of the closed positions a plugin version decided: entered on its scores
/// (a scorer) or exited by it (liquidation rules).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionPnlView {
    pub kind: String,
    /// `name@version#<hash>`; `None`: positions no version is named for (entered before
    /// versions were recorded, or closed with no exit by the rules).
    pub version: Option<String>,
    pub positions: usize,
    pub pnl: Decimal,
}

/// A recording on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordingView {
    /// Its directory name, which names it in forms.
    pub name: String,
    pub venue: String,
    /// Data time it covers (Unix ms), as its segments' headers say.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub segments: usize,
    pub bytes: u64,
    /// Markets listed and market events recorded, once counted (counting reads it whole).
    pub markets: Option<u64>,
    pub events: Option<u64>,
    /// The recorder is writing it now.
    pub active: bool,
}

/// A run's headline figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: u64,
    pub label: String,
    pub source: String,
    /// `kind name@version (file)`.
    pub plugins: Vec<String>,
    /// Settings and parameters it changed from the base, `key=value`.
    pub changes: Vec<String>,
    pub metrics: MetricsView,
    pub wall_ms: u64,
}

/// A run's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsView {
    pub initial_capital: Decimal,
    pub final_equity: Decimal,
    pub pnl: Decimal,
    pub return_percent: Decimal,
    pub max_drawdown: Decimal,
    pub max_drawdown_percent: Decimal,
    pub sharpe: Option<f64>,
    pub positions: usize,
    pub closed: u64,
    pub win_rate_percent: Option<Decimal>,
    pub liquidations: usize,
    pub fees: Decimal,
    pub exposure_percent: Decimal,
    pub days: u32,
}

/// One run, whole enough to draw.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunView {
    pub summary: RunSummary,
    /// Equity samples (Unix ms, pUSD), in time order.
    pub equity: Vec<(i64, Decimal)>,
    /// P&L of each UTC day (the day's start, Unix ms), from the equity samples.
    pub daily: Vec<(i64, Decimal)>,
    pub positions: Vec<LabPositionRow>,
    pub attribution: AttributionTotals,
}

/// A position of a run (or of the live history) in a table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabPositionRow {
    pub id: u64,
    pub market_id: String,
    pub question: String,
    pub status: String,
    pub opened_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// `yes` or `no`.
    pub liquidated: Option<String>,
    pub close_reason: Option<String>,
    pub score: Option<f32>,
    /// The scorer version whose scan it was entered on (`name@version#<hash>`).
    pub scorer: Option<String>,
    pub capital: Decimal,
    pub pnl: Decimal,
    pub attribution: Option<AttributionView>,
}

/// Where one closed position's P&L came from; the four parts add up to `pnl` exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttributionView {
    pub pnl: Decimal,
    pub spread: Decimal,
    pub fees: Decimal,
    pub liquidated_leg: Decimal,
    pub kept_leg: Decimal,
    pub entry_mid: [Option<Decimal>; 2],
    /// `yes` or `no`, where the market resolved within the data.
    pub winner: Option<String>,
    pub hold_to_resolution: Option<Decimal>,
    pub sell_pair_at_liquidation: Option<Decimal>,
}

/// A mean per position with its 95 % interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EstimateView {
    pub n: usize,
    pub total: Decimal,
    pub mean: Decimal,
    pub low: Option<Decimal>,
    pub high: Option<Decimal>,
}

/// Attribution over many positions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttributionTotals {
    pub positions: usize,
    pub pnl: Decimal,
    pub spread: Decimal,
    pub fees: Decimal,
    pub liquidated_leg: Decimal,
    pub kept_leg: Decimal,
    pub liquidated: usize,
    /// Liquidated positions whose market resolved: actual − held to resolution.
    pub rule_vs_hold: Option<EstimateView>,
    /// Liquidated positions: actual − the pair sold at the liquidation.
    pub rule_vs_pair: Option<EstimateView>,
    /// Every position whose market resolved: actual − held to resolution.
    pub exits_vs_hold: Option<EstimateView>,
}

/// Two runs on the same data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ComparisonSummary {
    pub id: u64,
    pub label: String,
    pub a: u64,
    pub b: u64,
    pub pnl_a: Decimal,
    pub pnl_b: Decimal,
    pub source: String,
}

/// A comparison, drawn: both runs and their per-decision diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ComparisonView {
    pub id: u64,
    pub label: String,
    pub a: RunView,
    pub b: RunView,
    pub diff: Vec<DiffRowView>,
}

/// A market where the two runs did differently.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffRowView {
    pub market_id: String,
    pub question: String,
    pub a: String,
    pub b: String,
    pub pnl_a: Decimal,
    pub pnl_b: Decimal,
    pub pnl_diff: Decimal,
    pub positions_a: Vec<u64>,
    pub positions_b: Vec<u64>,
}

/// A sweep in a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub id: u64,
    pub label: String,
    pub source: String,
    pub variants: usize,
    pub objective: String,
    pub holdout_percent: u8,
}

/// A sweep's table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepView {
    pub summary: SweepSummary,
    /// Where the held-out part starts (Unix ms), when there is one.
    pub split_ms: Option<i64>,
    /// Best training score first.
    pub rows: Vec<SweepRowView>,
}

/// One variant of a sweep: its assignment, its in-sample figures and its held-out ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepRowView {
    pub variant: usize,
    /// `key=value` per swept axis.
    pub assignment: Vec<String>,
    pub train: MetricsView,
    pub train_score: Option<Decimal>,
    pub train_run: Option<u64>,
    pub holdout: Option<MetricsView>,
    pub holdout_score: Option<Decimal>,
    pub holdout_run: Option<u64>,
}

/// A lab job and its progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobView {
    pub id: u64,
    /// `backtest`, `comparison` or `sweep`.
    pub kind: String,
    pub label: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub percent: u8,
    /// The run in progress (from 1) of `steps`.
    pub step: usize,
    pub steps: usize,
    pub error: Option<String>,
    /// Where its results are: `/lab/runs/3`, `/lab/comparisons/2`, `/lab/sweeps/1`.
    pub results: Vec<String>,
    pub submitted_ms: i64,
}

impl JobView {
    /// Queued or running.
    #[must_use]
    pub fn active(&self) -> bool {
        matches!(self.state.as_str(), "queued" | "running")
    }
}

/// A plugin file a run can choose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PluginFileView {
    /// `scorer`, `liquidation-rules`, …
    pub kind: String,
    /// How forms name it: `plugins/<file>` or `lab/<file>`.
    pub choice: String,
    /// `name@version`.
    pub plugin: String,
    /// The bot runs it now.
    pub active: bool,
}

/// A new job as the form (or the API) asks for it; the host validates every field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabJobForm {
    /// `backtest`, `compare` or `sweep`.
    pub kind: String,
    /// `sim` or a recording's name.
    pub data: String,
    /// Simulator seeds, separated by commas or spaces.
    pub seeds: String,
    pub days: String,
    pub markets: String,
    pub label: String,
    /// Plugin file choices (empty: the bot's active plugin of that kind).
    pub a_scorer: String,
    pub a_rules: String,
    /// `engine.<setting>=value` and `<plugin>.<param>=value`, one a line.
    pub a_overrides: String,
    pub b_scorer: String,
    pub b_rules: String,
    pub b_overrides: String,
    /// Sweep axes, one a line: `engine.max_positions=1,3,6`.
    pub grid: String,
    /// `pnl`, `sharpe` or `drawdown-adjusted`.
    pub objective: String,
    /// Percent of the data held out, 0 to 90.
    pub holdout: String,
}

/// Both sides' quotes at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QuoteView {
    pub at_ms: i64,
    pub yes_bid: Option<Decimal>,
    pub yes_ask: Option<Decimal>,
    pub no_bid: Option<Decimal>,
    pub no_ask: Option<Decimal>,
}

/// A moment of a position's life to mark on its chart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MarkerView {
    pub at_ms: i64,
    /// `entry`, `liquidation`, `stop_loss`, `take_profit`, `close`, `unwind` or `resolution`.
    pub kind: String,
    /// `yes` or `no`.
    pub leg: String,
    pub price: Decimal,
}

/// One side of a position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LegDetail {
    pub outcome: String,
    pub bought: Decimal,
    pub cost: Decimal,
    pub sold: Decimal,
    pub proceeds: Decimal,
    pub fees: Decimal,
}

/// A trade of a position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabTradeView {
    pub id: u64,
    pub at_ms: i64,
    pub leg: String,
    pub action: String,
    pub purpose: String,
    pub price: Decimal,
    pub shares: Decimal,
    pub notional: Decimal,
    pub fee: Decimal,
    pub reason: String,
    /// The plugin version that decided it (`None`: the operator, the built-in rule, a
    /// settlement).
    pub decided_by: Option<String>,
}

/// A position's page: its quotes over its life, what happened and when, its trades and where
/// its P&L came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PositionDetail {
    /// The backtest run it belongs to; `None` for the live history.
    pub run: Option<u64>,
    pub position: LabPositionRow,
    pub legs: [LegDetail; 2],
    pub quotes: Vec<QuoteView>,
    pub markers: Vec<MarkerView>,
    pub trades: Vec<LabTradeView>,
}

/// One score bucket of the calibration chart: candidates scored in `[score, score + 1)` (10
/// alone in the last) and the mean P&L of their simulated trades.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BucketView {
    pub score: u8,
    pub pnl: Option<EstimateView>,
}

/// Does a higher score lead to a better trade: the run's calibration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CalibrationView {
    /// The backtest run; `None` for the bot's own history (its recordings).
    pub run: Option<u64>,
    /// Candidates on record, and those with a simulated trade.
    pub candidates: usize,
    pub simulated: usize,
    /// Ten buckets, 1 to 10.
    pub buckets: Vec<BucketView>,
    /// Rank correlation (Spearman) of the score, then of each factor, with the simulated P&L.
    pub score_correlation: Option<f64>,
    pub factors: Vec<(String, Option<f64>)>,
}
