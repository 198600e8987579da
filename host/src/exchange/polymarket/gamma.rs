//! Gamma `GET /markets` items into [`Market`]s: lenient about what Gamma leaves out or encodes
//! oddly (JSON inside strings, numbers as strings), strict about what trading needs.

use crate::exchange::book::TakerFee;
use crate::exchange::numbers;
use crate::exchange::types::{Market, Outcome};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::str::FromStr;

/// Why a Gamma market cannot be traded by the bot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GammaError {
    #[error("malformed Gamma JSON: {0}")]
    Json(String),
    #[error("market {id}: {reason}")]
    Unusable { id: String, reason: String },
}

/// A number Gamma sends either as a JSON number or as a string, kept exact.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Num {
    Number(serde_json::Number),
    Text(String),
}

impl Num {
    fn decimal(&self) -> Option<Decimal> {
        let text = match self {
            // serde_json prints the shortest text that reads back to the same double, which is
            // the literal Gamma sent for every value it sends (prices, sizes, pUSD amounts).
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.trim().to_string(),
        };
        Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)).ok()
    }
}

#[derive(Debug, Clone, Deserialize)]
struct FeeSchedule {
    rate: Option<Num>,
    exponent: Option<Num>,
}

#[derive(Debug, Clone, Deserialize)]
struct GammaEvent {
    category: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GammaMarket {
    id: Option<String>,
    question: Option<String>,
    condition_id: Option<String>,
    slug: Option<String>,
    end_date: Option<String>,
    category: Option<String>,
    outcomes: Option<String>,
    clob_token_ids: Option<String>,
    liquidity_num: Option<Num>,
    volume24hr: Option<Num>,
    order_price_min_tick_size: Option<Num>,
    order_min_size: Option<Num>,
    neg_risk: Option<bool>,
    active: Option<bool>,
    closed: Option<bool>,
    enable_order_book: Option<bool>,
    accepting_orders: Option<bool>,
    fees_enabled: Option<bool>,
    fee_schedule: Option<FeeSchedule>,
    events: Option<Vec<GammaEvent>>,
    /// `"v2"` marks a Protocol-V2 market (`positionIds` on ExchangeV3); absent for today's.
    version: Option<String>,
}

/// Why a market was left out of a listing: Protocol-V2 markets are counted apart, so the
/// operator sees how many the bot does not trade.
pub const PROTOCOL_V2: &str =
    "a Protocol-V2 market (positionIds on ExchangeV3), which this version does not trade";

/// Parses one Gamma market object.
///
/// # Errors
/// Malformed JSON, or a market the bot cannot trade (closed, not binary, no order book, missing
/// token ids or condition id), with the reason.
pub fn parse_market(json: &str) -> Result<Market, GammaError> {
    let raw: GammaMarket = serde_json::from_str(json).map_err(|e| GammaError::Json(e.to_string()))?;
    to_market(raw)
}

/// Parses a `GET /markets` page, keeping the tradeable binary markets and reporting the rest.
///
/// # Errors
/// When the page itself is not a JSON array of objects.
pub fn parse_markets(json: &str) -> Result<(Vec<Market>, Vec<GammaError>), GammaError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| GammaError::Json(e.to_string()))?;
    Ok(sort_items(items))
}

/// A page of `GET /markets/keyset`: its tradeable binary markets, the rest with reasons, and
/// the cursor of the next page (absent on the last).
///
/// # Errors
/// When the page is not an object with a `markets` array.
pub fn parse_keyset_page(json: &str) -> Result<KeysetPage, GammaError> {
    #[derive(Deserialize)]
    struct Page {
        markets: Vec<serde_json::Value>,
        next_cursor: Option<String>,
    }
    let page: Page = serde_json::from_str(json).map_err(|e| GammaError::Json(e.to_string()))?;
    let (markets, skipped) = sort_items(page.markets);
    Ok(KeysetPage { markets, skipped, next_cursor: page.next_cursor.filter(|c| !c.is_empty()) })
}

/// One page of `GET /markets/keyset`.
#[derive(Debug)]
pub struct KeysetPage {
    pub markets: Vec<Market>,
    /// Markets left out, with the reason.
    pub skipped: Vec<GammaError>,
    /// The next page's cursor; absent on the last page.
    pub next_cursor: Option<String>,
}

fn sort_items(items: Vec<serde_json::Value>) -> (Vec<Market>, Vec<GammaError>) {
    let mut markets = Vec::new();
    let mut skipped = Vec::new();
    for item in items {
        match serde_json::from_value::<GammaMarket>(item)
            .map_err(|e| GammaError::Json(e.to_string()))
            .and_then(to_market)
        {
            Ok(m) => markets.push(m),
            Err(e) => skipped.push(e),
        }
    }
    (markets, skipped)
}

