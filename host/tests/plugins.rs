//! The plugin runtime with real components built by the artifacts crate: default plugins,
//! misbehaving fixtures, validation, the sandbox, the compile cache and parameters.

mod support;

use equilibrage::plugins::{PluginError, PluginKind, abi};
use equilibrage_plugin_artifacts as guests;
use support::{market, one, runtime, runtime_with};

#[test]
fn default_plugins_load_and_answer_through_wasmtime() {
    let (_dir, plugins) = runtime(&[]);
    for kind in PluginKind::ALL {
        assert!(plugins.active_info(kind).is_some(), "{kind} loaded");
    }

    // 2,500 markets: three calls at the tests' batch limit of 1,000, joined in order.
    let markets: Vec<_> = (0..2_500).map(market).collect();
    let scored = plugins.score(0, &abi::MarketBatch::from_rows(&markets)).unwrap();
    assert_eq!(scored.plugin.name, "default-scorer");
    assert_eq!((scored.scores.len(), scored.factors.len()), (2_500, 20_000), "8 factors each");
    assert!(scored.scores.iter().all(|s| (1.0..=10.0).contains(s)));
    // The wasm answer equals the same logic compiled natively.
    let defaults: Vec<f64> = scored.plugin.params.iter().map(|p| p.default).collect();
    for (i, m) in markets.iter().enumerate() {
        let native = equilibrage_scorer::score_market(&defaults, &support::to_guest(m));
        assert_eq!(native.score.to_bits(), scored.scores[i].to_bits());
        assert_eq!(native.factors.as_slice(), scored.factors_of(i));
    }

    let trade = |wallet, usd: i64| abi::Trade {
        wallet,
        market: 0,
        outcome: abi::Outcome::Yes,
        side: abi::TradeSide::Buy,
        price: 500_000,
        shares: usd * 2_000_000,
        at: -1,
    };
    let input =
        abi::AnalysisInput { wallet_count: 2, market_count: 1, trades: vec![trade(0, 30_000), trade(1, 10)] };
    let analysis = plugins.analyze_whales(0, &input).unwrap();
    assert_eq!(analysis.whales.len(), 1);
    assert_eq!((analysis.whales[0].wallet, analysis.whales[0].volume), (0, 30_000_000_000));
    assert_eq!(analysis.markets[0].net_yes_flow, 30_000_000_000);

    let items = [abi::NewsItem {
        title: "Fed cuts interest rates in December".into(),
        summary: String::new(),
        source: "wire".into(),
        published: 0,
    }];
    let texts = [
        abi::MarketText {
            question: "Will the Fed cut interest rates in December?".into(),
            category: "economy".into(),
        },
        abi::MarketText {
            question: "Will it snow in Paris on Christmas?".into(),
            category: "weather".into(),
        },
    ];
    let found = plugins.match_news(0, &items, &texts).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].item, found[0].market), (0, 0));

    let leg = |bid| abi::Leg {
        shares: 10_000_000,
        entry_price: 500_000,
        best_bid: Some(bid),
        best_ask: Some(bid + 10_000),
    };
    let positions = [
        abi::PositionView { yes: leg(360_000), no: leg(620_000), opened_at: 0, liquidated: None },
        abi::PositionView { yes: leg(700_000), no: leg(350_000), opened_at: 0, liquidated: None },
    ];
    let decided = plugins.evaluate_rules(0, &positions).unwrap();
    assert_eq!(decided.plugin.name, "equilibrage");
    assert_eq!(decided.decisions.len(), 1, "only the second position fell 30 %");
    assert_eq!(decided.decisions[0].position, 1);
    assert_eq!(decided.decisions[0].action, abi::Action::Liquidate(abi::Outcome::No));
}

