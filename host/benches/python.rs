//! Python plugins against their Rust twins (issue 19), side by side in one run: the scaffolded
//! scorer and liquidation rules of each language (the same strategy, tested to answer alike),
//! built, then compared on size, drop-in to active (compile), call time and the smallest memory
//! limit they run under. `cargo bench -p equilibrage --bench python` (componentize-py from
//! `.ci/run`'s or `plugin dev`'s virtual environment; results in docs/benchmarks.md).

#![expect(clippy::print_stdout, reason = "a harness-less benchmark reports on stdout")]

use equilibrage::plugin_dev::{self, BuildOptions, Built, Project};
use equilibrage::plugins::{Limits, PluginKind, PluginOptions, Plugins, abi};
use equilibrage::scaffold::{new_plugin, new_python_plugin};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

const MARKETS: u32 = 20_000;

/// A call to time: what it is, the call, how many rounds.
type Timed<'a> = (&'a str, Box<dyn Fn(&Plugins) + 'a>, usize);

fn built(dir: &Path, componentize_py: &Path) -> Vec<u8> {
    let project = Project::open(dir).expect("a project");
    let options = BuildOptions {
        target_dir: Some(PathBuf::from(equilibrage_plugin_artifacts::GUEST_TARGET_DIR)),
        componentize_py: Some(componentize_py.to_path_buf()),
    };
    match plugin_dev::build_with_env(&project, &options, &[("CARGO_NET_OFFLINE", "true")]).expect("build") {
        Built::Component { bytes, .. } => bytes,
        Built::Failed { output } => panic!("{}:\n{output}", dir.display()),
    }
}

/// A runtime (no compile cache) with `bytes` dropped in; how long until it answered its canary.
fn load(bytes: &[u8], limits: Limits) -> Option<(tempfile::TempDir, Plugins, Duration)> {
    let dir = tempfile::tempdir().expect("dir");
    let mut options = PluginOptions::new(dir.path(), None);
    options.limits = limits;
    let plugins = Plugins::new(options).expect("runtime");
    std::fs::write(dir.path().join("plugin.wasm"), bytes).expect("write");
    let started = Instant::now();
    let loaded = plugins.load_dir().expect("load");
    let took = started.elapsed();
    loaded.first().is_some_and(|f| f.result.is_ok()).then_some((dir, plugins, took))
}

