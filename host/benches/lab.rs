//! Strategy lab benchmarks (issue 15), results in docs/benchmarks.md:
//! - recording: bytes on disk per recorded event, for a day of the 300-market simulator recorded
//!   through the engine (market events, listings, books, whales, news, decisions);
//! - replay throughput: recorded market events through the engine per second, default plugins
//!   loaded, one core (the backtest runs on a single-threaded runtime);
//! - backtests of the simulator: `--days` simulated days of 300 markets (default 30);
//! - sweeps: `--variants N` variants (default 100) over `--days` simulated days of 300 markets,
//!   on one thread and on two, in the same run.
//!
//! `cargo bench -p equilibrage --bench lab [-- record|replay|sim|sweep] [--days N] [--variants N] [--calibrate]`
//! (`replay --events-only [--repeat N]`: the market events alone, N times, for profiling).

#![expect(clippy::print_stdout, reason = "a harness-less benchmark reports on stdout")]
#![expect(clippy::cast_precision_loss, reason = "rates and averages for display")]

use equilibrage::engine::{Clock, Engine, EngineOptions, Settings};
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::lab::{
    Axis, Backtest, DataSource, Objective, Overrides, Recorder, RecorderConfig, Schedule, Space, Sweep,
    recording,
};
use equilibrage::plugins::{PluginOptions, Plugins, install_defaults};
use equilibrage::store::Store;
use rust_decimal::Decimal;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The binary's allocator, so the figures are those of `equilibrage backtest` and `sweep`.
#[global_allocator]
static ALLOCATOR: equilibrage::allocator::Allocator = equilibrage::allocator::Allocator;

fn plugin_options(dir: &Path) -> PluginOptions {
    install_defaults(dir).expect("default plugins");
    PluginOptions::new(dir, Some(dir.join("cache")))
}

/// A backtest with auto-trading on and the default plugins.
fn trading(source: DataSource, plugins: &Path) -> Backtest {
    let settings = Settings { auto_trading: true, ..Settings::default() };
    // The speed targets are for the replay itself; calibration is measured apart.
    Backtest { settings, calibrate: false, ..Backtest::new(source, plugin_options(plugins)) }
}

/// Records `hours` of the 300-market simulator as the bot would see it, with auto-trading on,
/// scanning every 5 simulated minutes and sweeping every 30 s; returns the recording and the
/// number of market events in it.
fn record(root: &Path, plugins: &Path, hours: i64) -> (std::path::PathBuf, u64) {
    let sim = SimExchange::new(SimConfig::default(), Decimal::from(10_000));
    let runtime = Plugins::new(plugin_options(plugins)).expect("plugins");
    runtime.load_dir().expect("load");
    let recorder = Recorder::start(root, "sim", &RecorderConfig::default()).expect("recorder");
    let dir = recorder.dir().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut events = 0_u64;
    rt.block_on(async {
        let clock = {
            let sim = sim.clone();
            Clock::from_fn(move || sim.now_ms())
        };
        let settings = Settings { auto_trading: true, ..Settings::default() };
        let engine = Engine::open(
            Arc::new(sim.clone()),
            runtime,
            Store::in_memory().expect("store"),
            EngineOptions { settings, clock, metrics: true },
        )
        .await
        .expect("engine");
        let _ = engine.set_observer(recorder.sink());
        for minute in 0..hours * 60 {
            if minute % 5 == 0 {
                engine.scan().await.expect("scan");
            }
            let out = sim.advance(60_000);
            for e in out.events {
                events += 1;
                engine.on_market_event(e).await;
            }
            engine.push_whale_trades(out.whale_trades);
            (engine.news_sink())(out.news);
            engine.sweep().await;
            engine.sweep().await;
            engine.idle().await;
            // Keep the queue from overflowing: the benchmark is about size, not the race.
            if minute % 30 == 0 {
                recorder.flush();
            }
        }
    });
    let stats = recorder.stats();
    let dropped = stats.dropped.load(std::sync::atomic::Ordering::Relaxed);
    recorder.close().expect("close");
    assert_eq!(dropped, 0, "nothing dropped");
    (dir, events)
}

