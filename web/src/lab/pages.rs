//! The Lab page (`/lab`): what can be replayed, what has been run, the form that starts a
//! backtest, comparison or sweep, and the jobs' progress (a region app.js polls while a job
//! runs); the result pages are in `views`.

use super::model::{AttributionTotals, EstimateView, JobView, LabJobForm, LabOverview, PluginFileView};
use super::{call, views};
use crate::auth::Identity;
use crate::backend::{BackendError, FieldError};
use crate::pages::layout::{
    self, Nav, alert, csrf_field, field_errors, fields_of, money, pnl_span, status_of,
};
use crate::query::{utc_day, utc_time};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use rust_decimal::Decimal;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/lab", get(overview::<B>))
        .route("/lab/jobs", post(start::<B>))
        .route("/partials/lab-jobs", get(jobs_partial::<B>))
        .route("/partials/lab-results", get(results_partial::<B>))
        .merge(views::routes::<B>())
}

async fn overview<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
) -> Response {
    render(&state, &identity, &LabJobForm::default(), None).await
}

/// Queues the job and goes back to the jobs list; a refusal shows the form again with what was
/// typed and each field's problem.
async fn start<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let form = form_of(&form);
    let asked = form.clone();
    match call(&state.backend, move |lab| lab.start(&asked)).await {
        Ok(job) => Redirect::to(&format!("/lab#job-{}", job.id)).into_response(),
        Err(e) => render(&state, &identity, &form, Some(&e)).await,
    }
}

/// The form's fields (the last value of each name; unknown names are ignored).
fn form_of(fields: &[(String, String)]) -> LabJobForm {
    let get = |name: &str| layout::last(fields, name).unwrap_or_default().to_owned();
    LabJobForm {
        kind: get("kind"),
        data: get("data"),
        seeds: get("seeds"),
        days: get("days"),
        markets: get("markets"),
        label: get("label"),
        a_scorer: get("a_scorer"),
        a_rules: get("a_rules"),
        a_overrides: get("a_overrides"),
        b_scorer: get("b_scorer"),
        b_rules: get("b_rules"),
        b_overrides: get("b_overrides"),
        grid: get("grid"),
        objective: get("objective"),
        holdout: get("holdout"),
    }
}

async fn jobs_partial<B: Backend>(State(state): State<AppState<B>>) -> Response {
    match call(&state.backend, |lab| Ok(lab.jobs())).await {
        Ok(jobs) => jobs_region(&jobs).into_response(),
        Err(e) => (status_of(&e), alert(&e.to_string())).into_response(),
    }
}

async fn results_partial<B: Backend>(State(state): State<AppState<B>>) -> Response {
    match call(&state.backend, |lab| lab.results()).await {
        Ok(o) => results_region(&o).into_response(),
        Err(e) => (status_of(&e), alert(&e.to_string())).into_response(),
    }
}

/// The stored results; fetched again every second while a job runs, so what it stores shows
/// up without a reload.
pub(crate) fn results_region(o: &LabOverview) -> Markup {
    let polling = o.jobs.iter().any(JobView::active);
    html! {
        div id="lab-results" data-poll=(if polling { "on" } else { "off" }) {
            (comparisons(o))
            (runs(o))
            (sweeps(o))
        }
    }
}

async fn render<B: Backend>(
    state: &AppState<B>,
    identity: &Identity,
    form: &LabJobForm,
    refused: Option<&BackendError>,
) -> Response {
    let venue = state.backend.venue();
    let overview = call(&state.backend, |lab| lab.overview()).await;
    let status = refused.or(overview.as_ref().err()).map_or(StatusCode::OK, status_of);
    let errors = refused.map(fields_of).unwrap_or_default();
    let main = html! {
        h1 { "Lab" }
        p class="sub" {
            "Replay recorded or simulated markets through any plugin versions and settings; compare two "
            "side by side, sweep parameters, and see where each position's P&L came from."
        }
        @match &overview {
            Err(e) => { (alert(&format!("The lab is not available: {e}"))) }
            Ok(o) => {
                (new_run(identity, o, form, refused, &errors))
                section id="jobs" aria-labelledby="jobs-title" {
                    h2 id="jobs-title" { "Jobs" }
                    div data-live-src="/partials/lab-jobs" { (jobs_region(&o.jobs)) }
                }
                div data-live-src="/partials/lab-results" { (results_region(o)) }
                (recordings(o))
                section id="live-attribution" aria-labelledby="live-attribution-title" {
                    h2 id="live-attribution-title" { "Live history: where the P&L came from" }
                    (attribution_totals(&o.live_attribution))
                    (by_version(&o.live_by_version))
                    p { a id="live-calibration" href="/lab/live/calibration" { "Does a higher score lead to a better trade? The bot's own history, from its recordings" } }
                }
            }
        }
    };
    (status, layout::page("Lab", Nav::Lab, identity, &venue, &main)).into_response()
}

