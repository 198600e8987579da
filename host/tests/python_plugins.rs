//! Python plugins (issue 19): a plugin of each kind scaffolded with `--lang python`
//! pass their unit tests under plain CPython, build with the pinned componentize-py, load in the
//! host under the usual sandbox, answer the same known inputs as their Rust twins, and a Python
//! plugin that loops, eats memory or raises is contained like any other.

mod support;

use equilibrage::plugin_dev::{self, BuildOptions, Built, Project};
use equilibrage::plugins::{PluginError, PluginKind, Plugins, abi};
use equilibrage::scaffold::{new_plugin, new_python_plugin};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::runtime;

fn componentize_py() -> PathBuf {
    plugin_dev::componentize_py(&mut std::io::stderr()).expect("componentize-py (installed by .ci/run)")
}

/// Builds a project (Rust offline with the warm guest target directory) and returns the bytes.
fn built(dir: &Path) -> Vec<u8> {
    let project = Project::open(dir).expect("a project");
    let options = BuildOptions {
        target_dir: Some(PathBuf::from(equilibrage_plugin_artifacts::GUEST_TARGET_DIR)),
        componentize_py: Some(componentize_py()),
    };
    // SAFETY of the environment: cargo runs offline; nothing else reads it.
    match plugin_dev::build_with_env(&project, &options, &[("CARGO_NET_OFFLINE", "true")])
        .expect("build runs")
    {
        Built::Component { bytes, .. } => bytes,
        Built::Failed { output } => panic!("{} does not build:\n{output}", dir.display()),
    }
}

fn unit_tests_pass(dir: &Path) {
    let out =
        Command::new("python3").args(["-m", "unittest", "-v"]).current_dir(dir).output().expect("python3");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the unit tests of {} under CPython:\n{text}", dir.display());
    assert!(text.contains("Ran 2 tests"), "{text}");
}

/// A runtime holding only `bytes` (with the default plugins of the other kinds).
fn loaded(name: &str, bytes: &[u8]) -> (tempfile::TempDir, Plugins) {
    runtime(&[(name, bytes)])
}

fn positions() -> Vec<abi::PositionView> {
    let leg = |shares: i64, entry: i64, bid: Option<i64>| abi::Leg {
        shares,
        entry_price: entry,
        best_bid: bid,
        best_ask: bid.map(|b| b + 10_000),
    };
    let mut out = Vec::new();
    for (i, bid) in [
        None,
        Some(10_000),
        Some(300_000),
        Some(374_999),
        Some(375_000),
        Some(375_001),
        Some(490_000),
        Some(990_000),
    ]
    .into_iter()
    .enumerate()
    {
        let other = [Some(620_000), None, Some(100_000)][i % 3];
        out.push(abi::PositionView {
            yes: leg(50_000_000, 500_000, bid),
            no: leg(50_000_000, 500_000, other),
            opened_at: 0,
            liquidated: None,
        });
        out.push(abi::PositionView {
            yes: leg(50_000_000, 600_000, other),
            no: leg(50_000_000, 480_000, bid),
            opened_at: 0,
            liquidated: None,
        });
    }
    out
}

/// Trades of twelve wallets in three markets, of growing size, both sides and outcomes.
fn trades() -> abi::AnalysisInput {
    let trades = (0..60u32)
        .map(|i| abi::Trade {
            wallet: i % 12,
            market: i % 3,
            outcome: if i % 2 == 0 { abi::Outcome::Yes } else { abi::Outcome::No },
            side: if i % 5 == 0 { abi::TradeSide::Sell } else { abi::TradeSide::Buy },
            price: 10_000 + i64::from(i) * 16_111,
            shares: i64::from(i % 12 + 1) * 1_234_567_891,
            at: i64::from(i) * 1_000,
        })
        .collect();
    abi::AnalysisInput { wallet_count: 12, market_count: 3, trades }
}

