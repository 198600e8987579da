//! History (`/history`): closed positions and their trades under a filter, fifty a page, the
//! equity and P&L charts, and the link to export the same filter as CSV.

use super::layout::{
    self, Nav, alert, last, money, pnl_class, pnl_span, price, query_pairs, status_of, tx_hash,
};
use super::settlement::redemptions_section;
use crate::auth::Identity;
use crate::backend::{BackendError, BackendResult, off_workers};
use crate::charts::{equity_chart, pnl_chart};
use crate::model::{HistoryPage, Performance, TradeList};
use crate::query::{HistoryQuery, utc_time};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

/// Closed positions per page.
const PAGE: usize = 50;
/// Trades shown: the newest of the filtered set (the CSV export has them all).
const TRADES: usize = 200;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().route("/history", get(history::<B>)).route("/history/redeem", post(redeem::<B>))
}

/// The filter and page number of the query string; a bad page number is a message.
fn parse(raw: Option<&str>) -> (HistoryQuery, Result<usize, String>) {
    let pairs = query_pairs(raw);
    let text = |name| last(&pairs, name).unwrap_or_default().to_owned();
    let query =
        HistoryQuery { from: text("from"), to: text("to"), market: text("market"), outcome: text("outcome") };
    let page = match text("page").trim() {
        "" => Ok(1),
        p => p
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("`page` must be a whole number from 1, got {p:?}")),
    };
    (query, page)
}

async fn history<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Response {
    render(&state.backend, &identity, raw.as_deref(), None).await
}

/// Redeems one market now; the page is shown again with the transaction, or with why not.
async fn redeem<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let condition_id = last(&form, "condition_id").unwrap_or_default().trim().to_owned();
    if condition_id.is_empty() {
        let e = BackendError::invalid("choose the market to redeem (`condition_id` is missing)");
        return render(&state.backend, &identity, None, Some(&e)).await;
    }
    match state.backend.redeem(condition_id).await {
        Ok(_) => Redirect::to("/history#redemptions").into_response(),
        Err(e) => render(&state.backend, &identity, None, Some(&e)).await,
    }
}

async fn render<B: Backend>(
    backend: &std::sync::Arc<B>,
    identity: &Identity,
    raw: Option<&str>,
    refused: Option<&BackendError>,
) -> Response {
    // The redemptions only: no balances, so the page never waits on the node.
    let chain = backend.chain(false).await;
    let (query, page) = parse(raw);
    let parsed = page.and_then(|page| query.filter().map(|f| (f, page)).map_err(|e| e.message));
    let perf = backend.performance();
    let mut status = refused.or(perf.as_ref().err()).map_or(StatusCode::OK, status_of);
    let results = match &parsed {
        Ok((filter, page)) => {
            let offset = (page - 1).saturating_mul(PAGE);
            let filter = filter.clone();
            let (found, trades) = off_workers(backend, move |b| {
                (b.history(&filter, offset, PAGE), b.trades(&filter, 0, TRADES))
            })
            .await;
            if let Some(e) = found.as_ref().err().or(trades.as_ref().err()) {
                status = status_of(e);
            }
            Some((found, trades, *page))
        }
        Err(_) => {
            status = StatusCode::BAD_REQUEST;
            None
        }
    };
    let venue = backend.venue();
    let main = html! {
        h1 { "History" }
        @if let Some(e) = refused { (alert(&e.to_string())) }
        (redemptions_section(&chain, identity))
        (filter_form(&query))
        @if let Err(message) = &parsed { (alert(message)) }
        @if let Some((found, trades, page)) = &results {
            section class="positions" aria-labelledby="closed-title" {
                h2 id="closed-title" { "Closed positions" }
                (positions(found, &query, *page))
            }
            section class="trades" aria-labelledby="trades-title" {
                h2 id="trades-title" { "Trades" }
                p {
                    "The newest " (TRADES) " trades of these positions. "
                    a id="export-csv" href={ "/history/export.csv?" (query.to_query()) } { "Export all as CSV" }
                }
                (trades_table(trades, venue.mode == "live"))
            }
        }
        (charts(&perf))
    };
    (status, layout::page("History", Nav::History, identity, &venue, &main)).into_response()
}

