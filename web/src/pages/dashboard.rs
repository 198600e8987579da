//! The Dashboard (`/`): capital and P&L cards, quick statistics, health, the open positions with
//! their close buttons and the best recent opportunities; and the fragments that keep it live.

use super::layout::{self, Nav, alert, csrf_field, duration, money, pnl_class, pnl_span, price, status_of};
use crate::auth::Identity;
use crate::backend::{BackendError, BackendResult};
use crate::model::{LegView, OpportunityView, Overview, PositionView, Side};
use crate::query::utc_time;
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

/// How many opportunities the dashboard shows.
const RECENT: usize = 10;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/", get(dashboard::<B>))
        .route("/partials/positions", get(positions_partial::<B>))
        .route("/partials/recent-opportunities", get(recent_partial::<B>))
        .route("/partials/health", get(health_partial::<B>))
        .route("/positions/{id}/close", post(close::<B>))
}

async fn dashboard<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
) -> Response {
    render(&*state.backend, &identity, None)
}

async fn close<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<u64>,
) -> Response {
    match state.backend.close(id).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => render(&*state.backend, &identity, Some(&e)),
    }
}

async fn positions_partial<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
) -> Response {
    let overview = state.backend.overview();
    (read_status(&overview), positions_region(&overview, &state.backend.positions(), &identity))
        .into_response()
}

async fn recent_partial<B: Backend>(State(state): State<AppState<B>>) -> Response {
    let recent = state.backend.opportunities(0.0, RECENT);
    (read_status(&recent), recent_region(&recent)).into_response()
}

async fn health_partial<B: Backend>(State(state): State<AppState<B>>) -> Response {
    let overview = state.backend.overview();
    (read_status(&overview), health_region(&overview)).into_response()
}

/// 200, or the status of a read that failed (the fragment then shows why).
fn read_status<T>(read: &BackendResult<T>) -> StatusCode {
    read.as_ref().err().map_or(StatusCode::OK, status_of)
}

/// The whole page; `failed` is an action that was refused, shown on top with its status.
fn render<B: Backend>(backend: &B, identity: &Identity, failed: Option<&BackendError>) -> Response {
    let overview = backend.overview();
    let recent = backend.opportunities(0.0, RECENT);
    let status = failed.map_or_else(|| read_status(&overview).max(read_status(&recent)), status_of);
    let main = html! {
        h1 { "Dashboard" }
        @if let Some(e) = failed { (alert(&e.to_string())) }
        div class="live" data-live-src="/partials/positions" {
            (positions_region(&overview, &backend.positions(), identity))
        }
        div class="columns" {
            section id="health" class="panel" data-live-src="/partials/health" { (health_region(&overview)) }
            section id="recent" class="panel" data-live-src="/partials/recent-opportunities" {
                (recent_region(&recent))
            }
        }
    };
    (status, layout::page("Dashboard", Nav::Dashboard, identity, &backend.venue(), &main)).into_response()
}

