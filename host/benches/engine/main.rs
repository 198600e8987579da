//! Engine benchmarks (issue 4), results in docs/benchmarks.md:
//! - tick-to-order latency with 100 open positions (target p99 ≤ 1 ms): from a book event entering
//!   the engine to the liquidation order handed to the venue, journal committed durably on the way;
//! - a full scan of 20,000 markets (target ≤ 1 s), cold (books fetched from the venue) and steady;
//! - host memory with 20,000 markets tracked and all plugins loaded (target ≤ 200 MB RSS).
//!
//! - the same latency with the lab's recorder off and on, alternately in one process (issue 15);
//!
//! `cargo bench -p equilibrage --bench engine [-- SECTION…]`, sections: latency-disk, latency-shm,
//! latency-recording, latency-shadow, commit-disk, commit-shm, scan, memory, memory-parts (a filter selects those containing it). Each
//! section runs in a child process of its own, so one section's allocations and high-water mark
//! never show up in another's figures; each ends with the CPU the rest of the machine used.

#![expect(clippy::print_stdout, reason = "a harness-less benchmark reports on stdout")]

use equilibrage::engine::{Clock, Engine, EngineOptions, Observer, Settings};
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::exchange::{
    Balance, BoxFuture, Exchange, Level, Market, MarketEvent, OpenOrder, OrderAck, OrderBook, OrderRequest,
    Result as ExResult, Side, TokenId, TradeReport,
};
use equilibrage::lab::{Recorder, RecorderConfig, ShadowRunner};
use equilibrage::plugins::{PluginKind, PluginOptions, Plugins, abi, install_defaults};
use equilibrage::store::{Action, Intent, IntentAmount, Leg, PositionStatus, Purpose, Store};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// The child process runs the section this names.
mod latency;
mod scale;

use latency::{commit, latency};
use scale::{memory, memory_parts, scan};

const SECTION_ENV: &str = "EQUILIBRAGE_ENGINE_BENCH_SECTION";
const SECTIONS: [&str; 9] = [
    "latency-disk",
    "latency-shm",
    "latency-recording",
    "latency-shadow",
    "commit-disk",
    "commit-shm",
    "scan",
    "memory",
    "memory-parts",
];

/// Liquidations measured per latency run.
const LATENCY_SAMPLES: usize = 600;
const OPEN_POSITIONS: usize = 100;
const SCAN_MARKETS: usize = 20_000;
const COLD_SCANS: usize = 3;
const STEADY_SCANS: usize = 10;

/// The binary's allocator, so the figures are those of `equilibrage run`.
#[global_allocator]
static ALLOCATOR: equilibrage::allocator::Allocator = equilibrage::allocator::Allocator;

fn main() {
    // As `equilibrage run` does.
    equilibrage::allocator::return_freed_memory_at_once();
    if let Ok(section) = std::env::var(SECTION_ENV) {
        run_section(&section);
        return;
    }
    // `cargo bench` passes `--bench`; anything else not starting with `-` selects sections.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let exe = std::env::current_exe().expect("the benchmark's own path");
    for section in SECTIONS {
        if !filters.is_empty() && !filters.iter().any(|f| section.contains(f.as_str())) {
            continue;
        }
        let status = std::process::Command::new(&exe)
            .env(SECTION_ENV, section)
            .status()
            .expect("start the section's process");
        assert!(status.success(), "section {section} failed: {status}");
    }
}

