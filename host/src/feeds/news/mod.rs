//! The news aggregator: RSS / Atom feeds (parsed by `feed-rs`) and an optional JSON news API,
//! fetched every `[signals.news] interval_secs`. Requests are conditional (ETag and
//! Last-Modified are remembered per source; a 304 changes nothing), bounded (a timeout and a body
//! cap per request) and independent: a failing source backs off exponentially on its own while
//! the others keep being fetched. Items are deduplicated by a stable id (a hash of the link, or
//! of source and title without one), stored in the NEWS table and handed to the engine, whose
//! news-aggregator plugin matches them to markets. Each source's state (last success, items,
//! failures, backoff) is published after every poll through [`NewsStatus`], credentials redacted,
//! for the dashboard.
//!
//! The JSON API answers NewsAPI's shape (the de-facto standard of news APIs):
//! `{"articles": [{"title", "description", "url", "publishedAt" (RFC 3339), "source": {"name"}}]}`;
//! its key travels in a header (`json_api_key_header`), never in the URL, and is never logged.

use crate::exchange::sim::NewsItem;
use crate::store::{NewsRecord, Store};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

mod config;
mod fetch;
pub use config::NewsFeedsConfig;
use fetch::{fetch, parse_api, parse_feed};

/// Overrides `json_api_key`, so the key need not sit in a file.
pub const API_KEY_VAR: &str = "EQUILIBRAGE_NEWS_API_KEY";

/// How often stored news is pruned, and how many items one pruning transaction looks at.
const PRUNE_EVERY_MS: i64 = 3_600_000;
const PRUNE_SCAN: usize = 5_000;

/// Ids remembered for deduplication (older ones are forgotten first).
const MAX_SEEN: usize = 100_000;
/// Longest summary kept, characters.
const MAX_SUMMARY_CHARS: usize = 1_000;

/// Why one fetch of one source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewsError {
    #[error("request failed: {0}")]
    Http(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed {kind}: {reason}")]
    Malformed { kind: &'static str, reason: String },
    #[error("http client: {0}")]
    Client(String),
}

/// The stable id of a news item: a hash of its link when it has one (so the same article from
/// two feeds is one item), else of its source and title.
#[must_use]
pub fn news_id(source: &str, url: &str, title: &str) -> String {
    let url = url.trim();
    let key = if url.is_empty() { format!("{source}\n{title}") } else { format!("link\n{url}") };
    hex::encode(&Sha256::digest(key.as_bytes())[..12])
}

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An RSS or Atom feed (`feeds`).
    Feed,
    /// The JSON news API (`json_api_url`).
    JsonApi,
}

impl SourceKind {
    /// `feed` or `json-api`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Feed => "feed",
            Self::JsonApi => "json-api",
        }
    }
}

/// One source's state, as [`NewsAggregator::sources`] reports it (and, redacted, [`NewsStatus`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    pub kind: SourceKind,
    pub url: String,
    /// Validators from the last good answer, sent back as If-None-Match / If-Modified-Since.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Failures in a row, and when the source is next tried (Unix ms).
    pub failures: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    /// When it was last asked, and last answered usefully (content that parsed, or a 304).
    pub last_attempt_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
    /// Items in its last answer with content, and how many of them were new then.
    pub last_items: usize,
    pub last_new: usize,
    /// Whether its last useful answer was `304 Not Modified` (nothing fetched).
    pub not_modified: bool,
}

impl SourceStatus {
    fn new(kind: SourceKind, url: &str) -> Self {
        Self {
            kind,
            url: url.trim().to_owned(),
            etag: None,
            last_modified: None,
            failures: 0,
            next_attempt_ms: i64::MIN,
            last_error: None,
            last_attempt_ms: None,
            last_success_ms: None,
            last_items: 0,
            last_new: 0,
            not_modified: false,
        }
    }

    /// When it is tried again, while it backs off after a failure.
    #[must_use]
    pub fn retry_at_ms(&self) -> Option<i64> {
        (self.failures > 0).then_some(self.next_attempt_ms)
    }

    /// This state as the operator may see it: the URL without credentials, the error without
    /// the URL's credentials or `api_key`, and both through the log scrubber.
    fn redacted(&self, api_key: &str) -> Self {
        let shown = shown_url(&self.url, api_key);
        let last_error = self.last_error.as_deref().map(|e| {
            let mut text = e.to_owned();
            let parsed = reqwest::Url::parse(&self.url).ok();
            // Errors name the URL as given or as parsed (reqwest's form); either way, the shown one.
            for form in parsed.as_ref().map(reqwest::Url::as_str).into_iter().chain([self.url.as_str()]) {
                if !form.is_empty() {
                    text = text.replace(form, &shown);
                }
            }
            for secret in url_secrets(&self.url) {
                text = text.replace(&secret, crate::logging::REDACTED);
            }
            crate::logging::scrub(&text).into_owned()
        });
        Self { url: shown, last_error, ..self.clone() }
    }
}

