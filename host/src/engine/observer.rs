//! What the engine sees and decides, told to an observer (the lab's recorder) as it happens.
//!
//! The engine owns these types so that whoever listens (a recorder, a test) depends on the
//! engine, never the other way round. Observers must return at once: they are called on the
//! engine's paths, the market feed among them.

use crate::exchange::sim::{NewsItem, WhaleTrade};
use crate::exchange::{Market, MarketEvent, OrderBook};
use crate::plugins::{PluginKind, abi};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Something the engine saw or decided, at `at_ms` on its clock.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// A market event, as the monitor takes it.
    Market(&'a MarketEvent),
    /// The venue's listing, as a scan (or an entry) took it.
    Listing(&'a [Arc<Market>]),
    /// A book snapshot the venue answered.
    Book(&'a str, &'a OrderBook),
    Whale(&'a WhaleTrade),
    News(&'a NewsItem),
    Decision(&'a Decision),
    /// What the active scorer was given and answered, told only while a shadow scorer is
    /// loaded (the shadow gets the same input).
    Scoring(&'a ScoringCall<'a>),
    /// What the liquidation rules were given and decided, told only while shadow rules are
    /// loaded.
    Rules(&'a RulesCall<'a>),
    /// What the whale analyzer was given and answered, told only while a shadow analyzer is
    /// loaded.
    WhaleAnalysis(&'a WhaleCall<'a>),
    /// What the news aggregator was given and answered, told only while a shadow aggregator is
    /// loaded.
    NewsMatching(&'a NewsCall<'a>),
}

/// The shadow kinds a scan's scoring call is told for: a shadow scorer is compared on it, and
/// whale and news shadows through the active scorer given their signals.
pub const SCORING_SHADOWS: [PluginKind; 3] =
    [PluginKind::Scorer, PluginKind::WhaleAnalyzer, PluginKind::NewsAggregator];

/// A scan's call of the scorer, with what the engine would do with its answer.
#[derive(Debug, Clone, Copy)]
pub struct ScoringCall<'a> {
    /// The `now` the scorer was given.
    pub now_ms: i64,
    pub batch: &'a abi::MarketBatch,
    /// The market of each row of `batch`.
    pub market_ids: &'a [&'a str],
    pub scored: &'a crate::plugins::Scored,
    /// The entry threshold, the free position slots and the markets held, at the scan.
    pub threshold: f32,
    pub free_slots: usize,
    pub held: &'a [&'a str],
}

/// A call of the liquidation rules and what came of it.
#[derive(Debug, Clone, Copy)]
pub struct RulesCall<'a> {
    pub now_ms: i64,
    /// The position of each view.
    pub positions: &'a [u64],
    pub views: &'a [abi::PositionView],
    /// What was decided (index into `views`), and by whom (a plugin's name or "built-in").
    pub decisions: &'a [(usize, super::Exit, String)],
    pub by: &'a str,
}

/// A scan's call of the whale analyzer. `answer` is `None` when the active analyzer failed:
/// the shadow is asked all the same.
#[derive(Debug, Clone, Copy)]
pub struct WhaleCall<'a> {
    pub now_ms: i64,
    pub input: &'a abi::AnalysisInput,
    /// The market (condition id) of each market index of `input`.
    pub market_ids: &'a [&'a str],
    pub answer: Option<&'a abi::Analysis>,
}

/// A scan's call of the news aggregator; `answer` as for [`WhaleCall`].
#[derive(Debug, Clone, Copy)]
pub struct NewsCall<'a> {
    pub now_ms: i64,
    pub items: &'a [abi::NewsItem],
    pub markets: &'a [abi::MarketText],
    /// The market (condition id) of each entry of `markets`.
    pub market_ids: &'a [&'a str],
    pub answer: Option<&'a [abi::NewsMatch]>,
}

/// The scorer's signal columns of one market, as a whale analyzer and a news aggregator set
/// them for a scan (see the WIT's `market-batch`). Markets without a signal have all zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalColumns {
    pub whale_activity: f32,
    /// Net pUSD whales put into YES, micro-units.
    pub whale_net_flow: i64,
    pub whale_count: u32,
    pub whale_concentration: f32,
    pub news_relevance: f32,
    pub news_count: u32,
    /// Relevance-weighted mean sentiment of the matched items (-1..1); 0 when none.
    pub news_sentiment: f32,
    /// Σ relevance of the matched items, the weight behind `news_sentiment`.
    #[serde(skip)]
    news_weight: f32,
}

