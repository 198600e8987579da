//! A plugin's answer has a budget per call and per world: answers far larger than the world
//! needs (strings aliasing one buffer in the guest, so the guest spends almost nothing) are
//! refused while wasmtime lifts them, before the host copies them, and the host's memory barely
//! moves. Alone in its test binary, so the process's peak memory is this test's.

mod support;

use equilibrage::plugins::{PluginError, PluginKind, abi};
use equilibrage_plugin_artifacts as guests;
use support::runtime;

/// The process's peak resident memory, bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn answers_larger_than_their_world_needs_are_refused_before_the_host_copies_them() {
    let (dir, plugins) = runtime(&[
        ("zz-rules.wasm", guests::GREEDY_RULES.bytes),
        ("zz-describe.wasm", guests::GREEDY_DESCRIBE.bytes),
    ]);
    // describe(): 6 help texts of 1 MiB each: refused at load, before they are copied.
    let describe = dir.path().join("zz-describe.wasm");
    let why = plugins.files().into_iter().find(|f| f.file == describe).and_then(|f| f.result.err()).unwrap();
    assert!(why.contains("larger than the 512 KiB"), "{why}");
    assert_eq!(plugins.active_info(PluginKind::Scorer).unwrap().name, "default-scorer");

    // evaluate(): 120 reasons of 1 MiB each, on one buffer, about one position.
    assert_eq!(plugins.active_info(PluginKind::LiquidationRules).unwrap().name, "greedy-rules");
    plugins.set_params(PluginKind::LiquidationRules, "greedy-rules", &[("mode".into(), 1.0)]).unwrap();
    let leg = abi::Leg { shares: 5_000_000, entry_price: 500_000, best_bid: Some(400_000), best_ask: None };
    let positions = [abi::PositionView { yes: leg, no: leg, opened_at: 0, liquidated: None }];
    // Peak memory from here (writing 5 resets it; where the kernel does not allow it, the peak
    // so far stands, which only makes the check stricter).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss();
    for _ in 0..3 {
        match plugins.evaluate_rules(0, &positions) {
            Err(PluginError::InvalidOutput { reason, .. }) => {
                assert!(reason.contains("larger than the 66 KiB this call allows"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    let grew = peak_rss().saturating_sub(before);
    assert!(
        grew < 32 << 20,
        "the host's peak memory grew {} MiB (120 MiB if it copied the answer)",
        grew >> 20
    );
    let status = plugins.list().into_iter().find(|p| p.info.name == "greedy-rules").unwrap();
    assert_eq!(status.stats.faults, 3, "each over-budget answer is a fault");
    // Within its budget it answers as usual.
    plugins.set_params(PluginKind::LiquidationRules, "greedy-rules", &[("mode".into(), 0.0)]).unwrap();
    assert!(plugins.evaluate_rules(0, &positions).unwrap().decisions.is_empty());
}
