//! The records the bot keeps — positions, trades, order intents, opportunities, scans, whales,
//! news, price points — in exact decimals, as the store persists them and the engine uses them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One side of a binary market as the strategy names it: outcome 0 is YES, outcome 1 is NO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    Yes,
    No,
}

impl Leg {
    /// YES then NO.
    pub const BOTH: [Self; 2] = [Self::Yes, Self::No];

    /// 0 for YES, 1 for NO: the index into [`Position::legs`] and `Market::outcomes`.
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Self::Yes => 0,
            Self::No => 1,
        }
    }

    /// The other side.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Yes => Self::No,
            Self::No => Self::Yes,
        }
    }

    /// `yes` or `no`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
        }
    }
}

/// What a trade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Buy,
    Sell,
    /// The market resolved: shares paid out at 1 (winning side) or 0.
    Settle,
}

/// Why an order was placed (or a payout received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Buying one side of a new position.
    Entry,
    /// Selling the side the liquidation rule condemned.
    Liquidation,
    StopLoss,
    TakeProfit,
    /// Selling what is left, on the operator's request or a close-all decision.
    Close,
    /// Selling back the filled side of an entry whose other side could not be bought.
    Unwind,
    /// Resolution payout.
    Settlement,
}

impl Purpose {
    /// A stable lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Liquidation => "liquidation",
            Self::StopLoss => "stop_loss",
            Self::TakeProfit => "take_profit",
            Self::Close => "close",
            Self::Unwind => "unwind",
            Self::Settlement => "settlement",
        }
    }
}

/// Where a position stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionStatus {
    /// Entry orders journalled; not every answer is in yet.
    Opening,
    /// Both sides held.
    Active,
    /// One side sold by the liquidation rule, the other still held.
    Liquidated,
    /// Nothing held any more: closed by hand, by stop loss or take profit, or settled.
    Closed,
    /// An entry whose second side could not be bought: the first side was sold back.
    Unwound,
    /// An entry that bought nothing.
    Failed,
}

impl PositionStatus {
    /// Whether the position may still hold shares.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(self, Self::Opening | Self::Active | Self::Liquidated)
    }

    /// A stable lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opening => "opening",
            Self::Active => "active",
            Self::Liquidated => "liquidated",
            Self::Closed => "closed",
            Self::Unwound => "unwound",
            Self::Failed => "failed",
        }
    }
}

/// One side of a position: what was bought and what came back, before fees, and the fees.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LegState {
    /// The CLOB token of this side.
    pub token: String,
    /// The venue's name for the outcome ("Yes", "Up", a team…).
    pub outcome: String,
    /// Shares bought, and the pUSD paid for them before fees.
    pub bought: Decimal,
    pub cost: Decimal,
    /// Shares sold or settled, and the pUSD they brought before fees (a settlement pays 1 or 0).
    pub sold: Decimal,
    pub proceeds: Decimal,
    /// Fees paid on this side, buys and sells.
    pub fees: Decimal,
    /// When and why the side was left, once nothing of it is held.
    pub exited_at_ms: Option<i64>,
    pub exit: Option<Purpose>,
}

impl LegState {
    /// Shares still held.
    #[must_use]
    pub fn held(&self) -> Decimal {
        self.bought - self.sold
    }

    /// Shares that can still be sold: venues trade shares in hundredths, so a remainder below a
    /// hundredth (a buy by pUSD can leave one) is dust that counts as gone.
    #[must_use]
    pub fn sellable(&self) -> Decimal {
        self.held().max(Decimal::ZERO).trunc_with_scale(2)
    }

    /// Whether anything sellable is held.
    #[must_use]
    pub fn is_held(&self) -> bool {
        self.sellable() > Decimal::ZERO
    }

    /// Average price paid per share, before fees; zero before any buy.
    #[must_use]
    pub fn entry_price(&self) -> Decimal {
        if self.bought.is_zero() { Decimal::ZERO } else { self.cost / self.bought }
    }
}

