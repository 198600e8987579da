//! Configuration: `config/default.toml` embedded as the base, the operator's file merged over it,
//! then validated with an error that names the key.

use crate::exchange::polymarket::{PolymarketConfig, RateLimits, RetryPolicy, WalletType};
use crate::plugins::{Limits, PluginKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod web;
pub use web::{MetricsConfig, WebConfig};

/// The embedded default configuration.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config: {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[log]`: what the log shows and in which format.
    pub log: crate::logging::LogConfig,
    pub data: DataConfig,
    pub plugins: PluginsConfig,
    pub exchange: ExchangeConfig,
    /// `[engine]`: the trading settings the bot starts with (stored changes win after that).
    pub engine: crate::engine::Settings,
    pub web: WebConfig,
    /// `[metrics]`: Prometheus metrics.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[notify]`: notification channels.
    #[serde(default)]
    pub notify: crate::notify::NotifyConfig,
    /// `[signals]`: where whale, news and trend signals come from.
    pub signals: SignalsConfig,
    /// `[lab]`: the strategy lab (recordings).
    pub lab: LabConfig,
    /// `[chain]`: on-chain settlement in live mode.
    pub chain: ChainSettings,
}

/// `[chain]`: on-chain settlement (redemption of resolved markets) in live mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSettings {
    /// A Polygon JSON-RPC URL; empty is off.
    pub rpc_url: String,
    pub redeem: bool,
    pub redeem_every_secs: u64,
    pub calls_per_second: u32,
    pub receipt_wait_secs: u64,
    /// 0: the exchange's chain.
    pub chain_id: u64,
    /// Contract addresses; empty: Polygon's.
    pub collateral: String,
    pub conditional_tokens: String,
    pub exchange: String,
    pub neg_risk_exchange: String,
    pub neg_risk_adapter: String,
}

impl ChainSettings {
    /// The chain configuration for Polygon at `rpc_url` (chain id from the exchange's), or
    /// `None` when off.
    #[must_use]
    pub fn chain(&self, chain_id: u64) -> Option<crate::chain::ChainConfig> {
        let url = self.rpc_url.trim();
        if url.is_empty() {
            return None;
        }
        let mut config = crate::chain::ChainConfig::polygon(url);
        config.chain_id = if self.chain_id == 0 { chain_id } else { self.chain_id };
        config.calls_per_second = self.calls_per_second;
        config.receipt_wait = Duration::from_secs(self.receipt_wait_secs);
        let a = &mut config.addresses;
        for (text, slot) in [
            (&self.collateral, &mut a.collateral),
            (&self.conditional_tokens, &mut a.conditional_tokens),
            (&self.exchange, &mut a.exchange),
            (&self.neg_risk_exchange, &mut a.neg_risk_exchange),
            (&self.neg_risk_adapter, &mut a.neg_risk_adapter),
        ] {
            // Checked by `validate`.
            if let Ok(address) = text.trim().parse() {
                *slot = address;
            }
        }
        Some(config)
    }
}

/// `[lab]`: the strategy lab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabConfig {
    /// `[lab.recording]`: what the recorder keeps (see `lab::recorder`).
    pub recording: crate::lab::RecorderConfig,
}

/// `[signals]`: one table per signal source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// `[signals.news]`: RSS/Atom feeds and a JSON news API (see `feeds::news`).
    pub news: crate::feeds::news::NewsFeedsConfig,
    /// `[signals.trends]`: trend windows and the scanner's price recording (see `engine::trends`).
    pub trends: crate::engine::TrendsConfig,
    /// `[signals.whales]`: the Data API whale tracker (see `feeds::whales`).
    pub whales: crate::feeds::whales::WhalesConfig,
}

/// `[exchange]`: the venue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    pub mode: ExchangeMode,
    pub sim: SimSettings,
    pub paper: PaperSettings,
    pub polymarket: PolymarketSettings,
}

/// `[exchange.paper]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperSettings {
    pub starting_cash: rust_decimal::Decimal,
}

/// `[exchange.polymarket]`: hosts, wallet, timeouts and limits for paper and live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolymarketSettings {
    pub clob_url: String,
    pub gamma_url: String,
    pub ws_url: String,
    pub chain_id: u64,
    pub signature_type: WalletType,
    pub funder: String,
    pub request_timeout_ms: u64,
    pub attempts: u32,
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub heartbeat_secs: u64,
    pub max_markets: usize,
    pub watch_limit: usize,
    pub tokens_per_connection: usize,
    pub rate_limits: RateLimitSettings,
}

