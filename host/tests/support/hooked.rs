//! The simulator as a venue with hooks on the calls a test breaks: an order refused, the market
//! feed failing to follow. Every other call goes to the simulator as it is.

use equilibrage::exchange::sim::SimExchange;
use equilibrage::exchange::{
    Balance, BoxFuture, Exchange, ExchangeError, Market, MarketEvent, OpenOrder, OrderAck, OrderBook,
    OrderRequest, Result, TradeReport,
};
use std::sync::Arc;
use tokio::sync::broadcast;

/// What an order hook answers: `Some` refuses the order with that error.
type PlaceHook = Box<dyn Fn(&OrderRequest) -> Option<ExchangeError> + Send + Sync>;

/// The simulator, with a hook before each order and each time the market feed is followed.
pub struct Hooked {
    pub sim: SimExchange,
    /// Asked before each order; an error it gives is the venue's answer.
    pub place: PlaceHook,
    /// Called each time the engine follows the market feed (it may panic, as a broken feed).
    pub follow: Box<dyn Fn() + Send + Sync>,
}

impl Hooked {
    /// The simulator with hooks that change nothing.
    pub fn new(sim: SimExchange) -> Self {
        Self { sim, place: Box::new(|_| None), follow: Box::new(|| {}) }
    }
}

impl Exchange for Hooked {
    fn name(&self) -> &'static str {
        self.sim.name()
    }
    fn markets(&self) -> BoxFuture<'_, Result<Vec<Arc<Market>>>> {
        self.sim.markets()
    }
    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<OrderBook>> {
        self.sim.book(token)
    }
    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        (self.follow)();
        self.sim.events()
    }
    fn place(&self, order: OrderRequest) -> BoxFuture<'_, Result<OrderAck>> {
        match (self.place)(&order) {
            Some(refused) => Box::pin(async move { Err(refused) }),
            None => self.sim.place(order),
        }
    }
    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Result<()>> {
        self.sim.cancel(order_id)
    }
    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>> {
        self.sim.open_orders()
    }
    fn trades(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>> {
        self.sim.trades(since_ms)
    }
    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        self.sim.balance()
    }
}
