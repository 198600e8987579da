//! The replay venue: an `Exchange` served from a recording. Listings and books are what was
//! recorded, in recorded order; orders fill through the simulated account paper trading uses,
//! walking the recorded book with the market's fee schedule, on the recording's clock.
//!
//! Like paper trading, a fill does not take liquidity from the recorded book: the next recorded
//! book is what the venue published, and it did not contain our replayed orders.

use super::record::Record;
use crate::exchange::account::Account;
use crate::exchange::{
    Applied, Balance, BookSet, BoxFuture, Exchange, ExchangeError, Market, MarketEvent, OpenOrder, OrderAck,
    OrderBook, OrderRequest, Result, TokenId, TradeReport,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// The venue a backtest of a recording trades on.
pub struct ReplayVenue {
    state: Mutex<State>,
    /// The recording's clock as the venue knows it (set a record at a time, outside the lock).
    now_ms: AtomicI64,
    /// Never sent on: the backtest hands events to the engine itself, in recorded order.
    events: broadcast::Sender<MarketEvent>,
}

impl std::fmt::Debug for ReplayVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayVenue").finish_non_exhaustive()
    }
}

struct State {
    account: Account,
    books: BookSet,
    /// The listing as last recorded, by condition id (ordered, so answers are deterministic).
    listing: BTreeMap<String, Arc<Market>>,
    /// Every market ever listed, by token: a resolved market still settles.
    known: HashMap<TokenId, Arc<Market>>,
}

impl ReplayVenue {
    /// A venue whose simulated wallet holds `cash` pUSD.
    #[must_use]
    pub fn new(cash: Decimal) -> Self {
        let state = State {
            account: Account::new("replay", cash).without_tx_hashes(),
            books: BookSet::new(Decimal::ZERO),
            listing: BTreeMap::new(),
            known: HashMap::new(),
        };
        Self { state: Mutex::new(state), now_ms: AtomicI64::new(0), events: broadcast::channel(1).0 }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves the venue's clock (never backwards).
    pub fn set_now(&self, at_ms: i64) {
        // Nearly every record shares its time with the one before: a read, and no write.
        if at_ms > self.now_ms.load(Ordering::Acquire) {
            self.now_ms.fetch_max(at_ms, Ordering::AcqRel);
        }
    }

    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::Acquire)
    }

    /// Takes in what a record says about the venue: listings and books.
    pub fn apply(&self, record: &Record) {
        let mut s = self.state();
        match record {
            Record::Listed(m) => {
                let m = Arc::new(Market::clone(m));
                for o in &m.outcomes {
                    s.known.insert(o.token_id.clone(), Arc::clone(&m));
                }
                s.listing.insert(m.id.clone(), m);
            }
            Record::Delisted(id) => {
                s.listing.remove(id);
            }
            Record::Book { token, book } => s.books.insert(token.clone(), book.clone()),
            Record::Market(e) => {
                drop(s);
                self.apply_event(e);
            }
            _ => {}
        }
    }

    /// Takes in a market event: books move (and resting orders they cross fill), resolutions
    /// pay out what the account holds.
    pub fn apply_event(&self, event: &MarketEvent) {
        let mut s = self.state();
        let s = &mut *s;
        if let MarketEvent::Resolved { market, winning_token, .. } = event {
            if let Some(m) = s.known.get(winning_token) {
                s.account.settle(m, winning_token);
            }
            if let Some(m) = s.listing.get_mut(market) {
                Arc::make_mut(m).accepting_orders = false;
            }
        } else if let Applied::Book { token, .. } = s.books.apply(event)
            && s.account.has_open(token)
        {
            s.account.match_resting(&mut ReplayBooks(&mut s.books), self.now_ms());
        }
    }

    fn place_now(&self, order: &OrderRequest) -> Result<OrderAck> {
        let mut s = self.state();
        let s = &mut *s;
        if let Some(ack) = s.account.answer(&order.client_id) {
            return Ok(ack);
        }
        let not_found = || ExchangeError::NotFound(format!("token {}", order.token));
        let market = s.known.get(&order.token).ok_or_else(not_found)?;
        if !market.accepting_orders || !s.listing.get(&market.id).is_some_and(|m| m.accepting_orders) {
            return Err(ExchangeError::Rejected {
                reason: format!("market {} is not accepting orders", market.id),
            });
        }
        let mut book = s.books.get(&order.token).cloned().ok_or_else(not_found)?;
        book.min_size = market.min_size;
        Ok(s.account.place(order, market, &book, self.now_ms())?.ack)
    }
}

/// Resting orders match against the replayed books without changing them (see the module doc).
struct ReplayBooks<'a>(&'a mut BookSet);

impl crate::exchange::account::Liquidity for ReplayBooks<'_> {
    fn book(&self, token: &str) -> Option<&OrderBook> {
        self.0.get(token)
    }

    fn take(&mut self, _token: &str, _side: crate::exchange::Side, _fill: &crate::exchange::Fill) {}
}

impl Exchange for ReplayVenue {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn markets(&self) -> BoxFuture<'_, Result<Vec<Arc<Market>>>> {
        let markets = self.state().listing.values().filter(|m| m.accepting_orders).cloned().collect();
        Box::pin(async move { Ok(markets) })
    }

    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<OrderBook>> {
        let answer = {
            let s = self.state();
            s.books.get(token).cloned().map(|mut b| {
                if let Some(m) = s.known.get(token) {
                    b.min_size = m.min_size;
                }
                b
            })
        };
        Box::pin(async move { answer.ok_or_else(|| ExchangeError::NotFound(format!("token {token}"))) })
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.events.subscribe()
    }

    fn place(&self, order: OrderRequest) -> BoxFuture<'_, Result<OrderAck>> {
        Box::pin(async move { self.place_now(&order) })
    }

    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.state().account.cancel(order_id) })
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>> {
        let open = self.state().account.open_orders();
        Box::pin(async move { Ok(open) })
    }

    fn trades(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>> {
        let trades = self.state().account.trades_since(since_ms);
        Box::pin(async move { Ok(trades) })
    }

    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        let balance = self.state().account.balance();
        Box::pin(async move { Ok(balance) })
    }
}
