//! Paper trading: live public data from any venue, fills simulated against the live books by the
//! same account the simulator uses, no keys.
//!
//! Assumption: paper orders never reach the market, and are small against it, so a fill does not
//! consume the live book. The next order, and the next maker check, see the book as the venue
//! publishes it. One consequence: liquidity a paper fill "took" is still there for the next paper
//! order, and a resting order can fill again against the same displayed size on a later book
//! update — an optimistic bias bounded by the bot's own order sizes.

use super::account::{Account, Liquidity};
use super::book::{Fill, OrderBook, Side};
use super::books::{Applied, BookSet};
use super::error::{ExchangeError, Result};
use super::types::{Balance, Market, MarketEvent, OpenOrder, OrderAck, OrderRequest, TokenId, TradeReport};
use super::venue::{BoxFuture, Exchange};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;

/// The paper venue: `data`'s markets, books and events; the bot's orders filled by simulation.
pub struct PaperExchange {
    inner: Arc<Inner>,
    /// Follows `data`'s events; aborted on drop.
    follower: JoinHandle<()>,
}

struct Inner {
    data: Arc<dyn Exchange>,
    state: Mutex<State>,
}

struct State {
    account: Account,
    /// The live books, kept current from `data`'s events.
    books: BookSet,
    /// Every market seen, by both its tokens. Never forgotten, so a market that resolves (and
    /// leaves `data`'s list) can still be settled.
    markets: HashMap<TokenId, Arc<Market>>,
}

impl PaperExchange {
    /// Paper trading with `cash` pUSD over `data`'s live markets. Subscribes to `data`'s events
    /// at once, and follows them on a task that ends when the `PaperExchange` is dropped.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    #[must_use]
    pub fn new(data: Arc<dyn Exchange>, cash: Decimal) -> Self {
        Self::restored(data, cash, &[])
    }

    /// A paper account that takes over the shares the bot held in an earlier run (paper
    /// accounts live in memory); ids continue from the wall clock so they never repeat.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    #[must_use]
    pub fn restored(data: Arc<dyn Exchange>, cash: Decimal, holdings: &[(String, Decimal)]) -> Self {
        let events = data.events();
        let mut account = Account::new("paper", cash).without_tx_hashes();
        let base = u64::try_from(crate::clock::unix_now_ms()).unwrap_or_default().saturating_mul(1_000);
        account.restore(holdings, base);
        let state = State { account, books: BookSet::new(Decimal::ZERO), markets: HashMap::new() };
        let inner = Arc::new(Inner { data, state: Mutex::new(state) });
        let follower = tokio::spawn(follow(Arc::downgrade(&inner), events));
        Self { inner, follower }
    }

    /// Shares held of a token, not counting those locked by resting sells.
    #[must_use]
    pub fn position(&self, token: &str) -> Decimal {
        self.inner.state().account.position(token)
    }

    /// The live book paper holds for a token, as the next fill would see it.
    #[cfg(test)]
    fn held_book(&self, token: &str) -> Option<OrderBook> {
        self.inner.state().books.get(token).cloned()
    }

    async fn place_now(&self, order: OrderRequest) -> Result<OrderAck> {
        let inner = &self.inner;
        if let Some(ack) = inner.state().account.answer(&order.client_id) {
            return Ok(ack);
        }
        let market = inner.market_of(&order.token).await?;
        if !market.accepting_orders {
            return Err(ExchangeError::Rejected {
                reason: format!("market {} is not accepting orders", market.id),
            });
        }
        let held = inner.state().books.get(&order.token).is_some();
        let fetched = if held { None } else { Some(inner.data.book(&order.token).await?) };
        let mut state = inner.state();
        if let Some(book) = &fetched
            && state.books.get(&order.token).is_none()
        {
            state.books.insert(order.token.clone(), book.clone());
        }
        // The book as it stands now: events may have moved it while the snapshot was fetched.
        let Some(mut book) = state.books.get(&order.token).cloned().or(fetched) else {
            return Err(ExchangeError::Retryable {
                reason: format!("no book yet for token {}", order.token),
                retry_after: None,
            });
        };
        book.min_size = market.min_size;
        // Not consumed: the live market never saw this order.
        Ok(state.account.place(&order, &market, &book, now_ms())?.ack)
    }
}

impl Drop for PaperExchange {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl std::fmt::Debug for PaperExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperExchange").field("data", &self.inner.data.name()).finish_non_exhaustive()
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The market of a token, from the cache, or from `data` when the token is new.
    async fn market_of(&self, token: &str) -> Result<Arc<Market>> {
        if let Some(market) = self.state().markets.get(token).cloned() {
            return Ok(market);
        }
        let markets = self.data.markets().await?;
        let mut state = self.state();
        state.remember(&markets);
        state.markets.get(token).cloned().ok_or_else(|| ExchangeError::NotFound(format!("token {token}")))
    }

