//! Polymarket: its public JSON (Gamma markets, CLOB books, market-channel messages, trading
//! responses), HTTP with rate limits and retries, the market websocket, orders built and signed
//! through the official SDK, and the venue that puts them together.

mod auth;
mod clob;
mod feed;
mod gamma;
mod health;
mod heartbeat;
mod http;
mod interest;
mod listing;
mod live;
mod placed;
mod signer;
mod trading;
mod user;
mod venue_clock;

pub use auth::{AuthError, l2_signature};
pub use clob::{
    BookMeta, ClobError, TopOfBook, parse_book, parse_book_meta, parse_market_frame, parse_market_message,
};
pub use feed::FeedTimings;
pub use gamma::{GammaError, parse_market, parse_markets};
pub use http::{RateLimiter, RateLimits, RetryPolicy};
pub use live::{Health, LiveExchange, PolymarketConfig};
pub use signer::{OrderSigner, SignerConfig, WalletType};
pub use trading::{OrderChange, UserEvent};

/// A captured Polymarket payload from `testkit/fixtures`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
