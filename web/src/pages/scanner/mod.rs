//! The Scanner (`/scanner`): scan now, the last scan, the scored opportunities with their factors
//! and an enter form each, and the signals behind them (news, whales, trends).

use super::layout::{
    self, Nav, alert, csrf_field, field_errors, fields_of, last, money, price, query_pairs, shortened,
    status_of,
};
use crate::auth::Identity;
use crate::backend::{BackendResult, FieldError};
use crate::model::{OpportunityView, ScanView};
use crate::query::utc_time;
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use rust_decimal::Decimal;
use std::str::FromStr as _;

/// Most opportunities read for the table (a scan keeps one per market listed); the page shows
/// a page of them, searched, filtered and sorted.
const LIMIT: usize = 5_000;
/// How many news items, whales and trends are shown.
const SIGNALS: usize = 10;
/// Longest trend window, seconds (30 days): price history is not kept longer.
const MAX_TREND_WINDOW_SECS: u64 = 30 * 86_400;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/scanner", get(scanner::<B>))
        .route("/partials/opportunities", get(opportunities_partial::<B>))
        .route("/scan", post(scan::<B>))
        .route("/positions", post(enter::<B>))
}

/// A refused action: why, with which status, and for an entry the row and what was typed.
struct Failure {
    status: StatusCode,
    message: String,
    entering: Option<Entering>,
}

/// The entry that failed, so its row shows the typed capital and the field's error.
struct Entering {
    market_id: String,
    capital: String,
    errors: Vec<FieldError>,
}

async fn scanner<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Response {
    let checked = View::parse(raw.as_deref()).and_then(|view| Ok((view, trend_window(raw.as_deref())?)));
    match checked {
        Ok((view, window)) => render_with(&*state.backend, &identity, &view, window, None),
        Err(message) => render(
            &*state.backend,
            &identity,
            None,
            Some(Failure { status: StatusCode::BAD_REQUEST, message, entering: None }),
        ),
    }
}

/// The `window` of the query (seconds trends are measured over): empty means the first
/// configured window.
fn trend_window(raw: Option<&str>) -> Result<Option<u64>, String> {
    let pairs = query_pairs(raw);
    let Some(text) = last(&pairs, "window").map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(w) if (60..=MAX_TREND_WINDOW_SECS).contains(&w) => Ok(Some(w)),
        _ => Err(format!(
            "`window` must be a number of seconds from 60 to {MAX_TREND_WINDOW_SECS}, got {text:?}"
        )),
    }
}

async fn opportunities_partial<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Response {
    match View::parse(raw.as_deref()) {
        Ok(view) => {
            let list = state.backend.opportunities(view.min.unwrap_or(0.0), LIMIT);
            let status = list.as_ref().err().map_or(StatusCode::OK, status_of);
            (status, opportunities_region(list, &view, &identity, None)).into_response()
        }
        Err(message) => (StatusCode::BAD_REQUEST, alert(&message)).into_response(),
    }
}

async fn scan<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
) -> Response {
    match state.backend.scan().await {
        Ok(_) => Redirect::to("/scanner").into_response(),
        Err(e) => {
            let failure = Failure { status: status_of(&e), message: e.to_string(), entering: None };
            render(&*state.backend, &identity, None, Some(failure))
        }
    }
}

async fn enter<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let market_id = last(&form, "market_id").unwrap_or_default().trim().to_owned();
    let typed = last(&form, "capital").unwrap_or_default().trim().to_owned();
    let refuse = |status, message: String, errors| {
        let entering = Entering { market_id: market_id.clone(), capital: typed.clone(), errors };
        render(&*state.backend, &identity, None, Some(Failure { status, message, entering: Some(entering) }))
    };
    if market_id.is_empty() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "Choose a market to enter.".into(), Vec::new());
    }
    let capital = if typed.is_empty() {
        None
    } else {
        // Parsed as a decimal, never through a float: "0.1" pUSD is exactly 0.1.
        match Decimal::from_str(&typed) {
            Ok(c) if c > Decimal::ZERO => Some(c),
            parsed => {
                let message = if parsed.is_ok() {
                    "Capital must be more than 0 pUSD."
                } else {
                    "Capital must be a number of pUSD, like 250 or 99.50."
                };
                let error = FieldError { field: "capital".into(), message: message.into() };
                return refuse(StatusCode::UNPROCESSABLE_ENTITY, message.into(), vec![error]);
            }
        }
    };
    match state.backend.enter(market_id.clone(), capital).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => {
            // The API names the field `capital_amount`; the form names it `capital`.
            let errors = fields_of(&e)
                .into_iter()
                .map(|f| FieldError {
                    field: if f.field == "capital_amount" { "capital".into() } else { f.field },
                    ..f
                })
                .collect();
            refuse(status_of(&e), e.to_string(), errors)
        }
    }
}

