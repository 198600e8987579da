//! The WebAssembly plugin runtime: sandboxed, limited, validated, hot-reloaded plugin calls.

pub mod abi;
mod bindings;
mod cache;
mod defaults;
mod model;
mod registry;
mod sandbox;
mod validate;
mod watch;

pub use defaults::{DEFAULT_PLUGINS, install_defaults};
pub use model::{
    CallStats, FactorSpec, FileStatus, ParamError, ParamSpec, PluginError, PluginEvent, PluginInfo,
    PluginKind, PluginStatus, RuntimeError,
};
pub use registry::{Decided, PluginOptions, Plugins, Scored};
pub use sandbox::Limits;
pub use watch::{HotReload, watch};