fn run_section(section: &str) {
    let load = Load::now();
    match section {
        "latency-disk" => latency(&tempfile::tempdir().expect("temp dir"), Observed::Nothing),
        "latency-shm" => match shm() {
            Some(dir) => latency(&dir, Observed::Nothing),
            None => println!("latency-shm: no /dev/shm here, skipped"),
        },
        // The lab's recorder off and on, alternately, in one process (issue 15).
        "latency-recording" => {
            for _ in 0..2 {
                latency(&tempfile::tempdir().expect("temp dir"), Observed::Nothing);
                latency(&tempfile::tempdir().expect("temp dir"), Observed::Recorder);
            }
        }
        // Shadow liquidation rules off and on (issue 19), the recorder on in both, as `run` has it.
        "latency-shadow" => {
            for _ in 0..2 {
                latency(&tempfile::tempdir().expect("temp dir"), Observed::Recorder);
                latency(&tempfile::tempdir().expect("temp dir"), Observed::RecorderAndShadow);
            }
        }
        "commit-disk" => commit(&tempfile::tempdir().expect("temp dir")),
        "commit-shm" => match shm() {
            Some(dir) => commit(&dir),
            None => println!("commit-shm: no /dev/shm here, skipped"),
        },
        "scan" => scan(),
        "memory" => memory(),
        "memory-parts" => memory_parts(),
        other => panic!("unknown section {other}"),
    }
    println!("  [{section}: {}]", load.others());
}

/// CPU time, to tell whether other work shared the machine while a section ran: the whole
/// machine's busy time from /proc/stat, this process's from /proc/self/stat (clock ticks,
/// 100 a second on Linux).
struct Load {
    at: Instant,
    busy: u64,
    steal: u64,
    mine: u64,
}

impl Load {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal
        let busy = field(0) + field(1) + field(2) + field(5) + field(6);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        let after = own.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
        let mine = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Self { at: Instant::now(), busy, steal: field(7), mine }
    }

    /// What the rest of the machine used since `self`, in cores on average.
    fn others(&self) -> String {
        let now = Self::now();
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let cores = |ticks: u64| f64::from(u32::try_from(ticks).unwrap_or(u32::MAX)) / 100.0 / secs;
        format!(
            "{:.1} s; this process {:.2} cores, everything else {:.2} cores, steal {:.2}",
            secs,
            cores(now.mine.saturating_sub(self.mine)),
            cores(now.busy.saturating_sub(self.busy).saturating_sub(now.mine.saturating_sub(self.mine))),
            cores(now.steal.saturating_sub(self.steal)),
        )
    }
}

fn shm() -> Option<tempfile::TempDir> {
    tempfile::tempdir_in("/dev/shm").ok()
}

/// A multi-threaded runtime with one worker per core, as `equilibrage run` starts.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// The default plugins, installed in a fresh directory and loaded (compiled, no cache).
fn default_plugins() -> (tempfile::TempDir, Plugins) {
    let dir = tempfile::tempdir().expect("temp dir");
    install_defaults(dir.path()).expect("install the default plugins");
    let plugins = Plugins::new(PluginOptions::new(dir.path(), None)).expect("plugin runtime");
    plugins.load_dir().expect("load the default plugins");
    for kind in PluginKind::ALL {
        assert!(plugins.active_info(kind).is_some(), "no {kind} plugin loaded");
    }
    (dir, plugins)
}

fn settings() -> Settings {
    Settings {
        auto_trading: false,
        max_positions: 100,
        capital_allocation_percent: Decimal::new(5, 1),
        ..Settings::default()
    }
}

/// The simulator behind the `Exchange` trait, with a stopwatch: the instant each sell is handed
/// to the venue goes out on a channel, and the time spent in venue calls that fetch data
/// (listing, books) is added up, so a scan's time can be split into venue and engine.
struct Probe {
    venue: SimExchange,
    sells: mpsc::UnboundedSender<(Instant, String)>,
    fetch_ns: AtomicU64,
    book_calls: AtomicU64,
}

impl Probe {
    fn new(venue: SimExchange) -> (Arc<Self>, mpsc::UnboundedReceiver<(Instant, String)>) {
        let (sells, received) = mpsc::unbounded_channel();
        let probe = Self { venue, sells, fetch_ns: AtomicU64::new(0), book_calls: AtomicU64::new(0) };
        (Arc::new(probe), received)
    }

