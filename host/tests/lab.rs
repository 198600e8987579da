//! The strategy lab end to end: the real binary records a simulator run; a backtest of that
//! recording with the same plugins and settings trades the same way; two replays are
//! bit-identical; a recorder killed mid-write leaves a recording that replays; bad recordings
//! are refused with the file and the offset; `equilibrage sweep` prints what a strategist reads.

use equilibrage::engine::Decision;
use equilibrage::engine::Settings;
use equilibrage::lab::{Backtest, DataSource, LabError, Record, RunReport, recording};
use equilibrage::plugins::PluginOptions;
use equilibrage::store::Store;
use rust_decimal::Decimal;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");

/// A fast simulator that trades at once: an hour of simulated time per second, scans every 10 s,
/// sweeps every second, blocks flushed every 50 ms.
const CONFIG: &str = r#"
[exchange.sim]
seed = 7
markets = 60
speed = 3600.0
horizon_days = 3
[engine]
auto_trading = true
max_positions = 3
scan_interval_secs = 10
sweep_interval_secs = 1
[lab.recording]
flush_every_ms = 50
"#;

fn config_file(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, CONFIG).unwrap();
    path
}

/// What the bot's recording holds so far, as far as it is on disk.
#[derive(Debug, Default)]
struct Seen {
    records: u64,
    scans: u64,
    fills: u64,
    exits: u64,
    market_events: u64,
    /// Simulated time the recording spans, ms.
    span_ms: i64,
}

fn seen_so_far(data: &Path) -> Seen {
    let mut seen = Seen::default();
    let Ok(mut dirs) = std::fs::read_dir(data.join("recordings")) else { return seen };
    let Some(Ok(dir)) = dirs.next() else { return seen };
    let mut first = None;
    let _ = recording::read(&dir.path(), |t| {
        seen.records += 1;
        let start = *first.get_or_insert(t.at_ms);
        seen.span_ms = t.at_ms - start;
        match &t.record {
            Record::Decision(d) if matches!(**d, Decision::Scanned { .. }) => seen.scans += 1,
            Record::Decision(d) if matches!(**d, Decision::Fill { .. }) => seen.fills += 1,
            Record::Decision(d) if matches!(**d, Decision::Exit { .. }) => seen.exits += 1,
            Record::Market(_) => seen.market_events += 1,
            _ => {}
        }
        Ok(())
    });
    seen
}

/// Runs the bot until its recording shows `enough`, then stops it: gracefully (Ctrl-C) or with
/// SIGKILL.
fn run_bot(data: &Path, enough: impl Fn(&Seen) -> bool, kill: bool) {
    let mut child = Command::new(BIN)
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(config_file(data))
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("EQUILIBRAGE_TOKEN", "lab-test-token-0123456789abcdef")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(
        stderr.by_ref().map_while(Result::ok).any(|l| l.contains("dashboard: http://")),
        "the bot started"
    );
    std::thread::spawn(move || stderr.for_each(drop));
    let reached = support::wait_until(Duration::from_secs(90), || enough(&seen_so_far(data)));
    assert!(reached, "the recording never showed enough: {:?}", seen_so_far(data));
    let pid = child.id().to_string();
    let signal = if kill { "-KILL" } else { "-INT" };
    assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    if !kill {
        assert!(status.success(), "a clean stop: {status}");
    }
}

fn the_recording(data: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(data.join("recordings")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "one recording per run");
    dirs.remove(0)
}

fn backtest(data: &Path, recording: &Path) -> Backtest {
    let config = equilibrage::config::Config::load(Some(&data.join("config.toml"))).unwrap();
    let plugins = PluginOptions::new(data.join("plugins"), Some(support::cache_dir()));
    Backtest {
        settings: config.engine.clone(),
        trends: config.signals.trends.clone(),
        ..Backtest::new(DataSource::Recording(recording.to_owned()), plugins)
    }
}

/// A trade as both runs must agree on it.
fn fingerprint(t: &equilibrage::store::TradeRecord) -> String {
    format!(
        "p{} {:?} {:?} {:?} {} x {} fee {}",
        t.position_id, t.leg, t.action, t.purpose, t.price, t.shares, t.fee
    )
}

