//! What the dashboard and the JSON API show and accept: plain data the host fills in, money and
//! prices as exact decimals (serialised as strings, never as floats).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

mod chain;
mod floats;
mod shadows;
pub use chain::{ChainBalancesView, ChainTxView, ChainView, RedemptionView};
pub use shadows::{PeriodView, PicksView, PluginVersionView, ShadowAction, ShadowDiffView, ShadowView};

/// The venue the bot trades on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VenueView {
    /// `sim`, `paper` or `live`.
    pub mode: String,
    pub open_markets: usize,
    /// The venue's clock (simulated time for the simulator), Unix milliseconds.
    pub now_ms: i64,
    /// pUSD available at the venue, as an exact decimal string ("…" until known).
    pub cash: String,
}

/// Capital, P&L, quick statistics and health: the top of the dashboard and
/// `GET /api/dashboard/overview`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Overview {
    /// Cash plus open positions marked at their best bids, net of exit fees.
    pub total_capital: Decimal,
    /// Cash not in any position.
    pub available_capital: Decimal,
    /// Cost of the shares open positions still hold.
    pub allocated_capital: Decimal,
    pub initial_capital: Decimal,
    pub realised_pnl: Decimal,
    pub unrealised_pnl: Decimal,
    /// Realised plus unrealised.
    pub total_pnl: Decimal,
    /// P&L of the positions closed today (UTC day, on the venue's clock) plus the P&L of the
    /// positions still open.
    pub today_pnl: Decimal,
    pub fees: Decimal,
    pub active_positions: usize,
    pub stats: QuickStats,
    pub health: Health,
}

/// Statistics over closed positions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QuickStats {
    pub closed_positions: u64,
    pub wins: u64,
    pub losses: u64,
    /// Wins over closed positions, percent; `None` before the first close.
    pub win_rate_percent: Option<Decimal>,
    /// Sides sold by the liquidation rule, in open and closed positions.
    pub liquidations: u64,
    /// Mean time from entry to close, seconds; `None` before the first close.
    pub avg_hold_secs: Option<u64>,
    /// Best and worst P&L of a closed position.
    pub best_pnl: Option<Decimal>,
    pub worst_pnl: Option<Decimal>,
}

/// The engine and plugins in a few words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Who decides exits: "plugin equilibrage" or "built-in rule (why)".
    pub rules: String,
    /// True when the built-in rule stands in for a missing or faulting liquidation plugin.
    pub rules_builtin: bool,
    pub last_scan_ms: Option<i64>,
    pub last_scan_error: Option<String>,
    /// Orders journalled and not yet reconciled.
    pub pending_orders: usize,
    pub last_error: Option<String>,
    /// Loaded plugins, of which faulting (a fault in their last calls).
    pub plugins_loaded: usize,
    pub plugins_faulting: usize,
    pub venue: String,
    pub venue_time_ms: i64,
    /// The supervised background loops.
    pub loops: Vec<LoopView>,
    /// Why the safety net of open positions (the feed or the sweep) is down, when it is.
    pub safety_net_down: Option<String>,
    /// The notification channels and how their deliveries go.
    pub notifications: Vec<NotifyChannelView>,
}

/// A notification channel and the events it is told (Settings, `/api/notifications`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifyEventsView {
    pub name: String,
    /// `telegram`, `webhook` or `ntfy`.
    pub kind: String,
    /// Every event there is, in order, and whether this channel is told it.
    pub events: Vec<NotifyEventChoice>,
}

/// One event a channel may be told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifyEventChoice {
    /// `entry`, `liquidation`, … (what `PUT /api/notifications/{channel}` takes).
    pub event: String,
    pub label: String,
    pub on: bool,
}