impl SignalColumns {
    /// The whale columns of every market an analysis names (`market_ids` by its market index).
    pub fn add_whales(
        out: &mut crate::fast_hash::FastHashMap<String, Self>,
        analysis: &abi::Analysis,
        market_ids: &[&str],
    ) {
        for s in &analysis.markets {
            if let Some(id) = usize::try_from(s.market).ok().and_then(|i| market_ids.get(i)) {
                out.entry((*id).to_owned()).or_default().set_whales(s);
            }
        }
    }

    /// Sets the whale columns to a market's signal from an analysis.
    pub fn set_whales(&mut self, s: &abi::MarketSignal) {
        self.whale_activity = s.activity;
        self.whale_net_flow = s.net_yes_flow;
        self.whale_count = s.whale_count;
        self.whale_concentration = s.concentration;
    }

    /// Adds one news match to the market's news columns: the highest relevance, one more item,
    /// and a running relevance-weighted mean of the sentiment (items that matter more lean it
    /// more).
    pub fn add_news(&mut self, m: &abi::NewsMatch) {
        self.news_relevance = self.news_relevance.max(m.relevance);
        self.news_count += 1;
        self.news_weight += m.relevance;
        if self.news_weight > 0.0 {
            self.news_sentiment += (m.sentiment - self.news_sentiment) * m.relevance / self.news_weight;
        }
    }

    /// The news columns of every market the matches name (`market_ids` by market index).
    pub fn add_all_news(
        out: &mut crate::fast_hash::FastHashMap<String, Self>,
        matches: &[abi::NewsMatch],
        market_ids: &[&str],
    ) {
        for m in matches {
            if let Some(id) = usize::try_from(m.market).ok().and_then(|i| market_ids.get(i)) {
                out.entry((*id).to_owned()).or_default().add_news(m);
            }
        }
    }
}

/// Listens to the engine (see the module doc).
pub trait Observer: Send + Sync {
    /// Called as it happens; must not block.
    fn seen(&self, at_ms: i64, what: Seen<'_>);

    /// Whether it looks at market events ([`Seen::Market`], most of what the engine sees): the
    /// engine does not tell one that does not (a backtest's decision log), nor read its clock
    /// for it.
    fn wants_market_events(&self) -> bool {
        true
    }
}

/// A scored candidate of a scan, as compact as the comparison of two runs needs. The market id
/// is shared: a backtest keeps every scan's candidates, the same few hundred markets each time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub market_id: Arc<str>,
    pub score: f32,
    /// Factor values in the order the scorer declares its factors.
    pub factors: Vec<f32>,
}

/// What the engine decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// A scan starts (its listing and books follow, then [`Decision::Scanned`]).
    ScanStarted {
        scan_id: u64,
    },
    /// A scan's result: the scorer (`name@version`), its factor names, and every candidate
    /// kept, best first (shared: a backtest keeps every scan's for its report without copying
    /// them). `error` when the scan failed.
    Scanned {
        scan_id: u64,
        scorer: Option<String>,
        factors: Vec<String>,
        candidates: Arc<[Scored]>,
        error: Option<String>,
    },
    /// A safety sweep starts, and ends.
    SweepStarted,
    SweepEnded,
    /// A position was opened on a market (its orders follow).
    Entry {
        position: u64,
        market_id: String,
        capital: Decimal,
        score: Option<f32>,
    },
    /// The rules decided an exit.
    Exit {
        position: u64,
        action: String,
        reason: String,
        by: String,
    },
    /// An order sent, and what came of it.
    Order {
        position: u64,
        client_id: String,
        token: String,
        side: String,
        amount: Decimal,
        by_usd: bool,
    },
    Fill {
        client_id: String,
        shares: Decimal,
        notional: Decimal,
        fee: Decimal,
        outcome: String,
    },
    /// A shadow scorer's answer to a scan's input (never acted on): every candidate's score,
    /// and the markets it would have entered under the settings then.
    ShadowScored {
        scorer: String,
        factors: Vec<String>,
        candidates: Vec<Scored>,
        would_enter: Vec<String>,
    },
    /// A shadow whale analyzer's or news aggregator's answer to a scan's input (never acted
    /// on): the signal columns it would have given the scorer, per market it names, and the
    /// markets the active scorer would then have entered (empty when the scan scored nothing).
    ShadowSignals {
        by: String,
        plugin_kind: String,
        markets: Vec<(String, SignalColumns)>,
        would_enter: Vec<String>,
    },
    /// A shadow rules plugin's decision (never acted on), with the best bid of each side then.
    ShadowExit {
        position: u64,
        action: String,
        reason: String,
        by: String,
        bids: [Option<Decimal>; 2],
    },
}
