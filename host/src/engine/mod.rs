//! The trading engine: scans markets with the scorer plugin, enters 50/50 YES/NO positions,
//! watches them with the liquidation-rules plugin (or the built-in rule), keeps the ledger, and
//! journals every order so a crash loses and duplicates nothing.

mod handle;
mod history;
mod ledger;
mod listing;
mod monitor;
mod observer;
mod orders;
mod plugin_io;
mod recovery;
mod rules;
mod scanner;
mod settings;
mod signals;
mod supervisor;
mod trader;
mod trends;
mod types;
mod whales;

pub use history::{ClosedHistory, ClosedSummary, HistoryStats};
pub use ledger::{Account, Overview, PositionPnl, cost_held, fee_of, mark, mark_leg, overview};
pub use observer::{
    Decision, NewsCall, Observer, RulesCall, SCORING_SHADOWS, Scored, ScoringCall, Seen, SignalColumns,
    WhaleCall,
};
pub use plugin_io::setting_of_rule_param;
pub use rules::{Exit, RulesSource, builtin, from_plugin as exit_of};
pub use settings::{FieldError, Settings, SettingsError, SettingsPatch};
pub use signals::SignalFeeds;
pub(crate) use supervisor::panic_message;
pub use supervisor::{EngineTasks, LoopStatus};
pub use trader::cents;
pub use trends::{Trend, TrendsConfig};
pub use types::{Clock, EngineError, EngineEvent, EngineOptions, Health, PositionView, Result};

use crate::exchange::{BookSet, Exchange, OrderBook, TokenId};
use crate::fast_hash::{FastHashMap, FastHashSet};
use crate::plugins::{PluginKind, Plugins};
use crate::store::{Opportunity, Position, ScanRecord, Store, StoreError, TradeRecord};
use arc_swap::ArcSwap;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, broadcast};

/// Cached state; the store is the truth, this is what it said last (never held across an await).
#[derive(Debug, Default)]
struct State {
    /// Open positions by id.
    positions: BTreeMap<u64, Position>,
    /// Held token → position.
    by_token: FastHashMap<TokenId, u64>,
    /// Positions that left the cache, by id: the version that closed them, so that a copy
    /// published late from before (see `cache_position`) does not bring one back.
    retired: HashMap<u64, u64>,
    /// Positions with an order or decision in flight.
    busy: HashSet<u64>,
    books: BookSet,
    /// The last listing, by condition id.
    markets: listing::Listed,
    account: Option<Account>,
    rules: Option<RulesSource>,
    last_error: Option<(i64, String)>,
    /// What the scanner follows of each market it has had among its candidates, by id: its
    /// volatility estimate, the scorer's window of its points, its last recorded point (see
    /// `trends::Track`).
    tracks: trends::Tracks,
    /// Scans whose candidates `tracks` followed.
    tracked_scans: u64,
    /// The last price point recorded per market, for throttling.
    last_point: FastHashMap<String, i64>,
    /// The scorer version of the last scan: entries name it (they rest on its scores).
    scan_scorer: Option<String>,
    /// When each open position's marks were last announced (price moves), for throttling, and
    /// the positions with an announcement scheduled for the end of their quiet period.
    last_marked: HashMap<u64, i64>,
    marks_due: HashSet<u64>,
    /// Trades up to this id are settled (final); the sweep follows the rest.
    unsettled_from: Option<u64>,
    /// The store's count of trade writes (`Store::trade_writes`) when the sweep last found every
    /// trade settled: until a trade is written, there is nothing to follow.
    settled_through: Option<u64>,
    /// When price history was last pruned.
    pruned_at_ms: i64,
    /// Trend windows and candidate recording (see `trends`).
    trends: TrendsConfig,
    /// The last observed scan's candidate ids, which the next one's decision shares (see
    /// `observer::Scored`).
    scanned_ids: FastHashSet<Arc<str>>,
}