/// With `repeat_rules` (a backtest's runtime) a rules call that repeats the last exactly is
/// given the last answer without running the plugin; a different moment, position, parameter
/// or version runs it, and a fault is never kept. Without it (the bot's) every call runs.
#[test]
fn a_rules_call_repeating_the_last_exactly_is_answered_again_only_where_asked() {
    let leg =
        |bid| abi::Leg { shares: 10_000_000, entry_price: 500_000, best_bid: Some(bid), best_ask: None };
    let fell = [abi::PositionView { yes: leg(340_000), no: leg(650_000), opened_at: 0, liquidated: None }];
    let held = [abi::PositionView { yes: leg(360_000), ..fell[0] }];
    for repeat in [true, false] {
        let (_dir, plugins) = runtime_with(&[], |o| o.repeat_rules = repeat);
        let calls = || plugins.list().into_iter().find(|p| p.info.name == "equilibrage").unwrap().stats.calls;
        let ask = |now, positions: &[abi::PositionView]| plugins.evaluate_rules(now, positions).unwrap();
        let start = calls();
        let first = ask(7, &fell);
        assert_eq!(first.decisions.len(), 1, "YES fell 32 %");
        let again = ask(7, &fell);
        assert_eq!(again.decisions, first.decisions, "the same answer");
        assert_eq!((again.version_id, again.plugin), (first.version_id.clone(), first.plugin.clone()));
        assert_eq!(calls() - start, if repeat { 1 } else { 2 }, "repeat_rules {repeat}");
        assert!(ask(8, &fell).decisions == first.decisions && ask(8, &held).decisions.is_empty());
        plugins
            .set_params(PluginKind::LiquidationRules, "equilibrage", &[("liquidation-drop".into(), 0.4)])
            .unwrap();
        assert!(ask(8, &held).decisions.is_empty() && ask(8, &fell).decisions.is_empty(), "40 %: held");
        assert_eq!(calls() - start, if repeat { 5 } else { 6 }, "each difference ran it");
    }
    // A fault is asked again; another version asked the same (same parameters' bits, moment
    // and positions) runs: bad-rules and greedy-rules both take one parameter, 0 by default.
    let (dir, plugins) = runtime_with(&[("zz-bad.wasm", guests::BAD_RULES.bytes)], |o| o.repeat_rules = true);
    let calls = |name: &str| plugins.list().into_iter().find(|p| p.info.name == name).unwrap().stats.calls;
    let start = calls("bad-rules");
    plugins.set_params(PluginKind::LiquidationRules, "bad-rules", &[("mode".into(), 4.0)]).unwrap();
    for _ in 0..2 {
        assert!(matches!(plugins.evaluate_rules(0, &fell), Err(PluginError::Trap { .. })));
    }
    plugins.set_params(PluginKind::LiquidationRules, "bad-rules", &[("mode".into(), 0.0)]).unwrap();
    for _ in 0..2 {
        assert!(plugins.evaluate_rules(0, &fell).unwrap().decisions.is_empty());
    }
    assert_eq!(calls("bad-rules") - start, 3, "two faults, then one answer given twice");
    std::thread::sleep(std::time::Duration::from_millis(10));
    std::fs::write(dir.path().join("zz-zz-greedy.wasm"), guests::GREEDY_RULES.bytes).unwrap();
    plugins.load_dir().unwrap();
    let start = calls("greedy-rules");
    assert_eq!(plugins.evaluate_rules(0, &fell).unwrap().plugin.name, "greedy-rules");
    assert_eq!(calls("greedy-rules") - start, 1, "the new version ran");
}

#[test]
fn the_template_scorer_loads_from_the_plugin_directory_and_takes_over() {
    let (_dir, plugins) = runtime(&[("zz-mine.wasm", guests::TEMPLATE.bytes)]);
    let scored = plugins.score(0, &one(1)).unwrap();
    assert_eq!(scored.plugin.name, "template-plugin");
    assert_eq!(scored.factors_of(0).len(), 2);
    let listed = plugins.list();
    let default = listed.iter().find(|p| p.info.name == "default-scorer").unwrap();
    assert!(!default.active, "the newer scorer is active, the default stays loaded");
}

