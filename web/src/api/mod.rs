//! The JSON API under `/api` (and `/healthz`): thin handlers over the [`Backend`] that parse and
//! validate requests strictly, so every refusal is an [`AppError`] with a clear message.

use crate::auth::MAX_BODY;
use crate::backend::{FieldError, off_workers};
use crate::error::{AppError, AppResult};
use crate::model::{HistoryPage, Overview, Performance, WhaleDetail};
use crate::query::HistoryQuery;
use crate::{AppState, Backend, csv};
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::{Map, Value, json};
use std::str::FromStr;

pub(crate) mod operator;
mod shadows;
mod wallet;

/// Most opportunities one request may list.
const MAX_OPPORTUNITIES: usize = 2000;
/// Most closed positions one history page may hold.
const MAX_HISTORY: usize = 500;
/// Most trades one request may list (the CSV export has no limit: it streams).
const MAX_TRADES: usize = 1000;
/// Most whales, news items or trends one request may list.
const MAX_SIGNALS: usize = 500;
/// Longest trend window, seconds (30 days): price history is not kept longer.
const MAX_TREND_WINDOW: u64 = 30 * 86_400;
/// Decimals a capital amount may carry: pUSD has 6.
const CAPITAL_DECIMALS: u32 = 6;
/// Longest market id accepted (condition ids are 66 characters).
const MAX_MARKET_ID: usize = 200;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/healthz", get(healthz::<B>))
        .route("/api/positions", get(positions::<B>).post(enter::<B>))
        .route("/api/positions/history", get(history::<B>))
        .route("/api/positions/{id}", get(position::<B>).delete(close::<B>))
        .route("/api/trades", get(trades::<B>))
        .route("/api/trades.csv", get(csv::export::<B>))
        .route("/api/opportunities", get(opportunities::<B>))
        .route("/api/opportunities/scan", post(scan::<B>))
        .merge(wallet::routes::<B>())
        .merge(operator::routes::<B>())
        .route("/api/dashboard/overview", get(overview::<B>))
        .route("/api/dashboard/performance", get(performance::<B>))
        .route("/api/whales", get(whales::<B>))
        .route("/api/whales/{address}", get(whale::<B>))
        .route("/api/info/news", get(news::<B>))
        .route("/api/info/news/sources", get(news_sources::<B>))
        // Under /api/info, like the news sources: /api/whales/{address} takes any segment.
        .route("/api/info/whales/tracker", get(whale_tracker::<B>))
        .route("/api/info/trends", get(trends::<B>))
        .route("/api/plugins", get(plugins::<B>))
        .route("/api/plugins/{kind}/{name}/params", put(set_plugin_params::<B>))
        .merge(shadows::routes::<B>())
        // Unknown API paths answer JSON like every other API error, not an empty 404.
        .route("/api/{*rest}", any(no_such_endpoint))
        .merge(csv::routes::<B>())
}

// --- Extractors whose refusals are `AppError`s ---------------------------------------------

/// A JSON body (`Content-Type: application/json`); malformed or mistyped → 400, larger than
/// [`MAX_BODY`] → 413, both as JSON.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            AppError::bad_request("the body must be JSON sent with `Content-Type: application/json`")
        }
        other => AppError::bad_request(other.body_text()),
    }
}

/// 413, as JSON.
pub(crate) fn too_large() -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than the {} KiB limit", MAX_BODY / 1024),
    )
}

/// A query string; a parameter of the wrong type → 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| AppError::bad_request(rejection.body_text()))
    }
}

/// Path parameters; undecodable ones → 400.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection: PathRejection| AppError::bad_request(rejection.body_text()))
    }
}

/// An optional query number where an empty value (`limit=`, as forms send it) means absent.
fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: Option<String> = Option::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format_args!("{text:?} is not a valid number: {e}"))),
    }
}

/// 422 naming one field.
fn invalid(field: &str, message: impl Into<String>) -> AppError {
    let message = message.into();
    AppError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: message.clone(),
        fields: vec![FieldError { field: field.to_owned(), message }],
    }
}

/// `limit` as asked, or `default`, never above `max` (a larger one is served as `max`).
fn capped(limit: Option<usize>, default: usize, max: usize) -> usize {
    limit.unwrap_or(default).min(max)
}

// --- Handlers -----------------------------------------------------------------------------

