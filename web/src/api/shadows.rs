//! `/api/plugins/shadows`: shadow plugins as JSON, loading one, promoting and retiring.

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