/// The value after `--name` in `args`, or `default`.
fn value<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--bench")).collect();
    // As `equilibrage backtest` does; `sweep` alone keeps mimalloc's default, as `equilibrage
    // sweep` does (keeping freed memory did not speed sweeps up and raised their peak).
    if args.iter().all(|a| a != "sweep") {
        equilibrage::allocator::keep_freed_memory();
    }
    let days: u32 = value(&args, "--days", 30);
    let variants: usize = value(&args, "--variants", 100);
    let modes = ["record", "replay", "sim", "sweep"];
    let want = |s: &str| !args.iter().any(|a| modes.contains(&a.as_str())) || args.iter().any(|a| a == s);
    let tmp = tempfile::tempdir().expect("temp dir");
    let plugins = tmp.path().join("plugins");
    let root = tmp.path().join("recordings");
    let mut recorded = None;
    if want("record") || want("replay") {
        let started = Instant::now();
        let (dir, events) = record(&root, &plugins, 24);
        let bytes: u64 = recording::segments(&dir)
            .expect("segments")
            .iter()
            .map(|p| std::fs::metadata(p).expect("size").len())
            .sum();
        let mut records = 0_u64;
        recording::read(&dir, |_| {
            records += 1;
            Ok(())
        })
        .expect("read");
        println!("record: 24 simulated hours of 300 markets in {:.1} s", started.elapsed().as_secs_f64());
        println!(
            "  {records} records ({events} market events), {bytes} bytes: {:.2} bytes per record, {:.2} per market event",
            bytes as f64 / records as f64,
            bytes as f64 / events as f64
        );
        recorded = Some(dir);
    }
    if want("replay")
        && let Some(dir) = &recorded
    {
        // As recorded; on recorded time; and the market events alone (one scan, no sweeps to
        // speak of): what the engine's event path takes.
        let events_only = Overrides {
            settings: vec![
                ("scan_interval_secs".into(), "86400".into()),
                ("sweep_interval_secs".into(), "3600".into()),
            ],
            params: Vec::new(),
        };
        let runs = if args.iter().any(|a| a == "--events-only") {
            vec![(Schedule::Interval, Some(events_only)); value(&args, "--repeat", 1_usize)]
        } else {
            vec![
                (Schedule::AsRecorded, None),
                (Schedule::Interval, None),
                (Schedule::Interval, Some(events_only)),
            ]
        };
        for (schedule, overrides) in runs {
            let mut bt = Backtest { schedule, ..trading(DataSource::Recording(dir.clone()), &plugins) };
            if let Some(o) = overrides {
                bt.overrides = o;
            }
            let started = Instant::now();
            let report = bt.run(&|_, _| {}).expect("replay");
            let secs = started.elapsed().as_secs_f64();
            println!(
                "replay ({schedule:?}, scans every {} s): {} records, {} market events, {} scans, {} sweeps in {secs:.2} s: {:.0} market events/s, {:.0} records/s; {} positions",
                report.settings.scan_interval_secs,
                report.stats.records,
                report.stats.market_events,
                report.stats.scans,
                report.stats.sweeps,
                report.stats.market_events as f64 / secs,
                report.stats.records as f64 / secs,
                report.positions.len()
            );
        }
    }
    if want("sim") {
        let source =
            DataSource::Sim { seed: 42, days, markets: 300, start_ms: SimConfig::default().start_ms };
        // `--calibrate`: with the score calibration's simulated trades, as the Lab runs it.
        let calibrate = args.iter().any(|a| a == "--calibrate");
        let bt = Backtest { schedule: Schedule::Interval, calibrate, ..trading(source, &plugins) };
        let started = Instant::now();
        let report = bt.run(&|_, _| {}).expect("sim backtest");
        if let Some(c) = &report.calibration {
            println!("calibration: {} candidates simulated", c.summarise().simulated);
        }
        println!(
            "sim backtest: {days} days of 300 markets in {:.2} s ({} market events, {} scans, {} sweeps, {} positions, return {} %)",
            started.elapsed().as_secs_f64(),
            report.stats.market_events,
            report.stats.scans,
            report.stats.sweeps,
            report.positions.len(),
            report.metrics.return_percent.round_dp(2)
        );
    }
    if want("sweep") {
        // A grid of `variants` values of the capital each entry uses (0.5 % steps from 1 %),
        // nothing held out: every variant runs the whole span.
        let source =
            DataSource::Sim { seed: 42, days, markets: 300, start_ms: SimConfig::default().start_ms };
        let values: Vec<String> =
            (0_i64..).take(variants).map(|i| Decimal::new(10 + 5 * i, 1).to_string()).collect();
        let mut results = Vec::new();
        for threads in [1, 2] {
            let sweep = Sweep {
                base: Backtest { schedule: Schedule::Interval, ..trading(source.clone(), &plugins) },
                space: Space::Grid(vec![Axis {
                    key: "engine.capital_allocation_percent".into(),
                    values: values.clone(),
                }]),
                objective: Objective::Pnl,
                holdout_percent: 0,
                top: 0,
                threads,
                keep_decisions: false,
            };
            let started = Instant::now();
            let outcome = sweep.run(&|_, _| {}).expect("sweep");
            let secs = started.elapsed().as_secs_f64();
            println!(
                "sweep: {variants} variants over {days} days of 300 markets on {threads} thread(s) in {secs:.2} s ({:.2} s per variant-day); best P&L {}",
                secs / (variants as f64 * f64::from(days)),
                outcome.report.rows.first().map(|r| r.train.pnl.round_dp(2)).unwrap_or_default()
            );
            let m = outcome.memo;
            println!(
                "  signal plugin calls: {} answered once, {} shared between variants ({} not kept); {:.1} MB kept",
                m.misses,
                m.hits,
                m.refused,
                m.bytes as f64 / 1e6
            );
            results.push((secs, outcome.report.deterministic_json()));
        }
        println!(
            "  two threads: {:.2}x one thread's speed; same table on both: {}",
            results[0].0 / results[1].0,
            results[0].1 == results[1].1
        );
    }
}