fn plugin_select(name: &str, label: &str, kind: &str, files: &[PluginFileView], chosen: &str) -> Markup {
    html! {
        div class="field" {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                option value="" selected[chosen.is_empty()] { "the bot's active one" }
                @for f in files.iter().filter(|f| f.kind == kind) {
                    option value=(f.choice) selected[chosen == f.choice] {
                        (f.plugin) " — " (f.choice) @if f.active { " (active)" }
                    }
                }
            }
        }
    }
}

fn text_field(name: &str, label: &str, value: &str, placeholder: &str, errors: &[FieldError]) -> Markup {
    let invalid = errors.iter().any(|e| e.field == name);
    html! {
        div class="field" {
            label for=(name) { (label) }
            input type="text" id=(name) name=(name) value=(value) placeholder=(placeholder)
                aria-invalid=[invalid.then_some("true")];
            (field_errors(errors, name))
        }
    }
}

fn area_field(name: &str, label: &str, value: &str, help: &str, errors: &[FieldError]) -> Markup {
    let invalid = errors.iter().any(|e| e.field == name);
    html! {
        div class="field" {
            label for=(name) { (label) }
            textarea id=(name) name=(name) rows="3" aria-invalid=[invalid.then_some("true")] { (value) }
            p class="help" { (help) }
            (field_errors(errors, name))
        }
    }
}

