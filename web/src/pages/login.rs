//! The login page: the access token once, then a session cookie; and logging out.

use crate::auth::{logged_in, logged_out, same_origin};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Form, Query, State};
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
    if !state.access.token_matches(&form.token) {
        return (StatusCode::UNAUTHORIZED, page(next, Some("That is not the access token."))).into_response();
    }
    logged_in(&state.access, next)
}

async fn logout<B: Backend>(State(state): State<AppState<B>>) -> Response {
    logged_out(&state.access)
}
