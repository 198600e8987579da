//! The plugin registry: loads and validates components, keeps the active plugin of each kind
//! behind an atomic swap, and makes the typed, limited, validated calls.

use super::abi;
use super::bindings::liquidation_rules::{LiquidationRules, LiquidationRulesPre};
use super::bindings::news_aggregator::{NewsAggregator, NewsAggregatorPre};
use super::bindings::scorer::{Scorer, ScorerPre};
use super::bindings::whale_analyzer::{WhaleAnalyzer, WhaleAnalyzerPre};
use super::cache::CompileCache;
use super::model::{
    CallStats, FileStatus, ParamError, PluginError, PluginEvent, PluginInfo, PluginKind, PluginStatus,
    RuntimeError,
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
}

impl Stats {
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
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    cache: CompileCache,
    options: PluginOptions,
    state: Mutex<State>,
    active: [ArcSwapOption<Loaded>; 4],
    generation: AtomicU64,
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
        let engine = sandbox::engine(&options.limits).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let linker = sandbox::linker(&engine).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = CompileCache::new(&engine, options.cache_dir.clone());
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
                generation: AtomicU64::new(0),
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

    /// Loads every `.wasm` file of the plugin directory, oldest first, so that of two files with
    /// the same kind and name the newer wins. Returns the outcome per file.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn load_dir(&self) -> Result<Vec<FileStatus>, RuntimeError> {
        let dir = &self.inner.options.dir;
        let io = |source| RuntimeError::Io { path: dir.clone(), source };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if is_plugin_file(&path) {
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH);
                files.push((modified, path));
            }
        }
        files.sort();
        let mut out = Vec::with_capacity(files.len());
        for (_, path) in files {
            self.load_file(&path);
            if let Some(status) = self.state().files.get(&path) {
                out.push(status.clone());
            }
        }
        Ok(out)
    }

    /// Loads (or reloads) one file: compile, check against the worlds, canary, then swap in.
    /// A file that fails any step changes nothing but its status. Unchanged content is skipped.
    pub fn load_file(&self, path: &Path) {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.unload_file(path),
            Err(e) => return self.reject(path, String::new(), format!("cannot read the file: {e}")),
        };
        let sha256 = sha256_hex(&bytes);
        if self.state().files.get(path).is_some_and(|f| f.sha256 == sha256) {
            return;
        }
        match self.prepare(path, &bytes, &sha256) {
            Ok(loaded) => self.install(loaded),
            Err(e) => self.reject(path, sha256, e),
        }
    }

    fn reject(&self, path: &Path, sha256: String, error: String) {
        tracing::warn!(file = %path.display(), %error, "plugin rejected; any previous version keeps serving");
        self.state().files.insert(
            path.to_path_buf(),
            FileStatus { file: path.to_path_buf(), sha256, at_ms: now_ms(), result: Err(error.clone()) },
        );
        self.emit(PluginEvent::Rejected { file: path.to_path_buf(), error });
    }

    /// Forgets a file that was removed from the directory, unloading what it provided.
    pub fn unload_file(&self, path: &Path) {
        let removed: Vec<Arc<Loaded>> = {
            let mut state = self.state();
            state.files.remove(path);
            state.provides.remove(path);
            let keys: Vec<_> =
                state.loaded.iter().filter(|(_, l)| l.file == path).map(|(k, _)| k.clone()).collect();
            keys.iter().filter_map(|k| state.loaded.remove(k)).collect()
        };
        for l in removed {
            self.refresh_active(l.info.kind);
            tracing::info!(plugin = %l.label, file = %path.display(), "plugin unloaded: its file is gone");
            self.emit(PluginEvent::Unloaded {
                kind: l.info.kind,
                name: l.info.name.clone(),
                file: path.to_path_buf(),
            });
        }
        self.revive_shadowed();
    }

    /// Reloads files whose plugin was shadowed by a file that has since gone or changed, so that
    /// removing a replacement brings back what it replaced.
    fn revive_shadowed(&self) {
        let orphans: Vec<PathBuf> = {
            let mut state = self.state();
            let orphans: Vec<PathBuf> = state
                .provides
                .iter()
                .filter(|(_, key)| !state.loaded.contains_key(*key))
                .map(|(path, _)| path.clone())
                .collect();
            for path in &orphans {
                state.files.remove(path);
                state.provides.remove(path);
            }
            orphans
        };
        for path in orphans {
            self.load_file(&path);
        }
    }

    fn install(&self, loaded: Loaded) {
        let kind = loaded.info.kind;
        let key = (kind, loaded.info.name.clone());
        let mut no_longer_provided = Vec::new();
        {
            let mut state = self.state();
            let stats = Arc::clone(state.stats.entry(key.clone()).or_default());
            let overrides = state.overrides.get(&key).cloned().unwrap_or_default();
            let values: Vec<f64> = loaded
                .info
                .params
                .iter()
                .map(|p| {
                    overrides
                        .get(&p.name)
                        .copied()
                        .filter(|v| (p.min..=p.max).contains(v))
                        .unwrap_or(p.default)
                })
                .collect();
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
            self.refresh_active(old.info.kind);
            self.emit(PluginEvent::Unloaded {
                kind: old.info.kind,
                name: old.info.name.clone(),
                file: old.file.clone(),
            });
        }
        self.refresh_active(kind);
        if revive {
            self.revive_shadowed();
        }
    }

    /// Points the kind's active slot at the preferred plugin, else the most recently loaded one.
    fn refresh_active(&self, kind: PluginKind) {
        let state = self.state();
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
        let label: Arc<str> = Arc::from(format!("{kind}/{}@{}", info.name, info.version));
        let loaded = Loaded {
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

    fn new_store(&self, label: &Arc<str>) -> Store<CallState> {
        let limits = &self.inner.options.limits;
        let mut store = Store::new(&self.inner.engine, CallState::new(Arc::clone(label), limits));
        store.limiter(CallState::limiter);
        store.set_epoch_deadline(limits.deadline_ticks());
        store
    }

    fn classify(&self, label: &str, store: &Store<CallState>, err: &wasmtime::Error) -> PluginError {
        let limits = &self.inner.options.limits;
        if matches!(err.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
            PluginError::Timeout { plugin: label.to_string(), limit_ms: limits.call_timeout.as_millis() }
        } else if store.data().memory_denied() {
            PluginError::MemoryLimit { plugin: label.to_string(), limit_mib: limits.memory_bytes >> 20 }
        } else {
            PluginError::Trap { plugin: label.to_string(), message: format!("{err:#}") }
        }
    }

    fn canary_call<R>(
        &self,
        label: &Arc<str>,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, String> {
        let mut store = self.new_store(label);
        f(&mut store).map_err(|e| self.classify(label, &store, &e).to_string())
    }

    /// One call of a loaded plugin in a fresh instance, with limits, fault classification and
    /// statistics. `check` validates the plugin's answer.
    fn call<R>(
        &self,
        loaded: &Loaded,
        f: impl FnOnce(&Pre, &mut Store<CallState>) -> wasmtime::Result<Result<R, String>>,
        check: impl FnOnce(&R) -> Result<(), String>,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        let mut store = self.new_store(&loaded.label);
        let outcome = match f(&loaded.pre, &mut store) {
            Err(e) => Err(self.classify(&loaded.label, &store, &e)),
            Ok(Err(message)) => Err(PluginError::Refused { plugin: loaded.label.to_string(), message }),
            Ok(Ok(out)) => match check(&out) {
                Ok(()) => Ok(out),
                Err(reason) => Err(PluginError::InvalidOutput { plugin: loaded.label.to_string(), reason }),
            },
        };
        drop(store);
        let stats = &loaded.stats;
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats.calls.fetch_add(1, Ordering::Relaxed);
        stats.total_us.fetch_add(us, Ordering::Relaxed);
        stats.max_us.fetch_max(us, Ordering::Relaxed);
        if let Err(e) = &outcome {
            let counter = if e.is_fault() { &stats.faults } else { &stats.errors };
            counter.fetch_add(1, Ordering::Relaxed);
            *stats.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((now_ms(), e.to_string()));
            tracing::warn!(plugin = %loaded.label, error = %e, "plugin call failed");
            self.emit(PluginEvent::Fault {
                kind: loaded.info.kind,
                name: loaded.info.name.clone(),
                error: e.to_string(),
            });
        }
        outcome
    }

    /// Exercises a freshly loaded plugin once with a small synthetic input.
    fn canary(&self, loaded: &Loaded) -> Result<(), PluginError> {
        let params = loaded.params.load_full();
        let now = 1_767_225_600_000; // 2026-01-01, any fixed time will do
        match loaded.info.kind {
            PluginKind::Scorer => self.score_with(loaded, &params, now, &abi::canary_market()).map(drop),
            PluginKind::WhaleAnalyzer => {
                self.analyze_with(loaded, &params, now, &abi::canary_trades(now)).map(drop)
            }
            PluginKind::NewsAggregator => {
                let (items, markets) = abi::canary_news(now);
                self.match_news_with(loaded, &params, now, &items, &markets).map(drop)
            }
            PluginKind::LiquidationRules => {
                self.evaluate_with(loaded, &params, now, &[abi::canary_position()]).map(drop)
            }
        }
    }

    fn active(&self, kind: PluginKind) -> Result<Arc<Loaded>, PluginError> {
        self.inner.active[kind.index()].load_full().ok_or(PluginError::NotLoaded(kind))
    }

    /// Scores markets with the active scorer, in batches of at most the configured size.
    ///
    /// # Errors
    /// No scorer loaded, a fault (trap, timeout, memory, invalid output) or the plugin's own error.
    pub fn score(&self, now_ms: i64, markets: &abi::MarketBatch) -> Result<Scored, PluginError> {
        let loaded = self.active(PluginKind::Scorer)?;
        let params = loaded.params.load_full();
        let out = self.score_with(&loaded, &params, now_ms, markets)?;
        Ok(Scored {
            plugin: Arc::clone(&loaded.info),
            generation: loaded.generation,
            scores: out.values,
            factors: out.factors,
        })
    }

    fn score_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        markets: &abi::MarketBatch,
    ) -> Result<abi::Scores, PluginError> {
        let (n, batch) = (markets.len(), self.inner.options.limits.max_batch.max(1));
        if n <= batch {
            return self.score_chunk(loaded, params, now, markets);
        }
        let mut all = abi::Scores { values: Vec::with_capacity(n), factors: Vec::new() };
        for start in (0..n).step_by(batch) {
            let chunk = markets.slice(start..(start + batch).min(n));
            let out = self.score_chunk(loaded, params, now, &chunk)?;
            all.values.extend_from_slice(&out.values);
            all.factors.extend_from_slice(&out.factors);
        }
        Ok(all)
    }

    fn score_chunk(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        markets: &abi::MarketBatch,
    ) -> Result<abi::Scores, PluginError> {
        let factors = loaded.info.factors.len();
        self.call(
            loaded,
            |pre, store| match pre {
                Pre::Scorer(p) => {
                    Scorer::call_score(&p.instantiate(&mut *store)?, store, params, now, markets)
                }
                _ => unreachable!("a scorer slot holds a scorer"),
            },
            |out| validate::scores(out, markets.len(), factors),
        )
    }

    /// Analyzes trades with the active whale analyzer.
    ///
    /// # Errors
    /// No analyzer loaded, too many trades for one call, a fault or the plugin's own error.
    pub fn analyze_whales(
        &self,
        now_ms: i64,
        input: &abi::AnalysisInput,
    ) -> Result<abi::Analysis, PluginError> {
        let loaded = self.active(PluginKind::WhaleAnalyzer)?;
        let params = loaded.params.load_full();
        self.analyze_with(&loaded, &params, now_ms, input)
    }

    fn analyze_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        input: &abi::AnalysisInput,
    ) -> Result<abi::Analysis, PluginError> {
        let cap = self.inner.options.limits.max_batch.saturating_mul(4);
        if input.trades.len() > cap {
            return Err(PluginError::InvalidInput(format!(
                "{} trades in one call; the limit is {cap}",
                input.trades.len()
            )));
        }
        self.call(
            loaded,
            |pre, store| match pre {
                Pre::Whales(p) => {
                    WhaleAnalyzer::call_analyze(&p.instantiate(&mut *store)?, store, params, now, input)
                }
                _ => unreachable!("a whale slot holds a whale analyzer"),
            },
            |a| validate::analysis(a, input.wallet_count, input.market_count),
        )
    }

    /// Matches news items to markets with the active news aggregator.
    ///
    /// # Errors
    /// No aggregator loaded, too large an input, a fault or the plugin's own error.
    pub fn match_news(
        &self,
        now_ms: i64,
        items: &[abi::NewsItem],
        markets: &[abi::MarketText],
    ) -> Result<Vec<abi::NewsMatch>, PluginError> {
        let loaded = self.active(PluginKind::NewsAggregator)?;
        let params = loaded.params.load_full();
        self.match_news_with(&loaded, &params, now_ms, items, markets)
    }

    fn match_news_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        items: &[abi::NewsItem],
        markets: &[abi::MarketText],
    ) -> Result<Vec<abi::NewsMatch>, PluginError> {
        let cap = self.inner.options.limits.max_batch;
        if items.len() > cap || markets.len() > cap {
            return Err(PluginError::InvalidInput(format!(
                "{} items and {} markets in one call; the limit is {cap} each",
                items.len(),
                markets.len()
            )));
        }
        self.call(
            loaded,
            |pre, store| match pre {
                Pre::News(p) => NewsAggregator::call_match_news(
                    &p.instantiate(&mut *store)?,
                    store,
                    params,
                    now,
                    items,
                    markets,
                ),
                _ => unreachable!("a news slot holds a news aggregator"),
            },
            |m| validate::matches(m, items.len(), markets.len()),
        )
    }

    /// Asks the active liquidation rules about open positions.
    ///
    /// # Errors
    /// No rules plugin loaded, too many positions, a fault or the plugin's own error; the caller
    /// then applies the built-in rule.
    pub fn evaluate_rules(
        &self,
        now_ms: i64,
        positions: &[abi::PositionView],
    ) -> Result<Decided, PluginError> {
        let loaded = self.active(PluginKind::LiquidationRules)?;
        let params = loaded.params.load_full();
        let decisions = self.evaluate_with(&loaded, &params, now_ms, positions)?;
        Ok(Decided { plugin: Arc::clone(&loaded.info), decisions })
    }

    fn evaluate_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        positions: &[abi::PositionView],
    ) -> Result<Vec<abi::Decision>, PluginError> {
        let cap = self.inner.options.limits.max_batch;
        if positions.len() > cap {
            return Err(PluginError::InvalidInput(format!(
                "{} positions in one call; the limit is {cap}",
                positions.len()
            )));
        }
        self.call(
            loaded,
            |pre, store| match pre {
                Pre::Rules(p) => LiquidationRules::call_evaluate(
                    &p.instantiate(&mut *store)?,
                    store,
                    params,
                    now,
                    positions,
                ),
                _ => unreachable!("a rules slot holds liquidation rules"),
            },
            |d| validate::decisions(d, positions),
        )
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
                PluginStatus {
                    info: (*l.info).clone(),
                    active,
                    file: l.file.clone(),
                    sha256: l.sha256.clone(),
                    loaded_at_ms: l.loaded_at_ms,
                    generation: l.generation,
                    params: l.params.load().to_vec(),
                    stats: l.stats.snapshot(),
                    last_error: l
                        .stats
                        .last_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone(),
                }
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
        Ok(next)
    }

    /// Pre-sets parameter values (e.g. persisted ones) for a plugin that may not be loaded yet;
    /// out-of-range values are ignored at load time.
    pub fn preset_params(&self, kind: PluginKind, name: &str, values: BTreeMap<String, f64>) {
        self.state().overrides.insert((kind, name.to_string()), values);
    }
}

fn is_plugin_file(path: &Path) -> bool {
    is_plugin_path(path) && path.is_file()
}

pub(crate) fn is_plugin_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}
