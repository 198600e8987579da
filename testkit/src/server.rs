//! The HTTP router: Gamma, CLOB (public, L1, L2) and Data API endpoints on one root, plus the
//! middleware that records every request and injects failures and delays.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::auth::{check_l1, check_l2};
use crate::engine::{ApiError, NO_BOOK};
use crate::model::{OrderStatus, Recorded};
use crate::state::{EXCHANGES, Order, Shared, State, Trade, dec_num, dec_str, lock};
use crate::{gamma, ws};

/// The last-page cursor.
const END_CURSOR: &str = "LTE=";
/// Most orders one `POST /orders` may carry.
const MAX_BATCH: usize = 15;

pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { Json("OK") }))
        .route("/time", get(time))
        .route("/version", get(version))
        .route("/book", get(book))
        .route("/books", post(books))
        .route("/tick-size", get(tick_size))
        .route("/neg-risk", get(neg_risk))
        .route("/fee-rate", get(fee_rate))
        .route("/price", get(price))
        .route("/midpoint", get(midpoint))
        .route("/spread", get(spread))
        .route("/markets", get(gamma_markets))
        .route("/markets/keyset", get(gamma_markets_keyset))
        .route("/markets/{id}", get(market_by_id))
        .route("/clob-markets/{id}", get(clob_market_info))
        .route("/markets-by-token/{id}", get(market_by_token))
        .route("/auth/api-key", post(l1_credentials))
        .route("/auth/derive-api-key", get(l1_credentials))
        .route("/order", post(post_order).delete(cancel_order))
        .route("/orders", post(post_orders).delete(cancel_orders))
        .route("/cancel-all", delete(cancel_all))
        .route("/cancel-market-orders", delete(cancel_market_orders))
        .route("/data/orders", get(open_orders))
        .route("/data/order/{id}", get(open_order))
        .route("/data/trades", get(clob_trades))
        .route("/balance-allowance", get(balance_allowance))
        .route("/balance-allowance/update", get(balance_allowance))
        .route("/v1/heartbeats", post(heartbeat))
        .route("/trades", get(data_trades))
        .route("/positions", get(data_positions))
        .route("/holders", get(data_holders))
        .route("/ws/market", get(ws::market))
        .route("/ws/user", get(ws::user))
        .fallback(|| async { error(&ApiError::new(404, "not found")) })
        .layer(middleware::from_fn_with_state(shared.clone(), record_and_fault))
        .with_state(shared)
}

/// Records the request, applies `delay` and `fail_next` faults, then records the status.
async fn record_and_fault(AxumState(shared): AxumState<Shared>, req: Request, next: Next) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 8 << 20).await.unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().to_ascii_lowercase().starts_with("poly_"))
        .map(|(k, v)| (k.as_str().to_ascii_uppercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let (idx, delay, answer_delay, fail) = {
        let mut st = lock(&shared);
        st.requests.push(Recorded {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            at,
            status: 0,
        });
        let delay = st.faults.delay.iter().find(|(p, _)| path.starts_with(p.as_str())).map(|(_, d)| *d);
        let answer_delay =
            st.faults.answer_delay.iter().find(|(p, _)| path.starts_with(p.as_str())).map(|(_, d)| *d);
        let fail = st
            .faults
            .fail
            .iter_mut()
            .find_map(|r| r.take(&path).then(|| ApiError::new(r.status, r.error.clone())));
        st.faults.fail.retain(|r| r.remaining > 0);
        let throttled = fail.is_none() && st.faults.rates.iter_mut().any(|c| c.over(&path, at));
        let fail = if throttled {
            st.faults.throttled += 1;
            Some(ApiError::new(429, "Too Many Requests"))
        } else {
            fail
        };
        (st.requests.len() - 1, delay, answer_delay, fail)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let response = match fail {
        Some(e) => error(&e),
        None => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    };
    if let Some(r) = lock(&shared).requests.get_mut(idx) {
        r.status = response.status().as_u16();
    }
    // Done at the venue; the answer is what is late (a client that gives up never hears it).
    if let Some(d) = answer_delay {
        tokio::time::sleep(d).await;
    }
    response
}

fn error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"error": e.message}))).into_response()
}

fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(&e),
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1]).zip(hex(bytes[i + 2])).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (decoded, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query pairs, in order (keys may repeat).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Self(pairs)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// All values of a key, comma-separated values split.
    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn parse_as<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        self.get(key)
            .map(|v| v.parse::<T>().map_err(|_| ApiError::bad(format!("invalid query parameter {key}: {v}"))))
            .transpose()
    }

    fn token(&self) -> Result<&str, ApiError> {
        self.get("token_id").filter(|t| !t.is_empty()).ok_or_else(|| ApiError::bad("missing token_id"))
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
}

/// Verifies L2 auth and remembers the account address.
fn l2(st: &mut State, headers: &HeaderMap, method: &Method, uri: &Uri, body: &[u8]) -> Result<(), ApiError> {
    check_l2(&st.creds, headers, method.as_str(), uri.path(), body)?;
    if let Some(address) = headers.get("POLY_ADDRESS").and_then(|v| v.to_str().ok()) {
        st.address = address.to_ascii_lowercase();
    }
    Ok(())
}

async fn time(AxumState(shared): AxumState<Shared>) -> Response {
    let st = lock(&shared);
    let t = st.server_time.unwrap_or_else(|| st.venue_secs());
    Json(t).into_response()
}

async fn book(AxumState(shared): AxumState<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = Query::parse(q.as_deref());
    let st = lock(&shared);
    respond(q.token().and_then(|t| st.book_json(t, false).ok_or_else(|| ApiError::new(404, NO_BOOK))))
}

async fn books(AxumState(shared): AxumState<Shared>, body: Bytes) -> Response {
    let st = lock(&shared);
    respond(parse_body(&body).and_then(|v| {
        let items = v.as_array().ok_or_else(|| ApiError::bad("expected a JSON array"))?;
        let books: Vec<Value> = items
            .iter()
            .filter_map(|i| i.get("token_id").and_then(Value::as_str))
            .filter_map(|t| st.book_json(t, false))
            .collect();
        Ok(Value::Array(books))
    }))
}

/// Runs `f` on the market of the `token_id` query parameter (404 when unknown).
fn with_market(
    shared: &Shared,
    q: Option<&str>,
    f: impl FnOnce(&State, &crate::MockMarket, &str) -> Result<Value, ApiError>,
) -> Response {
    let q = Query::parse(q);
    let st = lock(shared);
    respond(q.token().and_then(|t| {
        let (m, _) = st.market_of(t).ok_or_else(|| ApiError::new(404, NO_BOOK))?;
        f(&st, m, t)
    }))
}

async fn tick_size(AxumState(shared): AxumState<Shared>, RawQuery(q): RawQuery) -> Response {
    with_market(&shared, q.as_deref(), |_, m, _| Ok(json!({"minimum_tick_size": dec_num(m.tick_size)})))
}

async fn neg_risk(AxumState(shared): AxumState<Shared>, RawQuery(q): RawQuery) -> Response {
    with_market(&shared, q.as_deref(), |_, m, _| Ok(json!({"neg_risk": m.neg_risk})))
}

async fn fee_rate(AxumState(shared): AxumState<Shared>, RawQuery(q): RawQuery) -> Response {
    with_market(&shared, q.as_deref(), |_, m, _| {
        let bps = (m.fee_rate * Decimal::from(10_000)).trunc();
        Ok(json!({"base_fee": dec_num(bps)}))
    })
}

async fn price(AxumState(shared): AxumState<Shared>, RawQuery(raw): RawQuery) -> Response {
    let side = Query::parse(raw.as_deref()).get("side").map(str::to_ascii_uppercase);
    with_market(&shared, raw.as_deref(), move |st, _, t| {
        let (bid, ask) = st.best(t);
        let p = match side.as_deref() {
            Some("BUY") => bid,
            Some("SELL") => ask,
            _ => return Err(ApiError::bad("invalid side")),
        };
        p.map(|p| json!({"price": dec_str(p)})).ok_or_else(|| ApiError::new(404, "No orders on that side"))
    })
}