    fn add(&self, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.fetch_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Venue time and book requests since the last call.
    fn take(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.fetch_ns.swap(0, Ordering::Relaxed)),
            self.book_calls.swap(0, Ordering::Relaxed),
        )
    }
}

impl Exchange for Probe {
    fn name(&self) -> &'static str {
        self.venue.name()
    }

    fn markets(&self) -> BoxFuture<'_, ExResult<Vec<std::sync::Arc<Market>>>> {
        let start = Instant::now();
        let listing = self.venue.markets();
        Box::pin(async move {
            let markets = listing.await;
            self.add(start);
            markets
        })
    }

    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ExResult<OrderBook>> {
        let start = Instant::now();
        let book = self.venue.book(token);
        Box::pin(async move {
            let book = book.await;
            self.add(start);
            self.book_calls.fetch_add(1, Ordering::Relaxed);
            book
        })
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.venue.events()
    }

    fn watch(&self, tokens: &[TokenId]) {
        self.venue.watch(tokens);
    }

    fn place(&self, order: OrderRequest) -> BoxFuture<'_, ExResult<OrderAck>> {
        if order.side == Side::Sell {
            // Nobody listening is fine.
            let _ = self.sells.send((Instant::now(), order.token.clone()));
        }
        self.venue.place(order)
    }

    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, ExResult<()>> {
        self.venue.cancel(order_id)
    }

    fn open_orders(&self) -> BoxFuture<'_, ExResult<Vec<OpenOrder>>> {
        self.venue.open_orders()
    }

    fn trades(&self, since_ms: i64) -> BoxFuture<'_, ExResult<Vec<TradeReport>>> {
        self.venue.trades(since_ms)
    }

    fn balance(&self) -> BoxFuture<'_, ExResult<Balance>> {
        self.venue.balance()
    }
}

/// An engine on the simulator behind `probe`, its store in `dir`.
async fn engine_on(probe: &Arc<Probe>, plugins: &Plugins, dir: &Path) -> Engine {
    let store = Store::open(&dir.join("equilibrage.redb")).expect("open the store");
    let venue = probe.venue.clone();
    let clock = Clock::from_fn(move || venue.now_ms());
    let exchange: Arc<dyn Exchange> = Arc::clone(probe) as Arc<dyn Exchange>;
    Engine::open(
        exchange,
        plugins.clone(),
        store,
        EngineOptions { settings: settings(), clock, metrics: true },
    )
    .await
    .expect("open the engine")
}

/// Enters markets from `markets[*next..]` until `want` positions are open.
async fn fill_slots(engine: &Engine, markets: &[std::sync::Arc<Market>], next: &mut usize, want: usize) {
    while engine.positions().len() < want {
        let m = markets.get(*next).expect("enough markets to keep the positions open");
        *next += 1;
        // Thin books are refused by the pre-trade check: the next market, then.
        let _ = engine.enter(&m.id, None).await;
        engine.settle().await;
    }
}

/// The filesystem a path lives on, from /proc/self/mounts (longest mount point that prefixes it).
fn filesystem(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 2 && path.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} {} on {}", f[2], f[0], f[1])))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown filesystem".into(), |(_, fs)| fs)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs (n = {})",
        us(pct(&samples, 50)),
        us(pct(&samples, 90)),
        us(pct(&samples, 99)),
        us(*samples.last().expect("samples")),
        samples.len()
    )
}

/// Tick-to-order latency: a book event drops the best bid of a held YES token 40 % below its
/// entry; measured from just before `on_market_event` to the instant the venue's `place` is called
/// with the sell. On the way: book update, the liquidation-rules plugin's decision, the decision's
/// task, the journal's durable commit.
/// Who observes the engine in a latency run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observed {
    Nothing,
    Recorder,
    /// The recorder behind the shadow runner, with a copy of the default rules as shadow rules
    /// (each rules call is repeated on it).
    RecorderAndShadow,
}
