//! The Scanner (`/scanner`): scan now, the last scan, the scored opportunities with their factors
//! and an enter form each, and the signals behind them (news, whales, trends).

use super::layout::{
    self, Nav, alert, csrf_field, field_errors, fields_of, last, money, pnl_class, price, query_pairs,
    status_of,
};
use crate::auth::Identity;
use crate::backend::{BackendResult, FieldError};
use crate::model::{
    NewsSourceView, NewsView, OpportunityView, ScanView, TrendView, WhaleTrackerView, WhaleView,
};
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
use std::time::Duration;

/// Most opportunities listed.
const LIMIT: usize = 100;
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

/// The `min_score` of the query: empty means every opportunity.
fn min_score(raw: Option<&str>) -> Result<Option<f32>, String> {
    let pairs = query_pairs(raw);
    let Some(text) = last(&pairs, "min_score").map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<f32>() {
        Ok(v) if (0.0..=10.0).contains(&v) => Ok(Some(v)),
        _ => Err(format!("`min_score` must be a number from 0 to 10, got {text:?}")),
    }
}

async fn scanner<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Response {
    let checked = min_score(raw.as_deref()).and_then(|min| Ok((min, trend_window(raw.as_deref())?)));
    match checked {
        Ok((min, window)) => render_with(&*state.backend, &identity, min, window, None),
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

/// A window in words: `45 min`, `1 h`, `24 h`, `7 d`.
fn window_label(secs: u64) -> String {
    if secs.is_multiple_of(86_400) && secs > 86_400 {
        format!("{} d", secs / 86_400)
    } else if secs.is_multiple_of(3_600) {
        format!("{} h", secs / 3_600)
    } else if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

async fn opportunities_partial<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Response {
    match min_score(raw.as_deref()) {
        Ok(min) => {
            let list = state.backend.opportunities(min.unwrap_or(0.0), LIMIT);
            let status = list.as_ref().err().map_or(StatusCode::OK, status_of);
            (status, opportunities_region(&list, &identity, None)).into_response()
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
    min: Option<f32>,
    failed: Option<Failure>,
) -> Response {
    render_with(backend, identity, min, None, failed)
}

/// The page, with trends over `window` seconds (default: the first configured window).
fn render_with<B: Backend>(
    backend: &B,
    identity: &Identity,
    min: Option<f32>,
    window: Option<u64>,
    failed: Option<Failure>,
) -> Response {
    let windows = backend.trend_windows();
    let window = window.or_else(|| windows.first().copied()).unwrap_or(3_600);
    let list = backend.opportunities(min.unwrap_or(0.0), LIMIT);
    let status = failed
        .as_ref()
        .map(|f| f.status)
        .or_else(|| list.as_ref().err().map(status_of))
        .unwrap_or(StatusCode::OK);
    let src = min.map_or_else(
        || "/partials/opportunities".to_owned(),
        |m| format!("/partials/opportunities?min_score={m}"),
    );
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
            form id="min-score" method="get" action="/scanner" {
                label for="min_score" { "Minimum score" }
                input type="number" id="min_score" name="min_score" min="0" max="10" step="0.5"
                    value=[min.map(|m| m.to_string())];
                button type="submit" { "Filter" }
            }
        }
        section id="last-scan" class="panel" aria-label="Last scan" { (last_scan(&backend.scans(1))) }
        section class="opportunities" aria-labelledby="opportunities-title" {
            h2 id="opportunities-title" { "Opportunities" }
            div class="live" data-live-src=(src) { (opportunities_region(&list, identity, entering)) }
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
                (trend_windows(&windows, window, min))
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
                @if let Some(e) = &s.error { p class="warn" { "It failed: " (e) } }
            }
            Ok(None) => { p { "No scan yet." } }
            Err(e) => { (alert(&format!("Scans are not available: {e}"))) }
        }
    }
}

/// The opportunities table (the live fragment); `entering` is an entry that was refused.
fn opportunities_region(
    list: &BackendResult<Vec<OpportunityView>>,
    identity: &Identity,
    entering: Option<&Entering>,
) -> Markup {
    let list = match list {
        Ok(list) => list,
        Err(e) => return alert(&format!("Opportunities are not available: {e}")),
    };
    html! {
        div class="table-wrap" {
            table id="opportunities" {
                thead { tr {
                    th scope="col" class="num" { "Score" } th scope="col" { "Market" } th scope="col" { "Why" }
                    th scope="col" class="num" { "YES ask" } th scope="col" class="num" { "NO ask" }
                    th scope="col" class="num" { "Liquidity" } th scope="col" class="num" { "24h volume" }
                    th scope="col" { "Ends" } th scope="col" { "Enter" }
                } }
                tbody {
                    @for o in list {
                        @let this = entering.filter(|e| e.market_id == o.market_id);
                        tr class="opportunity" data-market-id=(o.market_id) {
                            td class="score num" { (format!("{:.1}", o.score)) }
                            td class="question" {
                                (o.question)
                                @if o.held { " " span class="tag" { "held" } }
                                br;
                                small class="muted" { (o.category) " · " (o.market_id) " · " (o.scorer) }
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
                    @if list.is_empty() {
                        tr class="empty" { td colspan="9" { "No opportunities at this score." } }
                    }
                }
            }
        }
    }
}

/// Whether a link may point there: only web pages, never `javascript:` or `data:`.
fn is_web_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn news(items: &BackendResult<Vec<NewsView>>) -> Markup {
    html! {
        @match items {
            Ok(items) if items.is_empty() => { p { "No news yet." } }
            Ok(items) => {
                ul class="items" {
                    @for n in items {
                        li data-news-id=(n.id) {
                            @if is_web_url(&n.url) {
                                a href=(n.url.trim_start()) rel="noopener noreferrer" target="_blank" { (n.title) }
                            } @else {
                                strong { (n.title) }
                            }
                            br;
                            small class="muted" {
                                (n.source) " · " (utc_time(n.published_ms))
                                @if !n.matches.is_empty() {
                                    " · markets: "
                                    @for (i, m) in n.matches.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        span class="news-match" data-market-id=(m.market)
                                            title="relevance 0..1, sentiment -1..1 (bad to good news for YES)" {
                                            (m.market) " (relevance " (format!("{:.2}", m.relevance))
                                            ", sentiment " (format!("{:+.2}", m.sentiment)) ")"
                                        }
                                    }
                                } @else if !n.markets.is_empty() { " · markets: " (n.markets.join(", ")) }
                            }
                            @if !n.summary.is_empty() { p { (n.summary) } }
                        }
                    }
                }
            }
            Err(e) => { (alert(&format!("News is not available: {e}"))) }
        }
    }
}

/// The configured news sources and how their fetches go: when each last succeeded with how many
/// items, and for a failing one its failures, error and next attempt (times are wall-clock UTC).
fn news_sources(sources: &[NewsSourceView], simulator: bool) -> Markup {
    html! {
        @if sources.is_empty() {
            p id="news-sources" class="muted" {
                @if simulator {
                    "No news feeds configured; the simulator's headlines are used."
                } @else {
                    "No news feeds configured, so no news is fetched: list feeds under [signals.news] \
                     (docs/operations.md)."
                }
            }
        } @else {
            h3 class="sub" { "Sources" }
            ul id="news-sources" class="items" {
                @for s in sources {
                    li class="news-source" data-kind=(s.kind) data-failures=(s.failures) {
                        span class="mono" { (s.url) }
                        " " span class="tag" { (s.kind) }
                        @if s.failures > 0 {
                            " " span class="tag warn" { "failing" }
                        } @else if s.last_success_ms.is_some() {
                            " " span class="tag ok" { "ok" }
                        }
                        br;
                        small class="muted" {
                            @match (s.last_success_ms, s.last_attempt_ms) {
                                (Some(ms), _) => {
                                    "Last success " (utc_time(ms)) " UTC: "
                                    @if s.not_modified {
                                        "not modified"
                                    } @else {
                                        (s.last_items) " items, " (s.last_new) " new"
                                    }
                                }
                                (None, Some(_)) => "No success yet",
                                (None, None) => "Not fetched yet",
                            }
                        }
                        @if s.failures > 0 {
                            p class="warn" {
                                (s.failures) @if s.failures == 1 { " failure" } @else { " failures" } " in a row"
                                @if let Some(at) = s.retry_at_ms { "; next attempt " (utc_time(at)) " UTC" }
                                @if let Some(e) = &s.last_error { br; "Last error: " (e) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn whales(items: &BackendResult<Vec<WhaleView>>) -> Markup {
    html! {
        @match items {
            Ok(items) if items.is_empty() => { p { "No whales tracked yet." } }
            Ok(items) => {
                div class="table-wrap" {
                    table class="whales" {
                        thead { tr {
                            th scope="col" { "Address" } th scope="col" class="num" { "Volume" }
                            th scope="col" class="num" { "Trades" } th scope="col" class="num" { "Markets" }
                            th scope="col" class="num" { "Win rate" }
                            th scope="col" class="num" title="The whale analyzer's weight of its moves, 0..1" { "Weight" }
                            th scope="col" class="num" title="Net pUSD into YES in the analysed day (negative: into NO)" { "Net YES flow" }
                            th scope="col" { "Last trade" }
                        } }
                        tbody {
                            @for w in items {
                                tr data-address=(w.address) {
                                    td class="mono" {
                                        (w.address)
                                        @if w.market_maker { " " span class="tag" { "market maker" } }
                                    }
                                    td class="num" { (money(w.total_volume)) }
                                    td class="num" { (w.trade_count) }
                                    td class="num" { (w.markets) }
                                    td class="num" {
                                        @match w.win_rate_percent {
                                            Some(r) => { (format!("{r:.1}")) "%" }
                                            None => "—"
                                        }
                                    }
                                    td class="num weight" {
                                        @match w.weight { Some(x) => { (format!("{x:.2}")) } None => "—" }
                                    }
                                    td class="num flow" {
                                        @match w.net_yes_flow { Some(f) => { (money(f)) } None => "—" }
                                    }
                                    td { (utc_time(w.last_trade_ms)) }
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => { (alert(&format!("Whales are not available: {e}"))) }
        }
    }
}

/// `n` and the word for that many.
fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A duration in milliseconds, as read: `310 ms`, `2.5 s`.
fn took(ms: u64) -> String {
    if ms < 1_000 { format!("{ms} ms") } else { format!("{:.1} s", Duration::from_millis(ms).as_secs_f64()) }
}

/// The Data API whale tracker: what it reads, how its last poll went (counts, paging), when it
/// last succeeded and polls next, and for a failing one its failed polls in a row and last
/// error (times are UTC). `None`: it does not run, the simulator bringing its own trades.
fn whale_tracker(tracker: Option<&WhaleTrackerView>) -> Markup {
    let Some(t) = tracker else {
        return html! {
            p id="whale-tracker" class="muted" {
                "The simulator brings its own whale trades; the Data API tracker runs in paper and live mode."
            }
        };
    };
    let as_usize = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    html! {
        h3 class="sub" { "Tracker" }
        div id="whale-tracker" data-failures=(t.failures) {
            p {
                span class="mono" { (t.data_url) }
                @if t.failures > 0 {
                    " " span class="tag warn" { "failing" }
                } @else if t.failed_requests > 0 {
                    " " span class="tag warn" { "partial" }
                } @else if t.last_success_ms.is_some() {
                    " " span class="tag ok" { "ok" }
                }
                br;
                small class="muted" {
                    @if let Some(ms) = t.last_poll_ms {
                        "Last poll " (utc_time(ms)) " UTC"
                        @if let Some(d) = t.last_poll_duration_ms { " (" (took(d)) ")" }
                        ": " (count(as_usize(t.markets), "market", "markets")) ", "
                        (count(as_usize(t.trades_received), "trade", "trades")) " received, "
                        (t.trades_new) " new, " (count(as_usize(t.holders), "holder", "holders")) ", "
                        (count(as_usize(t.pages), "page", "pages"))
                        @if t.capped > 0 { " (paging capped)" }
                        @if t.skipped > 0 { ", " (t.skipped) " malformed skipped" }
                        "."
                    } @else {
                        "Not polled yet."
                    }
                    @if t.idle { " No market to poll now (no scan yet, nothing held)." }
                    br;
                    @match t.last_success_ms {
                        Some(ms) => { "Last success " (utc_time(ms)) " UTC" }
                        None => { "No success yet" }
                    }
                    "; polls every " (window_label(t.interval_secs))
                    @if let Some(ms) = t.next_poll_ms { ", next " (utc_time(ms)) " UTC" }
                    "."
                }
            }
            @if t.failures > 0 || t.failed_requests > 0 {
                p class="warn" {
                    @if t.failures > 0 { (count(t.failures, "failed poll", "failed polls")) " in a row" }
                    @if t.failures > 0 && t.failed_requests > 0 { "; " }
                    @if t.failed_requests > 0 {
                        (count(as_usize(t.failed_requests), "request", "requests")) " failed in the last poll"
                    }
                    @if let Some(e) = &t.last_error { br; "Last error: " (e) }
                }
            }
        }
    }
}

/// The window chooser: a link per configured window (and the one shown, if another).
fn trend_windows(windows: &[u64], shown: u64, min: Option<f32>) -> Markup {
    let mut all = windows.to_vec();
    if !all.contains(&shown) {
        all.push(shown);
    }
    let min = min.map(|m| format!("min_score={m}&")).unwrap_or_default();
    html! {
        nav class="trend-windows" aria-label="Trend window" {
            @for w in all {
                @if w == shown {
                    strong aria-current="true" { (window_label(w)) }
                } @else {
                    a href={ "/scanner?" (min) "window=" (w) "#trends" } { (window_label(w)) }
                }
                " "
            }
        }
    }
}

fn trends(items: &BackendResult<Vec<TrendView>>) -> Markup {
    html! {
        @match items {
            Ok(items) if items.is_empty() => { p { "No price history yet." } }
            Ok(items) => {
                div class="table-wrap" {
                    table class="trends" {
                        thead { tr {
                            th scope="col" { "Market" } th scope="col" class="num" { "YES mid" }
                            th scope="col" class="num" { "Momentum" } th scope="col" class="num" { "Volatility" }
                            th scope="col" class="num" { "Volume 24 h" } th scope="col" class="num" { "Volume change" }
                            th scope="col" class="num" { "Points" }
                        } }
                        tbody {
                            @for t in items {
                                tr data-market-id=(t.market_id) {
                                    td class="question" { (t.question) }
                                    td class="num" { (price(t.yes_mid)) }
                                    td class={ "num " (t.change.and_then(pnl_class).unwrap_or("")) } {
                                        (price(t.change))
                                    }
                                    td class="num" {
                                        @match t.volatility { Some(v) => (format!("{v:.4}")), None => "—" }
                                    }
                                    td class="num" { (t.volume_24h.map_or_else(|| "—".to_owned(), money)) }
                                    td class={ "num " (t.volume_change.and_then(pnl_class).unwrap_or("")) } {
                                        (t.volume_change.map_or_else(|| "—".to_owned(), money))
                                    }
                                    td class="num" { (t.points) }
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => { (alert(&format!("Trends are not available: {e}"))) }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{Call, Fake, dec};
    use crate::pages::test_util::{assert_escaped, assert_safe, get, post_form};
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn scanner_lists_opportunities_with_factors_and_signals() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/scanner").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped(&body);
        for needle in [
            "<form id=\"scan-now\" method=\"post\" action=\"/scan\"",
            "Scan now",
            "id=\"last-scan\"",
            "<table id=\"opportunities\"",
            "<tr class=\"opportunity\" data-market-id=\"0xa\"",
            "<td class=\"score num\">8.5</td>",
            "<span class=\"factor\" data-name=\"spread\">spread 0.80 × 2</span>",
            "<span class=\"factor\" data-name=\"depth\">depth 0.50</span>",
            "class=\"enter-position\" method=\"post\" action=\"/positions\"",
            "<input type=\"hidden\" name=\"market_id\" value=\"0xa\">",
            "name=\"capital\"",
            "Enter position",
            "id=\"news\"",
            "id=\"whales\"",
            "id=\"trends\"",
            "data-live-src=\"/partials/opportunities\"",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        assert!(!body.contains("href=\"javascript:"), "a javascript: news url is not a link");
        assert!(body.contains("<strong>&lt;script&gt;"), "its title is shown as text");
        assert!(
            body.contains("data-market-id=\"0xa\"") && body.contains("(relevance 0.75, sentiment -0.50)"),
            "why a news item matched a market is shown"
        );
        let whales = whales_section(&body);
        assert!(whales.contains("<td class=\"num weight\">0.60</td>"), "the analyzer's weight: {whales}");
        assert!(whales.contains("<td class=\"num flow\">-42000.5</td>"), "its net YES flow: {whales}");
    }

    #[tokio::test]
    async fn news_sources_show_success_and_failure_with_the_error_escaped() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/scanner").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped(&body);
        let news = &body[body.find("<section id=\"news\"").unwrap()..];
        let news = &news[..news.find("</section>").unwrap()];
        for needle in [
            "<ul id=\"news-sources\" class=\"items\">",
            "<li class=\"news-source\" data-kind=\"feed\" data-failures=\"0\">",
            "<span class=\"mono\">https://news.test/rss.xml</span>",
            "<span class=\"tag ok\">ok</span>",
            "Last success 2023-11-14 22:13:20 UTC: 12 items, 3 new",
            "<li class=\"news-source\" data-kind=\"json-api\" data-failures=\"3\">",
            "<span class=\"mono\">https://api.test/v2/top?apiKey=[redacted]</span>",
            "<span class=\"tag warn\">failing</span>",
            "No success yet",
            "3 failures in a row; next attempt 2023-11-14 22:21:20 UTC",
            "Last error: malformed news API answer: &lt;script&gt;alert(1)&lt;/script&gt;",
        ] {
            assert!(news.contains(needle), "missing {needle}: {news}");
        }
        assert!(!news.contains("No news feeds configured"));

        // None configured: the simulator's headlines are what there is; elsewhere, nothing.
        let none = Arc::new(Fake { news_sources: Vec::new(), ..Fake::default() });
        let (status, _, body) = get(none, "/scanner").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains(
                "<p id=\"news-sources\" class=\"muted\">No news feeds configured; the simulator's headlines are used.</p>"
            ),
            "{body}"
        );
        assert!(!body.contains("class=\"news-source\""));
        let remote = super::news_sources(&[], false).into_string();
        assert!(remote.contains("no news is fetched") && !remote.contains("simulator"), "{remote}");
        let never = crate::model::NewsSourceView {
            last_attempt_ms: None,
            last_success_ms: None,
            ..crate::fake::news_sources().remove(0)
        };
        let markup = super::news_sources(&[never], true).into_string();
        assert!(markup.contains("Not fetched yet") && !markup.contains("tag ok"), "{markup}");
    }

    /// The Whales section of a Scanner page.
    fn whales_section(body: &str) -> &str {
        let whales = &body[body.find("<section id=\"whales\"").unwrap()..];
        &whales[..whales.find("</section>").unwrap()]
    }

    #[tokio::test]
    async fn the_whale_tracker_shows_its_last_poll_and_a_failure_escaped() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/scanner").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped(&body);
        let whales = whales_section(&body);
        for needle in [
            "<h3 class=\"sub\">Tracker</h3>",
            "<div id=\"whale-tracker\" data-failures=\"2\">",
            "<span class=\"mono\">https://data-api.test</span>",
            "<span class=\"tag warn\">failing</span>",
            "Last poll 2023-11-14 22:33:20 UTC (310 ms): 52 markets, 0 trades received, 0 new, 0 holders, 0 pages.",
            "Last success 2023-11-14 22:13:20 UTC; polls every 10 min, next 2023-11-14 22:43:20 UTC.",
            "<p class=\"warn\">2 failed polls in a row; 4 requests failed in the last poll",
            "Last error: Data API /holders: HTTP 403: &lt;script&gt;alert(1)&lt;/script&gt;",
        ] {
            assert!(whales.contains(needle), "missing {needle}: {whales}");
        }
        assert!(!whales.contains("tag ok") && !whales.contains("simulator"), "{whales}");

        // Healthy: its counts, paging capped, no warning.
        let healthy =
            Arc::new(Fake { whale_tracker: Some(crate::fake::healthy_tracker()), ..Fake::default() });
        let (_, _, body) = get(healthy, "/scanner").await;
        let whales = whales_section(&body);
        for needle in [
            "<div id=\"whale-tracker\" data-failures=\"0\">",
            "<span class=\"tag ok\">ok</span>",
            "Last poll 2023-11-14 22:13:20 UTC (2.5 s): 52 markets, 140 trades received, 37 new, 18 holders, \
             12 pages (paging capped), 1 malformed skipped.",
            "Last success 2023-11-14 22:13:20 UTC; polls every 10 min, next 2023-11-14 22:23:20 UTC.",
        ] {
            assert!(whales.contains(needle), "missing {needle}: {whales}");
        }
        assert!(!whales.contains("tag warn") && !whales.contains("class=\"warn\""), "{whales}");

        // Some requests failed, the poll still got answers: tagged, not failing.
        let partial = crate::model::WhaleTrackerView {
            failed_requests: 1,
            last_error: Some("Data API /holders: HTTP 500: boom".into()),
            ..crate::fake::healthy_tracker()
        };
        let markup = super::whale_tracker(Some(&partial)).into_string();
        assert!(markup.contains("<span class=\"tag warn\">partial</span>"), "{markup}");
        assert!(
            markup.contains(
                "<p class=\"warn\">1 request failed in the last poll<br>Last error: Data API /holders"
            ),
            "{markup}"
        );
        // Not polled yet, nothing to poll.
        let waiting = crate::model::WhaleTrackerView {
            last_poll_ms: None,
            last_poll_duration_ms: None,
            last_success_ms: None,
            idle: true,
            ..crate::fake::healthy_tracker()
        };
        let markup = super::whale_tracker(Some(&waiting)).into_string();
        assert!(
            markup.contains(
                "Not polled yet. No market to poll now (no scan yet, nothing held).<br>No success yet;"
            ),
            "{markup}"
        );
        assert!(!markup.contains("tag"), "{markup}");

        // No tracker: the simulator's own trades.
        let sim = Arc::new(Fake { whale_tracker: None, ..Fake::default() });
        let (status, _, body) = get(sim, "/scanner").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            whales_section(&body).contains(
                "<p id=\"whale-tracker\" class=\"muted\">The simulator brings its own whale trades; \
                 the Data API tracker runs in paper and live mode.</p>"
            ),
            "{body}"
        );
        assert!(!body.contains("<h3 class=\"sub\">Tracker</h3>"));
    }

    #[tokio::test]
    async fn trends_show_momentum_volatility_and_volume_over_a_chosen_window() {
        let fake = Arc::new(Fake::default());
        let (status, _, body) = get(Arc::clone(&fake), "/scanner").await;
        assert_eq!(status, StatusCode::OK);
        for needle in [
            "Trends (last 1 h)",
            "<strong aria-current=\"true\">1 h</strong>",
            "<a href=\"/scanner?window=86400#trends\">24 h</a>",
            "<th scope=\"col\" class=\"num\">Momentum</th>",
            "<th scope=\"col\" class=\"num\">Volume change</th>",
            "<td class=\"num pos\">0.05</td>",
            "<td class=\"num\">0.0100</td>",
            "<td class=\"num\">12500.5</td>",
            "<td class=\"num neg\">-250</td>",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        let (status, _, body) = get(Arc::clone(&fake), "/scanner?min_score=5&window=86400").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Trends (last 24 h)"));
        assert!(body.contains("<a href=\"/scanner?min_score=5&amp;window=3600#trends\">1 h</a>"));
        let (_, _, body) = get(Arc::clone(&fake), "/scanner?window=604800").await;
        assert!(
            body.contains("Trends (last 7 d)") && body.contains("<strong aria-current=\"true\">7 d</strong>")
        );
        for bad in ["/scanner?window=59", "/scanner?window=an-hour", "/scanner?window=2592001"] {
            let (status, _, body) = get(Arc::clone(&fake), bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body.contains("`window` must be a number of seconds"), "{bad}");
        }
    }

    #[tokio::test]
    async fn min_score_filters_and_is_checked() {
        let fake = Arc::new(Fake::default());
        let (status, _, body) = get(Arc::clone(&fake), "/scanner?min_score=5").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("data-market-id=\"0xb\"") && !body.contains("data-market-id=\"0xc\""));
        assert!(body.contains("data-live-src=\"/partials/opportunities?min_score=5\""));
        let (_, _, part) = get(Arc::clone(&fake), "/partials/opportunities?min_score=7").await;
        assert!(part.contains("data-market-id=\"0xa\"") && !part.contains("data-market-id=\"0xb\""));
        assert!(!part.contains("<html"));
        assert_safe(&part);
        let (status, _, body) = get(fake, "/scanner?min_score=11").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("<p class=\"error\" role=\"alert\">`min_score` must be"));
    }

    #[tokio::test]
    async fn scan_and_enter_call_the_bot_and_redirect() {
        let fake = Arc::new(Fake::default());
        let (status, headers, _) = post_form(Arc::clone(&fake), "/scan", &[]).await;
        assert_eq!((status, &headers["location"]), (StatusCode::SEE_OTHER, &"/scanner".parse().unwrap()));
        let (status, headers, _) =
            post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xa"), ("capital", "")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/");
        let (status, _, _) =
            post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xa"), ("capital", "250.10")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(
            fake.calls(),
            vec![Call::Scan, Call::Enter("0xa".into(), None), Call::Enter("0xa".into(), Some(dec("250.10")))]
        );
    }

    #[tokio::test]
    async fn refused_entries_explain_why() {
        let fake = Arc::new(Fake::default());
        for (capital, message) in
            [("abc", "must be a number"), ("-5", "more than 0"), ("NaN", "must be a number")]
        {
            let (status, _, body) =
                post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xa"), ("capital", capital)])
                    .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{capital}");
            assert!(body.contains("<p class=\"error\" role=\"alert\">"), "{capital}");
            let field = format!("value=\"{capital}\"><p class=\"field-error\" data-field=\"capital\">");
            assert!(body.contains(&field), "the error sits next to the typed value: {capital}");
            assert!(body.contains(message), "{capital}");
            assert_safe(&body);
        }
        assert!(fake.calls().is_empty(), "nothing invalid reaches the bot");
        let (status, _, body) = post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xfull")]).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body.contains("no free slot"));
        let (status, _, _) = post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xnone")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = post_form(fake, "/positions", &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
