//! Guest SDK: one trait per plugin kind, the shared types, and an export macro per kind.
//!
//! A plugin crate is a `cdylib` that depends on this crate, implements the trait of its kind and
//! calls that kind's export macro (which exports only that kind's WIT world):
//!
//! ```
//! use equilibrage_plugin_sdk::prelude::*;
//!
//! struct Mine;
//! impl Scorer for Mine {
//!     fn info() -> PluginInfo { PluginInfo::new("mine", "0.1.0", "Scores by liquidity.") }
//!     fn score(_: &Params, _: i64, m: &MarketFeatures) -> MarketScore {
//!         MarketScore { score: if m.liquidity > 10_000_000_000 { 8.0 } else { 3.0 }, factors: vec![] }
//!     }
//! }
//! export_scorer!(Mine);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is a component the host loads from its plugin directory.

#![warn(missing_docs)]

mod common;
#[doc(hidden)]
pub mod glue;
pub use common::{FactorSpec, Kind, Level, Outcome, ParamSpec, Params, PluginInfo, log, micros};

pub mod liquidation_rules;
pub mod news_aggregator;
pub mod scorer;
pub mod whale_analyzer;

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::common::{FactorSpec, Kind, Level, Outcome, ParamSpec, Params, PluginInfo, log, micros};
    pub use crate::export_liquidation_rules;
    pub use crate::export_news_aggregator;
    pub use crate::export_scorer;
    pub use crate::export_whale_analyzer;
    pub use crate::liquidation_rules::{Action, Decision, Leg, LiquidationRules, PositionView};
    pub use crate::news_aggregator::{MarketText, NewsAggregator, NewsItem, NewsMatch};
    pub use crate::scorer::{MarketBatch, MarketFeatures, MarketScore, Scorer, Scores};
    pub use crate::whale_analyzer::{
        Analysis, AnalysisInput, MarketSignal, Trade, TradeSide, WalletProfile, WhaleAnalyzer,
    };
}

// Lets the generated bindings name this crate the same way from inside and from a plugin crate.
extern crate self as equilibrage_plugin_sdk;

#[doc(hidden)]
pub mod __rt {
    pub use wit_bindgen;
}
