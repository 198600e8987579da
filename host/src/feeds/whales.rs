//! The whale tracker for paper and live mode: every `interval` it pulls the large trades (Data
//! API `GET /trades` with a cash threshold) and the top holders (`GET /holders`) of the candidate
//! and held markets, hands new trades to the engine on the same channel the simulator uses (so
//! the whale-analyzer plugin and the scorer see them), and records holders in the whale table.
//!
//! The Data API is read politely and leniently: a token bucket keeps requests under the
//! documented limits (429/5xx are retried after a backoff, `Retry-After` honoured), paging stops
//! at a page cap, and one malformed record is logged with its reason and skipped, never losing
//! the rest of its page. The table rules (market makers, win rate) are in [`table`]. How the
//! polls go (counts, failures, the last error, the next poll) is published after every poll
//! through [`WhaleStatus`], for the dashboard.

pub mod table;

use crate::exchange::Side;
use crate::exchange::sim::WhaleTrade;
use crate::store::Store;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

pub use table::{Holder, MarketMakerRule};

/// `[signals.whales]`: the whale tracker (paper and live mode; the simulator brings its own).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhalesConfig {
    /// Data API root, e.g. `https://data-api.polymarket.com`.
    pub data_url: String,
    /// Seconds between polls (60-86400).
    pub interval_secs: u64,
    /// A trade counts when its cash value (price × size) is at least this many pUSD.
    pub min_cash: Decimal,
    /// Candidate markets polled (the best-scored of the last scan), held markets come on top.
    pub markets: usize,
    /// Trades asked per page (1-10000) and pages read per request group at most.
    pub page_size: usize,
    pub max_pages: usize,
    /// Top holders asked per market (1-20), and the shares that make a holder a whale.
    pub holders_limit: usize,
    pub min_holder_shares: Decimal,
    /// Requests per 10 s to the Data API at most (Polymarket allows 200 on `/trades`, 1000 in
    /// all), and the budget of one request.
    pub requests_per_10s: u32,
    pub timeout_ms: u64,
    /// The market-maker rule (see [`MarketMakerRule`]).
    pub mm_min_markets: usize,
    pub mm_two_sided_percent: u32,
}

impl WhalesConfig {
    /// # Errors
    /// The key and why its value is unusable.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let url = self.data_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err((
                "signals.whales.data_url",
                format!("must start with http:// or https://, got {url:?}"),
            ));
        }
        let ranges: [(&'static str, u64, u64, u64); 8] = [
            ("signals.whales.interval_secs", self.interval_secs, 60, 86_400),
            ("signals.whales.markets", self.markets as u64, 0, 10_000),
            ("signals.whales.page_size", self.page_size as u64, 1, 10_000),
            ("signals.whales.max_pages", self.max_pages as u64, 1, 1_000),
            ("signals.whales.holders_limit", self.holders_limit as u64, 1, 20),
            ("signals.whales.requests_per_10s", u64::from(self.requests_per_10s), 1, 1_000),
            ("signals.whales.timeout_ms", self.timeout_ms, 100, 120_000),
            ("signals.whales.mm_two_sided_percent", u64::from(self.mm_two_sided_percent), 0, 100),
        ];
        for (key, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err((key, format!("must be {lo}-{hi}, got {v}")));
            }
        }
        if self.min_cash < Decimal::ZERO {
            return Err(("signals.whales.min_cash", format!("must not be negative, got {}", self.min_cash)));
        }
        if self.min_holder_shares < Decimal::ZERO {
            return Err((
                "signals.whales.min_holder_shares",
                format!("must not be negative, got {}", self.min_holder_shares),
            ));
        }
        if self.mm_min_markets < 2 {
            return Err((
                "signals.whales.mm_min_markets",
                format!("must be at least 2, got {}", self.mm_min_markets),
            ));
        }
        Ok(())
    }

    /// The market-maker rule these settings describe.
    #[must_use]
    pub fn market_maker_rule(&self) -> MarketMakerRule {
        MarketMakerRule { min_markets: self.mm_min_markets, min_two_sided_percent: self.mm_two_sided_percent }
    }

    /// Time between polls.
    #[must_use]
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }
}

