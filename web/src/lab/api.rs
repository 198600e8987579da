//! `/api/lab`: the Lab as JSON, behind the same token as the rest of the API.

use super::call;
use super::model::LabJobForm;
use crate::api::{ApiJson, ApiPath};
use crate::error::{AppError, AppResult};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/api/lab", get(overview::<B>))
        .route("/api/lab/jobs", axum::routing::post(start::<B>))
        .route(
            "/api/lab/plugins/{file}",
            axum::routing::put(upload::<B>).layer(axum::extract::DefaultBodyLimit::max(MAX_PLUGIN_BYTES)),
        )
        .route("/api/lab/jobs/{id}", get(job::<B>))
        .route("/api/lab/runs/{id}", get(run::<B>))
        .route("/api/lab/comparisons/{id}", get(comparison::<B>))
        .route("/api/lab/sweeps/{id}", get(sweep::<B>))
        .route("/api/lab/runs/{run}/positions/{id}", get(run_position::<B>))
        .route("/api/lab/runs/{id}/calibration", get(calibration::<B>))
        .route("/api/lab/live/calibration", get(live_calibration::<B>))
        .route("/api/positions/{id}/detail", get(live_position::<B>))
}

/// The largest upload read; the host refuses files over the bot's plugin size limit itself.
const MAX_PLUGIN_BYTES: usize = 64 << 20;

/// A candidate plugin, the component's bytes as the body (`PUT`, any content type).
async fn upload<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(file): ApiPath<String>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let plugin = call(&state.backend, move |lab| lab.upload_plugin(&file, &body)).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "plugin": plugin }))).into_response())
}

fn id_of(text: &str) -> AppResult<u64> {
    text.parse().map_err(|_| AppError::bad_request(format!("{text:?} is not an id (a whole number)")))
}

async fn overview<B: Backend>(State(state): State<AppState<B>>) -> AppResult<Response> {
    let o = call(&state.backend, |lab| lab.overview()).await?;
    Ok(axum::Json(o).into_response())
}

async fn start<B: Backend>(
    State(state): State<AppState<B>>,
    ApiJson(form): ApiJson<LabJobForm>,
) -> AppResult<Response> {
    let job = call(&state.backend, move |lab| lab.start(&form)).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "job": job }))).into_response())
}

async fn job<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let id = id_of(&id)?;
    let job = call(&state.backend, move |lab| lab.job(id)).await?;
    Ok(axum::Json(json!({ "job": job })).into_response())
}

async fn run<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let id = id_of(&id)?;
    Ok(axum::Json(call(&state.backend, move |lab| lab.run(id)).await?).into_response())
}

async fn calibration<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let id = id_of(&id)?;
    Ok(axum::Json(call(&state.backend, move |lab| lab.calibration(id)).await?).into_response())
}

async fn live_calibration<B: Backend>(State(state): State<AppState<B>>) -> AppResult<Response> {
    Ok(axum::Json(call(&state.backend, |lab| lab.live_calibration()).await?).into_response())
}

async fn comparison<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let id = id_of(&id)?;
    Ok(axum::Json(call(&state.backend, move |lab| lab.comparison(id)).await?).into_response())
}

async fn sweep<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let id = id_of(&id)?;
    Ok(axum::Json(call(&state.backend, move |lab| lab.sweep(id)).await?).into_response())
}

async fn run_position<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath((run, id)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let (run, id) = (id_of(&run)?, id_of(&id)?);
    Ok(axum::Json(call(&state.backend, move |lab| lab.position(Some(run), id)).await?).into_response())
}

async fn live_position<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let id = id_of(&id)?;
    Ok(axum::Json(call(&state.backend, move |lab| lab.position(None, id)).await?).into_response())
}