#[test]
fn a_busy_loop_is_stopped_at_its_deadline_and_the_host_keeps_serving() {
    let (_dir, plugins) = runtime(&[("zz-busy.wasm", guests::BUSY_LOOP.bytes)]);
    plugins.set_params(PluginKind::Scorer, "busy-loop", &[("spin".into(), 1.0)]).unwrap();
    // The Timeout variant is only produced by the epoch deadline interrupting the call.
    let err = plugins.score(0, &one(1)).unwrap_err();
    assert!(matches!(err, PluginError::Timeout { limit_ms: 200, .. }), "{err}");
    plugins.set_params(PluginKind::Scorer, "busy-loop", &[("spin".into(), 0.0)]).unwrap();
    assert_eq!(plugins.score(0, &one(1)).unwrap().scores.len(), 1, "a fresh instance serves");
    let status = plugins.list().into_iter().find(|p| p.info.name == "busy-loop").unwrap();
    assert_eq!((status.stats.calls, status.stats.faults), (2, 1));
    assert!(status.last_error.unwrap().1.contains("deadline"));
}

#[test]
fn a_memory_bomb_is_stopped_at_the_limit() {
    let (_dir, plugins) = runtime(&[("zz-bomb.wasm", guests::MEMORY_BOMB.bytes)]);
    plugins.set_params(PluginKind::Scorer, "memory-bomb", &[("bomb".into(), 1.0)]).unwrap();
    let err = plugins.score(0, &one(1)).unwrap_err();
    assert!(matches!(err, PluginError::MemoryLimit { limit_mib: 32, .. }), "{err}");
    plugins.set_params(PluginKind::Scorer, "memory-bomb", &[("bomb".into(), 0.0)]).unwrap();
    assert!(plugins.score(0, &one(1)).is_ok());
}

#[test]
fn every_call_starts_from_a_fresh_memory() {
    // The fixture scores 1 unless it finds a trace of an earlier call: its static counter
    // above 0, or its marker in the page it grows into. Calls of different sizes in between
    // leave different pages written for the next call's reset.
    let (_dir, plugins) = runtime(&[("zz-remember.wasm", guests::REMEMBER.bytes)]);
    for (call, n) in [1, 3_000, 1, 20_000, 2, 1].into_iter().enumerate() {
        let batch = abi::MarketBatch::from_rows(&(0..n).map(market).collect::<Vec<_>>());
        let scored = plugins.score(0, &batch).expect("it answers");
        assert_eq!(scored.plugin.name, "remember");
        assert!(scored.scores.iter().all(|s| *s == 1.0), "call {call} remembered: {}", scored.scores[0]);
    }
}

#[test]
fn a_trap_is_contained() {
    let (_dir, plugins) = runtime(&[("zz-trap.wasm", guests::TRAP.bytes)]);
    plugins.set_params(PluginKind::Scorer, "trap", &[("panic".into(), 1.0)]).unwrap();
    let err = plugins.score(0, &one(1)).unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(err.is_fault());
    plugins.set_params(PluginKind::Scorer, "trap", &[("panic".into(), 0.0)]).unwrap();
    assert!(plugins.score(0, &one(1)).is_ok());
    // The other kinds never noticed.
    assert!(plugins.evaluate_rules(0, &[]).is_ok());
}

#[test]
fn invalid_scorer_outputs_are_rejected_as_faults() {
    let (_dir, plugins) = runtime(&[("zz-bad.wasm", guests::BAD_OUTPUT.bytes)]);
    let markets = abi::MarketBatch::from_rows(&[market(1), market(2)]);
    let mode = |m: f64| plugins.set_params(PluginKind::Scorer, "bad-output", &[("mode".into(), m)]).unwrap();
    for (m, expect) in [
        (1.0, "outside 1-10"),
        (2.0, "outside 1-10"),
        (3.0, "1 scores for 2"),
        (4.0, "1 factor values for 2 markets"),
    ] {
        mode(m);
        match plugins.score(0, &markets) {
            Err(PluginError::InvalidOutput { reason, .. }) => {
                assert!(reason.contains(expect), "mode {m}: {reason}")
            }
            other => panic!("mode {m}: {other:?}"),
        }
    }
    mode(5.0);
    let err = plugins.score(0, &markets).unwrap_err();
    assert!(matches!(&err, PluginError::Refused { message, .. } if message.contains("refusing")), "{err}");
    assert!(!err.is_fault());
    mode(6.0);
    assert!(plugins.score(0, &markets).is_ok(), "a log flood is truncated, not fatal");
    mode(0.0);
    assert!(plugins.score(0, &markets).is_ok());
    let status = plugins.list().into_iter().find(|p| p.info.name == "bad-output").unwrap();
    assert_eq!((status.stats.faults, status.stats.errors), (4, 1));
}

