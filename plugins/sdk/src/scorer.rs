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

pub use bindings::equilibrage::plugin::scoring::{MarketFeatures, Scores};

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
    pub fn push(&mut self, score: f32, factors: &[f32]) {
        self.values.push(score);
        self.factors.extend_from_slice(factors);
    }
}

/// A scorer plugin. Implement [`Scorer::info`] and [`Scorer::score`]; override
/// [`Scorer::score_batch`] only to share work across markets or to skip the per-market `Vec`.
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
        markets: &[MarketFeatures],
        out: &mut Scores,
    ) -> Result<(), String> {
        let declared = glue::info(Self::info).factors.len();
        for (i, m) in markets.iter().enumerate() {
            let s = Self::score(params, now_ms, m);
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

    fn score(params: Vec<f64>, now: i64, markets: Vec<MarketFeatures>) -> Result<Scores, String> {
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