async fn midpoint(AxumState(shared): AxumState<Shared>, RawQuery(q): RawQuery) -> Response {
    with_market(&shared, q.as_deref(), |st, _, t| match st.best(t) {
        (Some(b), Some(a)) => Ok(json!({"mid": dec_str((b + a) / Decimal::TWO)})),
        _ => Err(ApiError::new(404, "No midpoint: one side of the book is empty")),
    })
}

async fn spread(AxumState(shared): AxumState<Shared>, RawQuery(q): RawQuery) -> Response {
    with_market(&shared, q.as_deref(), |st, _, t| match st.best(t) {
        (Some(b), Some(a)) => Ok(json!({"spread": dec_str(a - b)})),
        _ => Err(ApiError::new(404, "No spread: one side of the book is empty")),
    })
}

fn parse_bool(q: &Query, key: &str) -> Result<Option<bool>, ApiError> {
    q.parse_as::<bool>(key)
}

async fn gamma_markets(AxumState(shared): AxumState<Shared>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let st = lock(&shared);
    respond((|| {
        let limit = q.parse_as::<usize>("limit")?.unwrap_or(500).min(500);
        let offset = q.parse_as::<usize>("offset")?.unwrap_or(0);
        let items: Vec<Value> = gamma_filtered(&st, &q)?
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|m| st.gamma_market_json(m))
            .collect();
        Ok(Value::Array(items))
    })())
}

/// Most markets a `/markets/keyset` page holds.
const KEYSET_MAX: usize = 100;

/// `GET /markets/keyset`: the same filters, paged by an opaque `after_cursor`; `offset` is
/// refused, `next_cursor` is absent on the last page.
async fn gamma_markets_keyset(AxumState(shared): AxumState<Shared>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let st = lock(&shared);
    respond((|| {
        if q.get("offset").is_some() {
            return Err(ApiError::bad("offset is not supported on keyset endpoints: use after_cursor"));
        }
        let limit = q.parse_as::<usize>("limit")?.unwrap_or(20);
        if !(1..=KEYSET_MAX).contains(&limit) {
            return Err(ApiError::bad(format!("limit must be 1-{KEYSET_MAX}")));
        }
        let start = match q.get("after_cursor") {
            None => 0,
            Some(c) => c
                .strip_prefix("ks-")
                .and_then(|n| usize::from_str_radix(n, 16).ok())
                .ok_or_else(|| ApiError::bad("invalid after_cursor"))?,
        };
        let all = gamma_filtered(&st, &q)?;
        let items: Vec<Value> = all.iter().skip(start).take(limit).map(|m| st.gamma_market_json(m)).collect();
        let mut page = json!({ "markets": items });
        if start + limit < all.len() {
            page["next_cursor"] = json!(format!("ks-{:x}", start + limit));
        }
        Ok(page)
    })())
}

/// The markets a Gamma listing query selects, in listing order.
fn gamma_filtered<'s>(st: &'s State, q: &Query) -> Result<Vec<&'s crate::model::MockMarket>, ApiError> {
    let closed = parse_bool(q, "closed")?;
    let active = parse_bool(q, "active")?;
    let liquidity_min = q.parse_as::<Decimal>("liquidity_num_min")?;
    let volume_min = q.parse_as::<Decimal>("volume_num_min")?;
    let end_min = q.get("end_date_min");
    let end_max = q.get("end_date_max");
    let conditions = q.all("condition_ids");
    let tokens = q.all("clob_token_ids");
    let ids = q.all("id");
    let slugs = q.all("slug");
    let tag = q.get("tag_id");
    let items: Vec<&crate::model::MockMarket> = st
        .markets
        .iter()
        .filter(|m| closed.is_none_or(|c| m.closed == c))
        .filter(|m| active.is_none_or(|a| m.active == a))
        .filter(|m| liquidity_min.is_none_or(|l| m.liquidity >= l))
        .filter(|m| volume_min.is_none_or(|v| m.volume_24h >= v))
        .filter(|m| end_min.is_none_or(|d| m.end_date.as_str() >= d))
        .filter(|m| end_max.is_none_or(|d| m.end_date.as_str() <= d))
        .filter(|m| {
            conditions.is_empty() || conditions.iter().any(|c| c.eq_ignore_ascii_case(&m.condition_id))
        })
        .filter(|m| tokens.is_empty() || m.token_ids.iter().any(|t| tokens.contains(t)))
        .filter(|m| ids.is_empty() || ids.contains(&m.id))
        .filter(|m| slugs.is_empty() || slugs.contains(&m.slug))
        .filter(|m| tag.is_none_or(|t| m.tag_id == t))
        .collect();
    Ok(items)
}