/// A notification channel (`[[notify.channels]]`) and how its deliveries go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifyChannelView {
    pub name: String,
    /// `telegram`, `webhook` or `ntfy`.
    pub kind: String,
    pub sent: u64,
    /// Failed after every retry.
    pub failed: u64,
    /// Dropped because the channel's queue was full.
    pub dropped: u64,
    pub retries: u64,
    pub last_sent_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// The last delivery failed and none succeeded since.
    pub failing: bool,
    /// Telegram: commands answered, and messages from chats not allowed (ignored).
    pub commands: u64,
    pub ignored: u64,
}

/// A supervised background loop: restarted with backoff when it panics or returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoopView {
    /// `feed`, `sweep`, `scan`, `plugins` or `signals`.
    pub name: String,
    /// Part of the safety net of open positions (the feed and the sweep).
    pub safety_net: bool,
    pub running: bool,
    pub restarts: u64,
    pub last_failure: Option<String>,
    pub last_failure_ms: Option<i64>,
}

/// YES or NO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Yes,
    No,
}

impl Side {
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Yes => "YES",
            Self::No => "NO",
        }
    }
}

/// One side of a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegView {
    pub side: Side,
    /// The venue's name for the outcome ("Yes", "Up", a team…).
    pub outcome: String,
    pub token: String,
    /// Mean price paid per share; `None` before the first fill.
    pub entry_price: Option<Decimal>,
    /// pUSD paid for the shares bought, before fees.
    pub cost: Decimal,
    pub bought: Decimal,
    pub held: Decimal,
    pub best_bid: Option<Decimal>,
    pub best_ask: Option<Decimal>,
    pub realised_pnl: Decimal,
    pub unrealised_pnl: Decimal,
    pub fees: Decimal,
    /// Why the side was left ("liquidation", "stop_loss", …), once nothing of it is held.
    pub exit: Option<String>,
}

/// A position, open or closed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionView {
    pub id: u64,
    pub market_id: String,
    pub question: String,
    /// `opening`, `active`, `liquidated`, `closing`, `closed`, `resolved`, `unwound`, `failed`…
    pub status: String,
    pub open: bool,
    pub opened_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// pUSD allocated at entry, both sides together.
    pub capital: Decimal,
    /// YES then NO.
    pub legs: [LegView; 2],
    /// The side the liquidation rule sold.
    pub liquidated: Option<Side>,
    pub close_reason: Option<String>,
    #[serde(serialize_with = "floats::score_opt")]
    pub score: Option<f32>,
    /// The scorer version whose scan it was entered on (`name@version#<hash>`).
    pub scorer: Option<String>,
    pub realised_pnl: Decimal,
    pub unrealised_pnl: Decimal,
    pub pnl: Decimal,
    pub fees: Decimal,
}

/// One fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeView {
    pub id: u64,
    pub position_id: u64,
    pub market_id: String,
    pub question: String,
    pub at_ms: i64,
    pub side: Side,
    /// `buy` or `sell`.
    pub action: String,
    /// `entry`, `liquidation`, `stop_loss`, `take_profit`, `close`, `unwind`, `settlement`…
    pub purpose: String,
    pub price: Decimal,
    pub shares: Decimal,
    pub notional: Decimal,
    pub fee: Decimal,
    /// The venue's settlement status (`matched`, `confirmed`, `failed`…).
    pub status: String,
    pub tx_hash: Option<String>,
    pub reason: String,
    /// The plugin version that decided it (`name@version#<hash>`): the scorer for entries, the
    /// liquidation rules for their exits; `None` for the operator's, the built-in rule's and
    /// settlements.
    pub decided_by: Option<String>,
}

/// Trades found for a filter, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TradeList {
    pub trades: Vec<TradeView>,
    /// False when the search stopped after examining as many trades as one request may (the
    /// newest ones): older matches, if any, are left out. The CSV export searches them all.
    pub complete: bool,
}

/// How a closed position ended, for the History filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// P&L above zero.
    Win,
    /// P&L below zero.
    Loss,
    /// Exactly zero.
    Even,
}

