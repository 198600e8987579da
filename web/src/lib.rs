//! Dashboard and JSON API of equilibrage (axum + maud), over a [`Backend`] the host implements,
//! so this crate never depends on the host.

#![deny(unsafe_code)]

mod api;
#[cfg(test)]
mod api_tests;
mod assets;
mod auth;
mod backend;
mod charts;
mod csv;
mod error;
#[cfg(test)]
mod fake;
mod lab;
mod limit;
mod live;
mod model;
mod pages;
mod query;

pub use auth::{Access, CSP, CSRF_FIELD, CSRF_HEADER, Identity, MAX_BODY, SESSION_COOKIE};
pub use backend::{Backend, BackendError, BackendResult, FieldError};
pub use error::AppError;
pub use lab::*;
pub use model::*;
pub use query::{HistoryQuery, utc_day, utc_time};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use std::sync::Arc;

/// What every handler gets: the bot and the access rules.
pub(crate) struct AppState<B> {
    pub backend: Arc<B>,
    pub access: Arc<Access>,
}

impl<B> Clone for AppState<B> {
    fn clone(&self) -> Self {
        Self { backend: Arc::clone(&self.backend), access: Arc::clone(&self.access) }
    }
}

/// `/metrics` alone, without access control, for a listener of its own that only the scraper
/// reaches (`[metrics] listen`).
pub fn metrics_router<B: Backend>(backend: Arc<B>) -> Router {
    api::operator::metrics_routes::<B>()
        .with_state(backend)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(auth::security_headers))
}

/// Every page and API route, behind access control and with the security headers.
pub fn router<B: Backend>(backend: B, access: Access) -> Router {
    let access = Arc::new(access);
    let state = AppState { backend: Arc::new(backend), access: Arc::clone(&access) };
    Router::new()
        .merge(pages::routes::<B>())
        .merge(api::routes::<B>())
        .merge(lab::routes::<B>())
        .merge(live::routes::<B>())
        .merge(assets::routes::<B>())
        .with_state(state)
        .layer(middleware::from_fn_with_state(Arc::clone(&access), auth::require_access))
        .layer(middleware::from_fn_with_state(access, auth::require_known_host))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(auth::security_headers))
}
