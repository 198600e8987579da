//! CLOB public data into exact books and market events: `GET /book` responses and the market
//! websocket channel's messages (one object or an array of them).

use crate::exchange::book::{BookSide, Level, OrderBook, Side};
use crate::exchange::types::{MarketEvent, TokenId};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::str::FromStr;

/// Why a CLOB payload could not be used. Nothing is applied from a payload that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClobError {
    #[error("malformed CLOB JSON: {0}")]
    Json(String),
    #[error("bad value in a CLOB message: {0}")]
    Value(String),
}

#[derive(Debug, Deserialize)]
struct RawLevel {
    price: String,
    size: String,
}

/// A size, amount or tick: a decimal from 0 to 10¹² (see `exchange::numbers`).
fn decimal(what: &str, text: &str) -> Result<Decimal, ClobError> {
    let d = Decimal::from_str(text.trim())
        .map_err(|_| ClobError::Value(format!("{what} {text:?} is not a decimal")))?;
    crate::exchange::numbers::quantity(what, d).map_err(|e| ClobError::Value(e.to_string()))
}

/// A best price: a decimal from 0 to 1 (an empty side reads 0 or 1).
fn price(what: &str, text: &str) -> Result<Decimal, ClobError> {
    crate::exchange::numbers::price(what, decimal(what, text)?).map_err(|e| ClobError::Value(e.to_string()))
}

/// A level's or a trade's price: strictly between 0 and 1.
fn level_price(what: &str, text: &str) -> Result<Decimal, ClobError> {
    let d = Decimal::from_str(text.trim())
        .map_err(|_| ClobError::Value(format!("{what} {text:?} is not a decimal")))?;
    crate::exchange::numbers::level_price(what, d).map_err(|e| ClobError::Value(e.to_string()))
}

/// A tick size: strictly between 0 and 1.
fn tick(what: &str, text: &str) -> Result<Decimal, ClobError> {
    let d = Decimal::from_str(text.trim())
        .map_err(|_| ClobError::Value(format!("{what} {text:?} is not a decimal")))?;
    crate::exchange::numbers::tick(what, d).map_err(|e| ClobError::Value(e.to_string()))
}

fn millis(text: Option<&str>) -> Result<i64, ClobError> {
    text.map_or(Ok(0), |t| t.trim().parse().map_err(|_| ClobError::Value(format!("timestamp {t:?}"))))
}

