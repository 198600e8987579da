//! The engine's background loops are supervised: a loop that panics is restarted with backoff,
//! its failure counted, and while the safety net (the market feed or the sweep) is down the
//! dashboard's `/healthz` says so with a 503 and the reason.

mod support;

use equilibrage::engine::{Clock, Engine, EngineOptions, Settings};
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::exchange::{
    Balance, BoxFuture, Exchange, Market, MarketEvent, OpenOrder, OrderAck, OrderBook, OrderRequest,
    TradeReport,
};
use equilibrage::store::Store;
use equilibrage::web_backend::{HostBackend, Venue, WalletInfo};
use equilibrage_web::Backend as _;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::runtime;
use tokio::sync::broadcast;

/// The simulator, but following its market feed panics the first `panics` times.
struct Stumbling {
    inner: SimExchange,
    panics: usize,
    follows: AtomicUsize,
}

impl Exchange for Stumbling {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn markets(&self) -> BoxFuture<'_, equilibrage::exchange::Result<Vec<std::sync::Arc<Market>>>> {
        self.inner.markets()
    }
    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, equilibrage::exchange::Result<OrderBook>> {
        self.inner.book(token)
    }
    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        let n = self.follows.fetch_add(1, Ordering::SeqCst);
        assert!(n >= self.panics, "the feed broke ({})", n + 1);
        self.inner.events()
    }
    fn place(&self, order: OrderRequest) -> BoxFuture<'_, equilibrage::exchange::Result<OrderAck>> {
        self.inner.place(order)
    }
    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, equilibrage::exchange::Result<()>> {
        self.inner.cancel(order_id)
    }
    fn open_orders(&self) -> BoxFuture<'_, equilibrage::exchange::Result<Vec<OpenOrder>>> {
        self.inner.open_orders()
    }
    fn trades(&self, since_ms: i64) -> BoxFuture<'_, equilibrage::exchange::Result<Vec<TradeReport>>> {
        self.inner.trades(since_ms)
    }
    fn balance(&self) -> BoxFuture<'_, equilibrage::exchange::Result<Balance>> {
        self.inner.balance()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_loop_that_panics_is_restarted_and_healthz_says_so_while_it_is_down() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let sim = SimExchange::new(SimConfig { seed: 7, markets: 20, ..SimConfig::default() }, dec!(10000));
    let venue = Arc::new(Stumbling { inner: sim.clone(), panics: 2, follows: AtomicUsize::new(0) });
    let clock = {
        let sim = sim.clone();
        Clock::from_fn(move || sim.now_ms())
    };
    let options = EngineOptions { settings: Settings::default(), clock, metrics: true };
    let engine = Engine::open(venue.clone(), plugins.clone(), store, options).await.unwrap();
    let backend =
        HostBackend::new(plugins, Venue::Sim(sim.clone()), engine.clone(), WalletInfo::for_mode("sim"));
    let _tasks = engine.spawn();

    // Down twice (500 ms, then 1 s of backoff), each time with why; /healthz says so.
    let mut reasons = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(why) = backend.unhealthy()
            && reasons.last() != Some(&why)
        {
            reasons.push(why);
        }
        let feed = engine.loops().into_iter().find(|l| l.name == "feed").unwrap();
        if feed.running && feed.restarts == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the feed loop comes back: {feed:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!reasons.is_empty(), "the outage was visible");
    assert!(
        reasons.iter().all(|r| r.contains("the feed loop is down (panicked: the feed broke")),
        "{reasons:?}"
    );
    assert_eq!(venue.follows.load(Ordering::SeqCst), 3, "followed again after each failure");
    assert_eq!(backend.unhealthy(), None, "healthy again");
    let health = backend.overview().unwrap().health;
    let feed = health.loops.iter().find(|l| l.name == "feed").unwrap();
    assert!(feed.safety_net && feed.running && feed.restarts == 2, "{feed:?}");
    assert!(feed.last_failure.as_deref().unwrap().contains("the feed broke (2)"), "{feed:?}");
    let names: Vec<&str> = health.loops.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["feed", "sweep", "scan", "plugins"]);
    assert!(health.loops.iter().filter(|l| l.name != "feed").all(|l| l.running && l.restarts == 0));

    // The restarted feed stays up while the market moves.
    sim.advance(60_000);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(venue.follows.load(Ordering::SeqCst), 3, "no further restart");
    assert_eq!(backend.unhealthy(), None);
}