/// The sources' state as the operator may see it (URLs and errors without credentials),
/// published by the aggregator's task after each poll and read by the dashboard. Cheap to
/// clone; a read never waits for a fetch.
#[derive(Debug, Clone, Default)]
pub struct NewsStatus(Arc<RwLock<Vec<SourceStatus>>>);

impl NewsStatus {
    /// Every configured source, in configuration order (feeds, then the JSON API); empty when
    /// none is configured.
    #[must_use]
    pub fn sources(&self) -> Vec<SourceStatus> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn publish(&self, sources: Vec<SourceStatus>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = sources;
    }
}

/// Whether a query parameter's name says it carries a credential (`apiKey`, `api_key`, `token`,
/// `access_token`, `secret`, `sig`, …).
fn is_secret_param(name: &str) -> bool {
    let name: String =
        name.chars().filter(|c| !matches!(c, '-' | '_' | '.')).collect::<String>().to_ascii_lowercase();
    // `…key` but not `keywords`.
    name.ends_with("key")
        || name.ends_with("keys")
        || ["apikey", "token", "secret", "password", "passwd", "credential"].iter().any(|w| name.contains(w))
        || matches!(name.as_str(), "sig" | "signature" | "auth" | "authorization")
}

/// The query of `url` (between `?` and `#`) and where it starts, as written.
fn query_span(url: &str) -> Option<(usize, &str)> {
    let start = url.find('?')? + 1;
    let end = url[start..].find('#').map_or(url.len(), |e| start + e);
    Some((start, &url[start..end]))
}

/// Credentials written into a URL, as written and decoded: the password of `user:pass@` and
/// the values of credential-like query parameters.
fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(parsed) = reqwest::Url::parse(url) {
        if let Some(password) = parsed.password() {
            out.push(password.to_owned());
        }
        for (name, value) in parsed.query_pairs() {
            if is_secret_param(&name) && !value.is_empty() {
                out.push(value.into_owned());
            }
        }
    }
    if let Some((_, query)) = query_span(url) {
        for (name, value) in query.split('&').filter_map(|p| p.split_once('=')) {
            if is_secret_param(name) && !value.is_empty() {
                out.push(value.to_owned());
            }
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// `url` as the dashboard shows it: a userinfo password and credential-like query values
/// replaced by [`crate::logging::REDACTED`], `api_key` too wherever it appears, then scrubbed.
fn shown_url(url: &str, api_key: &str) -> String {
    let mut shown = url.to_owned();
    if let Some((start, query)) = query_span(url) {
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if is_secret_param(name) && !value.is_empty() => {
                    format!("{name}={}", crate::logging::REDACTED)
                }
                _ => pair.to_owned(),
            })
            .collect();
        shown.replace_range(start..start + query.len(), &redacted.join("&"));
    }
    if let Some(password) = reqwest::Url::parse(url).ok().and_then(|u| u.password().map(str::to_owned)) {
        shown = shown.replacen(&format!(":{password}@"), &format!(":{}@", crate::logging::REDACTED), 1);
    }
    let api_key = api_key.trim();
    if !api_key.is_empty() {
        shown = shown.replace(api_key, crate::logging::REDACTED);
    }
    crate::logging::scrub(&shown).into_owned()
}

/// What one poll did.
#[derive(Debug, Default, Clone)]
pub struct Poll {
    /// Items not seen before, stored and to be handed on.
    pub fresh: Vec<NewsItem>,
    /// Sources that answered with content, with 304, failed, and were not due (backing off).
    pub fetched: usize,
    pub not_modified: usize,
    pub failed: usize,
    pub waiting: usize,
    /// Items seen before, and entries skipped as unusable (no title).
    pub duplicates: usize,
    pub skipped: usize,
}

enum Fetched {
    NotModified,
    Body { body: Vec<u8>, etag: Option<String>, last_modified: Option<String> },
}

/// Fetches the configured sources; see the module documentation.
pub struct NewsAggregator {
    config: NewsFeedsConfig,
    client: reqwest::Client,
    sources: Vec<SourceStatus>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    store: Store,
    status: NewsStatus,
    /// When stored news was last pruned (see `keep_days`).
    pruned_at_ms: i64,
}