fn render<B: Backend>(
    backend: &B,
    identity: &Identity,
    view: Option<&View>,
    failed: Option<Failure>,
) -> Response {
    render_with(backend, identity, view.unwrap_or(&View::default()), None, failed)
}

/// The page, with trends over `window` seconds (default: the first configured window).
fn render_with<B: Backend>(
    backend: &B,
    identity: &Identity,
    view: &View,
    window: Option<u64>,
    failed: Option<Failure>,
) -> Response {
    let windows = backend.trend_windows();
    let window = window.or_else(|| windows.first().copied()).unwrap_or(3_600);
    let list = backend.opportunities(view.min.unwrap_or(0.0), LIMIT);
    let status = failed
        .as_ref()
        .map(|f| f.status)
        .or_else(|| list.as_ref().err().map(status_of))
        .unwrap_or(StatusCode::OK);
    let src = view.href("/partials/opportunities");
    let categories = list.as_ref().map(|l| categories_of(l)).unwrap_or_default();
    let entering = failed.as_ref().and_then(|f| f.entering.as_ref());
    let venue = backend.venue();
    let main = html! {
        h1 { "Scanner" }
        @if let Some(f) = &failed { (alert(&f.message)) }
        div class="toolbar" {
            form id="scan-now" method="post" action="/scan" {
                (csrf_field(identity))
                button type="submit" { "Scan now" }
            }
            (filters(view, &categories))
        }
        section id="last-scan" class="panel" aria-label="Last scan" { (last_scan(&backend.scans(1))) }
        section class="opportunities" aria-labelledby="opportunities-title" {
            h2 id="opportunities-title" { "Opportunities" }
            div class="live" data-live-src=(src) { (opportunities_region(list, view, identity, entering)) }
        }
        div class="columns" {
            section id="news" class="panel" {
                h2 { "News" }
                (news(&backend.news(SIGNALS)))
                (news_sources(&backend.news_sources(), venue.mode == "sim"))
            }
            section id="whales" class="panel" {
                h2 { "Whales" }
                (whales(&backend.whales(SIGNALS)))
                (whale_tracker(backend.whale_tracker().as_ref()))
            }
            section id="trends" class="panel" {
                h2 { "Trends (last " (window_label(window)) ")" }
                (trend_windows(&windows, window, &view.query()))
                (trends(&backend.trends(window, SIGNALS)))
            }
        }
    };
    (status, layout::page("Scanner", Nav::Scanner, identity, &venue, &main)).into_response()
}

fn last_scan(scans: &BackendResult<Vec<ScanView>>) -> Markup {
    html! {
        @match scans.as_ref().map(|s| s.first()) {
            Ok(Some(s)) => {
                p {
                    "Scan " (s.id) " at " (utc_time(s.started_at_ms)) " UTC took " (s.duration_ms) " ms: "
                    (s.listed) " markets listed, " (s.candidates) " candidates, " (s.scored) " scored."
                }
                @if s.protocol_v2 > 0 {
                    p class="muted" {
                        (s.protocol_v2) " Protocol-V2 markets left out: this version does not trade them."
                    }
                }
                @if s.failed_pages > 0 {
                    p class="warn" {
                        (s.failed_pages) " listing pages failed: their markets are missing from this scan."
                    }
                }
                @if let Some(e) = &s.error { p class="warn" { "It failed: " (e) } }
            }
            Ok(None) => { p { "No scan yet." } }
            Err(e) => { (alert(&format!("Scans are not available: {e}"))) }
        }
    }
}

/// The search, category, minimum score and page size of the table, as a GET form: the view
/// it asks for is in the URL.
fn filters(view: &View, categories: &[String]) -> Markup {
    html! {
        form id="opportunity-filters" class="filters" method="get" action="/scanner" role="search" {
            label for="q" { "Search" }
            input type="search" id="q" name="q" value=(view.search) placeholder="question or market id"
                maxlength="200";
            label for="category" { "Category" }
            select id="category" name="category" {
                option value="" { "All" }
                @for c in categories {
                    option value=(c) selected[view.category.as_deref() == Some(c.as_str())] { (c) }
                }
                // A bookmarked category no longer in the scan stays selectable.
                @if let Some(c) = view.category.as_ref().filter(|c| !categories.contains(c)) {
                    option value=(c) selected { (c) }
                }
            }
            label for="min_score" { "Minimum score" }
            input type="number" id="min_score" name="min_score" min="0" max="10" step="0.5"
                value=[view.min.map(|m| m.to_string())];
            label for="per" { "Rows" }
            select id="per" name="per" {
                @for n in view::PAGE_SIZES {
                    option value=(n) selected[view.per == n] { (n) }
                }
            }
            @if view.sort != Sort::Score || !view.desc {
                input type="hidden" name="sort" value=(view.sort.as_str());
                input type="hidden" name="dir" value=(if view.desc { "desc" } else { "asc" });
            }
            button type="submit" { "Filter" }
        }
    }
}