#[test]
fn a_recorded_simulator_run_replays_with_the_same_trades_and_twice_identically() {
    let data = tempfile::tempdir().unwrap();
    // Entries filled, the rules acted at least once, and six simulated hours in all.
    run_bot(data.path(), |s| s.fills >= 2 && s.exits >= 1 && s.span_ms >= 6 * 3_600_000, false);
    let rec = the_recording(data.path());
    // What the bot did, from its own database.
    let store = Store::open(&data.path().join("equilibrage.redb")).unwrap();
    let live_positions = store.read().unwrap().positions().unwrap();
    let live_trades = store.read().unwrap().trades().unwrap();
    drop(store);
    assert!(!live_positions.is_empty(), "the bot entered positions");

    let bt = backtest(data.path(), &rec);
    let replay = bt.run(&|_, _| {}).unwrap();
    assert!(replay.stats.torn.is_none(), "a clean stop leaves whole segments");
    let live_entries: Vec<(String, Option<f32>)> =
        live_positions.iter().map(|p| (p.market_id.clone(), p.score)).collect();
    let replay_entries: Vec<(String, Option<f32>)> =
        replay.positions.iter().map(|p| (p.market_id.clone(), p.score)).collect();
    assert_eq!(replay_entries, live_entries, "the same entries, with the same scores");
    let live: Vec<String> = live_trades.iter().map(fingerprint).collect();
    let replayed: Vec<String> = replay.trades.iter().map(fingerprint).collect();
    assert_eq!(replayed, live, "the same fills at the same prices");
    let liquidated =
        |ps: &[equilibrage::store::Position]| ps.iter().map(|p| p.liquidated).collect::<Vec<_>>();
    assert!(live_positions.iter().any(|p| p.liquidated.is_some()), "the rules' decisions are compared too");
    assert_eq!(liquidated(&replay.positions), liquidated(&live_positions));

    let again: RunReport = bt.run(&|_, _| {}).unwrap();
    assert_eq!(again.deterministic_json(), replay.deterministic_json(), "two replays are bit-identical");

    // The bot's own history calibrated from the recording: every position it entered is a
    // candidate with a simulated trade, among the hourly samples of every market it scored.
    let config = equilibrage::config::Config::load(Some(&data.path().join("config.toml"))).unwrap();
    let own = equilibrage::lab::calibrate_recording(&rec, &config.engine).unwrap();
    assert!(!own.factors.is_empty(), "the scorer's factors are named");
    for p in &live_positions {
        let c = own.candidates.iter().find(|c| c.position == Some(p.id));
        let c = c.unwrap_or_else(|| panic!("position {} is a calibrated candidate", p.id));
        assert_eq!((c.market_id.as_str(), Some(c.score)), (p.market_id.as_str(), p.score));
        assert!(c.pnl.is_some(), "position {}: its trade was simulated", p.id);
    }
    let scored: std::collections::BTreeSet<&str> =
        own.candidates.iter().map(|c| c.market_id.as_str()).collect();
    assert!(scored.len() > live_positions.len(), "markets not entered are calibrated too");
    assert_eq!(own.summarise().buckets.len(), 10);
}

#[test]
fn a_recorder_killed_mid_write_leaves_a_recording_that_replays() {
    let data = tempfile::tempdir().unwrap();
    run_bot(data.path(), |s| s.market_events >= 100 && s.scans >= 1, true);
    let rec = the_recording(data.path());
    let mut records = 0_u64;
    let summary = recording::read(&rec, |_| {
        records += 1;
        Ok(())
    })
    .unwrap();
    assert!(records > 100, "flushed blocks are readable: {records}");
    assert_eq!(summary.venue, "sim");
    let replay = backtest(data.path(), &rec).run(&|_, _| {}).unwrap();
    assert!(replay.stats.market_events > 0);
    assert!(replay.stats.scans > 0, "the recorded scans replay");
}

