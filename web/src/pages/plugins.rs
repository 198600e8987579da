//! Plugins (`/plugins`): each loaded plugin with its counters, last error and live parameters
//! (a form to change them), the shadows (`shadows.rs`), and the files that were rejected.

use super::layout::{
    self, Nav, alert, csrf_field, field_errors, fields_of, last, path_segment, query_pairs, query_value,
    status_of,
};
use crate::auth::{CSRF_FIELD, Identity};
use crate::backend::FieldError;
use crate::model::{PluginView, RejectedFile, ShadowView};
use crate::query::utc_time;
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Form, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/plugins", get(plugins_page::<B>))
        .route("/partials/plugins", get(plugins_partial::<B>))
        .route("/plugins/{kind}/{name}/params", post(apply::<B>))
        .merge(super::shadows::routes::<B>())
        .merge(super::versions::routes::<B>())
}

/// A parameter change that was refused: whose, what was typed, and why.
struct Refused {
    status: StatusCode,
    message: String,
    kind: String,
    name: String,
    typed: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

async fn plugins_page<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let applied = last(&pairs, "applied").filter(|a| !a.is_empty());
    let done = last(&pairs, "done").filter(|a| !a.is_empty());
    render(&*state.backend, &identity, applied, None, done.map(Notice::Done))
}

/// A line at the top of the page: what an action did, or why it was refused.
pub(crate) enum Notice<'a> {
    Done(&'a str),
    Problem(&'a str),
}

/// The page with a refusal at its top (an action on a shadow that failed).
pub(crate) fn render_problem<B: Backend>(
    backend: &B,
    identity: &Identity,
    status: StatusCode,
    message: &str,
) -> Response {
    let mut response = render(backend, identity, None, None, Some(Notice::Problem(message)));
    *response.status_mut() = status;
    response
}

async fn plugins_partial<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
) -> Markup {
    plugins_region(&*state.backend, &identity, None)
}

async fn apply<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Path((kind, name)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let typed: Vec<(String, String)> = form.into_iter().filter(|(k, _)| k != CSRF_FIELD).collect();
    // One value per parameter, the last one posted, in the order the form lists them.
    let mut values: Vec<(String, f64)> = Vec::new();
    let mut errors = Vec::new();
    for (param, text) in &typed {
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => match values.iter_mut().find(|(p, _)| p == param) {
                Some(slot) => slot.1 = v,
                None => values.push((param.clone(), v)),
            },
            _ => errors.push(FieldError {
                field: param.clone(),
                message: format!("must be a finite number, got {:?}", text.trim()),
            }),
        }
    }
    let refuse = |status, message: String, errors| Refused {
        status,
        message,
        kind: kind.clone(),
        name: name.clone(),
        typed: typed.clone(),
        errors,
    };
    if !errors.is_empty() || values.is_empty() {
        let message = if errors.is_empty() { "Nothing to apply." } else { "Some values are not numbers." };
        let refused = refuse(StatusCode::UNPROCESSABLE_ENTITY, message.to_owned(), errors);
        return render(&*state.backend, &identity, None, Some(refused), None);
    }
    match state.backend.set_plugin_params(kind.clone(), name.clone(), values).await {
        Ok(_) => {
            // `kind/name` as the contract shows it; each part encoded, the slash kept readable.
            let to = format!("/plugins?applied={}/{}", query_value(&kind), query_value(&name));
            Redirect::to(&to).into_response()
        }
        Err(e) => {
            let refused = refuse(status_of(&e), e.to_string(), fields_of(&e));
            render(&*state.backend, &identity, None, Some(refused), None)
        }
    }
}

