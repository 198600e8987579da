//! The market websocket channel: subscribes to the tokens the bot looks at, keeps their books
//! exact, pings, reconnects with backoff, and takes fresh snapshots after a drop, a stale link or a
//! gap (a `price_change` whose reported top of book disagrees with ours). Duplicated frames are
//! dropped.

use super::clob::{TopOfBook, parse_market_frame};
use crate::exchange::book::{BookSide, OrderBook};
use crate::exchange::books::{Applied, BookSet};
use crate::exchange::error::Result;
use crate::exchange::types::{MarketEvent, TokenId};
use crate::exchange::venue::BoxFuture;
use futures_util::{SinkExt as _, StreamExt as _};
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Fetches a token's book over REST (for snapshots after gaps).
pub trait Snapshots: Send + Sync + 'static {
    fn snapshot(&self, token: TokenId) -> BoxFuture<'_, Result<OrderBook>>;
    /// The exchange changed a token's tick size: orders for it must be built on the new one.
    fn tick_size_changed(&self, token: &str, tick_size: Decimal);
}

/// Timings of the link.
#[derive(Debug, Clone, Copy)]
pub struct FeedTimings {
    /// How often the client sends `PING`.
    pub ping_every: Duration,
    /// Silence (no frame, no `PONG`) after which the link is considered dead.
    pub stale_after: Duration,
    /// Reconnection backoff: doubles from `min_backoff` up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for FeedTimings {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(5),
            stale_after: Duration::from_secs(15),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// What the feed has been through, for the dashboard and tests (all connections together).
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Connections started, and how many of them are connected now.
    pub links: AtomicU64,
    pub connected: AtomicU64,
    pub connects: AtomicU64,
    pub frames: AtomicU64,
    pub duplicates: AtomicU64,
    pub gaps: AtomicU64,
    pub snapshots: AtomicU64,
    pub bad_frames: AtomicU64,
}

/// The running feed: add tokens with [`MarketFeed::watch`]; dropped with its owner.
///
/// Tokens are spread over several connections, at most `per_link` each: the exchange silently
/// ignores tokens past about 500 on one connection.
pub struct MarketFeed {
    links: Mutex<Vec<LinkHandle>>,
    per_link: usize,
    start: Box<dyn Fn() -> Link + Send + Sync>,
    stats: Arc<FeedStats>,
}

impl std::fmt::Debug for MarketFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarketFeed").field("per_link", &self.per_link).finish_non_exhaustive()
    }
}

/// One connection's tokens, its queue of changes and its task.
struct LinkHandle {
    interest: Arc<Mutex<BTreeSet<TokenId>>>,
    changes: mpsc::UnboundedSender<Change>,
    task: tokio::task::JoinHandle<()>,
}