/// `[exchange.polymarket.rate_limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub window_secs: u64,
    pub gamma_markets: u32,
    pub book: u32,
    pub clob_general: u32,
    pub post_order: u32,
    pub cancel: u32,
    pub data_orders: u32,
    pub balance_allowance: u32,
    pub post_order_per_10min: u32,
    pub cancel_per_10min: u32,
}

impl PolymarketSettings {
    /// The venue configuration these settings describe.
    #[must_use]
    pub fn venue(&self) -> PolymarketConfig {
        let r = &self.rate_limits;
        PolymarketConfig {
            clob_url: self.clob_url.trim_end_matches('/').to_owned(),
            gamma_url: self.gamma_url.trim_end_matches('/').to_owned(),
            ws_url: self.ws_url.trim_end_matches('/').to_owned(),
            chain_id: self.chain_id,
            wallet: self.signature_type,
            funder: Some(self.funder.trim().to_owned()).filter(|f| !f.is_empty()),
            limits: RateLimits {
                window: Duration::from_secs(r.window_secs),
                gamma_markets: r.gamma_markets,
                book: r.book,
                clob_general: r.clob_general,
                post_order: r.post_order,
                cancel: r.cancel,
                data_orders: r.data_orders,
                balance_allowance: r.balance_allowance,
                long_window: Duration::from_secs(600),
                post_order_long: r.post_order_per_10min,
                cancel_long: r.cancel_per_10min,
            },
            retry: RetryPolicy {
                attempts: self.attempts,
                base_backoff: Duration::from_millis(self.backoff_ms),
                max_backoff: Duration::from_millis(self.max_backoff_ms),
                timeout: Duration::from_millis(self.request_timeout_ms),
            },
            heartbeat: Duration::from_secs(self.heartbeat_secs),
            max_markets: self.max_markets,
            watch_limit: self.watch_limit,
            tokens_per_connection: self.tokens_per_connection,
            ..PolymarketConfig::production()
        }
    }
}

/// Where the bot trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeMode {
    Sim,
    Paper,
    Live,
}

/// `[exchange.sim]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    pub seed: u64,
    pub markets: usize,
    pub speed: f64,
    /// Exact: a decimal string.
    pub starting_cash: rust_decimal::Decimal,
    pub horizon_days: u32,
    /// Questions of your own for the first simulated markets, e.g. for demos and tests.
    #[serde(default)]
    pub questions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    pub dir: PathBuf,
    pub call_timeout_ms: u64,
    pub memory_limit_mib: usize,
    pub max_batch: usize,
    pub quiet_period_ms: u64,
    /// The largest plugin file read, MiB (1..=1024).
    pub max_file_mib: u64,
    pub compile_cache: bool,
    #[serde(default)]
    pub active: BTreeMap<String, String>,
}

