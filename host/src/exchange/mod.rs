//! The venue seam: order books, fills that walk them, and (next) the `Exchange` trait with its
//! simulator, paper and Polymarket implementations.

mod book;

pub use book::{Amount, BookSide, Fill, FillError, FillPolicy, Level, OrderBook, Side, TakerFee};
