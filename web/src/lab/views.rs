//! A result's pages: a run (`/lab/runs/{id}`), A against B (`/lab/comparisons/{id}`), a sweep's
//! table (`/lab/sweeps/{id}`, sorted and filtered by its query), and a position's detail, of a
//! run (`/lab/runs/{run}/positions/{id}`) or of the live history (`/history/positions/{id}`).

use super::call;
use super::charts::{
    COLORS, Series, attribution_chart, calibration_chart, daily_chart, drawdown, lines_chart, price_chart,
};
use super::model::{
    AttributionView, CalibrationView, ComparisonView, LabPositionRow, MetricsView, PositionDetail, RunView,
    SweepView,
};
use super::pages::attribution_totals;
use crate::auth::Identity;
use crate::backend::{BackendError, BackendResult};
use crate::pages::layout::{
    self, Nav, alert, last, money, pnl_class, pnl_span, price, query_pairs, status_of,
};
use crate::query::utc_time;
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use rust_decimal::Decimal;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/lab/runs/{id}", get(run::<B>))
        .route("/lab/comparisons/{id}", get(comparison::<B>))
        .route("/lab/sweeps/{id}", get(sweep::<B>))
        .route("/lab/runs/{run}/positions/{id}", get(run_position::<B>))
        .route("/history/positions/{id}", get(live_position::<B>))
        .route("/lab/live/calibration", get(live_calibration::<B>))
}

/// A number from the path, or a 404 page.
fn id_of(text: &str) -> BackendResult<u64> {
    text.parse().map_err(|_| BackendError::NotFound(format!("no such id: {text:?}")))
}

fn page<B: Backend>(
    state: &AppState<B>,
    identity: &Identity,
    title: &str,
    nav: Nav,
    body: BackendResult<Markup>,
) -> Response {
    let venue = state.backend.venue();
    let (status, main) = match body {
        Ok(m) => (StatusCode::OK, m),
        Err(e) => (
            status_of(&e),
            html! { h1 { (title) } (alert(&e.to_string())) p { a href="/lab" { "Back to the Lab" } } },
        ),
    };
    (status, layout::page(title, nav, identity, &venue, &main)).into_response()
}

async fn run<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let body = match id_of(&id) {
        Ok(id) => call(&state.backend, move |lab| Ok((lab.run(id)?, lab.calibration(id))))
            .await
            .map(|(r, c)| run_page(&r, c.as_ref())),
        Err(e) => Err(e),
    };
    page(&state, &identity, "Backtest run", Nav::Lab, body)
}

async fn comparison<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let body = match id_of(&id) {
        Ok(id) => call(&state.backend, move |lab| lab.comparison(id)).await.map(|c| comparison_page(&c)),
        Err(e) => Err(e),
    };
    page(&state, &identity, "A against B", Nav::Lab, body)
}

async fn sweep<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let sort = last(&pairs, "sort").unwrap_or("rank").to_owned();
    let filter = last(&pairs, "filter").unwrap_or_default().trim().to_owned();
    let body = match id_of(&id) {
        Ok(id) => {
            call(&state.backend, move |lab| lab.sweep(id)).await.map(|s| sweep_page(&s, &sort, &filter))
        }
        Err(e) => Err(e),
    };
    page(&state, &identity, "Sweep", Nav::Lab, body)
}

async fn run_position<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path((run, id)): Path<(String, String)>,
) -> Response {
    let body = match (id_of(&run), id_of(&id)) {
        (Ok(run), Ok(id)) => {
            call(&state.backend, move |lab| lab.position(Some(run), id)).await.map(|d| position_page(&d))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    page(&state, &identity, "Position", Nav::Lab, body)
}

async fn live_calibration<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
) -> Response {
    let c = call(&state.backend, |lab| lab.live_calibration()).await;
    let body = html! {
        h1 { "Calibration of the bot's own history" }
        p { a href="/lab" { "Lab" } }
        p class="sub" {
            "From the bot's recordings: every recorded scan's candidates, books and entries, through the same "
            "simulation a backtest uses. A candidate the bot did not enter is sized as its latest entry before it."
        }
        (calibration_section(c.as_ref()))
    };
    page(&state, &identity, "Calibration", Nav::Lab, Ok(body))
}

async fn live_position<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let body = match id_of(&id) {
        Ok(id) => call(&state.backend, move |lab| lab.position(None, id)).await.map(|d| position_page(&d)),
        Err(e) => Err(e),
    };
    page(&state, &identity, "Position", Nav::History, body)
}

/// A figure's label and how a run's value of it is shown.
type MetricRow<'a> = (&'a str, Box<dyn Fn(&MetricsView) -> Markup>);

