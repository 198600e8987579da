//! The authenticated user websocket channel: the bot's order changes and trades (to CONFIRMED or
//! FAILED) as they happen, with ping, reconnection with backoff, and a `Reconnected` event after
//! every outage so the engine reconciles what it may have missed.

use super::feed::FeedTimings;
use super::http::L2Credentials;
use super::trading::{Me, UserEvent, parse_user_message};
use crate::exchange::book::TakerFee;
use futures_util::{SinkExt as _, StreamExt as _};
use polymarket_client_sdk_v2::auth::ExposeSecret as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// The running user channel; stopped when dropped.
#[derive(Debug)]
pub struct UserFeed {
    connects: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UserFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UserFeed {
    /// Connects to `{ws_url}/ws/user` with `creds`, publishing to `events`.
    #[must_use]
    pub fn spawn(
        ws_url: &str,
        timings: FeedTimings,
        creds: L2Credentials,
        events: broadcast::Sender<UserEvent>,
    ) -> Self {
        let connects = Arc::new(AtomicU64::new(0));
        let url = format!("{}/ws/user", ws_url.trim_end_matches('/'));
        let task = tokio::spawn(run(url, timings, creds, events, connects.clone()));
        Self { connects, task }
    }

    /// Successful connections so far.
    #[must_use]
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }
}

async fn run(
    url: String,
    timings: FeedTimings,
    creds: L2Credentials,
    events: broadcast::Sender<UserEvent>,
    connects: Arc<AtomicU64>,
) {
    let mut backoff = timings.min_backoff;
    loop {
        match session(&url, timings, &creds, &events, &connects).await {
            Ok(()) => backoff = timings.min_backoff,
            Err(why) => tracing::warn!(%url, %why, "user channel disconnected"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(timings.max_backoff);
    }
}

async fn session(
    url: &str,
    timings: FeedTimings,
    creds: &L2Credentials,
    events: &broadcast::Sender<UserEvent>,
    connects: &AtomicU64,
) -> Result<(), String> {
    let (mut socket, _) = tokio::time::timeout(timings.stale_after, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let subscribe = serde_json::json!({
        "type": "user",
        "markets": [],
        "auth": {
            "apiKey": creds.api_key,
            "secret": creds.secret.expose_secret(),
            "passphrase": creds.passphrase.expose_secret(),
        },
    });
    socket.send(Message::text(subscribe.to_string())).await.map_err(|e| e.to_string())?;
    crate::metrics::get().venue_ws_connects.with_label_values(&["user"]).inc();
    if connects.fetch_add(1, Ordering::Relaxed) > 0 {
        let _ = events.send(UserEvent::Reconnected);
    }
    // Fees are the venue's to compute (`trades`): the channel reports status changes.
    let me = Me { api_key: &creds.api_key, address: &creds.address, fee_of: &|_| TakerFee::default() };
    let mut ping = tokio::time::interval(timings.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            frame = socket.next() => {
                heard = tokio::time::Instant::now();
                match frame {
                    None | Some(Ok(Message::Close(_))) => return Err("closed by the server".into()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(Message::Text(text))) if text.as_str() != "PONG" => {
                        match parse_user_message(text.as_str(), me) {
                            Ok(parsed) => parsed.into_iter().for_each(|e| { let _ = events.send(e); }),
                            Err(e) => tracing::warn!(error = %e, "user channel: frame ignored"),
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > timings.stale_after {
                    return Err("no frame or PONG for too long".into());
                }
                socket.send(Message::text("PING")).await.map_err(|e| e.to_string())?;
            }
        }
    }
}
