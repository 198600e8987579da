//! The live WebSocket `/api/ws`: clients subscribe to topics and receive the host's events as
//! they happen, so the dashboard refreshes only what changed.

use crate::api::clip;
use crate::error::AppError;
use crate::model::{LiveEvent, Topic};
use crate::{AppState, Backend};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::SinkExt as _;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior, interval_at};

/// How often the server pings: keeps proxies from closing an idle connection and finds dead
/// clients.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client silent (not even a pong) for this many pings is gone.
const SILENT_PINGS: u32 = 3;
/// Client messages are a few words; anything larger is not ours.
const MAX_CLIENT_MESSAGE: usize = 4096;
/// Close code "going away": the server is stopping or gave up on the client.
const GOING_AWAY: u16 = 1001;

/// Every topic, in the order acks list them.
const TOPICS: [Topic; 4] = [Topic::Positions, Topic::Opportunities, Topic::Plugins, Topic::System];

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().route("/api/ws", get(upgrade::<B>))
}

/// The handshake (access was checked by the middleware, Origin included for sessions).
async fn upgrade<B: Backend>(
    State(state): State<AppState<B>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return AppError::new(rejection.status(), rejection.body_text()).into_response(),
    };
    let backend = Arc::clone(&state.backend);
    ws.max_message_size(MAX_CLIENT_MESSAGE).max_frame_size(MAX_CLIENT_MESSAGE).on_upgrade(move |socket| {
        // Subscribed before the first client message is read: whatever happens after an ack is
        // in this receiver.
        let events = backend.subscribe();
        serve(socket, events, PING_EVERY)
    })
}

/// The topics a client subscribed to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Topics([bool; TOPICS.len()]);

impl Topics {
    fn index(topic: Topic) -> usize {
        TOPICS.iter().position(|t| *t == topic).unwrap_or_default()
    }

    fn has(self, topic: Topic) -> bool {
        self.0[Self::index(topic)]
    }

    fn set(&mut self, topic: Topic, on: bool) {
        self.0[Self::index(topic)] = on;
    }

    /// `{"type":"subscribed","topics":[…]}`: the whole set after the change.
    fn ack(self) -> String {
        let names: Vec<Topic> = TOPICS.into_iter().filter(|t| self.has(*t)).collect();
        json!({ "type": "subscribed", "topics": names }).to_string()
    }
}

/// A client message: `subscribe_<topic>` or `unsubscribe_<topic>`, as bare text, a JSON string,
/// or `{"type": "…"}`. Answers whether to subscribe and to what, or why not.
fn command(text: &str) -> Result<(bool, Topic), String> {
    let text = text.trim();
    let name = if text.starts_with('{') || text.starts_with('"') {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the message is not valid JSON: {e}"))?;
        match value {
            serde_json::Value::String(name) => name,
            serde_json::Value::Object(mut object) => match object.remove("type") {
                Some(serde_json::Value::String(name)) => name,
                _ => return Err("the message has no string \"type\"".into()),
            },
            _ => return Err("the message is not understood".into()),
        }
    } else {
        text.to_owned()
    };
    let (on, topic) = if let Some(topic) = name.strip_prefix("subscribe_") {
        (true, topic)
    } else if let Some(topic) = name.strip_prefix("unsubscribe_") {
        (false, topic)
    } else {
        return Err(format!(
            "unknown message {:?}: send subscribe_<topic> or unsubscribe_<topic>, topic one of positions, \
             opportunities, plugins, system",
            clip(&name)
        ));
    };
    let topic = serde_json::from_value(json!(topic)).map_err(|_| {
        format!("unknown topic {:?}: one of positions, opportunities, plugins, system", clip(topic))
    })?;
    Ok((on, topic))
}

fn error_message(message: &str) -> String {
    json!({ "type": "error", "message": message }).to_string()
}