    async fn on_event(&self, event: &MarketEvent) {
        let applied = {
            let mut state = self.state();
            let applied = state.books.apply(event);
            if let Applied::Book { token, .. } = &applied {
                state.match_resting(token);
            }
            applied
        };
        match applied {
            Applied::NeedsSnapshot(token) => self.snapshot(token).await,
            Applied::TickSize { token, tick_size } => {
                let mut state = self.state();
                let Some(market) = state.markets.get(token) else { return };
                let market = Arc::new(Market { tick_size, ..Market::clone(market) });
                state.remember(std::slice::from_ref(&market));
            }
            Applied::Book { .. } | Applied::Nothing => {}
        }
        if let MarketEvent::Resolved { winning_token, .. } = event {
            let mut state = self.state();
            // A market never seen holds nothing of ours: orders are only placed on known markets.
            if let Some(market) = state.markets.get(winning_token).cloned() {
                state.account.settle(&market, winning_token);
            }
        }
    }

    /// Takes a fresh snapshot of a token's book from `data`, then checks the orders resting on it.
    async fn snapshot(&self, token: &str) {
        match self.data.book(token).await {
            Ok(book) => {
                let mut state = self.state();
                state.books.insert(token.to_string(), book);
                state.match_resting(token);
            }
            Err(e) => tracing::warn!(token, error = %e, "paper: no snapshot of a changed book"),
        }
    }

    /// After missed events: every book may be stale. Those the account trades are fetched again
    /// now; the others when they next change or are traded.
    async fn resync(&self) {
        let tokens = {
            let mut state = self.state();
            state.books.clear();
            state.account.tokens()
        };
        for token in tokens {
            self.snapshot(&token).await;
        }
    }
}

impl State {
    fn remember(&mut self, markets: &[Arc<Market>]) {
        for m in markets {
            for o in &m.outcomes {
                self.markets.insert(o.token_id.clone(), Arc::clone(m));
            }
        }
    }

    /// Fills the orders resting on `token` that its live book crosses.
    fn match_resting(&mut self, token: &str) {
        if !self.account.has_open(token) {
            return;
        }
        let Some(book) = self.books.get(token) else { return };
        // A copy, so two orders do not both take the same displayed size at one moment.
        let mut scratch = Scratch { token, book: book.clone() };
        self.account.match_resting(&mut scratch, now_ms());
    }
}

/// One token's live book, copied for a maker check.
struct Scratch<'a> {
    token: &'a str,
    book: OrderBook,
}

impl Liquidity for Scratch<'_> {
    fn book(&self, token: &str) -> Option<&OrderBook> {
        (token == self.token).then_some(&self.book)
    }

    fn take(&mut self, token: &str, side: Side, fill: &Fill) {
        if token == self.token {
            self.book.consume(side, fill);
        }
    }
}

/// Follows `data`'s events until the venue is dropped or the feed closes.
async fn follow(inner: Weak<Inner>, mut events: broadcast::Receiver<MarketEvent>) {
    loop {
        let received = events.recv().await;
        let Some(inner) = inner.upgrade() else { return };
        match received {
            Ok(event) => inner.on_event(&event).await,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "paper: fell behind the market feed, taking fresh snapshots");
                inner.resync().await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Wall-clock time: paper trades happen now, whatever the feed's clock says.
use crate::clock::unix_now_ms as now_ms;

impl Exchange for PaperExchange {
    fn name(&self) -> &'static str {
        "paper"
    }

    fn markets(&self) -> BoxFuture<'_, Result<Vec<Arc<Market>>>> {
        Box::pin(async move {
            let markets = self.inner.data.markets().await?;
            self.inner.state().remember(&markets);
            Ok(markets)
        })
    }

    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<OrderBook>> {
        self.inner.data.book(token)
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.inner.data.events()
    }

    fn place(&self, order: OrderRequest) -> BoxFuture<'_, Result<OrderAck>> {
        Box::pin(self.place_now(order))
    }

    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.state().account.cancel(order_id) })
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>> {
        let open = self.inner.state().account.open_orders();
        Box::pin(async move { Ok(open) })
    }

    fn trades(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>> {
        let trades = self.inner.state().account.trades_since(since_ms);
        Box::pin(async move { Ok(trades) })
    }

    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        let balance = self.inner.state().account.balance();
        Box::pin(async move { Ok(balance) })
    }

    fn listing_notes(&self) -> crate::exchange::ListingNotes {
        self.inner.data.listing_notes()
    }

    fn watch(&self, tokens: &[crate::exchange::TokenId]) {
        self.inner.data.watch(tokens);
    }
}

#[cfg(test)]
mod tests;