#[test]
fn invalid_decisions_are_rejected_and_a_trapping_rules_plugin_is_contained() {
    let (_dir, plugins) = runtime(&[("zz-rules.wasm", guests::BAD_RULES.bytes)]);
    let leg = |shares| abi::Leg { shares, entry_price: 500_000, best_bid: Some(400_000), best_ask: None };
    let positions = [
        abi::PositionView { yes: leg(0), no: leg(5), opened_at: 0, liquidated: Some(abi::Outcome::Yes) },
        abi::PositionView { yes: leg(5), no: leg(5), opened_at: 0, liquidated: None },
    ];
    let mode = |m: f64| {
        plugins.set_params(PluginKind::LiquidationRules, "bad-rules", &[("mode".into(), m)]).unwrap()
    };
    for (m, expect) in [(1.0, "position 2 of 2"), (2.0, "both sides"), (3.0, "two decisions")] {
        mode(m);
        match plugins.evaluate_rules(0, &positions) {
            Err(PluginError::InvalidOutput { reason, .. }) => {
                assert!(reason.contains(expect), "mode {m}: {reason}")
            }
            other => panic!("mode {m}: {other:?}"),
        }
    }
    mode(4.0);
    assert!(matches!(plugins.evaluate_rules(0, &positions), Err(PluginError::Trap { .. })));
    mode(0.0);
    assert!(plugins.evaluate_rules(0, &positions).unwrap().decisions.is_empty());
}

/// A plugin's stdio and waits never block its thread, so a call may run anywhere, inside an async
/// runtime included (a backtest calls plugins on its runtime's one thread): output is discarded at
/// once, a panic (printed, then trapped) is a fault, and a sleep stops the call at once with an
/// error that says why, where the epoch deadline could not have stopped it.
#[test]
fn a_plugin_that_prints_panics_or_sleeps_never_blocks_its_thread() {
    let (_dir, plugins) = runtime(&[("zz-noisy.wasm", guests::NOISY_RULES.bytes)]);
    let leg = abi::Leg { shares: 5, entry_price: 500_000, best_bid: Some(400_000), best_ask: None };
    let positions = [abi::PositionView { yes: leg, no: leg, opened_at: 0, liquidated: None }];
    let set = |name: &str, v: f64| {
        plugins.set_params(PluginKind::LiquidationRules, "noisy-rules", &[(name.into(), v)]).unwrap();
    };
    let current_thread = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let calls = |label: &str| -> Vec<Result<usize, PluginError>> {
        let call = || plugins.evaluate_rules(0, &positions).map(|d| d.decisions.len());
        let inside = current_thread.block_on(async { call() });
        let outside = call();
        assert_eq!(
            format!("{inside:?}"),
            format!("{outside:?}"),
            "{label}: the same inside a runtime and out"
        );
        vec![inside, outside]
    };
    for answer in calls("printing") {
        assert_eq!(answer.unwrap(), 0, "it printed and answered");
    }
    set("panic", 1.0);
    for answer in calls("panicking") {
        assert!(matches!(answer, Err(PluginError::Trap { .. })), "{answer:?}");
    }
    set("panic", 0.0);
    set("sleep", 1.0);
    for answer in calls("sleeping") {
        let err = answer.unwrap_err();
        assert!(err.is_fault() && err.to_string().contains("may not wait"), "{err}");
    }
    set("sleep", 0.0);
    assert_eq!(plugins.evaluate_rules(0, &positions).unwrap().decisions.len(), 0, "it answers again");
    let status = plugins.list().into_iter().find(|p| p.info.name == "noisy-rules").unwrap();
    assert_eq!((status.stats.calls, status.stats.faults), (7, 4), "seven calls, four of them faults");
}

