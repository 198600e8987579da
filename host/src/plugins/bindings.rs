//! Host-side bindings, one `bindgen!` per plugin world; the shared interfaces are generated once.

#![allow(missing_debug_implementations, clippy::all, reason = "generated code")]

pub mod scorer {
    wasmtime::component::bindgen!({
        world: "scorer",
        path: "../wit",
        additional_derives: [PartialEq],
    });
}

pub mod whale_analyzer {
    wasmtime::component::bindgen!({
        world: "whale-analyzer",
        path: "../wit",
        additional_derives: [PartialEq],
        with: {
            "equilibrage:plugin/types": crate::plugins::bindings::scorer::equilibrage::plugin::types,
            "equilibrage:plugin/host": crate::plugins::bindings::scorer::equilibrage::plugin::host,
        },
    });
}

pub mod news_aggregator {
    wasmtime::component::bindgen!({
        world: "news-aggregator",
        path: "../wit",
        additional_derives: [PartialEq],
        with: {
            "equilibrage:plugin/types": crate::plugins::bindings::scorer::equilibrage::plugin::types,
            "equilibrage:plugin/host": crate::plugins::bindings::scorer::equilibrage::plugin::host,
        },
    });
}

pub mod liquidation_rules {
    wasmtime::component::bindgen!({
        world: "liquidation-rules",
        path: "../wit",
        additional_derives: [PartialEq],
        with: {
            "equilibrage:plugin/types": crate::plugins::bindings::scorer::equilibrage::plugin::types,
            "equilibrage:plugin/host": crate::plugins::bindings::scorer::equilibrage::plugin::host,
        },
    });
}

pub use scorer::equilibrage::plugin::host;
pub use scorer::equilibrage::plugin::types;
