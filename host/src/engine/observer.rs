//! What the engine sees and decides, told to an observer (the lab's recorder) as it happens.
//!
//! The engine owns these types so that whoever listens (a recorder, a test) depends on the
//! engine, never the other way round. Observers must return at once: they are called on the
//! engine's paths, the market feed among them.

use crate::exchange::sim::{NewsItem, WhaleTrade};
use crate::exchange::{Market, MarketEvent, OrderBook};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Something the engine saw or decided, at `at_ms` on its clock.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// A market event, as the monitor takes it.
    Market(&'a MarketEvent),
    /// The venue's listing, as a scan (or an entry) took it.
    Listing(&'a [Arc<Market>]),
    /// A book snapshot the venue answered.
    Book(&'a str, &'a OrderBook),
    Whale(&'a WhaleTrade),
    News(&'a NewsItem),
    Decision(&'a Decision),
}

/// Listens to the engine (see the module doc).
pub trait Observer: Send + Sync {
    /// Called as it happens; must not block.
    fn seen(&self, at_ms: i64, what: Seen<'_>);
}

/// A scored candidate of a scan, as compact as the comparison of two runs needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub market_id: String,
    pub score: f32,
    /// Factor values in the order the scorer declares its factors.
    pub factors: Vec<f32>,
}

/// What the engine decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// A scan starts (its listing and books follow, then [`Decision::Scanned`]).
    ScanStarted {
        scan_id: u64,
    },
    /// A scan's result: the scorer (`name@version`), its factor names, and every candidate
    /// kept, best first. `error` when the scan failed.
    Scanned {
        scan_id: u64,
        scorer: Option<String>,
        factors: Vec<String>,
        candidates: Vec<Scored>,
        error: Option<String>,
    },
    /// A safety sweep starts, and ends.
    SweepStarted,
    SweepEnded,
    /// A position was opened on a market (its orders follow).
    Entry {
        position: u64,
        market_id: String,
        capital: Decimal,
        score: Option<f32>,
    },
    /// The rules decided an exit.
    Exit {
        position: u64,
        action: String,
        reason: String,
        by: String,
    },
    /// An order sent, and what came of it.
    Order {
        position: u64,
        client_id: String,
        token: String,
        side: String,
        amount: Decimal,
        by_usd: bool,
    },
    Fill {
        client_id: String,
        shares: Decimal,
        notional: Decimal,
        fee: Decimal,
        outcome: String,
    },
}