/// A token bucket: `capacity` requests at once, refilled at `per_window / window`. The burst is a
/// tenth of the window's allowance, so no window ever sees much more than the allowance.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    #[must_use]
    pub fn new(per_window: u32, window: Duration) -> Self {
        let per_window = f64::from(per_window.max(1));
        let capacity = (per_window / 10.0).max(1.0);
        let per_sec = per_window / window.as_secs_f64().max(0.001);
        Self { capacity, per_sec, state: Mutex::new((capacity, Instant::now())) }
    }

    /// Waits for a token and takes it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.per_sec).min(self.capacity);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.per_sec)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Why a Data API request failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("Data API {path}: {reason}")]
    Http { path: String, reason: String },
    #[error("Data API {path}: HTTP {status}: {body}")]
    Status { path: String, status: u16, body: String },
    #[error("Data API {path}: the answer is not a JSON array: {reason}")]
    Shape { path: String, reason: String },
    #[error("storing whales: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// New trades handed to the engine.
    pub trades: usize,
    /// `/trades` records received (new, repeats, filtered out and malformed alike).
    pub received: usize,
    /// Malformed records skipped (each logged with its reason).
    pub skipped: usize,
    /// `/trades` pages read, and request groups that stopped at the page cap.
    pub pages: usize,
    pub capped: usize,
    /// Holder entries recorded.
    pub holders: usize,
    /// Wallets seen for the first time (from holders; trades are counted by the engine).
    pub new_whales: Vec<String>,
    /// Requests that failed after their retries (logged; the others went on), requests answered
    /// with something usable, and the last failure's text.
    pub failures: usize,
    pub answered: usize,
    pub last_error: Option<String>,
}

impl PollReport {
    fn failed(&mut self, error: &TrackerError) {
        self.failures += 1;
        self.last_error = Some(error.to_string());
    }
}

/// The tracker as the operator sees it ([`WhaleStatus`]): what it polls, how its last poll went,
/// and when the next one is. Times are the clock the tracker is given (the engine's: the wall
/// clock in paper and live mode), Unix ms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerStatus {
    /// The Data API root as configured (through the log scrubber).
    pub data_url: String,
    pub interval_secs: u64,
    /// When the last poll started, and how long it took.
    pub last_poll_ms: Option<i64>,
    pub last_poll_duration_ms: Option<u64>,
    /// When the last successful poll started. A poll fails when none of its requests was
    /// answered, or when storing what it found failed; one with some answers succeeds (its
    /// failed requests are counted in `failed_requests`).
    pub last_success_ms: Option<i64>,
    /// The last look found no market to poll (no scan yet and nothing held): nothing was asked.
    pub idle: bool,
    /// The last poll: markets asked about, `/trades` records received and the new trades handed
    /// to the engine, malformed records skipped, holder entries recorded, `/trades` pages read and
    /// request groups whose paging stopped at `max_pages`, requests failed after their retries.
    pub markets: usize,
    pub trades_received: usize,
    pub trades_new: usize,
    pub skipped: usize,
    pub holders: usize,
    pub pages: usize,
    pub capped: usize,
    pub failed_requests: usize,
    /// Failed polls in a row (0 after a successful one).
    pub failures: u32,
    /// The last poll's last error (a [`TrackerError`]), scrubbed; `None` when nothing of it failed.
    pub last_error: Option<String>,
    /// When the run loop polls next.
    pub next_poll_ms: Option<i64>,
}

impl TrackerStatus {
    /// This state as it may leave the tracker: the URL and the error through the log scrubber.
    fn scrubbed(&self) -> Self {
        let scrub = |text: &str| crate::logging::scrub(text).into_owned();
        Self {
            data_url: scrub(&self.data_url),
            last_error: self.last_error.as_deref().map(scrub),
            ..self.clone()
        }
    }
}

/// The tracker's state, published by its task after every poll and read by the dashboard. Cheap
/// to clone; a read never waits for a poll.
#[derive(Debug, Clone, Default)]
pub struct WhaleStatus(Arc<RwLock<TrackerStatus>>);

impl WhaleStatus {
    /// The state as last published.
    #[must_use]
    pub fn current(&self) -> TrackerStatus {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn publish(&self, status: TrackerStatus) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = status;
    }
}

