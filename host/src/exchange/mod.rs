//! The venue seam: the `Exchange` trait, exact order books and fills that walk them, the types
//! every venue speaks, errors classified by what to do next, and the venues: the simulator,
//! paper (live data, simulated fills) and Polymarket CLOB V2.

pub(crate) mod account;
mod book;
mod books;
mod error;
pub mod numbers;
pub mod paper;
pub mod polymarket;
pub mod sim;
mod types;
mod venue;

pub use book::{Amount, BookSide, Fill, FillError, FillPolicy, Level, OrderBook, Side, TakerFee};
pub use books::{Applied, BookSet};
pub use error::{ExchangeError, Result};
pub use types::{
    Balance, Market, MarketEvent, OpenOrder, OrderAck, OrderKind, OrderRequest, OrderStatus, Outcome,
    TokenId, TradeReport, TradeStatus,
};
pub use venue::{BoxFuture, Exchange, ListingNotes};