fn to_market(raw: GammaMarket) -> Result<Market, GammaError> {
    let id = raw.condition_id.clone().or(raw.id.clone()).unwrap_or_else(|| "?".into());
    let unusable = |reason: &str| GammaError::Unusable { id: id.clone(), reason: reason.into() };
    if raw.closed == Some(true) {
        return Err(unusable("closed"));
    }
    if raw.active == Some(false) {
        return Err(unusable("not active"));
    }
    if raw.enable_order_book != Some(true) {
        return Err(unusable("no order book"));
    }
    // Its token ids are V1 ids the exchange would not match against: never trade it with them.
    if raw.version.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("v2")) {
        return Err(unusable(PROTOCOL_V2));
    }
    let condition_id = raw.condition_id.clone().ok_or_else(|| unusable("no condition id"))?;
    let names: Vec<String> =
        json_list(raw.outcomes.as_deref()).ok_or_else(|| unusable("outcomes are not a JSON list"))?;
    let tokens: Vec<String> = json_list(raw.clob_token_ids.as_deref())
        .ok_or_else(|| unusable("clobTokenIds are not a JSON list"))?;
    if names.len() != 2 || tokens.len() != 2 {
        return Err(unusable(&format!("not binary ({} outcomes, {} tokens)", names.len(), tokens.len())));
    }
    if tokens.iter().any(|t| t.is_empty() || !t.chars().all(|c| c.is_ascii_digit())) {
        return Err(unusable("token ids are not decimal numbers"));
    }
    let end_ms = match raw.end_date.as_deref() {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|e| unusable(&format!("end date {text:?}: {e}")))?
                .timestamp_millis(),
        ),
    };
    let dec = |n: &Option<Num>| n.as_ref().and_then(Num::decimal);
    let tick_size = dec(&raw.order_price_min_tick_size).unwrap_or(Decimal::new(1, 2));
    if tick_size <= Decimal::ZERO || tick_size >= Decimal::ONE {
        return Err(unusable(&format!("tick size {tick_size} is not between 0 and 1")));
    }
    // Numbers out of range make the market unusable (malformed), never a wrong trade.
    let checked = |what: &str, v: Decimal, check: fn(&str, Decimal) -> crate::exchange::Result<Decimal>| {
        check(what, v).map_err(|e| unusable(&e.to_string()))
    };
    let fee = match (&raw.fees_enabled, &raw.fee_schedule) {
        (Some(true), Some(FeeSchedule { rate, exponent })) => TakerFee {
            rate: checked("fee rate", dec(rate).unwrap_or_default(), numbers::price)?,
            exponent: checked("fee exponent", dec(exponent).unwrap_or(Decimal::ONE), numbers::exponent)?,
        },
        _ => TakerFee::ZERO,
    };
    let min_size =
        checked("order min size", dec(&raw.order_min_size).unwrap_or(Decimal::from(5)), numbers::quantity)?;
    let liquidity = checked("liquidity", dec(&raw.liquidity_num).unwrap_or_default(), numbers::statistic)?;
    let volume_24h = checked("24 h volume", dec(&raw.volume24hr).unwrap_or_default(), numbers::statistic)?;
    let category = raw
        .category
        .clone()
        .or_else(|| raw.events.as_ref().and_then(|e| e.iter().find_map(|e| e.category.clone())))
        .unwrap_or_else(|| "other".into());
    let mut pairs = names.into_iter().zip(tokens);
    let mut outcome = || {
        let (name, token_id) = pairs.next().unwrap_or_default();
        Outcome { name, token_id }
    };
    Ok(Market {
        id: condition_id,
        question: raw.question.unwrap_or_default(),
        slug: raw.slug.unwrap_or_default(),
        category,
        end_ms,
        outcomes: [outcome(), outcome()],
        tick_size,
        min_size,
        neg_risk: raw.neg_risk.unwrap_or(false),
        liquidity,
        volume_24h,
        accepting_orders: raw.accepting_orders.unwrap_or(false),
        fee,
    })
}