fn render<B: Backend>(
    backend: &B,
    identity: &Identity,
    applied: Option<&str>,
    refused: Option<Refused>,
    notice: Option<Notice<'_>>,
) -> Response {
    let status = refused.as_ref().map_or(StatusCode::OK, |r| r.status);
    let main = html! {
        h1 { "Plugins" }
        @if let Some(r) = &refused { (alert(&format!("{}/{}: {}", r.kind, r.name, r.message))) }
        @if let Some(a) = applied { p class="flash" { "Applied to " (a) "." } }
        @match notice {
            Some(Notice::Done(text)) => p class="flash" { (text) },
            Some(Notice::Problem(text)) => (alert(text)),
            None => {},
        }
        div class="live" data-live-src="/partials/plugins" {
            (plugins_region(backend, identity, refused.as_ref()))
        }
        (super::shadows::upload_form())
    };
    (status, layout::page("Plugins", Nav::Plugins, identity, &backend.venue(), &main)).into_response()
}

/// Every plugin, the shadows and the rejected files (the live fragment).
fn plugins_region<B: Backend>(backend: &B, identity: &Identity, refused: Option<&Refused>) -> Markup {
    let (plugins, rejected) = (backend.plugins(), backend.rejected_files());
    html! {
        (regions(&plugins, &backend.shadows(), &rejected, identity, refused))
        (super::versions::section(&backend.plugin_versions(), identity))
    }
}

fn regions(
    plugins: &[PluginView],
    shadows: &[ShadowView],
    rejected: &[RejectedFile],
    identity: &Identity,
    refused: Option<&Refused>,
) -> Markup {
    html! {
        @for (i, p) in plugins.iter().enumerate() {
            (plugin(i, p, identity, refused.filter(|r| r.kind == p.kind && r.name == p.name)))
        }
        @if plugins.is_empty() { p { "No plugin is loaded." } }
        (super::shadows::section(shadows, identity))
        section id="rejected" class="panel" aria-labelledby="rejected-title" {
            h2 id="rejected-title" { "Rejected files" }
            @if rejected.is_empty() {
                p { "None." }
            } @else {
                ul class="items" {
                    @for r in rejected {
                        li {
                            span class="mono" { (r.file) } " · " (utc_time(r.at_ms)) " UTC"
                            p class="warn" { (r.error) }
                        }
                    }
                }
            }
        }
    }
}

