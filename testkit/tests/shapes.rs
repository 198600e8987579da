//! The mock's raw JSON carries every field of the captured real payloads in `fixtures/`, with
//! the same JSON types (string vs number vs array).

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use common::{CONDITION, YES, clob, mock, signer, u256};
use equilibrage_testkit::MockPolymarket;
use hmac::{Hmac, Mac as _};
use polymarket_client_sdk_v2::clob::types::{OrderType, Side as SdkSide};
use rust_decimal_macros::dec;
use serde_json::Value;
use sha2::Sha256;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `real` is in `ours` with the same JSON type (a real `null` matches anything).
fn assert_shape(what: &str, real: &Value, ours: &Value) {
    let (Some(real), Some(ours)) = (real.as_object(), ours.as_object()) else {
        panic!("{what}: expected objects");
    };
    for (k, v) in real {
        let mine = ours.get(k).unwrap_or_else(|| panic!("{what}: missing {k} in {ours:?}"));
        if !v.is_null() && !mine.is_null() {
            assert_eq!(kind(v), kind(mine), "{what}.{k}: {v} vs {mine}");
        }
    }
}

/// A GET with L2 headers signed like the SDK does.
async fn l2_get(mock: &MockPolymarket, path: &str) -> Value {
    let c = mock.credentials();
    let ts = "1700000000";
    let mut mac = Hmac::<Sha256>::new_from_slice(&URL_SAFE.decode(&c.secret).expect("secret")).expect("key");
    let signed_path = path.split('?').next().unwrap_or(path);
    mac.update(format!("{ts}GET{signed_path}").as_bytes());
    let sig = URL_SAFE.encode(mac.finalize().into_bytes());
    reqwest::Client::new()
        .get(format!("{}{path}", mock.http_url()))
        .header("POLY_ADDRESS", common::ADDRESS)
        .header("POLY_API_KEY", c.api_key)
        .header("POLY_PASSPHRASE", c.passphrase)
        .header("POLY_SIGNATURE", sig)
        .header("POLY_TIMESTAMP", ts)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn responses_have_the_real_fields_and_types() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let order = client
        .limit_order()
        .token_id(u256(YES))
        .side(SdkSide::Buy)
        .price(dec!(0.45))
        .size(dec!(10))
        .order_type(OrderType::GTC)
        .build()
        .await?;
    let id = client.post_order(client.sign(&signer(), order).await?).await?.order_id;
    mock.faults().take_resting(&id, dec!(4)).map_err(anyhow::Error::msg)?;

    let http = mock.http_url();
    let book: Value = reqwest::get(format!("{http}/book?token_id={YES}")).await?.json().await?;
    assert_shape("book", &fixture("clob_book_response"), &book);
    let gamma: Value = reqwest::get(format!("{http}/markets")).await?.json().await?;
    let real = fixture("gamma_market");
    for key in
        ["id", "question", "conditionId", "slug", "endDate", "outcomes", "outcomePrices", "clobTokenIds"]
    {
        assert_eq!(kind(&real[key]), kind(&gamma[0][key]), "gamma {key}");
    }
    for key in
        ["active", "closed", "acceptingOrders", "negRisk", "liquidityNum", "volume24hr", "orderMinSize"]
    {
        assert_eq!(kind(&real[key]), kind(&gamma[0][key]), "gamma {key}");
    }

    let orders = l2_get(&mock, "/data/orders").await;
    assert_shape("open orders page", &fixture("http_open_orders_page"), &orders);
    assert_shape("open order", &fixture("http_open_order"), &orders["data"][0]);
    let trades = l2_get(&mock, "/data/trades").await;
    assert_shape("trades page", &fixture("http_trades_page"), &trades);
    assert_shape("trade", &fixture("http_trade_report"), &trades["data"][0]);
    assert_shape(
        "maker order",
        &fixture("http_trade_report")["maker_orders"][0],
        &trades["data"][0]["maker_orders"][0],
    );
    let balance = l2_get(&mock, "/balance-allowance?asset_type=COLLATERAL").await;
    assert_eq!(kind(&balance["balance"]), "string");

    let data: Value = reqwest::get(format!("{http}/trades?market={CONDITION}")).await?.json().await?;
    assert_shape("data trade", &fixture("data_api_trades_response")[0], &data[0]);
    let positions: Value =
        reqwest::get(format!("{http}/positions?user={}", common::ADDRESS)).await?.json().await?;
    assert_shape("position", &fixture("data_api_positions_response")[0], &positions[0]);
    Ok(())
}