/// The History page's and the CSV export's filter. Every field is optional; dates are inclusive
/// Unix milliseconds on the venue's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Matches the market id exactly or any part of the question, ignoring case.
    pub market: Option<String>,
    pub outcome: Option<Outcome>,
}

/// A page of closed positions, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistoryPage {
    pub positions: Vec<PositionView>,
    /// Positions matching the filter, all pages together, and their P&L.
    pub total: usize,
    pub total_pnl: Decimal,
    pub offset: usize,
    pub limit: usize,
}

/// `GET /api/dashboard/performance` and the History charts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Performance {
    pub initial_capital: Decimal,
    /// Realised equity after each close, oldest first: (Unix ms, pUSD). Starts at the initial
    /// capital.
    pub equity: Vec<(i64, Decimal)>,
    /// P&L of each closed position, in the order they closed: (position id, close time, P&L).
    pub per_position: Vec<(u64, i64, Decimal)>,
    pub stats: QuickStats,
    /// Of the closed positions: the equity curve ends at initial capital plus this.
    pub realised_pnl: Decimal,
    /// Realised so far in the open positions (legs sold, fees paid), not in the curve yet.
    pub open_realised_pnl: Decimal,
    pub fees: Decimal,
}

/// One factor of a score, shown so a person sees why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorView {
    pub name: String,
    #[serde(serialize_with = "floats::shortest")]
    pub value: f32,
    /// The scorer parameter weighing this factor, when it declares one.
    pub weight: Option<f64>,
}

/// An opportunity of the last scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpportunityView {
    pub market_id: String,
    pub question: String,
    pub category: String,
    /// 1..=10, to 2 decimals in JSON.
    #[serde(serialize_with = "floats::score")]
    pub score: f32,
    pub factors: Vec<FactorView>,
    pub yes_ask: Option<Decimal>,
    pub no_ask: Option<Decimal>,
    pub liquidity: Decimal,
    pub volume_24h: Decimal,
    pub end_ms: Option<i64>,
    pub detected_at_ms: i64,
    /// `name@version` of the scorer.
    pub scorer: String,
    /// A position on this market is open.
    pub held: bool,
}

/// One run of the scanner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanView {
    pub id: u64,
    pub started_at_ms: i64,
    pub duration_ms: u64,
    pub listed: u64,
    pub candidates: u64,
    pub scored: u64,
    pub error: Option<String>,
    /// Protocol-V2 markets the listing left out (this version does not trade them).
    pub protocol_v2: u64,
    /// Listing pages that failed: their markets are missing from the scan.
    pub failed_pages: u64,
}

/// How a setting is edited.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "input", rename_all = "lowercase")]
pub enum FieldInput {
    /// On or off.
    Toggle,
    /// A slider with its number beside it.
    Range { min: f64, max: f64, step: f64 },
    /// A number box; `max` when bounded.
    Number { min: f64, max: Option<f64>, step: f64 },
}

/// One setting as the Settings form shows it; generated by the host, which owns validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingField {
    /// The key in `GET/PUT /api/config` and the form field's name.
    pub name: String,
    pub label: String,
    pub help: String,
    pub input: FieldInput,
    /// The value in force (a JSON bool, number or decimal string).
    pub value: serde_json::Value,
    /// Shown after the value ("%", "s", "pUSD").
    pub unit: String,
}

/// The wallet as the dashboard may show it: never the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WalletView {
    pub address: Option<String>,
    /// `eoa`, `proxy`, `gnosis-safe` or `deposit`.
    pub signature_type: String,
    pub funder: Option<String>,
    /// A key is stored (encrypted) or given to the process.
    pub key_present: bool,
    /// What the operator should know: where the key comes from, what is missing.
    pub note: String,
}

/// A key for the wallet, as posted once from the Settings page or `POST /api/config/wallet`,
/// with the password that encrypts it. Neither is ever echoed, logged or shown.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletForm {
    pub private_key: String,
    pub password: String,
}

