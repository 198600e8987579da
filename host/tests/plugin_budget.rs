//! A plugin's answer has a budget per call and per world: answers far larger than the world
//! needs (strings aliasing one buffer in the guest, so the guest spends almost nothing) are
//! refused while wasmtime lifts them, before the host copies them, and the host's memory barely
//! moves. Alone in its test binary, so the heap this binary counts is this test's.

mod support;

use equilibrage::plugins::{PluginError, PluginKind, abi};
use equilibrage_plugin_artifacts as guests;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use support::runtime;

/// The host's heap, counted: every copy wasmtime makes of a plugin's answer is a host
/// allocation, while the guest's own linear memory is mapped apart and not counted here.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
#[expect(unsafe_code, reason = "a counting global allocator for the test binary")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn answers_larger_than_their_world_needs_are_refused_before_the_host_copies_them() {
    let (dir, plugins) = runtime(&[
        ("zz-rules.wasm", guests::GREEDY_RULES.bytes),
        ("zz-describe.wasm", guests::GREEDY_DESCRIBE.bytes),
        ("zz-scorer.wasm", guests::GREEDY_SCORER.bytes),
        ("zz-whales.wasm", guests::GREEDY_WHALES.bytes),
        ("zz-news.wasm", guests::GREEDY_NEWS.bytes),
    ]);
    // describe(): 6 help texts of 1 MiB each: refused at load, before they are copied.
    let describe = dir.path().join("zz-describe.wasm");
    let why = plugins.files().into_iter().find(|f| f.file == describe).and_then(|f| f.result.err()).unwrap();
    assert!(why.contains("larger than the 512 KiB"), "{why}");
    assert_eq!(plugins.active_info(PluginKind::Scorer).unwrap().name, "greedy-scorer");

    // evaluate(): 120 reasons of 1 MiB each, on one buffer, about one position.
    assert_eq!(plugins.active_info(PluginKind::LiquidationRules).unwrap().name, "greedy-rules");
    plugins.set_params(PluginKind::LiquidationRules, "greedy-rules", &[("mode".into(), 1.0)]).unwrap();
    let leg = abi::Leg { shares: 5_000_000, entry_price: 500_000, best_bid: Some(400_000), best_ask: None };
    let positions = [abi::PositionView { yes: leg, no: leg, opened_at: 0, liquidated: None }];
    refused_without_copying("greedy-rules", 120, || plugins.evaluate_rules(0, &positions).map(drop));
    // Within its budget it answers as usual.
    plugins.set_params(PluginKind::LiquidationRules, "greedy-rules", &[("mode".into(), 0.0)]).unwrap();
    assert!(plugins.evaluate_rules(0, &positions).unwrap().decisions.is_empty());

    // score(): 6 M scores for 3 markets, or a 24 MiB error message.
    let batch = abi::MarketBatch::from_rows(&[support::market(0), support::market(1), support::market(2)]);
    for mode in [1.0, 2.0] {
        plugins.set_params(PluginKind::Scorer, "greedy-scorer", &[("mode".into(), mode)]).unwrap();
        refused_without_copying("greedy-scorer", 24, || plugins.score(0, &batch).map(drop));
    }
    plugins.set_params(PluginKind::Scorer, "greedy-scorer", &[("mode".into(), 0.0)]).unwrap();
    assert_eq!(plugins.score(0, &batch).unwrap().scores.len(), 3);

    // analyze(): 256 Ki profiles for 2 wallets, or a 24 MiB error message.
    assert_eq!(plugins.active_info(PluginKind::WhaleAnalyzer).unwrap().name, "greedy-whales");
    let input = abi::AnalysisInput { wallet_count: 2, market_count: 1, trades: Vec::new() };
    for mode in [1.0, 2.0] {
        plugins.set_params(PluginKind::WhaleAnalyzer, "greedy-whales", &[("mode".into(), mode)]).unwrap();
        refused_without_copying("greedy-whales", 24, || plugins.analyze_whales(0, &input).map(drop));
    }
    plugins.set_params(PluginKind::WhaleAnalyzer, "greedy-whales", &[("mode".into(), 0.0)]).unwrap();
    assert!(plugins.analyze_whales(0, &input).unwrap().whales.is_empty());

    // match_news(): 512 Ki matches for one item and one market, or a 24 MiB error.
    assert_eq!(plugins.active_info(PluginKind::NewsAggregator).unwrap().name, "greedy-news");
    let items =
        [abi::NewsItem { title: "t".into(), summary: String::new(), source: "s".into(), published: 0 }];
    let markets = [abi::MarketText { question: "q?".into(), category: String::new() }];
    for mode in [1.0, 2.0] {
        plugins.set_params(PluginKind::NewsAggregator, "greedy-news", &[("mode".into(), mode)]).unwrap();
        refused_without_copying("greedy-news", 24, || plugins.match_news(0, &items, &markets).map(drop));
    }
    plugins.set_params(PluginKind::NewsAggregator, "greedy-news", &[("mode".into(), 0.0)]).unwrap();
    assert!(plugins.match_news(0, &items, &markets).unwrap().is_empty());

    // Every refusal was counted as a fault of its plugin.
    for (name, faults) in
        [("greedy-rules", 3), ("greedy-scorer", 6), ("greedy-whales", 6), ("greedy-news", 6)]
    {
        let status = plugins.list().into_iter().find(|p| p.info.name == name).unwrap();
        assert_eq!(status.stats.faults, faults, "{name}: each over-budget answer is a fault");
    }
}

/// Calls `call` three times: each answer is refused as over its call's budget, and the host's
/// peak memory grows far less than the `mib` the answer would have taken once copied.
fn refused_without_copying(plugin: &str, mib: u64, call: impl Fn() -> Result<(), PluginError>) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    for _ in 0..3 {
        match call() {
            Err(PluginError::InvalidOutput { reason, .. }) => {
                assert!(
                    reason.contains("this call allows; refused before it was copied"),
                    "{plugin}: {reason}"
                );
            }
            other => panic!("{plugin}: {other:?}"),
        }
    }
    let grew = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        grew < 4 << 20,
        "{plugin}: the host's heap peaked {} KiB above where it was ({mib} MiB if it copied the answer)",
        grew >> 10
    );
}
