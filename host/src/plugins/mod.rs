//! The WebAssembly plugin runtime: sandboxed, limited, validated, hot-reloaded plugin calls.

pub mod abi;
mod bindings;
mod budget;
mod cache;
mod defaults;
mod function_cache;
mod memo;
mod model;
mod never_waits;
mod registry;
mod sandbox;
mod validate;
mod watch;

pub use defaults::{DEFAULT_PLUGINS, install_defaults};

/// The WIT package plugins are built against (`wit/plugin.wit`); a plugin built against any
/// other version is refused.
pub const WIT_PACKAGE: &str = "equilibrage:plugin@0.2.0";
pub use memo::{CallMemo, MemoStats};
pub use model::{
    CallStats, FactorSpec, FileStatus, ParamError, ParamSpec, PluginError, PluginEvent, PluginInfo,
    PluginKind, PluginStatus, RuntimeError, ShadowChange,
};
pub use registry::{
    Decided, NewsFields, NewsSource, PluginOptions, Plugins, PromoteError, Scored, SignalAnswers,
    news_records,
};
pub use sandbox::Limits;
pub use watch::{HotReload, watch};
