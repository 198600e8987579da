//! Batch scoring of 20,000 markets through the wasm scorer and the same scorer compiled natively,
//! interleaved call by call so machine drift hits both alike; prints both medians and the ratio.
//! `cargo bench -p equilibrage --bench scoring_ratio` (results in docs/benchmarks.md).

use equilibrage::plugins::{PluginKind, PluginOptions, Plugins, abi, install_defaults};
use equilibrage_plugin_sdk::prelude::{MarketBatch, Scorer as _, Scores};
use equilibrage_scorer::DefaultScorer;
use std::hint::black_box;
use std::io::Write as _;
use std::time::{Duration, Instant};

// The integration tests' market generator, so tests and benchmarks score the same markets.
#[path = "../tests/support/mod.rs"]
mod support;

const MARKETS: u32 = 20_000;
const ROUNDS: usize = 400;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes harness flags such as `--bench`; this binary takes none.
    let dir = tempfile::tempdir().expect("temp dir");
    install_defaults(dir.path()).expect("defaults");
    let plugins = Plugins::new(PluginOptions::new(dir.path(), None)).expect("runtime");
    plugins.load_dir().expect("load");

    let rows: Vec<abi::MarketFeatures> = (0..MARKETS).map(support::market).collect();
    let wasm_batch = abi::MarketBatch::from_rows(&rows);
    let native_batch = MarketBatch::from_rows(&rows.iter().map(support::to_guest).collect::<Vec<_>>());
    let info = plugins.active_info(PluginKind::Scorer).expect("a scorer");
    let specs: Vec<_> = info
        .params
        .iter()
        .map(|p| equilibrage_plugin_sdk::ParamSpec::new(&p.name, p.default, p.min, p.max, &p.help))
        .collect();
    let params = equilibrage_plugin_sdk::Params::new(specs.iter().map(|p| p.default).collect(), &specs);

    let wasm = || black_box(plugins.score(0, black_box(&wasm_batch)).expect("wasm scores"));
    let native = || {
        let mut out = Scores::with_capacity(rows.len(), info.factors.len());
        DefaultScorer::score_batch(&params, 0, black_box(&native_batch), &mut out).expect("native scores");
        black_box(out)
    };
    // Same answers, bit for bit.
    let (w, n) = (wasm(), native());
    assert!(w.scores.iter().zip(&n.values).all(|(a, b)| a.to_bits() == b.to_bits()));

    for _ in 0..20 {
        wasm();
        native();
    }
    let (mut wasm_times, mut native_times) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        wasm();
        wasm_times.push(t.elapsed());
        let t = Instant::now();
        native();
        native_times.push(t.elapsed());
    }
    let (w, n) = (median(wasm_times), median(native_times));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "score 20k markets, median of {ROUNDS} interleaved rounds: wasm {:.3} ms, native {:.3} ms, ratio {:.2}",
        w.as_secs_f64() * 1e3,
        n.as_secs_f64() * 1e3,
        w.as_secs_f64() / n.as_secs_f64()
    );
}