/// A YES/NO pair bought with equal capital, and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub id: u64,
    /// The venue's condition id.
    pub market_id: String,
    pub question: String,
    pub opened_at_ms: i64,
    /// pUSD allocated at entry, both sides together (each side gets half).
    pub capital: Decimal,
    /// YES then NO.
    pub legs: [LegState; 2],
    pub status: PositionStatus,
    /// The side the liquidation rule sold, and when.
    pub liquidated: Option<Leg>,
    pub liquidated_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    /// Why the position ended (or why an entry failed), in words.
    pub close_reason: Option<String>,
    /// A close of everything still held was requested (by the operator or a close-all rule) and
    /// is not finished: the reason, kept so a restart finishes the close.
    #[serde(default)]
    pub closing: Option<String>,
    /// The opportunity score it was entered on.
    pub score: Option<f32>,
    /// The scorer version whose scan it was entered on (`name@version#<hash>`); `None` for
    /// positions stored before versions were named.
    #[serde(default)]
    pub scorer: Option<String>,
    /// The market's taker fee schedule, to price an exit: `shares × rate × (p(1−p))^exponent`.
    pub fee_rate: Decimal,
    /// Stored as a number before fractional exponents were read; both forms load.
    pub fee_exponent: Decimal,
    /// A neg-risk market: its shares are redeemed through the NegRiskAdapter.
    #[serde(default)]
    pub neg_risk: bool,
    pub updated_at_ms: i64,
    /// Increases with every change written, so a stale copy is never taken for a newer one.
    #[serde(default)]
    pub version: u64,
}

#[cfg(test)]
impl Position {
    /// A neutral position for tests (id 0, market `m`, active, empty legs, no fees, nothing
    /// liquidated or closed): a test sets what it is about with `..Position::blank()`.
    pub(crate) fn blank() -> Self {
        Self {
            id: 0,
            market_id: "m".into(),
            question: String::new(),
            opened_at_ms: 0,
            capital: Decimal::ZERO,
            legs: [LegState::default(), LegState::default()],
            status: PositionStatus::Active,
            liquidated: None,
            liquidated_at_ms: None,
            closed_at_ms: None,
            close_reason: None,
            closing: None,
            score: None,
            scorer: None,
            fee_rate: Decimal::ZERO,
            fee_exponent: Decimal::ONE,
            neg_risk: false,
            updated_at_ms: 0,
            version: 0,
        }
    }
}

impl Position {
    /// A side.
    #[must_use]
    pub fn leg(&self, leg: Leg) -> &LegState {
        &self.legs[leg.index()]
    }

    /// A side, to change.
    pub fn leg_mut(&mut self, leg: Leg) -> &mut LegState {
        &mut self.legs[leg.index()]
    }

    /// The side whose token this is.
    #[must_use]
    pub fn leg_of(&self, token: &str) -> Option<Leg> {
        Leg::BOTH.into_iter().find(|l| self.leg(*l).token == token)
    }
}

/// Settlement of a trade on the venue; only `Confirmed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    Matched,
    Mined,
    Confirmed,
    Retrying,
    Failed,
}

/// One fill of one of the bot's orders (or a resolution payout), as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeRecord {
    /// The bot's own sequence number.
    pub id: u64,
    pub position_id: u64,
    pub leg: Leg,
    pub action: Action,
    pub purpose: Purpose,
    /// The order's client id (the journal's key); empty for a settlement.
    pub client_id: String,
    /// The venue's order id; empty for a settlement.
    pub order_id: String,
    /// The venue's trade ids this fill is made of.
    pub exchange_trade_ids: Vec<String>,
    /// Average price per share before fees; shares; pUSD before fees; fee.
    pub price: Decimal,
    pub shares: Decimal,
    pub notional: Decimal,
    pub fee: Decimal,
    pub status: Settlement,
    pub tx_hash: Option<String>,
    pub at_ms: i64,
    /// Why, in words (the rule's reason, "manual close", …).
    pub reason: String,
    /// The plugin version that decided it (`name@version#<hash>`): the scorer for an entry,
    /// the liquidation rules for their exits; `None` for the operator's, the built-in rule's
    /// and settlements (and trades stored before versions were named).
    #[serde(default)]
    pub decided_by: Option<String>,
}

/// How much an intended order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentAmount {
    /// pUSD to spend (buys).
    Usd(Decimal),
    /// Shares to sell (or buy).
    Shares(Decimal),
}