#[test]
fn the_sandbox_has_no_environment_files_or_clock_and_fixed_randomness() {
    let (_dir, plugins) = runtime(&[("zz-bad.wasm", guests::BAD_OUTPUT.bytes)]);
    let probe = |m: f64| {
        plugins.set_params(PluginKind::Scorer, "bad-output", &[("mode".into(), m)]).unwrap();
        plugins.score(0, &one(1)).unwrap().factors[0]
    };
    assert_eq!(probe(7.0), 0.0, "no env vars, no args, no readable directory, clock frozen at 0");
    let first = probe(8.0);
    assert_eq!(first.to_bits(), probe(8.0).to_bits(), "the same call gets the same random seed");
}

/// Set in the child process `a_snooping_plugin_finds_no_secrets_files_network_clock_or_entropy`
/// re-runs itself in.
const SNOOP_CHILD: &str = "EQUILIBRAGE_TEST_SNOOP_CHILD";

#[test]
fn a_snooping_plugin_finds_no_secrets_files_network_clock_or_entropy() {
    // The host's secrets must really be in the process's environment. Setting them here would be
    // `set_var`, unsound while other tests run on other threads; so this test runs again in a
    // child process started with them, as the bot is.
    if std::env::var_os(SNOOP_CHILD).is_none() {
        let unique = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        );
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["a_snooping_plugin_finds_no_secrets_files_network_clock_or_entropy", "--exact"])
            .args(["--nocapture", "--test-threads=1"])
            .env(SNOOP_CHILD, "1")
            .env("EQUILIBRAGE_WALLET_PASSWORD", format!("snoop-test-password-{unique}"))
            .env("POLYMARKET_PRIVATE_KEY", format!("0xsnoop-test-key-{unique}"))
            .output()
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&child.stdout), String::from_utf8_lossy(&child.stderr));
        assert!(child.status.success() && stdout.contains(" 1 passed"), "the child run:\n{stdout}\n{stderr}");
        return;
    }

    // What the plugin could steal is there for the host.
    let password = std::env::var("EQUILIBRAGE_WALLET_PASSWORD").unwrap();
    let key = std::env::var("POLYMARKET_PRIVATE_KEY").unwrap();
    assert!(password.starts_with("snoop-test-password-") && key.starts_with("0xsnoop-test-key-"));
    assert!(std::fs::read_dir("/").is_ok(), "the host can list /");
    // A port something listens on, for the plugin to try to reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    let snoop = |plugins: &equilibrage::plugins::Plugins| {
        let params = [("report".to_owned(), 1.0), ("port".to_owned(), f64::from(port))];
        plugins.set_params(PluginKind::Scorer, "snoop", &params).unwrap();
        match plugins.score(0, &one(1)) {
            Err(PluginError::Refused { message, .. }) => message,
            other => panic!("the snoop's report: {other:?}"),
        }
    };
    let (_dir, plugins) = runtime(&[("zz-snoop.wasm", guests::SNOOP.bytes)]);
    let report = snoop(&plugins);
    // Each call is a fresh instance; another runtime loads the component on its own.
    let (_other_dir, other) = runtime(&[("zz-snoop.wasm", guests::SNOOP.bytes)]);
    assert_eq!(snoop(&plugins), report, "a second call replays the first exactly");
    assert_eq!(snoop(&other), report, "so does a call to a separately loaded copy");

    let seen: std::collections::BTreeMap<&str, &str> =
        report.lines().filter_map(|line| line.split_once('=')).collect();
    let get = |k: &str| *seen.get(k).unwrap_or_else(|| panic!("no {k} in the report:\n{report}"));
    assert_eq!((get("env.count"), get("env.vars"), get("env.secret_like")), ("0", "", "0"), "{report}");
    for name in ["HOME", "PATH", "EQUILIBRAGE_WALLET_PASSWORD", "POLYMARKET_PRIVATE_KEY"] {
        assert_eq!(get(&format!("env.var.{name}")), "absent", "{report}");
    }
    assert_eq!(get("env.args"), "0 []");
    assert!(!report.contains(&password) && !report.contains(&key), "{report}");
    let denied: Vec<_> = seen.iter().filter(|(k, _)| k.starts_with("fs.") || k.starts_with("net.")).collect();
    assert_eq!(denied.len(), 9, "{report}");
    for (probe, result) in denied {
        assert!(result.starts_with("err("), "{probe} should fail: {result}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection reached the listener"
    );
    assert_eq!((get("clock.wall_ns"), get("clock.elapsed_ns")), ("0", "0"), "clocks frozen at the epoch");
    assert_eq!(get("random.hash").len(), 16, "{report}");

    // The host kept running: the same plugin answers a normal call, the other kinds too.
    plugins.set_params(PluginKind::Scorer, "snoop", &[("report".into(), 0.0)]).unwrap();
    let scored = plugins.score(0, &one(1)).unwrap();
    assert_eq!((scored.plugin.name.as_str(), scored.scores.as_slice()), ("snoop", [5.0].as_slice()));
    assert!(plugins.evaluate_rules(0, &[]).is_ok());
    let status = plugins.list().into_iter().find(|p| p.info.name == "snoop").unwrap();
    assert_eq!((status.stats.calls, status.stats.errors, status.stats.faults), (3, 2, 0));
}

