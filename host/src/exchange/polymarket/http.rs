//! HTTP to Polymarket: a timeout on every call, client-side rate limits per endpoint class,
//! retries with exponential backoff and jitter on 429/425/5xx, L2-signed trading calls, and
//! failures classified by what the caller must do (retry, give up, or reconcile).

use super::auth::l2_signature;
use crate::exchange::error::{ExchangeError, Result};
use polymarket_client_sdk_v2::auth::{ExposeSecret as _, SecretString};
use reqwest::{Method, StatusCode};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The endpoint classes Polymarket limits separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Gamma `GET /markets` (and its keyset form).
    GammaMarkets,
    /// CLOB `GET /book` and the other single-token reads.
    Book,
    /// CLOB calls with no tighter limit of their own (heartbeats).
    ClobGeneral,
    /// `POST /order`.
    PostOrder,
    /// `DELETE /order` and friends.
    Cancel,
    /// `GET /data/orders` and `GET /data/trades`.
    DataOrders,
    /// `GET /balance-allowance` and its `/update`.
    BalanceAllowance,
}

impl Route {
    /// The route's class as metrics label it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GammaMarkets => "gamma_markets",
            Self::Book => "book",
            Self::ClobGeneral => "clob_general",
            Self::PostOrder => "post_order",
            Self::Cancel => "cancel",
            Self::DataOrders => "data_orders",
            Self::BalanceAllowance => "balance_allowance",
        }
    }

    const ALL: [Self; 7] = [
        Self::GammaMarkets,
        Self::Book,
        Self::ClobGeneral,
        Self::PostOrder,
        Self::Cancel,
        Self::DataOrders,
        Self::BalanceAllowance,
    ];
}

/// Requests allowed per window, per [`Route`]; order posts and cancels also have a 10-minute
/// cap. Defaults are Polymarket's documented limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub window: Duration,
    pub gamma_markets: u32,
    pub book: u32,
    pub clob_general: u32,
    pub post_order: u32,
    pub cancel: u32,
    pub data_orders: u32,
    pub balance_allowance: u32,
    /// The long window of the caps below (10 minutes).
    pub long_window: Duration,
    pub post_order_long: u32,
    pub cancel_long: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            gamma_markets: 300,
            book: 1_500,
            clob_general: 9_000,
            post_order: 3_500,
            cancel: 3_000,
            data_orders: 500,
            balance_allowance: 200,
            long_window: Duration::from_secs(600),
            post_order_long: 36_000,
            cancel_long: 30_000,
        }
    }
}

impl RateLimits {
    /// The limiters a route's requests pass, each a (requests, window) pair.
    fn of(&self, route: Route) -> Vec<(u32, Duration)> {
        let w = self.window;
        match route {
            Route::GammaMarkets => vec![(self.gamma_markets, w)],
            Route::Book => vec![(self.book, w)],
            Route::ClobGeneral => vec![(self.clob_general, w)],
            Route::PostOrder => vec![(self.post_order, w), (self.post_order_long, self.long_window)],
            Route::Cancel => vec![(self.cancel, w), (self.cancel_long, self.long_window)],
            Route::DataOrders => vec![(self.data_orders, w)],
            Route::BalanceAllowance => vec![(self.balance_allowance, w)],
        }
    }
}

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// First backoff; each retry doubles it, up to `max_backoff`, and sleeps a random 50–100 % of it.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Budget of one attempt, connect to last byte.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A sliding-window limiter: at most `max` acquisitions in any `window`. Waiters sleep until the
/// oldest acquisition leaves the window, so a burst never exceeds the limit.
#[derive(Debug)]
pub struct RateLimiter {
    max: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    #[must_use]
    pub fn new(max: u32, window: Duration) -> Self {
        let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
        Self { max, window, sent: Mutex::new(VecDeque::with_capacity(max.min(4_096))) }
    }

    /// Waits for a free slot and takes it; how long it waited.
    pub async fn acquire(&self) -> Duration {
        let mut waited = Duration::ZERO;
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                while sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    sent.pop_front();
                }
                if sent.len() < self.max {
                    sent.push_back(now);
                    return waited;
                }
                sent.front().map_or(Duration::ZERO, |t| self.window.saturating_sub(now.duration_since(*t)))
            };
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }
}

