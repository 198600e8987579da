//! The mock's websocket channels: raw market-channel frames (snapshots, updates, PING/PONG,
//! gaps, duplicates, drops) and the SDK's market and user streams.

mod common;

use std::time::Duration;

use common::{CONDITION, NO, YES, clob, credentials, mock, signer, u256};
use equilibrage_testkit::{MockPolymarket, Side};
use futures_util::{SinkExt as _, StreamExt as _};
use polymarket_client_sdk_v2::clob::types::{OrderType, Side as SdkSide};
use polymarket_client_sdk_v2::clob::ws::WsMessage;
use polymarket_client_sdk_v2::clob::ws::types::response::{OrderMessageType, TradeMessageStatus};
use polymarket_client_sdk_v2::types::{Address, B256};
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(mock: &MockPolymarket, channel: &str) -> Socket {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/{channel}", mock.ws_url())).await.expect("connect");
    socket
}

/// The next frame, or `None` when the socket closed; panics after 5 s.
async fn next(socket: &mut Socket) -> Option<Message> {
    match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame within 5 s") {
        Some(Ok(Message::Close(_)) | Err(_)) | None => None,
        Some(Ok(m)) => Some(m),
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    match next(socket).await {
        Some(Message::Text(t)) => serde_json::from_str(t.as_str()).expect("JSON frame"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn subscribe_market(mock: &MockPolymarket, assets: &[&str]) -> Socket {
    let mut socket = connect(mock, "market").await;
    let msg = json!({"assets_ids": assets, "type": "market", "initial_dump": true});
    socket.send(Message::Text(msg.to_string().into())).await.expect("send");
    socket
}

#[tokio::test]
async fn market_channel_sends_snapshots_then_updates_and_pongs() {
    let mock = mock().await;
    let mut socket = subscribe_market(&mock, &[YES, NO]).await;
    let snapshot = next_json(&mut socket).await;
    let books = snapshot.as_array().expect("several books come as one array");
    assert_eq!(books.len(), 2);
    assert_eq!(books[0]["event_type"], "book");
    assert_eq!(books[0]["asset_id"], YES);
    assert_eq!(books[0]["market"], CONDITION);
    assert_eq!(books[0]["bids"], json!([{"price": "0.47", "size": "200"}, {"price": "0.48", "size": "100"}]));
    assert_eq!(books[0]["asks"], json!([{"price": "0.53", "size": "200"}, {"price": "0.52", "size": "100"}]));

    mock.set_level(YES, Side::Buy, dec!(0.49), dec!(30));
    let change = next_json(&mut socket).await;
    assert_eq!(change["event_type"], "price_change");
    let entry = &change["price_changes"][0];
    assert_eq!(
        (&entry["asset_id"], &entry["price"], &entry["size"], &entry["side"]),
        (&json!(YES), &json!("0.49"), &json!("30"), &json!("BUY"))
    );
    assert_eq!((&entry["best_bid"], &entry["best_ask"]), (&json!("0.49"), &json!("0.52")));

    socket.send(Message::Text("PING".into())).await.expect("ping");
    assert_eq!(next(&mut socket).await, Some(Message::Text("PONG".into())));

    mock.resolve(CONDITION, YES);
    let resolved = next_json(&mut socket).await;
    assert_eq!(resolved["event_type"], "market_resolved");
    assert_eq!(resolved["winning_asset_id"], YES);
    assert_eq!(resolved["winning_outcome"], "Yes");
}

#[tokio::test]
async fn gaps_duplicates_and_drops() {
    let mock = mock().await;
    let mut socket = subscribe_market(&mock, &[YES]).await;
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["event_type"], "book", "one book comes as an object");

    mock.faults().skip_ws_messages(1);
    mock.set_level(YES, Side::Buy, dec!(0.40), dec!(1));
    mock.set_level(YES, Side::Buy, dec!(0.41), dec!(2));
    assert_eq!(
        next_json(&mut socket).await["price_changes"][0]["price"],
        "0.41",
        "the 0.40 change was skipped"
    );

    mock.faults().duplicate_ws_messages(true);
    mock.set_level(YES, Side::Sell, dec!(0.60), dec!(3));
    let first = next_json(&mut socket).await;
    let second = next_json(&mut socket).await;
    assert_eq!(first, second);
    assert_eq!(first["price_changes"][0]["price"], "0.6");
    mock.faults().duplicate_ws_messages(false);

    mock.faults().drop_ws_connections();
    assert_eq!(next(&mut socket).await, None, "the socket is closed");
    // A new connection gets a fresh snapshot that includes the missed level.
    let mut again = subscribe_market(&mock, &[YES]).await;
    let book = next_json(&mut again).await;
    assert!(book["bids"].as_array().expect("bids").contains(&json!({"price": "0.4", "size": "1"})));
}

#[tokio::test]
async fn user_channel_rejects_wrong_credentials() {
    let mock = mock().await;
    let mut socket = connect(&mock, "user").await;
    let msg = json!({
        "auth": {"apiKey": mock.credentials().api_key, "secret": "wrong", "passphrase": "wrong"},
        "type": "user",
        "markets": [],
    });
    socket.send(Message::Text(msg.to_string().into())).await.expect("send");
    assert_eq!(next(&mut socket).await, None, "closed on bad credentials");
}

#[tokio::test]
async fn sdk_streams_books_and_user_order_and_trade_events() -> anyhow::Result<()> {
    let mock = mock().await;
    let ws = polymarket_client_sdk_v2::clob::ws::Client::new(&mock.ws_url(), Default::default())?;
    let mut books = Box::pin(ws.subscribe_orderbook(vec![u256(YES)])?);
    let book = tokio::time::timeout(Duration::from_secs(5), books.next()).await?.expect("a book")?;
    assert_eq!(book.asset_id, u256(YES));
    assert_eq!(book.bids.len(), 2);

    let address: Address = common::ADDRESS.parse()?;
    let user = polymarket_client_sdk_v2::clob::ws::Client::new(&mock.ws_url(), Default::default())?
        .authenticate(credentials(&mock), address)?;
    let mut events = Box::pin(user.subscribe_user_events(vec![CONDITION.parse::<B256>()?])?);
    common::wait_until("the user subscription", || mock.user_subscribers() == 1).await;

    let client = clob(&mock).await;
    let signer = signer();
    let order = client
        .limit_order()
        .token_id(u256(YES))
        .side(SdkSide::Buy)
        .price(dec!(0.45))
        .size(dec!(10))
        .order_type(OrderType::GTC)
        .build()
        .await?;
    let id = client.post_order(client.sign(&signer, order).await?).await?.order_id;
    let mut next_event = async || -> anyhow::Result<WsMessage> {
        Ok(tokio::time::timeout(Duration::from_secs(5), events.next()).await?.expect("an event")?)
    };
    match next_event().await? {
        WsMessage::Order(o) => {
            assert_eq!(o.id, id);
            assert_eq!(o.msg_type, Some(OrderMessageType::Placement));
        }
        other => panic!("expected the placement, got {other:?}"),
    }
    mock.faults().take_resting(&id, dec!(4)).map_err(anyhow::Error::msg)?;
    mock.settle_trades();
    let mut trade_statuses = Vec::new();
    let mut update = None;
    while trade_statuses.len() < 3 || update.is_none() {
        match next_event().await? {
            WsMessage::Trade(t) => trade_statuses.push(t.status),
            WsMessage::Order(o) => update = Some((o.msg_type, o.size_matched)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        trade_statuses,
        [TradeMessageStatus::Matched, TradeMessageStatus::Mined, TradeMessageStatus::Confirmed]
    );
    assert_eq!(update, Some((Some(OrderMessageType::Update), Some(dec!(4)))));
    Ok(())
}