/// A change to one connection's subscription.
enum Change {
    Add(Vec<TokenId>),
    Remove(Vec<TokenId>),
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MarketFeed {
    /// Starts the feed on `ws_url` (the root; `/ws/market` is appended), publishing to `events`,
    /// with at most `per_link` tokens a connection. Connections open as tokens are watched.
    #[must_use]
    pub fn spawn(
        ws_url: &str,
        timings: FeedTimings,
        per_link: usize,
        events: broadcast::Sender<MarketEvent>,
        snapshots: Arc<dyn Snapshots>,
    ) -> Self {
        let stats = Arc::new(FeedStats::default());
        let url = format!("{}/ws/market", ws_url.trim_end_matches('/'));
        let shared_stats = stats.clone();
        let start = Box::new(move || Link {
            url: url.clone(),
            timings,
            events: events.clone(),
            snapshots: snapshots.clone(),
            interest: Arc::new(Mutex::new(BTreeSet::new())),
            stats: shared_stats.clone(),
            books: BookSet::new(Decimal::ZERO),
        });
        Self { links: Mutex::new(Vec::new()), per_link: per_link.max(1), start, stats }
    }

    /// Subscribes to more tokens (those already watched are ignored), filling the first
    /// connection with room up to its share before opening another.
    pub fn watch(&self, tokens: impl IntoIterator<Item = TokenId>) {
        let mut links = lock(&self.links);
        let mut fresh: Vec<Vec<TokenId>> = vec![Vec::new(); links.len()];
        for token in tokens {
            if links.iter().any(|l| lock(&l.interest).contains(&token)) {
                continue;
            }
            let room = links.iter().position(|l| lock(&l.interest).len() < self.per_link);
            let at = room.unwrap_or_else(|| {
                let link = (self.start)();
                let interest = link.interest.clone();
                let (changes, received) = mpsc::unbounded_channel();
                self.stats.links.fetch_add(1, Ordering::Relaxed);
                links.push(LinkHandle { interest, changes, task: tokio::spawn(link.run(received)) });
                fresh.push(Vec::new());
                links.len() - 1
            });
            lock(&links[at].interest).insert(token.clone());
            fresh[at].push(token);
        }
        for (link, batch) in links.iter().zip(fresh) {
            if !batch.is_empty() {
                let _ = link.changes.send(Change::Add(batch));
            }
        }
    }

    /// Unsubscribes from tokens no longer of interest and forgets their books; their room on a
    /// connection goes to the next tokens watched.
    pub fn unwatch(&self, tokens: &std::collections::HashSet<TokenId>) {
        if tokens.is_empty() {
            return;
        }
        for link in lock(&self.links).iter() {
            let gone: Vec<TokenId> = {
                let mut interest = lock(&link.interest);
                let gone: Vec<TokenId> = interest.iter().filter(|t| tokens.contains(*t)).cloned().collect();
                for t in &gone {
                    interest.remove(t);
                }
                gone
            };
            if !gone.is_empty() {
                let _ = link.changes.send(Change::Remove(gone));
            }
        }
    }

    /// Tokens subscribed, over every connection.
    #[must_use]
    pub fn watched(&self) -> usize {
        lock(&self.links).iter().map(|l| lock(&l.interest).len()).sum()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &FeedStats {
        &self.stats
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Link {
    url: String,
    timings: FeedTimings,
    events: broadcast::Sender<MarketEvent>,
    snapshots: Arc<dyn Snapshots>,
    interest: Arc<Mutex<BTreeSet<TokenId>>>,
    stats: Arc<FeedStats>,
    books: BookSet,
}

/// A subscription; `custom_feature_enabled` asks for `market_resolved` events.
fn subscribe(tokens: &[TokenId], first: bool) -> Message {
    let body = if first {
        serde_json::json!({"type": "market", "assets_ids": tokens, "initial_dump": true,
            "custom_feature_enabled": true})
    } else {
        serde_json::json!({"operation": "subscribe", "assets_ids": tokens, "initial_dump": true,
            "custom_feature_enabled": true})
    };
    Message::text(body.to_string())
}

fn unsubscribe(tokens: &[TokenId]) -> Message {
    Message::text(serde_json::json!({"operation": "unsubscribe", "assets_ids": tokens}).to_string())
}

impl Link {
    fn watched(&self) -> Vec<TokenId> {
        self.interest.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }

    async fn run(mut self, mut added: mpsc::UnboundedReceiver<Change>) {
        let mut backoff = self.timings.min_backoff;
        loop {
            // Nothing to watch yet: wait for the first tokens rather than hold an idle socket.
            if self.watched().is_empty() && added.recv().await.is_none() {
                return;
            }
            let mut connected = false;
            match self.session(&mut added, &mut connected).await {
                Ok(()) => backoff = self.timings.min_backoff,
                Err(why) => tracing::warn!(url = %self.url, %why, "market feed disconnected"),
            }
            if connected {
                self.stats.connected.fetch_sub(1, Ordering::Relaxed);
            }
            if added.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.timings.max_backoff);
        }
    }

    /// One connection, until it drops or goes quiet.
    async fn session(
        &mut self,
        added: &mut mpsc::UnboundedReceiver<Change>,
        connected: &mut bool,
    ) -> Result<(), String> {
        let (mut socket, _) = tokio::time::timeout(
            self.timings.stale_after,
            tokio_tungstenite::connect_async(self.url.as_str()),
        )
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        // Drain what arrived while disconnected: the interest set says what to follow now.
        while added.try_recv().is_ok() {}
        let tokens = self.watched();
        // Books from before the drop may have missed changes: forget them, the initial dump
        // (or a REST snapshot) replaces them.
        self.books.clear();
        socket.send(subscribe(&tokens, true)).await.map_err(|e| e.to_string())?;
        self.stats.connected.fetch_add(1, Ordering::Relaxed);
        *connected = true;
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get().venue_ws_connects.with_label_values(&["market"]).inc();
        let mut ping = tokio::time::interval(self.timings.ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = tokio::time::Instant::now();
        let mut last_frame = String::new();
        loop {
            tokio::select! {
                frame = socket.next() => {
                    heard = tokio::time::Instant::now();
                    match frame {
                        None => return Err("closed by the server".into()),
                        Some(Err(e)) => return Err(e.to_string()),
                        Some(Ok(Message::Text(text))) => {
                            let text = text.as_str();
                            if text == "PONG" || text.is_empty() {
                                continue;
                            }
                            if text == last_frame {
                                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            text.clone_into(&mut last_frame);
                            self.frame(text).await;
                        }
                        Some(Ok(Message::Close(_))) => return Err("closed by the server".into()),
                        Some(Ok(_)) => {}
                    }
                }
                change = added.recv() => match change {
                    None => return Ok(()),
                    Some(Change::Add(fresh)) => {
                        socket.send(subscribe(&fresh, false)).await.map_err(|e| e.to_string())?;
                    }
                    Some(Change::Remove(gone)) => {
                        for token in &gone {
                            self.books.remove(token);
                        }
                        socket.send(unsubscribe(&gone)).await.map_err(|e| e.to_string())?;
                    }
                },
                _ = ping.tick() => {
                    if heard.elapsed() > self.timings.stale_after {
                        return Err("no frame or PONG for too long".into());
                    }
                    socket.send(Message::text("PING")).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }

    async fn frame(&mut self, text: &str) {
        self.stats.frames.fetch_add(1, Ordering::Relaxed);
        let (events, tops) = match parse_market_frame(text) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "market feed: frame ignored");
                return;
            }
        };
        let mut stale = BTreeSet::new();
        // Frames still in flight when a token was unsubscribed: not followed any more.
        let followed = |token: &TokenId| lock(&self.interest).contains(token);
        for event in events {
            let token = match &event {
                MarketEvent::Book { token, .. }
                | MarketEvent::PriceChange { token, .. }
                | MarketEvent::Trade { token, .. }
                | MarketEvent::TickSize { token, .. } => Some(token),
                MarketEvent::Resolved { .. } => None,
            };
            if token.is_some_and(|t| !followed(t)) {
                continue;
            }
            if let MarketEvent::TickSize { token, tick_size, .. } = &event {
                self.snapshots.tick_size_changed(token, *tick_size);
            }
            if let Applied::NeedsSnapshot(token) = self.books.apply(&event) {
                stale.insert(token.clone());
                continue;
            }
            let _ = self.events.send(event);
        }
        for TopOfBook { token, best_bid, best_ask } in tops {
            if !followed(&token) {
                continue;
            }
            let Some(book) = self.books.get(&token) else { continue };
            let ours = (book.best_bid().map(|l| l.price), book.best_ask().map(|l| l.price));
            if ours != (best_bid, best_ask) {
                tracing::debug!(%token, ?ours, theirs = ?(best_bid, best_ask), "market feed: gap");
                self.stats.gaps.fetch_add(1, Ordering::Relaxed);
                stale.insert(token);
            }
        }
        for token in stale {
            self.resnapshot(token).await;
        }
    }

    async fn resnapshot(&mut self, token: TokenId) {
        match self.snapshots.snapshot(token.clone()).await {
            Ok(book) => {
                self.stats.snapshots.fetch_add(1, Ordering::Relaxed);
                let event = MarketEvent::Book {
                    token: token.clone(),
                    bids: book.levels(BookSide::Bids).collect(),
                    asks: book.levels(BookSide::Asks).collect(),
                    at_ms: crate::clock::unix_now_ms(),
                };
                self.books.apply(&event);
                let _ = self.events.send(event);
            }
            Err(e) => tracing::warn!(%token, error = %e, "market feed: snapshot failed"),
        }
    }
}
