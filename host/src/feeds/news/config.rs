//! `[signals.news]`: which feeds and API, how often, and the bounds of each request.

use super::*;

/// `[signals.news]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewsFeedsConfig {
    /// Seconds between polls (10-86400).
    pub interval_secs: u64,
    /// RSS / Atom feed URLs.
    pub feeds: Vec<String>,
    /// A JSON news API (NewsAPI's shape); empty when not used.
    pub json_api_url: String,
    /// The API's key: a secret (redacted in `Debug`, registered with the log scrubber).
    pub json_api_key: String,
    /// The header the key is sent in.
    pub json_api_key_header: String,
    /// Budget of one request, milliseconds.
    pub timeout_ms: u64,
    /// Largest response body read, bytes.
    pub max_body_bytes: usize,
    /// Longest wait between attempts at a failing source, seconds.
    pub max_backoff_secs: u64,
    /// Stored news older than this many days (by publication) is removed.
    #[serde(default = "default_keep_days")]
    pub keep_days: u64,
}

fn default_keep_days() -> u64 {
    30
}

impl fmt::Debug for NewsFeedsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewsFeedsConfig")
            .field("interval_secs", &self.interval_secs)
            .field("feeds", &self.feeds)
            .field("json_api_url", &self.json_api_url)
            .field("json_api_key", &if self.json_api_key.is_empty() { "" } else { "<redacted>" })
            .field("json_api_key_header", &self.json_api_key_header)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_backoff_secs", &self.max_backoff_secs)
            .field("keep_days", &self.keep_days)
            .finish()
    }
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && reqwest::Url::parse(url).is_ok()
}

impl NewsFeedsConfig {
    /// Whether there is anything to fetch.
    #[must_use]
    pub fn enabled(&self) -> bool {
        !self.feeds.is_empty() || !self.json_api_url.trim().is_empty()
    }

    /// The key from [`API_KEY_VAR`] when set, else the configured one (see
    /// [`with_key_override`](Self::with_key_override)).
    #[must_use]
    pub fn with_env_key(self) -> Self {
        let value = std::env::var(API_KEY_VAR).ok();
        self.with_key_override(value.as_deref())
    }

    /// `value` (the environment's key, read by the caller) in place of `json_api_key` when it
    /// holds more than whitespace, trimmed; otherwise the configured key is kept.
    #[must_use]
    pub fn with_key_override(mut self, value: Option<&str>) -> Self {
        if let Some(key) = value.map(str::trim).filter(|k| !k.is_empty()) {
            key.clone_into(&mut self.json_api_key);
        }
        self
    }

    /// Checks every key.
    ///
    /// # Errors
    /// The offending key (`signals.news.…`) and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(10..=86_400).contains(&self.interval_secs) {
            return Err((
                "signals.news.interval_secs",
                format!("must be 10-86400, got {}", self.interval_secs),
            ));
        }
        if let Some(bad) = self.feeds.iter().find(|u| !is_http_url(u.trim())) {
            return Err((
                "signals.news.feeds",
                format!("each must be an http:// or https:// URL, got {bad:?}"),
            ));
        }
        let api = self.json_api_url.trim();
        if !api.is_empty() && !is_http_url(api) {
            return Err(("signals.news.json_api_url", "must be empty or an http:// or https:// URL".into()));
        }
        if !self.json_api_key.is_empty()
            && HeaderName::from_bytes(self.json_api_key_header.as_bytes()).is_err()
        {
            return Err((
                "signals.news.json_api_key_header",
                format!("must be an HTTP header name, got {:?}", self.json_api_key_header),
            ));
        }
        if HeaderValue::from_str(self.json_api_key.trim()).is_err() {
            // The key itself is never echoed.
            return Err(("signals.news.json_api_key", "must be printable ASCII".into()));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(("signals.news.timeout_ms", format!("must be 100-120000, got {}", self.timeout_ms)));
        }
        if !(1_024..=64 << 20).contains(&self.max_body_bytes) {
            return Err((
                "signals.news.max_body_bytes",
                format!("must be 1024-67108864, got {}", self.max_body_bytes),
            ));
        }
        if !(1..=3_650).contains(&self.keep_days) {
            return Err(("signals.news.keep_days", format!("must be 1-3650, got {}", self.keep_days)));
        }
        if self.max_backoff_secs < self.interval_secs {
            return Err((
                "signals.news.max_backoff_secs",
                format!(
                    "must be at least interval_secs ({}), got {}",
                    self.interval_secs, self.max_backoff_secs
                ),
            ));
        }
        Ok(())
    }
}