/// A sortable column's header: a link that sorts by it (or the other way round), with
/// `aria-sort` on the column sorted by.
fn sort_header(view: &View, sort: Sort, label: &str, numeric: bool) -> Markup {
    let current = view.sort == sort;
    let aria = match (current, view.desc) {
        (false, _) => None,
        (true, true) => Some("descending"),
        (true, false) => Some("ascending"),
    };
    let arrow = match aria {
        Some("descending") => " ↓",
        Some(_) => " ↑",
        None => "",
    };
    html! {
        th scope="col" class=[numeric.then_some("num")] aria-sort=[aria] {
            a class="sort" href=(view.sorted_by(sort).href("/scanner")) data-sort=(sort.as_str()) {
                (label) (arrow)
            }
        }
    }
}

/// The opportunities table with its pager (the live fragment); `entering` is an entry that
/// was refused.
fn opportunities_region(
    list: BackendResult<Vec<OpportunityView>>,
    view: &View,
    identity: &Identity,
    entering: Option<&Entering>,
) -> Markup {
    let list = match list {
        Ok(list) => list,
        Err(e) => return alert(&format!("Opportunities are not available: {e}")),
    };
    let shown = view.apply(list);
    let first = (shown.page - 1) * view.per + 1;
    let last_row = first + shown.rows.len().saturating_sub(1);
    html! {
        p id="opportunities-count" class="muted" {
            @if shown.matched == 0 {
                "No opportunity matches (" (shown.total) " in the last scan)."
            } @else {
                "Showing " (first) "–" (last_row) " of " (shown.matched)
                @if shown.matched != shown.total { " matching (" (shown.total) " in the last scan)" }
                "."
            }
        }
        div class="table-wrap" {
            table id="opportunities" {
                thead { tr {
                    (sort_header(view, Sort::Score, "Score", true))
                    (sort_header(view, Sort::Market, "Market", false))
                    th scope="col" { "Why" }
                    (sort_header(view, Sort::YesAsk, "YES ask", true))
                    (sort_header(view, Sort::NoAsk, "NO ask", true))
                    (sort_header(view, Sort::Liquidity, "Liquidity", true))
                    (sort_header(view, Sort::Volume, "24h volume", true))
                    (sort_header(view, Sort::Ends, "Ends", false))
                    th scope="col" { "Enter" }
                } }
                tbody {
                    @for o in &shown.rows {
                        @let this = entering.filter(|e| e.market_id == o.market_id);
                        tr class="opportunity" data-market-id=(o.market_id) {
                            td class="score num" { (format!("{:.1}", o.score)) }
                            td class="question" {
                                (o.question)
                                @if o.held { " " span class="tag" { "held" } }
                                br;
                                small class="muted" {
                                    (o.category) " · " (shortened(&o.market_id, 6)) " · " (o.scorer)
                                }
                            }
                            td class="factors" {
                                @for f in &o.factors {
                                    span class="factor" data-name=(f.name) {
                                        (f.name) " " (format!("{:.2}", f.value))
                                        @if let Some(w) = f.weight { " × " (w) }
                                    }
                                    " "
                                }
                            }
                            td class="num" { (price(o.yes_ask)) }
                            td class="num" { (price(o.no_ask)) }
                            td class="num" { (money(o.liquidity)) }
                            td class="num" { (money(o.volume_24h)) }
                            td { @match o.end_ms { Some(ms) => (utc_time(ms)), None => "—" } }
                            td {
                                form class="enter-position" method="post" action="/positions" {
                                    (csrf_field(identity))
                                    input type="hidden" name="market_id" value=(o.market_id);
                                    label class="sr-only" for={ "capital-" (o.market_id) } { "Capital (pUSD)" }
                                    input type="number" id={ "capital-" (o.market_id) } name="capital" min="0"
                                        step="0.01" placeholder="auto" inputmode="decimal"
                                        value=[this.map(|e| e.capital.as_str())];
                                    @if let Some(e) = this { (field_errors(&e.errors, "capital")) }
                                    button type="submit" { "Enter position" }
                                }
                            }
                        }
                    }
                    @if shown.rows.is_empty() {
                        tr class="empty" { td colspan="9" { "No opportunities match." } }
                    }
                }
            }
        }
        @if shown.pages > 1 {
            nav class="pager" aria-label="Opportunity pages" {
                @if shown.page > 1 {
                    a rel="prev" href=(view.at_page(shown.page - 1).href("/scanner")) { "← Previous" }
                }
                span { "Page " (shown.page) " of " (shown.pages) }
                @if shown.page < shown.pages {
                    a rel="next" href=(view.at_page(shown.page + 1).href("/scanner")) { "Next →" }
                }
            }
        }
    }
}

mod signals;
#[cfg(test)]
mod tests;
mod trends;
mod view;

use signals::{news, news_sources, whale_tracker, whales};
use trends::{trend_windows, trends, window_label};
pub(crate) use view::View;
use view::{Sort, categories_of};
