//! The `news-aggregator` kind: match news items to the markets they move.

use crate::common::{Kind, Params, PluginInfo};
use crate::glue;
use std::marker::PhantomData;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "news-aggregator",
        path: "../../wit",
        runtime_path: "::equilibrage_plugin_sdk::__rt::wit_bindgen::rt",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "__export_news_aggregator_world",
        default_bindings_module: "::equilibrage_plugin_sdk::news_aggregator::bindings",
        with: {
            "equilibrage:plugin/types@0.2.0": ::equilibrage_plugin_sdk::glue::wit_types,
            "equilibrage:plugin/host@0.2.0": ::equilibrage_plugin_sdk::glue::wit_host,
        },
    });
}

pub use bindings::equilibrage::plugin::news::{MarketText, NewsItem, NewsMatch};

/// A news aggregator plugin.
pub trait NewsAggregator {
    /// Name, version and parameters.
    fn info() -> PluginInfo;

    /// The relevant (item, market) pairs, by index into the inputs.
    ///
    /// # Errors
    /// A message the host shows as this plugin's error.
    fn match_news(
        params: &Params,
        now_ms: i64,
        items: &[NewsItem],
        markets: &[MarketText],
    ) -> Result<Vec<NewsMatch>, String>;
}

#[doc(hidden)]
#[derive(Debug)]
pub struct Glue<T>(PhantomData<T>);

impl<T: NewsAggregator> bindings::Guest for Glue<T> {
    fn describe() -> bindings::PluginInfo {
        glue::describe(glue::info(T::info), Kind::NewsAggregator)
    }

    fn match_news(
        params: Vec<f64>,
        now: i64,
        items: Vec<NewsItem>,
        markets: Vec<MarketText>,
    ) -> Result<Vec<NewsMatch>, String> {
        let params = glue::params(params, &glue::info(T::info).params)?;
        T::match_news(&params, now, &items, &markets)
    }
}

/// Exports a [`NewsAggregator`] implementation as this component's `news-aggregator` world.
#[macro_export]
macro_rules! export_news_aggregator {
    ($plugin:ty) => {
        // Natively (unit tests) nothing is exported, but the plugin type is still used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::PluginInfo = <$plugin as $crate::news_aggregator::NewsAggregator>::info;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type EquilibrageGlue = $crate::news_aggregator::Glue<$plugin>;
            $crate::news_aggregator::bindings::__export_news_aggregator_world!(EquilibrageGlue with_types_in $crate::news_aggregator::bindings);
        };
    };
}
