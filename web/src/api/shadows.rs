//! `/api/plugins/shadows` and `/api/plugins/versions`: shadow plugins (loading one, promoting,
//! retiring) and the versions the bot has run (rolling back to one), as JSON.

use crate::api::ApiPath;
use crate::backend::off_workers;
use crate::error::{AppError, AppResult};
use crate::model::ShadowAction;
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;

/// The largest upload read; the bot refuses files over its plugin size limit itself.
const MAX_PLUGIN_BYTES: usize = 64 << 20;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/api/plugins/shadows", get(list::<B>))
        .route(
            "/api/plugins/shadows/{file}",
            put(upload::<B>).layer(axum::extract::DefaultBodyLimit::max(MAX_PLUGIN_BYTES)),
        )
        .route("/api/plugins/shadows/{kind}/{action}", post(act::<B>))
        .route("/api/plugins/versions", get(versions::<B>))
        .route("/api/plugins/versions/{kind}/{sha256}/rollback", post(rollback::<B>))
}

async fn versions<B: Backend>(State(state): State<AppState<B>>) -> Response {
    axum::Json(json!({ "versions": state.backend.plugin_versions() })).into_response()
}

async fn rollback<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath((kind, sha256)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let done = off_workers(&state.backend, move |b| b.rollback_plugin(&kind, &sha256)).await?;
    Ok(axum::Json(json!({ "done": done })).into_response())
}

async fn list<B: Backend>(State(state): State<AppState<B>>) -> Response {
    axum::Json(json!({ "shadows": state.backend.shadows() })).into_response()
}

/// A component to shadow with, its bytes as the body (`PUT`, any content type).
async fn upload<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(file): ApiPath<String>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let (kind, plugin) = off_workers(&state.backend, move |b| b.upload_shadow(&file, &body)).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "plugin": { "kind": kind, "plugin": plugin } })))
        .into_response())
}

async fn act<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath((kind, action)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let what = ShadowAction::parse(&action)
        .ok_or_else(|| AppError::not_found(format!("no shadow action {action:?} (promote or retire)")))?;
    let done = off_workers(&state.backend, move |b| b.shadow_action(&kind, what)).await?;
    Ok(axum::Json(json!({ "done": done })).into_response())
}

#[cfg(test)]
mod tests {
    use crate::fake::http::{browser, send};
    use crate::fake::{Call, Fake};
    use axum::body::Body;
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn shadows_as_json_loaded_promoted_and_refused() {
        let fake = Arc::new(Fake::default());
        let (status, _, body) = send(
            Arc::clone(&fake),
            browser("GET", "/api/plugins/shadows", false).body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(list["shadows"][0]["compared"], 42);
        assert_eq!(list["shadows"][0]["pnl_difference"], "-12.5", "money as a decimal string");

        let post = |path: &str| browser("POST", path, true).body(Body::empty()).unwrap();
        let (status, _, body) =
            send(Arc::clone(&fake), post("/api/plugins/shadows/liquidation-rules/promote")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"done\":\"liquidation-rules: done <i>Promote</i>\""), "{body}");
        let (status, _, _) = send(Arc::clone(&fake), post("/api/plugins/shadows/scorer/retire")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, body) = send(Arc::clone(&fake), post("/api/plugins/shadows/scorer/bogus")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("promote or retire"), "{body}");

        let put = |body: &'static [u8]| {
            browser("PUT", "/api/plugins/shadows/v.wasm", true).body(Body::from(body)).unwrap()
        };
        let (status, _, body) = send(Arc::clone(&fake), put(b"\0asm\x0d\0\x01\0")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body.contains("\"plugin\":{\"kind\":\"scorer\",\"plugin\":\"veto-scorer@0.1.0\"}"), "{body}");
        let (status, _, body) = send(Arc::clone(&fake), put(b"junk")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("not a WebAssembly component"));
        let no_csrf = browser("POST", "/api/plugins/shadows/liquidation-rules/retire", false)
            .body(Body::empty())
            .unwrap();
        let (status, _, _) = send(Arc::clone(&fake), no_csrf).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a browser session needs its CSRF token");
        assert_eq!(fake.calls().iter().filter(|c| matches!(c, Call::ShadowUpload(_))).count(), 2);
    }
}