/// Capital cards, quick statistics and the open positions: what changes when a position does.
fn positions_region(
    overview: &BackendResult<Overview>,
    positions: &[PositionView],
    identity: &Identity,
) -> Markup {
    html! {
        @match overview {
            Ok(o) => {
                section id="capital" class="cards" aria-label="Capital" {
                    div class="card" {
                        h2 { "Total capital" }
                        p class="value" id="capital-total" { (money(o.total_capital)) }
                        p class="sub" { "started with " (money(o.initial_capital)) " pUSD" }
                    }
                    div class="card" {
                        h2 { "Available" }
                        p class="value" id="capital-available" { (money(o.available_capital)) }
                        p class="sub" { "pUSD not in a position" }
                    }
                    div class="card" {
                        h2 { "Allocated" }
                        p class="value" id="capital-allocated" { (money(o.allocated_capital)) }
                        p class="sub" { (o.active_positions) " open position(s)" }
                    }
                    div class="card" {
                        h2 { "Total P&L" }
                        p class={ "value " (pnl_class(o.total_pnl).unwrap_or("")) } id="pnl-total" {
                            (money(o.total_pnl))
                        }
                        p class="sub" {
                            "realised " (pnl_span(o.realised_pnl)) " (open and closed positions), unrealised "
                            (pnl_span(o.unrealised_pnl))
                        }
                    }
                    div class="card" {
                        h2 { "Today" }
                        p class={ "value " (pnl_class(o.today_pnl).unwrap_or("")) } id="pnl-today" {
                            (money(o.today_pnl))
                        }
                        p class="sub" { "fees " (money(o.fees)) " pUSD in all" }
                    }
                }
                section id="stats" class="stats" aria-label="Quick statistics" {
                    dl {
                        div { dt { "Win rate" } dd {
                            @match o.stats.win_rate_percent {
                                Some(w) => { (w.round_dp(1)) "%" }
                                None => { "—" }
                            }
                        } }
                        div { dt { "Closed" } dd {
                            (o.stats.closed_positions) " (" (o.stats.wins) " won, " (o.stats.losses) " lost)"
                        } }
                        div { dt { "Liquidated legs" } dd title="Sides the liquidation rule sold, in open and closed positions" { (o.stats.liquidations) } }
                        div { dt { "Average hold" } dd {
                            (o.stats.avg_hold_secs.map_or_else(|| "—".to_owned(), duration))
                        } }
                        div { dt { "Best / worst" } dd {
                            @match (o.stats.best_pnl, o.stats.worst_pnl) {
                                (Some(b), Some(w)) => { (pnl_span(b)) " / " (pnl_span(w)) }
                                _ => { "—" }
                            }
                        } }
                    }
                }
            }
            Err(e) => { (alert(&format!("Capital and P&L are not available: {e}"))) }
        }
        section class="positions" aria-labelledby="positions-title" {
            h2 id="positions-title" { "Active positions" }
            (positions_table(positions, identity))
        }
    }
}

fn leg(p: &PositionView, side: Side) -> &LegView {
    &p.legs[usize::from(side == Side::No)]
}

fn positions_table(positions: &[PositionView], identity: &Identity) -> Markup {
    html! {
        div class="table-wrap" {
            table id="positions" {
                thead { tr {
                    th scope="col" { "Market" } th scope="col" { "Status" }
                    th scope="col" class="num" { "Entry YES" } th scope="col" class="num" { "Entry NO" }
                    th scope="col" class="num" { "Cost YES" } th scope="col" class="num" { "Cost NO" }
                    th scope="col" class="num" { "Bid YES" } th scope="col" class="num" { "Bid NO" }
                    th scope="col" class="num" { "Unrealised" } th scope="col" { span class="sr-only" { "Actions" } }
                } }
                tbody {
                    @for p in positions {
                        tr data-position-id=(p.id) {
                            td class="question" { (p.question) }
                            td class="status" {
                                (p.status)
                                @if let Some(side) = p.liquidated { " " span class="tag" { (side.label()) " sold" } }
                            }
                            td class="entry-yes num" { (price(leg(p, Side::Yes).entry_price)) }
                            td class="entry-no num" { (price(leg(p, Side::No).entry_price)) }
                            td class="cost-yes num" { (money(leg(p, Side::Yes).cost)) }
                            td class="cost-no num" { (money(leg(p, Side::No).cost)) }
                            td class="bid-yes num" { (price(leg(p, Side::Yes).best_bid)) }
                            td class="bid-no num" { (price(leg(p, Side::No).best_bid)) }
                            td class={ "unrealised num " (pnl_class(p.unrealised_pnl).unwrap_or("")) } {
                                (money(p.unrealised_pnl))
                            }
                            td {
                                form class="close-position" method="post" action={ "/positions/" (p.id) "/close" }
                                    data-confirm={
                                        "Close position " (p.id) "? Every side still held is sold at the best bid."
                                    } {
                                    (csrf_field(identity))
                                    button type="submit" { "Close" }
                                }
                            }
                        }
                    }
                    @if positions.is_empty() {
                        tr class="empty" { td colspan="10" { "No open positions." } }
                    }
                }
            }
        }
    }
}

