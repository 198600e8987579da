//! The `Exchange` trait: the seam between the strategy and a venue (simulator, paper, live).

use super::book::OrderBook;
use super::error::Result;
use super::types::{Balance, Market, MarketEvent, OpenOrder, OrderAck, OrderRequest, TokenId, TradeReport};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Markets a listing left out for reasons the operator should see (not the closed or
/// non-binary markets every listing leaves out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingNotes {
    /// Protocol-V2 markets (`positionIds` on ExchangeV3), which this version does not trade.
    pub protocol_v2: u64,
    /// Listing pages that failed: their markets are missing.
    pub failed_pages: u64,
}

/// A boxed future, so the trait can be used as `dyn Exchange`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A trading venue. Every method is cancel-safe to time out; a placement that times out after
/// sending is [`ExchangeError::OutcomeUnknown`](super::ExchangeError::OutcomeUnknown).
pub trait Exchange: Send + Sync {
    /// `sim`, `paper` or `live`.
    fn name(&self) -> &'static str;

    /// Active binary markets. Shared: a venue that keeps its listing hands out the markets
    /// themselves rather than copies (the scanner lists every few minutes).
    fn markets(&self) -> BoxFuture<'_, Result<Vec<Arc<Market>>>>;

    /// A token's current book.
    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<OrderBook>>;

    /// Book changes, trades and resolutions. A receiver that falls behind gets `Lagged` and must
    /// take fresh snapshots with [`Exchange::book`].
    fn events(&self) -> broadcast::Receiver<MarketEvent>;

    /// Places an order. A venue that recognises a repeated `client_id` returns the first answer
    /// instead of trading twice (the simulator does); where a venue cannot, the engine's journal
    /// and reconciliation keep a repeat from happening.
    fn place(&self, order: OrderRequest) -> BoxFuture<'_, Result<OrderAck>>;

    /// Cancels a resting order.
    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Orders still resting.
    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>>;

    /// The bot's trades since `since_ms`, with their settlement status.
    fn trades(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>>;

    /// Collateral.
    fn balance(&self) -> BoxFuture<'_, Result<Balance>>;

    /// The venue's clock minus this machine's, milliseconds, as last measured: trades are
    /// stamped on the venue's clock, so matching them to orders by time uses it. `None` while
    /// it has not been measured yet: no conclusion may then be drawn from trade times.
    fn clock_offset_ms(&self) -> Option<i64> {
        Some(0)
    }

    /// What the last listing left out that the operator should know of.
    fn listing_notes(&self) -> ListingNotes {
        ListingNotes::default()
    }

    /// Makes sure the feed follows these tokens (the bot's holdings), whatever the listing
    /// said. Venues whose feed covers every market need do nothing.
    fn watch(&self, tokens: &[TokenId]) {
        let _ = tokens;
    }
}