/// Condition ids per `/trades` request (they travel comma-separated in the URL).
const MARKETS_PER_REQUEST: usize = 20;
/// Attempts per request, the first included.
const ATTEMPTS: u32 = 3;
/// How far back the first poll looks, and the overlap between polls (trades can arrive late).
const LOOKBACK_MS: i64 = 86_400_000;
const OVERLAP_MS: i64 = 120_000;
/// Trade keys remembered to drop repeats across overlapping polls.
const SEEN_MAX: usize = 200_000;

fn number(v: &Value, key: &str) -> Result<Decimal, String> {
    let field = v.get(key).ok_or_else(|| format!("missing {key}"))?;
    let text = match field {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("{key} is not a number: {other}")),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{key} is not a number: {text:?}"))
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("missing {key}"))
}

fn outcome_index(v: &Value) -> Result<usize, String> {
    match v.get("outcomeIndex").and_then(Value::as_u64) {
        Some(0) => Ok(0),
        Some(1) => Ok(1),
        Some(n) => Err(format!("outcomeIndex {n} is not a binary outcome")),
        None => Err("missing outcomeIndex".into()),
    }
}

/// One Data API `/trades` record, or why it is unusable.
///
/// # Errors
/// The reason, naming the field.
pub fn parse_trade(v: &Value) -> Result<WhaleTrade, String> {
    let wallet = text(v, "proxyWallet")?.to_ascii_lowercase();
    let market = text(v, "conditionId")?.to_ascii_lowercase();
    let side = match text(v, "side")?.to_ascii_uppercase().as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => return Err(format!("side {other:?} is neither BUY nor SELL")),
    };
    let shares = number(v, "size")?;
    let price = number(v, "price")?;
    crate::exchange::numbers::quantity("size", shares).map_err(|e| e.to_string())?;
    if shares <= Decimal::ZERO {
        return Err(format!("size {shares} is not positive"));
    }
    if price <= Decimal::ZERO || price > Decimal::ONE {
        return Err(format!("price {price} is outside (0, 1]"));
    }
    let ts = v.get("timestamp").and_then(Value::as_i64).ok_or("missing timestamp")?;
    // Seconds on the Data API; milliseconds accepted too.
    let at_ms = if ts > 100_000_000_000 { ts } else { ts.saturating_mul(1_000) };
    Ok(WhaleTrade { wallet, market, outcome: outcome_index(v)?, side, price, shares, at_ms })
}

/// A `/holders` answer for one market: its holders, and the reasons of the entries skipped.
///
/// # Errors
/// When the answer is not a JSON array.
pub fn parse_holders(body: &str, market: &str) -> Result<(Vec<Holder>, Vec<String>), String> {
    let entries: Vec<Value> = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for entry in &entries {
        let Some(holders) = entry.get("holders").and_then(Value::as_array) else {
            bad.push("an entry without a holders list".to_owned());
            continue;
        };
        for h in holders {
            let parsed = (|| {
                Ok::<_, String>(Holder {
                    wallet: text(h, "proxyWallet")?.to_ascii_lowercase(),
                    market: market.to_ascii_lowercase(),
                    outcome: outcome_index(h)?,
                    shares: crate::exchange::numbers::quantity("amount", number(h, "amount")?)
                        .map_err(|e| e.to_string())?,
                })
            })();
            match parsed {
                Ok(h) => out.push(h),
                Err(reason) => bad.push(reason),
            }
        }
    }
    Ok((out, bad))
}

fn trade_key(v: &Value, t: &WhaleTrade) -> String {
    let tx = v.get("transactionHash").and_then(Value::as_str).unwrap_or("");
    let asset = v.get("asset").and_then(Value::as_str).unwrap_or("");
    format!("{tx}|{asset}|{}|{:?}|{}|{}|{}", t.wallet, t.side, t.price, t.shares, t.at_ms)
}

/// The tracker: a Data API client, its rate limit, and what it has already handed on.
#[derive(Debug)]
pub struct WhaleTracker {
    config: WhalesConfig,
    client: reqwest::Client,
    bucket: TokenBucket,
    store: Store,
    trades: broadcast::Sender<WhaleTrade>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    /// Trades older than this are not looked for (the previous poll's start, less an overlap).
    since_ms: Option<i64>,
    /// How the polls go, unscrubbed, and the handle it is published through.
    state: TrackerStatus,
    status: WhaleStatus,
}

