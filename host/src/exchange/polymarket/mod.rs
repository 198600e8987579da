//! Polymarket: parsing of its public JSON (Gamma markets, CLOB books and market-channel
//! messages) and L2 request signing; the CLOB V2 client through the official SDK comes next.

mod auth;
mod clob;
mod gamma;

pub use auth::{AuthError, l2_signature};
pub use clob::{ClobError, parse_book, parse_market_message};
pub use gamma::{GammaError, parse_market, parse_markets};

/// A captured Polymarket payload from `testkit/fixtures`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