#[test]
fn bad_files_are_rejected_with_a_reason_and_never_replace_a_working_plugin() {
    let scorer = guests::SCORER.bytes;
    let (dir, plugins) = runtime(&[
        ("empty.wasm", b"".as_slice()),
        ("garbage.wasm", b"definitely not wasm".as_slice()),
        ("truncated.wasm", &scorer[..scorer.len() / 2]),
        ("core.wasm", b"\0asm\x01\0\0\0".as_slice()),
        ("old.wasm", guests::OLD_INTERFACE.bytes),
    ]);
    let files = plugins.files();
    let reason = |name: &str| {
        let f = files.iter().find(|f| f.file.ends_with(name)).unwrap();
        f.result.clone().unwrap_err()
    };
    assert!(reason("empty.wasm").contains("not a WebAssembly component"));
    assert!(reason("garbage.wasm").contains("not a WebAssembly component"));
    assert!(reason("truncated.wasm").contains("not a valid component"));
    assert!(reason("core.wasm").contains("core WebAssembly module"));
    let old = reason("old.wasm");
    assert!(old.contains("rebuild it against equilibrage-plugin-sdk") && old.contains("score"), "{old}");
    assert_eq!(plugins.score(0, &one(1)).unwrap().plugin.name, "default-scorer");

    // Overwriting the working file with garbage keeps the old version serving.
    let path = dir.path().join("scorer.wasm");
    std::fs::write(&path, &scorer[..100]).unwrap();
    plugins.load_file(&path);
    assert_eq!(plugins.score(0, &one(1)).unwrap().plugin.name, "default-scorer");
    assert!(plugins.files().iter().any(|f| f.file == path && f.result.is_err()));
}

