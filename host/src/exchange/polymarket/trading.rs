//! CLOB trading responses into the venue types: order placement answers, cancels, open orders and
//! trade pages, balances. Lenient where Polymarket varies (numbers as strings or numbers, empty
//! strings for zero, dates as RFC 3339 or Unix seconds), strict where money is concerned.

use crate::exchange::book::{Side, TakerFee};
use crate::exchange::error::{ExchangeError, Result};
use crate::exchange::numbers;
use crate::exchange::types::{Balance, OpenOrder, OrderStatus, TradeReport, TradeStatus};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;

/// The cursor Polymarket gives on the last page.
pub const LAST_CURSOR: &str = "LTE=";

fn malformed(what: &str, e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Malformed { reason: format!("{what}: {e}") }
}

/// A decimal written as a JSON string or number; empty or null is zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Dec(Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        let text = match &value {
            None | Some(serde_json::Value::Null) => return Ok(Self(Decimal::ZERO)),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => return Ok(Self(Decimal::ZERO)),
            Some(serde_json::Value::String(s)) => s.trim().to_owned(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(other) => return Err(serde::de::Error::custom(format!("{other} is not a decimal"))),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map(Self)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a decimal")))
    }
}

fn side(text: &str) -> Result<Side> {
    match text.to_ascii_uppercase().as_str() {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(malformed("side", format!("{other:?}"))),
    }
}

/// Unix milliseconds from RFC 3339, Unix seconds or Unix milliseconds.
fn millis(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return Some(if n > 100_000_000_000 { n } else { n.saturating_mul(1_000) });
    }
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

/// The answer to `POST /order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub order_id: String,
    pub status: OrderStatus,
    /// What the order gave and got so far, in pUSD or shares by side.
    pub making: Decimal,
    pub taking: Decimal,
    pub trade_ids: Vec<String>,
    pub tx_hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPosted {
    success: Option<bool>,
    error_msg: Option<String>,
    #[serde(rename = "orderID")]
    order_id: Option<String>,
    status: Option<String>,
    #[serde(default)]
    making_amount: Dec,
    #[serde(default)]
    taking_amount: Dec,
    #[serde(rename = "transactionsHashes", default)]
    tx_hashes: Option<Vec<String>>,
    #[serde(rename = "tradeIDs", default)]
    trade_ids: Option<Vec<String>>,
}

/// Parses a `POST /order` answer. `success: false` is the exchange refusing the order.
///
/// # Errors
/// `Rejected` with the exchange's message, or `Malformed`.
pub fn parse_posted(json: &str) -> Result<Posted> {
    let raw: RawPosted = serde_json::from_str(json).map_err(|e| malformed("order response", e))?;
    let error = raw.error_msg.filter(|m| !m.trim().is_empty());
    let order_id = raw.order_id.filter(|id| !id.trim().is_empty());
    // `success: true` with an empty `orderID` and an `errorMsg` is a refusal too.
    if raw.success == Some(false) || (order_id.is_none() && error.is_some()) {
        return Err(ExchangeError::Rejected { reason: error.unwrap_or_else(|| "order refused".into()) });
    }
    let order_id = order_id.ok_or_else(|| malformed("order response", "no orderID"))?;
    let status = match raw.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("live") => OrderStatus::Live,
        Some("matched") => OrderStatus::Matched,
        Some("delayed") => OrderStatus::Delayed,
        Some("unmatched") => OrderStatus::Unmatched,
        // Older answers carry no status: matched amounts say what happened.
        None | Some("") if !raw.making_amount.0.is_zero() => OrderStatus::Matched,
        None | Some("") => OrderStatus::Live,
        Some(other) => return Err(malformed("order status", format!("{other:?}"))),
    };
    Ok(Posted {
        order_id,
        status,
        making: numbers::quantity("makingAmount", raw.making_amount.0)?,
        taking: numbers::quantity("takingAmount", raw.taking_amount.0)?,
        trade_ids: raw.trade_ids.unwrap_or_default(),
        tx_hashes: raw.tx_hashes.unwrap_or_default(),
    })
}