fn levels(raw: &[RawLevel]) -> Result<Vec<Level>, ClobError> {
    raw.iter()
        .map(|l| {
            let level = Level { price: level_price("price", &l.price)?, size: decimal("size", &l.size)? };
            if level.price <= Decimal::ZERO || level.price >= Decimal::ONE || level.size < Decimal::ZERO {
                return Err(ClobError::Value(format!(
                    "level {} × {} is out of range",
                    level.price, level.size
                )));
            }
            Ok(level)
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct RawBook {
    asset_id: String,
    #[serde(default)]
    bids: Vec<RawLevel>,
    #[serde(default)]
    asks: Vec<RawLevel>,
    timestamp: Option<String>,
    min_order_size: Option<String>,
    tick_size: Option<String>,
    neg_risk: Option<bool>,
}

/// What a `GET /book` says about its token beyond the levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookMeta {
    pub tick_size: Option<Decimal>,
    pub neg_risk: Option<bool>,
}

/// A `GET /book` response: the token, its book and the venue's timestamp.
///
/// # Errors
/// Malformed JSON, or a price or size that is not a decimal in range.
pub fn parse_book(json: &str) -> Result<(TokenId, OrderBook, i64), ClobError> {
    parse_book_meta(json).map(|(token, book, at, _)| (token, book, at))
}

/// [`parse_book`], plus the token's tick size and neg-risk flag when the response gives them.
///
/// # Errors
/// As [`parse_book`].
pub fn parse_book_meta(json: &str) -> Result<(TokenId, OrderBook, i64, BookMeta), ClobError> {
    let raw: RawBook = serde_json::from_str(json).map_err(|e| ClobError::Json(e.to_string()))?;
    let min = raw.min_order_size.as_deref().map(|m| decimal("min_order_size", m)).transpose()?;
    let mut book = OrderBook::new(min.unwrap_or(Decimal::from(5)));
    book.replace(&levels(&raw.bids)?, &levels(&raw.asks)?);
    let meta = BookMeta {
        tick_size: raw.tick_size.as_deref().map(|t| tick("tick_size", t)).transpose()?,
        neg_risk: raw.neg_risk,
    };
    Ok((raw.asset_id, book, millis(raw.timestamp.as_deref())?, meta))
}

#[derive(Debug, Deserialize)]
struct RawChange {
    asset_id: String,
    price: String,
    size: String,
    side: String,
    best_bid: Option<String>,
    best_ask: Option<String>,
}

/// The top of a token's book as a `price_change` says it is after the change; a book that
/// disagrees after applying the change has missed a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOfBook {
    pub token: TokenId,
    /// `None` when the side is empty (or the venue sent no figure).
    pub best_bid: Option<Decimal>,
    pub best_ask: Option<Decimal>,
}

/// A `best_bid`/`best_ask` figure: "0" (bids) and "1" (asks) mean an empty side.
fn top(text: Option<&str>) -> Result<Option<Decimal>, ClobError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else { return Ok(None) };
    let d = price("best price", text)?;
    Ok((d > Decimal::ZERO && d < Decimal::ONE).then_some(d))
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    event_type: Option<String>,
    market: Option<String>,
    asset_id: Option<String>,
    timestamp: Option<String>,
    bids: Option<Vec<RawLevel>>,
    asks: Option<Vec<RawLevel>>,
    price_changes: Option<Vec<RawChange>>,
    price: Option<String>,
    size: Option<String>,
    side: Option<String>,
    new_tick_size: Option<String>,
    winning_asset_id: Option<String>,
}

/// Some captured frames carry no `event_type`; their fields still say what they are.
fn infer_type(m: &RawMessage) -> Option<&'static str> {
    if m.bids.is_some() || m.asks.is_some() {
        Some("book")
    } else if m.price_changes.is_some() {
        Some("price_change")
    } else if m.new_tick_size.is_some() {
        Some("tick_size_change")
    } else if m.winning_asset_id.is_some() {
        Some("market_resolved")
    } else if m.price.is_some() && m.size.is_some() && m.side.is_some() {
        Some("last_trade_price")
    } else {
        None
    }
}

fn side(text: &str) -> Result<Side, ClobError> {
    match text {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(ClobError::Value(format!("side {other:?}"))),
    }
}

/// One market-channel frame: an object or an array of them. Message types the bot does not use
/// (`best_bid_ask`, `new_market`, …) give no events. All-or-nothing: one bad message rejects the
/// frame, so a half-applied update never happens.
///
/// # Errors
/// Malformed JSON or values, or a message missing a field its type needs.
pub fn parse_market_message(text: &str) -> Result<Vec<MarketEvent>, ClobError> {
    parse_market_frame(text).map(|(events, _)| events)
}

