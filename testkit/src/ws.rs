//! Websocket channels `/ws/market` and `/ws/user`: subscriptions, book snapshots,
//! `PING`/`PONG`, and delivery of the events the state publishes.

use std::collections::HashSet;

use axum::extract::State as AxumState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::state::{Channel, Out, Shared, Subscriber, lock};

/// `GET /ws/market`.
pub(crate) async fn market(ws: WebSocketUpgrade, AxumState(shared): AxumState<Shared>) -> Response {
    ws.on_upgrade(move |socket| run(socket, shared, false))
}

/// `GET /ws/user`.
pub(crate) async fn user(ws: WebSocketUpgrade, AxumState(shared): AxumState<Shared>) -> Response {
    ws.on_upgrade(move |socket| run(socket, shared, true))
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Applies one client text message to this connection's subscription. Returns `false` when
/// the connection must be closed (bad user credentials).
fn handle_text(shared: &Shared, id: u64, text: &str) -> bool {
    let Ok(msg) = serde_json::from_str::<Value>(text) else {
        return true;
    };
    let mut st = lock(shared);
    let unsubscribe = msg.get("operation").and_then(Value::as_str) == Some("unsubscribe");
    let creds_ok = msg.get("auth").is_some_and(|a| {
        a.get("apiKey").and_then(Value::as_str) == Some(st.creds.api_key.as_str())
            && a.get("secret").and_then(Value::as_str) == Some(st.creds.secret.as_str())
            && a.get("passphrase").and_then(Value::as_str) == Some(st.creds.passphrase.as_str())
    });
    let Some(idx) = st.subscribers.iter().position(|s| s.id == id) else {
        return false;
    };
    let cap = st.ws_token_cap;
    if let Channel::Market(assets) = &mut st.subscribers[idx].channel {
        let ids = strings(&msg, "assets_ids");
        if unsubscribe {
            for a in &ids {
                assets.remove(a);
            }
            return true;
        }
        // One connection carries so many tokens; the exchange silently ignores the rest.
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|a| assets.contains(a) || (assets.len() < cap && assets.insert(a.clone())))
            .collect();
        if msg.get("initial_dump").and_then(Value::as_bool) == Some(false) {
            return true;
        }
        let mut books: Vec<Value> = ids.iter().filter_map(|t| st.book_json(t, true)).collect();
        let text = match books.len() {
            0 => return true,
            1 => books.remove(0).to_string(),
            _ => Value::Array(books).to_string(),
        };
        let _ = st.subscribers[idx].tx.send(Out::Text(text));
        return true;
    }
    if let Channel::User { authed, markets } = &mut st.subscribers[idx].channel {
        let ids = strings(&msg, "markets");
        if unsubscribe {
            for m in &ids {
                markets.remove(m);
            }
            return true;
        }
        if !*authed && !creds_ok {
            return false;
        }
        *authed = true;
        markets.extend(ids);
    }
    true
}

async fn run(mut socket: WebSocket, shared: Shared, user: bool) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut st = lock(&shared);
        let id = st.next_id;
        st.next_id += 1;
        let channel = if user {
            Channel::User { authed: false, markets: HashSet::new() }
        } else {
            Channel::Market(HashSet::new())
        };
        st.subscribers.push(Subscriber { id, channel, tx });
        id
    };
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str() == "PING" {
                        if socket.send(Message::Text("PONG".into())).await.is_err() {
                            break;
                        }
                    } else if !handle_text(&shared, id, text.as_str()) {
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            out = rx.recv() => match out {
                Some(Out::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            },
        }
    }
    lock(&shared).subscribers.retain(|s| s.id != id);
}