/// The figures of one or more runs side by side, a row per figure.
fn metrics_table(columns: &[(&str, &MetricsView)]) -> Markup {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".to_owned());
    let rows: Vec<MetricRow<'_>> = vec![
        ("P&L", Box::new(|m| pnl_span(m.pnl))),
        ("Return", Box::new(|m| html! { (m.return_percent.round_dp(2)) " %" })),
        ("Final equity", Box::new(|m| money(m.final_equity))),
        (
            "Max drawdown",
            Box::new(|m| html! { (money(m.max_drawdown)) " (" (m.max_drawdown_percent.round_dp(2)) " %)" }),
        ),
        ("Sharpe of daily returns", Box::new(move |m| html! { (opt(m.sharpe.map(|s| format!("{s:.2}")))) })),
        (
            "Win rate",
            Box::new(move |m| html! { (opt(m.win_rate_percent.map(|w| format!("{} %", w.round_dp(1))))) }),
        ),
        ("Positions (closed)", Box::new(|m| html! { (m.positions) " (" (m.closed) ")" })),
        ("Liquidations", Box::new(|m| html! { (m.liquidations) })),
        ("Fees", Box::new(|m| money(m.fees))),
        ("Exposure", Box::new(|m| html! { (m.exposure_percent.round_dp(1)) " %" })),
        ("Days", Box::new(|m| html! { (m.days) })),
    ];
    html! {
        div class="table-wrap" {
            table class="metrics" id="metrics" {
                thead { tr { th scope="col" { "" } @for (name, _) in columns { th scope="col" class="num" { (name) } } } }
                tbody {
                    @for (label, cell) in &rows {
                        tr { th scope="row" { (label) } @for (_, m) in columns { td class="num" { (cell(m)) } } }
                    }
                }
            }
        }
    }
}

fn equity_series<'a>(label: &'a str, color: &'a str, r: &RunView) -> Series<'a> {
    Series { label, color, points: r.equity.clone(), dashed: false }
}

fn drawdown_series<'a>(label: &'a str, color: &'a str, r: &RunView) -> Series<'a> {
    Series { label, color, points: drawdown(&r.equity, r.summary.metrics.initial_capital), dashed: false }
}

fn positions_table(run: u64, positions: &[LabPositionRow], id: &str) -> Markup {
    html! {
        div class="table-wrap" {
            table id=(id) class="lab-positions" {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "Market" } th scope="col" { "Opened" }
                    th scope="col" { "What happened" } th scope="col" class="num" { "Score" }
                    th scope="col" class="num" { "P&L" } th scope="col" class="num" { "Spread" }
                    th scope="col" class="num" { "Fees" } th scope="col" class="num" { "Liquidated side" }
                    th scope="col" class="num" { "Kept side" }
                } }
                tbody {
                    @for p in positions {
                        tr data-position-id=(p.id) {
                            td { a href={ "/lab/runs/" (run) "/positions/" (p.id) } { (p.id) } }
                            td class="question" { (p.question) }
                            td { (utc_time(p.opened_at_ms)) }
                            td { (story(p)) }
                            td class="num" { (p.score.map(|s| format!("{s:.1}")).unwrap_or_default()) }
                            td class="num" { (pnl_span(p.pnl)) }
                            @match &p.attribution {
                                Some(a) => {
                                    td class="num" { (money(a.spread)) } td class="num" { (money(a.fees)) }
                                    td class="num" { (money(a.liquidated_leg)) } td class="num" { (money(a.kept_leg)) }
                                }
                                None => { td colspan="4" class="sub" { "open" } }
                            }
                        }
                    }
                    @if positions.is_empty() { tr class="empty" { td colspan="10" { "No position." } } }
                }
            }
        }
    }
}

fn story(p: &LabPositionRow) -> String {
    let mut s = p.status.clone();
    if let Some(l) = &p.liquidated {
        s.push_str(&format!(", {} liquidated", l.to_uppercase()));
    }
    if let Some(r) = &p.close_reason {
        s.push_str(&format!(": {r}"));
    }
    s
}