fn new_run(
    identity: &Identity,
    o: &LabOverview,
    form: &LabJobForm,
    refused: Option<&BackendError>,
    errors: &[FieldError],
) -> Markup {
    let or = |v: &str, d: &'static str| if v.is_empty() { d.to_owned() } else { v.to_owned() };
    let kind = or(&form.kind, "compare");
    let data = or(&form.data, "sim");
    html! {
        section id="new-run" aria-labelledby="new-run-title" {
            h2 id="new-run-title" { "New run" }
            @if let Some(e) = refused { (alert(&e.to_string())) }
            form id="lab-upload" class="lab-upload" data-upload="/api/lab/plugins/" method="get" action="/lab" {
                div class="field" {
                    label for="plugin-file" { "Add a candidate plugin (.wasm)" }
                    input type="file" id="plugin-file" name="file" accept=".wasm";
                }
                button type="submit" { "Upload" }
                p class="help" {
                    "Checked like any plugin (loaded, instantiated, described), then offered for A and B below. "
                    "Without JavaScript, put the file in the data directory's lab/plugins/."
                }
                p class="upload-status" role="status" {}
            }
            form id="lab-job" class="lab-job" method="post" action="/lab/jobs" {
                (csrf_field(identity))
                fieldset class="grid" {
                    legend { "What and on which data" }
                    div class="field" {
                        label for="kind" { "Run" }
                        select id="kind" name="kind" {
                            @for (v, l) in [("backtest", "a backtest"), ("compare", "A against B"), ("sweep", "a parameter sweep")] {
                                option value=(v) selected[kind == v] { (l) }
                            }
                        }
                        (field_errors(errors, "kind"))
                    }
                    div class="field" {
                        label for="data" { "Data" }
                        select id="data" name="data" {
                            option value="sim" selected[data == "sim"] { "the simulator (seeds and days below)" }
                            @for r in &o.recordings {
                                option value=(r.name) selected[data == r.name] {
                                    "recording " (r.name)
                                    @if let (Some(a), Some(b)) = (r.from_ms, r.to_ms) { " (" (utc_day(a)) " – " (utc_day(b)) ")" }
                                }
                            }
                        }
                        (field_errors(errors, "data"))
                    }
                    (text_field("seeds", "Simulator seeds", &or(&form.seeds, "1"), "1, 2, 3", errors))
                    (text_field("days", "Simulated days", &or(&form.days, "3"), "3", errors))
                    (text_field("markets", "Simulated markets", &or(&form.markets, "300"), "300", errors))
                    (text_field("label", "Name (optional)", &form.label, "", errors))
                }
                div class="columns" {
                    fieldset {
                        legend { "A (and a backtest's or sweep's plugins)" }
                        (plugin_select("a_scorer", "Scorer", "scorer", &o.plugin_files, &form.a_scorer))
                        (field_errors(errors, "a_scorer"))
                        (plugin_select("a_rules", "Liquidation rules", "liquidation-rules", &o.plugin_files, &form.a_rules))
                        (field_errors(errors, "a_rules"))
                        (area_field("a_overrides", "Settings and parameters", &form.a_overrides,
                            "One a line: engine.max_positions=5 or default-scorer.weight-liquidity=0.4", errors))
                    }
                    fieldset {
                        legend { "B (comparisons): A with these changes" }
                        (plugin_select("b_scorer", "Scorer", "scorer", &o.plugin_files, &form.b_scorer))
                        (field_errors(errors, "b_scorer"))
                        (plugin_select("b_rules", "Liquidation rules", "liquidation-rules", &o.plugin_files, &form.b_rules))
                        (field_errors(errors, "b_rules"))
                        (area_field("b_overrides", "Settings and parameters", &form.b_overrides,
                            "Added to A's, one a line", errors))
                    }
                }
                fieldset class="grid" {
                    legend { "Sweep" }
                    (area_field("grid", "Axes", &form.grid,
                        "One a line, values separated by commas: engine.max_positions=1,3,6", errors))
                    div class="field" {
                        label for="objective" { "Rank by" }
                        select id="objective" name="objective" {
                            @for (v, l) in [("pnl", "P&L"), ("sharpe", "Sharpe"), ("drawdown-adjusted", "P&L over drawdown")] {
                                option value=(v) selected[form.objective == v] { (l) }
                            }
                        }
                    }
                    (text_field("holdout", "Held out, percent of the data", &or(&form.holdout, "25"), "25", errors))
                }
                details class="base-settings" {
                    summary { "Settings every run starts from (the bot's)" }
                    ul class="mono" { @for s in &o.base_settings { li { (s) } } }
                }
                button type="submit" { "Start" }
            }
        }
    }
}

/// The jobs, newest first; polled every second by app.js while one is queued or running.
pub(crate) fn jobs_region(jobs: &[JobView]) -> Markup {
    let polling = jobs.iter().any(JobView::active);
    html! {
        div id="lab-jobs" data-poll=(if polling { "on" } else { "off" }) {
            @if jobs.is_empty() {
                p class="empty" { "No job since the bot started. Results of earlier ones are listed below." }
            }
            @for j in jobs {
                article class={ "job " (j.state) } id={ "job-" (j.id) } data-job-id=(j.id) data-state=(j.state) {
                    h3 {
                        (j.kind) " #" (j.id)
                        @if !j.label.is_empty() { " — " (j.label) }
                        " " span class="tag" { (j.state) }
                    }
                    @if j.active() {
                        progress max="100" value=(j.percent) aria-label={ "Job " (j.id) " progress" } { (j.percent) "%" }
                        span class="sub" { " " (j.percent) " % — run " (j.step.max(1)) " of " (j.steps) }
                    }
                    @if let Some(e) = &j.error { (alert(e)) }
                    @if !j.results.is_empty() {
                        p class="results" {
                            "Results: "
                            @for (i, r) in j.results.iter().enumerate() {
                                @if i > 0 { ", " }
                                a href=(r) { (r.trim_start_matches("/lab/")) }
                            }
                        }
                    }
                    p class="sub" { "submitted " (utc_time(j.submitted_ms)) }
                }
            }
        }
    }
}

