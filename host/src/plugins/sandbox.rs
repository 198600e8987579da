//! The wasmtime engine and the per-call sandbox: limits, a capability-free and deterministic WASI,
//! the `log` import, and the epoch ticker that enforces call deadlines.

use super::bindings::host::{self, Level};
use super::function_cache::FunctionCache;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances; deadlines are whole ticks.
pub(crate) const TICK: Duration = Duration::from_millis(5);
/// Log messages a plugin may emit per call, and the longest message kept.
const LOG_BUDGET: u32 = 64;
const LOG_MAX_CHARS: usize = 1_024;

/// Resource limits for plugin calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one call (rounded up to the epoch tick).
    pub call_timeout: Duration,
    /// Linear memory one plugin instance may use, in bytes.
    pub memory_bytes: usize,
    /// Most items one call may carry; larger scoring batches are split, other kinds are refused.
    pub max_batch: usize,
    /// Plugin instances alive at once (calls running in parallel, plus canaries).
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_millis(250),
            memory_bytes: 64 << 20,
            max_batch: 50_000,
            max_instances: 64,
        }
    }
}

impl Limits {
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let ticks = self.call_timeout.as_micros().div_ceil(TICK.as_micros()).max(1);
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }
}

/// Builds the one engine all plugins share, compiling through `functions`.
pub(crate) fn engine(limits: &Limits, functions: Arc<FunctionCache>) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    // A guest built by Rust for wasm32-wasip2 is a handful of core instances and one memory.
    pool.total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * 8)
        .total_memories(limits.max_instances * 2)
        .total_tables(limits.max_instances * 8)
        .max_memory_size(limits.memory_bytes)
        .max_memories_per_component(2)
        .max_core_instances_per_component(16)
        .max_tables_per_component(16)
        // Reset a freed instance's memory with memset rather than handing it back to the
        // kernel: the next call then does not page-fault its way through a batch.
        .linear_memory_keep_resident(limits.memory_bytes.min(16 << 20))
        .table_keep_resident(64 << 10)
        // ...and only the pages the call wrote, found with Linux's PAGEMAP_SCAN (6.7 and
        // later; elsewhere the whole heap is reset as before). A rules call writes a few pages
        // of a heap of more than a megabyte: a backtest runs 15 % faster (docs/benchmarks.md).
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    // A rebuilt plugin compiles only its changed functions (the dev loop's Python rebuilds).
    config.enable_incremental_compilation(functions)?;
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the engine's epoch every [`TICK`] until the returned guard is dropped.
pub(crate) fn start_ticker(engine: &Engine) -> TickerGuard {
    let stop = Arc::new(AtomicBool::new(false));
    let weak = engine.weak();
    let flag = Arc::clone(&stop);
    let spawned = std::thread::Builder::new().name("plugin-epoch".into()).spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the plugin epoch thread; plugin calls have no deadline");
    }
    TickerGuard(stop)
}

/// Stops the epoch ticker when dropped.
#[derive(Debug)]
pub(crate) struct TickerGuard(Arc<AtomicBool>);

impl Drop for TickerGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The linker every plugin world is instantiated through: WASI p2 (over an empty context, with
/// streams and pollables that never wait) and the `log` import.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    super::never_waits::add_to_linker(&mut linker)?;
    host::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// The state of one plugin call's store.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    plugin: Arc<str>,
    logs_left: u32,
}

impl CallState {
    pub(crate) fn new(plugin: Arc<str>, limits: &Limits) -> Self {
        Self {
            wasi: sealed_wasi(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter { limit: limits.memory_bytes, denied: false },
            plugin,
            logs_left: LOG_BUDGET,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// Whether the guest asked for more memory than allowed during this call.
    pub(crate) fn memory_denied(&self) -> bool {
        self.limiter.denied
    }
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState").field("plugin", &self.plugin).finish_non_exhaustive()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl host::Host for CallState {
    fn log(&mut self, level: Level, message: String) {
        if self.logs_left == 0 {
            return;
        }
        self.logs_left -= 1;
        let mut message = message;
        if let Some((cut, _)) = message.char_indices().nth(LOG_MAX_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        if self.logs_left == 0 {
            message.push_str(" (further messages from this call are dropped)");
        }
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}

impl super::bindings::types::Host for CallState {}

/// A WASI context with no capabilities: no files, environment, arguments, network (not even a
/// socket to try an address with) or stdio, and
/// clocks and randomness fixed so a call is a pure function of its inputs.
fn sealed_wasi() -> WasiCtx {
    WasiCtxBuilder::new()
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .secure_random(FixedRng(0x0005_EED0_FE01_BA6E))
        .insecure_random(FixedRng(0x0E01_BA6E_5EED))
        .insecure_random_seed(0)
        .allow_blocking_current_thread(false)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// A clock stuck at the Unix epoch: plugins get time only through the `now` argument.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A fixed-seed generator (splitmix64): whatever a guest's std asks for, the same call gets the
/// same bytes.
struct FixedRng(u64);

impl rand_core::TryRng for FixedRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let [a, b, c, d, ..] = self.try_next_u64()?.to_le_bytes();
        Ok(u32::from_le_bytes([a, b, c, d]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// Enforces the per-instance memory limit and remembers whether it had to.
struct MemoryLimiter {
    limit: usize,
    denied: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.limit;
        self.denied |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
