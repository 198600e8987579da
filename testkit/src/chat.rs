//! Mock chat services on 127.0.0.1, speaking their real wire formats and as strict as they are:
//! the Telegram Bot API (`sendMessage`, `getUpdates` long polling), a JSON webhook, Discord's
//! execute-webhook endpoint and ntfy publishing. Failures (429 with `retry_after`, 5xx) can be
//! injected per route, and every request is recorded.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Telegram's longest message text.
const TELEGRAM_MAX: usize = 4096;
/// Discord's longest `content`.
const DISCORD_MAX: usize = 2000;

/// One request the mock answered.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub at: Instant,
    /// `telegram:sendMessage`, `telegram:getUpdates`, `webhook`, `discord`, `ntfy`.
    pub route: String,
    pub path: String,
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// A message the bot sent to a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub chat_id: i64,
    pub text: String,
}

#[derive(Default)]
struct Inner {
    requests: Vec<ChatRequest>,
    sent: Vec<Sent>,
    webhooks: Vec<Value>,
    ntfy: Vec<(String, HashMap<String, String>, String)>,
    /// Failures to answer next, by route: (status, how many).
    faults: HashMap<String, VecDeque<u16>>,
    /// Updates not yet confirmed by an offset past them.
    updates: Vec<Value>,
    next_update: i64,
    next_message: i64,
}

/// The mock's configuration: the one bot token it knows, the chats that exist, and ntfy's
/// protected topic and its token.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub bot_token: String,
    pub chats: Vec<i64>,
    pub ntfy_protected: Option<(String, String)>,
}

struct Shared {
    config: ChatConfig,
    inner: Mutex<Inner>,
    arrived: Notify,
}

/// The mock services on one address.
#[derive(Clone)]
pub struct MockChat {
    shared: Arc<Shared>,
    pub addr: std::net::SocketAddr,
}

impl std::fmt::Debug for MockChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockChat").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl MockChat {
    /// Starts the mock on 127.0.0.1 (a free port).
    ///
    /// # Panics
    /// The port cannot be bound.
    pub async fn start(config: ChatConfig) -> Self {
        let shared = Arc::new(Shared { config, inner: Mutex::new(Inner::default()), arrived: Notify::new() });
        let app = Router::new()
            .route("/bot{token}/{method}", post(telegram))
            .route("/hook/{secret}", post(webhook))
            .route("/discord/{id}/{secret}", post(discord))
            .route("/{topic}", post(ntfy))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the mock chat");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("mock chat") });
        Self { shared, addr }
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }

    /// The next `n` requests of `route` are answered with `status` (429 carries Telegram's
    /// `retry_after` of 1 s, or `Retry-After: 1`).
    pub fn fail_next(&self, route: &str, status: u16, n: usize) {
        let mut inner = self.inner();
        let queue = inner.faults.entry(route.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(status, n));
    }

    /// A user writes `text` in `chat_id`: the bot sees it in `getUpdates`.
    pub fn user_says(&self, chat_id: i64, text: &str) {
        let mut inner = self.inner();
        inner.next_update += 1;
        inner.next_message += 1;
        let (update_id, message_id) = (inner.next_update, inner.next_message);
        inner.updates.push(json!({
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "date": 1_764_806_400,
                "chat": { "id": chat_id, "type": "private" },
                "from": { "id": chat_id, "is_bot": false, "first_name": "Operator" },
                "text": text,
            }
        }));
        drop(inner);
        self.shared.arrived.notify_waiters();
    }

    #[must_use]
    pub fn sent(&self) -> Vec<Sent> {
        self.inner().sent.clone()
    }

    #[must_use]
    pub fn webhooks(&self) -> Vec<Value> {
        self.inner().webhooks.clone()
    }

    /// ntfy messages: topic, headers, body.
    #[must_use]
    pub fn ntfy_messages(&self) -> Vec<(String, HashMap<String, String>, String)> {
        self.inner().ntfy.clone()
    }

    #[must_use]
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.inner().requests.clone()
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the body is declared JSON, as these services require for the bodies they read.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn header_map(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or_default().to_owned()))
        .collect()
}