impl std::fmt::Debug for WalletForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletForm")
            .field("private_key", &"<redacted>")
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How one wallet-doctor check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DoctorStatus {
    Pass,
    /// Works, with something to know.
    Warn,
    /// Live trading will not work until the fix is applied.
    Fail,
    /// Not run: not asked for, not live mode, or an earlier check failed.
    Skipped,
}

/// One check of the wallet doctor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorCheck {
    /// `wallet`, `api_key`, `balance`, `allowance` or `test_order`.
    pub id: String,
    pub name: String,
    pub status: DoctorStatus,
    pub detail: String,
    /// What to do about it, in plain words.
    pub fix: Option<String>,
}

/// The wallet doctor's answer (`POST /api/wallet/doctor`, the Settings page's wallet check):
/// live trading's wallet setup checked at the exchange. Never carries a key or secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DoctorView {
    /// The signing key's address.
    pub address: Option<String>,
    pub signature_type: String,
    pub funder: Option<String>,
    /// No check failed.
    pub ok: bool,
    pub checks: Vec<DoctorCheck>,
}

/// The settings page and `GET /api/config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SettingsView {
    pub fields: Vec<SettingField>,
    pub wallet: WalletView,
}

/// A loaded plugin as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginView {
    pub kind: String,
    pub name: String,
    pub version: String,
    /// Serves calls of its kind (several of one kind may be loaded; one is active).
    pub active: bool,
    pub file: String,
    pub sha256: String,
    pub loaded_at_ms: i64,
    pub calls: u64,
    pub faults: u64,
    pub errors: u64,
    pub mean_us: u64,
    pub last_error: Option<String>,
    pub params: Vec<ParamView>,
}

/// One parameter of a plugin, from its `describe()`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamView {
    pub name: String,
    pub value: f64,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub help: String,
}

/// A file of the plugin directory that failed to load, and why (the old version, if any, keeps
/// serving).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFile {
    pub file: String,
    pub at_ms: i64,
    pub error: String,
}

/// A wallet trading large.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhaleView {
    pub address: String,
    pub total_volume: Decimal,
    pub trade_count: u64,
    pub markets: usize,
    pub first_seen_ms: i64,
    pub last_trade_ms: i64,
    /// Realised win rate, percent, where the history allows.
    pub win_rate_percent: Option<f64>,
    /// Active in very many markets on both sides: not counted as conviction.
    pub market_maker: bool,
    /// Resolved markets it bought into: won, lost (the win rate's basis).
    pub wins: u32,
    pub losses: u32,
    /// Markets where it traded both sides (YES and NO, or bought and sold one outcome).
    pub two_sided_markets: usize,
    /// Its largest position among a market's top holders, shares (0: never seen there).
    pub top_holding: Decimal,
    /// The whale-analyzer plugin's last profile of it: the weight it gives this wallet's moves
    /// (0..1) and the net pUSD it put into YES in the analysed day (negative: into NO); `None`
    /// until a scan analysed it (market makers never are).
    pub weight: Option<f32>,
    pub net_yes_flow: Option<Decimal>,
}

/// One market of a whale's activity (`GET /api/whales/{address}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhaleMarketView {
    pub market: String,
    /// Shares bought and sold, YES then NO.
    pub bought: [Decimal; 2],
    pub sold: [Decimal; 2],
    /// The winning outcome (0 YES, 1 NO) once resolved and counted.
    pub settled: Option<u8>,
}

/// `GET /api/whales/{address}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhaleDetail {
    pub whale: WhaleView,
    /// The markets it traded: (market id, question where known).
    pub markets: Vec<(String, String)>,
    /// What it did per market (bounded; see the whale tracker in docs/operations.md).
    pub activity: Vec<WhaleMarketView>,
}

/// A news item and the markets it was matched to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewsView {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub source: String,
    pub url: String,
    pub published_ms: i64,
    pub markets: Vec<String>,
    /// Why: per matched market, the news-aggregator plugin's relevance (0..1) and sentiment
    /// (-1..1, bad to good news for "YES"); most relevant first.
    pub matches: Vec<NewsMatchView>,
}

