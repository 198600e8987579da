//! The records that cross the plugin boundary (generated from `wit/plugin.wit`), plus the small
//! synthetic inputs used to canary a freshly loaded plugin.

pub use super::bindings::liquidation_rules::equilibrage::plugin::rules::{
    Action, Decision, Leg, PositionView,
};
pub use super::bindings::news_aggregator::equilibrage::plugin::news::{MarketText, NewsItem, NewsMatch};
pub use super::bindings::scorer::equilibrage::plugin::scoring::{MarketFeatures, Scores};
pub use super::bindings::types::Outcome;
pub use super::bindings::whale_analyzer::equilibrage::plugin::whales::{
    Analysis, AnalysisInput, MarketSignal, Trade, TradeSide, WalletProfile,
};

pub(crate) fn canary_market() -> MarketFeatures {
    MarketFeatures {
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
        whale_activity: 0.2,
        whale_net_flow: 0,
        news_relevance: 0.1,
        news_count: 1,
    }
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
