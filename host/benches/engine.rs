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

fn latency(dir: &tempfile::TempDir, observed: Observed) {
    let (_plugin_dir, plugins) = default_plugins();
    if observed == Observed::RecorderAndShadow {
        let shadow = plugins.shadow_dir();
        std::fs::create_dir_all(&shadow).expect("shadow dir");
        std::fs::copy(plugins.dir().join("equilibrage.wasm"), shadow.join("equilibrage.wasm"))
            .expect("shadow");
        plugins.load_dir().expect("load the shadow");
        assert!(plugins.has_shadow(PluginKind::LiquidationRules));
    }
    let recording = observed != Observed::Nothing;
    let venue = SimExchange::new(SimConfig { markets: 2_000, ..SimConfig::default() }, Decimal::from(10_000));
    let (probe, mut sells) = Probe::new(venue.clone());
    let rt = runtime();
    let path = dir.path().to_path_buf();
    let rules = plugins.clone();
    // On a worker, as the feed task runs.
    let recordings = path.join("recordings");
    let task = rt.spawn(async move {
        let engine = engine_on(&probe, &plugins, &path).await;
        // The recorder, as `run` starts it, when asked: it sees every tick the engine takes.
        let recorder = recording
            .then(|| Recorder::start(&recordings, "sim", &RecorderConfig::default()).expect("recorder"));
        let shadows = match (&recorder, observed) {
            (Some(r), Observed::RecorderAndShadow) => {
                let runner = ShadowRunner::start(plugins.clone(), path.join("shadows.json"), Some(r.sink()))
                    .expect("shadow runner");
                let _ = engine.set_observer(Arc::clone(&runner) as Arc<dyn Observer>);
                Some(runner)
            }
            (Some(r), _) => {
                let _ = engine.set_observer(r.sink());
                None
            }
            (None, _) => None,
        };
        let markets = probe.venue.markets().await.expect("markets");
        let ticks: HashMap<String, Decimal> = markets.iter().map(|m| (m.id.clone(), m.tick_size)).collect();
        let mut next = 0;
        fill_slots(&engine, &markets, &mut next, OPEN_POSITIONS).await;
        let (mut to_order, mut to_return) = (Vec::new(), Vec::new());
        for _ in 0..LATENCY_SAMPLES {
            assert_eq!(engine.positions().len(), OPEN_POSITIONS);
            let view = engine
                .positions()
                .into_iter()
                .find(|v| v.position.status == PositionStatus::Active)
                .expect("an active position");
            let p = &view.position;
            let yes = p.leg(Leg::Yes);
            let tick = ticks[&p.market_id];
            let bid = ((yes.entry_price() * Decimal::new(6, 1)) / tick).floor().max(Decimal::ONE) * tick;
            let size = Decimal::from(10_000);
            let event = MarketEvent::Book {
                token: yes.token.clone(),
                bids: vec![Level { price: bid, size }],
                asks: vec![Level { price: bid + tick, size }],
                at_ms: engine.now_ms(),
            };
            while sells.try_recv().is_ok() {}

            let start = Instant::now();
            engine.on_market_event(event).await;
            to_return.push(start.elapsed());
            let placed = loop {
                let (at, token) = tokio::time::timeout(Duration::from_secs(10), sells.recv())
                    .await
                    .expect("the liquidation was sent within 10 s")
                    .expect("the probe is alive");
                if token == yes.token {
                    break at;
                }
            };
            to_order.push(placed.duration_since(start));

            engine.settle().await;
            let after = engine.position(p.id).expect("the position");
            assert_eq!(after.position.liquidated, Some(Leg::Yes), "the YES side was liquidated");
            // Make room: close what is left, open another.
            engine.close(p.id).await.expect("close");
            fill_slots(&engine, &markets, &mut next, OPEN_POSITIONS).await;
        }
        // The thread hops on the way, alone: a plugin call goes to the blocking pool and back,
        // a decision goes to a task of its own.
        let (mut blocking, mut pooled, mut spawned) = (Vec::new(), Vec::new(), Vec::new());
        let view = falling_yes();
        for _ in 0..2_000 {
            let start = Instant::now();
            tokio::task::spawn_blocking(|| ()).await.expect("blocking pool");
            blocking.push(start.elapsed());
            let rules = plugins.clone();
            let start = Instant::now();
            tokio::task::spawn_blocking(move || decide(&rules, &view)).await.expect("blocking pool");
            pooled.push(start.elapsed());
            let (tx, rx) = tokio::sync::oneshot::channel();
            let start = Instant::now();
            tokio::spawn(async move { tx.send(Instant::now()) });
            let ran = rx.await.expect("the task ran");
            spawned.push(ran.duration_since(start));
        }
        let shadowed = shadows.map(|runner| {
            runner.settle();
            let report = runner.report();
            let rules = report.rules.unwrap_or_default();
            (rules.checks, rules.id.mean_us(), report.dropped)
        });
        let recorded = recorder.map(|r| {
            let s = r.stats();
            let figures = (s.records.load(Ordering::Relaxed), s.dropped.load(Ordering::Relaxed));
            r.close().expect("close the recording");
            figures
        });
        (to_order, to_return, next, blocking, pooled, spawned, recorded, shadowed)
    });
    let (to_order, to_return, markets_used, blocking, pooled, spawned, recorded, shadowed) =
        rt.block_on(task).expect("latency run");
    let mut recorder = match recorded {
        Some((records, dropped)) => format!("recording on ({records} records, {dropped} dropped)"),
        None => "recording off".to_owned(),
    };
    if let Some((checks, mean_us, dropped)) = shadowed {
        recorder.push_str(&format!(
            ", shadow rules on ({checks} evaluations compared, {mean_us} µs a call, {dropped} calls missed)"
        ));
    }
    println!("latency ({}), store on {}, {recorder}:", dir.path().display(), filesystem(dir.path()));
    println!("  first sample {:.0} µs", us(to_order[0]));
    println!("  tick → sell handed to the venue: {}", summary(to_order));
    println!("  tick → on_market_event returned (decision made, task spawned): {}", summary(to_return));
    println!("  ({OPEN_POSITIONS} positions open throughout; {markets_used} markets entered in all)");
    let view = falling_yes();
    let direct: Vec<Duration> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            decide(&rules, &view);
            start.elapsed()
        })
        .collect();
    println!("  of which the rules plugin, called directly: {}", summary(direct));
    println!("  the rules plugin through the blocking pool, as the engine calls it: {}", summary(pooled));
    println!("  a round trip to the blocking pool (empty closure): {}", summary(blocking));
    println!("  tokio::spawn until the task runs: {}", summary(spawned));
}