/// Whether a call changes state at the exchange. A write that may have reached the exchange is
/// never retried blindly: its failure is [`ExchangeError::OutcomeUnknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Read,
    /// Cancels: repeating one is harmless, so they retry like reads.
    Cancel,
    /// Order placement.
    Place,
}

/// L2 credentials: the API key, its secret and passphrase, and the address they belong to.
#[derive(Clone)]
pub struct L2Credentials {
    pub address: String,
    pub api_key: String,
    pub secret: SecretString,
    pub passphrase: SecretString,
}

impl std::fmt::Debug for L2Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2Credentials")
            .field("address", &self.address)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// One request: where, what, and how it may be retried.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub base: &'a str,
    /// Path with its leading `/`; the query goes in `query` (it is not signed).
    pub path: &'a str,
    pub query: &'a [(&'a str, String)],
    pub body: Option<String>,
    pub route: Route,
    pub call: Call,
}

impl<'a> Request<'a> {
    /// A public `GET`.
    #[must_use]
    pub fn get(base: &'a str, path: &'a str, query: &'a [(&'a str, String)], route: Route) -> Self {
        Self { method: Method::GET, base, path, query, body: None, route, call: Call::Read }
    }
}

/// The HTTP side of a Polymarket venue.
#[derive(Debug)]
pub struct Http {
    client: reqwest::Client,
    retry: RetryPolicy,
    /// Per route, in [`Route::ALL`] order: every limiter a request of that route passes.
    limiters: Vec<Vec<RateLimiter>>,
    jitter: AtomicU64,
}