/// `GET /markets/{id}`: a CLOB market when `id` is a condition id (`0x…`), else a Gamma market.
async fn market_by_id(AxumState(shared): AxumState<Shared>, Path(id): Path<String>) -> Response {
    let st = lock(&shared);
    if id.starts_with("0x") {
        respond(
            st.market_by_condition(&id)
                .map(|m| st.clob_market_json(m))
                .ok_or_else(|| ApiError::new(404, "market not found")),
        )
    } else {
        respond(
            st.markets
                .iter()
                .find(|m| m.id == id)
                .map(|m| st.gamma_market_json(m))
                .ok_or_else(|| ApiError::new(404, "market not found")),
        )
    }
}

async fn clob_market_info(AxumState(shared): AxumState<Shared>, Path(id): Path<String>) -> Response {
    let st = lock(&shared);
    respond(
        st.market_by_condition(&id)
            .map(State::clob_market_info_json)
            .ok_or_else(|| ApiError::new(404, "market not found")),
    )
}

async fn market_by_token(AxumState(shared): AxumState<Shared>, Path(id): Path<String>) -> Response {
    let st = lock(&shared);
    respond(
        st.market_of(&id)
            .map(|(m, _)| {
                json!({
                    "condition_id": m.condition_id,
                    "primary_token_id": m.token_ids[0],
                    "secondary_token_id": m.token_ids[1],
                })
            })
            .ok_or_else(|| ApiError::new(404, NO_BOOK)),
    )
}

async fn l1_credentials(AxumState(shared): AxumState<Shared>, headers: HeaderMap) -> Response {
    let mut st = lock(&shared);
    respond(check_l1(&headers).map(|()| {
        if let Some(address) = headers.get("POLY_ADDRESS").and_then(|v| v.to_str().ok()) {
            st.address = address.to_ascii_lowercase();
        }
        json!({
            "apiKey": st.creds.api_key,
            "secret": st.creds.secret,
            "passphrase": st.creds.passphrase,
        })
    }))
}

async fn post_order(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, &body).and_then(|()| st.post_order(&parse_body(&body)?)))
}

async fn post_orders(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, &body).and_then(|()| {
        let v = parse_body(&body)?;
        let items = v.as_array().ok_or_else(|| ApiError::bad("expected a JSON array of orders"))?;
        if items.len() > MAX_BATCH {
            return Err(ApiError::bad(format!("Too many orders in payload, max allowed is {MAX_BATCH}")));
        }
        let out: Vec<Value> = items
            .iter()
            .map(|item| {
                st.post_order(item).unwrap_or_else(|e| {
                    json!({
                        "success": false,
                        "errorMsg": e.message,
                        "orderID": "",
                        "status": "",
                        "makingAmount": "",
                        "takingAmount": "",
                        "transactionsHashes": [],
                        "tradeIDs": [],
                    })
                })
            })
            .collect();
        Ok(Value::Array(out))
    }))
}

async fn cancel_order(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, &body).and_then(|()| {
        let v = parse_body(&body)?;
        let id = v.get("orderID").and_then(Value::as_str).ok_or_else(|| ApiError::bad("missing orderID"))?;
        Ok(st.cancel(&[id.to_owned()]))
    }))
}