/// Records a request and its answer's status.
fn record(shared: &Shared, route: &str, path: String, headers: &HeaderMap, body: &[u8], status: StatusCode) {
    lock(shared).requests.push(ChatRequest {
        at: Instant::now(),
        route: route.to_owned(),
        path,
        status: status.as_u16(),
        headers: header_map(headers),
        body: String::from_utf8_lossy(body).into_owned(),
    });
}

/// An injected failure for `route`, if one is due.
fn injected(shared: &Shared, route: &str) -> Option<StatusCode> {
    let mut inner = lock(shared);
    let status = inner.faults.get_mut(route)?.pop_front()?;
    StatusCode::from_u16(status).ok()
}

fn telegram_error(status: StatusCode, description: &str) -> Response {
    let mut body = json!({ "ok": false, "error_code": status.as_u16(), "description": description });
    if status == StatusCode::TOO_MANY_REQUESTS {
        body["parameters"] = json!({ "retry_after": 1 });
    }
    (status, axum::Json(body)).into_response()
}

async fn telegram(
    State(shared): State<Arc<Shared>>,
    Path((token, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = format!("telegram:{method}");
    // The path carries the token: record it blanked, as a proxy log would.
    let path = format!("/bot<token>/{method}");
    let answer = telegram_answer(&shared, &route, &token, &method, &headers, &body).await;
    record(&shared, &route, path, &headers, &body, answer.status());
    answer
}

async fn telegram_answer(
    shared: &Arc<Shared>,
    route: &str,
    token: &str,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if token != shared.config.bot_token {
        return telegram_error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if let Some(status) = injected(shared, route) {
        let description = if status == StatusCode::TOO_MANY_REQUESTS {
            "Too Many Requests: retry after 1"
        } else {
            "Bad Gateway"
        };
        return telegram_error(status, description);
    }
    let json_body = is_json(headers);
    let Ok(request) = serde_json::from_slice::<Value>(body)
        .map_err(drop)
        .and_then(|v| if json_body && v.is_object() { Ok(v) } else { Err(()) })
    else {
        return telegram_error(StatusCode::BAD_REQUEST, "Bad Request: the body must be a JSON object");
    };
    match method {
        "sendMessage" => {
            let chat_id = match &request["chat_id"] {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            let Some(chat_id) = chat_id else {
                return telegram_error(StatusCode::BAD_REQUEST, "Bad Request: chat_id is empty");
            };
            if !shared.config.chats.contains(&chat_id) {
                return telegram_error(StatusCode::BAD_REQUEST, "Bad Request: chat not found");
            }
            let text = request["text"].as_str().unwrap_or_default();
            if text.trim().is_empty() {
                return telegram_error(StatusCode::BAD_REQUEST, "Bad Request: message text is empty");
            }
            if text.chars().count() > TELEGRAM_MAX {
                return telegram_error(StatusCode::BAD_REQUEST, "Bad Request: message is too long");
            }
            let mut inner = lock(shared);
            inner.next_message += 1;
            let message_id = inner.next_message;
            inner.sent.push(Sent { chat_id, text: text.to_owned() });
            axum::Json(json!({
                "ok": true,
                "result": {
                    "message_id": message_id,
                    "date": 1_764_806_400,
                    "chat": { "id": chat_id, "type": "private" },
                    "text": text,
                }
            }))
            .into_response()
        }
        "getUpdates" => {
            let offset = request["offset"].as_i64().unwrap_or(0);
            let timeout = request["timeout"].as_u64().unwrap_or(0).min(50);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
            loop {
                let arrived = shared.arrived.notified();
                {
                    let mut inner = lock(shared);
                    // An offset confirms every update before it: they are forgotten.
                    inner.updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    if !inner.updates.is_empty() {
                        return axum::Json(json!({ "ok": true, "result": inner.updates.clone() }))
                            .into_response();
                    }
                }
                if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                    return axum::Json(json!({ "ok": true, "result": [] })).into_response();
                }
            }
        }
        _ => telegram_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn webhook(
    State(shared): State<Arc<Shared>>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = is_json(&headers);
    let answer = if let Some(status) = injected(&shared, "webhook") {
        (status, "upstream failure").into_response()
    } else if !json_body {
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected application/json").into_response()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if v.is_object() => {
                lock(&shared).webhooks.push(v);
                (StatusCode::OK, "ok").into_response()
            }
            _ => (StatusCode::BAD_REQUEST, "expected a JSON object").into_response(),
        }
    };
    record(
        &shared,
        "webhook",
        format!("/hook/{}", "*".repeat(secret.len())),
        &headers,
        &body,
        answer.status(),
    );
    answer
}

async fn discord(
    State(shared): State<Arc<Shared>>,
    Path((id, secret)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = |status: StatusCode, message: &str, code: u32| {
        (status, axum::Json(json!({ "message": message, "code": code }))).into_response()
    };
    let answer = if let Some(status) = injected(&shared, "discord") {
        if status == StatusCode::TOO_MANY_REQUESTS {
            let body =
                json!({ "message": "You are being rate limited.", "retry_after": 1.0, "global": false });
            (status, [("retry-after", "1")], axum::Json(body)).into_response()
        } else {
            (status, "upstream failure").into_response()
        }
    } else if !is_json(&headers) {
        // Discord reads a form or multipart body otherwise, where a JSON text is no message.
        error(StatusCode::BAD_REQUEST, "Cannot send an empty message", 50006)
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => {
                let content = v["content"].as_str().unwrap_or_default();
                if content.trim().is_empty() && v["embeds"].as_array().is_none_or(Vec::is_empty) {
                    error(StatusCode::BAD_REQUEST, "Cannot send an empty message", 50006)
                } else if content.chars().count() > DISCORD_MAX {
                    error(
                        StatusCode::BAD_REQUEST,
                        "Invalid Form Body: content: Must be 2000 or fewer in length.",
                        50035,
                    )
                } else {
                    lock(&shared).webhooks.push(v);
                    StatusCode::NO_CONTENT.into_response()
                }
            }
            Err(_) => error(StatusCode::BAD_REQUEST, "The request body contains invalid JSON.", 50109),
        }
    };
    let path = format!("/discord/{id}/{}", "*".repeat(secret.len()));
    record(&shared, "discord", path, &headers, &body, answer.status());
    answer
}

async fn ntfy(
    State(shared): State<Arc<Shared>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = header_map(&headers);
    let error = |status: StatusCode, code: u32, message: &str| {
        (status, axum::Json(json!({ "code": code, "http": status.as_u16(), "error": message })))
            .into_response()
    };
    let priority = match h.get("priority").map(String::as_str) {
        None | Some("3" | "default") => Some(3),
        Some("1" | "min") => Some(1),
        Some("2" | "low") => Some(2),
        Some("4" | "high") => Some(4),
        Some("5" | "max" | "urgent") => Some(5),
        Some(_) => None,
    };
    let allowed = match &shared.config.ntfy_protected {
        Some((protected, token)) if *protected == topic => {
            h.get("authorization").is_some_and(|a| *a == format!("Bearer {token}"))
        }
        _ => true,
    };
    let answer = if let Some(status) = injected(&shared, "ntfy") {
        error(status, 50001, "upstream failure")
    } else if !allowed {
        error(StatusCode::FORBIDDEN, 40301, "forbidden")
    } else if let Some(priority) = priority {
        let message = String::from_utf8_lossy(&body).into_owned();
        lock(&shared).ntfy.push((topic.clone(), h.clone(), message.clone()));
        axum::Json(json!({
            "id": "mOck1d",
            "time": 1_764_806_400,
            "expires": 1_764_849_600,
            "event": "message",
            "topic": topic,
            "message": message,
            "title": h.get("title"),
            "priority": priority,
            "tags": h.get("tags").map(|t| t.split(',').collect::<Vec<_>>()),
        }))
        .into_response()
    } else {
        error(StatusCode::BAD_REQUEST, 40007, "invalid request: priority invalid")
    };
    record(&shared, "ntfy", format!("/{topic}"), &headers, &body, answer.status());
    answer
}