impl Http {
    /// # Errors
    /// When the TLS stack cannot start.
    pub fn new(limits: &RateLimits, retry: RetryPolicy) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(retry.timeout)
            .connect_timeout(retry.timeout)
            .user_agent(concat!("equilibrage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ExchangeError::Retryable {
                reason: format!("http client: {e}"),
                retry_after: None,
            })?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| u64::from(d.subsec_nanos()) | 1);
        Ok(Self {
            client,
            retry,
            limiters: Route::ALL
                .iter()
                .map(|r| limits.of(*r).into_iter().map(|(n, window)| RateLimiter::new(n, window)).collect())
                .collect(),
            jitter: AtomicU64::new(seed),
        })
    }

    /// Waits for a slot in every limiter of `route` (a wait is counted in the metrics).
    async fn acquire(&self, route: Route) {
        let mut waited = Duration::ZERO;
        for limiter in &self.limiters[route as usize] {
            waited += limiter.acquire().await;
        }
        if !waited.is_zero() {
            let m = crate::metrics::get();
            m.venue_limiter_waits.with_label_values(&[route.as_str()]).inc();
            m.venue_limiter_wait_seconds.with_label_values(&[route.as_str()]).inc_by(waited.as_secs_f64());
        }
    }

    /// Sends `request` (signed with `auth` when given), retrying what may be retried; returns the
    /// body of a 2xx answer.
    ///
    /// # Errors
    /// Classified per [`ExchangeError`]: a 4xx is `Rejected` (404 `NotFound`), 429/425 and 5xx
    /// on reads are `Retryable` once the retries are spent, and a placement that may have
    /// reached the exchange (timeout, 5xx, dropped connection) is `OutcomeUnknown`.
    pub async fn send(&self, request: &Request<'_>, auth: Option<&L2Credentials>) -> Result<String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.acquire(request.route).await;
            let error = match self.once(request, auth).await {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            let ExchangeError::Retryable { retry_after, .. } = &error else { return Err(error) };
            if attempt >= self.retry.attempts {
                return Err(error);
            }
            // A venue's `Retry-After` is honoured up to the longest backoff (a huge one would
            // stall the call, and what waits on it, for as long as it says).
            let backoff = retry_after.map_or_else(
                || self.backoff(attempt),
                |wait| wait.min(self.retry.max_backoff.max(Duration::from_secs(30))),
            );
            tracing::debug!(path = request.path, attempt, ?backoff, %error, "retrying");
            tokio::time::sleep(backoff).await;
        }
    }

    /// Equal jitter: uniformly between half and all of `min(max, base × 2^(attempt-1))`, so many
    /// clients throttled together do not come back together.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .retry
            .base_backoff
            .saturating_mul(1_u32 << attempt.saturating_sub(1).min(16))
            .min(self.retry.max_backoff);
        // xorshift64*: jitter only, not secrets.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter.store(x, Ordering::Relaxed);
        let unit = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        #[allow(clippy::cast_precision_loss, reason = "a 53-bit fraction for a sleep length")]
        let fraction = unit as f64 / (1_u64 << 53) as f64;
        ceiling.mul_f64(0.5 + fraction / 2.0)
    }

    /// Sends `request` once (after the rate limiter) and returns the answer whatever its HTTP
    /// status, for the calls whose error bodies carry data (a heartbeat's stale-id answer).
    ///
    /// # Errors
    /// Only when no answer came (timeout, connection), classified as by [`Http::send`].
    pub async fn answer(
        &self,
        request: &Request<'_>,
        auth: Option<&L2Credentials>,
    ) -> Result<(StatusCode, String)> {
        self.acquire(request.route).await;
        let (status, _, text) = self.exchange(request, auth).await?;
        Ok((status, text))
    }

    async fn once(&self, request: &Request<'_>, auth: Option<&L2Credentials>) -> Result<String> {
        let what = format!("{} {}", request.method, request.path);
        match self.exchange(request, auth).await? {
            (status, _, text) if status.is_success() => Ok(text),
            (status, retry_after, text) => Err(classify(request.call, &what, status, retry_after, &text)),
        }
    }

    /// One request and its answer, of any status; an error only when no answer came.
    async fn exchange(
        &self,
        request: &Request<'_>,
        auth: Option<&L2Credentials>,
    ) -> Result<(StatusCode, Option<Duration>, String)> {
        let url = format!("{}{}", request.base.trim_end_matches('/'), request.path);
        let mut builder = self.client.request(request.method.clone(), &url);
        if !request.query.is_empty() {
            builder = builder.query(request.query);
        }
        let body = request.body.clone().unwrap_or_default();
        if let Some(creds) = auth {
            let timestamp = (crate::clock::unix_now_ms() / 1_000).to_string();
            let signature = l2_signature(
                creds.secret.expose_secret(),
                &timestamp,
                request.method.as_str(),
                request.path,
                &body,
            )
            .map_err(|e| ExchangeError::Rejected { reason: e.to_string() })?;
            builder = builder
                .header("POLY_ADDRESS", &creds.address)
                .header("POLY_API_KEY", &creds.api_key)
                .header("POLY_PASSPHRASE", creds.passphrase.expose_secret())
                .header("POLY_SIGNATURE", signature)
                .header("POLY_TIMESTAMP", timestamp);
        }
        if request.body.is_some() {
            builder = builder.header("Content-Type", "application/json").body(body);
        }
        let sent = tokio::time::timeout(self.retry.timeout, async {
            let response = builder.send().await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, chrono::Utc::now()));
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, retry_after, text))
        })
        .await;
        let what = format!("{} {}", request.method, request.path);
        let status = match &sent {
            Ok(Ok((status, _, _))) => status.as_str().to_owned(),
            _ => "error".to_owned(),
        };
        crate::metrics::get().venue_requests.with_label_values(&[request.route.as_str(), &status]).inc();
        match sent {
            Err(_) => Err(transport_failure(request.call, &what, "timed out", false)),
            Ok(Err(e)) => Err(transport_failure(request.call, &what, &e.to_string(), e.is_connect())),
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

/// A `Retry-After` value: whole seconds, or an HTTP date (how long until then; a date past is
/// no wait). Anything else is ignored and the backoff applies.
fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// A call that got no answer. Nothing was sent when the connection never opened; otherwise a
/// placement's fate is unknown.
fn transport_failure(call: Call, what: &str, why: &str, never_sent: bool) -> ExchangeError {
    if call == Call::Place && !never_sent {
        ExchangeError::OutcomeUnknown { reason: format!("{what}: {why}") }
    } else {
        ExchangeError::Retryable { reason: format!("{what}: {why}"), retry_after: None }
    }
}

/// The `{"error": "..."}` message of an error body, or the body itself.
#[must_use]
pub fn error_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Option<String>,
        #[serde(rename = "errorMsg")]
        error_msg: Option<String>,
    }
    serde_json::from_str::<Body>(body)
        .ok()
        .and_then(|b| b.error.or(b.error_msg))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// What an HTTP error status means for the caller.