/// Edits a project the way a strategist tunes it (every `from` in its sources becomes `to`),
/// rebuilds it, drops it over the file `plugins` loaded from `dir`, and times until the new
/// version answered its canary: what `plugin dev` waits for after a build.
fn reload_after_edit(
    project: &Path,
    (from, to): (&str, &str),
    componentize_py: &Path,
    (dir, plugins): (&Path, &Plugins),
) -> Duration {
    let mut sources = vec![project.join("plugin.py"), project.join("src/lib.rs")];
    sources.retain(|p| p.is_file());
    for path in &sources {
        let text = std::fs::read_to_string(path).expect("source");
        assert!(text.contains(from), "{} has no {from}", path.display());
        std::fs::write(path, text.replace(from, to)).expect("edit");
    }
    let bytes = built(project, componentize_py);
    std::fs::write(dir.join("plugin.wasm"), &bytes).expect("write");
    let started = Instant::now();
    let loaded = plugins.load_dir().expect("load");
    let took = started.elapsed();
    assert!(loaded.iter().all(|f| f.result.is_ok()), "the edited plugin loads: {loaded:?}");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The smallest memory limit (MiB, in steps of 4) under which the plugin loads and answers `call`.
fn smallest_memory(bytes: &[u8], call: &dyn Fn(&Plugins) -> bool) -> u64 {
    for mib in (4..=128_u64).step_by(4) {
        let limits = Limits {
            memory_bytes: usize::try_from(mib << 20).unwrap_or(usize::MAX),
            call_timeout: Duration::from_secs(30),
            ..Limits::default()
        };
        if let Some((_dir, plugins, _)) = load(bytes, limits)
            && call(&plugins)
        {
            return mib;
        }
    }
    u64::MAX
}

fn main() {
    let componentize_py = plugin_dev::componentize_py(&mut std::io::stdout()).expect("componentize-py");
    let work = tempfile::tempdir().expect("work");
    let roomy = Limits { call_timeout: Duration::from_secs(30), ..Limits::default() };
    let rows: Vec<abi::MarketFeatures> = (0..MARKETS).map(support::market).collect();
    let batch = abi::MarketBatch::from_rows(&rows);
    let small = abi::MarketBatch::from_rows(&rows[..300]);
    let position = abi::PositionView {
        yes: abi::Leg {
            shares: 50_000_000,
            entry_price: 500_000,
            best_bid: Some(420_000),
            best_ask: Some(430_000),
        },
        no: abi::Leg {
            shares: 50_000_000,
            entry_price: 500_000,
            best_bid: Some(560_000),
            best_ask: Some(570_000),
        },
        opened_at: 0,
        liquidated: None,
    };
    let positions = vec![position; 100];

    for kind in [PluginKind::Scorer, PluginKind::LiquidationRules] {
        let py = new_python_plugin(&work.path().join(format!("py-{kind}")), "twin", kind).expect("scaffold");
        let rust = new_plugin(&work.path().join(format!("rust-{kind}")), "twin", kind).expect("scaffold");
        let (py_bytes, rust_bytes) = (built(&py, &componentize_py), built(&rust, &componentize_py));
        let (py_dir, python, py_load) = load(&py_bytes, roomy).expect("the Python plugin loads");
        let (rust_dir, native, rust_load) = load(&rust_bytes, roomy).expect("the Rust plugin loads");
        println!(
            "{kind}: component {} KiB (Python) / {} KiB (Rust)",
            py_bytes.len() >> 10,
            rust_bytes.len() >> 10
        );
        println!(
            "  drop-in to active (compile, instantiate, describe, canary; no cache): {} / {}",
            ms(py_load),
            ms(rust_load)
        );
        let edit = match kind {
            PluginKind::Scorer => ("100_000.0", "90_000.0"),
            _ => ("0.25", "0.3"),
        };
        println!(
            "  after an edit, rebuilt and dropped over it (same runtime, unchanged functions compiled before): {} / {}",
            ms(reload_after_edit(&py, edit, &componentize_py, (py_dir.path(), &python))),
            ms(reload_after_edit(&rust, edit, &componentize_py, (rust_dir.path(), &native)))
        );
        let calls: Vec<Timed<'_>> = match kind {
            PluginKind::Scorer => vec![
                (
                    "score 20,000 markets (one call)",
                    Box::new(|p: &Plugins| {
                        black_box(p.score(0, &batch).expect("scores"));
                    }),
                    15,
                ),
                (
                    "score 300 markets (a scan)",
                    Box::new(|p: &Plugins| {
                        black_box(p.score(0, &small).expect("scores"));
                    }),
                    60,
                ),
            ],
            _ => vec![
                (
                    "evaluate 1 position",
                    Box::new(|p: &Plugins| {
                        black_box(p.evaluate_rules(0, std::slice::from_ref(&position)).expect("decisions"));
                    }),
                    200,
                ),
                (
                    "evaluate 100 positions",
                    Box::new(|p: &Plugins| {
                        black_box(p.evaluate_rules(0, &positions).expect("decisions"));
                    }),
                    100,
                ),
            ],
        };
        for (what, call, rounds) in &calls {
            call(&python);
            call(&native);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            // Interleaved, so machine drift hits both alike.
            for _ in 0..*rounds {
                let t = Instant::now();
                call(&python);
                a.push(t.elapsed());
                let t = Instant::now();
                call(&native);
                b.push(t.elapsed());
            }
            let (a, b) = (median(a), median(b));
            println!("  {what}: median {} / {} ({:.0}×)", ms(a), ms(b), a.as_secs_f64() / b.as_secs_f64());
        }
        let answers = |p: &Plugins| match kind {
            PluginKind::Scorer => p.score(0, &small).is_ok(),
            _ => p.evaluate_rules(0, std::slice::from_ref(&position)).is_ok(),
        };
        println!(
            "  smallest memory limit it runs under (per instance, 4 MiB steps): {} MiB / {} MiB",
            smallest_memory(&py_bytes, &answers),
            smallest_memory(&rust_bytes, &answers)
        );
    }
}
