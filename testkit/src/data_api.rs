//! The public side of the Data API the whale tracker reads: other wallets' trades (`GET /trades`
//! with `market`, `user`, `side`, `filterType=CASH&filterAmount=`, `limit`, `offset`) and top
//! holders (`GET /holders?market=&limit=&minBalance=`).
//!
//! Records are kept as raw JSON so a test can serve a malformed one exactly as written. The
//! `/holders` shape follows `polymarket/API-NOTES.md` (Polymarket's public Data API docs):
//! `[{"token": "<asset>", "holders": [{"proxyWallet", "asset", "amount", "outcomeIndex",
//! "pseudonym", "name", "verified"}]}]`, one entry per token of the markets asked for.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::state::State;

/// Most trades one `/trades` page may carry (Polymarket's documented maximum).
const MAX_TRADES_LIMIT: usize = 10_000;
/// Most holders per token (Polymarket's documented maximum).
const MAX_HOLDERS_LIMIT: usize = 20;

/// Public Data API records, newest trade last.
#[derive(Debug, Default)]
pub(crate) struct DataApi {
    pub(crate) trades: Vec<Value>,
    /// Condition id → the `/holders` entries (one per token) of that market.
    pub(crate) holders: BTreeMap<String, Vec<Value>>,
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn list(q: &[(String, String)], key: &str) -> Vec<String> {
    q.iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_ascii_lowercase()).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number<T: std::str::FromStr>(q: &[(String, String)], key: &str) -> Result<Option<T>, String> {
    param(q, key)
        .map(|v| v.parse::<T>().map_err(|_| format!("invalid query parameter {key}: {v}")))
        .transpose()
}

fn lower(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_ascii_lowercase)
}

/// `GET /trades` over the account's own trades (`own`, newest first) and the public ones.
pub(crate) fn trades(st: &State, own: Vec<Value>, q: &[(String, String)]) -> Result<Value, String> {
    let limit = number::<usize>(q, "limit")?.unwrap_or(100).min(MAX_TRADES_LIMIT);
    let limit = limit.min(st.page_limit);
    let offset = number::<usize>(q, "offset")?.unwrap_or(0);
    let markets = list(q, "market");
    let user = param(q, "user").map(str::to_ascii_lowercase);
    let side = param(q, "side").map(str::to_ascii_uppercase);
    let min_cash = match param(q, "filterType").map(str::to_ascii_uppercase).as_deref() {
        None => None,
        Some("CASH") => number::<f64>(q, "filterAmount")?,
        Some("TOKENS") => return Err("filterType TOKENS is not supported by the mock".into()),
        Some(other) => return Err(format!("invalid filterType: {other}")),
    };
    let keep = |t: &&Value| {
        // Unreadable fields pass the filters: the client must cope with what the venue serves.
        let market_ok = markets.is_empty() || lower(t, "conditionId").is_none_or(|c| markets.contains(&c));
        let user_ok = user.as_ref().is_none_or(|u| lower(t, "proxyWallet").is_none_or(|w| w == *u));
        let side_ok = side
            .as_ref()
            .is_none_or(|s| t.get("side").and_then(Value::as_str).is_none_or(|x| x.eq_ignore_ascii_case(s)));
        let cash_ok = min_cash.is_none_or(|min| {
            match (t.get("size").and_then(Value::as_f64), t.get("price").and_then(Value::as_f64)) {
                (Some(size), Some(price)) => size * price >= min,
                _ => true,
            }
        });
        market_ok && user_ok && side_ok && cash_ok
    };
    let items: Vec<Value> = own
        .iter()
        .chain(st.data_api.trades.iter().rev())
        .filter(keep)
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    Ok(Value::Array(items))
}

/// `GET /holders`.
pub(crate) fn holders(st: &State, q: &[(String, String)]) -> Result<Value, String> {
    let markets = list(q, "market");
    if markets.is_empty() {
        return Err("missing market".into());
    }
    let limit = number::<usize>(q, "limit")?.unwrap_or(MAX_HOLDERS_LIMIT).min(MAX_HOLDERS_LIMIT);
    let min_balance = number::<f64>(q, "minBalance")?.unwrap_or(0.0);
    let mut out = Vec::new();
    for m in &markets {
        for entry in st.data_api.holders.get(m).into_iter().flatten() {
            let mut entry = entry.clone();
            if let Some(Value::Array(hs)) = entry.get_mut("holders") {
                hs.retain(|h| h.get("amount").and_then(Value::as_f64).is_none_or(|a| a >= min_balance));
                hs.truncate(limit);
            }
            out.push(entry);
        }
    }
    Ok(Value::Array(out))
}
