//! Plugin runtime benchmarks (results and commands in docs/benchmarks.md):
//! batch scoring through wasm vs the same logic native, hot reload latency, warm cold start.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use equilibrage::plugins::{PluginKind, PluginOptions, Plugins, abi, install_defaults, watch};
use equilibrage_plugin_artifacts as guests;
use equilibrage_plugin_sdk::prelude::{Scorer as _, Scores};
use equilibrage_scorer::DefaultScorer;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

// The integration tests' market generator, so tests and benchmarks score the same markets.
#[path = "../tests/support/mod.rs"]
mod support;
use support::{market, to_guest};

const MARKETS: u32 = 20_000;

fn runtime(dir: &Path, cache: Option<&Path>) -> Plugins {
    let plugins = Plugins::new(PluginOptions::new(dir, cache.map(Path::to_path_buf))).expect("runtime");
    plugins.load_dir().expect("load");
    plugins
}

fn scoring(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    install_defaults(dir.path()).unwrap();
    let plugins = runtime(dir.path(), None);
    let rows: Vec<_> = (0..MARKETS).map(market).collect();
    let markets = abi::MarketBatch::from_rows(&rows);
    let native_markets = equilibrage_plugin_sdk::prelude::MarketBatch::from_rows(
        &rows.iter().map(to_guest).collect::<Vec<_>>(),
    );
    let info = plugins.active_info(PluginKind::Scorer).unwrap();
    let params = equilibrage_plugin_sdk::Params::new(
        info.params.iter().map(|p| p.default).collect(),
        &info
            .params
            .iter()
            .map(|p| equilibrage_plugin_sdk::ParamSpec::new(&p.name, p.default, p.min, p.max, &p.help))
            .collect::<Vec<_>>(),
    );

    let factors = DefaultScorer::info().factors.len();
    let mut group = c.benchmark_group("score_20k_markets");
    group.sample_size(50);
    group.bench_function(BenchmarkId::new("wasm", "default-scorer"), |b| {
        b.iter(|| black_box(plugins.score(0, black_box(&markets)).unwrap()));
    });
    group.bench_function(BenchmarkId::new("native", "default-scorer"), |b| {
        // The same trait method the component exports, compiled for the host.
        b.iter(|| {
            let mut out = Scores::with_capacity(native_markets.len(), factors);
            DefaultScorer::score_batch(&params, 0, black_box(&native_markets), &mut out).unwrap();
            black_box(out)
        });
    });
    // The same batch through a scorer that computes nothing: what crossing the boundary costs.
    let transfer_dir = tempfile::tempdir().unwrap();
    std::fs::write(transfer_dir.path().join("transfer.wasm"), guests::BAD_OUTPUT.bytes).unwrap();
    let transfer = runtime(transfer_dir.path(), None);
    group.bench_function(BenchmarkId::new("wasm", "transfer-only"), |b| {
        b.iter(|| black_box(transfer.score(0, black_box(&markets)).unwrap()));
    });
    group.finish();
}

/// The template component with a unique trailing custom section: same plugin, never-seen bytes.
fn variant(n: u64) -> Vec<u8> {
    let name = b"equilibrage-bench";
    let payload = n.to_le_bytes();
    let mut bytes = guests::TEMPLATE.bytes.to_vec();
    bytes.push(0); // custom section id
    let size = 1 + name.len() + payload.len();
    bytes.push(u8::try_from(size).unwrap());
    bytes.push(u8::try_from(name.len()).unwrap());
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    bytes
}

/// Writes `bytes` over `path` (write beside, rename) and returns when a call answers from the
/// new version.
fn reload_latency(plugins: &Plugins, path: &Path, bytes: &[u8]) -> Duration {
    let before =
        plugins.score(0, &abi::MarketBatch::from_rows(&[market(1)])).map(|s| s.generation).unwrap_or(0);
    let give_up = Instant::now() + Duration::from_secs(30);
    let tmp = path.with_extension("partial");
    let start = Instant::now();
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
    loop {
        if plugins.score(0, &abi::MarketBatch::from_rows(&[market(1)])).is_ok_and(|s| s.generation > before) {
            return start.elapsed();
        }
        assert!(Instant::now() < give_up, "the new version never answered");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn hot_reload(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot_reload_write_to_answer");
    group.sample_size(20).measurement_time(Duration::from_secs(10));

    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    install_defaults(dir.path()).unwrap();
    let plugins = runtime(dir.path(), Some(cache.path()));
    let _hot = watch(&plugins).unwrap();
    let path = dir.path().join("bench.wasm");
    let mut n = 0;
    group.bench_function("never_seen_plugin", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    n += 1;
                    reload_latency(&plugins, &path, &variant(n))
                })
                .sum()
        });
    });
    // Two variants already in the compile cache, alternating: every write is a change.
    let warm = [variant(u64::MAX), variant(u64::MAX - 1)];
    for v in &warm {
        reload_latency(&plugins, &path, v);
    }
    let mut flip = 1; // warm[1] was written last
    group.bench_function("warm_cache", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    flip ^= 1;
                    reload_latency(&plugins, &path, &warm[flip])
                })
                .sum()
        });
    });
    group.finish();
}

fn cold_start(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    install_defaults(dir.path()).unwrap();
    drop(runtime(dir.path(), Some(cache.path()))); // fills the cache
    let mut group = c.benchmark_group("cold_start");
    group.sample_size(20);
    group.bench_function("warm_cache_all_default_plugins_ready", |b| {
        b.iter(|| {
            let plugins = runtime(dir.path(), Some(cache.path()));
            assert!(PluginKind::ALL.iter().all(|k| plugins.active_info(*k).is_some()));
            black_box(plugins)
        });
    });
    group.finish();
}

/// One liquidation-rules call on six open positions: a fresh instance, the call, the reset.
fn rules_call(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    install_defaults(dir.path()).unwrap();
    let plugins = runtime(dir.path(), None);
    let leg = |bid| abi::Leg {
        shares: 10_000_000,
        entry_price: 500_000,
        best_bid: Some(bid),
        best_ask: Some(bid + 10_000),
    };
    let positions: Vec<_> = (0..6)
        .map(|i| abi::PositionView {
            yes: leg(400_000 + i * 10_000),
            no: leg(550_000 - i * 10_000),
            opened_at: 0,
            liquidated: None,
        })
        .collect();
    let mut now = 0;
    c.bench_function("rules_call/6_positions", |b| {
        b.iter(|| {
            // A new moment each call, as the monitor's sweeps give.
            now += 30_000;
            black_box(plugins.evaluate_rules(now, black_box(&positions)).unwrap())
        });
    });
}

criterion_group!(benches, scoring, hot_reload, cold_start, rules_call);
criterion_main!(benches);
