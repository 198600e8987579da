//! The Shadows section of the Plugins page: each shadow plugin against the active one of its
//! kind (agreement, hypothetical P&L, its own faults and latency), with Promote and Retire, and
//! the upload that loads a component as a shadow.

use super::layout::{csrf_field, path_segment, pnl_span, query_value, status_of};
use crate::auth::Identity;
use crate::backend::off_workers;
use crate::model::{ShadowAction, ShadowView};
use crate::query::utc_time;
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use maud::{Markup, html};

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().route("/plugins/shadows/{kind}/{action}", post(act::<B>))
}

async fn act<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path((kind, action)): Path<(String, String)>,
) -> Response {
    let Some(what) = ShadowAction::parse(&action) else {
        let e = crate::backend::BackendError::NotFound(format!("no shadow action {action:?}"));
        return super::plugins::render_problem(&*state.backend, &identity, status_of(&e), &e.to_string());
    };
    let k = kind.clone();
    match off_workers(&state.backend, move |b| b.shadow_action(&k, what)).await {
        Ok(done) => Redirect::to(&format!("/plugins?done={}", query_value(&done))).into_response(),
        Err(e) => {
            super::plugins::render_problem(&*state.backend, &identity, status_of(&e), &format!("{kind}: {e}"))
        }
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

fn number(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.digits$}"))
}

/// The upload that loads a component as a shadow: outside the live region, so a refresh of the
/// region (every plugin event) does not wipe the file chosen or what the upload said.
pub(crate) fn upload_form() -> Markup {
    html! {
        section id="shadow-load" class="panel" aria-labelledby="shadow-load-title" {
            h2 id="shadow-load-title" { "Load a shadow" }
            form id="shadow-upload" class="lab-upload" data-upload="/api/plugins/shadows/" method="get" action="/plugins" {
                div class="field" {
                    label for="shadow-file" { "A plugin to shadow its kind's active one (.wasm)" }
                    input type="file" id="shadow-file" name="file" accept=".wasm";
                }
                button type="submit" { "Shadow it" }
                p class="help" {
                    "Checked like any plugin, then put in the plugin directory's shadow/. "
                    "Without JavaScript, copy the file there."
                }
                p class="upload-status" role="status" {}
            }
        }
    }
}

/// The section (inside the live region): each shadow.
pub(crate) fn section(shadows: &[ShadowView], identity: &Identity) -> Markup {
    html! {
        section id="shadows" class="panel" aria-labelledby="shadows-title" {
            h2 id="shadows-title" { "Shadows" }
            p class="help" {
                "A shadow gets exactly the inputs of the active plugin of its kind, after it, and is never obeyed: "
                "its answers are compared and recorded. Promote it to make it active (the same atomic swap as a hot reload); "
                "retire it to stop. Load one below, or drop a file in the plugin directory's shadow/."
            }
            @if shadows.is_empty() {
                p class="muted" { "No shadow is loaded." }
            }
            @for s in shadows { (shadow(s, identity)) }
        }
    }
}

fn shadow(s: &ShadowView, identity: &Identity) -> Markup {
    let p = &s.plugin;
    let base = format!("/plugins/shadows/{}", path_segment(&p.kind));
    let rules = p.kind == "liquidation-rules";
    // Whale and news shadows are judged through the active scorer given their signals.
    let signals = p.kind == "whale-analyzer" || p.kind == "news-aggregator";
    html! {
        article class="shadow" data-kind=(p.kind) data-name=(p.name) {
            h3 {
                (p.kind) " · " (p.name) " " small class="muted" { "v" (p.version) } " "
                span class="tag" { "shadow" } " "
                @if s.serving { span class="tag ok" { "compared" } } @else { span class="tag" { "standby" } }
            }
            dl class="facts" {
                div { dt { "Against" } dd { (s.against.as_deref().unwrap_or("not compared yet")) } }
                div { dt { "Since" } dd { (s.since_ms.map_or_else(|| "—".to_owned(), |t| format!("{} UTC", utc_time(t)))) } }
                div { dt { (if rules { "Evaluations" } else if signals { "Calls compared" } else { "Scans" }) } dd class="compared" { (s.compared) } }
                div { dt { "Agreement" } dd class="agreement" title=(s.agreement_means) { (percent(s.agreement)) } }
                @if let Some(pnl) = s.pnl_difference {
                    div {
                        dt { (if rules { "P&L if followed" } else if signals { "P&L of the picks its signals make vs the active's" } else { "P&L of its picks vs the active's" }) }
                        dd class="pnl-difference" { (pnl_span(pnl)) }
                    }
                }
                @if let Some(picks) = &s.picks {
                    div { dt { "Its picks" } dd class="picks-shadow" { (picks.shadow) " · " (pnl_span(picks.shadow_pnl)) } }
                    div { dt { "Active's picks" } dd class="picks-active" { (picks.active) " · " (pnl_span(picks.active_pnl)) } }
                }
                @if !rules {
                    div { dt { "Mean |Δ score|" } dd { (number(s.mean_score_difference, 2)) } }
                    div { dt { "Rank correlation" } dd { (number(s.correlation, 3)) } }
                    div { dt { "Same entries" } dd class="same-entries" { (s.same_entries.map_or_else(|| "—".to_owned(), |n| format!("{n} of {} scans", s.scans.unwrap_or(s.compared)))) } }
                }
                div { dt { "Calls" } dd { (p.calls) } }
                div { dt { "Faults" } dd class=[(p.faults > 0).then_some("warn")] { (p.faults) } }
                div { dt { "Mean time" } dd { (p.mean_us) " µs" } }
                @if s.dropped > 0 { div { dt { "Missed" } dd class="warn" { (s.dropped) } } }
                div { dt { "Last error" } dd class="last-error" { (p.last_error.as_deref().unwrap_or("none")) } }
            }
            p class="help" { "Agreement: " (s.agreement_means) "." }
            @if signals {
                p class="help" {
                    "Its signals feed the scorer, so each scan is scored again by the active scorer with the shadow's "
                    (if p.kind == "whale-analyzer" { "whale" } else { "news" })
                    " signals in place of the active plugin's; the score differences, entries and picks compare that rescoring with the scan as it was."
                }
            }
            @if let Some(picks) = &s.picks {
                p class="help" {
                    "Picks: the markets only one of the two would have entered, each bought on paper for "
                    (picks.stake) " pUSD (half a side, at the asks of the scan), held, and valued at the best bids of the latest scan that listed it; before fees."
                }
            }
            @if !s.differences.is_empty() {
                div class="table-wrap" {
                    table class="shadow-diffs" {
                        caption { "Latest differences" }
                        thead { tr {
                            th scope="col" { "When (UTC)" }
                            @if rules { th scope="col" { "Position" } }
                            th scope="col" { "Active" }
                            th scope="col" { "Shadow" }
                        } }
                        tbody {
                            @for d in &s.differences {
                                tr {
                                    td { (utc_time(d.at_ms)) }
                                    @if rules { td { @if let Some(id) = d.position { a href=(format!("/history/positions/{id}")) { (id) } } } }
                                    td { (d.active) }
                                    td { (d.shadow) }
                                }
                            }
                        }
                    }
                }
            }
            @if s.serving {
                div class="actions" {
                    form method="post" action=(format!("{base}/promote")) {
                        (csrf_field(identity))
                        button type="submit" class="promote" { "Promote" }
                    }
                    form method="post" action=(format!("{base}/retire")) {
                        (csrf_field(identity))
                        button type="submit" class="secondary retire" { "Retire" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{Call, Fake};
    use crate::model::ShadowAction;
    use crate::pages::test_util::{assert_escaped, get, post_form};
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_plugins_page_shows_each_shadow_with_its_comparison_and_actions() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/plugins").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped(&body);
        for needle in [
            "<section id=\"shadows\"",
            "<article class=\"shadow\" data-kind=\"liquidation-rules\" data-name=\"&lt;b&gt;x&lt;/b&gt;\"",
            "<dd class=\"compared\">42</dd>",
            "<dd class=\"agreement\" title=\"position evaluations where both decided the same\">75.0 %</dd>",
            "P&amp;L if followed",
            "-12.50",
            "<a href=\"/history/positions/7\">7</a>",
            "Liquidate(Yes) at 0.41 &lt;script&gt;",
            "<form method=\"post\" action=\"/plugins/shadows/liquidation-rules/promote\">",
            "<form method=\"post\" action=\"/plugins/shadows/liquidation-rules/retire\">",
            "<form id=\"shadow-upload\" class=\"lab-upload\" data-upload=\"/api/plugins/shadows/\"",
            // The scorer shadow: what its picks and the active's would have made.
            "<article class=\"shadow\" data-kind=\"scorer\" data-name=\"picky\"",
            "P&amp;L of its picks vs the active",
            "<dd class=\"picks-shadow\">3 · ",
            "<dd class=\"picks-active\">2 · ",
            "bought on paper for 100 pUSD",
            "10 of 12 scans",
            // A whale shadow: judged through the active scorer given its signals.
            "<article class=\"shadow\" data-kind=\"whale-analyzer\" data-name=\"quiet-whales\"",
            "<dt>Calls compared</dt><dd class=\"compared\">20</dd>",
            "P&amp;L of the picks its signals make vs the active",
            "<dd class=\"same-entries\">14 of 15 scans</dd>",
            "scored again by the active scorer with the shadow's whale signals",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        // The upload stays outside the live region, which a plugin event re-renders.
        let (_, _, part) = get(Arc::new(Fake::default()), "/partials/plugins").await;
        assert!(part.contains("article class=\"shadow\"") && !part.contains("shadow-upload"));
    }

    #[tokio::test]
    async fn promote_and_retire_say_what_they_did_or_why_not() {
        let fake = Arc::new(Fake::default());
        let (status, headers, _) =
            post_form(Arc::clone(&fake), "/plugins/shadows/liquidation-rules/promote", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let to = headers["location"].to_str().expect("location").to_owned();
        assert!(to.starts_with("/plugins?done=liquidation-rules"), "{to}");
        let (_, _, page) = get(Arc::clone(&fake), &to).await;
        assert!(page.contains("<p class=\"flash\">liquidation-rules: done &lt;i&gt;Promote&lt;/i&gt;</p>"));
        let (status, _, body) = post_form(Arc::clone(&fake), "/plugins/shadows/scorer/retire", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("role=\"alert\">scorer: no scorer plugin is shadowing</p>"), "{body}");
        let (status, _, _) = post_form(Arc::clone(&fake), "/plugins/shadows/scorer/explode", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            fake.calls(),
            vec![
                Call::Shadow("liquidation-rules".into(), ShadowAction::Promote),
                Call::Shadow("scorer".into(), ShadowAction::Retire)
            ]
        );
    }
}
