//! The host's lab over a real engine on the simulator: a job form's every problem named
//! against its field, and a backtest and a sweep run from a form to their pages' views.

use super::HostLab;
use crate::engine::{Clock, Engine, EngineOptions, Settings};
use crate::exchange::sim::{SimConfig, SimExchange};
use crate::plugins::{PluginOptions, Plugins, install_defaults};
use crate::store::Store;
use equilibrage_web::{BackendError, Lab, LabJobForm};
use rust_decimal::Decimal;
use std::sync::Arc;

async fn lab(dir: &std::path::Path) -> HostLab {
    let plugin_dir = dir.join("plugins");
    install_defaults(&plugin_dir).unwrap();
    let cache = std::env::temp_dir().join("equilibrage-unit-test-plugin-cache");
    let options = PluginOptions::new(&plugin_dir, Some(cache));
    let plugins = Plugins::new(options.clone()).unwrap();
    plugins.load_dir().unwrap();
    let sim = SimExchange::new(SimConfig { markets: 6, ..SimConfig::default() }, Decimal::from(10_000));
    let clock = {
        let sim = sim.clone();
        Clock::from_fn(move || sim.now_ms())
    };
    let engine = Engine::open(
        Arc::new(sim),
        plugins.clone(),
        Store::in_memory().unwrap(),
        EngineOptions { settings: Settings::default(), clock, metrics: true },
    )
    .await
    .unwrap();
    HostLab::start(dir.to_owned(), options, plugins, engine, Default::default(), None).unwrap()
}

fn fields(e: BackendError) -> Vec<(String, String)> {
    match e {
        BackendError::Invalid { fields, .. } => fields.into_iter().map(|f| (f.field, f.message)).collect(),
        other => panic!("not a refusal with fields: {other:?}"),
    }
}

#[tokio::test]
async fn every_problem_of_a_job_form_is_named_against_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let bad = LabJobForm {
        kind: "race".into(),
        seeds: "1, x".into(),
        days: "0".into(),
        markets: "300".into(),
        b_scorer: "plugins/../../etc/passwd".into(),
        a_overrides: "engine.max_positions=lots\nno-equals-sign".into(),
        ..LabJobForm::default()
    };
    let problems = fields(lab.start(&bad).unwrap_err());
    let named: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
    for field in ["kind", "seeds", "days", "b_scorer", "a_overrides"] {
        assert!(named.contains(&field), "{field} is named: {problems:?}");
    }
    assert!(
        problems.iter().any(|(f, m)| f == "b_scorer" && m.contains("not a scorer plugin the lab offers"))
    );
    let recording =
        LabJobForm { kind: "backtest".into(), data: "no-such-recording".into(), ..LabJobForm::default() };
    assert_eq!(fields(lab.start(&recording).unwrap_err())[0].0, "data");
    let sweep = LabJobForm {
        kind: "sweep".into(),
        seeds: "1,2".into(),
        days: "1".into(),
        markets: "4".into(),
        ..LabJobForm::default()
    };
    let problems = fields(lab.start(&sweep).unwrap_err());
    assert!(problems.iter().any(|(f, m)| f == "seeds" && m.contains("one seed")), "{problems:?}");
    assert!(problems.iter().any(|(f, _)| f == "grid"), "{problems:?}");
    assert!(lab.jobs().list().is_empty(), "nothing was queued");
}

#[tokio::test]
async fn a_backtest_and_a_sweep_run_from_their_forms_to_their_pages() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let backtest = LabJobForm {
        kind: "backtest".into(),
        seeds: "3".into(),
        days: "1".into(),
        markets: "6".into(),
        label: "one day".into(),
        a_overrides:
            "engine.opportunity_threshold=1\nengine.take_profit_percent=10\nengine.stop_loss_percent=10"
                .into(),
        ..LabJobForm::default()
    };
    let job = lab.start(&backtest).unwrap();
    assert_eq!((job.kind.as_str(), job.state.as_str()), ("backtest", "queued"));
    let sweep = LabJobForm {
        kind: "sweep".into(),
        seeds: "3".into(),
        days: "1".into(),
        markets: "6".into(),
        grid: "engine.max_positions=1,3".into(),
        holdout: "25".into(),
        ..LabJobForm::default()
    };
    let swept = lab.start(&sweep).unwrap();
    lab.jobs().wait_idle();
    let done = lab.job(job.id).unwrap();
    assert_eq!(done.state, "done", "{:?}", done.error);
    let run: u64 = done.results[0].trim_start_matches("/lab/runs/").parse().unwrap();
    let view = lab.run(run).unwrap();
    assert_eq!(view.summary.label, "one day");
    assert!(!view.equity.is_empty() && !view.positions.is_empty());
    let calibration = lab.calibration(run).unwrap();
    assert_eq!(calibration.buckets.len(), 10);
    assert!(calibration.simulated > 0);
    let closed =
        view.positions.iter().find(|p| p.attribution.is_some()).expect("a closed position (10 % stops)");
    let detail = lab.position(Some(run), closed.id).unwrap();
    assert!(!detail.quotes.is_empty() && !detail.markers.is_empty() && !detail.trades.is_empty());
    let a = detail.position.attribution.unwrap();
    assert_eq!(a.spread + a.fees + a.liquidated_leg + a.kept_leg, a.pnl);
    let swept = lab.job(swept.id).unwrap();
    assert_eq!(swept.state, "done", "{:?}", swept.error);
    let id: u64 = swept.results[0].trim_start_matches("/lab/sweeps/").parse().unwrap();
    let table = lab.sweep(id).unwrap();
    assert_eq!(table.rows.len(), 2);
    assert!(table.rows.iter().any(|r| r.holdout.is_some()), "the best are re-run on the held-out part");
    let overview = lab.overview().unwrap();
    assert_eq!(overview.runs.len(), 1 + 2 + 2, "the backtest, the two variants and their held-out runs");
    assert_eq!(overview.sweeps.len(), 1);
    assert!(overview.base_settings.contains(&"engine.auto_trading=true".to_owned()));
    // The jobs' plugin directories go once they are over.
    lab.sweep_work();
    let left = std::fs::read_dir(dir.path().join("lab/work")).unwrap().count();
    assert_eq!(left, 0, "no job's plugin directory is left");
}

#[tokio::test]
async fn an_uploaded_plugin_is_checked_before_it_is_offered() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let veto = &equilibrage_plugin_artifacts::VETO_SCORER;
    let added = lab.upload_plugin("veto.wasm", veto.bytes).unwrap();
    assert_eq!((added.kind.as_str(), added.choice.as_str()), ("scorer", "lab/veto.wasm"));
    assert!(added.plugin.starts_with("veto-scorer@"));
    assert!(lab.overview().unwrap().plugin_files.iter().any(|f| f.choice == "lab/veto.wasm"));
    for (name, bytes, why) in [
        ("junk.wasm", &b"not a component"[..], "not a plugin this bot can run"),
        ("../escape.wasm", veto.bytes, "a plugin file is named NAME.wasm"),
        ("veto.exe", veto.bytes, "a plugin file is named NAME.wasm"),
        ("empty.wasm", &b""[..], "empty"),
    ] {
        let problems = fields(lab.upload_plugin(name, bytes).unwrap_err());
        assert!(problems.iter().any(|(f, m)| f == "file" && m.contains(why)), "{name}: {problems:?}");
    }
    let kept: Vec<_> =
        std::fs::read_dir(dir.path().join("lab/plugins")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(kept, ["veto.wasm"], "only the plugin that loads is kept");
}