struct Inner {
    exchange: Arc<dyn Exchange>,
    plugins: Plugins,
    store: Store,
    clock: Clock,
    /// Where the engine counts what it does: the process's metrics, or nowhere (a backtest).
    metrics: Option<&'static crate::metrics::Metrics>,
    settings: ArcSwap<Settings>,
    state: Mutex<State>,
    events: broadcast::Sender<EngineEvent>,
    /// Closed positions in memory (see `history`): the dashboard's statistics and pages.
    history: history::History,
    /// The last scan's opportunities, best first, as stored: the dashboard reads them on every
    /// page, and decoding the stored records each time would cost milliseconds.
    opportunities: ArcSwap<Vec<Opportunity>>,
    /// The last scan, as stored.
    last_scan: ArcSwap<Option<ScanRecord>>,
    /// Entries one at a time: slots and capital are checked and taken together.
    entry: tokio::sync::Mutex<()>,
    /// Scans one at a time.
    scanning: tokio::sync::Mutex<()>,
    scan_requested: Notify,
    settings_changed: Notify,
    client_seq: std::sync::atomic::AtomicU64,
    /// Scans numbered so far where the store keeps no scan records (an in-memory store: a
    /// backtest's, fresh at open), whose scans the engine numbers itself (see `scan`).
    scans_numbered: std::sync::atomic::AtomicU64,
    /// Whale trades and news of the last day.
    recent: Mutex<signals::Recent>,
    /// Whale trades and resolutions waiting for the whale table (see `whales`).
    whale_inbox: Mutex<whales::WhaleInbox>,
    /// The engine itself, for the tasks it spawns (set once at open).
    this: std::sync::OnceLock<std::sync::Weak<Inner>>,
    /// Who is told what the engine sees and decides (the lab's recorder), when anyone is.
    observer: std::sync::OnceLock<Arc<dyn Observer>>,
    /// Tasks the engine spawned (exits, price points, mark announcements) still running.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// The supervised background loops' states (see `supervisor`).
    loops: supervisor::Loops,
}

/// The running engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("venue", &self.inner.exchange.name()).finish_non_exhaustive()
    }
}

const SETTINGS_KEY: &str = "settings";

/// Best bids and best asks of a position's two sides (YES, NO), from the books the engine holds.
fn tops(state: &State, p: &Position) -> ([Option<Decimal>; 2], [Option<Decimal>; 2]) {
    let top = |i: usize| {
        let book = state.books.get(&p.legs[i].token);
        (
            book.and_then(OrderBook::best_bid).map(|l| l.price),
            book.and_then(OrderBook::best_ask).map(|l| l.price),
        )
    };
    let ((yes_bid, yes_ask), (no_bid, no_ask)) = (top(0), top(1));
    ([yes_bid, no_bid], [yes_ask, no_ask])
}

fn view_of(state: &State, p: &Position) -> PositionView {
    let (bids, asks) = tops(state, p);
    PositionView { position: p.clone(), bids, asks, pnl: mark(p, bids) }
}

