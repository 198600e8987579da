//! The records that cross the plugin boundary (generated from `wit/plugin.wit`), plus the small
//! synthetic inputs used to canary a freshly loaded plugin.

pub use super::bindings::liquidation_rules::equilibrage::plugin::rules::{
    Action, Decision, Leg, PositionView,
};
pub use super::bindings::news_aggregator::equilibrage::plugin::news::{MarketText, NewsItem, NewsMatch};
pub use super::bindings::scorer::equilibrage::plugin::scoring::{MarketBatch, Scores};
pub use super::bindings::types::Outcome;
pub use super::bindings::whale_analyzer::equilibrage::plugin::whales::{
    Analysis, AnalysisInput, MarketSignal, Trade, TradeSide, WalletProfile,
};

/// Everything the host knows about one candidate market, as the scorer sees it. Prices and money
/// are micro-units (1 pUSD = 1,000,000); a missing quote is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MarketFeatures {
    pub yes_bid: Option<i64>,
    pub yes_ask: Option<i64>,
    pub no_bid: Option<i64>,
    pub no_ask: Option<i64>,
    /// pUSD resting within the configured slippage of the best price, per side.
    pub yes_depth: i64,
    pub no_depth: i64,
    pub liquidity: i64,
    pub volume_24h: i64,
    /// Standard deviation of the YES mid over 24 h, price units.
    pub volatility_24h: f32,
    /// Negative once past the end date.
    pub seconds_to_end: i64,
    /// Price points behind the two trends (0: no usable history, the trends mean unknown), the
    /// YES mid's 24 h change (price units) and the 24 h volume's relative change.
    pub history_points: u32,
    pub momentum_24h: f32,
    pub volume_change_24h: f32,
    pub whale_activity: f32,
    pub whale_net_flow: i64,
    pub whale_count: u32,
    /// 0..1, 1: one whale.
    pub whale_concentration: f32,
    pub news_relevance: f32,
    pub news_count: u32,
    /// -1..1, relevance-weighted.
    pub news_sentiment: f32,
}

/// Candidate markets as the scorer world takes them: one column per feature, so a batch crosses
/// into the plugin as a few memory copies. Build one with [`MarketBatch::push`].
impl MarketBatch {
    /// An empty batch with room for `n` markets.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self {
            yes_bid: Vec::with_capacity(n),
            yes_ask: Vec::with_capacity(n),
            no_bid: Vec::with_capacity(n),
            no_ask: Vec::with_capacity(n),
            yes_depth: Vec::with_capacity(n),
            no_depth: Vec::with_capacity(n),
            liquidity: Vec::with_capacity(n),
            volume_24h: Vec::with_capacity(n),
            volatility_24h: Vec::with_capacity(n),
            seconds_to_end: Vec::with_capacity(n),
            history_points: Vec::with_capacity(n),
            momentum_24h: Vec::with_capacity(n),
            volume_change_24h: Vec::with_capacity(n),
            whale_activity: Vec::with_capacity(n),
            whale_net_flow: Vec::with_capacity(n),
            whale_count: Vec::with_capacity(n),
            whale_concentration: Vec::with_capacity(n),
            news_relevance: Vec::with_capacity(n),
            news_count: Vec::with_capacity(n),
            news_sentiment: Vec::with_capacity(n),
        }
    }

    /// A batch of `rows`.
    #[must_use]
    pub fn from_rows(rows: &[MarketFeatures]) -> Self {
        let mut batch = Self::with_capacity(rows.len());
        rows.iter().for_each(|m| batch.push(m));
        batch
    }

    /// Appends one market; a missing quote crosses as 0 (no real quote is 0).
    pub fn push(&mut self, m: &MarketFeatures) {
        self.yes_bid.push(m.yes_bid.unwrap_or(0));
        self.yes_ask.push(m.yes_ask.unwrap_or(0));
        self.no_bid.push(m.no_bid.unwrap_or(0));
        self.no_ask.push(m.no_ask.unwrap_or(0));
        self.yes_depth.push(m.yes_depth);
        self.no_depth.push(m.no_depth);
        self.liquidity.push(m.liquidity);
        self.volume_24h.push(m.volume_24h);
        self.volatility_24h.push(m.volatility_24h);
        self.seconds_to_end.push(m.seconds_to_end);
        self.history_points.push(m.history_points);
        self.momentum_24h.push(m.momentum_24h);
        self.volume_change_24h.push(m.volume_change_24h);
        self.whale_activity.push(m.whale_activity);
        self.whale_net_flow.push(m.whale_net_flow);
        self.whale_count.push(m.whale_count);
        self.whale_concentration.push(m.whale_concentration);
        self.news_relevance.push(m.news_relevance);
        self.news_count.push(m.news_count);
        self.news_sentiment.push(m.news_sentiment);
    }

    /// Number of markets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.yes_bid.len()
    }

    /// Whether the batch is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.yes_bid.is_empty()
    }

    /// Markets `range` as a batch of their own (for splitting at the batch limit).
    pub(crate) fn slice(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            yes_bid: self.yes_bid[range.clone()].to_vec(),
            yes_ask: self.yes_ask[range.clone()].to_vec(),
            no_bid: self.no_bid[range.clone()].to_vec(),
            no_ask: self.no_ask[range.clone()].to_vec(),
            yes_depth: self.yes_depth[range.clone()].to_vec(),
            no_depth: self.no_depth[range.clone()].to_vec(),
            liquidity: self.liquidity[range.clone()].to_vec(),
            volume_24h: self.volume_24h[range.clone()].to_vec(),
            volatility_24h: self.volatility_24h[range.clone()].to_vec(),
            seconds_to_end: self.seconds_to_end[range.clone()].to_vec(),
            history_points: self.history_points[range.clone()].to_vec(),
            momentum_24h: self.momentum_24h[range.clone()].to_vec(),
            volume_change_24h: self.volume_change_24h[range.clone()].to_vec(),
            whale_activity: self.whale_activity[range.clone()].to_vec(),
            whale_net_flow: self.whale_net_flow[range.clone()].to_vec(),
            whale_count: self.whale_count[range.clone()].to_vec(),
            whale_concentration: self.whale_concentration[range.clone()].to_vec(),
            news_relevance: self.news_relevance[range.clone()].to_vec(),
            news_count: self.news_count[range.clone()].to_vec(),
            news_sentiment: self.news_sentiment[range].to_vec(),
        }
    }
}

