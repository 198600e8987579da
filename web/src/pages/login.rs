//! The login page: the access token once (wrong ones are rate-limited), then a session cookie;
//! and logging out.

use crate::auth::{logged_in, logged_out, same_origin};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().route("/login", get(login_page).post(login::<B>)).route("/logout", post(logout::<B>))
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

fn page(next: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "equilibrage · log in" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body class="login" {
                main {
                    h1 { "equilibrage" }
                    form id="login-form" method="post" action="/login" {
                        label for="token" { "Access token" }
                        input id="token" name="token" type="password" autocomplete="current-password" required autofocus;
                        input type="hidden" name="next" value=(next);
                        @if let Some(e) = error { p class="error" role="alert" { (e) } }
                        button type="submit" { "Log in" }
                    }
                    p class="help" {
                        "The token was printed in the terminal at the first start, or is the value of "
                        code { "EQUILIBRAGE_TOKEN" } ". Lost it? Run " code { "equilibrage token reset" } "."
                    }
                }
            }
        }
    }
}

async fn login_page(Query(q): Query<Next>) -> Markup {
    page(q.next.as_deref().unwrap_or("/"), None)
}

async fn login<B: Backend>(
    State(state): State<AppState<B>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = form.next.as_deref().unwrap_or("/");
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, page(next, Some("Cross-origin login refused."))).into_response();
    }
    match state.access.check_token(&form.token) {
        Ok(true) => logged_in(&state.access, next),
        Ok(false) => {
            (StatusCode::UNAUTHORIZED, page(next, Some("That is not the access token."))).into_response()
        }
        Err(limited) => {
            let mut message = limited.message() + ".";
            message[..1].make_ascii_uppercase();
            let retry_after = [(RETRY_AFTER, limited.secs().to_string())];
            (StatusCode::TOO_MANY_REQUESTS, retry_after, page(next, Some(&message))).into_response()
        }
    }
}

/// Logs out: the browser's cookie is cleared, and the session is revoked on the server so a
/// copy of the cookie is refused too.
async fn logout<B: Backend>(State(state): State<AppState<B>>, headers: HeaderMap) -> Response {
    if let Some(session) = crate::auth::session_of(&headers) {
        state.access.revoke(session);
    }
    logged_out(&state.access)
}

#[cfg(test)]
mod tests {
    use crate::fake::Fake;
    use crate::fake::http::{TOKEN, router_on, send_to};
    use crate::limit::{FAILURE_BURST, FAILURE_REFILL, ManualClock};
    use axum::Router;
    use axum::body::Body;
    use axum::http::header::{
        CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, LOCATION, ORIGIN, RETRY_AFTER, SET_COOKIE,
        X_FRAME_OPTIONS,
    };
    use axum::http::{HeaderMap, Request, StatusCode};
    use std::sync::Arc;
    use std::time::Duration;

    fn app() -> (ManualClock, Router) {
        let clock = ManualClock::new();
        let app = router_on(Arc::new(Fake::default()), &clock);
        (clock, app)
    }

    /// POSTs the login form from our own origin, as the page does.
    async fn log_in(app: &Router, token: &str) -> (StatusCode, HeaderMap, String) {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("next", "/history")
            .finish();
        let request = Request::post("/login")
            .header(HOST, "127.0.0.1:8080")
            .header(ORIGIN, "http://127.0.0.1:8080")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        send_to(app, request).await
    }

    fn assert_logged_in((status, headers, _): &(StatusCode, HeaderMap, String)) {
        assert_eq!(*status, StatusCode::SEE_OTHER);
        assert_eq!(headers[LOCATION], "/history");
        assert!(headers[SET_COOKIE].to_str().unwrap().starts_with("eq_session="));
    }

