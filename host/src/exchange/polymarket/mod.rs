//! Polymarket: parsing of its public JSON (Gamma markets, CLOB books and market-channel
//! messages); the CLOB V2 client through the official SDK comes next.

mod clob;
mod gamma;

pub use clob::{ClobError, parse_book, parse_market_message};
pub use gamma::{GammaError, parse_market, parse_markets};