impl fmt::Debug for NewsAggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewsAggregator")
            .field("config", &self.config)
            .field("sources", &self.sources)
            .field("seen", &self.seen.len())
            .finish_non_exhaustive()
    }
}

impl NewsAggregator {
    /// An aggregator over `config`'s sources (validated by the caller), storing into `store`;
    /// items already stored count as seen. The API key, and credentials written into a source's
    /// URL (`?apiKey=…`, `user:password@`), are registered with the log scrubber.
    ///
    /// # Errors
    /// [`NewsError::Client`] when the HTTP client cannot start or the store cannot be read.
    pub fn new(config: NewsFeedsConfig, store: Store) -> Result<Self, NewsError> {
        if !config.json_api_key.trim().is_empty() {
            crate::logging::register_secret(config.json_api_key.trim());
        }
        for url in config.feeds.iter().chain(std::iter::once(&config.json_api_url)) {
            for secret in url_secrets(url.trim()) {
                crate::logging::register_secret(&secret);
            }
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("equilibrage/", env!("CARGO_PKG_VERSION"), " (news)"))
            .build()
            .map_err(|e| NewsError::Client(e.to_string()))?;
        let mut sources: Vec<SourceStatus> =
            config.feeds.iter().map(|u| SourceStatus::new(SourceKind::Feed, u)).collect();
        if !config.json_api_url.trim().is_empty() {
            sources.push(SourceStatus::new(SourceKind::JsonApi, &config.json_api_url));
        }
        let stored = store
            .read()
            .and_then(|r| r.news(MAX_SEEN))
            .map_err(|e| NewsError::Client(format!("reading stored news: {e}")))?;
        let mut aggregator = Self {
            config,
            client,
            sources,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            store,
            status: NewsStatus::default(),
            pruned_at_ms: i64::MIN,
        };
        // Oldest first, so the newest are the last forgotten.
        for r in stored.into_iter().rev() {
            aggregator.remember(r.id);
        }
        aggregator.publish();
        Ok(aggregator)
    }

    /// Each source's state, URLs and errors as they are (credentials included: not for display).
    #[must_use]
    pub fn sources(&self) -> Vec<SourceStatus> {
        self.sources.clone()
    }

    /// A handle on the sources' state for display, redacted, updated after every poll (also
    /// while [`run`](Self::run) owns the aggregator).
    #[must_use]
    pub fn status(&self) -> NewsStatus {
        self.status.clone()
    }

    fn publish(&self) {
        let key = self.config.json_api_key.as_str();
        self.status.publish(self.sources.iter().map(|s| s.redacted(key)).collect());
    }