/// [`parse_market_message`], plus the top of book each `price_change` reports (for gap checks).
///
/// # Errors
/// As [`parse_market_message`].
pub fn parse_market_frame(text: &str) -> Result<(Vec<MarketEvent>, Vec<TopOfBook>), ClobError> {
    let mut tops = Vec::new();
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ClobError::Json(e.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut events = Vec::new();
    for item in items {
        let m: RawMessage = serde_json::from_value(item).map_err(|e| ClobError::Json(e.to_string()))?;
        let at_ms = millis(m.timestamp.as_deref())?;
        let need = |field: Option<String>, name: &str| {
            field.ok_or_else(|| {
                ClobError::Value(format!("{} message without {name}", m.event_type.as_deref().unwrap_or("?")))
            })
        };
        match m.event_type.as_deref().or_else(|| infer_type(&m)) {
            Some("book") => events.push(MarketEvent::Book {
                token: need(m.asset_id.clone(), "asset_id")?,
                bids: levels(m.bids.as_deref().unwrap_or_default())?,
                asks: levels(m.asks.as_deref().unwrap_or_default())?,
                at_ms,
            }),
            Some("price_change") => {
                for c in m.price_changes.as_deref().unwrap_or_default() {
                    if c.best_bid.is_some() || c.best_ask.is_some() {
                        tops.push(TopOfBook {
                            token: c.asset_id.clone(),
                            best_bid: top(c.best_bid.as_deref())?,
                            best_ask: top(c.best_ask.as_deref())?,
                        });
                    }
                    let side = match side(&c.side)? {
                        Side::Buy => BookSide::Bids,
                        Side::Sell => BookSide::Asks,
                    };
                    events.push(MarketEvent::PriceChange {
                        token: c.asset_id.clone(),
                        side,
                        price: level_price("price", &c.price)?,
                        size: decimal("size", &c.size)?,
                        at_ms,
                    });
                }
            }
            Some("last_trade_price") => events.push(MarketEvent::Trade {
                token: need(m.asset_id.clone(), "asset_id")?,
                side: side(&need(m.side.clone(), "side")?)?,
                price: level_price("price", &need(m.price.clone(), "price")?)?,
                size: decimal("size", &need(m.size.clone(), "size")?)?,
                at_ms,
            }),
            Some("tick_size_change") => events.push(MarketEvent::TickSize {
                token: need(m.asset_id.clone(), "asset_id")?,
                tick_size: tick("tick size", &need(m.new_tick_size.clone(), "new_tick_size")?)?,
                at_ms,
            }),
            Some("market_resolved") => events.push(MarketEvent::Resolved {
                market: need(m.market.clone(), "market")?,
                winning_token: need(m.winning_asset_id.clone(), "winning_asset_id")?,
                at_ms,
            }),
            _ => {}
        }
    }
    Ok((events, tops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_ticks_and_sizes_out_of_range_reject_the_frame() {
        let change = |price: &str, size: &str| {
            format!(
                r#"{{"event_type":"price_change","market":"0x1","timestamp":"1","price_changes":[{{"asset_id":"7",
                "price":"{price}","size":"{size}","side":"BUY"}}]}}"#
            )
        };
        assert!(parse_market_frame(&change("0.5", "200")).is_ok());
        for (price, size) in [("0", "200"), ("1", "200"), ("1e20", "200"), ("0.5", "-1"), ("0.5", "1e13")] {
            assert!(parse_market_frame(&change(price, size)).is_err(), "{price} × {size}");
        }
        let tick = |t: &str| {
            format!(
                r#"{{"event_type":"tick_size_change","asset_id":"7","market":"0x1","old_tick_size":"0.01","new_tick_size":"{t}","timestamp":"1"}}"#
            )
        };
        assert!(parse_market_frame(&tick("0.001")).is_ok());
        assert!(parse_market_frame(&tick("0")).is_err(), "a zero tick would divide by zero");
    }
    use crate::exchange::polymarket::fixture;
    use rust_decimal_macros::dec;

    #[test]
    fn a_rest_book_parses_best_level_last_into_exact_levels() {
        let (token, book, at) = parse_book(&fixture("clob_book_response.json")).unwrap();
        assert_eq!((token.as_str(), at), ("12345678901234567890", 1_703_875_200_000));
        assert_eq!(book.best_bid(), Some(Level { price: dec!(0.50), size: dec!(150) }));
        assert_eq!(book.best_ask(), Some(Level { price: dec!(0.51), size: dec!(120) }));
        assert_eq!(book.levels(BookSide::Bids).count(), 3);
        let (_, _, _, meta) = parse_book_meta(&fixture("clob_book_response.json")).unwrap();
        assert_eq!(meta, BookMeta { tick_size: None, neg_risk: None });
        let notes = r#"{"market":"0x1","asset_id":"7","timestamp":"1757908892351","bids":[],"asks":[],
            "min_order_size":"5","neg_risk":true,"tick_size":"0.001"}"#;
        let (_, _, _, meta) = parse_book_meta(notes).unwrap();
        assert_eq!(meta, BookMeta { tick_size: Some(dec!(0.001)), neg_risk: Some(true) });
    }

    #[test]
    fn price_changes_report_the_top_of_book_they_leave() {
        let (_, tops) = parse_market_frame(&fixture("ws_market_price_change_msg.json")).unwrap();
        assert_eq!(tops.len(), 1);
        assert_eq!((tops[0].best_bid, tops[0].best_ask), (Some(dec!(0.51)), Some(dec!(0.52))));
        let empty = r#"{"event_type":"price_change","market":"0x","price_changes":[{"asset_id":"1",
            "price":"0.5","size":"0","side":"BUY","best_bid":"0","best_ask":"1"}]}"#;
        let (_, tops) = parse_market_frame(empty).unwrap();
        assert_eq!((tops[0].best_bid, tops[0].best_ask), (None, None));
    }

    #[test]
    fn market_channel_messages_become_events() {
        let book = parse_market_message(&fixture("ws_market_book_msg.json")).unwrap();
        assert!(
            matches!(&book[..], [MarketEvent::Book { bids, asks, .. }] if bids.len() == 2 && asks.len() == 2)
        );
        let change = parse_market_message(&fixture("ws_market_price_change_msg.json")).unwrap();
        assert!(matches!(
            &change[..],
            [MarketEvent::PriceChange { side: BookSide::Bids, price, size, .. }] if *price == dec!(0.51) && *size == dec!(150)
        ));
        let v2 = parse_market_message(&fixture("ws_price_change_v2.json")).unwrap();
        assert!(v2.len() >= 2, "{v2:?}");
        let trade = parse_market_message(&fixture("ws_market_last_trade_msg.json")).unwrap();
        assert!(
            matches!(&trade[..], [MarketEvent::Trade { side: Side::Buy, size, .. }] if *size == dec!(25))
        );
        let tick = parse_market_message(&fixture("ws_market_tick_size_msg.json")).unwrap();
        assert!(matches!(&tick[..], [MarketEvent::TickSize { tick_size, .. }] if *tick_size == dec!(0.01)));
        let resolved = parse_market_message(&fixture("ws_market_resolved_msg.json")).unwrap();
        assert!(
            matches!(&resolved[..], [MarketEvent::Resolved { winning_token, .. }] if winning_token.starts_with("7604307"))
        );
        assert!(parse_market_message(&fixture("ws_market_best_bid_ask_msg.json")).unwrap().is_empty());
        // Captures without an event_type are recognised by their fields.
        for (name, n) in
            [("ws_book_snapshot.json", 1), ("ws_last_trade.json", 1), ("ws_tick_size_change.json", 1)]
        {
            assert_eq!(parse_market_message(&fixture(name)).unwrap().len(), n, "{name}");
        }
    }

    #[test]
    fn a_bad_message_rejects_the_whole_frame_with_a_reason() {
        assert!(matches!(parse_market_message("{"), Err(ClobError::Json(_))));
        let bad_price = r#"[{"event_type":"last_trade_price","asset_id":"1","price":"0.5","side":"BUY","size":"1"},
                           {"event_type":"last_trade_price","asset_id":"1","price":"abc","side":"BUY","size":"1"}]"#;
        let err = parse_market_message(bad_price).unwrap_err();
        assert!(err.to_string().contains("\"abc\""), "{err}");
        let out_of_range =
            r#"{"event_type":"book","asset_id":"1","bids":[{"price":"1.5","size":"1"}],"asks":[]}"#;
        assert!(parse_market_message(out_of_range).unwrap_err().to_string().contains("out of range"));
        let missing = r#"{"event_type":"tick_size_change","asset_id":"1"}"#;
        assert!(parse_market_message(missing).unwrap_err().to_string().contains("new_tick_size"));
    }
}