/// A position whose YES bid is 40 % below its entry, as the liquidation-rules plugin sees it.
fn falling_yes() -> abi::PositionView {
    let leg = |entry: i64, bid: i64| abi::Leg {
        shares: 40_000_000,
        entry_price: entry,
        best_bid: Some(bid),
        best_ask: Some(bid + 10_000),
    };
    abi::PositionView {
        yes: leg(600_000, 360_000),
        no: leg(410_000, 390_000),
        opened_at: 0,
        liquidated: None,
    }
}

/// One call of the liquidation-rules plugin about [`falling_yes`].
fn decide(plugins: &Plugins, view: &abi::PositionView) {
    let decided = plugins.evaluate_rules(1_767_225_600_000, std::slice::from_ref(view)).expect("rules");
    assert_eq!(decided.decisions.len(), 1, "the YES side is liquidated");
}

/// One durable journal commit, as the engine writes it before sending an order (and the removal
/// that resolves it): what the disk contributes to the tick-to-order latency.
fn commit(dir: &tempfile::TempDir) {
    let store = Store::open(&dir.path().join("equilibrage.redb")).expect("open the store");
    let rt = runtime();
    let (puts, removes, reads) = rt.block_on(async move {
        let (mut puts, mut removes, mut reads) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..1_000_u64 {
            let intent = Intent {
                client_id: format!("p{n}-yes-liquidation-1767225600000-{n}"),
                position_id: n,
                leg: Leg::Yes,
                action: Action::Sell,
                purpose: Purpose::Liquidation,
                token: "71321045679252212594626385532706912750332728571942532289631379312455583992563".into(),
                amount: IntentAmount::Shares(Decimal::new(4_166_666, 5)),
                fill_and_kill: true,
                created_at_ms: 1_767_225_600_000,
                reason: "yes best bid 0.36 is 40.0 % below its entry 0.60".into(),
                order_id: None,
                venue_at_ms: None,
                decided_by: None,
            };
            let id = intent.client_id.clone();
            let start = Instant::now();
            store.write(move |w| w.put_intent(&intent)).await.expect("journal");
            puts.push(start.elapsed());
            let start = Instant::now();
            let pending = store.read().and_then(|r| r.intents()).expect("read the journal");
            reads.push(start.elapsed());
            assert_eq!(pending.len(), 1);
            let start = Instant::now();
            store.write(move |w| w.remove_intent(&id)).await.expect("resolve");
            removes.push(start.elapsed());
        }
        (puts, removes, reads)
    });
    println!("journal commit ({}), store on {}:", dir.path().display(), filesystem(dir.path()));
    println!("  put_intent, durable: {}", summary(puts));
    println!("  remove_intent, durable: {}", summary(removes));
    println!("  reading the journal (a read transaction, one intent): {}", summary(reads));
}