/// `GET /healthz`, without credentials (for probes): 200 `{"status":"ok"}`, or 503 with the
/// reason while the safety net of open positions (the market feed or the sweep) is down.
async fn healthz<B: Backend>(State(state): State<AppState<B>>) -> Response {
    match state.backend.unhealthy() {
        None => axum::Json(json!({ "status": "ok" })).into_response(),
        Some(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "status": "down", "reason": reason })))
                .into_response()
        }
    }
}

async fn no_such_endpoint() -> AppError {
    AppError::not_found("no such API endpoint; see docs/api.md")
}

async fn positions<B: Backend>(State(state): State<AppState<B>>) -> Response {
    axum::Json(json!({ "positions": state.backend.positions() })).into_response()
}

/// `POST /api/positions`. Unknown fields are refused so a typo (`capital` for
/// `capital_amount`) cannot silently fall back to the default allocation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnterBody {
    market_id: String,
    #[serde(default)]
    capital_amount: Option<Value>,
}

async fn enter<B: Backend>(
    State(state): State<AppState<B>>,
    ApiJson(body): ApiJson<EnterBody>,
) -> AppResult<Response> {
    let market_id = body.market_id.trim();
    if market_id.is_empty() {
        return Err(invalid("market_id", "`market_id` must not be empty"));
    }
    if market_id.chars().count() > MAX_MARKET_ID {
        return Err(invalid("market_id", format!("`market_id` is longer than {MAX_MARKET_ID} characters")));
    }
    let capital = capital_amount(body.capital_amount.as_ref())?;
    let position = state.backend.enter(market_id.to_owned(), capital).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "position": position }))).into_response())
}

/// The capital of an entry, exactly: a JSON number is taken by its text (never through a
/// float of ours), a string must be a plain decimal; `null`, absence or an empty string mean
/// "the configured allocation".
///
/// # Errors
/// 422 naming `capital_amount` when it is not a decimal, not above zero, or finer than 6
/// decimals.
pub(crate) fn capital_amount(value: Option<&Value>) -> AppResult<Option<Decimal>> {
    const FIELD: &str = "capital_amount";
    let amount = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(Value::String(text)) => parse_plain_decimal(text.trim()),
        Some(Value::Number(number)) => {
            let text = number.to_string();
            Decimal::from_str(&text).ok().or_else(|| Decimal::from_scientific(&text).ok())
        }
        Some(_) => None,
    };
    let Some(amount) = amount else {
        return Err(invalid(
            FIELD,
            "`capital_amount` must be a decimal number of pUSD, such as 250 or \"250.5\"",
        ));
    };
    if amount <= Decimal::ZERO {
        return Err(invalid(FIELD, format!("`capital_amount` must be greater than 0, got {amount}")));
    }
    if amount.normalize().scale() > CAPITAL_DECIMALS {
        return Err(invalid(
            FIELD,
            format!(
                "`capital_amount` has more than {CAPITAL_DECIMALS} decimals (pUSD has {CAPITAL_DECIMALS})"
            ),
        ));
    }
    Ok(Some(amount.normalize()))
}

/// `[-]digits[.digits]`: no exponent, underscores, `NaN` or `inf` that a looser parser takes.
fn parse_plain_decimal(text: &str) -> Option<Decimal> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    Decimal::from_str(text).ok()
}

/// A position id from the path: a whole number.
fn position_id(text: &str) -> AppResult<u64> {
    text.parse()
        .map_err(|_| AppError::bad_request(format!("a position id is a whole number, got {:?}", clip(text))))
}

/// Client text quoted back in a message, kept short.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 64;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        text.chars().take(MAX).collect::<String>() + "…"
    }
}

async fn position<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let position = state.backend.position(position_id(&id)?)?;
    Ok(axum::Json(json!({ "position": position })).into_response())
}

async fn close<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let position = state.backend.close(position_id(&id)?).await?;
    Ok(axum::Json(json!({ "success": true, "position": position })).into_response())
}

/// The history filter with paging: `from`, `to`, `market`, `outcome`, `offset`, `limit`.
#[derive(Debug, Default, Deserialize)]
struct FilterPage {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    market: String,
    #[serde(default)]
    outcome: String,
    #[serde(default, deserialize_with = "empty_as_none")]
    offset: Option<usize>,
    #[serde(default, deserialize_with = "empty_as_none")]
    limit: Option<usize>,
}

impl FilterPage {
    fn filter(&self) -> AppResult<crate::model::HistoryFilter> {
        HistoryQuery {
            from: self.from.clone(),
            to: self.to.clone(),
            market: self.market.clone(),
            outcome: self.outcome.clone(),
        }
        .filter()
    }
}

