//! Shadow whale analyzers and news aggregators: how their signals compare with the active
//! plugin's, and what the active scorer would have made of them, scan by scan.
//!
//! Their answers feed the scorer, so their consequence is measured through it: the scan's batch
//! is scored again by the active scorer with the shadow's signal columns in place of the active
//! plugin's, and that rescoring is compared with the scan as it was, like a shadow scorer
//! (entries, score differences, and the picks bought on paper).

use super::board::{ScorerShadow, ShadowIdentity, ratio};
use crate::engine::SignalColumns;
use crate::fast_hash::FastHashMap;
use crate::plugins::{PluginKind, abi};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Whale activities this close (0..1) are the same signal.
pub const SAME_ACTIVITY: f32 = 0.01;

/// A shadow whale analyzer or news aggregator against the active one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalShadow {
    pub id: ShadowIdentity,
    /// Calls where both answered, and so were compared.
    pub calls: u64,
    /// What was compared over those calls, and what the two agreed on: for whales, the markets
    /// either gave a signal (the same when both give the same whale count and activities within
    /// [`SAME_ACTIVITY`]); for news, the item–market matches either made (the same when both
    /// made it).
    pub compared: u64,
    pub agreed: u64,
    /// The scans rescored by the active scorer with the shadow's signals, against the scans as
    /// they were (its `id` is unused).
    pub effect: ScorerShadow,
}

impl SignalShadow {
    #[must_use]
    pub fn agreement(&self) -> Option<f64> {
        ratio(self.agreed, self.compared)
    }

    /// Takes in one compared call.
    pub(super) fn count(&mut self, (compared, agreed): (u64, u64)) {
        self.calls += 1;
        self.compared += compared;
        self.agreed += agreed;
    }
}

/// Markets either analysis gives a signal, and those whose signals agree.
pub(super) fn compare_whales(active: &abi::Analysis, shadow: &abi::Analysis) -> (u64, u64) {
    let by_market = |a: &abi::Analysis| -> BTreeMap<u32, (u32, f32)> {
        a.markets.iter().map(|s| (s.market, (s.whale_count, s.activity))).collect()
    };
    let (a, s) = (by_market(active), by_market(shadow));
    let markets: BTreeSet<u32> = a.keys().chain(s.keys()).copied().collect();
    let agreed = markets
        .iter()
        .filter(|m| match (a.get(m), s.get(m)) {
            (Some((ca, xa)), Some((cs, xs))) => ca == cs && (xa - xs).abs() <= SAME_ACTIVITY,
            _ => false,
        })
        .count();
    (markets.len() as u64, agreed as u64)
}

/// Item–market matches either aggregator made, and those both made.
pub(super) fn compare_news(active: &[abi::NewsMatch], shadow: &[abi::NewsMatch]) -> (u64, u64) {
    let pairs =
        |m: &[abi::NewsMatch]| -> BTreeSet<(u32, u32)> { m.iter().map(|m| (m.item, m.market)).collect() };
    let (a, s) = (pairs(active), pairs(shadow));
    (a.union(&s).count() as u64, a.intersection(&s).count() as u64)
}

/// A shadow's signals waiting for the scan that scores them.
#[derive(Debug)]
pub(super) struct Pending {
    pub now_ms: i64,
    pub at_ms: i64,
    pub by: String,
    pub columns: FastHashMap<String, SignalColumns>,
}

