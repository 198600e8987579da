//! Shadow plugins (issue 19): a shadow of each kind on the simulator gets the active plugins'
//! inputs, is compared and recorded, and never trades (a whale or news shadow is judged through
//! the active scorer given its signals); they survive a restart; a promotion under continuous
//! calls fails none of them; retiring and refusing work on disk.

mod support;

use equilibrage::engine::Decision;
use equilibrage::lab::recording;
use equilibrage::lab::{Record, ShadowReport};
use equilibrage::plugins::{PluginKind, Plugins};
use equilibrage_plugin_artifacts as artifacts;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use support::browser::{Bot, eventually, get_json};

const TOKEN: &str = "shadow-plugins-test-token-0123456789";

/// Auto-trading with low entry bars, so positions open at once and their books move.
fn config() -> String {
    "[exchange.sim]\nseed = 19\nmarkets = 120\nspeed = 600.0\n\
     [engine]\nauto_trading = true\nopportunity_threshold = 1\nmax_positions = 3\n\
     scan_interval_secs = 10\nsweep_interval_secs = 5\nmax_slippage_percent = \"10\"\n"
        .to_owned()
}

fn put_shadows(data: &Path) {
    let shadow = data.join("data/plugins/shadow");
    std::fs::create_dir_all(&shadow).expect("shadow dir");
    std::fs::write(shadow.join("veto.wasm"), artifacts::VETO_SCORER.bytes).expect("veto scorer");
    std::fs::write(shadow.join("eager.wasm"), artifacts::EAGER_RULES.bytes).expect("eager rules");
    // In their default mode these two find no whale and match no news.
    std::fs::write(shadow.join("quiet-whales.wasm"), artifacts::GREEDY_WHALES.bytes).expect("whales");
    std::fs::write(shadow.join("quiet-news.wasm"), artifacts::GREEDY_NEWS.bytes).expect("news");
}

async fn shadows(bot: &Bot) -> Vec<Value> {
    let body = get_json(bot, "/api/plugins/shadows").await;
    body["shadows"].as_array().cloned().expect("a shadows list")
}

fn of_kind<'a>(list: &'a [Value], kind: &str) -> Option<&'a Value> {
    list.iter().find(|s| s["plugin"]["kind"] == kind)
}

/// Every decision of every recording under `root` (a directory per run of the bot), in order.
fn recorded(root: &Path) -> Vec<(i64, Decision)> {
    let mut runs: Vec<_> = std::fs::read_dir(root).expect("recordings").flatten().map(|e| e.path()).collect();
    runs.sort();
    let mut out = Vec::new();
    for run in runs {
        recording::read(&run, |t| {
            if let Record::Decision(d) = t.record {
                out.push((t.at_ms, *d));
            }
            Ok(())
        })
        .expect("the recording reads");
    }
    out
}