/// Parses a cancel answer; an order the exchange did not cancel is an error with its reason.
///
/// # Errors
/// `NotFound` when the order is gone (matched or cancelled already), `Malformed` otherwise.
pub fn parse_cancel(json: &str, order_id: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        canceled: Vec<String>,
        #[serde(default)]
        not_canceled: BTreeMap<String, String>,
    }
    let raw: Raw = serde_json::from_str(json).map_err(|e| malformed("cancel response", e))?;
    if raw.canceled.iter().any(|id| id == order_id) {
        return Ok(());
    }
    match raw.not_canceled.get(order_id) {
        Some(reason) => Err(ExchangeError::NotFound(format!("order {order_id}: {reason}"))),
        None => Err(malformed("cancel response", format!("order {order_id} in neither list"))),
    }
}

/// A page of a cursor-paged CLOB listing.
#[derive(Debug, Deserialize)]
struct Page<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

/// The cursor of the next page, or `None` on the last.
fn next(cursor: Option<String>) -> Option<String> {
    cursor.filter(|c| !c.is_empty() && c != LAST_CURSOR)
}

#[derive(Debug, Deserialize)]
struct RawOpenOrder {
    id: String,
    asset_id: String,
    side: String,
    price: Dec,
    original_size: Dec,
    #[serde(default)]
    size_matched: Dec,
}

