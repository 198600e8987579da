//! The Lab in the browser (issue 18): a scorer uploaded from the Lab page (and a file that is
//! not a plugin refused), two scorer versions compared on a simulator seed from the Lab page, the comparison's two equity curves and its diff table (the same markets as the
//! lab's own diff of the stored runs), a run's calibration chart with its ten score buckets, and
//! a position's detail with its chart and attribution.

use super::Session;
use crate::support::browser::{element, js, open, screenshot};
use equilibrage::lab::{ResultsStore, diff_runs};
use serde_json::json;
use std::time::{Duration, Instant};

/// Two debug-built backtests of a simulated day take about 15 s on two cores.
const JOB_WAIT: Duration = Duration::from_secs(240);

/// Sets a form control's value by name (selects included).
async fn set(s: &Session<'_>, name: &str, value: &str) {
    let done = js(
        s.browser,
        "const e = document.querySelector(`form#lab-job [name=\"${arguments[0]}\"]`); \
         if (!e) return false; e.value = arguments[1]; return e.value === arguments[1];",
        vec![json!(name), json!(value)],
    )
    .await;
    assert_eq!(done, json!(true), "the Lab form's {name} takes {value:?}");
}

/// Runs the comparison from the Lab page and checks what it shows; answers the paths of the
/// comparison, of run A and of the position opened, for the width checks.
pub(super) async fn compare_two_scorers_from_the_lab(s: &Session<'_>) -> (String, String, String) {
    // Version B: the veto scorer, uploaded from the Lab page (a file that is not a plugin first,
    // refused with why).
    let b = s.browser;
    let veto = &equilibrage_plugin_artifacts::VETO_SCORER;
    let files = tempfile::tempdir().expect("upload dir");
    let (good, junk) = (files.path().join(veto.file), files.path().join("junk.wasm"));
    std::fs::write(&good, veto.bytes).expect("write the plugin");
    std::fs::write(&junk, b"not a component").expect("write junk");
    let choice = format!("lab/{}", veto.file);

    open(b, s.bot, "/lab", "form#lab-job").await;
    screenshot(b, "lab-empty").await;
    let upload = |path: std::path::PathBuf| async move {
        let input = element(b, "form#lab-upload input[type=file]").await;
        input.send_keys(path.to_str().expect("a UTF-8 path")).await.expect("choose the file");
        element(b, "form#lab-upload button[type=submit]").await.click().await.expect("upload");
    };
    upload(junk).await;
    crate::support::browser::eventually("the junk file refused", || async {
        let said =
            js(b, "return document.querySelector('form#lab-upload .upload-status').textContent;", vec![])
                .await;
        let said = said.as_str().unwrap_or_default().to_owned();
        if said.contains("not a plugin this bot can run") { Ok(()) } else { Err(said) }
    })
    .await;
    upload(good).await;
    crate::support::browser::eventually("the uploaded scorer offered for B", || async {
        let offered = js(
            b,
            "return [...document.querySelectorAll('select#b_scorer option')].map(o => o.value);",
            vec![],
        )
        .await;
        if offered.as_array().is_some_and(|o| o.contains(&json!(choice))) {
            Ok(())
        } else {
            Err(offered.to_string())
        }
    })
    .await;

    set(s, "kind", "compare").await;
    set(s, "data", "sim").await;
    set(s, "seeds", "7").await;
    set(s, "days", "1").await;
    set(s, "markets", "20").await;
    set(s, "label", "veto <b>scorer</b>").await;
    // The bot here trades by hand with exits far away; the comparison trades as the defaults do,
    // with close stops and targets so positions close within the simulated day.
    set(
        s,
        "a_overrides",
        "engine.opportunity_threshold=6\nengine.max_positions=3\nengine.liquidation_drop_percent=30\n\
         engine.take_profit_percent=5\nengine.stop_loss_percent=5",
    )
    .await;
    set(s, "b_scorer", &choice).await;
    set(s, "b_overrides", "veto-scorer.veto-days=30").await;
    element(b, "form#lab-job button[type=submit]").await.click().await.expect("start");

    // The job shows with its progress, and the page follows it to the end by itself.
    let job = element(b, "#lab-jobs article.job").await;
    let id: u64 = job.attr("data-job-id").await.expect("attr").expect("a job id").parse().expect("a number");
    assert!(b.current_url().await.expect("url").fragment() == Some(&format!("job-{id}")));
    let started = Instant::now();
    let mut saw_progress = false;
    let result = loop {
        let state = js(
            b,
            "const j = document.querySelector(`article.job[data-job-id=\"${arguments[0]}\"]`); \
             if (!j) return null; const a = j.querySelector('p.results a'); \
             return { state: j.dataset.state, progress: !!j.querySelector('progress'), href: a ? a.getAttribute('href') : null, \
                      error: (j.querySelector('.error') || {}).textContent || null };",
            vec![json!(id)],
        )
        .await;
        saw_progress |= state["progress"] == json!(true);
        match state["state"].as_str() {
            Some("done") => break state["href"].as_str().expect("a result link").to_owned(),
            Some("failed") => panic!("the comparison failed: {}", state["error"]),
            _ => {}
        }
        assert!(started.elapsed() < JOB_WAIT, "the comparison is not done after {JOB_WAIT:?}: {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(saw_progress, "the job's progress bar was shown while it ran");
    let comparison: u64 = result.trim_start_matches("/lab/comparisons/").parse().expect("a comparison link");
    screenshot(b, "lab-job-done").await;

    // The comparison: two equity curves, and the diff of the stored runs, row for row.
    open(b, s.bot, &result, "table#diff-table").await;
    for series in ["A", "B"] {
        element(b, &format!("svg#equity-chart path.series[data-series=\"{series}\"]")).await;
        element(b, &format!("svg#drawdown-chart path.series[data-series=\"{series}\"]")).await;
    }
    let shown = js(b, "return [...document.querySelectorAll('#diff-table tr[data-market-id]')].map(r => r.dataset.marketId);", vec![]).await;
    let shown: Vec<String> = serde_json::from_value(shown).expect("market ids");
    let store = ResultsStore::open(&s.bot.data.path().join("data")).expect("the results store");
    let c = store.comparison(comparison).expect("read").expect("the comparison is stored");
    let (a, bb) =
        (store.get(c.a).expect("read").expect("run A"), store.get(c.b).expect("read").expect("run B"));
    let expected: Vec<String> = diff_runs(&a, &bb).into_iter().map(|d| d.market_id).collect();
    assert!(!expected.is_empty(), "the two scorers traded differently");
    assert_eq!(shown, expected, "the page's diff is the lab's diff of the stored runs");
    let title = js(b, "return document.querySelector('h1').textContent;", vec![]).await;
    assert!(title.as_str().is_some_and(|t| t.contains("veto <b>scorer</b>")), "the label is text: {title}");
    screenshot(b, "lab-comparison").await;

    // Run A's page: its calibration chart, ten score buckets.
    open(b, s.bot, &format!("/lab/runs/{}", c.a), "svg#calibration-chart").await;
    let buckets = js(
        b,
        "return [...document.querySelectorAll('svg#calibration-chart g.bucket')].map(g => +g.dataset.n);",
        vec![],
    )
    .await;
    let buckets: Vec<u64> = serde_json::from_value(buckets).expect("bucket counts");
    assert_eq!(buckets.len(), 10, "ten score buckets");
    assert!(buckets.iter().sum::<u64>() > 0, "simulated trades in the buckets: {buckets:?}");
    js(b, "document.querySelector('#calibration').scrollIntoView(); return null;", vec![]).await;
    screenshot(b, "lab-run-calibration").await;

    // A closed position of A: its chart with what happened, its trades, its attribution.
    let closed = a.attribution.first().expect("A closed positions (5 % stops and targets)");
    let path = format!("/lab/runs/{}/positions/{}", c.a, closed.position_id);
    open(b, s.bot, &path, "svg#price-chart").await;
    let markers = js(b, "return document.querySelectorAll('svg#price-chart g.marker').length;", vec![]).await;
    assert!(markers.as_u64().is_some_and(|n| n >= 3), "entries and an exit marked: {markers}");
    element(b, "svg#price-chart path.series").await;
    let pnl = js(
        b,
        "const td = document.querySelector('table#attribution tr.total td'); \
         const exact = td.querySelector('.exact'); return exact ? exact.title : td.textContent;",
        vec![],
    )
    .await;
    let pnl = super::dec(pnl.as_str().unwrap_or_default());
    assert!(
        pnl == closed.pnl || pnl == closed.pnl.round_dp(2),
        "the attribution's total is the position's P&L {}: {pnl}",
        closed.pnl
    );
    element(b, "table#position-trades tr[data-trade-id]").await;
    screenshot(b, "lab-position").await;
    (result, format!("/lab/runs/{}", c.a), path)
}