/// The engine and plugins at a glance.
fn health_region(overview: &BackendResult<Overview>) -> Markup {
    html! {
        h2 { "Health" }
        @match overview {
            Ok(o) => {
                @let h = &o.health;
                dl class="facts" {
                    div { dt { "Exit rules" } dd class=[h.rules_builtin.then_some("warn")] { (h.rules) } }
                    div { dt { "Venue" } dd { (h.venue) " · " (utc_time(h.venue_time_ms)) " UTC" } }
                    div { dt { "Last scan" } dd {
                        @match h.last_scan_ms { Some(ms) => { (utc_time(ms)) " UTC" } None => { "never" } }
                        @if let Some(e) = &h.last_scan_error { " — " span class="warn" { (e) } }
                    } }
                    div { dt { "Pending orders" } dd class=[(h.pending_orders > 0).then_some("warn")] {
                        (h.pending_orders)
                    } }
                    div { dt { "Last error" } dd {
                        @match &h.last_error { Some(e) => { span class="warn" { (e) } } None => { "none" } }
                    } }
                    div { dt { "Plugins" } dd {
                        (h.plugins_loaded) " loaded"
                        @if h.plugins_faulting > 0 { ", " span class="warn" { (h.plugins_faulting) " faulting" } }
                    } }
                    div { dt { "Background loops" } dd id="loops" {
                        @let restarted: Vec<_> = h.loops.iter().filter(|l| l.restarts > 0).collect();
                        @if h.loops.is_empty() { "none running" }
                        @else if restarted.is_empty() { (h.loops.len()) " running" }
                        @else {
                            @for (i, l) in restarted.iter().enumerate() {
                                @if i > 0 { "; " }
                                span class=[(!l.running).then_some("neg")] { (l.name) }
                                " restarted " (l.restarts) "×"
                                @if let Some(why) = &l.last_failure { " (" span class="warn" { (why) } ")" }
                            }
                        }
                    } }
                    @if !h.notifications.is_empty() {
                        div { dt { "Notifications" } dd id="notifications" {
                            @for (i, n) in h.notifications.iter().enumerate() {
                                @if i > 0 { "; " }
                                span class=[n.failing.then_some("neg")] data-channel=(n.name) { (n.name) }
                                " (" (n.kind) ") " (n.sent) " sent"
                                @if n.failed > 0 || n.dropped > 0 {
                                    ", " span class="warn" { (n.failed) " failed, " (n.dropped) " dropped" }
                                }
                                @if let (true, Some(e)) = (n.failing, &n.last_error) {
                                    ": " span class="warn" { (e) }
                                }
                            }
                        } }
                    }
                }
                @if let Some(down) = &h.safety_net_down {
                    p class="error" role="alert" id="safety-net-down" {
                        "Open positions are not watched: " (down) "."
                    }
                }
            }
            Err(e) => { (alert(&format!("Health is not available: {e}"))) }
        }
    }
}