impl Config {
    /// The defaults, with `path`'s settings (if any) merged over them, validated.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, an unknown key, or a value out of range.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let base: toml::Table = DEFAULT_TOML.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: "config/default.toml (embedded)".into(),
            message: e.to_string(),
        })?;
        let merged = match path {
            None => base,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.into(), source })?;
                let overlay: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.into(),
                    message: e.to_string(),
                })?;
                merge(base, overlay)
            }
        };
        let shown = path.map_or_else(|| PathBuf::from("config/default.toml (embedded)"), Path::to_path_buf);
        let config: Self = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse { path: shown, message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.plugins;
        let bad = |key, message: String| Err(ConfigError::Invalid { key, message });
        if let Err((key, message)) = self.notify.validate() {
            return bad(key, message);
        }
        if let Err(message) = crate::logging::check_level(&self.log.level) {
            return bad("log.level", message);
        }
        if !(1..=60_000).contains(&p.call_timeout_ms) {
            return bad("plugins.call_timeout_ms", format!("must be 1-60000, got {}", p.call_timeout_ms));
        }
        if !(8..=4096).contains(&p.memory_limit_mib) {
            return bad("plugins.memory_limit_mib", format!("must be 8-4096, got {}", p.memory_limit_mib));
        }
        if !(1..=1_000_000).contains(&p.max_batch) {
            return bad("plugins.max_batch", format!("must be 1-1000000, got {}", p.max_batch));
        }
        if !(1..=1_024).contains(&p.max_file_mib) {
            return bad("plugins.max_file_mib", format!("must be 1-1024, got {}", p.max_file_mib));
        }
        if p.quiet_period_ms > 10_000 {
            return bad(
                "plugins.quiet_period_ms",
                format!("must be at most 10000, got {}", p.quiet_period_ms),
            );
        }
        let sim = &self.exchange.sim;
        if !(1..=5_000).contains(&sim.markets) {
            return bad("exchange.sim.markets", format!("must be 1-5000, got {}", sim.markets));
        }
        if !(sim.speed.is_finite() && sim.speed > 0.0 && sim.speed <= 100_000.0) {
            return bad(
                "exchange.sim.speed",
                format!("must be above 0 and at most 100000, got {}", sim.speed),
            );
        }
        if sim.starting_cash <= rust_decimal::Decimal::ZERO {
            return bad("exchange.sim.starting_cash", format!("must be positive, got {}", sim.starting_cash));
        }
        if !(1..=3_650).contains(&sim.horizon_days) {
            return bad("exchange.sim.horizon_days", format!("must be 1-3650, got {}", sim.horizon_days));
        }
        if sim.questions.len() > sim.markets {
            return bad(
                "exchange.sim.questions",
                format!(
                    "{} questions for {} markets: at most one per market",
                    sim.questions.len(),
                    sim.markets
                ),
            );
        }
        if let Some(q) = sim.questions.iter().find(|q| q.trim().is_empty() || q.chars().count() > 500) {
            return bad("exchange.sim.questions", format!("each must be 1-500 characters, got {q:?}"));
        }
        if self.exchange.paper.starting_cash <= rust_decimal::Decimal::ZERO {
            return bad(
                "exchange.paper.starting_cash",
                format!("must be positive, got {}", self.exchange.paper.starting_cash),
            );
        }
        if let Err((key, message)) = self.web.validate() {
            return bad(key, message);
        }
        self.validate_polymarket()?;
        if let Err((key, message)) = self.signals.news.validate() {
            return bad(key, message);
        }
        if let Err((key, message)) = self.signals.trends.validate() {
            return bad(key, message);
        }
        if let Err((key, message)) = self.signals.whales.validate() {
            return bad(key, message);
        }
        if let Err(e) = self.engine.validate() {
            return bad("engine", e.to_string());
        }
        if let Err(e) = self.lab.recording.validate() {
            return bad("lab.recording", e);
        }
        for kind in p.active.keys() {
            if let Err(e) = kind.parse::<PluginKind>() {
                return bad("plugins.active", e);
            }
        }
        Ok(())
    }

    fn validate_polymarket(&self) -> Result<(), ConfigError> {
        let pm = &self.exchange.polymarket;
        let bad = |key, message: String| Err(ConfigError::Invalid { key, message });
        for (key, url, schemes) in [
            ("exchange.polymarket.clob_url", &pm.clob_url, ["http://", "https://"]),
            ("exchange.polymarket.gamma_url", &pm.gamma_url, ["http://", "https://"]),
            ("exchange.polymarket.ws_url", &pm.ws_url, ["ws://", "wss://"]),
        ] {
            if !schemes.iter().any(|s| url.starts_with(s)) {
                return bad(key, format!("must start with {} or {}, got {url:?}", schemes[0], schemes[1]));
            }
        }
        if ![137, 80002].contains(&pm.chain_id) {
            return bad("exchange.polymarket.chain_id", format!("must be 137 or 80002, got {}", pm.chain_id));
        }
        if pm.signature_type == WalletType::Deposit && pm.funder.trim().is_empty() {
            return bad(
                "exchange.polymarket.funder",
                "the deposit wallet's address is required with signature_type = \"deposit\"".into(),
            );
        }
        if pm.signature_type == WalletType::Eoa && !pm.funder.trim().is_empty() {
            return bad(
                "exchange.polymarket.funder",
                "must be empty with signature_type = \"eoa\" (the key's own address holds the funds)".into(),
            );
        }
        if !(100..=120_000).contains(&pm.request_timeout_ms) {
            return bad(
                "exchange.polymarket.request_timeout_ms",
                format!("must be 100-120000, got {}", pm.request_timeout_ms),
            );
        }
        if !(1..=10).contains(&pm.attempts) {
            return bad("exchange.polymarket.attempts", format!("must be 1-10, got {}", pm.attempts));
        }
        if pm.backoff_ms == 0 || pm.backoff_ms > pm.max_backoff_ms {
            return bad(
                "exchange.polymarket.backoff_ms",
                format!("must be at least 1 and at most max_backoff_ms, got {}", pm.backoff_ms),
            );
        }
        if pm.heartbeat_secs > 9 {
            return bad(
                "exchange.polymarket.heartbeat_secs",
                format!(
                    "must be 0 (off) to 9: the exchange cancels orders after ~10 s; got {}",
                    pm.heartbeat_secs
                ),
            );
        }
        if !(1..=500).contains(&pm.tokens_per_connection) {
            return bad(
                "exchange.polymarket.tokens_per_connection",
                format!(
                    "must be 1-500: the exchange silently ignores tokens past about 500 on one connection; got {}",
                    pm.tokens_per_connection
                ),
            );
        }
        if !(1..=100_000).contains(&pm.max_markets) {
            return bad(
                "exchange.polymarket.max_markets",
                format!("must be 1-100000, got {}", pm.max_markets),
            );
        }
        let chain = &self.chain;
        let url = chain.rpc_url.trim();
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return bad("chain.rpc_url", format!("must be an http(s) JSON-RPC URL or empty, got {url:?}"));
        }
        if !(5..=86_400).contains(&chain.redeem_every_secs) {
            return bad(
                "chain.redeem_every_secs",
                format!("must be 5-86400, got {}", chain.redeem_every_secs),
            );
        }
        if !(1..=1_000).contains(&chain.calls_per_second) {
            return bad("chain.calls_per_second", format!("must be 1-1000, got {}", chain.calls_per_second));
        }
        for (key, text) in [
            ("chain.collateral", &chain.collateral),
            ("chain.conditional_tokens", &chain.conditional_tokens),
            ("chain.exchange", &chain.exchange),
            ("chain.neg_risk_exchange", &chain.neg_risk_exchange),
            ("chain.neg_risk_adapter", &chain.neg_risk_adapter),
        ] {
            let text = text.trim();
            if !text.is_empty() && text.parse::<alloy::primitives::Address>().is_err() {
                return bad(key, format!("must be a 0x-prefixed 20-byte address or empty, got {text:?}"));
            }
        }
        if !(5..=3_600).contains(&chain.receipt_wait_secs) {
            return bad(
                "chain.receipt_wait_secs",
                format!("must be 5-3600, got {}", chain.receipt_wait_secs),
            );
        }
        let r = &pm.rate_limits;
        if r.window_secs == 0 {
            return bad("exchange.polymarket.rate_limits.window_secs", "must be at least 1".into());
        }
        for (key, n) in [
            ("exchange.polymarket.rate_limits.gamma_markets", r.gamma_markets),
            ("exchange.polymarket.rate_limits.book", r.book),
            ("exchange.polymarket.rate_limits.clob_general", r.clob_general),
            ("exchange.polymarket.rate_limits.post_order", r.post_order),
            ("exchange.polymarket.rate_limits.cancel", r.cancel),
            ("exchange.polymarket.rate_limits.data_orders", r.data_orders),
            ("exchange.polymarket.rate_limits.balance_allowance", r.balance_allowance),
            ("exchange.polymarket.rate_limits.post_order_per_10min", r.post_order_per_10min),
            ("exchange.polymarket.rate_limits.cancel_per_10min", r.cancel_per_10min),
        ] {
            if n == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        Ok(())
    }

    /// The plugin directory: `plugins.dir`, or `<data dir>/plugins` when empty.
    #[must_use]
    pub fn plugin_dir(&self) -> PathBuf {
        if self.plugins.dir.as_os_str().is_empty() {
            self.data.dir.join("plugins")
        } else {
            self.plugins.dir.clone()
        }
    }

    /// Plugin limits from `[plugins]`.
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            call_timeout: Duration::from_millis(self.plugins.call_timeout_ms),
            memory_bytes: self.plugins.memory_limit_mib << 20,
            max_batch: self.plugins.max_batch,
            ..Limits::default()
        }
    }

    /// `[plugins.active]`, by kind (validated at load).
    #[must_use]
    pub fn preferred_plugins(&self) -> BTreeMap<PluginKind, String> {
        self.plugins.active.iter().filter_map(|(k, v)| Some((k.parse().ok()?, v.clone()))).collect()
    }
}