/// A small recording of the simulator, made in-process, for the damage tests.
fn small_recording(root: &Path) -> PathBuf {
    use equilibrage::engine::{Clock, Engine, EngineOptions};
    use equilibrage::exchange::sim::{SimConfig, SimExchange};
    let sim =
        SimExchange::new(SimConfig { seed: 3, markets: 20, ..SimConfig::default() }, Decimal::from(1_000));
    let (_plugins_dir, plugins) = support::runtime(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let config = equilibrage::lab::RecorderConfig { flush_every_ms: 10, ..Default::default() };
    let recorder = equilibrage::lab::Recorder::start(root, "sim", &config).unwrap();
    let dir = recorder.dir().to_owned();
    rt.block_on(async {
        let clock = {
            let sim = sim.clone();
            Clock::from_fn(move || sim.now_ms())
        };
        let options = EngineOptions { settings: Settings::default(), clock, metrics: true };
        let engine =
            Engine::open(std::sync::Arc::new(sim.clone()), plugins, Store::in_memory().unwrap(), options)
                .await
                .unwrap();
        let _ = engine.set_observer(recorder.sink());
        engine.scan().await.unwrap();
        for _ in 0..60 {
            for e in sim.advance(60_000).events {
                engine.on_market_event(e).await;
            }
            recorder.flush();
        }
    });
    recorder.close().unwrap();
    dir
}

#[test]
fn damaged_recordings_are_refused_with_the_file_and_the_offset() {
    let root = tempfile::tempdir().unwrap();
    let dir = small_recording(root.path());
    let segment = recording::segments(&dir).unwrap().remove(0);
    let bytes = std::fs::read(&segment).unwrap();
    let count = |path: &Path| {
        let mut n = 0;
        recording::read(path, |_| {
            n += 1;
            Ok(())
        })
        .map(|s| (n, s))
    };
    let (whole, summary) = count(&segment).unwrap();
    assert!(whole > 100 && summary.torn.is_none());

    // A flipped byte inside a block: its checksum fails, at that block's offset.
    let mut bad = bytes.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0xff;
    let broken = root.path().join("corrupt.eqr");
    std::fs::write(&broken, &bad).unwrap();
    let err = count(&broken).unwrap_err();
    assert!(
        matches!(&err, LabError::Corrupt { path, offset, .. } if path == &broken && *offset > 64),
        "{err}"
    );
    assert!(err.to_string().contains("corrupt.eqr") && err.to_string().contains("byte offset"), "{err}");

    // Cut short mid-block: the whole blocks before it are read, and where it stops is said.
    let cut = root.path().join("cut.eqr");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let (n, summary) = count(&cut).unwrap();
    let (file, offset, _) = summary.torn.expect("the cut is reported");
    assert!(n > 0 && n < whole, "{n} of {whole}");
    assert_eq!(file, cut);
    assert!(offset > 64);

    // A newer format version: refused, naming the version.
    let mut newer = bytes.clone();
    newer[8] = 99;
    let future = root.path().join("future.eqr");
    std::fs::write(&future, &newer).unwrap();
    let err = count(&future).unwrap_err();
    assert!(matches!(err, LabError::UnknownVersion { version: 99, .. }), "{err}");

    // Not a recording at all.
    let junk = root.path().join("junk.eqr");
    std::fs::write(&junk, b"hello").unwrap();
    assert!(matches!(count(&junk).unwrap_err(), LabError::NotARecording { .. }));

    // The original is untouched by all this.
    assert_eq!(count(&segment).unwrap().0, whole);
}

/// `equilibrage sweep` as a strategist reads it: the variants best first, the rows not shown and
/// how to list them, the signal plugins' answers shared between variants (on one thread the
/// first variant asks, the other two share every answer), and where the results went.
#[test]
fn the_sweep_command_prints_its_table_the_shared_answers_and_where_it_is_stored() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["sweep", "--sim", "--seed", "3", "--days", "1", "--markets", "12"])
        .args(["--to", "2026-01-01T04:00:00Z", "--grid", "engine.max_positions=1,2,3"])
        .args(["--holdout", "0", "--threads", "1", "--show", "2", "--data-dir"])
        .arg(data.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    let ranks: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains('│'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(ranks, ["1", "2"], "two rows shown:\n{stdout}");
    assert!(lines.contains(&"  … 1 more (--show 3 lists them all)"), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("  1 thread, ")), "{stdout}");
    let shared = lines
        .iter()
        .find_map(|l| l.strip_prefix("  whale and news plugins asked "))
        .unwrap_or_else(|| panic!("the shared answers are reported:\n{stdout}"));
    let numbers: Vec<u64> =
        shared.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    assert!(numbers[0] > 0 && numbers[1] == 2 * numbers[0], "{shared}");
    assert!(
        stdout.contains(&format!(
            "stored as sweep 1 (with its runs) in {}",
            data.path().join("lab/results.redb").display()
        )),
        "{stdout}"
    );
}

/// `equilibrage backtest --vs-param` as a strategist reads it: A and B side by side, the
/// per-decision diff, where both went; and, with the signal plugins' answers shared between the
/// two runs, each run's positions, trades, decisions and figures are those of the same backtest
/// run alone.
#[test]
fn the_backtest_command_compares_two_versions_as_each_runs_alone() {
    let data = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], json: &str| -> (String, serde_json::Value) {
        let path = data.path().join(json);
        let out = Command::new(BIN)
            .args(["backtest", "--sim", "--seed", "3", "--days", "1", "--markets", "12"])
            .args(["--to", "2026-01-01T04:00:00Z", "--data-dir"])
            .arg(data.path())
            .args(extra)
            .arg("--json")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        (stdout, serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
    };
    let b_param = "default-scorer.weight-liquidity=0.9";
    let (stdout, both) = run(&["--vs-param", b_param], "ab.json");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"stored as comparison 1 (runs 1 and 2)"), "{stdout}");
    assert!(
        lines.iter().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["A", "B"]),
        "A and B side by side:\n{stdout}"
    );
    assert!(lines.iter().any(|l| l.starts_with("per-decision diff: ")), "{stdout}");
    assert!(
        stdout.contains(&format!("stored as run 1, 2 in {}", data.path().join("lab/results.redb").display())),
        "{stdout}"
    );
    let (_, a_alone) = run(&["--no-store"], "a.json");
    let (_, b_alone) = run(&["--no-store", "--param", b_param], "b.json");
    // What must repeat: everything but the id, the label and the wall time.
    let same = |r: &serde_json::Value| {
        let mut r = r.clone();
        let o = r.as_object_mut().unwrap();
        o.remove("id");
        o.remove("label");
        o["stats"].as_object_mut().unwrap().remove("wall_ms").expect("a wall time");
        r
    };
    assert_eq!(same(&both[0]), same(&a_alone), "A as alone");
    assert_eq!(same(&both[1]), same(&b_alone), "B as alone");
    assert_ne!(same(&both[0]), same(&both[1]), "the versions differ");
    assert!(!both[0]["decisions"].as_array().unwrap().is_empty());
}