impl Pending {
    /// The markets it gives signals for, in id order (for the recording).
    pub fn markets(&self) -> Vec<(String, SignalColumns)> {
        let mut out: Vec<_> = self.columns.iter().map(|(id, c)| (id.clone(), *c)).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// `batch` with the columns of `kind` (whales or news) taken from `columns` by market id, a
/// market it does not name getting zeros, as a scan gives a market without signals.
pub(super) fn with_columns(
    batch: &abi::MarketBatch,
    ids: &[String],
    kind: PluginKind,
    columns: &FastHashMap<String, SignalColumns>,
) -> abi::MarketBatch {
    let mut out = batch.clone();
    for (i, id) in ids.iter().enumerate() {
        let c = columns.get(id).copied().unwrap_or_default();
        let set = |col: &mut Vec<f32>, v: f32| {
            if let Some(x) = col.get_mut(i) {
                *x = v;
            }
        };
        match kind {
            PluginKind::WhaleAnalyzer => {
                set(&mut out.whale_activity, c.whale_activity);
                set(&mut out.whale_concentration, c.whale_concentration);
                if let Some(x) = out.whale_net_flow.get_mut(i) {
                    *x = c.whale_net_flow;
                }
                if let Some(x) = out.whale_count.get_mut(i) {
                    *x = c.whale_count;
                }
            }
            PluginKind::NewsAggregator => {
                set(&mut out.news_relevance, c.news_relevance);
                set(&mut out.news_sentiment, c.news_sentiment);
                if let Some(x) = out.news_count.get_mut(i) {
                    *x = c.news_count;
                }
            }
            PluginKind::Scorer | PluginKind::LiquidationRules => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(market: u32, whale_count: u32, activity: f32) -> abi::MarketSignal {
        abi::MarketSignal { market, activity, net_yes_flow: 0, whale_count, concentration: 1.0 }
    }

    fn analysis(markets: Vec<abi::MarketSignal>) -> abi::Analysis {
        abi::Analysis { whales: Vec::new(), markets }
    }

    #[test]
    fn whale_signals_agree_on_the_same_count_and_a_close_activity() {
        let active = analysis(vec![signal(0, 2, 0.50), signal(1, 1, 0.30), signal(2, 3, 0.90)]);
        // Market 0 within 0.01, market 1 another count, market 2 only the active's, market 3
        // only the shadow's.
        let shadow = analysis(vec![signal(0, 2, 0.505), signal(1, 2, 0.30), signal(3, 1, 0.1)]);
        assert_eq!(compare_whales(&active, &shadow), (4, 1));
        assert_eq!(compare_whales(&active, &active), (3, 3));
        assert_eq!(compare_whales(&analysis(vec![]), &analysis(vec![])), (0, 0));
    }

    #[test]
    fn news_matches_agree_when_both_make_them() {
        let m = |item, market, relevance| abi::NewsMatch { item, market, relevance, sentiment: 0.0 };
        // The same pair at another relevance still agrees: both matched it.
        let active = vec![m(0, 0, 0.9), m(0, 1, 0.5), m(1, 1, 0.5)];
        let shadow = vec![m(0, 0, 0.2), m(2, 1, 0.5)];
        assert_eq!(compare_news(&active, &shadow), (4, 1));
        let mut s = SignalShadow::default();
        s.count(compare_news(&active, &shadow));
        s.count(compare_news(&active, &active));
        assert_eq!((s.calls, s.compared, s.agreed), (2, 7, 4));
        assert!((s.agreement().unwrap() - 4.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn a_rescoring_batch_takes_the_shadows_columns_of_its_kind_only() {
        let rows: Vec<abi::MarketFeatures> = (0..3)
            .map(|i| abi::MarketFeatures {
                whale_activity: 0.5,
                whale_count: 2,
                whale_net_flow: 7,
                news_relevance: 0.25,
                news_count: i,
                ..abi::MarketFeatures::default()
            })
            .collect();
        let batch = abi::MarketBatch::from_rows(&rows);
        let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut columns = FastHashMap::default();
        let mut b = SignalColumns::default();
        (b.whale_activity, b.whale_count, b.news_relevance) = (0.9, 5, 1.0);
        columns.insert("b".to_owned(), b);
        let whales = with_columns(&batch, &ids, PluginKind::WhaleAnalyzer, &columns);
        assert_eq!(whales.whale_activity, vec![0.0, 0.9, 0.0], "a market it does not name has none");
        assert_eq!(whales.whale_count, vec![0, 5, 0]);
        assert_eq!(whales.whale_net_flow, vec![0, 0, 0]);
        assert_eq!(whales.news_relevance, batch.news_relevance, "the news columns stay the scan's");
        let news = with_columns(&batch, &ids, PluginKind::NewsAggregator, &columns);
        assert_eq!(news.news_relevance, vec![0.0, 1.0, 0.0]);
        assert_eq!(news.news_count, vec![0, 0, 0]);
        assert_eq!(news.whale_activity, batch.whale_activity, "the whale columns stay the scan's");
        assert_eq!(news.yes_bid, batch.yes_bid);
    }
}
