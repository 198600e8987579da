//! equilibrage: a self-hosted Polymarket trading bot whose strategy runs as hot-reloadable
//! WebAssembly plugins.

#![deny(unsafe_code)]

pub mod access;
pub mod allocator;
pub mod chain;
pub mod clock;
pub mod config;
pub mod engine;
pub mod exchange;
mod fast_hash;
pub mod feeds;
pub mod lab;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod plugin_dev;
pub mod plugins;
pub mod scaffold;
pub mod store;
pub mod wallet;
pub mod web_backend;

pub use plugins::{PluginKind, Plugins};
