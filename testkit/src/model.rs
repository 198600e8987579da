//! Public value types of the mock: markets to list, credentials, and inspection records.

use std::collections::BTreeMap;
use std::time::Instant;

use rust_decimal::Decimal;

/// An order or book side. For book levels `Buy` is the bid side and `Sell` the ask side (as in
/// the websocket `price_change` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid side / a buy order.
    Buy,
    /// Ask side / a sell order.
    Sell,
}

impl Side {
    /// The wire spelling, `BUY` or `SELL`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        }
    }

    /// The other side.
    #[must_use]
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

/// The L2 API credentials the mock accepts (and returns from `/auth/api-key` and
/// `/auth/derive-api-key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockCredentials {
    /// API key, a UUID string.
    pub api_key: String,
    /// HMAC secret, base64url with padding.
    pub secret: String,
    /// Passphrase.
    pub passphrase: String,
}

/// A binary market the mock lists on Gamma and trades on the CLOB.
#[derive(Clone, Debug, PartialEq)]
pub struct MockMarket {
    /// Gamma market id (decimal string).
    pub id: String,
    /// Condition id, `0x` + 64 hex digits.
    pub condition_id: String,
    /// Market question.
    pub question: String,
    /// Slug (also used as the event slug).
    pub slug: String,
    /// Gamma `category`.
    pub category: String,
    /// Gamma tag id matched by the `tag_id` filter.
    pub tag_id: String,
    /// End date, RFC 3339 (`2026-12-31T00:00:00Z`).
    pub end_date: String,
    /// The two outcome names, index 0 and 1.
    pub outcomes: [String; 2],
    /// The two outcome token ids (decimal U256 strings), index 0 and 1.
    pub token_ids: [String; 2],
    /// Minimum tick size (0.1, 0.01, 0.005, 0.0025, 0.001 or 0.0001).
    pub tick_size: Decimal,
    /// Minimum limit order size in shares.
    pub min_size: Decimal,
    /// Neg-risk market.
    pub neg_risk: bool,
    /// Gamma `liquidityNum`.
    pub liquidity: Decimal,
    /// Gamma `volume24hr` (also `volumeNum`).
    pub volume_24h: Decimal,
    /// Taker fee rate (`fd.r`); fee = shares × rate × (p(1−p))^exponent.
    pub fee_rate: Decimal,
    /// Taker fee exponent (`fd.e`).
    pub fee_exponent: Decimal,
    /// Whether the CLOB accepts orders.
    pub accepting_orders: bool,
    /// Gamma `active`.
    pub active: bool,
    /// Gamma `closed` (set by [`crate::MockPolymarket::resolve`]).
    pub closed: bool,
    /// Gamma `version`: `Some("v2")` marks a Protocol-V2 market (`positionIds`, ExchangeV3);
    /// absent for today's markets.
    pub version: Option<String>,
}

impl MockMarket {
    /// A Yes/No market with these ids and the usual defaults: tick 0.01, min size 5, no fee,
    /// accepting orders, ending 2026-12-31.
    #[must_use]
    pub fn binary(id: &str, condition_id: &str, yes_token: &str, no_token: &str) -> Self {
        Self {
            id: id.to_owned(),
            condition_id: condition_id.to_owned(),
            question: format!("Will market {id} resolve Yes?"),
            slug: format!("market-{id}"),
            category: "Crypto".to_owned(),
            tag_id: "21".to_owned(),
            end_date: "2026-12-31T00:00:00Z".to_owned(),
            outcomes: ["Yes".to_owned(), "No".to_owned()],
            token_ids: [yes_token.to_owned(), no_token.to_owned()],
            tick_size: Decimal::new(1, 2),
            min_size: Decimal::from(5),
            neg_risk: false,
            liquidity: Decimal::from(10_000),
            volume_24h: Decimal::from(5_000),
            fee_rate: Decimal::ZERO,
            fee_exponent: Decimal::ONE,
            accepting_orders: true,
            active: true,
            closed: false,
            version: None,
        }
    }
}

/// One HTTP request as the mock saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (without `?`), empty when none.
    pub query: String,
    /// The `POLY_*` headers, by upper-case name.
    pub headers: BTreeMap<String, String>,
    /// Request body as text (lossy UTF-8).
    pub body: String,
    /// When the request arrived.
    pub at: Instant,
    /// Response status; 0 while the response is still being produced (e.g. a delayed request).
    pub status: u16,
}

/// The L1 headers seen on one `/auth/*` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1Headers {
    /// Request path.
    pub path: String,
    /// `POLY_ADDRESS`.
    pub address: String,
    /// `POLY_SIGNATURE`.
    pub signature: String,
    /// `POLY_TIMESTAMP`.
    pub timestamp: String,
    /// `POLY_NONCE`.
    pub nonce: String,
}

/// Order status as the CLOB reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Resting on the book.
    Live,
    /// Fully filled.
    Matched,
    /// Cancelled (by the account, or the unfilled rest of an order that does not rest).
    Canceled,
}

impl OrderStatus {
    /// The wire spelling (`LIVE`, `MATCHED`, `CANCELED`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "LIVE",
            Self::Matched => "MATCHED",
            Self::Canceled => "CANCELED",
        }
    }
}

/// Trade settlement status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TradeStatus {
    /// Matched off-chain, not yet mined.
    Matched,
    /// Mined.
    Mined,
    /// Confirmed (final).
    Confirmed,
    /// Failed at settlement (the trade's balance and position effects are reverted).
    Failed,
}

impl TradeStatus {
    /// The wire spelling (`MATCHED`, `MINED`, `CONFIRMED`, `FAILED`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "MATCHED",
            Self::Mined => "MINED",
            Self::Confirmed => "CONFIRMED",
            Self::Failed => "FAILED",
        }
    }
}

/// An order of the account, for inspection.
#[derive(Clone, Debug, PartialEq)]
pub struct MockOrder {
    /// Order id (`0x` + 64 hex).
    pub id: String,
    /// Condition id.
    pub market: String,
    /// Token id.
    pub asset_id: String,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Decimal,
    /// Size in shares.
    pub original_size: Decimal,
    /// Shares filled so far.
    pub size_matched: Decimal,
    /// Status.
    pub status: OrderStatus,
    /// `GTC`, `GTD`, `FOK` or `FAK`.
    pub order_type: String,
    /// Post-only flag.
    pub post_only: bool,
}

/// A trade of the account, for inspection.
#[derive(Clone, Debug, PartialEq)]
pub struct MockTrade {
    /// Trade id.
    pub id: String,
    /// The account's order in this trade.
    pub order_id: String,
    /// Condition id.
    pub market: String,
    /// Token id.
    pub asset_id: String,
    /// The account's side.
    pub side: Side,
    /// Shares.
    pub size: Decimal,
    /// Execution price.
    pub price: Decimal,
    /// Taker fee paid by the account in pUSD (0 as maker).
    pub fee: Decimal,
    /// Settlement status.
    pub status: TradeStatus,
    /// Whether the account was the taker.
    pub taker: bool,
    /// Settlement transaction hash.
    pub transaction_hash: String,
}