fn comparisons(o: &LabOverview) -> Markup {
    html! {
        section id="comparisons" aria-labelledby="comparisons-title" {
            h2 id="comparisons-title" { "Comparisons" }
            div class="table-wrap" {
                table id="comparison-list" {
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { "Name" } th scope="col" { "Data" }
                        th scope="col" class="num" { "P&L A" } th scope="col" class="num" { "P&L B" }
                    } }
                    tbody {
                        @for c in o.comparisons.iter().rev() {
                            tr data-comparison-id=(c.id) {
                                td { a href={ "/lab/comparisons/" (c.id) } { (c.id) } }
                                td { a href={ "/lab/comparisons/" (c.id) } { @if c.label.is_empty() { "A vs B" } @else { (c.label) } } }
                                td { (c.source) }
                                td class="num" { (pnl_span(c.pnl_a)) }
                                td class="num" { (pnl_span(c.pnl_b)) }
                            }
                        }
                        @if o.comparisons.is_empty() { tr class="empty" { td colspan="5" { "None yet." } } }
                    }
                }
            }
        }
    }
}

fn runs(o: &LabOverview) -> Markup {
    html! {
        section id="runs" aria-labelledby="runs-title" {
            h2 id="runs-title" { "Backtest runs" }
            div class="table-wrap" {
                table id="run-list" {
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { "Name" } th scope="col" { "Data" }
                        th scope="col" class="num" { "P&L" } th scope="col" class="num" { "Return" }
                        th scope="col" class="num" { "Max drawdown" } th scope="col" class="num" { "Positions" }
                    } }
                    tbody {
                        @for r in &o.runs {
                            tr data-run-id=(r.id) {
                                td { a href={ "/lab/runs/" (r.id) } { (r.id) } }
                                td { (r.label) }
                                td { (r.source) }
                                td class="num" { (pnl_span(r.metrics.pnl)) }
                                td class="num" { (r.metrics.return_percent.round_dp(2)) " %" }
                                td class="num" { (r.metrics.max_drawdown_percent.round_dp(2)) " %" }
                                td class="num" { (r.metrics.positions) }
                            }
                        }
                        @if o.runs.is_empty() { tr class="empty" { td colspan="7" { "None yet." } } }
                    }
                }
            }
        }
    }
}

fn sweeps(o: &LabOverview) -> Markup {
    html! {
        section id="sweeps" aria-labelledby="sweeps-title" {
            h2 id="sweeps-title" { "Sweeps" }
            div class="table-wrap" {
                table id="sweep-list" {
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { "Name" } th scope="col" { "Data" }
                        th scope="col" class="num" { "Variants" } th scope="col" { "Ranked by" } th scope="col" class="num" { "Held out" }
                    } }
                    tbody {
                        @for s in o.sweeps.iter().rev() {
                            tr data-sweep-id=(s.id) {
                                td { a href={ "/lab/sweeps/" (s.id) } { (s.id) } }
                                td { (s.label) }
                                td { (s.source) }
                                td class="num" { (s.variants) }
                                td { (s.objective) }
                                td class="num" { (s.holdout_percent) " %" }
                            }
                        }
                        @if o.sweeps.is_empty() { tr class="empty" { td colspan="6" { "None yet." } } }
                    }
                }
            }
        }
    }
}

fn megabytes(bytes: u64) -> String {
    let tenths = bytes.saturating_mul(10) / 1_048_576;
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

fn recordings(o: &LabOverview) -> Markup {
    let count = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |n| n.to_string());
    html! {
        section id="recordings" aria-labelledby="recordings-title" {
            h2 id="recordings-title" { "Recordings" }
            div class="table-wrap" {
                table id="recording-list" {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Venue" } th scope="col" { "From" } th scope="col" { "To" }
                        th scope="col" class="num" { "Markets" } th scope="col" class="num" { "Events" }
                        th scope="col" class="num" { "Size" }
                    } }
                    tbody {
                        @for r in &o.recordings {
                            tr data-recording=(r.name) {
                                td class="mono" { (r.name) @if r.active { " " span class="tag ok" { "recording" } } }
                                td { (r.venue) }
                                td { (r.from_ms.map(utc_time).unwrap_or_default()) }
                                td { (r.to_ms.map(utc_time).unwrap_or_default()) }
                                td class="num" { (count(r.markets)) }
                                td class="num" { (count(r.events)) }
                                td class="num" { (megabytes(r.bytes)) }
                            }
                        }
                        @if o.recordings.is_empty() { tr class="empty" { td colspan="7" { "No recording yet." } } }
                    }
                }
            }
        }
    }
}

