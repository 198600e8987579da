//! Test helpers: a router over a fake, and requests with and without credentials.

use super::Fake;
use crate::limit::ManualClock;
use crate::{Access, router};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use std::sync::Arc;
use tower::ServiceExt as _;

pub(crate) const TOKEN: &str = "test-access-token";

pub(crate) fn access() -> Access {
    Access::new(Access::hash_token(TOKEN), [9; 32])
}

/// A logged-in browser session: (cookie header value, CSRF token).
pub(crate) fn session() -> (String, String) {
    let a = access();
    let s = a.new_session();
    (format!("{}={s}", crate::SESSION_COOKIE), a.csrf_for(&s))
}

/// Sends `request` through a fresh router over `fake`; answers status, headers and body.
pub(crate) async fn send(
    fake: Arc<Fake>,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    send_to(&router(fake, access()), request).await
}

/// A router over `fake` whose budget of wrong tokens runs on `clock`: send several requests
/// through it with [`send_to`] and they share the budget.
pub(crate) fn router_on(fake: Arc<Fake>, clock: &ManualClock) -> Router {
    router(fake, access().with_clock(clock.clock()))
}

/// Sends `request` through (a clone of) `app`, so its state stays shared; answers status,
/// headers and body.
pub(crate) async fn send_to(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A request builder with the bearer token set.
pub(crate) fn authed(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
}

/// A request builder from a logged-in browser: session cookie, and the CSRF header when
/// `csrf` is true.
pub(crate) fn browser(method: &str, uri: &str, csrf: bool) -> axum::http::request::Builder {
    let (cookie, token) = session();
    let b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, cookie)
        .header(header::HOST, "127.0.0.1:8080");
    if csrf { b.header(crate::CSRF_HEADER, token) } else { b }
}