/// An order's client id: unique across restarts (position ids are never reused) and readable.
fn client_id(
    position: u64,
    leg: crate::store::Leg,
    purpose: crate::store::Purpose,
    now_ms: i64,
    n: u64,
) -> String {
    format!("p{position}-{}-{}-{now_ms}-{n}", leg.as_str(), purpose.as_str())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Whether anyone observes the engine (so observations worth building are built only then).
    fn observed(&self) -> bool {
        self.observer.get().is_some()
    }

    /// Tells the observer, if any.
    fn saw(&self, what: Seen<'_>) {
        if let Some(o) = self.observer.get() {
            if matches!(what, Seen::Market(_)) && !o.wants_market_events() {
                return;
            }
            o.seen(self.clock.now_ms(), what);
        }
    }

    /// A token's book from the venue (observed: a replay answers with the same book).
    async fn venue_book(&self, token: &str) -> crate::exchange::Result<OrderBook> {
        let book = self.exchange.book(token).await?;
        self.saw(Seen::Book(token, &book));
        Ok(book)
    }

    /// Spawns a task the engine waits for in [`Engine::idle`].
    fn spawn_tracked(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let count = Arc::clone(&self.in_flight);
        count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tokio::spawn(async move {
            // Counted down even when the task panics or is dropped with the runtime.
            let _done = InFlight(count);
            task.await;
        });
    }

    fn emit(&self, event: EngineEvent) {
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    fn error(&self, source: &'static str, message: String) {
        let at_ms = self.clock.now_ms();
        tracing::error!(source, %message);
        if let Some(m) = self.metrics {
            m.errors.with_label_values(&[source]).inc();
        }
        self.state().last_error = Some((at_ms, format!("{source}: {message}")));
        self.emit(EngineEvent::Error { source, message, at_ms });
    }

    /// Remembers a scan just stored, and its opportunities when it stored them (best first).
    fn note_scan(&self, scan: &ScanRecord, opportunities: Option<Arc<Vec<Opportunity>>>) {
        self.last_scan.store(Arc::new(Some(scan.clone())));
        if let Some(o) = opportunities {
            self.opportunities.store(o);
        }
    }

    /// Loads the account (or opens one with the venue's balance), the open positions, the closed
    /// ones' summaries, and the last scan with its opportunities.
    async fn load(&self) -> Result<()> {
        let read = self.store.read()?;
        let account = match read.config::<Account>(Account::KEY)? {
            Some(a) if a.venue != self.exchange.name() => {
                return Err(EngineError::VenueMismatch {
                    stored: a.venue,
                    current: self.exchange.name().into(),
                });
            }
            Some(a) => a,
            None => {
                let balance = self.exchange.balance().await?;
                let mut account = Account::new(balance.collateral, self.exchange.name(), self.clock.now_ms());
                let account = self
                    .store
                    .write(move |w| {
                        account.put(w)?;
                        Ok(account)
                    })
                    .await?;
                tracing::info!(capital = %account.initial_capital, venue = %account.venue, "opened the account");
                account
            }
        };
        // One pass over every position: the open ones for the cache, the rest for the history.
        let mut open = read.positions()?;
        self.history.replace(history::ClosedHistory::new(&open));
        open.retain(|p| p.status.is_open());
        self.last_scan.store(Arc::new(read.scans(1)?.into_iter().next()));
        self.opportunities.store(Arc::new(read.opportunities()?));
        let held: Vec<TokenId> = open.iter().flat_map(|p| p.legs.iter().map(|l| l.token.clone())).collect();
        self.exchange.watch(&held);
        let mut state = self.state();
        state.account = Some(account);
        for p in open {
            let _ = cache_position(&mut state, p);
        }
        Ok(())
    }

    /// A fresh client order id, unique across restarts (position ids are never reused).
    fn client_id(&self, position: u64, leg: crate::store::Leg, purpose: crate::store::Purpose) -> String {
        let n = self.client_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        client_id(position, leg, purpose, self.clock.now_ms(), n)
    }
}

/// Counts a tracked task down when it ends, however it ends.
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Puts a position in the cache (or takes it out once closed), unless the cache has seen a newer
/// copy; says whether it did.
///
/// Writes are committed one at a time but published after their `await`, so two writes in flight
/// together (an entry's two sides, a settlement beside a sale) can be published in the other
/// order: the version, one more at every write, tells which copy is the newer.
fn cache_position(state: &mut State, p: Position) -> bool {
    let seen = state.positions.get(&p.id).map(|c| c.version).or_else(|| state.retired.get(&p.id).copied());
    if seen.is_some_and(|v| v > p.version) {
        return false;
    }
    if p.status.is_open() {
        state.retired.remove(&p.id);
    } else {
        state.retired.insert(p.id, p.version);
        state.last_marked.remove(&p.id);
        state.marks_due.remove(&p.id);
    }
    for leg in &p.legs {
        if p.status.is_open() {
            state.by_token.insert(leg.token.clone(), p.id);
        } else if state.by_token.get(&leg.token) == Some(&p.id) {
            state.by_token.remove(&leg.token);
        }
    }
    if p.status.is_open() {
        state.positions.insert(p.id, p);
    } else {
        state.positions.remove(&p.id);
    }
    true
}

/// Keeps the account unless the cache holds a newer copy (see `cache_position`): cash must never
/// go back to what it was before a fill already published.
fn cache_account(state: &mut State, a: Account) {
    if state.account.as_ref().is_none_or(|c| c.version <= a.version) {
        state.account = Some(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LegState, PositionStatus};
    use rust_decimal_macros::dec;

    fn position(version: u64, status: PositionStatus) -> Position {
        let leg = |t: &str| LegState { token: t.into(), outcome: t.into(), ..LegState::default() };
        Position {
            id: 1,
            market_id: "m".into(),
            question: "Will it?".into(),
            capital: dec!(1000),
            legs: [leg("y"), leg("n")],
            status,
            version,
            ..Position::blank()
        }
    }

    /// An entry's two sides are committed YES then NO, and published NO then YES: the cash stays
    /// the one after both.
    #[test]
    fn an_account_published_late_does_not_undo_a_newer_one() {
        let mut state = State::default();
        let mut a = Account::new(dec!(10000), "sim", 0);
        a.version = 1;
        cache_account(&mut state, a.clone());
        let (mut yes, mut both) = (a.clone(), a);
        yes.cash = dec!(9495.02301);
        yes.version = 2;
        both.cash = dec!(8990.21361);
        both.version = 3;
        cache_account(&mut state, both.clone());
        cache_account(&mut state, yes);
        assert_eq!(state.account.as_ref(), Some(&both));
    }

    /// A copy older than the one cached changes nothing, even once the newer one closed the
    /// position and took it out of the cache; a newer one (a trade undone reopens it) comes back.
    #[test]
    fn a_position_published_late_is_refused() {
        let mut state = State::default();
        assert!(cache_position(&mut state, position(2, PositionStatus::Opening)));
        assert!(cache_position(&mut state, position(3, PositionStatus::Opening)));
        assert!(!cache_position(&mut state, position(2, PositionStatus::Opening)));
        assert_eq!(state.positions[&1].version, 3);

        assert!(cache_position(&mut state, position(5, PositionStatus::Closed)));
        assert!(!cache_position(&mut state, position(4, PositionStatus::Active)), "no ghost");
        assert!(state.positions.is_empty() && state.by_token.is_empty());

        assert!(cache_position(&mut state, position(6, PositionStatus::Liquidated)));
        assert_eq!(state.positions[&1].version, 6);
        assert_eq!(state.by_token.get("y"), Some(&1));
    }
}
