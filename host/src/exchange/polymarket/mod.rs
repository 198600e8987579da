//! Polymarket: parsing of its public JSON (Gamma markets so far); the CLOB V2 client through the
//! official SDK comes next.

mod gamma;

pub use gamma::{GammaError, parse_market, parse_markets};