/// RSS and its high-water mark, from /proc/self/status, MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u32>().ok())
            .map_or(f64::NAN, |kb| f64::from(kb) / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn report_rss(what: &str) {
    let (rss, hwm) = rss();
    println!("  {what:<58} VmRSS {rss:7.1} MiB   VmHWM {hwm:7.1} MiB");
}

fn scan() {
    let (_plugin_dir, plugins) = default_plugins();
    let started = Instant::now();
    let venue =
        SimExchange::new(SimConfig { markets: SCAN_MARKETS, ..SimConfig::default() }, Decimal::from(10_000));
    println!("scan of {SCAN_MARKETS} markets (simulator built in {:.0} ms):", ms(started.elapsed()));
    let (probe, _sells) = Probe::new(venue);
    let rt = runtime();
    let dirs: Vec<tempfile::TempDir> =
        (0..COLD_SCANS).map(|_| tempfile::tempdir().expect("temp dir")).collect();
    println!("  store on {}", filesystem(dirs[0].path()));
    rt.block_on(async {
        let mut engine = None;
        for (i, dir) in dirs.iter().enumerate() {
            // A fresh engine knows no books: every candidate's two books come from the venue.
            let fresh = engine_on(&probe, &plugins, dir.path()).await;
            probe.take();
            let start = Instant::now();
            let record = fresh.scan().await.expect("scan");
            let wall = start.elapsed();
            let (venue, books) = probe.take();
            assert!(record.error.is_none(), "scan failed: {:?}", record.error);
            println!(
                "  cold #{}: {:.0} ms wall ({} listed, {} candidates, {} scored; record says {:.0} ms \
                 before storing); of which venue calls {:.0} ms ({books} book requests) → engine {:.0} ms",
                i + 1,
                ms(wall),
                record.listed,
                record.candidates,
                record.scored,
                ms(Duration::from_micros(record.duration_us)),
                ms(venue),
                ms(wall.saturating_sub(venue)),
            );
            engine = Some(fresh);
        }
        let engine = engine.expect("an engine");
        let mut walls = Vec::new();
        for _ in 0..STEADY_SCANS {
            let start = Instant::now();
            let record = engine.scan().await.expect("scan");
            let wall = start.elapsed();
            let (venue, books) = probe.take();
            assert!(record.error.is_none(), "scan failed: {:?}", record.error);
            println!(
                "  steady: {:.0} ms wall (record says {:.0} ms before storing; venue calls {:.1} ms, {books} \
                 book requests)",
                ms(wall),
                ms(Duration::from_micros(record.duration_us)),
                ms(venue),
            );
            walls.push(wall);
        }
        walls.sort();
        println!(
            "  steady over {STEADY_SCANS} scans: median {:.0} ms, min {:.0} ms, max {:.0} ms",
            ms(pct(&walls, 50)),
            ms(walls[0]),
            ms(*walls.last().expect("scans"))
        );
        // Where a steady scan's storing goes: the same two store operations the scan makes after
        // scoring, timed alone.
        let start = Instant::now();
        let opportunities = engine.opportunities(f32::MIN).expect("opportunities");
        let read = start.elapsed();
        let last = engine.health().expect("health").last_scan.expect("a scan");
        let other = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&other.path().join("equilibrage.redb")).expect("open the store");
        let mut writes = Vec::new();
        for _ in 0..3 {
            let (scan, all) = (last.clone(), opportunities.clone());
            let start = Instant::now();
            store.write(move |w| w.replace_opportunities(&scan, &all)).await.expect("replace");
            writes.push(start.elapsed());
        }
        println!(
            "  of a steady scan's storing: reading back the {} stored opportunities {:.0} ms; replacing them \
             in one durable transaction {:.0} ms (2nd and 3rd of 3 writes to a separate store: {:.0}, {:.0} ms)",
            opportunities.len(),
            ms(read),
            ms(writes[0]),
            ms(writes[1]),
            ms(writes[2]),
        );
    });
}