    async fn fail(app: &Router) {
        let (status, headers, body) = log_in(app, "not-the-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.get(SET_COOKIE).is_none());
        assert!(body.contains("That is not the access token."), "{body}");
    }

    #[tokio::test]
    async fn logging_out_revokes_the_session_on_the_server_and_after_a_restart() {
        use crate::fake::http::access;
        let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = {
            let kept = Arc::clone(&kept);
            move |list| *kept.lock().unwrap() = list
        };
        let app = crate::router(Arc::new(Fake::default()), access().with_revoked(Vec::new(), keep.clone()));
        let (_, headers, _) = log_in(&app, TOKEN).await;
        let cookie = headers[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
        let session = cookie.trim_start_matches("eq_session=").to_owned();
        let get = |cookie: &str| {
            Request::get("/")
                .header(HOST, "127.0.0.1:8080")
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(send_to(&app, get(&cookie)).await.0, StatusCode::OK, "logged in");

        let csrf = access().csrf_for(&session);
        let logout = Request::post("/logout")
            .header(HOST, "127.0.0.1:8080")
            .header(ORIGIN, "http://127.0.0.1:8080")
            .header("cookie", &cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("_csrf={csrf}")))
            .unwrap();
        let (status, headers, _) = send_to(&app, logout).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"), "the browser forgets it");
        // A copy of the cookie kept elsewhere is refused from now on.
        let (status, headers, _) = send_to(&app, get(&cookie)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(headers[LOCATION].to_str().unwrap().starts_with("/login"));
        let list = kept.lock().unwrap().clone();
        assert_eq!(list.len(), 1, "the revocation is handed over to be kept");
        // After a restart with the kept list, still refused; a fresh login works.
        let restarted = crate::router(Arc::new(Fake::default()), access().with_revoked(list, keep));
        assert_eq!(send_to(&restarted, get(&cookie)).await.0, StatusCode::SEE_OTHER);
        let (_, headers, _) = log_in(&restarted, TOKEN).await;
        let fresh = headers[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
        assert_eq!(send_to(&restarted, get(&fresh)).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn wrong_logins_are_limited_even_for_the_right_token() {
        let (clock, app) = app();
        for _ in 0..FAILURE_BURST {
            fail(&app).await;
        }
        let (status, headers, body) = log_in(&app, TOKEN).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the right token is not even checked");
        assert_eq!(headers[RETRY_AFTER], "6");
        assert!(headers.get(SET_COOKIE).is_none());
        assert!(body.contains("Too many failed attempts; try again in 6 seconds."), "{body}");
        assert!(body.contains("id=\"login-form\"") && body.contains("value=\"/history\""), "the form again");
        assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert_eq!(headers[CONTENT_SECURITY_POLICY], crate::CSP);
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY");

        clock.advance(Duration::from_millis(2500));
        let (status, headers, body) = log_in(&app, TOKEN).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[RETRY_AFTER], "4", "3.5 s left, rounded up");
        assert!(body.contains("try again in 4 seconds."), "{body}");

        clock.advance(FAILURE_REFILL - Duration::from_millis(2500));
        assert_logged_in(&log_in(&app, TOKEN).await);
        fail(&app).await;
        let (status, _, _) = log_in(&app, TOKEN).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "one failure was regained, and spent");

        clock.advance(FAILURE_REFILL * FAILURE_BURST);
        for _ in 0..FAILURE_BURST {
            fail(&app).await;
        }
    }

    #[tokio::test]
    async fn a_rebinding_page_is_refused_before_it_can_spend_the_budget_of_failed_logins() {
        let (_, app) = app();
        for host in ["evil.test:8080", "evil.test", "127.0.0.1.evil.test:8080", "localhost.evil.test"] {
            for _ in 0..2 * FAILURE_BURST {
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("token", "guess")
                    .append_pair("next", "/")
                    .finish();
                let request = Request::post("/login")
                    .header(HOST, host)
                    .header(ORIGIN, format!("http://{host}"))
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form))
                    .unwrap();
                let (status, _, body) = send_to(&app, request).await;
                assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{host}");
                assert!(body.contains("`[web] hosts`"), "{body}");
            }
            let page = Request::get("/").header(HOST, host).body(Body::empty()).unwrap();
            assert_eq!(
                send_to(&app, page).await.0,
                StatusCode::MISDIRECTED_REQUEST,
                "{host}: no page either"
            );
        }
        // The operator's own login still works: nothing was spent.
        assert_logged_in(&log_in(&app, TOKEN).await);
    }

    #[test]
    fn the_dashboard_answers_to_ip_addresses_localhost_and_configured_names() {
        let access = crate::fake::http::access().with_hosts(["Bot.Home.Lan".to_owned()]);
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "192.168.1.20:80",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST",
            "bot.home.lan:443",
            "bot.home.lan",
        ] {
            assert!(access.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.test",
            "bot.home.lan.evil.test",
            "127.0.0.1:80:80",
            "[::1",
            "localhost:abc",
            "",
            "bot.home.lan:",
        ] {
            assert!(!access.host_allowed(refused), "{refused}");
        }
    }

    #[tokio::test]
    async fn right_logins_cost_nothing() {
        let (_, app) = app();
        for _ in 0..3 * FAILURE_BURST {
            assert_logged_in(&log_in(&app, TOKEN).await);
        }
        for _ in 1..FAILURE_BURST {
            fail(&app).await;
            assert_logged_in(&log_in(&app, TOKEN).await);
        }
        fail(&app).await;
        let (status, _, _) = log_in(&app, TOKEN).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn cross_origin_logins_spend_no_budget() {
        let (_, app) = app();
        for _ in 0..2 * FAILURE_BURST {
            let request = Request::post("/login")
                .header(HOST, "127.0.0.1:8080")
                .header(ORIGIN, "http://evil.example")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("token=guess"))
                .unwrap();
            assert_eq!(send_to(&app, request).await.0, StatusCode::FORBIDDEN);
        }
        assert_logged_in(&log_in(&app, TOKEN).await);
    }
}
