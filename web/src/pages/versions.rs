//! The Versions section of the Plugins page: every plugin version the bot has had active, by
//! kind, with when it was, and a Roll back button for the kept ones.

use super::layout::{csrf_field, path_segment, query_value, status_of};
use crate::auth::Identity;
use crate::backend::off_workers;
use crate::model::PluginVersionView;
use crate::query::utc_time;
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use maud::{Markup, html};

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().route("/plugins/versions/{kind}/{sha256}/rollback", post(rollback::<B>))
}

async fn rollback<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path((kind, sha256)): Path<(String, String)>,
) -> Response {
    let k = kind.clone();
    match off_workers(&state.backend, move |b| b.rollback_plugin(&k, &sha256)).await {
        Ok(done) => Redirect::to(&format!("/plugins?done={}", query_value(&done))).into_response(),
        Err(e) => {
            super::plugins::render_problem(&*state.backend, &identity, status_of(&e), &format!("{kind}: {e}"))
        }
    }
}

fn period(p: &crate::model::PeriodView) -> String {
    match p.to_ms {
        Some(to) => format!("{} – {}", utc_time(p.from_ms), utc_time(to)),
        None => format!("since {}", utc_time(p.from_ms)),
    }
}

/// The section (inside the live region).
pub(crate) fn section(versions: &[PluginVersionView], identity: &Identity) -> Markup {
    html! {
        section id="versions" class="panel" aria-labelledby="versions-title" {
            h2 id="versions-title" { "Versions" }
            p class="help" {
                "Every version that has been active, by the hash of its component; trades name the version that decided them. "
                "Rolling back puts a kept version in place of the active one through the same checks and swap as a hot reload."
            }
            @if versions.is_empty() {
                p class="muted" { "No version on record yet." }
            } @else {
                div class="table-wrap" {
                    table id="plugin-versions" {
                        thead { tr {
                            th scope="col" { "Kind" } th scope="col" { "Version" } th scope="col" { "SHA-256" }
                            th scope="col" { "Active (UTC)" } th scope="col" { "" }
                        } }
                        tbody {
                            @for v in versions {
                                tr data-kind=(v.kind) data-sha256=(v.sha256) {
                                    td { (v.kind) }
                                    td { (v.name) " " small class="muted" { "v" (v.version) } }
                                    td class="mono" title=(v.sha256) { (v.sha256.chars().take(12).collect::<String>()) }
                                    td { @for p in &v.periods { div { (period(p)) } } }
                                    td {
                                        @if v.active {
                                            span class="tag ok" { "active" }
                                        } @else if v.kept {
                                            form method="post" action=(format!("/plugins/versions/{}/{}/rollback", path_segment(&v.kind), path_segment(&v.sha256))) {
                                                (csrf_field(identity))
                                                button type="submit" class="secondary rollback" { "Roll back" }
                                            }
                                        } @else {
                                            span class="muted" { "not kept" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