pub(crate) fn canary_market() -> MarketBatch {
    MarketBatch::from_rows(&[MarketFeatures {
        yes_bid: Some(480_000),
        yes_ask: Some(500_000),
        no_bid: Some(500_000),
        no_ask: Some(520_000),
        yes_depth: 5_000_000_000,
        no_depth: 5_000_000_000,
        liquidity: 50_000_000_000,
        volume_24h: 10_000_000_000,
        volatility_24h: 0.03,
        seconds_to_end: 14 * 86_400,
        history_points: 12,
        momentum_24h: 0.02,
        volume_change_24h: 0.1,
        whale_activity: 0.2,
        whale_net_flow: 0,
        whale_count: 1,
        whale_concentration: 1.0,
        news_relevance: 0.1,
        news_count: 1,
        news_sentiment: 0.0,
    }])
}

pub(crate) fn canary_trades(now: i64) -> AnalysisInput {
    let trade = |wallet, outcome, side| Trade {
        wallet,
        market: 0,
        outcome,
        side,
        price: 500_000,
        shares: 20_000_000_000,
        at: now - 60_000,
    };
    AnalysisInput {
        wallet_count: 2,
        market_count: 1,
        trades: vec![trade(0, Outcome::Yes, TradeSide::Buy), trade(1, Outcome::No, TradeSide::Buy)],
    }
}

pub(crate) fn canary_news(now: i64) -> (Vec<NewsItem>, Vec<MarketText>) {
    (
        vec![NewsItem {
            title: "Senate passes the infrastructure bill".into(),
            summary: "The bill now goes to the president.".into(),
            source: "canary".into(),
            published: now - 3_600_000,
        }],
        vec![MarketText {
            question: "Will the infrastructure bill pass the Senate?".into(),
            category: "politics".into(),
        }],
    )
}

pub(crate) fn canary_position() -> PositionView {
    let leg = |bid| Leg {
        shares: 10_000_000,
        entry_price: 500_000,
        best_bid: Some(bid),
        best_ask: Some(bid + 10_000),
    };
    PositionView { yes: leg(490_000), no: leg(500_000), opened_at: 0, liquidated: None }
}