/// The best opportunities of the last scan.
fn recent_region(recent: &BackendResult<Vec<OpportunityView>>) -> Markup {
    html! {
        h2 { "Recent opportunities" }
        @match recent {
            Ok(list) => {
                div class="table-wrap" {
                    table id="recent-opportunities" {
                        thead { tr {
                            th scope="col" class="num" { "Score" } th scope="col" { "Market" }
                            th scope="col" class="num" { "YES ask" } th scope="col" class="num" { "NO ask" }
                            th scope="col" { "Detected" }
                        } }
                        tbody {
                            @for o in list {
                                tr data-market-id=(o.market_id) {
                                    td class="score num" { (format!("{:.1}", o.score)) }
                                    td class="question" {
                                        (o.question) @if o.held { " " span class="tag" { "held" } }
                                    }
                                    td class="num" { (price(o.yes_ask)) }
                                    td class="num" { (price(o.no_ask)) }
                                    td { (utc_time(o.detected_at_ms)) }
                                }
                            }
                            @if list.is_empty() {
                                tr class="empty" { td colspan="5" { "No opportunities yet." } }
                            }
                        }
                    }
                }
                p class="more" { a href="/scanner" { "All opportunities →" } }
            }
            Err(e) => { (alert(&format!("Opportunities are not available: {e}"))) }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{Call, Fake};
    use crate::model::LoopView;
    use crate::pages::test_util::{assert_safe, get, post_form};
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn dashboard_shows_capital_positions_and_health() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_safe(&body);
        for id in [
            "id=\"capital-total\"",
            "id=\"capital-available\"",
            "id=\"capital-allocated\"",
            "id=\"pnl-total\"",
            "id=\"pnl-today\"",
            "id=\"stats\"",
            "id=\"health\"",
            "<table id=\"positions\"",
            "<table id=\"recent-opportunities\"",
            "data-position-id=\"1\"",
            "class=\"close-position\"",
            "action=\"/positions/1/close\"",
            "data-confirm=\"Close position 1?",
            "data-live-src=\"/partials/positions\"",
            "data-live-src=\"/partials/health\"",
            "data-live-src=\"/partials/recent-opportunities\"",
        ] {
            assert!(body.contains(id), "missing {id}");
        }
        assert!(body.contains(">9997.00</p>"), "total capital to the cent");
        assert!(body.contains("class=\"value neg\" id=\"pnl-today\""), "a loss is marked");
        assert!(body.contains("class=\"value pos\" id=\"pnl-total\""), "a gain is marked");
        assert!(body.contains("class=\"entry-yes num\">0.4<"), "prices without trailing zeros");
        for cell in
            ["question", "status", "entry-no", "cost-yes", "cost-no", "bid-yes", "bid-no", "unrealised"]
        {
            assert!(body.contains(&format!("class=\"{cell}")), "missing cell {cell}");
        }
    }

    #[tokio::test]
    async fn health_names_restarted_loops_and_warns_when_the_safety_net_is_down() {
        let (_, _, body) = get(Arc::new(Fake::default()), "/partials/health").await;
        assert_safe(&body);
        assert!(
            body.contains("<dd id=\"loops\"><span>scan</span> restarted 1× (<span class=\"warn\">panicked: &lt;script&gt;"),
            "{body}"
        );
        assert!(!body.contains("id=\"safety-net-down\""));
        let down =
            Fake { down: Some("the sweep loop is down (it returned); restarting".into()), ..Fake::default() };
        let (_, _, body) = get(Arc::new(down), "/partials/health").await;
        assert!(body.contains(
            "<p class=\"error\" role=\"alert\" id=\"safety-net-down\">Open positions are not watched: the sweep \
             loop is down (it returned); restarting.</p>"
        ));
        let quiet = Fake {
            loops: vec![LoopView { name: "feed".into(), running: true, ..LoopView::default() }],
            ..Fake::default()
        };
        let (_, _, body) = get(Arc::new(quiet), "/partials/health").await;
        assert!(body.contains("<dd id=\"loops\">1 running</dd>"));
    }

    #[tokio::test]
    async fn partials_are_fragments() {
        let fake = Arc::new(Fake::default());
        for (path, needle) in [
            ("/partials/positions", "<table id=\"positions\""),
            ("/partials/health", "plugin equilibrage"),
            ("/partials/recent-opportunities", "<table id=\"recent-opportunities\""),
        ] {
            let (status, _, body) = get(Arc::clone(&fake), path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(body.contains(needle), "{path}");
            assert!(!body.contains("<html"), "{path} is a fragment");
            assert_safe(&body);
        }
        let (_, _, body) = get(fake, "/partials/positions").await;
        assert!(body.contains("id=\"capital\"") && body.contains("name=\"_csrf\" value=\""));
    }

    #[tokio::test]
    async fn close_redirects_or_explains() {
        let fake = Arc::new(Fake::default());
        let (status, headers, _) = post_form(Arc::clone(&fake), "/positions/1/close", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/");
        let (status, _, body) = post_form(Arc::clone(&fake), "/positions/2/close", &[]).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body.contains("<p class=\"error\" role=\"alert\">position 2 is already closed</p>"));
        assert_safe(&body);
        let (status, _, _) = post_form(Arc::clone(&fake), "/positions/9/close", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(fake.calls(), vec![Call::Close(1), Call::Close(2), Call::Close(9)]);
    }
}