fn plugin(index: usize, p: &PluginView, identity: &Identity, refused: Option<&Refused>) -> Markup {
    let action = format!("/plugins/{}/{}/params", path_segment(&p.kind), path_segment(&p.name));
    let errors = refused.map_or(&[][..], |r| &r.errors);
    html! {
        section class="plugin panel" data-kind=(p.kind) data-name=(p.name) {
            h2 {
                (p.kind) " · " (p.name) " " small class="muted" { "v" (p.version) } " "
                @if p.active { span class="tag ok" { "active" } } @else { span class="tag" { "standby" } }
            }
            dl class="facts" {
                div { dt { "File" } dd class="mono" { (p.file) } }
                div { dt { "SHA-256" } dd class="mono" title=(p.sha256) {
                    (p.sha256.chars().take(12).collect::<String>())
                } }
                div { dt { "Loaded" } dd { (utc_time(p.loaded_at_ms)) " UTC" } }
                div { dt { "Calls" } dd { (p.calls) } }
                div { dt { "Faults" } dd class=[(p.faults > 0).then_some("warn")] { (p.faults) } }
                div { dt { "Errors" } dd class=[(p.errors > 0).then_some("warn")] { (p.errors) } }
                div { dt { "Mean time" } dd { (p.mean_us) " µs" } }
                div { dt { "Last error" } dd class="last-error" { (p.last_error.as_deref().unwrap_or("none")) } }
            }
            @if p.params.is_empty() {
                p class="muted" { "No parameters." }
            } @else {
                form class="plugin-params" method="post" action=(action) {
                    (csrf_field(identity))
                    @for (j, param) in p.params.iter().enumerate() {
                        @let id = format!("param-{index}-{j}");
                        @let typed = refused.and_then(|r| last(&r.typed, &param.name));
                        div class="field" {
                            label for=(id) { (param.name) }
                            div class="number" {
                                input type="number" step="any" name=(param.name) id=(id) min=(param.min) max=(param.max)
                                    value=(typed.map_or_else(|| param.value.to_string(), str::to_owned))
                                    aria-invalid=[errors.iter().any(|e| e.field == param.name).then_some("true")];
                                span class="unit" {
                                    "now " span class="param-value" data-param=(param.name) { (param.value) }
                                    ", default " (param.default) ", " (param.min) "–" (param.max)
                                }
                            }
                            (field_errors(errors, &param.name))
                            @if !param.help.is_empty() { p class="help" { (param.help) } }
                        }
                    }
                    div class="actions" { button type="submit" { "Apply" } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{Call, Fake};
    use crate::pages::test_util::{assert_escaped, assert_safe, get, post_form};
    use axum::http::StatusCode;
    use std::sync::Arc;

    const PARAMS: &str = "/plugins/scorer/%3Cb%3Ex%3C%2Fb%3E/params";

    #[tokio::test]
    async fn plugins_show_counters_params_and_rejections() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/plugins").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped(&body);
        for needle in [
            "<section class=\"plugin panel\" data-kind=\"scorer\" data-name=\"&lt;b&gt;x&lt;/b&gt;\"",
            "<dd class=\"last-error\">&lt;script&gt;",
            &format!("<form class=\"plugin-params\" method=\"post\" action=\"{PARAMS}\""),
            "<input type=\"number\" step=\"any\" name=\"w_spread\" id=\"param-0-0\" min=\"0\" max=\"5\" value=\"1\"",
            "<span class=\"param-value\" data-param=\"w_spread\">1</span>",
            "Apply",
            "id=\"rejected\"",
            "bad.wasm",
            "data-live-src=\"/partials/plugins\"",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        let (status, _, part) = get(Arc::new(Fake::default()), "/partials/plugins").await;
        assert_eq!(status, StatusCode::OK);
        assert!(part.contains("class=\"plugin panel\"") && !part.contains("<html"));
        assert_safe(&part);
    }

    #[tokio::test]
    async fn applying_params_calls_the_bot_and_redirects() {
        let fake = Arc::new(Fake::default());
        let (status, headers, _) = post_form(Arc::clone(&fake), PARAMS, &[("w_spread", "2.5")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/plugins?applied=scorer/%3Cb%3Ex%3C%2Fb%3E");
        assert_eq!(
            fake.calls(),
            vec![Call::Params("scorer".into(), "<b>x</b>".into(), vec![("w_spread".into(), 2.5)])]
        );
        let (_, _, body) = get(fake, "/plugins?applied=scorer/%3Cb%3Ex%3C%2Fb%3E").await;
        assert!(body.contains("<p class=\"flash\">Applied to scorer/&lt;b&gt;x&lt;/b&gt;.</p>"));
    }

    #[tokio::test]
    async fn bad_values_are_refused_next_to_the_field() {
        let fake = Arc::new(Fake::default());
        for value in ["abc", "NaN", "inf", "-infinity", ""] {
            let (status, _, body) = post_form(Arc::clone(&fake), PARAMS, &[("w_spread", value)]).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value:?}");
            assert!(
                body.contains("<p class=\"field-error\" data-field=\"w_spread\">must be a finite number")
            );
            assert!(
                body.contains(&format!("value=\"{value}\" aria-invalid=\"true\"")),
                "typed value kept: {value:?}"
            );
            assert_safe(&body);
        }
        assert!(fake.calls().is_empty(), "nothing invalid reaches the bot");
        let (status, _, body) = post_form(Arc::clone(&fake), PARAMS, &[("w_spread", "9")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("<p class=\"field-error\" data-field=\"w_spread\">from 0 to 5</p>"));
        assert!(body.contains("<p class=\"error\" role=\"alert\">"));
        assert_eq!(fake.calls().len(), 1);
    }
}
