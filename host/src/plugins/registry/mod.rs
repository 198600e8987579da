//! The plugin registry: loads and validates components, keeps the active plugin of each kind
//! behind an atomic swap, and makes the typed, limited, validated calls.

use super::abi;
use super::bindings::liquidation_rules::{LiquidationRules, LiquidationRulesPre};
use super::bindings::news_aggregator::{NewsAggregator, NewsAggregatorPre};
use super::bindings::scorer::{Scorer, ScorerPre};
use super::bindings::whale_analyzer::{WhaleAnalyzer, WhaleAnalyzerPre};
use super::cache::CompileCache;
use super::function_cache::{self, FunctionCache};
use super::memo::{self, CallMemo};
use super::model::{
    CallStats, FileStatus, ParamError, PluginError, PluginEvent, PluginInfo, PluginKind, PluginStatus,
    RuntimeError, ShadowChange,
};
use super::sandbox::{self, CallState, Limits, TickerGuard};
use super::validate;
use arc_swap::{ArcSwap, ArcSwapOption};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::sync::broadcast;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

mod calls;
mod files;
mod repeat;
mod shadow;
mod signals;
mod versions;

pub use shadow::PromoteError;
pub use signals::{NewsFields, NewsSource, SignalAnswers, news_records};

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// The watched plugin directory.
    pub dir: PathBuf,
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
    /// How long the directory must be quiet before changed files are loaded.
    pub quiet_period: Duration,
    /// Plugin name to use per kind; without one, the most recently loaded plugin of the kind.
    pub prefer: BTreeMap<PluginKind, String>,
    /// The largest plugin file read; larger ones are refused unread.
    pub max_file_bytes: u64,
    /// Keep every version that loads in `versions/` of the directory, for rollbacks (the bot's
    /// own plugin directory; not a backtest's or the lab's candidates).
    pub keep_versions: bool,
    /// Signal plugins' answers shared with other runs over the same data (a sweep's variants);
    /// `None` asks the plugin every time.
    pub memo: Option<Arc<CallMemo>>,
    /// Answer a liquidation-rules call that repeats the last one exactly (the same loaded
    /// version and parameters, `now` and positions) with the last answer instead of running the
    /// plugin again, which could only answer the same (`repeat.rs`): a backtest, whose sweeps
    /// often ask at the moment of the market event just evaluated. `false` (the bot) runs every
    /// call, each counted in its statistics and its log lines shown.
    pub repeat_rules: bool,
    /// Count loads, refused files and calls in the process's metrics (`/metrics`): the bot's
    /// plugins do, a backtest's do not (a lab job runs in the bot's process, and a candidate
    /// faulting there is not the bot's plugin faulting).
    pub metrics: bool,
}

impl PluginOptions {
    /// Defaults for a plugin directory, with the compile cache in `cache_dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, cache_dir: Option<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            cache_dir,
            limits: Limits::default(),
            quiet_period: Duration::from_millis(20),
            prefer: BTreeMap::new(),
            max_file_bytes: 64 << 20,
            keep_versions: false,
            memo: None,
            repeat_rules: false,
            metrics: true,
        }
    }
}

/// A component checked against one of the four worlds, ready to instantiate.
#[derive(Clone)]
enum Pre {
    Scorer(ScorerPre<CallState>),
    Whales(WhaleAnalyzerPre<CallState>),
    News(NewsAggregatorPre<CallState>),
    Rules(LiquidationRulesPre<CallState>),
}

#[derive(Debug, Default)]
struct Stats {
    calls: AtomicU64,
    faults: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    last_error: Mutex<Option<(i64, String)>>,
    /// The same calls in the process's Prometheus metrics (`None`: a canary's, not exported).
    exported: Option<Exported>,
}

/// A plugin's series in the process's Prometheus metrics.
struct Exported {
    latency: prometheus::Histogram,
    faults: prometheus::IntCounter,
    errors: prometheus::IntCounter,
}

impl std::fmt::Debug for Exported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exported")
    }
}

impl Stats {
    /// Statistics of a plugin, exported under its kind and name.
    fn exported(m: &crate::metrics::Metrics, kind: PluginKind, name: &str) -> Self {
        let labels = [kind.as_str(), name];
        Self {
            exported: Some(Exported {
                latency: m.plugin_call_seconds.with_label_values(&labels),
                faults: m.plugin_faults.with_label_values(&labels),
                errors: m.plugin_errors.with_label_values(&labels),
            }),
            ..Self::default()
        }
    }