impl WhaleTracker {
    /// # Errors
    /// When the HTTP client cannot start.
    pub fn new(
        config: WhalesConfig,
        store: Store,
        trades: broadcast::Sender<WhaleTrade>,
    ) -> Result<Self, TrackerError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("equilibrage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TrackerError::Http { path: String::new(), reason: e.to_string() })?;
        let bucket = TokenBucket::new(config.requests_per_10s, Duration::from_secs(10));
        let state = TrackerStatus {
            data_url: config.data_url.trim().to_owned(),
            interval_secs: config.interval_secs,
            ..TrackerStatus::default()
        };
        let tracker = Self {
            config,
            client,
            bucket,
            store,
            trades,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            since_ms: None,
            state,
            status: WhaleStatus::default(),
        };
        tracker.publish();
        Ok(tracker)
    }

    /// A handle on the tracker's state for display, updated after every poll (also while
    /// [`run`](Self::run) owns the tracker).
    #[must_use]
    pub fn status(&self) -> WhaleStatus {
        self.status.clone()
    }

    /// Scrubbed at each publication, so a secret registered after the start is blanked too.
    fn publish(&self) {
        self.status.publish(self.state.scrubbed());
    }

    /// Records how a poll of `markets` markets that started at `started_ms` went, and publishes it.
    fn record(
        &mut self,
        markets: usize,
        started_ms: i64,
        took: Duration,
        report: &PollReport,
        error: Option<&TrackerError>,
    ) {
        let s = &mut self.state;
        s.idle = false;
        s.last_poll_ms = Some(started_ms);
        s.last_poll_duration_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        s.markets = markets;
        s.trades_received = report.received;
        s.trades_new = report.trades;
        s.skipped = report.skipped;
        s.holders = report.holders;
        s.pages = report.pages;
        s.capped = report.capped;
        s.failed_requests = report.failures;
        let failed = error.is_some() || (report.failures > 0 && report.answered == 0);
        if failed {
            s.failures = s.failures.saturating_add(1);
        } else {
            s.failures = 0;
            s.last_success_ms = Some(started_ms);
        }
        s.last_error = error.map(ToString::to_string).or_else(|| report.last_error.clone());
        self.publish();
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<String, TrackerError> {
        let url = format!("{}{path}", self.config.data_url.trim().trim_end_matches('/'));
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.bucket.acquire().await;
            let failure = match self.client.get(&url).query(query).send().await {
                Err(e) => TrackerError::Http { path: path.into(), reason: e.to_string() },
                Ok(r) => {
                    let status = r.status();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let body = r.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(body);
                    }
                    let retryable =
                        status.as_u16() == 429 || status.as_u16() == 425 || status.is_server_error();
                    let e = TrackerError::Status {
                        path: path.into(),
                        status: status.as_u16(),
                        body: body.chars().take(200).collect(),
                    };
                    if !retryable || attempt >= ATTEMPTS {
                        return Err(e);
                    }
                    let wait = retry_after
                        .map_or_else(|| Duration::from_millis(500 << attempt), Duration::from_secs);
                    tracing::debug!(path, attempt, ?wait, error = %e, "Data API: retrying");
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                    continue;
                }
            };
            if attempt >= ATTEMPTS {
                return Err(failure);
            }
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
    }