pub(super) fn classify(
    call: Call,
    what: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> ExchangeError {
    let message = error_message(body);
    let reason = format!("{what}: {status}: {message}");
    match status.as_u16() {
        // Throttled or the matching engine restarting: nothing was done.
        429 | 425 => ExchangeError::Retryable { reason, retry_after },
        // Trading disabled / cancel-only: the exchange refused before doing anything.
        503 if message.contains("disabled") || message.contains("cancel-only") => {
            ExchangeError::Retryable { reason, retry_after }
        }
        500..=599 if call == Call::Place => ExchangeError::OutcomeUnknown { reason },
        500..=599 => ExchangeError::Retryable { reason, retry_after },
        404 => ExchangeError::NotFound(reason),
        401 | 403 => ExchangeError::Rejected {
            reason: format!("{reason} (check the API credentials and the wallet address)"),
        },
        _ if message.contains("deposit wallet") => ExchangeError::Rejected {
            reason: format!(
                "{reason} (this account must trade through its deposit wallet: set \
                 exchange.polymarket.signature_type = \"deposit\" and funder = the deposit wallet)"
            ),
        },
        _ => ExchangeError::Rejected { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now =
            chrono::DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Fri, 04 Dec 2026 10:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Fri, 04 Dec 2026 09:59:00 GMT", now), Some(Duration::ZERO), "a date past");
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn order_posts_and_cancels_also_pass_the_ten_minute_caps() {
        let limits = RateLimits::default();
        assert_eq!(
            limits.of(Route::PostOrder),
            [(3_500, Duration::from_secs(10)), (36_000, Duration::from_secs(600))]
        );
        assert_eq!(limits.of(Route::Cancel)[1], (30_000, Duration::from_secs(600)));
        assert_eq!(limits.of(Route::DataOrders), [(500, Duration::from_secs(10))]);
        assert_eq!(limits.of(Route::BalanceAllowance), [(200, Duration::from_secs(10))]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_never_lets_more_than_max_through_in_any_window() {
        let limiter = RateLimiter::new(3, Duration::from_secs(10));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..7 {
            limiter.acquire().await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times.iter().filter(|u| **u >= *t && **u < *t + Duration::from_secs(10)).count();
            assert!(in_window <= 3, "acquisition {i} at {t:?}: {in_window} in its window ({times:?})");
        }
        assert_eq!(times[3], Duration::from_secs(10));
        assert_eq!(times[6], Duration::from_secs(20));
    }

    #[test]
    fn statuses_are_classified_by_what_to_do() {
        let c = |call, code, body: &str| {
            classify(call, "POST /order", StatusCode::from_u16(code).unwrap(), None, body)
        };
        assert!(c(Call::Read, 429, r#"{"error":"Too Many Requests"}"#).is_retryable());
        assert!(c(Call::Place, 425, "").is_retryable());
        assert!(c(Call::Read, 502, "").is_retryable());
        assert!(c(Call::Place, 500, r#"{"error":"Internal server error"}"#).needs_reconciliation());
        assert!(c(Call::Place, 503, r#"{"error":"Trading is currently disabled"}"#).is_retryable());
        let e = c(Call::Place, 400, r#"{"error":"not enough balance / allowance"}"#);
        assert!(matches!(&e, ExchangeError::Rejected { reason } if reason.contains("not enough balance")));
        let e = c(
            Call::Place,
            400,
            r#"{"error":"maker address not allowed, please use the deposit wallet flow"}"#,
        );
        assert!(matches!(&e, ExchangeError::Rejected { reason } if reason.contains("signature_type")));
        assert!(matches!(c(Call::Read, 404, "{}"), ExchangeError::NotFound(_)));
        assert!(transport_failure(Call::Place, "x", "timed out", false).needs_reconciliation());
        assert!(transport_failure(Call::Place, "x", "refused", true).is_retryable());
        assert!(transport_failure(Call::Read, "x", "timed out", false).is_retryable());
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_under_the_cap() {
        let http = Http::new(&RateLimits::default(), RetryPolicy::default()).unwrap();
        for attempt in 1..10 {
            let b = http.backoff(attempt);
            let ceiling = (Duration::from_millis(250) * (1 << (attempt - 1))).min(Duration::from_secs(5));
            assert!(b >= ceiling / 2 && b <= ceiling, "attempt {attempt}: {b:?} vs {ceiling:?}");
        }
    }
}
