//! The host's view of plugins: kinds, self-descriptions, statuses and errors, free of wasmtime.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// The four kinds of plugin, one WIT world each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// `scorer`: scores candidate markets 1–10.
    Scorer,
    /// `whale-analyzer`: whale profiles and per-market whale signals.
    WhaleAnalyzer,
    /// `news-aggregator`: matches news items to markets.
    NewsAggregator,
    /// `liquidation-rules`: decides liquidations, stop losses and take profits.
    LiquidationRules,
}

impl PluginKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 4] =
        [Self::Scorer, Self::WhaleAnalyzer, Self::NewsAggregator, Self::LiquidationRules];

    /// The WIT world name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scorer => "scorer",
            Self::WhaleAnalyzer => "whale-analyzer",
            Self::NewsAggregator => "news-aggregator",
            Self::LiquidationRules => "liquidation-rules",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PluginKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown plugin kind {s:?}: expected scorer, whale-analyzer, news-aggregator or liquidation-rules"))
    }
}

/// A tunable parameter as the plugin declared it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub help: String,
    pub default: f64,
    pub min: f64,
    pub max: f64,
}

/// A scorer's factor column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactorSpec {
    pub name: String,
    pub help: String,
    pub weight_param: Option<String>,
}

/// A plugin's validated self-description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub description: String,
    pub params: Vec<ParamSpec>,
    pub factors: Vec<FactorSpec>,
}

/// Call statistics of a plugin (by kind and name, across reloads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Calls made, successful or not.
    pub calls: u64,
    /// Traps, timeouts, memory-limit hits and invalid outputs.
    pub faults: u64,
    /// Calls where the plugin returned its own error.
    pub errors: u64,
    /// Mean and worst latency of a call, in microseconds.
    pub mean_us: u64,
    pub max_us: u64,
}

/// One loaded plugin, as the dashboard and `plugin list` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStatus {
    pub info: PluginInfo,
    /// Whether this plugin is the one its kind's calls go to.
    pub active: bool,
    pub file: PathBuf,
    /// SHA-256 of the component file, hex.
    pub sha256: String,
    /// Unix milliseconds when this version was swapped in.
    pub loaded_at_ms: i64,
    /// Increases with every load anywhere in the runtime.
    pub generation: u64,
    /// Current parameter values, aligned with `info.params`.
    pub params: Vec<f64>,
    pub stats: CallStats,
    /// The last fault or error of a call, with its Unix millisecond time.
    pub last_error: Option<(i64, String)>,
}

/// The outcome of the last attempt to load a file of the plugin directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileStatus {
    pub file: PathBuf,
    pub sha256: String,
    pub at_ms: i64,
    /// `kind/name@version` when loaded, or why the file was rejected (the old version, if any,
    /// keeps serving).
    pub result: Result<String, String>,
}

/// Something the dashboard should hear about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PluginEvent {
    Loaded {
        kind: PluginKind,
        name: String,
        version: String,
        file: PathBuf,
        generation: u64,
    },
    Rejected {
        file: PathBuf,
        error: String,
    },
    Unloaded {
        kind: PluginKind,
        name: String,
        file: PathBuf,
    },
    Fault {
        kind: PluginKind,
        name: String,
        error: String,
    },
    /// Something happened to the shadow plugin of a kind (see `docs/plugins.md`, Shadows).
    Shadow {
        kind: PluginKind,
        name: String,
        version: String,
        change: ShadowChange,
    },
}

/// What happened to a shadow plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ShadowChange {
    /// Loaded from the `shadow/` directory: it now receives the active plugin's inputs.
    Loaded,
    /// A call failed; the active plugin was not affected.
    Fault { error: String },
    /// Made the active plugin of its kind.
    Promoted,
    /// Removed from the shadow role by the operator.
    Retired,
    /// Its file left the `shadow/` directory.
    Unloaded,
}

/// Why a plugin call did not produce a usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("no {0} plugin is loaded")]
    NotLoaded(PluginKind),
    #[error("plugin {plugin} ran past its {limit_ms} ms deadline and was stopped")]
    Timeout { plugin: String, limit_ms: u128 },
    #[error("plugin {plugin} hit its {limit_mib} MiB memory limit and was stopped")]
    MemoryLimit { plugin: String, limit_mib: usize },
    #[error("plugin {plugin} trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin {plugin} returned invalid output: {reason}")]
    InvalidOutput { plugin: String, reason: String },
    #[error("plugin {plugin} reported an error: {message}")]
    Refused { plugin: String, message: String },
    #[error("invalid plugin input: {0}")]
    InvalidInput(String),
}

impl PluginError {
    /// A fault is the plugin misbehaving (counted as such); an error it reported is not.
    #[must_use]
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::MemoryLimit { .. } | Self::Trap { .. } | Self::InvalidOutput { .. }
        )
    }
}

/// Why a parameter change was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("no {kind} plugin named {name:?} is loaded")]
    UnknownPlugin { kind: PluginKind, name: String },
    #[error("plugin {plugin} has no parameter {param:?}")]
    UnknownParam { plugin: String, param: String },
    #[error("{param} must be between {min} and {max}, got {value}")]
    OutOfRange { param: String, value: f64, min: f64, max: f64 },
}

/// Why the plugin runtime could not start or watch its directory.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not configure the WebAssembly engine: {0}")]
    Engine(String),
    #[error("plugin directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("could not watch the plugin directory: {0}")]
    Watch(String),
}