#[tokio::test]
async fn shadows_on_the_simulator_are_compared_recorded_never_obeyed_and_survive_a_restart() {
    let data = tempfile::tempdir().expect("data dir");
    put_shadows(data.path());
    let bot =
        tokio::task::spawn_blocking(|| Bot::start_in(&config(), TOKEN, data, &[])).await.expect("start");

    // Both shadows compared: the scorer on scans, the rules on open positions, where the eager
    // rules (5 %) ask to sell before the default ones (30 %) do.
    let seen =
        eventually("both shadows compared, the rules with a sale the active rules did not make", || async {
            let list = shadows(&bot).await;
            let scorer = of_kind(&list, "scorer").ok_or("no scorer shadow")?.clone();
            let rules = of_kind(&list, "liquidation-rules").ok_or("no rules shadow")?.clone();
            let disagreed = rules["differences"].as_array().is_some_and(|d| {
                d.iter().any(|d| {
                    d["active"] == "hold" && d["shadow"].as_str().is_some_and(|s| s.starts_with("Liquidate"))
                })
            });
            let whales = of_kind(&list, "whale-analyzer").ok_or("no whale shadow")?.clone();
            let news = of_kind(&list, "news-aggregator").ok_or("no news shadow")?.clone();
            let signals_seen = [&whales, &news].iter().all(|s| {
                s["compared"].as_u64() >= Some(1)
                    && s["scans"].as_u64() >= Some(1)
                    && s["agreement"].as_f64().is_some_and(|a| a < 1.0)
            });
            if scorer["compared"].as_u64() >= Some(2)
                && rules["compared"].as_u64() >= Some(1)
                && disagreed
                && signals_seen
            {
                Ok((scorer, rules, whales, news))
            } else {
                Err(format!(
                    "scorer compared {}, rules compared {}, disagreed {disagreed}, whales {} news {}",
                    scorer["compared"], rules["compared"], whales, news
                ))
            }
        })
        .await;
    let (scorer, rules, whales, news) = seen;
    // The whale and news shadows that see nothing: compared with the default plugins, which
    // do, and judged through the default scorer given their (empty) signals.
    for (s, active) in [(&whales, "default-whales@"), (&news, "default-news@")] {
        assert!(s["against"].as_str().is_some_and(|a| a.starts_with(active)), "{s}");
        assert_eq!(
            s["plugin"]["name"],
            if active.contains("whales") { "greedy-whales" } else { "greedy-news" }
        );
        assert!(s["pnl_difference"].is_string(), "a decimal, exact: {s}");
        assert!(s["mean_score_difference"].as_f64().is_some_and(|d| d >= 0.0), "{s}");
    }
    assert_eq!(scorer["plugin"]["name"], "veto-scorer");
    assert_eq!(scorer["against"], "default-scorer@0.2.0");
    assert_eq!(rules["plugin"]["name"], "eager-rules");
    assert!(rules["against"].as_str().is_some_and(|a| a.starts_with("equilibrage@")), "{rules}");
    assert!(rules["agreement"].as_f64().is_some_and(|a| (0.0..1.0).contains(&a)), "{rules}");
    assert!(rules["pnl_difference"].is_string(), "a decimal, exact: {rules}");
    assert!(scorer["mean_score_difference"].as_f64().is_some_and(|d| d > 0.0), "{scorer}");
    // Scans where the two would have entered different markets leave picks bought on paper; the
    // P&L difference is the shadow's picks' minus the active's, exactly.
    let picks = &scorer["picks"];
    let decimal =
        |v: &Value| v.as_str().and_then(|s| s.parse::<rust_decimal::Decimal>().ok()).expect("a decimal");
    if scorer["same_entries"].as_u64() < scorer["compared"].as_u64() {
        assert!(
            picks["shadow"].as_u64().unwrap_or(0) + picks["active"].as_u64().unwrap_or(0) >= 1,
            "{scorer}"
        );
    }
    assert_eq!(picks["stake"], "100");
    assert_eq!(
        decimal(&scorer["pnl_difference"]),
        decimal(&picks["shadow_pnl"]) - decimal(&picks["active_pnl"]),
        "{scorer}"
    );
    // The active plugins are unchanged, and the shadows are not among them.
    let plugins: Value = get_json(&bot, "/api/plugins").await;
    let active: Vec<&str> = plugins["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter(|p| p["active"] == true)
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(active.contains(&"default-scorer") && active.contains(&"equilibrage"), "{active:?}");
    assert!(!active.contains(&"veto-scorer") && !active.contains(&"eager-rules"), "{active:?}");
    assert!(active.contains(&"default-whales") && active.contains(&"default-news"), "{active:?}");
    assert!(!active.contains(&"greedy-whales") && !active.contains(&"greedy-news"), "{active:?}");

    // The comparison is saved within seconds; the recording flushes every second.
    let state = bot.data.path().join("data/lab/shadows.json");
    let saved: ShadowReport = eventually("the comparison saved", || async {
        let bytes = std::fs::read(&state).map_err(|e| e.to_string())?;
        let report: ShadowReport = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        match &report.rules {
            Some(r) if r.checks >= 1 => Ok(report),
            _ => Err("no rules comparison saved yet".into()),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let data = bot.kill();

    // What the recording holds: the shadows' decisions, and orders only from the active rules.
    let decisions = recorded(&data.path().join("data/recordings"));
    let shadow_scans = decisions
        .iter()
        .filter(|(_, d)| matches!(d, Decision::ShadowScored { scorer, .. } if scorer == "veto-scorer@0.1.0"))
        .count();
    assert!(shadow_scans >= 1, "the shadow scorer's answers are recorded");
    for (kind, by) in [("whale-analyzer", "greedy-whales@0.1.0"), ("news-aggregator", "greedy-news@0.1.0")] {
        let signals = decisions
            .iter()
            .filter(|(_, d)| {
                matches!(d, Decision::ShadowSignals { by: b, plugin_kind, markets, .. }
                    if b == by && plugin_kind == kind && markets.is_empty())
            })
            .count();
        assert!(signals >= 1, "the {kind} shadow's (empty) signals are recorded");
    }
    let mut first_active_exit: BTreeMap<u64, i64> = BTreeMap::new();
    let mut first_shadow_exit: BTreeMap<u64, i64> = BTreeMap::new();
    for (at, d) in &decisions {
        match d {
            Decision::Exit { position, by, .. } => {
                assert_ne!(by, "eager-rules", "an exit by the shadow");
                first_active_exit.entry(*position).or_insert(*at);
            }
            Decision::ShadowExit { position, by, .. } => {
                assert_eq!(by, "eager-rules@0.1.0");
                first_shadow_exit.entry(*position).or_insert(*at);
            }
            Decision::Order { position, side, .. } if side == "sell" => {
                let decided = first_active_exit.get(position).is_some_and(|t| t <= at);
                assert!(
                    decided,
                    "a sale of position {position} at {at} with no exit decided by the active rules"
                );
            }
            _ => {}
        }
    }
    // The shadow asked to sell positions before the active rules did, or where they never did:
    // those asks were recorded and nothing was sold for them.
    let ignored =
        first_shadow_exit.iter().filter(|(p, t)| first_active_exit.get(p).is_none_or(|a| a > t)).count();
    assert!(ignored >= 1, "shadow exits {first_shadow_exit:?}, active exits {first_active_exit:?}");

    // A restart: the shadows are back, and their comparison goes on from where it was saved.
    let bot = tokio::task::spawn_blocking(move || Bot::start_in(&config(), TOKEN, data, &[]))
        .await
        .expect("restart");
    let saved_rules = saved.rules.expect("rules saved");
    eventually("the shadows back after the restart, their comparison carried on", || async {
        let list = shadows(&bot).await;
        let rules = of_kind(&list, "liquidation-rules").ok_or("no rules shadow")?;
        of_kind(&list, "scorer").ok_or("no scorer shadow")?;
        let since = rules["since_ms"].as_i64();
        let compared = rules["compared"].as_u64().unwrap_or_default();
        if since == Some(saved_rules.id.since_ms) && compared >= saved_rules.checks {
            Ok(())
        } else {
            Err(format!(
                "since {since:?} (saved {}), compared {compared} (saved {})",
                saved_rules.id.since_ms, saved_rules.checks
            ))
        }
    })
    .await;
}

/// A plugin directory with the defaults and a shadow scorer, loaded.
fn with_shadow(file: &str, bytes: &[u8]) -> (tempfile::TempDir, Plugins) {
    let (dir, plugins) = support::runtime(&[]);
    let shadow = dir.path().join("shadow");
    std::fs::create_dir_all(&shadow).expect("shadow dir");
    std::fs::write(shadow.join(file), bytes).expect("write the shadow");
    plugins.load_dir().expect("load");
    (dir, plugins)
}

#[test]
fn promotion_under_continuous_calls_fails_none_and_outlives_a_restart() {
    let (dir, plugins) = with_shadow("veto.wasm", artifacts::VETO_SCORER.bytes);
    assert!(plugins.has_shadow(PluginKind::Scorer));
    assert_eq!(plugins.active_info(PluginKind::Scorer).expect("a scorer").name, "default-scorer");
    let batch = support::one(3);
    // The shadow's own calls never go to the active slot.
    let shadowed = plugins.shadow_score(1_767_225_600_000, &batch).expect("a shadow").expect("scores");
    assert_eq!(shadowed.plugin.name, "veto-scorer");

    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (plugins, batch, stop) = (plugins.clone(), batch.clone(), Arc::clone(&stop));
            let (calls, failed) = (Arc::clone(&calls), Arc::clone(&failed));
            std::thread::spawn(move || {
                let mut names = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    match plugins.score(1_767_225_600_000, &batch) {
                        Ok(s) => {
                            names.insert(s.plugin.name.clone());
                        }
                        Err(e) => {
                            eprintln!("failed call: {e}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                names
            })
        })
        .collect();
    let before = |n: u64| support::wait_until(Duration::from_secs(30), || calls.load(Ordering::Relaxed) >= n);
    assert!(before(200), "calls under way");
    let promoted = plugins.promote(PluginKind::Scorer).expect("promote");
    let after = calls.load(Ordering::Relaxed) + 200;
    assert!(before(after), "calls go on after the promotion");
    stop.store(true, Ordering::Relaxed);
    let mut names = std::collections::BTreeSet::new();
    for c in callers {
        names.extend(c.join().expect("caller"));
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "of {} calls", calls.load(Ordering::Relaxed));
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["default-scorer", "veto-scorer"]);
    assert_eq!(plugins.active_info(PluginKind::Scorer).expect("a scorer").name, "veto-scorer");
    assert!(!plugins.has_shadow(PluginKind::Scorer));

    // On disk: the shadow took the active plugin's file, the replaced version is kept.
    assert_eq!(promoted, dir.path().join("scorer.wasm"));
    assert_eq!(std::fs::read(&promoted).expect("promoted file"), artifacts::VETO_SCORER.bytes);
    assert!(!dir.path().join("shadow/veto.wasm").exists());
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("previous")).expect("previous/").flatten().collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(kept[0].path()).expect("kept"), artifacts::SCORER.bytes);

    // A restart (the defaults' installer first, as the bot does) keeps the promoted scorer.
    equilibrage::plugins::install_defaults(dir.path()).expect("defaults");
    let mut options = equilibrage::plugins::PluginOptions::new(dir.path(), Some(support::cache_dir()));
    options.limits = support::limits();
    let restarted = Plugins::new(options).expect("runtime");
    restarted.load_dir().expect("load");
    assert_eq!(restarted.active_info(PluginKind::Scorer).expect("a scorer").name, "veto-scorer");
    assert!(restarted.shadows().is_empty());
}

#[test]
fn shadows_are_retired_refused_and_never_answer_for_the_active_plugin() {
    let (dir, plugins) = with_shadow("eager.wasm", artifacts::EAGER_RULES.bytes);
    let (info, sha) = plugins.shadow_info(PluginKind::LiquidationRules).expect("a rules shadow");
    assert_eq!(info.name, "eager-rules");
    assert_eq!(sha.len(), 64);
    assert!(!plugins.has_shadow(PluginKind::Scorer));
    assert!(plugins.shadow_score(0, &support::one(1)).is_none(), "no scorer shadow, no call");
    // The shadow is listed apart from the plugins; the active rules are still the default ones.
    assert_eq!(plugins.shadows().len(), 1);
    assert!(plugins.list().iter().all(|p| p.info.name != "eager-rules"));
    assert_eq!(plugins.active_info(PluginKind::LiquidationRules).expect("rules").name, "equilibrage");

    // A junk file in shadow/ is refused with why; the shadow in place keeps shadowing.
    let refused = plugins.install_shadow_file("junk.wasm", b"not a component").expect("written");
    assert!(refused.result.is_err(), "{refused:?}");
    assert_eq!(plugins.shadow_info(PluginKind::LiquidationRules).expect("still").0.name, "eager-rules");
    for bad in ["../x.wasm", "x.txt", ".wasm", "a/b.wasm"] {
        assert!(plugins.install_shadow_file(bad, artifacts::EAGER_RULES.bytes).is_err(), "{bad}");
    }

    let retired = plugins.retire(PluginKind::LiquidationRules).expect("retire");
    assert!(retired.starts_with(dir.path().join("retired")), "{}", retired.display());
    assert!(!plugins.has_shadow(PluginKind::LiquidationRules));
    assert!(!dir.path().join("shadow/eager.wasm").exists());
    assert!(plugins.retire(PluginKind::LiquidationRules).is_err(), "nothing left to retire");
    assert!(plugins.promote(PluginKind::LiquidationRules).is_err(), "nothing to promote");
}