#[test]
fn parameters_are_validated_applied_live_and_kept_across_reloads() {
    let (dir, plugins) = runtime(&[]);
    let before = plugins.score(0, &one(3)).unwrap().scores[0];
    let set =
        |name: &str, v: f64| plugins.set_params(PluginKind::Scorer, "default-scorer", &[(name.into(), v)]);
    assert!(matches!(set("weight-liquidity", 1.5), Err(equilibrage::plugins::ParamError::OutOfRange { .. })));
    assert!(matches!(set("nope", 0.5), Err(equilibrage::plugins::ParamError::UnknownParam { .. })));
    assert!(plugins.set_params(PluginKind::Scorer, "ghost", &[]).is_err());
    for w in [
        "weight-liquidity",
        "weight-spread",
        "weight-balance",
        "weight-volatility",
        "weight-time",
        "weight-whales",
    ] {
        set(w, 0.0).unwrap();
    }
    set("weight-news", 1.0).unwrap();
    let after = plugins.score(0, &one(3)).unwrap().scores[0];
    assert_ne!(before.to_bits(), after.to_bits(), "the next call used the new weights");

    // Reloading the same plugin from another file keeps the operator's values.
    let copy = dir.path().join("copy.wasm");
    std::fs::copy(dir.path().join("scorer.wasm"), &copy).unwrap();
    plugins.load_file(&copy);
    let status = plugins.list().into_iter().find(|p| p.info.name == "default-scorer").unwrap();
    assert_eq!(status.file, copy, "the newer file now provides the plugin");
    assert_eq!(status.params[6], 1.0);
    assert_eq!(status.params[0], 0.0);
}

#[test]
fn a_replacement_of_a_default_takes_over_and_removing_it_brings_the_default_back() {
    let (dir, plugins) = runtime(&[("zz-other.wasm", guests::TEMPLATE.bytes)]);
    assert_eq!(plugins.active_info(PluginKind::Scorer).unwrap().name, "template-plugin");
    // A file holding a plugin of the same kind and name replaces the loaded one.
    let copy = dir.path().join("zz-copy.wasm");
    std::fs::copy(dir.path().join("zz-other.wasm"), &copy).unwrap();
    plugins.load_file(&copy);
    let providers: Vec<_> = plugins.list().into_iter().filter(|p| p.info.name == "template-plugin").collect();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].file, copy);
    // Removing the replacement brings back the plugin it shadowed, from its own file.
    std::fs::remove_file(&copy).unwrap();
    plugins.unload_file(&copy);
    let back = plugins.list().into_iter().find(|p| p.info.name == "template-plugin").unwrap();
    assert_eq!(back.file, dir.path().join("zz-other.wasm"));
    assert!(back.active);
    // And removing that one falls back to the default scorer.
    plugins.unload_file(&dir.path().join("zz-other.wasm"));
    assert_eq!(plugins.active_info(PluginKind::Scorer).unwrap().name, "default-scorer");
}

#[test]
fn a_configured_plugin_stays_active_when_a_newer_one_loads() {
    let dir = tempfile::tempdir().unwrap();
    equilibrage::plugins::install_defaults(dir.path()).unwrap();
    let mut options = equilibrage::plugins::PluginOptions::new(dir.path(), Some(support::cache_dir()));
    options.limits = support::limits();
    options.prefer.insert(PluginKind::Scorer, "default-scorer".into());
    let plugins = equilibrage::plugins::Plugins::new(options).unwrap();
    plugins.load_dir().unwrap();
    let mine = dir.path().join("zz-mine.wasm");
    std::fs::write(&mine, guests::TEMPLATE.bytes).unwrap();
    plugins.load_file(&mine);
    assert!(
        plugins.list().iter().any(|p| p.info.name == "template-plugin" && !p.active),
        "loaded, not active"
    );
    assert_eq!(plugins.score(0, &one(1)).unwrap().plugin.name, "default-scorer");
}

#[test]
fn the_compile_cache_serves_a_restart_and_survives_a_corrupt_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin_dir = dir.path().join("plugins");
    equilibrage::plugins::install_defaults(&plugin_dir).unwrap();
    let start = || {
        let mut options = equilibrage::plugins::PluginOptions::new(&plugin_dir, Some(cache.clone()));
        options.limits = support::limits();
        let p = equilibrage::plugins::Plugins::new(options).unwrap();
        p.load_dir().unwrap();
        p
    };
    drop(start());
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.iter().filter(|p| p.extension().is_some_and(|e| e == "cwasm")).count(), 4);
    std::fs::write(&entries[0], b"corrupt").unwrap();
    let again = start();
    for kind in PluginKind::ALL {
        assert!(again.active_info(kind).is_some(), "{kind} loaded again");
    }
}