/// Overlays `top` on `base`, table by table.
fn merge(mut base: toml::Table, top: toml::Table) -> toml::Table {
    for (key, value) in top {
        match (base.remove(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => {
                base.insert(key, toml::Value::Table(merge(b, t)));
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path))
    }

    #[test]
    fn defaults_load_and_a_partial_file_overrides_only_its_keys() {
        let d = Config::load(None).unwrap();
        assert_eq!(d.plugins.call_timeout_ms, 250);
        assert_eq!(d.plugin_dir(), PathBuf::from("data/plugins"));
        assert_eq!(d.exchange.mode, ExchangeMode::Sim);
        assert_eq!(d.exchange.sim.starting_cash, rust_decimal::Decimal::from(10_000));
        let c = load_text("[plugins]\ncall_timeout_ms = 500\n[plugins.active]\nscorer = \"mine\"\n").unwrap();
        assert_eq!(c.plugins.call_timeout_ms, 500);
        assert_eq!(c.plugins.memory_limit_mib, 64);
        assert_eq!(c.preferred_plugins().get(&PluginKind::Scorer).map(String::as_str), Some("mine"));
    }

    #[test]
    fn the_live_example_is_a_valid_live_configuration() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/live.example.toml");
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.exchange.mode, ExchangeMode::Live);
        assert_eq!(config.exchange.polymarket.signature_type, WalletType::Proxy);
        assert_eq!(config.exchange.polymarket.venue().limits.post_order, 500);
        assert_eq!(config.web.session_ttl_hours, 24);
    }

    #[test]
    fn unknown_keys_bad_values_and_bad_kinds_are_named() {
        let e = load_text("[plugins]\ncall_timout_ms = 5\n").unwrap_err().to_string();
        assert!(e.contains("call_timout_ms"), "{e}");
        let e = load_text("[plugins]\nmemory_limit_mib = 1\n").unwrap_err().to_string();
        assert!(e.contains("plugins.memory_limit_mib") && e.contains("8-4096"), "{e}");
        let e = load_text("[plugins.active]\nscorrer = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown plugin kind"), "{e}");
        let e = load_text("[web]\nlisten = \"nope\"\n").unwrap_err().to_string();
        assert!(e.contains("listen") || e.contains("socket"), "{e}");
        assert_eq!(load_text("[exchange]\nmode = \"live\"\n").unwrap().exchange.mode, ExchangeMode::Live);
        let e = load_text("[exchange.polymarket]\nsignature_type = \"deposit\"\n").unwrap_err().to_string();
        assert!(e.contains("exchange.polymarket.funder"), "{e}");
        let e = load_text("[exchange.polymarket]\nsignature_type = \"ledger\"\n").unwrap_err().to_string();
        assert!(e.contains("signature_type") || e.contains("ledger"), "{e}");
        let e = load_text("[exchange.polymarket]\nws_url = \"https://x\"\n").unwrap_err().to_string();
        assert!(e.contains("exchange.polymarket.ws_url"), "{e}");
        let e = load_text("[exchange.polymarket.rate_limits]\npost_order = 0\n").unwrap_err().to_string();
        assert!(e.contains("post_order"), "{e}");
        let e = load_text("[exchange.polymarket]\nheartbeat_secs = 30\n").unwrap_err().to_string();
        assert!(e.contains("heartbeat_secs"), "{e}");
        let e = load_text("[chain]\nrpc_url = \"ws://x\"\n").unwrap_err().to_string();
        assert!(e.contains("chain.rpc_url"), "{e}");
        let e = load_text("[exchange.polymarket]\ntokens_per_connection = 1000\n").unwrap_err().to_string();
        assert!(e.contains("tokens_per_connection") && e.contains("500"), "{e}");
        let e = load_text("[exchange]\nmode = \"moon\"\n").unwrap_err().to_string();
        assert!(e.contains("moon") || e.contains("variant"), "{e}");
        let e = load_text("[exchange.sim]\nstarting_cash = \"-5\"\n").unwrap_err().to_string();
        assert!(e.contains("exchange.sim.starting_cash"), "{e}");
        let e = load_text("[exchange.sim]\nspeed = 0.0\n").unwrap_err().to_string();
        assert!(e.contains("exchange.sim.speed"), "{e}");
        let c = load_text("[exchange.sim]\nquestions = [\"Will it rain?\"]\n").unwrap();
        assert_eq!(c.exchange.sim.questions, ["Will it rain?"]);
        let e = load_text("[exchange.sim]\nquestions = [\" \"]\n").unwrap_err().to_string();
        assert!(e.contains("exchange.sim.questions"), "{e}");
        let e =
            load_text("[exchange.sim]\nmarkets = 1\nquestions = [\"a?\", \"b?\"]\n").unwrap_err().to_string();
        assert!(e.contains("exchange.sim.questions") && e.contains("at most one per market"), "{e}");
        let d = Config::load(None).unwrap();
        assert!(d.web.secure_cookies);
        assert_eq!(d.web.session_ttl(), Duration::from_secs(7 * 24 * 3_600));
        let e = load_text("[web]\nsession_ttl_hours = 0\n").unwrap_err().to_string();
        assert!(e.contains("web.session_ttl_hours"), "{e}");
        let e = load_text("[plugins\n").unwrap_err().to_string();
        assert!(e.contains("c.toml"), "{e}");
    }
}