/// Parses a `GET /data/orders` page: the orders and the next cursor.
///
/// # Errors
/// `Malformed`, naming what was wrong.
pub fn parse_open_orders(json: &str) -> Result<(Vec<OpenOrder>, Option<String>)> {
    let page: Page<RawOpenOrder> = serde_json::from_str(json).map_err(|e| malformed("open orders", e))?;
    let orders = page
        .data
        .into_iter()
        .map(|o| {
            Ok(OpenOrder {
                side: side(&o.side)?,
                order_id: o.id,
                token: o.asset_id,
                price: numbers::level_price("order price", o.price.0)?,
                original_shares: numbers::quantity("order original_size", o.original_size.0)?,
                matched_shares: numbers::quantity("order size_matched", o.size_matched.0)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((orders, next(page.next_cursor)))
}

#[derive(Debug, Deserialize)]
struct RawMakerOrder {
    order_id: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    maker_address: String,
    matched_amount: Dec,
    price: Dec,
    side: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawTrade {
    id: String,
    taker_order_id: String,
    asset_id: String,
    side: String,
    size: Dec,
    price: Dec,
    status: String,
    match_time: Option<String>,
    transaction_hash: Option<String>,
    trader_side: Option<String>,
    #[serde(default)]
    maker_orders: Vec<RawMakerOrder>,
}

/// Who "we" are in a trade: the API key's owner id and the trading address, and the taker fee
/// schedule of a token (makers pay nothing).
#[derive(Clone, Copy)]
pub struct Me<'a> {
    pub api_key: &'a str,
    pub address: &'a str,
    pub fee_of: &'a (dyn Fn(&str) -> TakerFee + Sync),
}

impl std::fmt::Debug for Me<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Me")
            .field("api_key", &self.api_key)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn status(text: &str) -> Result<TradeStatus> {
    Ok(match text.to_ascii_uppercase().as_str() {
        "MATCHED" => TradeStatus::Matched,
        "MINED" => TradeStatus::Mined,
        "CONFIRMED" => TradeStatus::Confirmed,
        "RETRYING" => TradeStatus::Retrying,
        "FAILED" => TradeStatus::Failed,
        other => return Err(malformed("trade status", format!("{other:?}"))),
    })
}

/// Parses a `GET /data/trades` page into the bot's side of each trade (the taker order, or the
/// bot's maker order in it), with the taker fee from the market's schedule.
///
/// # Errors
/// `Malformed`, naming what was wrong.
pub fn parse_trades(json: &str, me: Me<'_>) -> Result<(Vec<TradeReport>, Option<String>)> {
    let page: Page<RawTrade> = serde_json::from_str(json).map_err(|e| malformed("trades", e))?;
    let mut out = Vec::with_capacity(page.data.len());
    for t in page.data {
        my_side(t, me, &mut out)?;
    }
    Ok((out, next(page.next_cursor)))
}

/// The bot's part of one trade: the taker order, or the bot's maker orders in it.
fn my_side(t: RawTrade, me: Me<'_>, out: &mut Vec<TradeReport>) -> Result<()> {
    let at_ms = t.match_time.as_deref().and_then(millis).unwrap_or(0);
    let tx_hash = t.transaction_hash.filter(|h| !h.is_empty());
    let status = status(&t.status)?;
    if t.trader_side.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("MAKER")) {
        let mine =
            |m: &&RawMakerOrder| m.owner == me.api_key || m.maker_address.eq_ignore_ascii_case(me.address);
        for m in t.maker_orders.iter().filter(mine) {
            let maker_side = match &m.side {
                Some(s) => side(s)?,
                None => match side(&t.side)? {
                    Side::Buy => Side::Sell,
                    Side::Sell => Side::Buy,
                },
            };
            out.push(TradeReport {
                trade_id: t.id.clone(),
                order_id: m.order_id.clone(),
                token: t.asset_id.clone(),
                side: maker_side,
                price: numbers::level_price("maker order price", m.price.0)?,
                shares: numbers::quantity("maker order matched_amount", m.matched_amount.0)?,
                fee: Decimal::ZERO,
                status,
                tx_hash: tx_hash.clone(),
                at_ms,
            });
        }
    } else {
        let price = numbers::level_price("trade price", t.price.0)?;
        let size = numbers::quantity("trade size", t.size.0)?;
        out.push(TradeReport {
            fee: (me.fee_of)(&t.asset_id).on(size, price),
            trade_id: t.id,
            order_id: t.taker_order_id,
            token: t.asset_id,
            side: side(&t.side)?,
            price,
            shares: size,
            status,
            tx_hash,
            at_ms,
        });
    }
    Ok(())
}

/// What the user channel says about the bot's orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderChange {
    Placed,
    /// Part (or all) of it matched.
    Updated,
    Cancelled,
}

/// One message of the authenticated user websocket channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// A trade of the bot's, at a new settlement status (its fee is left at zero: `trades()`
    /// reports fees).
    Trade(TradeReport),
    /// A change to one of the bot's orders.
    Order { order_id: String, token: String, change: OrderChange, matched_shares: Decimal },
    /// The channel was down and is back: events may have been missed, reconcile with
    /// `open_orders` and `trades`.
    Reconnected,
}

#[derive(Debug, Deserialize)]
struct RawOrderEvent {
    id: String,
    asset_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    size_matched: Dec,
}

/// One user-channel frame (an object or an array of them); message types the bot does not use
/// give nothing. All or nothing, like the market channel.
///
/// # Errors
/// `Malformed`, naming what was wrong.
pub fn parse_user_message(text: &str, me: Me<'_>) -> Result<Vec<UserEvent>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| malformed("user message", e))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        match item.get("event_type").and_then(serde_json::Value::as_str) {
            Some("trade") => {
                let t: RawTrade = serde_json::from_value(item).map_err(|e| malformed("trade event", e))?;
                let mut trades = Vec::new();
                my_side(t, me, &mut trades)?;
                out.extend(trades.into_iter().map(UserEvent::Trade));
            }
            Some("order") => {
                let o: RawOrderEvent =
                    serde_json::from_value(item).map_err(|e| malformed("order event", e))?;
                let change = match o.kind.to_ascii_uppercase().as_str() {
                    "PLACEMENT" => OrderChange::Placed,
                    "UPDATE" => OrderChange::Updated,
                    "CANCELLATION" => OrderChange::Cancelled,
                    other => return Err(malformed("order event type", format!("{other:?}"))),
                };
                out.push(UserEvent::Order {
                    order_id: o.id,
                    token: o.asset_id,
                    change,
                    matched_shares: numbers::quantity("order event size_matched", o.size_matched.0)?,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// An allowance: a decimal, or an integer too large for one (an unlimited approval is 2²⁵⁶−1),
/// which reads as `Decimal::MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Allowance(Decimal);

impl<'de> Deserialize<'de> for Allowance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let text = match &value {
            serde_json::Value::String(s) => s.trim().to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(serde::de::Error::custom(format!("allowance {other} is not a number"))),
        };
        match Decimal::from_str(&text) {
            Ok(d) => Ok(Self(d)),
            Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(Decimal::MAX)),
            Err(_) => Err(serde::de::Error::custom(format!("allowance {text:?} is not a number"))),
        }
    }
}

/// Parses `GET /balance-allowance` (amounts in 10⁻⁶ pUSD). With several spenders the allowance
/// is the smallest: an order needs every exchange contract approved. An unlimited approval reads
/// as `Decimal::MAX`.
///
/// # Errors
/// `Malformed`.
pub fn parse_balance(json: &str) -> Result<Balance> {
    #[derive(Deserialize)]
    struct Raw {
        balance: Dec,
        allowance: Option<Allowance>,
        allowances: Option<BTreeMap<String, Allowance>>,
    }
    let raw: Raw = serde_json::from_str(json).map_err(|e| malformed("balance", e))?;
    let micros = |d: Decimal| if d == Decimal::MAX { d } else { d / Decimal::from(1_000_000) };
    let allowance =
        raw.allowances.and_then(|a| a.values().map(|d| d.0).min()).or(raw.allowance.map(|d| d.0)).map(micros);
    if let Some(a) = allowance.filter(|a| a.is_sign_negative() && !a.is_zero()) {
        return Err(malformed("allowance", format!("{a} is negative")));
    }
    let balance = numbers::quantity("balance", raw.balance.0 / Decimal::from(1_000_000))?;
    Ok(Balance { collateral: balance, allowance })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::polymarket::fixture;
    use rust_decimal_macros::dec;

    const ME: Me<'static> = Me {
        api_key: "00000000-0000-0000-0000-000000000001",
        address: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        fee_of: &|_| TakerFee { rate: Decimal::ZERO, exponent: Decimal::ONE },
    };

    #[test]
    fn order_answers_accepted_refused_and_malformed() {
        let ok = parse_posted(&fixture("http_order_response_ok.json")).unwrap();
        assert!(ok.order_id.starts_with("0x1234"));
        assert_eq!(ok.status, OrderStatus::Live);
        let matched = parse_posted(
            r#"{"success":true,"errorMsg":"","orderID":"0xab","status":"matched","makingAmount":"11.78",
               "takingAmount":"21.04","transactionsHashes":["0xt"],"tradeIDs":["t1"]}"#,
        )
        .unwrap();
        assert_eq!(
            (matched.status, matched.making, matched.taking),
            (OrderStatus::Matched, dec!(11.78), dec!(21.04))
        );
        assert_eq!(matched.trade_ids, ["t1"]);
        let empty = parse_posted(
            r#"{"success":true,"orderID":"0xab","status":"live","makingAmount":"","takingAmount":""}"#,
        )
        .unwrap();
        assert_eq!(empty.making, Decimal::ZERO);
        let refused = parse_posted(&fixture("http_order_response_failed.json")).unwrap_err();
        assert_eq!(refused, ExchangeError::Rejected { reason: "Insufficient balance".into() });
        // A 200 saying success, with no order id and an error message, is a refusal with its reason.
        let quiet_refusal = parse_posted(
            r#"{"success":true,"errorMsg":"order couldn't be fully filled","orderID":"","status":"","makingAmount":"","takingAmount":""}"#,
        )
        .unwrap_err();
        assert_eq!(
            quiet_refusal,
            ExchangeError::Rejected { reason: "order couldn't be fully filled".into() }
        );
        // Without an id and without a reason, the answer makes no sense.
        assert!(matches!(
            parse_posted(r#"{"success":true,"errorMsg":"","orderID":""}"#),
            Err(ExchangeError::Malformed { .. })
        ));
        assert!(matches!(parse_posted("{"), Err(ExchangeError::Malformed { .. })));
        assert!(matches!(
            parse_posted(r#"{"success":true,"orderID":"0xab","status":"exploded"}"#),
            Err(ExchangeError::Malformed { .. })
        ));
    }

    #[test]
    fn cancels_say_which_orders_went() {
        let id = "0xb816482a1234567890abcdef1234567890abcdef1234567890abcdef12345678";
        parse_cancel(&fixture("http_cancel_response_ok.json"), id).unwrap();
        let e = parse_cancel(&fixture("http_cancel_response_failed.json"), id).unwrap_err();
        assert!(matches!(e, ExchangeError::NotFound(r) if r.contains("already canceled")));
    }

    #[test]
    fn open_orders_and_trades_pages() {
        let (orders, cursor) = parse_open_orders(&fixture("http_open_orders_page.json")).unwrap();
        assert_eq!(cursor, None);
        assert_eq!(orders.len(), 2);
        assert_eq!(
            (orders[1].side, orders[1].price, orders[1].matched_shares),
            (Side::Sell, dec!(0.4), dec!(50))
        );
        let (trades, _) = parse_trades(&fixture("http_trades_page.json"), ME).unwrap();
        assert!(!trades.is_empty());
        assert_eq!(trades[0].status, TradeStatus::Mined);
        assert_eq!(trades[0].at_ms, 1_704_067_200_000);
        let one = format!(r#"{{"data":[{}],"next_cursor":"MTA="}}"#, fixture("http_trade_report.json"));
        let (trades, cursor) = parse_trades(&one, ME).unwrap();
        assert_eq!(cursor.as_deref(), Some("MTA="));
        assert_eq!(
            (trades[0].side, trades[0].shares, trades[0].status),
            (Side::Buy, dec!(25), TradeStatus::Confirmed)
        );
        assert!(trades[0].order_id.starts_with("0x1234"));
        // The taker pays the market's fee: 25 × 0.02 × (0.5 × 0.5) = 0.125.
        let fee = |_: &str| TakerFee { rate: dec!(0.02), exponent: Decimal::ONE };
        let (trades, _) = parse_trades(&one, Me { fee_of: &fee, ..ME }).unwrap();
        assert_eq!(trades[0].fee, dec!(0.125));
    }

    #[test]
    fn a_maker_fill_is_reported_from_the_makers_side() {
        let json = r#"{"data":[{"id":"t9","taker_order_id":"0xtaker","asset_id":"7","side":"BUY","size":"30",
            "price":"0.5","status":"MATCHED","match_time":"1703875200","trader_side":"MAKER",
            "maker_orders":[{"order_id":"0xmine","owner":"00000000-0000-0000-0000-000000000001",
            "matched_amount":"12.5","price":"0.49","side":"SELL"},
            {"order_id":"0xother","owner":"x","matched_amount":"17.5","price":"0.5","side":"SELL"}]}],
            "next_cursor":"LTE="}"#;
        let fee = |_: &str| TakerFee { rate: dec!(0.02), exponent: Decimal::ONE };
        let (trades, _) = parse_trades(json, Me { fee_of: &fee, ..ME }).unwrap();
        assert_eq!(trades.len(), 1);
        assert_eq!(trades[0].fee, Decimal::ZERO, "makers pay nothing");
        assert_eq!(
            (trades[0].order_id.as_str(), trades[0].side, trades[0].shares, trades[0].price),
            ("0xmine", Side::Sell, dec!(12.5), dec!(0.49))
        );
        assert_eq!(trades[0].at_ms, 1_703_875_200_000);
    }

    #[test]
    fn venue_numbers_out_of_range_are_malformed_not_booked() {
        let trade = |price: &str, size: &str| {
            format!(
                r#"{{"data":[{{"id":"t1","taker_order_id":"0xo","asset_id":"7","side":"BUY","size":"{size}",
                "price":"{price}","status":"MATCHED","match_time":"1703875200"}}],"next_cursor":"LTE="}}"#
            )
        };
        let fee = |_: &str| TakerFee { rate: dec!(0.02), exponent: Decimal::ONE };
        let me = Me { fee_of: &fee, ..ME };
        assert!(parse_trades(&trade("0.5", "30"), me).is_ok());
        for (price, size) in [
            ("1e20", "30"),
            ("0", "30"),
            ("1", "30"),
            ("-0.5", "30"),
            ("0.5", "-22"),
            ("0.5", "1e15"),
            ("0.5", "0.0000000000000000000000000001"),
        ] {
            let e = parse_trades(&trade(price, size), me).unwrap_err();
            assert!(matches!(e, ExchangeError::Malformed { .. }), "{price} × {size}: {e}");
            assert!(e.to_string().contains("out of range"), "{price} × {size}: {e}");
        }
        let ack = |making: &str| {
            format!(
                r#"{{"success":true,"errorMsg":"","orderID":"0xab","status":"matched","makingAmount":"{making}","takingAmount":"21.04"}}"#
            )
        };
        assert!(parse_posted(&ack("11.78")).is_ok());
        assert!(matches!(parse_posted(&ack("-11.78")), Err(ExchangeError::Malformed { .. })));
        assert!(matches!(parse_posted(&ack("1e30")), Err(ExchangeError::Malformed { .. })));
        assert!(matches!(
            parse_balance(r#"{"balance":"-5000000","allowances":{}}"#),
            Err(ExchangeError::Malformed { .. })
        ));
        assert!(matches!(
            parse_balance(r#"{"balance":"5000000","allowances":{"0xe":"-1"}}"#),
            Err(ExchangeError::Malformed { .. })
        ));
        assert_eq!(millis(&i64::MIN.to_string()), Some(i64::MIN), "a wild time saturates, never overflows");
    }

    #[test]
    fn user_channel_trades_and_order_changes() {
        let trade = fixture("ws_user_trade.json");
        let mut with_type: serde_json::Value = serde_json::from_str(&trade).unwrap();
        with_type["event_type"] = "trade".into();
        let events = parse_user_message(&with_type.to_string(), ME).unwrap();
        assert!(
            matches!(&events[..], [UserEvent::Trade(t)] if t.status == TradeStatus::Confirmed && t.shares == dec!(25)),
            "{events:?}"
        );
        let mut order: serde_json::Value =
            serde_json::from_str(&fixture("ws_user_order_update.json")).unwrap();
        order["event_type"] = "order".into();
        let events = parse_user_message(&format!("[{order}]"), ME).unwrap();
        assert!(
            matches!(&events[..], [UserEvent::Order { change: OrderChange::Updated, matched_shares, .. }] if *matched_shares == dec!(25)),
            "{events:?}"
        );
        assert!(parse_user_message(r#"{"event_type":"something_new"}"#, ME).unwrap().is_empty());
        assert!(matches!(parse_user_message("[{", ME), Err(ExchangeError::Malformed { .. })));
    }

    #[test]
    fn balances_are_in_micro_units_and_the_smallest_allowance_counts() {
        let b = parse_balance(&fixture("http_balance_allowance_collateral.json")).unwrap();
        assert_eq!(b.collateral, dec!(1000));
        assert_eq!(b.allowance, Some(dec!(999999999)));
        let b = parse_balance(r#"{"balance":"5000000","allowances":{"0xa":"100","0xb":"0"}}"#).unwrap();
        assert_eq!((b.collateral, b.allowance), (dec!(5), Some(Decimal::ZERO)));
        assert!(matches!(parse_balance(r#"{"balance":"lots"}"#), Err(ExchangeError::Malformed { .. })));
        let unlimited = format!(r#"{{"balance":"1","allowances":{{"0xa":"{}"}}}}"#, "9".repeat(78));
        assert_eq!(parse_balance(&unlimited).unwrap().allowance, Some(Decimal::MAX));
    }
}
