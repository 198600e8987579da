//! A local news feed server on 127.0.0.1 for the news aggregator's tests: each path serves a
//! scripted answer (status, body, validators); every request's headers are recorded; a request
//! carrying the path's current ETag or Last-Modified is answered 304.

#![allow(dead_code, reason = "each test uses a different subset")]

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One path's scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Answer {
    /// 200 with `body` and no validators.
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self { status: 200, content_type, body: body.into(), etag: None, last_modified: None }
    }

    /// With validators, so a conditional request gets 304.
    pub fn validated(mut self, etag: &str, last_modified: &str) -> Self {
        self.etag = Some(etag.into());
        self.last_modified = Some(last_modified.into());
        self
    }

    /// Just a status (and a short body).
    pub fn status(status: u16) -> Self {
        Self { status, ..Self::ok("text/plain", format!("status {status}")) }
    }
}

#[derive(Debug, Default)]
struct Scripted {
    answers: HashMap<String, Answer>,
    requests: Vec<(String, HeaderMap)>,
}

/// The running server.
#[derive(Debug, Clone)]
pub struct FeedServer {
    pub base: String,
    state: Arc<Mutex<Scripted>>,
}

impl FeedServer {
    /// Starts on 127.0.0.1, on a free port, for as long as the runtime lives.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Scripted::default()));
        let app = Router::new().fallback(answer).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    /// The URL of `path` ("/rss.xml").
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `answer` at `path` from now on.
    pub fn set(&self, path: &str, answer: Answer) {
        self.state.lock().expect("lock").answers.insert(path.into(), answer);
    }

    /// The headers of every request to `path` so far, oldest first.
    pub fn requests(&self, path: &str) -> Vec<HeaderMap> {
        let state = self.state.lock().expect("lock");
        state.requests.iter().filter(|(p, _)| p == path).map(|(_, h)| h.clone()).collect()
    }
}

async fn answer(State(state): State<Arc<Mutex<Scripted>>>, uri: Uri, headers: HeaderMap) -> Response {
    let mut state = state.lock().expect("lock");
    state.requests.push((uri.path().to_owned(), headers.clone()));
    let Some(a) = state.answers.get(uri.path()).cloned() else {
        return Response::builder().status(404).body(Body::from("no such feed")).expect("response");
    };
    let header_is = |name: header::HeaderName, want: &Option<String>| {
        want.as_deref().is_some_and(|w| headers.get(name).and_then(|v| v.to_str().ok()) == Some(w))
    };
    let mut response = Response::builder();
    if let Some(etag) = &a.etag {
        response = response.header(header::ETAG, etag);
    }
    if let Some(lm) = &a.last_modified {
        response = response.header(header::LAST_MODIFIED, lm);
    }
    if a.status == 200
        && (header_is(header::IF_NONE_MATCH, &a.etag)
            || header_is(header::IF_MODIFIED_SINCE, &a.last_modified))
    {
        return response.status(StatusCode::NOT_MODIFIED).body(Body::empty()).expect("response");
    }
    response
        .status(a.status)
        .header(header::CONTENT_TYPE, a.content_type)
        .body(Body::from(a.body))
        .expect("response")
}
