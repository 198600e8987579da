//! The dashboard's static assets, compiled into the binary (no CDN, nothing to deploy beside it):
//! the stylesheet and the one script, each with its content type and an hour of caching.

use crate::{AppState, Backend};
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

const STYLE: &str = include_str!("../assets/style.css");
const SCRIPT: &str = include_str!("../assets/app.js");

/// An hour: long enough to spare requests, short enough that an upgrade shows soon (the
/// security headers layer keeps this instead of its default `no-store`).
const CACHE: &str = "public, max-age=3600";

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().route("/assets/style.css", get(style)).route("/assets/app.js", get(script))
}

async fn style() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, CACHE)], STYLE)
}

async fn script() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, CACHE)], SCRIPT)
}

#[cfg(test)]
mod tests {
    use crate::fake::Fake;
    use crate::fake::http::send;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::sync::Arc;

    #[tokio::test]
    async fn assets_are_public_typed_and_cached() {
        for (path, kind, needle) in
            [("/assets/style.css", "text/css", "@media"), ("/assets/app.js", "text/javascript", "/api/ws")]
        {
            // No cookie, no token: the login page needs them too.
            let request = Request::get(path).body(Body::empty()).unwrap();
            let (status, headers, body) = send(Arc::new(Fake::default()), request).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{path}");
            assert_eq!(headers["cache-control"], "public, max-age=3600", "{path}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert!(body.contains(needle), "{path}");
        }
        let request = Request::get("/assets/nothing.js").body(Body::empty()).unwrap();
        let (status, _, _) = send(Arc::new(Fake::default()), request).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_script_uses_no_library_or_remote_resource() {
        for text in [super::SCRIPT, super::STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://"), "no remote resource");
            assert!(!text.contains("@import"), "nothing imported");
        }
        assert!(super::SCRIPT.contains("'use strict'"));
    }
}
