//! The engine's background loops are supervised: a loop that panics is restarted with backoff,
//! its failure counted, and while the safety net (the market feed or the sweep) is down the
//! dashboard's `/healthz` says so with a 503 and the reason.

mod support;

use equilibrage::engine::{Clock, Engine, EngineOptions, Settings};
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::store::Store;
use equilibrage::web_backend::{HostBackend, Venue, WalletInfo};
use equilibrage_web::Backend as _;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::hooked::Hooked;
use support::runtime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_loop_that_panics_is_restarted_and_healthz_says_so_while_it_is_down() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let sim = SimExchange::new(SimConfig { seed: 7, markets: 20, ..SimConfig::default() }, dec!(10000));
    // Following the market feed panics the first two times.
    let follows = Arc::new(AtomicUsize::new(0));
    let venue = Arc::new(Hooked {
        follow: Box::new({
            let follows = Arc::clone(&follows);
            move || {
                let n = follows.fetch_add(1, Ordering::SeqCst);
                assert!(n >= 2, "the feed broke ({})", n + 1);
            }
        }),
        ..Hooked::new(sim.clone())
    });
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
    assert_eq!(follows.load(Ordering::SeqCst), 3, "followed again after each failure");
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
    assert_eq!(follows.load(Ordering::SeqCst), 3, "no further restart");
    assert_eq!(backend.unhealthy(), None);
}
