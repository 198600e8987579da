//! The engine's public types: its clock, events, errors, options and the views it hands out.

use super::{PositionPnl, RulesSource, Settings, SettingsError};
use crate::exchange::ExchangeError;
use crate::plugins::PluginError;
use crate::store::{Opportunity, Position, ScanRecord, StoreError, TradeRecord};
use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::Arc;

/// The engine's clock: wall time for real venues, the simulator's clock for the simulator.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// Wall-clock Unix milliseconds.
    #[must_use]
    pub fn system() -> Self {
        Self(Arc::new(crate::clock::unix_now_ms))
    }

    /// Any source of Unix milliseconds.
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Now, Unix milliseconds.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Something the dashboard and API should hear about. Sent on a broadcast channel: a subscriber
/// that falls behind misses events (and is told so), it never slows the engine.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A position changed (entry, fill, liquidation, close).
    PositionUpdate {
        position: Box<Position>,
        pnl: PositionPnl,
        /// Best bid and ask per side, YES then NO, that `pnl` was marked at.
        bids: [Option<Decimal>; 2],
        asks: [Option<Decimal>; 2],
    },
    /// A scan found an opportunity at or above the threshold that the previous scan did not.
    NewOpportunity {
        opportunity: Box<Opportunity>,
    },
    /// A scan finished (or failed: see its `error`).
    ScanCompleted {
        scan: ScanRecord,
    },
    TradeExecuted {
        trade: Box<TradeRecord>,
    },
    /// Who decides exits changed: the plugin, or the built-in rule and why.
    RulesSource {
        source: RulesSource,
    },
    /// Something went wrong that the operator should see.
    Error {
        source: &'static str,
        message: String,
        at_ms: i64,
    },
}

/// Why the engine refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("exchange: {0}")]
    Exchange(#[from] ExchangeError),
    #[error("plugin: {0}")]
    Plugin(#[from] PluginError),
    #[error("plugin parameters: {0}")]
    Params(#[from] crate::plugins::ParamError),
    #[error("unknown market {0:?} (not in the venue's active binary markets)")]
    UnknownMarket(String),
    #[error("market {0:?} is not accepting orders")]
    MarketClosed(String),
    #[error("a position on market {0:?} is already open")]
    AlreadyHeld(String),
    #[error("no such position: {0}")]
    UnknownPosition(u64),
    #[error("position {0} is not open")]
    NotOpen(u64),
    #[error("position {0} has an order in flight; try again in a moment")]
    Busy(u64),
    #[error("all {max} position slots are taken")]
    NoSlot { max: u32 },
    #[error("capital must be positive, got {0}")]
    BadAmount(Decimal),
    #[error("{wanted} pUSD needed (both sides and their taker fees), {available} available")]
    InsufficientCapital { wanted: Decimal, available: Decimal },
    #[error(
        "this data directory holds a {stored} account and the bot runs on {current}: use a separate \
         --data-dir for each venue"
    )]
    VenueMismatch { stored: String, current: String },
    #[error("not enough liquidity on the {leg} side: {reason}")]
    Liquidity { leg: &'static str, reason: String },
}

/// Result of an engine operation.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// An open position as the dashboard shows it: the record, its marks and its P&L.
#[derive(Debug, Clone, Serialize)]
pub struct PositionView {
    pub position: Position,
    /// Best bid and ask per side, YES then NO.
    pub bids: [Option<Decimal>; 2],
    pub asks: [Option<Decimal>; 2],
    pub pnl: PositionPnl,
}

/// The engine's state of health.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub rules: RulesSource,
    pub last_scan: Option<ScanRecord>,
    /// Orders journalled and not yet resolved (normally zero between trades).
    pub pending_intents: usize,
    pub last_error: Option<(i64, String)>,
}

/// What the engine is given at start.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Used when the store holds no settings yet (first start); after that the stored ones win.
    pub settings: Settings,
    pub clock: Clock,
    /// Whether this engine counts in the process's metrics (`/metrics`: scans, orders, exits,
    /// errors, tick-to-order). The bot's engine does; a backtest's does not: its simulated
    /// scans and orders are not the bot's, and a backtest run from the dashboard shares the
    /// bot's process.
    pub metrics: bool,
}