/// `mean [low, high] (n)` of an estimate, or a dash.
pub(crate) fn estimate(e: Option<&EstimateView>) -> Markup {
    match e {
        None => html! { "—" },
        Some(e) => html! {
            (pnl_span(e.mean))
            @if let (Some(l), Some(h)) = (e.low, e.high) { " [" (money(l)) ", " (money(h)) "]" }
            " (n=" (e.n) ")"
        },
    }
}

/// The parts of many positions' P&L and what the liquidation rule earned against the
/// counterfactuals.
pub(crate) fn attribution_totals(t: &AttributionTotals) -> Markup {
    if t.positions == 0 {
        return html! { p class="empty" { "No closed position to attribute yet." } };
    }
    let sign = |e: Option<&EstimateView>, better: &str, worse: &str| -> String {
        match e {
            Some(e) if e.low.is_some_and(|l| l > Decimal::ZERO) => better.to_owned(),
            Some(e) if e.high.is_some_and(|h| h < Decimal::ZERO) => worse.to_owned(),
            Some(_) => "no difference at 95 % so far".to_owned(),
            None => String::new(),
        }
    };
    html! {
        div class="table-wrap" {
            table class="attribution-totals" {
                tbody {
                    tr { th scope="row" { "Positions" } td class="num" { (t.positions) " (" (t.liquidated) " liquidated)" } }
                    tr { th scope="row" { "Spread paid at entry" } td class="num" { (pnl_span(t.spread)) } }
                    tr { th scope="row" { "Fees" } td class="num" { (pnl_span(t.fees)) } }
                    tr { th scope="row" { "Liquidated sides" } td class="num" { (pnl_span(t.liquidated_leg)) } }
                    tr { th scope="row" { "Kept sides" } td class="num" { (pnl_span(t.kept_leg)) } }
                    tr class="total" { th scope="row" { "P&L" } td class="num" { (pnl_span(t.pnl)) } }
                    tr {
                        th scope="row" { "Liquidation against holding to resolution, per position" }
                        td class="num" {
                            (estimate(t.rule_vs_hold.as_ref())) " "
                            span class="sub" { (sign(t.rule_vs_hold.as_ref(), "the rule earned", "the rule cost")) }
                        }
                    }
                    tr {
                        th scope="row" { "Liquidation against selling the pair then, per position" }
                        td class="num" {
                            (estimate(t.rule_vs_pair.as_ref())) " "
                            span class="sub" { (sign(t.rule_vs_pair.as_ref(), "keeping a side earned", "keeping a side cost")) }
                        }
                    }
                    tr {
                        th scope="row" { "Every exit against holding to resolution, per position" }
                        td class="num" { (estimate(t.exits_vs_hold.as_ref())) }
                    }
                }
            }
        }
    }
}

/// The live history's P&L by the plugin versions that decided it.
fn by_version(rows: &[crate::lab::model::VersionPnlView]) -> Markup {
    html! {
        @if !rows.is_empty() {
            div class="table-wrap" {
                table id="pnl-by-version" {
                    caption { "By plugin version" }
                    thead { tr { th scope="col" { "Kind" } th scope="col" { "Version" }
                        th scope="col" class="num" { "Positions" } th scope="col" class="num" { "P&L" } } }
                    tbody {
                        @for r in rows {
                            tr data-kind=(r.kind) {
                                td { (r.kind) }
                                td class="mono" { (r.version.as_deref().unwrap_or(if r.kind == "scorer" { "not named" } else { "no exit by the rules" })) }
                                td class="num" { (r.positions) }
                                td class="num" { (pnl_span(r.pnl)) }
                            }
                        }
                    }
                }
            }
        }
    }
}