/// The calibration chart and the factors' rank correlations, or why there is none.
fn calibration_section(c: Result<&CalibrationView, &BackendError>) -> Markup {
    let rho = |r: Option<f64>| r.map_or_else(|| "—".to_owned(), |r| format!("{r:+.3}"));
    html! {
        section id="calibration" aria-labelledby="calibration-title" {
            h2 id="calibration-title" { "Does a higher score lead to a better trade?" }
            @match c {
                Err(e) => { p class="empty" { (e) } }
                Ok(c) => {
                    p class="sub" {
                        (c.candidates) " scored candidates sampled (one per market an hour, and every one entered); for "
                        (c.simulated) " of them the books could fill the equilibrage trade, simulated against the books "
                        "of the run, closed by the rule and settings of the run, or marked at the end of the data."
                    }
                    section class="charts" { (calibration_chart(&c.buckets)) }
                    div class="table-wrap" {
                        table id="factor-correlations" {
                            thead { tr { th scope="col" { "Rank correlation with the simulated P&L" } th scope="col" class="num" { "Spearman ρ" } } }
                            tbody {
                                tr class="total" { th scope="row" { "score" } td class="num" { (rho(c.score_correlation)) } }
                                @for (name, r) in &c.factors {
                                    tr data-factor=(name) { th scope="row" { (name) } td class="num" { (rho(*r)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn run_page(r: &RunView, calibration: Result<&CalibrationView, &BackendError>) -> Markup {
    let s = &r.summary;
    html! {
        h1 { "Run " (s.id) @if !s.label.is_empty() { " — " (s.label) } }
        p class="sub" { (s.source) }
        ul class="plugins" { @for p in &s.plugins { li class="mono" { (p) } } @for c in &s.changes { li class="mono" { (c) } } }
        (metrics_table(&[("This run", &s.metrics)]))
        section class="charts" { div class="chart-grid" {
            (lines_chart("equity-chart", "Equity (pUSD)", &[equity_series("equity", COLORS[0], r)], Some(s.metrics.initial_capital), ""))
            (lines_chart("drawdown-chart", "Drawdown from the high (%)", &[drawdown_series("drawdown", COLORS[0], r)], None, " %"))
            (daily_chart("daily-chart", "P&L per day (pUSD)", &[("P&L", COLORS[0], &r.daily)]))
            (attribution_chart("attribution-chart", &parts(&r.attribution)))
        } }
        section aria-labelledby="attribution-title" {
            h2 id="attribution-title" { "Where the P&L came from" }
            (attribution_totals(&r.attribution))
        }
        (calibration_section(calibration))
        section aria-labelledby="positions-title" {
            h2 id="positions-title" { "Positions" }
            (positions_table(s.id, &r.positions, "run-positions"))
        }
    }
}

fn parts(t: &super::model::AttributionTotals) -> Vec<(&'static str, Decimal)> {
    if t.positions == 0 {
        return Vec::new();
    }
    vec![
        ("spread", t.spread),
        ("fees", t.fees),
        ("liquidated", t.liquidated_leg),
        ("kept", t.kept_leg),
        ("P&L", t.pnl),
    ]
}

fn comparison_page(c: &ComparisonView) -> Markup {
    let (a, b) = (&c.a, &c.b);
    html! {
        h1 { "A against B" @if !c.label.is_empty() { " — " (c.label) } }
        p class="sub" { (a.summary.source) }
        div class="columns" {
            div { h2 { a href={ "/lab/runs/" (a.summary.id) } { "A: run " (a.summary.id) } }
                ul class="plugins" { @for p in &a.summary.plugins { li class="mono" { (p) } } @for x in &a.summary.changes { li class="mono" { (x) } } } }
            div { h2 { a href={ "/lab/runs/" (b.summary.id) } { "B: run " (b.summary.id) } }
                ul class="plugins" { @for p in &b.summary.plugins { li class="mono" { (p) } } @for x in &b.summary.changes { li class="mono" { (x) } } } }
        }
        (metrics_table(&[("A", &a.summary.metrics), ("B", &b.summary.metrics)]))
        section class="charts" { div class="chart-grid" {
            (lines_chart("equity-chart", "Equity, A and B (pUSD)",
                &[equity_series("A", COLORS[0], a), equity_series("B", COLORS[1], b)], Some(a.summary.metrics.initial_capital), ""))
            (lines_chart("drawdown-chart", "Drawdown from the high, A and B (%)",
                &[drawdown_series("A", COLORS[0], a), drawdown_series("B", COLORS[1], b)], None, " %"))
            (daily_chart("daily-chart", "P&L per day, A and B (pUSD)", &[("A", COLORS[0], &a.daily), ("B", COLORS[1], &b.daily)]))
        } }
        section id="diff" aria-labelledby="diff-title" {
            h2 id="diff-title" { "Where they decided differently (" (c.diff.len()) ")" }
            div class="table-wrap" {
                table id="diff-table" {
                    thead { tr {
                        th scope="col" { "Market" } th scope="col" { "A did" } th scope="col" { "B did" }
                        th scope="col" class="num" { "P&L A" } th scope="col" class="num" { "P&L B" }
                        th scope="col" class="num" { "A − B" }
                    } }
                    tbody {
                        @for d in &c.diff {
                            tr data-market-id=(d.market_id) {
                                td class="question" { (d.question) }
                                td { (d.a) @for id in &d.positions_a { " " a href={ "/lab/runs/" (a.summary.id) "/positions/" (id) } { "#" (id) } } }
                                td { (d.b) @for id in &d.positions_b { " " a href={ "/lab/runs/" (b.summary.id) "/positions/" (id) } { "#" (id) } } }
                                td class="num" { (pnl_span(d.pnl_a)) }
                                td class="num" { (pnl_span(d.pnl_b)) }
                                td class={ "num " (pnl_class(d.pnl_diff).unwrap_or("")) } { (money(d.pnl_diff)) }
                            }
                        }
                        @if c.diff.is_empty() { tr class="empty" { td colspan="6" { "A and B decided the same everywhere." } } }
                    }
                }
            }
        }
        div class="columns" {
            section { h2 { "A: where the P&L came from" } (attribution_totals(&a.attribution)) }
            section { h2 { "B: where the P&L came from" } (attribution_totals(&b.attribution)) }
        }
    }
}

fn sweep_page(s: &SweepView, sort: &str, filter: &str) -> Markup {
    let mut rows: Vec<&super::model::SweepRowView> = s
        .rows
        .iter()
        .filter(|r| filter.is_empty() || r.assignment.iter().any(|a| a.contains(filter)))
        .collect();
    let key = |m: &MetricsView, col: &str| match col {
        "pnl" => Some(m.pnl),
        "drawdown" => Some(-m.max_drawdown_percent),
        "return" => Some(m.return_percent),
        _ => None,
    };
    match sort {
        "holdout" => {
            rows.sort_by(|a, b| b.holdout.as_ref().map(|m| m.pnl).cmp(&a.holdout.as_ref().map(|m| m.pnl)))
        }
        "rank" => {}
        col => rows.sort_by_key(|r| std::cmp::Reverse(key(&r.train, col))),
    }
    let sum = &s.summary;
    let link = |col: &str, label: &str| {
        html! { a class="sort" href={ "?sort=" (col) "&filter=" (layout::query_value(filter)) } aria-current=[(sort == col).then_some("true")] { (label) } }
    };
    html! {
        h1 { "Sweep " (sum.id) @if !sum.label.is_empty() { " — " (sum.label) } }
        p class="sub" {
            (sum.source) ", " (sum.variants) " variants ranked by " (sum.objective)
            @if let Some(split) = s.split_ms { ", the last " (sum.holdout_percent) " % (from " (utc_time(split)) ") held out" }
        }
        form class="filters" method="get" {
            input type="hidden" name="sort" value=(sort);
            div class="field" {
                label for="filter" { "Only variants with" }
                input type="text" id="filter" name="filter" value=(filter) placeholder="max_positions=3";
            }
            div class="field actions" { button type="submit" { "Filter" } }
        }
        div class="table-wrap" {
            table id="sweep-table" {
                thead { tr {
                    th scope="col" { (link("rank", "Rank")) } th scope="col" { "Variant" }
                    th scope="col" class="num" { (link("pnl", "P&L in sample")) }
                    th scope="col" class="num" { (link("return", "Return")) }
                    th scope="col" class="num" { (link("drawdown", "Max drawdown")) }
                    th scope="col" class="num" { "Score" }
                    th scope="col" class="num" { (link("holdout", "P&L held out")) }
                    th scope="col" class="num" { "Score held out" }
                } }
                tbody {
                    @for (i, r) in rows.iter().enumerate() {
                        tr data-variant=(r.variant) {
                            td { (i + 1) }
                            td class="mono" { (r.assignment.join(" ")) }
                            td class="num" { @if let Some(id) = r.train_run { a href={ "/lab/runs/" (id) } { (money(r.train.pnl)) } } @else { (money(r.train.pnl)) } }
                            td class="num" { (r.train.return_percent.round_dp(2)) " %" }
                            td class="num" { (r.train.max_drawdown_percent.round_dp(2)) " %" }
                            td class="num" { (r.train_score.map(|v| v.round_dp(4).to_string()).unwrap_or_default()) }
                            td class="num" {
                                @match (&r.holdout, r.holdout_run) {
                                    (Some(m), Some(id)) => { a href={ "/lab/runs/" (id) } { (pnl_span(m.pnl)) } }
                                    (Some(m), None) => { (pnl_span(m.pnl)) }
                                    _ => { "—" }
                                }
                            }
                            td class="num" { (r.holdout_score.map(|v| v.round_dp(4).to_string()).unwrap_or_default()) }
                        }
                    }
                    @if rows.is_empty() { tr class="empty" { td colspan="8" { "No variant matches." } } }
                }
            }
        }
    }
}

fn attribution_detail(a: &AttributionView) -> Markup {
    let opt = |v: Option<Decimal>| v.map_or_else(|| html! { "—" }, pnl_span);
    html! {
        div class="table-wrap" {
            table id="attribution" class="attribution" {
                tbody {
                    tr { th scope="row" { "Spread paid at entry (against the mid: YES " (price(a.entry_mid[0])) ", NO " (price(a.entry_mid[1])) ")" } td class="num" { (pnl_span(a.spread)) } }
                    tr { th scope="row" { "Fees" } td class="num" { (pnl_span(a.fees)) } }
                    tr { th scope="row" { "Liquidated side" } td class="num" { (pnl_span(a.liquidated_leg)) } }
                    tr { th scope="row" { "Kept side" } td class="num" { (pnl_span(a.kept_leg)) } }
                    tr class="total" { th scope="row" { "P&L" } td class="num" { (pnl_span(a.pnl)) } }
                    tr { th scope="row" { "Had both sides been held to resolution"
                        @if let Some(w) = &a.winner { " (" (w.to_uppercase()) " won)" } }
                        td class="num" { (opt(a.hold_to_resolution)) } }
                    tr { th scope="row" { "Had the pair been sold at the liquidation" } td class="num" { (opt(a.sell_pair_at_liquidation)) } }
                }
            }
        }
    }
}

fn position_page(d: &PositionDetail) -> Markup {
    let p = &d.position;
    let back = d.run.map_or_else(|| "/history".to_owned(), |r| format!("/lab/runs/{r}"));
    html! {
        h1 { "Position " (p.id) }
        p { a href=(back) { @if let Some(r) = d.run { "Run " (r) } @else { "History" } } }
        p class="question" { (p.question) }
        p class="sub" { (story(p)) }
        @if let Some(scorer) = &p.scorer { p class="sub scorer" { "Entered on the scores of " span class="mono" { (scorer) } "." } }
        section class="charts" { (price_chart(&d.quotes, &d.markers)) }
        p class="sub legend" { "E entry · L liquidation · S stop loss · T take profit · C close · U unwind · R resolution" }
        div class="columns" {
            section aria-labelledby="legs-title" {
                h2 id="legs-title" { "Sides" }
                div class="table-wrap" {
                    table id="legs" {
                        thead { tr { th scope="col" { "" } th scope="col" class="num" { "Bought" } th scope="col" class="num" { "Cost" }
                            th scope="col" class="num" { "Sold" } th scope="col" class="num" { "Proceeds" } th scope="col" class="num" { "Fees" } } }
                        tbody {
                            @for l in &d.legs {
                                tr { th scope="row" { (l.outcome) } td class="num" { (l.bought) } td class="num" { (money(l.cost)) }
                                    td class="num" { (l.sold) } td class="num" { (money(l.proceeds)) } td class="num" { (money(l.fees)) } }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="attr-title" {
                h2 id="attr-title" { "Where its P&L came from" }
                @match &p.attribution {
                    Some(a) => { (attribution_detail(a)) }
                    None => { p class="empty" { "Attributed once it is closed." } }
                }
            }
        }
        section aria-labelledby="trades-title" {
            h2 id="trades-title" { "Trades" }
            div class="table-wrap" {
                table id="position-trades" {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Side" } th scope="col" { "Action" } th scope="col" { "Why" }
                        th scope="col" class="num" { "Price" } th scope="col" class="num" { "Shares" } th scope="col" class="num" { "pUSD" } th scope="col" class="num" { "Fee" }
                        th scope="col" { "Decided by" } } }
                    tbody {
                        @for t in &d.trades {
                            tr data-trade-id=(t.id) {
                                td { (utc_time(t.at_ms)) } td { (t.leg.to_uppercase()) } td { (t.action) } td { (t.purpose) ": " (t.reason) }
                                td class="num" { (price(Some(t.price))) } td class="num" { (t.shares) } td class="num" { (money(t.notional)) } td class="num" { (money(t.fee)) }
                                td class="decided-by mono" { (t.decided_by.as_deref().unwrap_or("—")) }
                            }
                        }
                        @if d.trades.is_empty() { tr class="empty" { td colspan="9" { "No trade." } } }
                    }
                }
            }
        }
    }
}
