//! The `scorer` kind: score candidate markets 1–10 with a transparent factor breakdown.

use crate::common::{Kind, Params, PluginInfo};
use crate::glue;
use std::marker::PhantomData;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "scorer",
        path: "../../wit",
        runtime_path: "::equilibrage_plugin_sdk::__rt::wit_bindgen::rt",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "__export_scorer_world",
        default_bindings_module: "::equilibrage_plugin_sdk::scorer::bindings",
    });
}

pub use bindings::equilibrage::plugin::scoring::{MarketBatch, Scores};

/// Everything the host knows about one candidate market. Prices and money are micro-units.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MarketFeatures {
    /// Best YES bid; `None` when no one bids.
    pub yes_bid: Option<i64>,
    /// Best YES ask.
    pub yes_ask: Option<i64>,
    /// Best NO bid.
    pub no_bid: Option<i64>,
    /// Best NO ask.
    pub no_ask: Option<i64>,
    /// pUSD resting within the configured slippage of the best YES price.
    pub yes_depth: i64,
    /// The same for NO.
    pub no_depth: i64,
    /// The venue's liquidity figure, pUSD.
    pub liquidity: i64,
    /// pUSD traded in the last 24 h.
    pub volume_24h: i64,
    /// Standard deviation of the YES mid over 24 h, price units.
    pub volatility_24h: f32,
    /// Seconds until the end date; negative once past.
    pub seconds_to_end: i64,
    /// Price points of the last 24 h behind the two trends below; 0 when the host has no usable
    /// history, and the trends (0 then) mean "unknown", not "still".
    pub history_points: u32,
    /// The YES mid's change over the last 24 h, price units (-1..1); 0 without history.
    pub momentum_24h: f32,
    /// Relative change of the 24 h volume over the last 24 h (0.5: up 50 %); 0 without history.
    pub volume_change_24h: f32,
    /// Whale activity strength, 0..1.
    pub whale_activity: f32,
    /// Net pUSD whales put into YES (negative: into NO).
    pub whale_net_flow: i64,
    /// Whales active in the market.
    pub whale_count: u32,
    /// How concentrated the whales' volume is, 0..1 (1: a single whale).
    pub whale_concentration: f32,
    /// News relevance, 0..1.
    pub news_relevance: f32,
    /// Matched news items.
    pub news_count: u32,
    /// Relevance-weighted news sentiment, -1 (bad for YES) ..= 1 (good for YES); 0 when unknown.
    pub news_sentiment: f32,
}

impl MarketBatch {
    /// Number of markets (the length of the first column; see [`MarketBatch::check`]).
    #[must_use]
    #[inline]
    pub fn len(&self) -> usize {
        self.yes_bid.len()
    }

    /// Whether the batch holds no market.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.yes_bid.is_empty()
    }

    /// Checks that every column has one entry per market, and returns that number.
    ///
    /// # Errors
    /// When the columns do not all have the same length.
    pub fn check(&self) -> Result<usize, String> {
        let n = self.len();
        let lengths = self.other_lengths();
        if lengths.iter().any(|l| *l != n) {
            return Err(format!("market batch columns differ in length: {n} and {lengths:?}"));
        }
        Ok(n)
    }

    /// The lengths of every column but the first (whose length is the batch's).
    fn other_lengths(&self) -> [usize; 19] {
        [
            self.yes_ask.len(),
            self.no_bid.len(),
            self.no_ask.len(),
            self.yes_depth.len(),
            self.no_depth.len(),
            self.liquidity.len(),
            self.volume_24h.len(),
            self.volatility_24h.len(),
            self.seconds_to_end.len(),
            self.history_points.len(),
            self.momentum_24h.len(),
            self.volume_change_24h.len(),
            self.whale_activity.len(),
            self.whale_net_flow.len(),
            self.whale_count.len(),
            self.whale_concentration.len(),
            self.news_relevance.len(),
            self.news_count.len(),
            self.news_sentiment.len(),
        ]
    }

    /// The markets as rows, built one at a time (nothing is allocated).
    ///
    /// # Panics
    /// When a column is shorter than the first (never for a batch that passed
    /// [`MarketBatch::check`], as the export glue checks every batch).
    pub fn iter(&self) -> impl Iterator<Item = MarketFeatures> + '_ {
        let n = self.len();
        let columns = self.other_lengths();
        // One check for the whole batch instead of one per column and row: a row then reads
        // only the columns the plugin uses, with no branch (WebAssembly has few registers to
        // keep twenty column bounds in; measured in docs/benchmarks.md).
        assert!(columns.iter().all(|l| *l >= n), "market batch columns shorter than {n}: {columns:?}");
        let quote = |q: i64| (q != 0).then_some(q);
        (0..n).map(move |i| {
            // SAFETY: `i < n`, and every column holds at least `n` entries (asserted above).
            unsafe {
                MarketFeatures {
                    yes_bid: quote(*self.yes_bid.get_unchecked(i)),
                    yes_ask: quote(*self.yes_ask.get_unchecked(i)),
                    no_bid: quote(*self.no_bid.get_unchecked(i)),
                    no_ask: quote(*self.no_ask.get_unchecked(i)),
                    yes_depth: *self.yes_depth.get_unchecked(i),
                    no_depth: *self.no_depth.get_unchecked(i),
                    liquidity: *self.liquidity.get_unchecked(i),
                    volume_24h: *self.volume_24h.get_unchecked(i),
                    volatility_24h: *self.volatility_24h.get_unchecked(i),
                    seconds_to_end: *self.seconds_to_end.get_unchecked(i),
                    history_points: *self.history_points.get_unchecked(i),
                    momentum_24h: *self.momentum_24h.get_unchecked(i),
                    volume_change_24h: *self.volume_change_24h.get_unchecked(i),
                    whale_activity: *self.whale_activity.get_unchecked(i),
                    whale_net_flow: *self.whale_net_flow.get_unchecked(i),
                    whale_count: *self.whale_count.get_unchecked(i),
                    whale_concentration: *self.whale_concentration.get_unchecked(i),
                    news_relevance: *self.news_relevance.get_unchecked(i),
                    news_count: *self.news_count.get_unchecked(i),
                    news_sentiment: *self.news_sentiment.get_unchecked(i),
                }
            }
        })
    }

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

    /// Appends one market (a missing quote becomes 0).
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

    /// A batch of `rows` (how the host builds one; handy in tests).
    #[must_use]
    pub fn from_rows(rows: &[MarketFeatures]) -> Self {
        let mut batch = Self::with_capacity(rows.len());
        rows.iter().for_each(|m| batch.push(m));
        batch
    }
}