/// Items and markets, some naming a market's category in other letter cases.
fn news() -> (Vec<abi::NewsItem>, Vec<abi::MarketText>) {
    let item = |title: &str| abi::NewsItem {
        title: title.into(),
        summary: "A summary.".into(),
        source: "test".into(),
        published: 0,
    };
    let market = |question: &str, category: &str| abi::MarketText {
        question: question.into(),
        category: category.into(),
    };
    (
        vec![
            item("Crypto markets rally as BTC tops 100k"),
            item("Election: the SENATE race tightens (politics)"),
            item("Weather: a quiet week"),
            item("Sports and crypto: a stadium takes bitcoin"),
        ],
        vec![
            market("Will BTC close above 100k?", "crypto"),
            market("Who wins the Senate?", "Politics"),
            market("Will it rain?", ""),
            market("Who wins the final?", "sports"),
        ],
    )
}

#[test]
fn python_twins_answer_as_the_rust_ones_and_misbehaving_python_is_contained() {
    let work = tempfile::tempdir().expect("work dir");
    let batch = abi::MarketBatch::from_rows(&(0..200).map(support::market).collect::<Vec<_>>());

    // The scorer: the Python twin of the Rust template, score for score, factor for factor.
    let py = new_python_plugin(work.path(), "py-scorer", PluginKind::Scorer).expect("scaffold");
    unit_tests_pass(&py);
    let rust = new_plugin(&work.path().join("rust"), "py-scorer", PluginKind::Scorer).expect("scaffold");
    let (_d1, python_runtime) = loaded("py-scorer.wasm", &built(&py));
    let (_d2, rust_runtime) = loaded("py-scorer.wasm", &built(&rust));
    let a = python_runtime.score(1_767_225_600_000, &batch).expect("the Python scorer answers");
    let b = rust_runtime.score(1_767_225_600_000, &batch).expect("the Rust scorer answers");
    assert_eq!(a.plugin.name, "py-scorer");
    assert_eq!((a.plugin.params.len(), a.plugin.factors.len()), (2, 2));
    assert_eq!(a.scores, b.scores, "the same scores");
    assert_eq!(a.factors, b.factors, "the same factors");
    // Parameters reach it as they reach the Rust one.
    for r in [&python_runtime, &rust_runtime] {
        r.set_params(PluginKind::Scorer, "py-scorer", &[("weight-balance".into(), 0.1)]).expect("params");
    }
    let (a, b) =
        (python_runtime.score(0, &batch).expect("python"), rust_runtime.score(0, &batch).expect("rust"));
    assert_eq!(a.scores, b.scores, "the same scores with other weights");

    // The rules: the same decisions and reasons on positions around the drop.
    let py = new_python_plugin(work.path(), "py-rules", PluginKind::LiquidationRules).expect("scaffold");
    unit_tests_pass(&py);
    let rust =
        new_plugin(&work.path().join("rust"), "py-rules", PluginKind::LiquidationRules).expect("scaffold");
    let (_d3, python_runtime) = loaded("py-rules.wasm", &built(&py));
    let (_d4, rust_runtime) = loaded("py-rules.wasm", &built(&rust));
    let views = positions();
    let a = python_runtime.evaluate_rules(0, &views).expect("the Python rules answer");
    let b = rust_runtime.evaluate_rules(0, &views).expect("the Rust rules answer");
    assert_eq!(a.plugin.name, "py-rules");
    assert!(a.decisions.len() >= 4, "some positions are sold: {:?}", a.decisions);
    assert_eq!(a.decisions, b.decisions, "the same decisions");

    // The whale analyzer: the same whales from the same trades, with its threshold moved too.
    let py = new_python_plugin(work.path(), "py-whales", PluginKind::WhaleAnalyzer).expect("scaffold");
    unit_tests_pass(&py);
    let rust =
        new_plugin(&work.path().join("rust"), "py-whales", PluginKind::WhaleAnalyzer).expect("scaffold");
    let (_d6, python_runtime) = loaded("py-whales.wasm", &built(&py));
    let (_d7, rust_runtime) = loaded("py-whales.wasm", &built(&rust));
    let input = trades();
    let a = python_runtime.analyze_whales(0, &input).expect("the Python analyzer answers");
    let b = rust_runtime.analyze_whales(0, &input).expect("the Rust analyzer answers");
    assert!(a.whales.len() >= 3 && a.whales.len() < 12, "some wallets are whales: {:?}", a.whales);
    assert_eq!(a, b, "the same analysis");
    for r in [&python_runtime, &rust_runtime] {
        r.set_params(PluginKind::WhaleAnalyzer, "py-whales", &[("min-volume".into(), 2_500.5)])
            .expect("params");
    }
    let (a, b) = (
        python_runtime.analyze_whales(0, &input).expect("python"),
        rust_runtime.analyze_whales(0, &input).expect("rust"),
    );
    assert_eq!(a, b, "the same analysis at another threshold");

    // The news aggregator: the same matches, relevance for relevance.
    let py = new_python_plugin(work.path(), "py-news", PluginKind::NewsAggregator).expect("scaffold");
    unit_tests_pass(&py);
    let rust =
        new_plugin(&work.path().join("rust"), "py-news", PluginKind::NewsAggregator).expect("scaffold");
    let (_d8, python_runtime) = loaded("py-news.wasm", &built(&py));
    let (_d9, rust_runtime) = loaded("py-news.wasm", &built(&rust));
    let (items, markets) = news();
    let a = python_runtime.match_news(0, &items, &markets).expect("the Python aggregator answers");
    let b = rust_runtime.match_news(0, &items, &markets).expect("the Rust aggregator answers");
    assert!(a.len() >= 4, "some items match: {a:?}");
    assert_eq!(a, b, "the same matches");

    // A Python scorer that loops, eats memory or raises, by its `mode` parameter.
    let bad = new_python_plugin(work.path(), "py-faults", PluginKind::Scorer).expect("scaffold");
    std::fs::write(bad.join("plugin.py"), FAULTS).expect("write the misbehaving scorer");
    let (_d5, faults) = loaded("py-faults.wasm", &built(&bad));
    let one = support::one(1);
    assert!(faults.score(0, &one).is_ok(), "mode 0 behaves");
    let mode =
        |m: f64| faults.set_params(PluginKind::Scorer, "py-faults", &[("mode".into(), m)]).expect("mode");
    mode(1.0);
    assert!(
        matches!(faults.score(0, &one), Err(PluginError::Timeout { .. })),
        "a loop is stopped at its deadline"
    );
    mode(2.0);
    let bomb = faults.score(0, &one);
    assert!(matches!(bomb, Err(PluginError::MemoryLimit { .. })), "a memory bomb is stopped: {bomb:?}");
    mode(3.0);
    let raised = faults.score(0, &one);
    assert!(matches!(raised, Err(PluginError::Trap { .. })), "an exception is a contained trap: {raised:?}");
    mode(0.0);
    assert!(faults.score(0, &one).is_ok(), "it answers again after each fault");
    let stats = faults.list().into_iter().find(|p| p.info.name == "py-faults").expect("listed").stats;
    assert_eq!(stats.faults, 3);
}

/// A scorer misbehaving on request: 1 loops, 2 allocates without end, 3 raises.
const FAULTS: &str = r#""""A scorer that misbehaves on purpose, by its `mode` parameter."""

from equilibrage_plugin import Info

INFO = (
    Info("py-faults", "0.1.0", "Misbehaves on request.")
    .param("mode", 0.0, 0.0, 3.0, "0 behaves, 1 loops, 2 eats memory, 3 raises.")
    .factor("one", None, "Always 1.")
)


def score(params, now_ms, m):
    mode = params.get("mode")
    if mode == 1.0:
        while True:
            pass
    if mode == 2.0:
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    if mode == 3.0:
        raise RuntimeError("on purpose")
    return 5.0, [1.0]
"#;
