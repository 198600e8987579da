//! The venue seam: exact order books and fills that walk them, the types every venue speaks,
//! errors classified by what to do next, and (in progress) the `Exchange` trait with its
//! simulator, paper and Polymarket implementations.

mod book;
mod error;
pub mod sim;
mod types;

pub use book::{Amount, BookSide, Fill, FillError, FillPolicy, Level, OrderBook, Side, TakerFee};
pub use error::{ExchangeError, Result};
pub use types::{
    Balance, Market, MarketEvent, OpenOrder, OrderAck, OrderKind, OrderRequest, OrderStatus, Outcome,
    TokenId, TradeReport, TradeStatus,
};