    fn remember(&mut self, key: String) -> bool {
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.seen_order.push_back(key);
        while self.seen_order.len() > SEEN_MAX {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// One poll of `markets` (condition ids) at `now_ms`: new large trades go to the engine, top
    /// holders to the whale table. How it went is published through [`status`](Self::status),
    /// failed or not.
    ///
    /// # Errors
    /// Only storage errors: a failed request is logged and counted, and the others go on.
    pub async fn poll(&mut self, markets: &[String], now_ms: i64) -> Result<PollReport, TrackerError> {
        let started = Instant::now();
        let mut report = PollReport::default();
        let result = self.poll_into(markets, now_ms, &mut report).await;
        self.record(markets.len(), now_ms, started.elapsed(), &report, result.as_ref().err());
        result.map(|()| report)
    }

    async fn poll_into(
        &mut self,
        markets: &[String],
        now_ms: i64,
        report: &mut PollReport,
    ) -> Result<(), TrackerError> {
        let since = self.since_ms.unwrap_or(now_ms - LOOKBACK_MS);
        for group in markets.chunks(MARKETS_PER_REQUEST) {
            self.poll_trades(group, since, report).await;
        }
        self.since_ms = Some(now_ms - OVERLAP_MS);
        let mut holders = Vec::new();
        for market in markets {
            let query = [
                ("market", market.clone()),
                ("limit", self.config.holders_limit.to_string()),
                ("minBalance", self.config.min_holder_shares.to_string()),
            ];
            let body = match self.get("/holders", &query).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "whale tracker: holders skipped");
                    report.failed(&e);
                    continue;
                }
            };
            match parse_holders(&body, market) {
                Ok((found, bad)) => {
                    report.answered += 1;
                    for reason in bad {
                        tracing::error!(%market, %reason, "whale tracker: malformed /holders record skipped");
                        report.skipped += 1;
                    }
                    holders.extend(found.into_iter().filter(|h| h.shares >= self.config.min_holder_shares));
                }
                Err(reason) => {
                    tracing::error!(%market, %reason, "whale tracker: malformed /holders answer");
                    report.failed(&TrackerError::Shape { path: "/holders".into(), reason });
                }
            }
        }
        if !holders.is_empty() {
            report.holders = holders.len();
            let rule = self.config.market_maker_rule();
            let new = self.store.write(move |w| table::record_holders(w, &holders, rule, now_ms)).await?;
            for wallet in &new {
                tracing::info!(%wallet, source = "holders", "new whale");
            }
            report.new_whales = new;
        }
        Ok(())
    }

    async fn poll_trades(&mut self, group: &[String], since_ms: i64, report: &mut PollReport) {
        let page_size = self.config.page_size;
        let mut offset = 0;
        for page in 0.. {
            if page >= self.config.max_pages {
                tracing::warn!(
                    markets = group.len(),
                    pages = page,
                    "whale tracker: page cap reached; the rest waits"
                );
                report.capped += 1;
                return;
            }
            let query = [
                ("market", group.join(",")),
                ("filterType", "CASH".to_owned()),
                ("filterAmount", self.config.min_cash.to_string()),
                ("limit", page_size.to_string()),
                ("offset", offset.to_string()),
            ];
            let records = match self.get("/trades", &query).await.and_then(|body| {
                serde_json::from_str::<Vec<Value>>(&body)
                    .map_err(|e| TrackerError::Shape { path: "/trades".into(), reason: e.to_string() })
            }) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, offset, "whale tracker: trades page skipped");
                    report.failed(&e);
                    return;
                }
            };
            report.pages += 1;
            report.answered += 1;
            report.received += records.len();
            if records.is_empty() {
                return;
            }
            offset += records.len();
            let mut oldest = i64::MAX;
            for v in &records {
                let t = match parse_trade(v) {
                    Ok(t) => t,
                    Err(reason) => {
                        let tx = v.get("transactionHash").and_then(Value::as_str).unwrap_or("?");
                        tracing::error!(%reason, transaction = tx, "whale tracker: malformed /trades record skipped");
                        report.skipped += 1;
                        continue;
                    }
                };
                oldest = oldest.min(t.at_ms);
                // The server filters by cash already; a server that does not is filtered here.
                if t.at_ms < since_ms || t.price * t.shares < self.config.min_cash {
                    continue;
                }
                if self.remember(trade_key(v, &t)) {
                    report.trades += 1;
                    // No receiver (the engine stopped) is not the tracker's problem.
                    let _ = self.trades.send(t);
                }
            }
            // Newest first: once a page reaches back past `since`, the rest is known.
            if oldest < since_ms {
                return;
            }
        }
    }

    /// Polls every interval for as long as the task lives; `markets` names the markets to poll
    /// (candidates and held), `now_ms` is the engine's clock. Nothing to poll: it waits a minute.
    /// The next poll's time is published with each poll's outcome.
    pub async fn run(
        mut self,
        markets: impl Fn() -> Vec<String> + Send + 'static,
        now_ms: impl Fn() -> i64 + Send + 'static,
    ) {
        loop {
            let list = markets();
            let wait = if list.is_empty() {
                self.state.idle = true;
                Duration::from_secs(60).min(self.config.interval())
            } else {
                match self.poll(&list, now_ms()).await {
                    Ok(r) => tracing::info!(
                        markets = list.len(),
                        trades = r.trades,
                        holders = r.holders,
                        skipped = r.skipped,
                        failures = r.failures,
                        "whale tracker polled"
                    ),
                    Err(e) => tracing::error!(error = %e, "whale tracker"),
                }
                self.config.interval()
            };
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            self.state.next_poll_ms = Some(now_ms().saturating_add(wait_ms));
            self.publish();
            tokio::time::sleep(wait).await;
        }
    }
}

