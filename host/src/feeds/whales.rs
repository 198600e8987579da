//! The whale tracker for paper and live mode: every `interval` it pulls the large trades (Data
//! API `GET /trades` with a cash threshold) and the top holders (`GET /holders`) of the candidate
//! and held markets, hands new trades to the engine on the same channel the simulator uses (so
//! the whale-analyzer plugin and the scorer see them), and records holders in the whale table.
//!
//! The Data API is read politely and leniently: a token bucket keeps requests under the
//! documented limits (429/5xx are retried after a backoff, `Retry-After` honoured), paging stops
//! at a page cap, and one malformed record is logged with its reason and skipped, never losing
//! the rest of its page. The table rules (market makers, win rate) are in [`table`].

pub mod table;

use crate::exchange::Side;
use crate::exchange::sim::WhaleTrade;
use crate::store::Store;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::str::FromStr as _;
use std::sync::Mutex;
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
    /// Malformed records skipped (each logged with its reason).
    pub skipped: usize,
    /// `/trades` pages read, and request groups that stopped at the page cap.
    pub pages: usize,
    pub capped: usize,
    /// Holder entries recorded.
    pub holders: usize,
    /// Wallets seen for the first time (from holders; trades are counted by the engine).
    pub new_whales: Vec<String>,
    /// Requests that failed after their retries (logged; the others went on).
    pub failures: usize,
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
                    shares: number(h, "amount")?,
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
        Ok(Self {
            config,
            client,
            bucket,
            store,
            trades,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            since_ms: None,
        })
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

    /// One poll of `markets` (condition ids): new large trades go to the engine, top holders
    /// to the whale table.
    ///
    /// # Errors
    /// Only storage errors: a failed request is logged and counted, and the others go on.
    pub async fn poll(&mut self, markets: &[String], now_ms: i64) -> Result<PollReport, TrackerError> {
        let mut report = PollReport::default();
        let since = self.since_ms.unwrap_or(now_ms - LOOKBACK_MS);
        for group in markets.chunks(MARKETS_PER_REQUEST) {
            self.poll_trades(group, since, &mut report).await;
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
                    report.failures += 1;
                    continue;
                }
            };
            match parse_holders(&body, market) {
                Ok((found, bad)) => {
                    for reason in bad {
                        tracing::error!(%market, %reason, "whale tracker: malformed /holders record skipped");
                        report.skipped += 1;
                    }
                    holders.extend(found.into_iter().filter(|h| h.shares >= self.config.min_holder_shares));
                }
                Err(reason) => {
                    tracing::error!(%market, %reason, "whale tracker: malformed /holders answer");
                    report.failures += 1;
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
        Ok(report)
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
                    report.failures += 1;
                    return;
                }
            };
            report.pages += 1;
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
    pub async fn run(
        mut self,
        markets: impl Fn() -> Vec<String> + Send + 'static,
        now_ms: impl Fn() -> i64 + Send + 'static,
    ) {
        loop {
            let list = markets();
            if list.is_empty() {
                tokio::time::sleep(Duration::from_secs(60).min(self.config.interval())).await;
                continue;
            }
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
            tokio::time::sleep(self.config.interval()).await;
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