/// One market's score: `score` in 1.0..=10.0 and one value per declared factor, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MarketScore {
    /// 1.0 ..= 10.0.
    pub score: f32,
    /// One finite value per declared factor, conventionally 0..1.
    pub factors: Vec<f32>,
}

impl Scores {
    /// Room for `markets` rows of `factors` values each.
    #[must_use]
    pub fn with_capacity(markets: usize, factors: usize) -> Self {
        Self { values: Vec::with_capacity(markets), factors: Vec::with_capacity(markets * factors) }
    }

    /// Appends one market's score and factor values.
    #[inline]
    pub fn push(&mut self, score: f32, factors: &[f32]) {
        self.values.push(score);
        self.factors.extend_from_slice(factors);
    }
}

/// A scorer plugin. Implement [`Scorer::info`] and [`Scorer::score`]; override
/// [`Scorer::score_batch`] only to share work across markets or to skip the per-market `Vec`.
/// The batch a plugin receives has been checked: every column has one entry per market.
pub trait Scorer {
    /// Name, version, parameters and the factor columns every score carries.
    fn info() -> PluginInfo;

    /// Scores one market: `score` in 1.0..=10.0 and one value per declared factor.
    fn score(params: &Params, now_ms: i64, market: &MarketFeatures) -> MarketScore;

    /// Scores a batch into `out`, one row per market in input order.
    ///
    /// # Errors
    /// A message the host shows as this plugin's error; the scan is skipped.
    fn score_batch(
        params: &Params,
        now_ms: i64,
        markets: &MarketBatch,
        out: &mut Scores,
    ) -> Result<(), String> {
        let declared = glue::info(Self::info).factors.len();
        for (i, m) in markets.iter().enumerate() {
            let s = Self::score(params, now_ms, &m);
            if s.factors.len() != declared {
                return Err(format!(
                    "market {i}: {} factor values for {declared} declared factors",
                    s.factors.len()
                ));
            }
            out.push(s.score, &s.factors);
        }
        Ok(())
    }
}

/// Connects a [`Scorer`] to the generated bindings; used by [`export_scorer!`](crate::export_scorer).
#[doc(hidden)]
#[derive(Debug)]
pub struct Glue<T>(PhantomData<T>);

impl<T: Scorer> bindings::Guest for Glue<T> {
    fn describe() -> bindings::PluginInfo {
        glue::describe(glue::info(T::info), Kind::Scorer)
    }

    fn score(params: Vec<f64>, now: i64, markets: MarketBatch) -> Result<Scores, String> {
        markets.check()?;
        let info = glue::info(T::info);
        let params = glue::params(params, &info.params)?;
        let factors = info.factors.len();
        let mut out = Scores::with_capacity(markets.len(), factors);
        T::score_batch(&params, now, &markets, &mut out)?;
        // An overridden `score_batch` may still have produced the wrong shape; say so plainly.
        if out.values.len() != markets.len() || out.factors.len() != markets.len() * factors {
            return Err(format!(
                "{} scores and {} factor values for {} markets and {factors} declared factors",
                out.values.len(),
                out.factors.len(),
                markets.len()
            ));
        }
        Ok(out)
    }
}

/// Exports a [`Scorer`] implementation as this component's `scorer` world.
#[macro_export]
macro_rules! export_scorer {
    ($plugin:ty) => {
        // Natively (unit tests) nothing is exported, but the plugin type is still used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::PluginInfo = <$plugin as $crate::scorer::Scorer>::info;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type EquilibrageGlue = $crate::scorer::Glue<$plugin>;
            $crate::scorer::bindings::__export_scorer_world!(EquilibrageGlue with_types_in $crate::scorer::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_rows_with_missing_quotes_and_refuse_ragged_columns() {
        let rows = [
            MarketFeatures { yes_bid: Some(1), yes_ask: None, news_count: 3, ..MarketFeatures::default() },
            MarketFeatures { no_ask: Some(990_000), volatility_24h: 0.5, ..MarketFeatures::default() },
        ];
        let batch = MarketBatch::from_rows(&rows);
        assert_eq!(batch.check(), Ok(2));
        assert_eq!(batch.iter().collect::<Vec<_>>(), rows);
        let mut ragged = batch.clone();
        ragged.news_count.pop();
        assert!(ragged.check().unwrap_err().contains("differ in length"));
        // Longer columns than the first are read up to its length.
        let mut long = batch;
        long.whale_count.push(7);
        assert_eq!(long.iter().collect::<Vec<_>>(), rows);
    }

    #[test]
    #[should_panic(expected = "market batch columns shorter than 2")]
    fn rows_of_a_batch_with_a_short_column_are_refused_not_read_past_its_end() {
        let mut batch = MarketBatch::from_rows(&[MarketFeatures::default(), MarketFeatures::default()]);
        batch.news_sentiment.pop();
        let _ = batch.iter().count();
    }
}