/// An order the bot is about to send, journalled first: if the bot dies before the answer is
/// recorded, the next start finds it here and reconciles it with the venue's trades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Unique per order; the venue sees it as the order's client id.
    pub client_id: String,
    pub position_id: u64,
    pub leg: Leg,
    /// `Buy` or `Sell`.
    pub action: Action,
    pub purpose: Purpose,
    pub token: String,
    pub amount: IntentAmount,
    /// Fill-and-kill (take what there is) rather than fill-or-kill.
    pub fill_and_kill: bool,
    pub created_at_ms: i64,
    pub reason: String,
    /// The venue's order id, kept from its first acknowledgement (`live`, `delayed`): the order's
    /// fills are matched by it, not by token, side and time.
    #[serde(default)]
    pub order_id: Option<String>,
    /// `created_at_ms` on the venue's clock, as the bot knew the two clocks' difference when it
    /// journalled the intent (`None`: not known then). Trades are stamped on the venue's clock,
    /// so matching by time uses this, whatever either clock does before the reconciliation.
    #[serde(default)]
    pub venue_at_ms: Option<i64>,
    /// The plugin version that decided this order, as its trade will name it.
    #[serde(default)]
    pub decided_by: Option<String>,
}

/// A scored factor of an opportunity, with the weight that applied to it. The names are shared
/// by every opportunity of a scan (a scan builds each one once, not once per candidate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub name: std::sync::Arc<str>,
    pub value: f32,
    /// The scorer parameter weighing this factor, when it declares one: (name, value).
    pub weight: Option<(std::sync::Arc<str>, f64)>,
}

/// A candidate market as the last scan scored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    pub market_id: String,
    pub question: String,
    pub category: String,
    /// 1..=10 from the scorer.
    pub score: f32,
    pub factors: Vec<Factor>,
    pub yes_bid: Option<Decimal>,
    pub yes_ask: Option<Decimal>,
    pub no_bid: Option<Decimal>,
    pub no_ask: Option<Decimal>,
    /// pUSD within the slippage of the best ask, per side.
    pub yes_depth: Decimal,
    pub no_depth: Decimal,
    pub liquidity: Decimal,
    pub volume_24h: Decimal,
    pub end_ms: Option<i64>,
    pub scan_id: u64,
    pub detected_at_ms: i64,
    /// `name@version` of the scorer.
    pub scorer: String,
}

/// One run of the scanner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRecord {
    pub id: u64,
    pub started_at_ms: i64,
    pub duration_us: u64,
    /// Markets the venue listed, those passing the filters, and those scored.
    pub listed: u64,
    pub candidates: u64,
    pub scored: u64,
    pub scorer: Option<String>,
    /// Why the scan produced nothing, when it failed.
    pub error: Option<String>,
    /// What the listing left out that the operator should see: Protocol-V2 markets (not
    /// traded by this version) and listing pages that failed.
    #[serde(default)]
    pub protocol_v2: u64,
    #[serde(default)]
    pub failed_pages: u64,
}

/// A wallet trading large.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WhaleRecord {
    pub address: String,
    pub total_volume: Decimal,
    pub trade_count: u64,
    /// Condition ids of the markets it traded (shared: a scan's write copies the record of each
    /// wallet that traded, and a wallet's list runs to hundreds of markets).
    pub markets: Vec<Arc<str>>,
    pub first_seen_ms: i64,
    pub last_trade_ms: i64,
    /// What it did per market (see `feeds::whales`); records stored before this decode without.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity: Vec<WhaleMarket>,
    /// Resolved markets it bought into whose winner it had bought, and those it had not.
    #[serde(default)]
    pub wins: u32,
    #[serde(default)]
    pub losses: u32,
    /// Active in very many markets, trading both sides: not counted as conviction.
    #[serde(default)]
    pub market_maker: bool,
    /// The largest top-holder position seen (`/holders`), shares.
    #[serde(default)]
    pub top_holding: Decimal,
    /// The whale-analyzer plugin's last profile of it (`None` until a scan's analysis named it
    /// a whale; market makers are never analysed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<WhaleProfile>,
}

/// What the whale-analyzer plugin made of a wallet from the day's trades, at one scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhaleProfile {
    /// 0..1: how much weight the plugin gives this wallet's moves.
    pub weight: f32,
    /// pUSD it traded in the analysed trades, and net pUSD it put into YES (negative: into NO).
    pub volume: Decimal,
    pub net_yes_flow: Decimal,
    pub trades: u32,
    /// The scan whose analysis first gave these figures (engine clock): a profile is stored
    /// again only when the figures change.
    pub at_ms: i64,
}