/// A JSON list encoded inside a string, as Gamma sends `outcomes` and `clobTokenIds`.
fn json_list(text: Option<&str>) -> Option<Vec<String>> {
    serde_json::from_str(text?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::polymarket::fixture;
    use rust_decimal_macros::dec;

    #[test]
    fn a_real_gamma_market_parses_with_its_json_encoded_fields() {
        let m = parse_market(&fixture("gamma_market.json")).unwrap();
        assert_eq!(m.id, "0x78443f961b9a65869dcb39359de9960165c7e5cbad0904eac7f29cd77872a63b");
        assert_eq!(m.question, "Bitcoin Up or Down - March 12, 5:20AM-5:25AM ET");
        assert_eq!((m.outcomes[0].name.as_str(), m.outcomes[1].name.as_str()), ("Up", "Down"));
        assert!(m.outcomes[0].token_id.starts_with("1042398980388071"));
        assert_eq!(m.tick_size, dec!(0.01));
        assert_eq!(m.min_size, dec!(5));
        assert_eq!(m.liquidity, dec!(20328.3747));
        assert_eq!(m.volume_24h, dec!(9.999997));
        assert_eq!(m.end_ms, Some(1_773_307_500_000));
        assert!(m.accepting_orders && !m.neg_risk);
    }

    #[test]
    fn closed_legacy_and_non_tradeable_markets_are_refused_with_a_reason() {
        for name in [
            "gamma_market_closed_nonbinary_legacy.json",
            "gamma_market_closed_zero_zero_legacy.json",
            "gamma_market_sports_market_money_line.json",
        ] {
            let err = parse_market(&fixture(name)).unwrap_err();
            assert!(
                matches!(&err, GammaError::Unusable { reason, .. } if reason == "closed"),
                "{name}: {err}"
            );
        }
        // A Protocol-V2 market is left out, even with its V1 token ids present; a missing
        // version keeps today's meaning.
        let mut v2: serde_json::Value = serde_json::from_str(&fixture("gamma_market.json")).unwrap();
        v2["closed"] = false.into();
        v2["active"] = true.into();
        v2["enableOrderBook"] = true.into();
        let today = parse_market(&v2.to_string());
        v2["version"] = "v2".into();
        let err = parse_market(&v2.to_string()).unwrap_err();
        assert!(matches!(&err, GammaError::Unusable { reason, .. } if reason == PROTOCOL_V2), "{err}");
        assert!(today.is_ok(), "{today:?}");
    }

    #[test]
    fn keyset_pages_carry_their_markets_and_the_next_cursor() {
        let market = fixture("gamma_market.json");
        let page =
            parse_keyset_page(&format!(r#"{{"markets":[{market},{{"id":"x"}}],"next_cursor":"abc"}}"#))
                .unwrap();
        assert_eq!((page.markets.len() + page.skipped.len(), page.next_cursor.as_deref()), (2, Some("abc")));
        assert_eq!(parse_keyset_page(r#"{"markets":[]}"#).unwrap().next_cursor, None);
        assert!(parse_keyset_page("[]").is_err(), "an offset page is not a keyset page");
    }

    #[test]
    fn fee_schedules_and_odd_values_are_read_exactly() {
        let mut v: serde_json::Value =
            serde_json::from_str(&fixture("gamma_market_sports_market_money_line.json")).unwrap();
        v["closed"] = false.into();
        v["liquidityNum"] = "1234.5".into();
        let m = parse_market(&v.to_string()).unwrap();
        assert_eq!(m.fee, TakerFee { rate: dec!(0.03), exponent: Decimal::ONE });
        assert_eq!(m.tick_size, dec!(0.001));
        assert_eq!(m.liquidity, dec!(1234.5));
        // A fractional exponent keeps the market, exactly.
        v["feeSchedule"]["exponent"] = serde_json::json!(1.5);
        let m = parse_market(&v.to_string()).unwrap();
        assert_eq!(m.fee, TakerFee { rate: dec!(0.03), exponent: dec!(1.5) });
    }

    #[test]
    fn malformed_input_gives_a_clear_error_and_a_page_keeps_the_good_markets() {
        assert!(matches!(parse_market("{not json"), Err(GammaError::Json(_))));
        let mut bad: serde_json::Value = serde_json::from_str(&fixture("gamma_market.json")).unwrap();
        bad["clobTokenIds"] = "[\"1\"]".into();
        let err = parse_market(&bad.to_string()).unwrap_err();
        assert!(err.to_string().contains("not binary"), "{err}");
        bad["clobTokenIds"] = "not a list".into();
        assert!(parse_market(&bad.to_string()).unwrap_err().to_string().contains("clobTokenIds"));
        let page = format!("[{}, {}]", fixture("gamma_market.json"), bad);
        let (markets, skipped) = parse_markets(&page).unwrap();
        assert_eq!((markets.len(), skipped.len()), (1, 1));
        assert!(parse_markets("{}").is_err());
    }
}
