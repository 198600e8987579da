//! Supervision of the engine's background loops (feed, sweep, scan, plugins, signals): a loop
//! that panics or returns is restarted with backoff, its failures counted and logged, and its
//! state published so health checks can say when the safety net (feed or sweep) is down.

use super::{Engine, SignalFeeds};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The first wait before a restart; it doubles per failure in a row, up to [`MAX_BACKOFF`].
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait before a restart.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A loop that ran this long before failing starts its backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// One supervised loop as health checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopStatus {
    /// `feed`, `sweep`, `scan`, `plugins` or `signals`.
    pub name: &'static str,
    /// The feed and the sweep protect open positions: while either is down the bot is unhealthy.
    pub safety_net: bool,
    pub running: bool,
    /// Restarts since the engine started.
    pub restarts: u64,
    /// The last failure (a panic's message, or that it returned), and when (Unix ms).
    pub last_failure: Option<(i64, String)>,
}

/// The loops' published states, shared by the supervisors and the health checks.
#[derive(Debug, Clone, Default)]
pub(super) struct Loops(Arc<Mutex<Vec<LoopStatus>>>);

impl Loops {
    fn lock(&self) -> MutexGuard<'_, Vec<LoopStatus>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut LoopStatus)) {
        if let Some(status) = self.lock().iter_mut().find(|s| s.name == name) {
            f(status);
        }
    }

    /// Every supervised loop, in the order they were started.
    pub(super) fn statuses(&self) -> Vec<LoopStatus> {
        self.lock().clone()
    }

    /// Why the safety net is down, when a loop of it is not running.
    pub(super) fn safety_net_down(&self) -> Option<String> {
        let down: Vec<String> = self
            .lock()
            .iter()
            .filter(|s| s.safety_net && !s.running)
            .map(|s| match &s.last_failure {
                Some((_, why)) => format!("the {} loop is down ({why}); restarting", s.name),
                None => format!("the {} loop is down; restarting", s.name),
            })
            .collect();
        (!down.is_empty()).then(|| down.join("; "))
    }

    /// Runs `make()`'s loop on its own task, for as long as the returned future is polled: a
    /// panic or a return is counted and logged, and the loop started again after a backoff.
    /// Dropping the returned future stops the loop.
    pub(super) fn supervise<F, Fut>(
        &self,
        name: &'static str,
        safety_net: bool,
        mut make: F,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Starting counts as running: only a failure makes a loop down.
        let fresh = LoopStatus { name, safety_net, running: true, restarts: 0, last_failure: None };
        {
            let mut all = self.lock();
            match all.iter_mut().find(|s| s.name == name) {
                Some(known) => *known = fresh,
                None => all.push(fresh),
            }
        }
        let loops = self.clone();
        async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                loops.update(name, |s| s.running = true);
                let started = tokio::time::Instant::now();
                // Its own task, so a panic is caught as a join error; the set aborts it when this
                // future is dropped.
                let mut task = tokio::task::JoinSet::new();
                task.spawn(make());
                let why = match task.join_next().await {
                    Some(Ok(())) | None => "it returned".to_owned(),
                    Some(Err(e)) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
                    Some(Err(e)) => format!("stopped: {e}"),
                };
                if started.elapsed() >= HEALTHY_RUN {
                    backoff = FIRST_BACKOFF;
                }
                let now = crate::clock::unix_now_ms();
                loops.update(name, |s| {
                    s.running = false;
                    s.restarts += 1;
                    s.last_failure = Some((now, why.clone()));
                });
                tracing::error!(
                    loop_name = name,
                    safety_net,
                    restart_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                    failure = %why,
                    "a background loop failed; restarting it"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The engine's background tasks; dropping this stops them.
#[derive(Debug)]
pub struct EngineTasks {
    tasks: tokio::task::JoinSet<()>,
}

impl EngineTasks {
    /// Stops every task now.
    pub fn abort(&mut self) {
        self.tasks.abort_all();
    }
}

impl Engine {
    /// Starts the background tasks, each supervised (restarted with backoff if it panics or
    /// returns): the market feed (event-driven monitoring) and the safety sweep, which together
    /// are the safety net of open positions; the scheduled scanner (and auto-trading); and the
    /// plugin watcher.
    #[must_use]
    pub fn spawn(&self) -> EngineTasks {
        let mut tasks = tokio::task::JoinSet::new();
        let loops = &self.inner.loops;
        let inner = Arc::clone(&self.inner);
        tasks.spawn(loops.supervise("feed", true, move || Arc::clone(&inner).feed_loop()));
        let inner = Arc::clone(&self.inner);
        tasks.spawn(loops.supervise("sweep", true, move || Arc::clone(&inner).sweep_loop()));
        let inner = Arc::clone(&self.inner);
        tasks.spawn(loops.supervise("scan", false, move || Arc::clone(&inner).scan_loop()));
        let inner = Arc::clone(&self.inner);
        tasks.spawn(loops.supervise("plugins", false, move || Arc::clone(&inner).plugin_loop()));
        EngineTasks { tasks }
    }

    /// Follows whale trades and news for the scanner's signals, on `tasks` (supervised; a
    /// restart subscribes again from now).
    pub fn follow_signals(&self, feeds: SignalFeeds, tasks: &mut EngineTasks) {
        let inner = Arc::clone(&self.inner);
        let make = move || {
            let feeds = SignalFeeds { whales: feeds.whales.resubscribe(), news: feeds.news.resubscribe() };
            Arc::clone(&inner).signal_loop(feeds)
        };
        tasks.tasks.spawn(self.inner.loops.supervise("signals", false, make));
    }

    /// The supervised background loops, in the order they started.
    #[must_use]
    pub fn loops(&self) -> Vec<LoopStatus> {
        self.inner.loops.statuses()
    }

    /// Why the safety net of open positions (the feed or the sweep) is down, when it is.
    #[must_use]
    pub fn safety_net_down(&self) -> Option<String> {
        self.inner.loops.safety_net_down()
    }
}

/// A panic's message, when it carried one.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_panics_or_returns_is_restarted_with_backoff_and_counted() {
        let loops = Loops::default();
        let runs = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&runs);
        let supervised = loops.supervise("feed", true, move || {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match run {
                    0 => panic!("a book priced 1e20"),
                    1 => {} // returns
                    _ => std::future::pending().await,
                }
            }
        });
        let task = tokio::spawn(supervised);
        // The first run panics at once: down, with why, until the first backoff has passed.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let down = loops.safety_net_down().expect("down after the panic");
        assert!(down.contains("the feed loop is down (panicked: a book priced 1e20)"), "{down}");
        assert_eq!(loops.statuses()[0].restarts, 1);
        // Restarted after 500 ms; it returns, and waits 1 s (doubled) before the third run.
        tokio::time::sleep(FIRST_BACKOFF).await;
        let status = loops.statuses()[0].clone();
        assert_eq!((status.running, status.restarts), (false, 2));
        assert_eq!(status.last_failure.map(|(_, why)| why).as_deref(), Some("it returned"));
        tokio::time::sleep(FIRST_BACKOFF * 2).await;
        let status = loops.statuses()[0].clone();
        assert!(status.running, "running again after the doubled backoff");
        assert_eq!((runs.load(Ordering::SeqCst), status.restarts), (3, 2));
        assert_eq!(loops.safety_net_down(), None);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_feed_and_sweep_are_the_safety_net_and_dropping_the_supervisor_stops_its_loop() {
        let loops = Loops::default();
        let stopped = Arc::new(AtomicU32::new(0));
        let scan = loops.supervise("scan", false, || async { panic!("scanner bug") });
        let guard = Arc::clone(&stopped);
        let feed = loops.supervise("feed", true, move || {
            let guard = Arc::clone(&guard);
            async move {
                struct OnDrop(Arc<AtomicU32>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _stops = OnDrop(guard);
                std::future::pending::<()>().await;
            }
        });
        let (scan, feed) = (tokio::spawn(scan), tokio::spawn(feed));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(loops.safety_net_down(), None, "a failing scan loop is not the safety net");
        assert!(!loops.statuses()[0].running);
        feed.abort();
        let _ = feed.await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(stopped.load(Ordering::SeqCst), 1, "the loop's task is stopped with its supervisor");
        scan.abort();
    }
}