    fn snapshot(&self) -> CallStats {
        let calls = self.calls.load(Ordering::Relaxed);
        CallStats {
            calls,
            faults: self.faults.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            mean_us: self.total_us.load(Ordering::Relaxed).checked_div(calls).unwrap_or(0),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

/// One loaded version of a plugin.
struct Loaded {
    pre: Pre,
    info: Arc<PluginInfo>,
    label: Arc<str>,
    file: PathBuf,
    sha256: String,
    loaded_at_ms: i64,
    generation: u64,
    stats: Arc<Stats>,
    params: ArcSwap<Vec<f64>>,
    /// Loaded from the `shadow/` directory: called beside the active plugin, never obeyed.
    shadow: bool,
}

impl Loaded {
    /// `name@version#<hash>`: how trades and positions name this version.
    fn version_id(&self) -> Arc<str> {
        Arc::from(crate::store::version_id(&self.info.name, &self.info.version, &self.sha256))
    }
}

#[derive(Default)]
struct State {
    loaded: BTreeMap<(PluginKind, String), Arc<Loaded>>,
    files: BTreeMap<PathBuf, FileStatus>,
    /// The plugin each successfully loaded file provides (or provided, before a newer file with
    /// the same kind and name shadowed it).
    provides: BTreeMap<PathBuf, (PluginKind, String)>,
    stats: HashMap<(PluginKind, String), Arc<Stats>>,
    /// Operator-set parameter values by plugin and parameter name; they survive reloads.
    overrides: HashMap<(PluginKind, String), BTreeMap<String, f64>>,
    /// Shadow plugins by file (see `shadow.rs`).
    shadows: BTreeMap<PathBuf, Arc<Loaded>>,
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    cache: CompileCache,
    options: PluginOptions,
    state: Mutex<State>,
    active: [ArcSwapOption<Loaded>; 4],
    /// The shadow each kind's calls are repeated on, if any (see `shadow.rs`).
    shadow: [ArcSwapOption<Loaded>; 4],
    generation: AtomicU64,
    /// The active rules' last answer (see `repeat.rs`).
    last_rules: repeat::LastRules,
    events: broadcast::Sender<PluginEvent>,
    _ticker: TickerGuard,
}

/// The plugin runtime. Cheap to clone; every clone is the same runtime.
#[derive(Clone)]
pub struct Plugins {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins").field("dir", &self.inner.options.dir).finish_non_exhaustive()
    }
}

/// Scores of one batch, with the plugin that produced them; validated.
#[derive(Debug, Clone)]
pub struct Scored {
    pub plugin: Arc<PluginInfo>,
    /// The version that answered, `name@version#<hash>` (see [`crate::store::version_id`]).
    pub version_id: Arc<str>,
    pub generation: u64,
    /// One score (1..=10) per input market, in input order.
    pub scores: Vec<f32>,
    /// Factor values, row-major, `plugin.factors.len()` per market.
    pub factors: Vec<f32>,
}

impl Scored {
    /// The factor values of market `i`, aligned with `plugin.factors`.
    #[must_use]
    pub fn factors_of(&self, i: usize) -> &[f32] {
        let n = self.plugin.factors.len();
        self.factors.get(i * n..(i + 1) * n).unwrap_or(&[])
    }
}

/// Liquidation decisions with the plugin that made them.
#[derive(Debug, Clone)]
pub struct Decided {
    pub plugin: Arc<PluginInfo>,
    /// The version that answered, `name@version#<hash>`.
    pub version_id: Arc<str>,
    pub decisions: Vec<abi::Decision>,
}

use crate::clock::unix_now_ms as now_ms;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Plugins {
    /// Builds the engine and an empty registry. Load plugins with [`Plugins::load_dir`].
    ///
    /// # Errors
    /// When the engine cannot be configured (e.g. the pooling allocator cannot reserve memory).
    pub fn new(options: PluginOptions) -> Result<Self, RuntimeError> {
        let functions = Arc::new(FunctionCache::new(function_cache::BUDGET_BYTES));
        let engine = sandbox::engine(&options.limits, Arc::clone(&functions))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let linker = sandbox::linker(&engine).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = CompileCache::new(&engine, options.cache_dir.clone(), functions);
        let ticker = sandbox::start_ticker(&engine);
        let (events, _) = broadcast::channel(256);
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                options,
                state: Mutex::new(State::default()),
                active: Default::default(),
                shadow: Default::default(),
                generation: AtomicU64::new(0),
                last_rules: repeat::LastRules::default(),
                events,
                _ticker: ticker,
            }),
        })
    }

    /// The watched plugin directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.options.dir
    }

    pub(crate) fn quiet_period(&self) -> Duration {
        self.inner.options.quiet_period
    }

    /// Plugin events (loads, rejections, faults). Slow receivers lose old events, never block.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<PluginEvent> {
        self.inner.events.subscribe()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn emit(&self, event: PluginEvent) {
        let _ = self.inner.events.send(event);
    }

    /// The process's metrics, when this registry reports there (`PluginOptions::metrics`).
    fn metrics(&self) -> Option<&'static crate::metrics::Metrics> {
        self.inner.options.metrics.then(crate::metrics::get)
    }

    /// A plugin's statistics, also in the process's metrics when this registry reports there.
    fn new_stats(&self, kind: PluginKind, name: &str) -> Stats {
        self.metrics().map_or_else(Stats::default, |m| Stats::exported(m, kind, name))
    }

    fn install(&self, loaded: Loaded) {
        let kind = loaded.info.kind;
        let key = (kind, loaded.info.name.clone());
        let mut no_longer_provided = Vec::new();
        {
            let mut state = self.state();
            let stats = Arc::clone(
                state.stats.entry(key.clone()).or_insert_with(|| Arc::new(self.new_stats(kind, &key.1))),
            );
            if let Some(m) = self.metrics() {
                m.plugin_reloads.with_label_values(&[kind.as_str(), &key.1]).inc();
            }
            let overrides = state.overrides.get(&key).cloned().unwrap_or_default();
            let values = shadow::values_with(&loaded.info, &overrides);
            let loaded = Arc::new(Loaded { stats, params: ArcSwap::from_pointee(values), ..loaded });
            // The file may have held a different plugin before.
            let stale: Vec<_> = state
                .loaded
                .iter()
                .filter(|(k, l)| l.file == loaded.file && **k != key)
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                if let Some(old) = state.loaded.remove(&k) {
                    no_longer_provided.push(old);
                }
            }
            state.files.insert(
                loaded.file.clone(),
                FileStatus {
                    file: loaded.file.clone(),
                    sha256: loaded.sha256.clone(),
                    at_ms: loaded.loaded_at_ms,
                    result: Ok(loaded.label.to_string()),
                },
            );
            state.provides.insert(loaded.file.clone(), key.clone());
            state.loaded.insert(key, Arc::clone(&loaded));
            // The active slots change under the same lock as the loaded set, so a listing never
            // shows the new plugin loaded next to the old active one.
            for old in &no_longer_provided {
                self.choose_active(&state, old.info.kind);
            }
            self.choose_active(&state, kind);
            tracing::info!(plugin = %loaded.label, file = %loaded.file.display(), generation = loaded.generation, "plugin loaded");
            self.emit(PluginEvent::Loaded {
                kind,
                name: loaded.info.name.clone(),
                version: loaded.info.version.clone(),
                file: loaded.file.clone(),
                generation: loaded.generation,
            });
        }
        let revive = !no_longer_provided.is_empty();
        for old in no_longer_provided {
            self.emit(PluginEvent::Unloaded {
                kind: old.info.kind,
                name: old.info.name.clone(),
                file: old.file.clone(),
            });
        }
        if revive {
            self.revive_shadowed();
        }
    }

    /// Points the kind's active slot at the preferred plugin, else the most recently loaded one;
    /// called holding the state, so the slot and the loaded set change together.
    fn choose_active(&self, state: &State, kind: PluginKind) {
        let preferred = self.inner.options.prefer.get(&kind);
        let candidates = state.loaded.iter().filter(|((k, _), _)| *k == kind);
        let chosen = preferred
            .and_then(|name| state.loaded.get(&(kind, name.clone())))
            .or_else(|| candidates.max_by_key(|(_, l)| l.generation).map(|(_, l)| l))
            .cloned();
        self.inner.active[kind.index()].store(chosen);
    }

    fn prepare(&self, path: &Path, bytes: &[u8], sha256: &str) -> Result<Loaded, String> {
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00]) => {}
            Some([0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00]) => {
                return Err("a core WebAssembly module, not a component: build the plugin for wasm32-wasip2 (see docs/plugins.md)".into());
            }
            _ => return Err("not a WebAssembly component (bad header; empty, truncated or not wasm)".into()),
        }
        let engine = &self.inner.engine;
        let component = self
            .inner
            .cache
            .load(engine, sha256, bytes)
            .map_err(|e| format!("not a valid component: {e:#}"))?;
        let pre = self.check_world(&component)?;
        let kind = match pre {
            Pre::Scorer(_) => PluginKind::Scorer,
            Pre::Whales(_) => PluginKind::WhaleAnalyzer,
            Pre::News(_) => PluginKind::NewsAggregator,
            Pre::Rules(_) => PluginKind::LiquidationRules,
        };
        let label: Arc<str> =
            Arc::from(format!("{kind}/{}", path.file_name().unwrap_or_default().to_string_lossy()));
        let raw = self.canary_call(&label, |store| match &pre {
            Pre::Scorer(p) => p.instantiate(&mut *store)?.call_describe(store),
            Pre::Whales(p) => p.instantiate(&mut *store)?.call_describe(store),
            Pre::News(p) => p.instantiate(&mut *store)?.call_describe(store),
            Pre::Rules(p) => p.instantiate(&mut *store)?.call_describe(store),
        })?;
        let info = Arc::new(validate::info(raw, kind).map_err(|e| format!("describe(): {e}"))?);
        let shadow = self.is_shadow_path(path);
        let label: Arc<str> = Arc::from(format!(
            "{kind}/{}@{}{}",
            info.name,
            info.version,
            if shadow { " (shadow)" } else { "" }
        ));
        let loaded = Loaded {
            shadow,
            pre,
            label,
            file: path.to_path_buf(),
            sha256: sha256.to_string(),
            loaded_at_ms: now_ms(),
            generation: self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1,
            stats: Arc::default(),
            params: ArcSwap::from_pointee(info.params.iter().map(|p| p.default).collect()),
            info,
        };
        self.canary(&loaded).map_err(|e| format!("canary call failed: {e}"))?;
        Ok(loaded)
    }

    fn check_world(&self, component: &Component) -> Result<Pre, String> {
        let pre = self.inner.linker.instantiate_pre(component).map_err(|e| {
            format!(
                "imports something the host does not provide ({e:#}); plugins may import only {} and WASI",
                super::WIT_PACKAGE.replacen('@', "/host@", 1)
            )
        })?;
        if let Ok(p) = ScorerPre::new(pre.clone()) {
            return Ok(Pre::Scorer(p));
        }
        if let Ok(p) = WhaleAnalyzerPre::new(pre.clone()) {
            return Ok(Pre::Whales(p));
        }
        if let Ok(p) = NewsAggregatorPre::new(pre.clone()) {
            return Ok(Pre::News(p));
        }
        if let Ok(p) = LiquidationRulesPre::new(pre) {
            return Ok(Pre::Rules(p));
        }
        let exports: Vec<String> = component
            .component_type()
            .exports(&self.inner.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        Err(format!(
            "does not implement any {} world (it exports: {}); it was built against another interface version: rebuild it against equilibrage-plugin-sdk {}",
            super::WIT_PACKAGE,
            if exports.is_empty() { "nothing".into() } else { exports.join(", ") },
            env!("CARGO_PKG_VERSION"),
        ))
    }

    /// Every loaded plugin with its status, by kind then name.
    #[must_use]
    pub fn list(&self) -> Vec<PluginStatus> {
        let state = self.state();
        state
            .loaded
            .values()
            .map(|l| {
                let active =
                    self.inner.active[l.info.kind.index()].load().as_ref().is_some_and(|a| Arc::ptr_eq(a, l));
                shadow::status_of(l, active)
            })
            .collect()
    }

    /// The last load attempt of every file in the plugin directory.
    #[must_use]
    pub fn files(&self) -> Vec<FileStatus> {
        self.state().files.values().cloned().collect()
    }

    /// The active plugin of a kind.
    #[must_use]
    pub fn active_info(&self, kind: PluginKind) -> Option<Arc<PluginInfo>> {
        self.inner.active[kind.index()].load().as_ref().map(|l| Arc::clone(&l.info))
    }

    /// Changes parameters of a loaded plugin, live: the next call uses them. All values are
    /// checked before any is applied. Values also apply to later versions of the same plugin.
    ///
    /// # Errors
    /// Unknown plugin or parameter, or a value outside its declared range.
    pub fn set_params(
        &self,
        kind: PluginKind,
        name: &str,
        values: &[(String, f64)],
    ) -> Result<Vec<f64>, ParamError> {
        let mut state = self.state();
        let key = (kind, name.to_string());
        let loaded = state
            .loaded
            .get(&key)
            .cloned()
            .ok_or_else(|| ParamError::UnknownPlugin { kind, name: name.into() })?;
        let mut next = loaded.params.load().to_vec();
        for (param, value) in values {
            let i = loaded.info.params.iter().position(|p| &p.name == param).ok_or_else(|| {
                ParamError::UnknownParam { plugin: loaded.label.to_string(), param: param.clone() }
            })?;
            next[i] = *value;
        }
        validate::param_values(&next, &loaded.info.params)?;
        let overrides = state.overrides.entry(key).or_default();
        for (param, value) in values {
            overrides.insert(param.clone(), *value);
        }
        loaded.params.store(Arc::new(next.clone()));
        Self::follow_params(&state, &key_of(&loaded), &next);
        Ok(next)
    }

    /// Pre-sets parameter values (e.g. persisted ones) for a plugin that may not be loaded yet;
    /// out-of-range values are ignored at load time.
    pub fn preset_params(&self, kind: PluginKind, name: &str, values: BTreeMap<String, f64>) {
        self.state().overrides.insert((kind, name.to_string()), values);
    }
}

fn key_of(l: &Loaded) -> (PluginKind, String) {
    (l.info.kind, l.info.name.clone())
}

pub(crate) fn is_plugin_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}