async fn history<B: Backend>(
    State(state): State<AppState<B>>,
    ApiQuery(q): ApiQuery<FilterPage>,
) -> AppResult<axum::Json<HistoryPage>> {
    let filter = q.filter()?;
    let limit = capped(q.limit, 50, MAX_HISTORY);
    let offset = q.offset.unwrap_or(0);
    Ok(axum::Json(off_workers(&state.backend, move |b| b.history(&filter, offset, limit)).await?))
}

async fn trades<B: Backend>(
    State(state): State<AppState<B>>,
    ApiQuery(q): ApiQuery<FilterPage>,
) -> AppResult<Response> {
    let filter = q.filter()?;
    let limit = capped(q.limit, 100, MAX_TRADES);
    let offset = q.offset.unwrap_or(0);
    let found = off_workers(&state.backend, move |b| b.trades(&filter, offset, limit)).await?;
    Ok(axum::Json(json!({ "trades": found.trades, "complete": found.complete })).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct OpportunityQuery {
    #[serde(default, deserialize_with = "empty_as_none")]
    min_score: Option<f32>,
    #[serde(default, deserialize_with = "empty_as_none")]
    limit: Option<usize>,
}

async fn opportunities<B: Backend>(
    State(state): State<AppState<B>>,
    ApiQuery(q): ApiQuery<OpportunityQuery>,
) -> AppResult<Response> {
    let min_score = q.min_score.unwrap_or(0.0);
    if !(0.0..=10.0).contains(&min_score) {
        return Err(invalid("min_score", format!("`min_score` must be from 0 to 10, got {min_score}")));
    }
    let limit = capped(q.limit, 50, MAX_OPPORTUNITIES);
    let opportunities = state.backend.opportunities(min_score, limit)?;
    Ok(axum::Json(json!({ "opportunities": opportunities })).into_response())
}

async fn scan<B: Backend>(State(state): State<AppState<B>>) -> AppResult<Response> {
    let scan = state.backend.scan().await?;
    Ok(axum::Json(json!({ "scan": scan })).into_response())
}

async fn overview<B: Backend>(State(state): State<AppState<B>>) -> AppResult<axum::Json<Overview>> {
    Ok(axum::Json(state.backend.overview()?))
}

async fn performance<B: Backend>(State(state): State<AppState<B>>) -> AppResult<axum::Json<Performance>> {
    Ok(axum::Json(state.backend.performance()?))
}

#[derive(Debug, Default, Deserialize)]
struct LimitQuery {
    #[serde(default, deserialize_with = "empty_as_none")]
    limit: Option<usize>,
}

async fn whales<B: Backend>(
    State(state): State<AppState<B>>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> AppResult<Response> {
    let whales = state.backend.whales(capped(q.limit, 50, MAX_SIGNALS))?;
    Ok(axum::Json(json!({ "whales": whales })).into_response())
}

async fn whale<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath(address): ApiPath<String>,
) -> AppResult<axum::Json<WhaleDetail>> {
    Ok(axum::Json(state.backend.whale(address.trim())?))
}

async fn news<B: Backend>(
    State(state): State<AppState<B>>,
    ApiQuery(q): ApiQuery<NewsQuery>,
) -> AppResult<Response> {
    let limit = capped(q.limit, 50, MAX_SIGNALS);
    let news = match q.market.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => state.backend.news(limit)?,
        // The items matched to one market (why its news signal is what it is), among the latest.
        Some(market) => {
            let mut all = state.backend.news(MAX_SIGNALS)?;
            all.retain(|n| n.markets.iter().any(|m| m == market));
            all.truncate(limit);
            all
        }
    };
    Ok(axum::Json(json!({ "news": news })).into_response())
}

/// Every configured news source and how its fetches go (empty: none configured).
async fn news_sources<B: Backend>(State(state): State<AppState<B>>) -> Response {
    axum::Json(json!({ "sources": state.backend.news_sources() })).into_response()
}

/// The whale tracker's status (`null`: it does not run, as in the simulator).
async fn whale_tracker<B: Backend>(State(state): State<AppState<B>>) -> Response {
    axum::Json(json!({ "tracker": state.backend.whale_tracker() })).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct NewsQuery {
    #[serde(default, deserialize_with = "empty_as_none")]
    limit: Option<usize>,
    /// Only the items matched to this market (condition id).
    #[serde(default)]
    market: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TrendQuery {
    #[serde(default, deserialize_with = "empty_as_none")]
    window: Option<u64>,
    #[serde(default, deserialize_with = "empty_as_none")]
    limit: Option<usize>,
}

async fn trends<B: Backend>(
    State(state): State<AppState<B>>,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> AppResult<Response> {
    // The first configured window is the default.
    let window = q.window.unwrap_or_else(|| state.backend.trend_windows().first().copied().unwrap_or(3600));
    if !(1..=MAX_TREND_WINDOW).contains(&window) {
        return Err(invalid(
            "window",
            format!("`window` must be from 1 to {MAX_TREND_WINDOW} seconds, got {window}"),
        ));
    }
    let trends = state.backend.trends(window, capped(q.limit, 50, MAX_SIGNALS))?;
    Ok(axum::Json(json!({ "trends": trends })).into_response())
}

async fn plugins<B: Backend>(State(state): State<AppState<B>>) -> Response {
    let backend = &state.backend;
    axum::Json(json!({
        "venue": backend.venue(),
        "plugins": backend.plugins(),
        "rejected": backend.rejected_files(),
    }))
    .into_response()
}

/// `PUT /api/plugins/{kind}/{name}/params`: every value a finite number and a parameter the
/// plugin declares, checked here so the backend only sees well-formed changes.
async fn set_plugin_params<B: Backend>(
    State(state): State<AppState<B>>,
    ApiPath((kind, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> AppResult<Response> {
    let Value::Object(body) = body else {
        return Err(AppError::bad_request(
            "the body must be a JSON object of parameter name → number, e.g. {\"w_spread\": 1.5}",
        ));
    };
    let plugin = state
        .backend
        .plugins()
        .into_iter()
        .find(|p| p.kind == kind && p.name == name)
        .ok_or_else(|| AppError::not_found(format!("no plugin {}/{}", clip(&kind), clip(&name))))?;
    if body.is_empty() {
        return Err(AppError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "give at least one parameter".into(),
            fields: Vec::new(),
        });
    }
    let mut values = Vec::with_capacity(body.len());
    let mut fields = Vec::new();
    for (param, value) in body {
        let number = value.as_f64().filter(|v| v.is_finite());
        match number {
            _ if !plugin.params.iter().any(|p| p.name == param) => fields.push(FieldError {
                message: format!("{} has no parameter {:?}", plugin.name, clip(&param)),
                field: param,
            }),
            Some(number) => values.push((param, number)),
            None => {
                fields.push(FieldError { message: format!("must be a number, got {value}"), field: param })
            }
        }
    }
    if !fields.is_empty() {
        return Err(AppError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "invalid plugin parameters".into(),
            fields,
        });
    }
    let after = state.backend.set_plugin_params(kind, name, values).await?;
    let values: Map<String, Value> =
        plugin.params.iter().zip(after).map(|(p, v)| (p.name.clone(), json!(v))).collect();
    Ok(axum::Json(json!({ "values": values })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capital_is_exact() {
        let ok = |v: Value| capital_amount(Some(&v)).unwrap();
        assert_eq!(ok(json!(250)), Some(Decimal::from(250)));
        assert_eq!(ok(json!(0.1)), Some(Decimal::new(1, 1)), "0.1 by its text, not as a float");
        assert_eq!(ok(json!(100.35)), Some(Decimal::new(10035, 2)));
        assert_eq!(ok(json!("123.456789")), Some(Decimal::new(123_456_789, 6)));
        assert_eq!(ok(json!("1.5000000")), Some(Decimal::new(15, 1)), "trailing zeros are not decimals");
        assert_eq!(ok(json!(1e3)), Some(Decimal::from(1000)));
        assert_eq!(ok(Value::Null), None);
        assert_eq!(ok(json!("")), None);
        assert_eq!(capital_amount(None).unwrap(), None);
        for bad in [
            json!(0),
            json!(-5),
            json!("-0.5"),
            json!("0"),
            json!("NaN"),
            json!("inf"),
            json!("1e3"),
            json!("1_000"),
            json!("12.3456789"),
            json!(0.000_000_1),
            json!(true),
            json!([1]),
            json!("abc"),
        ] {
            let e = capital_amount(Some(&bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(e.fields[0].field, "capital_amount", "{bad}");
        }
    }

    #[test]
    fn limits_are_capped() {
        assert_eq!(capped(None, 50, 500), 50);
        assert_eq!(capped(Some(10_000), 50, 500), 500);
        assert_eq!(capped(Some(7), 50, 500), 7);
    }
}