/// One market a news item was matched to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewsMatchView {
    pub market: String,
    pub relevance: f32,
    pub sentiment: f32,
}

/// One configured news source and how its fetches go (`GET /api/info/news/sources`). Times are
/// the bot's wall clock (Unix ms), also in the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewsSourceView {
    /// `feed` (RSS / Atom) or `json-api`.
    pub kind: String,
    /// Its URL, any credential in it (`?apiKey=…`, `user:password@`) redacted.
    pub url: String,
    /// When it was last asked, and last answered usefully (content that parsed, or a 304).
    pub last_attempt_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
    /// Items in its last answer with content, and how many of them were new.
    pub last_items: usize,
    pub last_new: usize,
    /// Its last useful answer was `304 Not Modified`: nothing changed.
    pub not_modified: bool,
    /// Failures in a row (0 when its last attempt succeeded).
    pub failures: u32,
    /// Why its last attempt failed (outside text: escape it), credentials redacted.
    pub last_error: Option<String>,
    /// While it backs off after failures: when it is tried again.
    pub retry_at_ms: Option<i64>,
}

/// The whale tracker's status (`GET /api/info/whales/tracker`): the Data API it reads, how its
/// last poll went and when it polls next. Times are the bot's clock (Unix ms; the wall clock in
/// paper and live mode, the only modes it runs in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhaleTrackerView {
    /// The Data API root as configured.
    pub data_url: String,
    /// Seconds between polls.
    pub interval_secs: u64,
    /// When the last poll started, and how long it took (milliseconds).
    pub last_poll_ms: Option<i64>,
    pub last_poll_duration_ms: Option<u64>,
    /// When the last successful poll started (one with at least one request answered).
    pub last_success_ms: Option<i64>,
    /// The last look found no market to poll (no scan yet and nothing held).
    pub idle: bool,
    /// The last poll: markets asked about, `/trades` records received and new trades handed to
    /// the engine, malformed records skipped, holder entries recorded.
    pub markets: usize,
    pub trades_received: usize,
    pub trades_new: usize,
    pub skipped: usize,
    pub holders: usize,
    /// `/trades` pages read, and request groups (20 markets) whose paging stopped at the page
    /// cap (`max_pages`) with trades left unread.
    pub pages: usize,
    pub capped: usize,
    /// Requests of the last poll that failed after their retries.
    pub failed_requests: usize,
    /// Failed polls in a row (0 after a successful one).
    pub failures: u32,
    /// The last poll's last error (outside text: escape it); `null` when nothing of it failed.
    pub last_error: Option<String>,
    /// When it polls next.
    pub next_poll_ms: Option<i64>,
}

/// A market's recent movement, from stored price history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendView {
    pub market_id: String,
    pub question: String,
    /// YES mid now, and its change over the window, in price points.
    pub yes_mid: Option<Decimal>,
    pub change: Option<Decimal>,
    /// Standard deviation of YES mid changes over the window (plugins and trends may use floats).
    pub volatility: Option<f64>,
    pub points: usize,
    pub window_secs: u64,
    /// The same moves scaled to a day (what the scorer's `volatility_24h` gets), price units.
    pub volatility_24h: Option<f64>,
    /// The venue's 24 h volume at the window's last point, and its change over the window, pUSD.
    pub volume_24h: Option<Decimal>,
    pub volume_change: Option<Decimal>,
}

/// What a live event is about; WebSocket clients subscribe by topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// `position_update`, `trade_executed`.
    Positions,
    /// `new_opportunity`, `scan_completed`.
    Opportunities,
    /// Plugin loads, rejections, faults, who decides exits.
    Plugins,
    /// Errors and everything else.
    System,
}

/// One live event: its topic and its JSON text (an object with a `type` field such as
/// `position_update`), serialised once by the host and sent as is to every subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub topic: Topic,
    pub json: std::sync::Arc<str>,
}