/// One client's connection until it closes, breaks, goes silent or the event source ends.
pub(crate) async fn serve(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<LiveEvent>,
    ping_every: Duration,
) {
    let mut topics = Topics::default();
    let mut ping = interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        let outgoing: Option<Utf8Bytes> = tokio::select! {
            message = socket.recv() => {
                // None or an error: the connection is gone or broke a protocol rule (too large).
                let Some(Ok(message)) = message else { return };
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => Some(match command(text.as_str()) {
                        Ok((on, topic)) => {
                            topics.set(topic, on);
                            topics.ack().into()
                        }
                        Err(why) => error_message(&why).into(),
                    }),
                    Message::Binary(_) => {
                        Some(error_message("binary messages are not understood; send text such as subscribe_positions").into())
                    }
                    Message::Close(_) => {
                        // Answers the close handshake, then the connection ends.
                        let _ = socket.close().await;
                        return;
                    }
                    Message::Ping(_) | Message::Pong(_) => None,
                }
            }
            event = events.recv() => match event {
                Ok(event) => topics.has(event.topic).then(|| Utf8Bytes::from(&*event.json)),
                Err(RecvError::Lagged(missed)) => Some(json!({ "type": "lagged", "missed": missed }).to_string().into()),
                Err(RecvError::Closed) => {
                    close(&mut socket, "the bot is stopping").await;
                    return;
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() >= ping_every * SILENT_PINGS {
                    close(&mut socket, "no answer to pings").await;
                    return;
                }
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
                None
            }
        };
        if let Some(text) = outgoing
            && socket.send(Message::Text(text)).await.is_err()
        {
            return;
        }
    }
}