async fn cancel_orders(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, &body).and_then(|()| {
        let ids: Vec<String> =
            serde_json::from_slice(&body).map_err(|_| ApiError::bad("expected a JSON array of order ids"))?;
        Ok(st.cancel(&ids))
    }))
}

async fn cancel_all(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, &body).map(|()| {
        let ids = st.live_ids(|_| true);
        st.cancel(&ids)
    }))
}

async fn cancel_market_orders(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, &body).and_then(|()| {
        let v = if body.is_empty() { json!({}) } else { parse_body(&body)? };
        let market = v.get("market").and_then(Value::as_str).map(str::to_owned);
        let asset = v.get("asset_id").and_then(Value::as_str).map(str::to_owned);
        let ids = st.live_ids(|o| {
            market.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(&o.market))
                && asset.as_ref().is_none_or(|a| *a == o.token)
        });
        Ok(st.cancel(&ids))
    }))
}

/// One page of `items` from the `next_cursor` offset (base64 of the decimal offset).
fn page(items: Vec<Value>, cursor: Option<&str>, limit: usize) -> Result<Value, ApiError> {
    let offset = match cursor {
        None | Some("") => 0,
        Some(END_CURSOR) => items.len(),
        Some(c) => STANDARD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| ApiError::bad("invalid next_cursor"))?,
    };
    let limit = limit.max(1);
    let data: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
    let next = offset + data.len();
    let next_cursor =
        if next >= items.len() { END_CURSOR.to_owned() } else { STANDARD.encode(next.to_string()) };
    Ok(json!({"data": data, "next_cursor": next_cursor, "limit": limit, "count": data.len()}))
}

fn order_matches(o: &Order, q: &Query) -> bool {
    q.get("id").is_none_or(|id| id == o.id)
        && q.get("market").is_none_or(|m| m.eq_ignore_ascii_case(&o.market))
        && q.get("asset_id").is_none_or(|a| a == o.token)
}

async fn open_orders(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, b"").and_then(|()| {
        let items: Vec<Value> = st
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::Live && order_matches(o, &q))
            .map(|o| st.order_json(o))
            .collect();
        page(items, q.get("next_cursor"), st.page_limit)
    }))
}

async fn open_order(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, b"").and_then(|()| {
        st.orders
            .iter()
            .find(|o| o.id == id)
            .map(|o| st.order_json(o))
            .ok_or_else(|| ApiError::new(404, "order not found"))
    }))
}

fn trade_matches(st: &State, t: &Trade, q: &Query) -> Result<bool, ApiError> {
    let before = q.parse_as::<i64>("before")?;
    let after = q.parse_as::<i64>("after")?;
    let address = |key: &str| q.get(key).is_none_or(|a| a.eq_ignore_ascii_case(&st.address));
    Ok(q.get("id").is_none_or(|id| id == t.id)
        && q.get("market").is_none_or(|m| m.eq_ignore_ascii_case(&t.market))
        && q.get("asset_id").is_none_or(|a| a == t.token)
        && address("maker")
        && address("taker")
        && before.is_none_or(|b| t.match_time < b)
        && after.is_none_or(|a| t.match_time > a))
}

async fn clob_trades(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, b"").and_then(|()| {
        let mut items = Vec::new();
        for t in &st.trades {
            if trade_matches(&st, t, &q)? {
                let mut item = st.trade_json(t);
                for (field, value) in &st.faults.trade_overrides {
                    item[field.as_str()] = value.clone();
                }
                items.push(item);
            }
        }
        page(items, q.get("next_cursor"), st.page_limit)
    }))
}