/// RSS with 20,000 markets tracked: all default plugins loaded, the engine on the 20k-market
/// simulator, a scan, 100 positions, then a simulated hour of one-minute steps whose every event
/// goes through the engine's feed path, with a sweep each minute and a scan every five.
fn memory() {
    println!("memory, 20,000 markets:");
    report_rss("process started");
    let (_plugin_dir, plugins) = default_plugins();
    report_rss("all four default plugins loaded");
    let venue =
        SimExchange::new(SimConfig { markets: SCAN_MARKETS, ..SimConfig::default() }, Decimal::from(10_000));
    report_rss("+ simulator with 20,000 markets (in-process venue)");
    let (probe, _sells) = Probe::new(venue.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = runtime();
    rt.block_on(async {
        let engine = engine_on(&probe, &plugins, dir.path()).await;
        let record = engine.scan().await.expect("scan");
        assert!(record.error.is_none(), "scan failed: {:?}", record.error);
        report_rss(&format!("+ engine open, first scan ({} candidates)", record.candidates));
        let markets = venue.markets().await.expect("markets");
        let mut next = 0;
        fill_slots(&engine, &markets, &mut next, OPEN_POSITIONS).await;
        report_rss(&format!("+ {OPEN_POSITIONS} positions open"));
        let mut events = 0_usize;
        let started = Instant::now();
        for minute in 1..=60 {
            for event in venue.advance(60_000).events {
                events += 1;
                engine.on_market_event(event).await;
            }
            engine.sweep().await;
            if minute % 5 == 0 {
                let record = engine.scan().await.expect("scan");
                assert!(record.error.is_none(), "scan failed: {:?}", record.error);
            }
        }
        engine.settle().await;
        report_rss(&format!(
            "+ 1 simulated hour: {events} events fed, 60 sweeps, 12 scans ({:.0} s)",
            started.elapsed().as_secs_f64()
        ));
        let open = engine.positions().len();
        let liquidated = engine.positions().iter().filter(|v| v.position.liquidated.is_some()).count();
        println!(
            "  ({open} positions still open after the hour, {liquidated} of them liquidated on one side)"
        );
    });
    let (rss, hwm) = rss();
    println!("  final: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB");
}

/// What the big pieces weigh, each measured as the RSS it adds in a fresh process: the engine's
/// cache of 40,000 books and 20,000 markets (rebuilt here the way the engine holds them), and the
/// store kept by a run of scans (the same 20,000 opportunities replaced again and again).
fn memory_parts() {
    println!("memory, the parts:");
    let venue =
        SimExchange::new(SimConfig { markets: SCAN_MARKETS, ..SimConfig::default() }, Decimal::from(10_000));
    let rt = runtime();
    rt.block_on(async {
        let markets = venue.markets().await.expect("markets");
        let (before, _) = rss();
        let mut books = equilibrage::exchange::BookSet::new(Decimal::from(5));
        for m in &markets {
            for o in &m.outcomes {
                books.insert(o.token_id.clone(), venue.book(&o.token_id).await.expect("book"));
            }
        }
        let (after, _) = rss();
        println!("  40,000 books in a BookSet: +{:.1} MiB", after - before);
        let (before, _) = rss();
        let by_id: HashMap<String, std::sync::Arc<Market>> =
            markets.iter().map(|m| (m.id.clone(), m.clone())).collect();
        let (after, _) = rss();
        println!("  20,000 markets by id: +{:.1} MiB", after - before);
        std::hint::black_box((books, by_id));

        let (_plugin_dir, plugins) = default_plugins();
        let (probe, _sells) = Probe::new(venue.clone());
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine_on(&probe, &plugins, dir.path()).await;
        engine.scan().await.expect("scan");
        let opportunities = engine.opportunities(f32::MIN).expect("opportunities");
        let last = engine.health().expect("health").last_scan.expect("a scan");
        let bytes: usize = opportunities.iter().map(|o| serde_json::to_vec(o).map_or(0, |v| v.len())).sum();
        println!(
            "  {} opportunities, {:.1} MiB as stored (JSON); the store, replacing them scan after scan:",
            opportunities.len(),
            f64::from(u32::try_from(bytes).unwrap_or(u32::MAX)) / 1_048_576.0
        );
        let other = tempfile::tempdir().expect("temp dir");
        let path = other.path().join("equilibrage.redb");
        let store = Store::open(&path).expect("open the store");
        let (start, _) = rss();
        for n in 1..=24 {
            let (scan, all) = (last.clone(), opportunities.clone());
            store.write(move |w| w.replace_opportunities(&scan, &all)).await.expect("replace");
            if [1, 2, 4, 8, 12, 24].contains(&n) {
                let (now, _) = rss();
                let file = std::fs::metadata(&path).map_or(0, |m| m.len()) >> 20;
                println!("    after {n:>2} writes: +{:.1} MiB RSS (database file {file} MiB)", now - start);
            }
        }
    });
}
