//! The `whale-analyzer` kind: from raw trades to whale profiles and per-market whale signals.

use crate::common::{Kind, Params, PluginInfo};
use crate::glue;
use std::marker::PhantomData;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "whale-analyzer",
        path: "../../wit",
        runtime_path: "::equilibrage_plugin_sdk::__rt::wit_bindgen::rt",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "__export_whale_analyzer_world",
        default_bindings_module: "::equilibrage_plugin_sdk::whale_analyzer::bindings",
        with: {
            "equilibrage:plugin/types@0.2.0": ::equilibrage_plugin_sdk::glue::wit_types,
            "equilibrage:plugin/host@0.2.0": ::equilibrage_plugin_sdk::glue::wit_host,
        },
    });
}

pub use bindings::equilibrage::plugin::whales::{
    Analysis, AnalysisInput, MarketSignal, Trade, TradeSide, WalletProfile,
};

/// A whale analyzer plugin.
pub trait WhaleAnalyzer {
    /// Name, version and parameters.
    fn info() -> PluginInfo;

    /// Profiles the whales among the input's wallets and summarises whale activity per market.
    /// Indices in the output refer to the input's wallet and market tables.
    ///
    /// # Errors
    /// A message the host shows as this plugin's error.
    fn analyze(params: &Params, now_ms: i64, input: &AnalysisInput) -> Result<Analysis, String>;
}

#[doc(hidden)]
#[derive(Debug)]
pub struct Glue<T>(PhantomData<T>);

impl<T: WhaleAnalyzer> bindings::Guest for Glue<T> {
    fn describe() -> bindings::PluginInfo {
        glue::describe(glue::info(T::info), Kind::WhaleAnalyzer)
    }

    fn analyze(params: Vec<f64>, now: i64, input: AnalysisInput) -> Result<Analysis, String> {
        let params = glue::params(params, &glue::info(T::info).params)?;
        T::analyze(&params, now, &input)
    }
}

/// Exports a [`WhaleAnalyzer`] implementation as this component's `whale-analyzer` world.
#[macro_export]
macro_rules! export_whale_analyzer {
    ($plugin:ty) => {
        // Natively (unit tests) nothing is exported, but the plugin type is still used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::PluginInfo = <$plugin as $crate::whale_analyzer::WhaleAnalyzer>::info;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type EquilibrageGlue = $crate::whale_analyzer::Glue<$plugin>;
            $crate::whale_analyzer::bindings::__export_whale_analyzer_world!(EquilibrageGlue with_types_in $crate::whale_analyzer::bindings);
        };
    };
}