async fn balance_allowance(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let mut st = lock(&shared);
    respond(l2(&mut st, &headers, &method, &uri, b"").and_then(|()| {
        if uri.path().ends_with("/update") {
            st.unseen_deposits = Decimal::ZERO;
        }
        st.balance_read = true;
        let units = match q.get("asset_type").unwrap_or("COLLATERAL").to_ascii_uppercase().as_str() {
            "COLLATERAL" => st.balance - st.unseen_deposits,
            "CONDITIONAL" => {
                let token = q.token()?;
                st.positions.get(token).map_or(Decimal::ZERO, |p| p.size)
            }
            other => return Err(ApiError::bad(format!("invalid asset_type: {other}"))),
        };
        let raw_units = (units * Decimal::from(1_000_000)).trunc();
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        let allowances: BTreeMap<&str, &str> = EXCHANGES.iter().map(|e| (*e, max)).collect();
        Ok(json!({"balance": dec_str(raw_units), "allowances": allowances}))
    }))
}

async fn version(AxumState(shared): AxumState<Shared>) -> Response {
    Json(json!({"version": lock(&shared).version})).into_response()
}

async fn heartbeat(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared);
    let answer = l2(&mut st, &headers, &method, &uri, &body).and_then(|()| {
        let v = parse_body(&body)?;
        let sent = match v.get("heartbeat_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(ApiError::bad("invalid heartbeat_id")),
        };
        // A chain goes on with the id the last answer gave; `null` starts a new one. Any other
        // id is stale: the answer is a 400 carrying the id to use, and it is not a heartbeat.
        match (sent, &st.heartbeat.id) {
            (Some(sent), Some(current)) if &sent != current => {
                let answer = current.clone();
                if st.heartbeat.move_after_stale > 0 {
                    st.heartbeat.move_after_stale -= 1;
                    let moved = st.uuid();
                    st.heartbeat.id = Some(moved);
                }
                return Ok(Err(answer));
            }
            (Some(_), None) => {
                let id = st.uuid();
                st.heartbeat.id = Some(id.clone());
                return Ok(Err(id));
            }
            _ => {}
        }
        let id = st.uuid();
        st.heartbeat.id = Some(id.clone());
        st.heartbeat.last = Some(Instant::now());
        Ok(Ok(json!({"heartbeat_id": id, "error": null})))
    });
    match answer {
        Ok(Err(current)) => {
            (StatusCode::BAD_REQUEST, Json(json!({"heartbeat_id": current, "error": "Invalid Heartbeat ID"})))
                .into_response()
        }
        Ok(Ok(v)) => respond(Ok(v)),
        Err(e) => respond(Err(e)),
    }
}

async fn data_trades(AxumState(shared): AxumState<Shared>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let st = lock(&shared);
    respond((|| {
        let limit = q.parse_as::<usize>("limit")?.unwrap_or(100);
        let offset = q.parse_as::<usize>("offset")?.unwrap_or(0);
        let markets = q.all("market");
        let user = q.get("user");
        let side = q.get("side");
        if !st.data_api.trades.is_empty() {
            // Public trades too: the whale tracker's view (see `data_api`).
            let own: Vec<Value> = st.trades.iter().rev().filter_map(|t| st.data_trade_json(t)).collect();
            return crate::data_api::trades(&st, own, &q.0).map_err(ApiError::bad);
        }
        if user.is_some_and(|u| !u.eq_ignore_ascii_case(&st.address)) {
            return Ok(json!([]));
        }
        let items: Vec<Value> = st
            .trades
            .iter()
            .rev()
            .filter(|t| markets.is_empty() || markets.iter().any(|m| m.eq_ignore_ascii_case(&t.market)))
            .filter(|t| gamma::side_matches(t.side, side))
            .filter_map(|t| st.data_trade_json(t))
            .skip(offset)
            .take(limit)
            .collect();
        Ok(Value::Array(items))
    })())
}

async fn data_holders(AxumState(shared): AxumState<Shared>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let st = lock(&shared);
    respond(crate::data_api::holders(&st, &q.0).map_err(ApiError::bad))
}

async fn data_positions(AxumState(shared): AxumState<Shared>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let st = lock(&shared);
    respond(match q.get("user") {
        None => Err(ApiError::bad("missing user")),
        Some(u) if !u.eq_ignore_ascii_case(&st.address) => Ok(json!([])),
        Some(_) => Ok(Value::Array(st.positions_json())),
    })
}