/// One wallet's trading in one market: shares bought and sold per outcome (0 = YES, 1 = NO).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhaleMarket {
    pub market: Arc<str>,
    pub bought: [Decimal; 2],
    pub sold: [Decimal; 2],
    /// The winning outcome once the market resolved and the wallet's result was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<u8>,
}

/// A news item, with the markets it was matched to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewsRecord {
    /// Stable id (a hash of source and link or title), for deduplication.
    pub id: String,
    pub title: String,
    pub summary: String,
    pub source: String,
    pub url: String,
    pub published_ms: i64,
    pub fetched_ms: i64,
    pub markets: Vec<String>,
    /// Why it was matched: per market, the news-aggregator plugin's relevance and sentiment
    /// (records stored before matches were kept decode without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<NewsMarketMatch>,
}

/// One market a news item was matched to, as the news-aggregator plugin scored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewsMarketMatch {
    /// The market's condition id.
    pub market: String,
    /// 0..1: how much the item bears on the market.
    pub relevance: f32,
    /// -1..1: bad to good news for the market's first outcome ("YES").
    pub sentiment: f32,
}

/// A market's quotes at one moment, for charts and trends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricePoint {
    pub at_ms: i64,
    pub yes_bid: Option<Decimal>,
    pub yes_ask: Option<Decimal>,
    pub no_bid: Option<Decimal>,
    pub no_ask: Option<Decimal>,
    /// The venue's 24 h volume then, pUSD, where the recorder knew it (trends' volume change).
    /// Points stored before it existed decode without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_24h: Option<Decimal>,
}

/// Where a transaction the bot signed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainTxStatus {
    /// Signed and journalled; maybe sent (a crash may fall between the two).
    Signed,
    /// The node took it.
    Sent,
    /// Mined and succeeded.
    Confirmed,
    /// Mined and reverted (its gas is spent, its effect is not).
    Reverted,
    /// Never mined: another transaction took its nonce.
    Dropped,
}

impl ChainTxStatus {
    /// The status as stored and shown: `signed`, `sent`, `confirmed`, `reverted`, `dropped`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Sent => "sent",
            Self::Confirmed => "confirmed",
            Self::Reverted => "reverted",
            Self::Dropped => "dropped",
        }
    }

    /// Whether the transaction's fate is still open.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(self, Self::Signed | Self::Sent)
    }
}

/// A transaction the bot signed, journalled before it is sent: after a crash the same signed
/// bytes are sent again (same nonce, same hash), so nothing is done twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTx {
    /// `0x` + 64 hex.
    pub hash: String,
    /// `redeem` or `approve`.
    pub kind: String,
    /// In words, for the operator.
    pub what: String,
    /// The market a redemption is for.
    pub condition_id: Option<String>,
    pub nonce: u64,
    /// The signed transaction (EIP-2718 bytes, `0x` + hex).
    pub raw: String,
    pub status: ChainTxStatus,
    pub block: Option<u64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A plugin version the bot has had active, by the SHA-256 of its component, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersionRecord {
    pub sha256: String,
    /// The plugin kind as its wire name (`scorer`, `liquidation-rules`, …).
    pub kind: String,
    pub name: String,
    pub version: String,
    /// When it was the active plugin of its kind (engine clock, Unix ms), oldest first; the
    /// last one open while it still is.
    pub periods: Vec<ActivePeriod>,
}

impl PluginVersionRecord {
    /// `name@version#<first 12 hex of the hash>`: how trades and positions name the version.
    #[must_use]
    pub fn id(&self) -> String {
        version_id(&self.name, &self.version, &self.sha256)
    }

    /// Whether it is active now (its last period is open).
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.periods.last().is_some_and(|p| p.to_ms.is_none())
    }
}

/// `name@version#<first 12 hex of sha256>`: a plugin version as trades and positions name it.
#[must_use]
pub fn version_id(name: &str, version: &str, sha256: &str) -> String {
    format!("{name}@{version}#{}", sha256.get(..12).unwrap_or(sha256))
}

/// A period a plugin version was active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePeriod {
    pub from_ms: i64,
    pub to_ms: Option<i64>,
}