/// A scan's two signal calls together (`Plugins::signals`, side by side on two threads when both
/// are computed) answer exactly as each call alone; with a memo, the second time both are known
/// and nothing is computed again.
#[test]
fn a_scans_signal_calls_together_answer_as_each_alone() {
    let trade = |wallet, market, usd: i64, at| abi::Trade {
        wallet,
        market,
        outcome: if wallet % 2 == 0 { abi::Outcome::Yes } else { abi::Outcome::No },
        side: abi::TradeSide::Buy,
        price: 400_000 + i64::from(wallet) * 10_000,
        shares: usd * 2_000_000,
        at,
    };
    let input = abi::AnalysisInput {
        wallet_count: 3,
        market_count: 2,
        trades: vec![trade(0, 0, 30_000, -5), trade(1, 1, 20_000, -3), trade(2, 0, 40_000, -1)],
    };
    let item = |title: &str, published| abi::NewsItem {
        title: title.into(),
        summary: String::new(),
        source: "wire".into(),
        published,
    };
    let items =
        [item("Fed cuts interest rates in December", -7_200_000), item("Heavy snow expected in Paris", 0)];
    let text = |q: &str| abi::MarketText { question: q.into(), category: "misc".into() };
    let texts =
        [text("Will the Fed cut interest rates in December?"), text("Will it snow in Paris on Christmas?")];
    let now = 3_600_000;

    let (_dir, plugins) = runtime(&[]);
    let alone =
        (plugins.analyze_whales(now, &input).unwrap(), plugins.match_news(now, &items, &texts).unwrap());
    assert_eq!(alone.1.len(), 2, "each item matches its market");
    // The records themselves as the input (a scan gives what they are built from instead).
    let records = (&items[..], &texts[..]);
    let news: &dyn equilibrage::plugins::NewsSource = &records;
    let together = plugins.signals(now, Some(&input), Some(news));
    assert_eq!((together.whales.unwrap().unwrap(), together.news.unwrap().unwrap()), alone);
    // One call asked for: only that one answers.
    let whales_only = plugins.signals(now, Some(&input), None);
    assert_eq!(whales_only.whales.unwrap().unwrap(), alone.0);
    assert!(whales_only.news.is_none());
    let news_only = plugins.signals(now, None, Some(news));
    assert!(news_only.whales.is_none());
    assert_eq!(news_only.news.unwrap().unwrap(), alone.1);
    // The caller's own work runs once, on its thread, whichever calls are asked for (a news
    // matching meanwhile runs beside), and the answers are as before.
    let caller = std::thread::current().id();
    let asked = [(Some(&input), Some(news)), (None, Some(news)), (Some(&input), None), (None, None)];
    for (whales, news) in asked {
        let mut runs = 0;
        let (answers, on) = plugins.signals_and(now, whales, news, || {
            runs += 1;
            std::thread::current().id()
        });
        assert_eq!((runs, on), (1, caller));
        assert_eq!(answers.whales.map(Result::unwrap), whales.map(|_| alone.0.clone()));
        assert_eq!(answers.news.map(Result::unwrap), news.map(|_| alone.1.clone()));
    }

    // Through a memo: computed once, then known.
    let dir = tempfile::tempdir().unwrap();
    equilibrage::plugins::install_defaults(dir.path()).unwrap();
    let memo = std::sync::Arc::new(equilibrage::plugins::CallMemo::new(1 << 20));
    let mut options = equilibrage::plugins::PluginOptions::new(dir.path(), None);
    options.memo = Some(std::sync::Arc::clone(&memo));
    let memoized = equilibrage::plugins::Plugins::new(options).unwrap();
    memoized.load_dir().unwrap();
    for round in 0..2 {
        let (answers, ()) = memoized.signals_and(now, Some(&input), Some(news), || ());
        assert_eq!(
            (answers.whales.unwrap().unwrap(), answers.news.unwrap().unwrap()),
            alone,
            "round {round}"
        );
    }
    let stats = memo.stats();
    assert_eq!((stats.misses, stats.hits), (2, 2));
}
