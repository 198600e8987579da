//! Shared helpers for the host's integration tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use equilibrage::engine::{Clock, Engine, EngineOptions, Settings};
use equilibrage::exchange::polymarket::{LiveExchange, PolymarketConfig, SignerConfig, WalletType};
use equilibrage::exchange::sim::SimExchange;
use equilibrage::plugins::{Limits, PluginOptions, Plugins, abi, install_defaults};
use equilibrage::store::Store;
use equilibrage_testkit::MockPolymarket;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Small limits so misbehaving fixtures are stopped quickly.
pub fn limits() -> Limits {
    Limits {
        call_timeout: Duration::from_millis(200),
        memory_bytes: 32 << 20,
        max_batch: 1_000,
        max_instances: 32,
    }
}

/// A compile cache shared by every test of this run: compiling is the slow part of a debug build.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

/// A plugin directory with the default plugins plus `extra` files, loaded.
pub fn runtime(extra: &[(&str, &[u8])]) -> (tempfile::TempDir, Plugins) {
    runtime_with(extra, |_| {})
}

/// As [`runtime`], with `set` changing the options first.
pub fn runtime_with(
    extra: &[(&str, &[u8])],
    set: impl FnOnce(&mut PluginOptions),
) -> (tempfile::TempDir, Plugins) {
    let dir = tempfile::tempdir().expect("temp dir");
    install_defaults(dir.path()).expect("defaults");
    for (name, bytes) in extra {
        // Later files are newer, so they win their kind.
        std::thread::sleep(Duration::from_millis(10));
        std::fs::write(dir.path().join(name), bytes).expect("write plugin");
    }
    let mut options = PluginOptions::new(dir.path(), Some(cache_dir()));
    options.limits = limits();
    set(&mut options);
    let plugins = Plugins::new(options).expect("runtime");
    plugins.load_dir().expect("load");
    (dir, plugins)
}

/// A plausible, varied candidate market.
pub fn market(index: u32) -> abi::MarketFeatures {
    let small = |n: u32| f32::from(u8::try_from(index % n).unwrap_or(0));
    let i = i64::from(index);
    let yes = 200_000 + (i * 37_000) % 600_000;
    abi::MarketFeatures {
        yes_bid: Some(yes - 10_000),
        yes_ask: Some(yes + 10_000),
        no_bid: Some(1_000_000 - yes - 10_000),
        no_ask: Some(1_000_000 - yes + 10_000),
        yes_depth: 1_000_000_000 + i * 10_000_000,
        no_depth: 2_000_000_000,
        liquidity: 5_000_000_000 + i * 1_000_000_000 % 90_000_000_000,
        volume_24h: 1_000_000_000,
        volatility_24h: 0.01 + small(10) / 200.0,
        seconds_to_end: 86_400 * (1 + i % 90),
        history_points: index % 5 * 6,
        momentum_24h: (small(7) - 3.0) / 50.0,
        volume_change_24h: small(4) / 4.0 - 0.25,
        whale_activity: small(5) / 5.0,
        whale_net_flow: 0,
        whale_count: index % 4,
        whale_concentration: if index.is_multiple_of(4) { 0.0 } else { 1.0 / small(4) },
        news_relevance: small(3) / 3.0,
        news_count: index % 3,
        news_sentiment: small(3) / 3.0 - 0.5,
    }
}

/// Market `i` alone, as a batch.
pub fn one(i: u32) -> abi::MarketBatch {
    abi::MarketBatch::from_rows(&[market(i)])
}

/// The same market in the guest SDK's types, for running plugin logic natively.
pub fn to_guest(m: &abi::MarketFeatures) -> equilibrage_plugin_sdk::prelude::MarketFeatures {
    equilibrage_plugin_sdk::prelude::MarketFeatures {
        yes_bid: m.yes_bid,
        yes_ask: m.yes_ask,
        no_bid: m.no_bid,
        no_ask: m.no_ask,
        yes_depth: m.yes_depth,
        no_depth: m.no_depth,
        liquidity: m.liquidity,
        volume_24h: m.volume_24h,
        volatility_24h: m.volatility_24h,
        seconds_to_end: m.seconds_to_end,
        history_points: m.history_points,
        momentum_24h: m.momentum_24h,
        volume_change_24h: m.volume_change_24h,
        whale_activity: m.whale_activity,
        whale_net_flow: m.whale_net_flow,
        whale_count: m.whale_count,
        whale_concentration: m.whale_concentration,
        news_relevance: m.news_relevance,
        news_count: m.news_count,
        news_sentiment: m.news_sentiment,
    }
}

/// An engine with default settings on `sim`, over `plugins` and `store`, on the simulator's own
/// clock: it stands still unless the test drives it, so repeated scans see the same books.
pub async fn engine_on_sim(sim: &SimExchange, plugins: &Plugins, store: &Store) -> Engine {
    let clock = {
        let sim = sim.clone();
        Clock::from_fn(move || sim.now_ms())
    };
    let options = EngineOptions { settings: Settings::default(), clock, metrics: true };
    Engine::open(Arc::new(sim.clone()), plugins.clone(), store.clone(), options).await.expect("engine opens")
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// The test wallet's key (a well-known development key; nothing real behind it).
pub const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The live venue's configuration pointed at the mock, with short backoffs and no heartbeats.
pub fn live_config(mock: &MockPolymarket) -> PolymarketConfig {
    let mut config = PolymarketConfig::at(&mock.http_url(), &mock.ws_url());
    config.retry.base_backoff = Duration::from_millis(10);
    config.retry.max_backoff = Duration::from_millis(50);
    config.retry.timeout = Duration::from_secs(5);
    config.feed.min_backoff = Duration::from_millis(20);
    config.feed.max_backoff = Duration::from_millis(100);
    config.heartbeat = Duration::ZERO;
    config
}

/// Sign-in for the test wallet at the mock; with the mock's API credentials, or deriving them.
pub fn signer(mock: &MockPolymarket, configured_credentials: bool) -> SignerConfig {
    let c = mock.credentials();
    SignerConfig {
        clob_url: mock.http_url(),
        chain_id: 137,
        private_key: KEY.into(),
        wallet: WalletType::Eoa,
        funder: None,
        credentials: configured_credentials.then(|| (c.api_key, c.secret.into(), c.passphrase.into())),
        nonce: None,
        fixed_salt: None,
    }
}

/// The live venue, signed in at the mock.
pub async fn live(mock: &MockPolymarket) -> LiveExchange {
    LiveExchange::connect(live_config(mock), signer(mock, true)).await.expect("sign-in at the mock")
}
pub mod browser;
pub mod hooked;
pub mod live_bot;