fn filter_form(query: &HistoryQuery) -> Markup {
    html! {
        form id="history-filter" class="filters" method="get" action="/history" {
            div class="field" {
                label for="from" { "From" }
                input type="date" id="from" name="from" value=(query.from);
            }
            div class="field" {
                label for="to" { "To" }
                input type="date" id="to" name="to" value=(query.to);
            }
            div class="field" {
                label for="market" { "Market" }
                input type="text" id="market" name="market" value=(query.market)
                    placeholder="id or words of the question";
            }
            div class="field" {
                label for="outcome" { "Outcome" }
                select id="outcome" name="outcome" {
                    @for (value, label) in [("", "All"), ("win", "Wins"), ("loss", "Losses"), ("even", "Even")] {
                        option value=(value) selected[query.outcome.trim() == value] { (label) }
                    }
                }
            }
            div class="field actions" {
                button type="submit" { "Filter" }
                a href="/history" { "Clear" }
            }
        }
    }
}

fn positions(found: &BackendResult<HistoryPage>, query: &HistoryQuery, page: usize) -> Markup {
    let found = match found {
        Ok(found) => found,
        Err(e) => return alert(&format!("History is not available: {e}")),
    };
    let link = |page: usize| format!("/history?{}&page={page}", query.to_query());
    let shown_to = found.offset + found.positions.len();
    html! {
        p id="history-summary" {
            (found.total) " closed position(s), P&L "
            span class=[pnl_class(found.total_pnl)] { (money(found.total_pnl)) } " pUSD"
            @if found.total > 0 { " — showing " (found.offset + 1) "–" (shown_to) }
        }
        div class="table-wrap" {
            table id="history" {
                thead { tr {
                    th scope="col" { "Market" } th scope="col" { "Status" } th scope="col" { "Opened" }
                    th scope="col" { "Closed" } th scope="col" class="num" { "Capital" }
                    th scope="col" class="num" { "P&L" } th scope="col" { "Why it closed" }
                } }
                tbody {
                    @for p in &found.positions {
                        tr data-position-id=(p.id) {
                            td class="question" { a href={ "/history/positions/" (p.id) } { (p.question) } }
                            td class="status" { (p.status) }
                            td class="opened" { (utc_time(p.opened_at_ms)) }
                            td class="closed" {
                                @match p.closed_at_ms { Some(ms) => { (utc_time(ms)) } None => { "—" } }
                            }
                            td class="capital num" { (money(p.capital)) }
                            td class={ "pnl num " (pnl_class(p.pnl).unwrap_or("")) } { (money(p.pnl)) }
                            td class="reason" { (p.close_reason.as_deref().unwrap_or("—")) }
                        }
                    }
                    @if found.positions.is_empty() {
                        tr class="empty" { td colspan="7" { "No closed position matches." } }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if page > 1 { a class="page-prev" href=(link(page - 1)) rel="prev" { "← Newer" } }
            span { "Page " (page) }
            @if shown_to < found.total { a class="page-next" href=(link(page + 1)) rel="next" { "Older →" } }
        }
    }
}

/// The trades; `live`: their transaction hashes link to the block explorer.
fn trades_table(trades: &BackendResult<TradeList>, live: bool) -> Markup {
    let (trades, complete) = match trades {
        Ok(list) => (&list.trades, list.complete),
        Err(e) => return alert(&format!("Trades are not available: {e}")),
    };
    html! {
        @if !complete {
            p class="note" id="trades-incomplete" {
                "Only the newest trades were searched; older matches may exist. Narrow the dates, or export them all as CSV."
            }
        }
        div class="table-wrap" {
            table id="trades" {
                thead { tr {
                    th scope="col" { "Time (UTC)" } th scope="col" class="num" { "Position" }
                    th scope="col" { "Market" }
                    th scope="col" { "Side" } th scope="col" { "Action" } th scope="col" { "Purpose" }
                    th scope="col" class="num" { "Price" } th scope="col" class="num" { "Shares" }
                    th scope="col" class="num" { "Notional" } th scope="col" class="num" { "Fee" }
                    th scope="col" { "Status" } th scope="col" { "Reason" } th scope="col" { "Decided by" }
                } }
                tbody {
                    @for t in trades {
                        tr data-trade-id=(t.id) {
                            td class="time" { (utc_time(t.at_ms)) }
                            td class="num" { (t.position_id) }
                            td class="question" { (t.question) }
                            td { (t.side.label()) }
                            td { (t.action) }
                            td { (t.purpose) }
                            td class="num" { (price(Some(t.price))) }
                            td class="num" { (t.shares.normalize()) }
                            td class="num" { (money(t.notional)) }
                            td class="num" { (money(t.fee)) }
                            td {
                                (t.status)
                                @if let Some(tx) = &t.tx_hash {
                                    " " (tx_hash(tx, live))
                                }
                            }
                            td class="reason" { (t.reason) }
                            td class="decided-by mono" { (t.decided_by.as_deref().unwrap_or("—")) }
                        }
                    }
                    @if trades.is_empty() {
                        tr class="empty" { td colspan="13" { "No trades." } }
                    }
                }
            }
        }
    }
}

fn charts(perf: &BackendResult<Performance>) -> Markup {
    html! {
        section class="charts" aria-labelledby="charts-title" {
            h2 id="charts-title" { "Performance (all positions)" }
            @match perf {
                Ok(perf) => {
                    p id="realised" {
                        "Realised P&L of closed positions " span class=[pnl_class(perf.realised_pnl)] { (money(perf.realised_pnl)) }
                        " pUSD, fees " (money(perf.fees)) " pUSD, from " (money(perf.initial_capital)) " pUSD."
                        @if !perf.open_realised_pnl.is_zero() {
                            " Open positions have realised " (pnl_span(perf.open_realised_pnl))
                            " pUSD more (legs sold, fees paid), not in the curve until they close."
                        }
                    }
                    div class="chart-grid" {
                        figure { (equity_chart(perf)) figcaption { "Equity after each close" } }
                        figure { (pnl_chart(perf)) figcaption { "P&L per closed position" } }
                    }
                }
                Err(e) => { (alert(&format!("Performance is not available: {e}"))) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::Fake;
    use crate::pages::test_util::{assert_escaped, assert_safe, get};
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn history_lists_positions_trades_and_charts() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/history?market=closed&outcome=win").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped(&body);
        for needle in [
            "<form id=\"history-filter\" class=\"filters\" method=\"get\" action=\"/history\"",
            "type=\"date\" id=\"from\" name=\"from\"",
            "type=\"date\" id=\"to\" name=\"to\"",
            "name=\"market\" value=\"closed\"",
            "<option value=\"win\" selected>",
            "id=\"history-summary\"",
            "<table id=\"history\"",
            "<tr data-position-id=\"2\"",
            "<td class=\"pnl num pos\">12.34</td>",
            "class=\"opened\"",
            "class=\"closed\"",
            "<table id=\"trades\"",
            "<tr data-trade-id=\"3\"",
            "<a id=\"export-csv\" href=\"/history/export.csv?from=&amp;to=&amp;market=closed&amp;outcome=win\"",
            "<svg id=\"equity-chart\"",
            "<svg id=\"pnl-chart\"",
            "<path class=\"line\"",
            // Which realised P&L is which: the closed positions' (the curve's end), then what
            // open positions realised already.
            "Realised P&amp;L of closed positions <span class=\"pos\">12.34</span> pUSD",
            "Open positions have realised <span class=\"neg\">-3.50</span> pUSD more",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        assert!(!body.contains("page-prev") && !body.contains("page-next"), "one page only");
        assert!(body.find("data-trade-id=\"3\"") < body.find("data-trade-id=\"1\""), "newest first");
    }

    #[tokio::test]
    async fn paging_links_keep_the_filter() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/history?page=2&market=closed").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(
            "<a class=\"page-prev\" href=\"/history?from=&amp;to=&amp;market=closed&amp;outcome=&amp;page=1\""
        ));
        assert!(!body.contains("page-next"));
        assert!(body.contains("No closed position matches."), "page 2 of one position is empty");
    }

    #[tokio::test]
    async fn a_bad_filter_is_explained() {
        let fake = Arc::new(Fake::default());
        for query in ["from=yesterday", "outcome=maybe", "from=2024-03-02&to=2024-03-01", "page=0"] {
            let (status, _, body) = get(Arc::clone(&fake), &format!("/history?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert!(body.contains("<p class=\"error\" role=\"alert\">"), "{query}");
            assert!(body.contains("id=\"history-filter\""), "the form stays to fix it: {query}");
            assert_safe(&body);
        }
        let (_, _, body) = get(fake, "/history?from=%3Cscript%3Ealert(1)%3C/script%3E").await;
        assert_escaped(&body);
    }
}