    fn remember(&mut self, id: String) -> bool {
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.seen_order.push_back(id);
        while self.seen_order.len() > MAX_SEEN {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// Polls every source due at `now_ms` (all at once), stores the new items and returns them.
    /// A failing source is logged and backs off; it never stops the others.
    pub async fn poll_at(&mut self, now_ms: i64) -> Poll {
        let mut poll = Poll::default();
        let due: Vec<usize> =
            (0..self.sources.len()).filter(|&i| self.sources[i].next_attempt_ms <= now_ms).collect();
        poll.waiting = self.sources.len() - due.len();
        let key = (!self.config.json_api_key.trim().is_empty())
            .then(|| (self.config.json_api_key_header.as_str(), self.config.json_api_key.trim()));
        let cap = self.config.max_body_bytes;
        let fetches = due.iter().map(|&i| {
            let s = &self.sources[i];
            let key = if s.kind == SourceKind::JsonApi { key } else { None };
            fetch(&self.client, s, key, cap)
        });
        let answers = futures_util::future::join_all(fetches).await;
        let interval_ms = i64::try_from(self.config.interval_secs.saturating_mul(1_000)).unwrap_or(i64::MAX);
        let max_ms = i64::try_from(self.config.max_backoff_secs.saturating_mul(1_000)).unwrap_or(i64::MAX);
        // Each item with the index of the source that brought it.
        let mut items = Vec::new();
        for (i, answer) in due.into_iter().zip(answers) {
            let s = &mut self.sources[i];
            let parsed = answer.and_then(|fetched| match fetched {
                Fetched::NotModified => Ok(None),
                Fetched::Body { body, etag, last_modified } => {
                    let parsed = match s.kind {
                        SourceKind::Feed => parse_feed(&body, &s.url, now_ms),
                        SourceKind::JsonApi => parse_api(&body, &s.url, now_ms),
                    };
                    parsed.map(|p| Some((p, etag, last_modified)))
                }
            });
            s.last_attempt_ms = Some(now_ms);
            match parsed {
                Ok(None) => {
                    poll.not_modified += 1;
                    s.failures = 0;
                    s.last_error = None;
                    s.last_success_ms = Some(now_ms);
                    s.not_modified = true;
                    (s.last_items, s.last_new) = (0, 0);
                }
                Ok(Some(((found, skipped), etag, last_modified))) => {
                    poll.fetched += 1;
                    poll.skipped += skipped;
                    // Validators only from an answer that parsed: a broken body is fetched again.
                    s.etag = etag;
                    s.last_modified = last_modified;
                    s.failures = 0;
                    s.last_error = None;
                    s.last_success_ms = Some(now_ms);
                    s.not_modified = false;
                    (s.last_items, s.last_new) = (found.len(), 0);
                    if skipped > 0 {
                        tracing::info!(source = %s.url, skipped, "news entries without a title skipped");
                    }
                    items.extend(found.into_iter().map(|item| (i, item)));
                }
                Err(e) => {
                    poll.failed += 1;
                    s.failures = s.failures.saturating_add(1);
                    let delay = backoff_ms(interval_ms, max_ms, s.failures);
                    s.next_attempt_ms = now_ms.saturating_add(delay);
                    tracing::warn!(
                        source = %s.url,
                        error = %e,
                        failures = s.failures,
                        retry_in_secs = delay / 1_000,
                        "news source failed; it backs off, the others go on"
                    );
                    s.last_error = Some(e.to_string());
                }
            }
        }
        for (i, item) in items {
            if self.remember(news_id(&item.source, &item.url, &item.title)) {
                self.sources[i].last_new += 1;
                poll.fresh.push(item);
            } else {
                poll.duplicates += 1;
            }
        }
        if !poll.fresh.is_empty() {
            self.store_fresh(&poll.fresh, now_ms).await;
        }
        self.prune(now_ms).await;
        self.publish();
        tracing::debug!(
            fresh = poll.fresh.len(),
            fetched = poll.fetched,
            not_modified = poll.not_modified,
            failed = poll.failed,
            waiting = poll.waiting,
            duplicates = poll.duplicates,
            "news polled"
        );
        poll
    }

    async fn store_fresh(&mut self, fresh: &[NewsItem], now_ms: i64) {
        let records: Vec<NewsRecord> = fresh
            .iter()
            .map(|n| NewsRecord {
                id: news_id(&n.source, &n.url, &n.title),
                title: n.title.clone(),
                summary: n.summary.clone(),
                source: n.source.clone(),
                url: n.url.clone(),
                published_ms: n.published_ms,
                fetched_ms: now_ms,
                markets: Vec::new(),
                matches: Vec::new(),
            })
            .collect();
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let written = self
            .store
            .write(move |w| {
                for r in &records {
                    // An id already stored keeps its record (and the markets matched to it).
                    if w.news_item(&r.id)?.is_none() {
                        w.put_news(r)?;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, items = ids.len(), "storing news failed; the items are fetched again");
            // Forget them and the validators, so the next poll brings them back.
            for id in &ids {
                self.seen.remove(id);
            }
            for s in &mut self.sources {
                s.etag = None;
                s.last_modified = None;
            }
        }
    }

    /// Removes stored news older than `keep_days`, at most once an hour, in small transactions.
    async fn prune(&mut self, now_ms: i64) {
        if now_ms.saturating_sub(self.pruned_at_ms) < PRUNE_EVERY_MS {
            return;
        }
        self.pruned_at_ms = now_ms;
        let keep_ms = i64::try_from(self.config.keep_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
        let before = now_ms.saturating_sub(keep_ms);
        let (mut cursor, mut removed) = (None, 0_u64);
        loop {
            let after = cursor.take();
            match self.store.write(move |w| w.prune_news_chunk(before, after, PRUNE_SCAN)).await {
                Ok((n, next)) => {
                    removed += n;
                    match next {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "pruning old news");
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
        if removed > 0 {
            tracing::info!(removed, keep_days = self.config.keep_days, "old news removed");
        }
    }

    /// Polls every `interval_secs` for as long as the task runs, handing new items to `sink`.
    pub async fn run(mut self, sink: impl Fn(Vec<NewsItem>) + Send + 'static) {
        let mut tick = tokio::time::interval(Duration::from_secs(self.config.interval_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let poll = self.poll_at(crate::clock::unix_now_ms()).await;
            if !poll.fresh.is_empty() {
                tracing::info!(items = poll.fresh.len(), "news fetched");
                sink(poll.fresh);
            }
        }
    }
}

/// The wait after the `failures`-th failure in a row: twice the interval, doubling, capped.
fn backoff_ms(interval_ms: i64, max_ms: i64, failures: u32) -> i64 {
    let factor = 1i64 << failures.clamp(1, 30);
    interval_ms.saturating_mul(factor).min(max_ms.max(interval_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_link_else_source_and_title() {
        assert_eq!(news_id("a", "https://x/1", "t"), news_id("b", " https://x/1 ", "other"));
        assert_ne!(news_id("a", "", "t"), news_id("b", "", "t"));
        // Without a link: the engine's historical id (source, newline, title).
        assert_eq!(news_id("s", "", "t"), hex::encode(&Sha256::digest(b"s\nt")[..12]));
    }

    #[test]
    fn backoff_doubles_from_twice_the_interval_up_to_the_cap() {
        let waits: Vec<i64> = (1..=6).map(|n| backoff_ms(60_000, 600_000, n)).collect();
        assert_eq!(waits, [120_000, 240_000, 480_000, 600_000, 600_000, 600_000]);
    }

    #[test]
    fn credentials_in_a_url_are_redacted_for_display_and_keywords_are_not() {
        let url = "https://user:pa55word-xyz@news.test/v2/top?category=politics&apiKey=abc123&keywords=vote\
                   &access_token=tok-1#top";
        assert_eq!(
            shown_url(url, ""),
            "https://user:[redacted]@news.test/v2/top?category=politics&apiKey=[redacted]&keywords=vote\
             &access_token=[redacted]#top"
        );
        assert_eq!(url_secrets(url), ["pa55word-xyz", "abc123", "tok-1"]);
        // The JSON API's own key wherever it appears (a path segment here), however short.
        assert_eq!(
            shown_url("https://news.test/k/sEcr3t/feed", "sEcr3t"),
            "https://news.test/k/[redacted]/feed"
        );
        assert_eq!(shown_url("https://news.test/rss.xml", "sEcr3t"), "https://news.test/rss.xml");
        for name in
            ["apiKey", "api_key", "api-key", "KEY", "subscription-key", "token", "client_secret", "sig"]
        {
            assert!(is_secret_param(name), "{name}");
        }
        for name in ["q", "keywords", "category", "lang", "page"] {
            assert!(!is_secret_param(name), "{name}");
        }
    }

    #[test]
    fn an_error_naming_the_url_is_shown_with_the_redacted_url() {
        let mut s = SourceStatus::new(SourceKind::Feed, "http://127.0.0.1:9/feed?token=t0k3n-value");
        s.failures = 2;
        s.next_attempt_ms = 42;
        s.last_error = Some(
            "request failed: error sending request for url (http://127.0.0.1:9/feed?token=t0k3n-value)"
                .into(),
        );
        let shown = s.redacted("");
        assert_eq!(shown.url, "http://127.0.0.1:9/feed?token=[redacted]");
        assert_eq!(
            shown.last_error.as_deref(),
            Some("request failed: error sending request for url (http://127.0.0.1:9/feed?token=[redacted])")
        );
        assert_eq!((shown.failures, shown.retry_at_ms()), (2, Some(42)));
        assert_eq!(SourceStatus::new(SourceKind::Feed, "http://x/").retry_at_ms(), None);
    }

    #[test]
    fn the_environment_key_wins_when_it_holds_more_than_whitespace() {
        let mut config: NewsFeedsConfig = toml::from_str(
            r#"
            interval_secs = 300
            feeds = []
            json_api_url = "https://api.test/v2"
            json_api_key = "from-file"
            json_api_key_header = "X-Api-Key"
            timeout_ms = 10000
            max_body_bytes = 2097152
            max_backoff_secs = 3600
            "#,
        )
        .unwrap();
        let key = |c: &NewsFeedsConfig| c.json_api_key.clone();
        assert_eq!(key(&config.clone().with_key_override(None)), "from-file", "unset: the file's");
        assert_eq!(key(&config.clone().with_key_override(Some("  \t"))), "from-file", "blank: the file's");
        assert_eq!(key(&config.clone().with_key_override(Some(" from-env \n"))), "from-env", "trimmed");
        config.json_api_key.clear();
        assert_eq!(key(&config.with_key_override(Some("only-env"))), "only-env", "supplied");
    }
}
