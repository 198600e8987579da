//! What operators' tools use: `/metrics` for Prometheus (and the metrics-only router of
//! `[metrics] listen`), and the notification channels' events (`/api/notifications`).

use super::{ApiJson, ApiPath};
use crate::backend::{FieldError, off_workers};
use crate::error::{AppError, AppResult};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

pub(super) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/metrics", get(metrics::<B>))
        .route("/api/notifications", get(notifications::<B>))
        .route("/api/notifications/{channel}", put(set_notification_events::<B>))
}

/// The content type of the Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: the Prometheus text exposition (behind the token like the API; a separate
/// listener without it is [`crate::metrics_router`]).
async fn metrics<B: Backend>(State(state): State<AppState<B>>) -> AppResult<Response> {
    exposition(&state.backend).await
}

async fn exposition<B: Backend>(backend: &std::sync::Arc<B>) -> AppResult<Response> {
    let text = off_workers(backend, Backend::metrics).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}

/// Only `/metrics`, without access control: for a listener of its own (`[metrics] listen`),
/// bound where only the scraper reaches it.
pub(crate) fn metrics_routes<B: Backend>() -> Router<std::sync::Arc<B>> {
    Router::new()
        .route(
            "/metrics",
            get(|State(backend): State<std::sync::Arc<B>>| async move { exposition(&backend).await }),
        )
        .fallback(|| async { AppError::not_found("only /metrics is served here") })
}

async fn notifications<B: Backend>(State(state): State<AppState<B>>) -> Response {
    axum::Json(json!({ "channels": state.backend.notification_events() })).into_response()
}

/// `PUT /api/notifications/{channel}` with `{"events": ["entry", …]}`: the events it is told.
async fn set_notification_events<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(channel): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> AppResult<Response> {
    let events = match &body {
        Value::Object(o) if o.len() == 1 => o.get("events").and_then(Value::as_array),
        _ => None,
    };
    let Some(events) = events else {
        return Err(AppError::bad_request(
            "the body must be {\"events\": [\"entry\", \"liquidation\", …]} (see GET /api/notifications)",
        ));
    };
    let mut names = Vec::with_capacity(events.len());
    for e in events {
        match e.as_str() {
            Some(name) => names.push(name.to_owned()),
            None => {
                return Err(AppError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: format!("events are names, got {e}"),
                    fields: vec![FieldError { field: "events".into(), message: format!("not a name: {e}") }],
                });
            }
        }
    }
    let channels = state.backend.set_notification_events(channel, names).await?;
    Ok(axum::Json(json!({ "channels": channels })).into_response())
}