/// The markets the tracker polls: held markets first, then the best `limit` candidates of the
/// last scan, without repeats.
#[must_use]
pub fn markets_to_poll(engine: &crate::engine::Engine, limit: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for p in engine.positions() {
        if seen.insert(p.position.market_id.clone()) {
            out.push(p.position.market_id);
        }
    }
    let mut candidates = engine.opportunities(0.0).unwrap_or_default();
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    for o in candidates.into_iter().take(limit) {
        if seen.insert(o.market_id.clone()) {
            out.push(o.market_id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shown state goes through the log scrubber when it is published, so a secret
    /// registered after the tracker started is blanked too; the tracker keeps the raw text.
    #[tokio::test]
    async fn the_published_status_is_scrubbed_and_counts_failed_polls() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("bot.redb")).unwrap();
        let mut config = crate::config::Config::load(None).unwrap();
        config.signals.whales.data_url = "https://data.test/whale-unit-Secret-7f3a/".into();
        let (tx, _rx) = broadcast::channel(4);
        let mut tracker = WhaleTracker::new(config.signals.whales, store, tx).unwrap();
        let status = tracker.status();
        let shown = status.current();
        assert_eq!(shown.data_url, "https://data.test/whale-unit-Secret-7f3a/");
        assert_eq!((shown.interval_secs, shown.last_poll_ms, shown.next_poll_ms), (600, None, None));

        crate::logging::register_secret("whale-unit-Secret-7f3a");
        let error = TrackerError::Http {
            path: "/trades".into(),
            reason: "error sending request for url (https://data.test/whale-unit-Secret-7f3a/trades)".into(),
        };
        let failed = PollReport { failures: 2, last_error: Some(error.to_string()), ..PollReport::default() };
        tracker.record(3, 1_000, Duration::from_millis(40), &failed, None);
        let shown = status.current();
        assert_eq!(shown.data_url, "https://data.test/[redacted]/");
        assert_eq!(
            shown.last_error.as_deref(),
            Some("Data API /trades: error sending request for url (https://data.test/[redacted]/trades)")
        );
        assert_eq!((shown.failures, shown.failed_requests, shown.last_success_ms), (1, 2, None));
        assert_eq!(
            (shown.last_poll_ms, shown.last_poll_duration_ms, shown.markets),
            (Some(1_000), Some(40), 3)
        );
        assert!(tracker.state.last_error.as_deref().is_some_and(|e| e.contains("whale-unit-Secret-7f3a")));

        // Some answers: a success, its failed request still counted and shown.
        let partial = PollReport { answered: 1, ..failed.clone() };
        tracker.record(3, 2_000, Duration::ZERO, &partial, None);
        let shown = status.current();
        assert_eq!((shown.failures, shown.failed_requests, shown.last_success_ms), (0, 2, Some(2_000)));
        assert!(shown.last_error.is_some());
        // Storing failed: a failure whatever was answered.
        let store_error = TrackerError::Store(crate::store::StoreError::Database("disk full".into()));
        tracker.record(
            3,
            3_000,
            Duration::ZERO,
            &PollReport { answered: 4, ..PollReport::default() },
            Some(&store_error),
        );
        let shown = status.current();
        assert_eq!((shown.failures, shown.last_success_ms), (1, Some(2_000)));
        assert_eq!(shown.last_error.as_deref(), Some("storing whales: database error: disk full"));
        // A clean poll clears the error.
        tracker.record(3, 4_000, Duration::ZERO, &PollReport { answered: 4, ..PollReport::default() }, None);
        let shown = status.current();
        assert_eq!((shown.failures, shown.last_success_ms, shown.last_error), (0, Some(4_000), None));
    }
}
