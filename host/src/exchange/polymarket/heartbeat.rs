//! Heartbeats: without them the exchange cancels every resting order of the account. A stale id
//! is resynchronised at once, and only heartbeats that really stop raise the alarm.

use super::http::{Call, Http, L2Credentials, Request, Route, classify};
use super::live::Health;
use crate::exchange::error::ExchangeError;
use reqwest::{Method, StatusCode};
use std::sync::Mutex;

/// Stale-id answers one beat follows before it counts as failed.
const RESYNCS_PER_BEAT: usize = 3;

/// Consecutive failed heartbeats from which the exchange's deadline (about 10 s, two beats at
/// the default 5 s) is at risk, logged as errors; a single miss is a warning.
const ALARM_AFTER: u32 = 2;

/// What one heartbeat got.
#[derive(Debug)]
enum Beat {
    /// Accepted; the next one carries this id.
    Accepted(Option<String>),
    /// Refused because the id sent is stale: the answer names the one to use.
    Stale(String),
    Failed(ExchangeError),
}

/// The account's heartbeat chain.
#[derive(Debug, Default)]
pub(super) struct Chain {
    id: Option<String>,
}

impl Chain {
    /// Sends one heartbeat, and at once again with the exchange's id whenever the one sent was
    /// stale (the chain may move on while an answer travels), so a resynchronisation costs no
    /// missed beat. Outcomes go to `health`.
    pub(super) async fn beat(
        &mut self,
        http: &Http,
        clob: &str,
        creds: &L2Credentials,
        health: &Mutex<Health>,
    ) {
        let mut outcome = send(http, clob, creds, self.id.as_deref()).await;
        for _ in 0..RESYNCS_PER_BEAT {
            let Beat::Stale(current) = outcome else { break };
            tracing::info!("heartbeat id was stale; continuing with the exchange's");
            lock(health).heartbeat_resyncs += 1;
            self.id = Some(current);
            outcome = send(http, clob, creds, self.id.as_deref()).await;
        }
        let mut health = lock(health);
        let error = match outcome {
            Beat::Accepted(next) => {
                self.id = next;
                health.heartbeats_ok += 1;
                health.heartbeat_failures = 0;
                return;
            }
            Beat::Stale(current) => {
                // Refused again and again: start over with the last id given; this beat is lost.
                self.id = Some(current);
                format!("the exchange refused {} heartbeat ids in a row", RESYNCS_PER_BEAT + 1)
            }
            Beat::Failed(e) => e.to_string(),
        };
        health.heartbeat_failures += 1;
        crate::metrics::get().venue_heartbeat_failures.inc();
        health.last_error = Some(format!("heartbeat: {error}"));
        let failures = health.heartbeat_failures;
        if failures >= ALARM_AFTER {
            tracing::error!(failures, %error,
                "heartbeats have stopped: the exchange cancels the account's resting orders");
        } else {
            tracing::warn!(failures, %error, "heartbeat failed; retrying at the next beat");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn send(http: &Http, clob: &str, creds: &L2Credentials, id: Option<&str>) -> Beat {
    let request = Request {
        method: Method::POST,
        base: clob,
        path: "/v1/heartbeats",
        query: &[],
        body: Some(serde_json::json!({ "heartbeat_id": id }).to_string()),
        route: Route::ClobGeneral,
        call: Call::Read,
    };
    let (status, body) = match http.answer(&request, Some(creds)).await {
        Ok(answer) => answer,
        Err(e) => return Beat::Failed(e),
    };
    read(status, &body)
}

/// The meaning of a heartbeat answer.
fn read(status: StatusCode, body: &str) -> Beat {
    #[derive(serde::Deserialize)]
    struct Answer {
        heartbeat_id: Option<String>,
    }
    let answer = serde_json::from_str::<Answer>(body);
    match (status, answer) {
        (s, Ok(a)) if s.is_success() => Beat::Accepted(a.heartbeat_id),
        (s, Err(_)) if s.is_success() => {
            Beat::Failed(ExchangeError::Malformed { reason: format!("heartbeat answer {body:?}") })
        }
        (StatusCode::BAD_REQUEST, Ok(Answer { heartbeat_id: Some(current) })) => Beat::Stale(current),
        (status, _) => Beat::Failed(classify(Call::Read, "POST /v1/heartbeats", status, None, body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_the_exchange_means_them() {
        let ok = read(StatusCode::OK, r#"{"heartbeat_id":"b","error":null}"#);
        assert!(matches!(ok, Beat::Accepted(Some(ref id)) if id == "b"), "{ok:?}");
        let stale = read(StatusCode::BAD_REQUEST, r#"{"heartbeat_id":"c","error":"Invalid Heartbeat ID"}"#);
        assert!(matches!(stale, Beat::Stale(ref id) if id == "c"), "{stale:?}");
        // A 400 without an id is a plain refusal; a 2xx that is not JSON is malformed.
        let refused = read(StatusCode::BAD_REQUEST, r#"{"error":"invalid JSON body"}"#);
        assert!(matches!(refused, Beat::Failed(ExchangeError::Rejected { .. })), "{refused:?}");
        let throttled = read(StatusCode::TOO_MANY_REQUESTS, r#"{"error":"Too Many Requests"}"#);
        assert!(matches!(throttled, Beat::Failed(ExchangeError::Retryable { .. })), "{throttled:?}");
        let garbled = read(StatusCode::OK, "<html>");
        assert!(matches!(garbled, Beat::Failed(ExchangeError::Malformed { .. })), "{garbled:?}");
    }
}