async fn close(socket: &mut WebSocket, reason: &'static str) {
    let frame = CloseFrame { code: GOING_AWAY, reason: Utf8Bytes::from_static(reason) };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Fake;
    use crate::fake::http::{TOKEN, access, session};
    use futures_util::StreamExt as _;
    use std::net::SocketAddr;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

    #[test]
    fn commands_parse_in_every_form() {
        assert_eq!(command("subscribe_positions"), Ok((true, Topic::Positions)));
        assert_eq!(command(" {\"type\":\"unsubscribe_plugins\"} "), Ok((false, Topic::Plugins)));
        assert_eq!(command("\"subscribe_system\""), Ok((true, Topic::System)));
        assert_eq!(
            command("{\"type\":\"subscribe_opportunities\",\"x\":1}"),
            Ok((true, Topic::Opportunities))
        );
        for bad in ["", "hello", "subscribe_weather", "{\"type\":", "{\"type\":5}", "[1]", "subscribe_"] {
            assert!(command(bad).is_err(), "{bad:?}");
        }
        let mut topics = Topics::default();
        topics.set(Topic::System, true);
        topics.set(Topic::Positions, true);
        let ack: serde_json::Value = serde_json::from_str(&topics.ack()).unwrap();
        assert_eq!(ack, json!({ "type": "subscribed", "topics": ["positions", "system"] }));
    }

    async fn start(fake: Arc<Fake>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, crate::router(fake, access())).await.unwrap() });
        addr
    }

    async fn connect(
        addr: SocketAddr,
        headers: &[(&'static str, String)],
    ) -> Result<Client, tungstenite::Error> {
        let mut request = format!("ws://{addr}/api/ws").into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request).await.map(|(ws, _)| ws)
    }

    async fn bearer(addr: SocketAddr) -> Client {
        connect(addr, &[("authorization", format!("Bearer {TOKEN}"))]).await.unwrap()
    }

    /// The next text frame, as JSON (pings and pongs skipped).
    async fn next_json(ws: &mut Client) -> serde_json::Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("a message within 5 s")
                .expect("the connection is open")
                .unwrap();
            match message {
                WsMessage::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn event(topic: Topic, json: &str) -> LiveEvent {
        LiveEvent { topic, json: Arc::from(json) }
    }

    #[tokio::test]
    async fn subscribed_events_arrive_and_others_do_not() {
        let fake = Arc::new(Fake::default());
        let mut ws = bearer(start(fake.clone()).await).await;
        ws.send(WsMessage::text(r#"{"type":"subscribe_positions"}"#)).await.unwrap();
        assert_eq!(next_json(&mut ws).await, json!({ "type": "subscribed", "topics": ["positions"] }));
        ws.send(WsMessage::text("subscribe_opportunities")).await.unwrap();
        assert_eq!(
            next_json(&mut ws).await,
            json!({ "type": "subscribed", "topics": ["positions", "opportunities"] })
        );
        ws.send(WsMessage::text("unsubscribe_opportunities")).await.unwrap();
        assert_eq!(next_json(&mut ws).await, json!({ "type": "subscribed", "topics": ["positions"] }));

        fake.events
            .send(event(Topic::Opportunities, r#"{"type":"new_opportunity","market_id":"0xa"}"#))
            .unwrap();
        fake.events.send(event(Topic::Plugins, r#"{"type":"plugin_loaded"}"#)).unwrap();
        fake.events.send(event(Topic::Positions, r#"{"type":"position_update","id":1}"#)).unwrap();
        assert_eq!(next_json(&mut ws).await, json!({ "type": "position_update", "id": 1 }));
    }

    #[tokio::test]
    async fn bad_messages_get_an_error_and_the_connection_stays() {
        let fake = Arc::new(Fake::default());
        let mut ws = bearer(start(fake.clone()).await).await;
        for bad in ["hello", "{\"type\":", "subscribe_weather", "{\"kind\":\"subscribe_positions\"}"] {
            ws.send(WsMessage::text(bad)).await.unwrap();
            let answer = next_json(&mut ws).await;
            assert_eq!(answer["type"], "error", "{bad}: {answer}");
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        ws.send(WsMessage::binary(vec![1, 2, 3])).await.unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "error");
        ws.send(WsMessage::text("subscribe_system")).await.unwrap();
        assert_eq!(next_json(&mut ws).await, json!({ "type": "subscribed", "topics": ["system"] }));
        fake.events.send(event(Topic::System, r#"{"type":"error","message":"venue down"}"#)).unwrap();
        assert_eq!(next_json(&mut ws).await["message"], "venue down");
    }

    #[tokio::test]
    async fn a_slow_client_is_told_what_it_missed() {
        let fake = Arc::new(Fake::default());
        let mut ws = bearer(start(fake.clone()).await).await;
        ws.send(WsMessage::text("subscribe_positions")).await.unwrap();
        next_json(&mut ws).await;
        // On this single-threaded test runtime the server cannot read while we send, so the
        // 64-event channel overflows by exactly 36.
        for i in 0..100 {
            fake.events
                .send(event(Topic::Positions, &format!(r#"{{"type":"position_update","id":{i}}}"#)))
                .unwrap();
        }
        assert_eq!(next_json(&mut ws).await, json!({ "type": "lagged", "missed": 36 }));
        for i in 36..100 {
            assert_eq!(next_json(&mut ws).await["id"], i);
        }
    }

    #[tokio::test]
    async fn strangers_and_other_origins_are_refused() {
        let addr = start(Arc::new(Fake::default())).await;
        let status = |r: Result<Client, tungstenite::Error>| match r {
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(e) => panic!("{e}"),
            Ok(_) => 101,
        };
        assert_eq!(status(connect(addr, &[]).await), 401);
        assert_eq!(status(connect(addr, &[("authorization", "Bearer wrong".into())]).await), 401);
        let (cookie, _) = session();
        let evil = [("cookie", cookie.clone()), ("origin", "http://evil.example".into())];
        assert_eq!(status(connect(addr, &evil).await), 403);
        let ours = [("cookie", cookie), ("origin", format!("http://{addr}"))];
        assert_eq!(status(connect(addr, &ours).await), 101, "a session from this origin connects");
    }

    #[tokio::test]
    async fn a_plain_get_is_not_an_upgrade() {
        let fake = Arc::new(Fake::default());
        let request = crate::fake::http::authed("GET", "/api/ws").body(axum::body::Body::empty()).unwrap();
        let (status, _, body) = crate::fake::http::send(fake, request).await;
        assert!(status.is_client_error(), "{status}");
        assert!(body.contains("\"error\""), "{body}");
    }

    #[tokio::test]
    async fn the_server_pings_and_answers_a_close() {
        let fake = Arc::new(Fake::default());
        let app = Router::new().route(
            "/api/ws",
            get(move |ws: WebSocketUpgrade| {
                let events = fake.subscribe();
                async move { ws.on_upgrade(move |socket| serve(socket, events, Duration::from_millis(50))) }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut ws = connect(addr, &[]).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        assert!(matches!(first, WsMessage::Ping(_)), "{first:?}");

        ws.close(None).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = ws.next().await {
                if matches!(message, Ok(WsMessage::Close(_)) | Err(_)) {
                    break;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server answered the close");
    }
}
