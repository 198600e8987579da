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

pub use bindings::equilibrage::plugin::scoring::{MarketFeatures, MarketScore};

/// A scorer plugin. Implement [`Scorer::info`] and [`Scorer::score`]; override
/// [`Scorer::score_batch`] only to share work across markets.
pub trait Scorer {
    /// Name, version, parameters and the factor columns every score carries.
    fn info() -> PluginInfo;

    /// Scores one market: `score` in 1.0..=10.0 and one value per declared factor.
    fn score(params: &Params, now_ms: i64, market: &MarketFeatures) -> MarketScore;

    /// Scores a batch, one result per market in input order.
    ///
    /// # Errors
    /// A message the host shows as this plugin's error; the scan is skipped.
    fn score_batch(
        params: &Params,
        now_ms: i64,
        markets: &[MarketFeatures],
    ) -> Result<Vec<MarketScore>, String> {
        Ok(markets.iter().map(|m| Self::score(params, now_ms, m)).collect())
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

    fn score(params: Vec<f64>, now: i64, markets: Vec<MarketFeatures>) -> Result<Vec<MarketScore>, String> {
        let params = glue::params(params, &glue::info(T::info).params)?;
        T::score_batch(&params, now, &markets)
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
