//! The server-rendered pages (maud): Dashboard, Scanner, History, Settings, Plugins, and login;
//! their form handlers and the `/partials/*` fragments app.js swaps in live.

mod dashboard;
mod history;
pub(crate) mod layout;
mod login;
mod notifications;
mod plugins;
mod scanner;
mod settings;
mod settlement;
mod shadows;
mod versions;

use crate::{AppState, Backend};
use axum::Router;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .merge(login::routes::<B>())
        .merge(dashboard::routes::<B>())
        .merge(scanner::routes::<B>())
        .merge(history::routes::<B>())
        .merge(settings::routes::<B>())
        .merge(plugins::routes::<B>())
}

/// What the page tests share: requests from a logged-in browser and the checks every page must
/// pass (escaped hostile text, nothing the CSP would block).
#[cfg(test)]
pub(crate) mod test_util {
    use crate::fake::http::{browser, send, session};
    use crate::fake::{Fake, HOSTILE};
    use axum::body::Body;
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use std::sync::Arc;

    /// GET `path` as a logged-in browser.
    pub(crate) async fn get(fake: Arc<Fake>, path: &str) -> (StatusCode, HeaderMap, String) {
        send(fake, browser("GET", path, false).body(Body::empty()).unwrap()).await
    }

    /// POST `fields` as a urlencoded form, the CSRF token in `_csrf` as a page's form sends it.
    pub(crate) async fn post_form(
        fake: Arc<Fake>,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let (cookie, csrf) = session();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("_csrf", &csrf);
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::COOKIE, cookie)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "http://127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.finish()))
            .unwrap();
        send(fake, request).await
    }

    /// The hostile text is shown escaped, and nothing a strict CSP blocks is in the page.
    pub(crate) fn assert_safe(body: &str) {
        assert!(!body.contains(HOSTILE), "raw hostile text");
        assert!(!body.contains("<b>x</b>"), "raw hostile plugin name");
        assert!(!body.contains("style=\""), "inline style");
        for handler in ["onclick", "onload", "onerror", "onsubmit", "oninput", "onchange"] {
            assert!(!body.contains(handler), "inline handler {handler}");
        }
        for (at, _) in body.match_indices("<script") {
            let tag = &body[at..at + body[at..].find('>').unwrap()];
            assert!(tag.contains(" src=\"/assets/"), "inline script: {tag}");
        }
    }

    /// The hostile text appears, escaped.
    pub(crate) fn assert_escaped(body: &str) {
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "escaped hostile text");
        assert_safe(body);
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{assert_safe, get};
    use crate::fake::Fake;
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn every_page_has_the_common_frame() {
        let fake = Arc::new(Fake::default());
        let (_, csrf) = crate::fake::http::session();
        for path in ["/", "/scanner", "/history", "/settings", "/plugins"] {
            let (status, headers, body) = get(Arc::clone(&fake), path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
            assert_safe(&body);
            for needle in [
                "<meta name=\"csrf-token\" content=\"",
                "<link rel=\"stylesheet\" href=\"/assets/style.css\">",
                "<script src=\"/assets/app.js\" defer></script>",
                "<span id=\"live-status\" data-state=\"offline\"",
                "action=\"/logout\"",
                "href=\"/scanner\"",
                "href=\"/history\"",
                "href=\"/settings\"",
                "href=\"/plugins\"",
                "aria-current=\"page\"",
            ] {
                assert!(body.contains(needle), "{path} lacks {needle}");
            }
            // The session differs per request, so the token does too; its shape is what counts.
            assert!(body.contains("name=\"_csrf\" value=\"") && csrf.len() == 64, "{path}");
        }
    }

    #[tokio::test]
    async fn pages_need_a_login() {
        let request = axum::http::Request::get("/settings").body(axum::body::Body::empty()).unwrap();
        let (status, headers, _) = crate::fake::http::send(Arc::new(Fake::default()), request).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(headers["location"].to_str().unwrap().starts_with("/login"));
    }
}
