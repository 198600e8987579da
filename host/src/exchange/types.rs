//! What every venue speaks: markets, book events, orders, trades and balances, in exact decimals.

use super::book::{Amount, BookSide, FillPolicy, Level, OrderBook, Side, TakerFee};
use rust_decimal::Decimal;

/// A CLOB token id (a decimal U256 on Polymarket), kept as the venue writes it.
pub type TokenId = String;

/// One side of a binary market: its display name ("Yes", "Up", a team…) and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub token_id: TokenId,
}

/// An active binary market. Outcome 0 is the "YES" side of the strategy, outcome 1 the "NO".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Market {
    /// The venue's condition id.
    pub id: String,
    pub question: String,
    pub slug: String,
    pub category: String,
    /// Unix milliseconds of the end date, when known.
    pub end_ms: Option<i64>,
    pub outcomes: [Outcome; 2],
    pub tick_size: Decimal,
    /// Smallest order, in shares.
    pub min_size: Decimal,
    pub neg_risk: bool,
    /// The venue's liquidity figure and 24 h volume, pUSD.
    pub liquidity: Decimal,
    pub volume_24h: Decimal,
    pub accepting_orders: bool,
    pub fee: TakerFee,
}

/// A change to a market, from the venue's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketEvent {
    /// The whole book of a token; replaces what was known.
    Book {
        token: TokenId,
        bids: Vec<Level>,
        asks: Vec<Level>,
        at_ms: i64,
    },
    /// One level changed; size 0 removes it.
    PriceChange {
        token: TokenId,
        side: BookSide,
        price: Decimal,
        size: Decimal,
        at_ms: i64,
    },
    /// A trade printed.
    Trade {
        token: TokenId,
        side: Side,
        price: Decimal,
        size: Decimal,
        at_ms: i64,
    },
    TickSize {
        token: TokenId,
        tick_size: Decimal,
        at_ms: i64,
    },
    /// The market resolved: `winning_token` pays 1 pUSD a share, the other 0.
    Resolved {
        market: String,
        winning_token: TokenId,
        at_ms: i64,
    },
}

impl MarketEvent {
    /// The buffers of the last of `spent` (events their reader is done with), emptied, with
    /// `token` written into the first: a book event's token id and levels, another's token id
    /// and no levels, or new ones when there is none. An event built into them allocates
    /// nothing; this is how the simulator and a recording's decoder reuse what the engine read.
    /// Inlined: it runs for every replayed event, and a call across codegen units cost the
    /// replay a few per cent.
    #[inline]
    pub(crate) fn reuse(spent: &mut Vec<MarketEvent>, token: &str) -> (TokenId, Vec<Level>, Vec<Level>) {
        let (mut id, mut bids, mut asks) = match spent.pop() {
            Some(MarketEvent::Book { token, bids, asks, .. }) => (token, bids, asks),
            Some(
                MarketEvent::PriceChange { token, .. }
                | MarketEvent::Trade { token, .. }
                | MarketEvent::TickSize { token, .. }
                | MarketEvent::Resolved { winning_token: token, .. },
            ) => (token, Vec::new(), Vec::new()),
            None => (String::new(), Vec::new(), Vec::new()),
        };
        id.clear();
        id.push_str(token);
        bids.clear();
        asks.clear();
        (id, bids, asks)
    }

    /// `token`'s whole `book` at `at_ms` as a book event, in the buffers of the last of `spent`
    /// ([`Self::reuse`]).
    #[inline]
    pub(crate) fn book_of(spent: &mut Vec<MarketEvent>, token: &str, book: &OrderBook, at_ms: i64) -> Self {
        let (token, mut bids, mut asks) = Self::reuse(spent, token);
        bids.extend(book.levels(BookSide::Bids));
        asks.extend(book.levels(BookSide::Asks));
        MarketEvent::Book { token, bids, asks, at_ms }
    }
}

/// What to trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// Takes liquidity now: fill-or-kill or fill-and-kill, by pUSD (buys) or shares.
    Market { amount: Amount, policy: FillPolicy },
    /// Rests on the book until filled or cancelled (GTC).
    Limit { price: Decimal, shares: Decimal, post_only: bool },
}

/// An order the bot wants placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// The bot's own id for the order, journalled before sending so a crash can be reconciled.
    pub client_id: String,
    pub token: TokenId,
    pub side: Side,
    pub kind: OrderKind,
}

#[cfg(test)]
impl OrderRequest {
    /// A fill-or-kill market buy of `usd` pUSD of `token` (tests).
    pub(crate) fn buy_usd(client_id: &str, token: &str, usd: Decimal) -> Self {
        Self {
            client_id: client_id.into(),
            token: token.into(),
            side: Side::Buy,
            kind: OrderKind::Market { amount: Amount::Usd(usd), policy: FillPolicy::FillOrKill },
        }
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Resting on the book.
    Live,
    /// Filled, entirely or (fill-and-kill) partly.
    Matched,
    /// Accepted, matching delayed by the venue.
    Delayed,
    /// Nothing matched and nothing rests.
    Unmatched,
    Cancelled,
}

/// The venue's answer to a placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAck {
    pub order_id: String,
    pub status: OrderStatus,
    /// Shares filled now, what they cost (or brought) before fees, and the fee.
    pub filled_shares: Decimal,
    pub notional: Decimal,
    pub fee: Decimal,
    pub trade_ids: Vec<String>,
}

/// Settlement of a trade. A matched trade can still fail; only `Confirmed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStatus {
    Matched,
    Mined,
    Confirmed,
    Retrying,
    Failed,
}

/// One of the bot's trades, as the venue reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeReport {
    pub trade_id: String,
    pub order_id: String,
    pub token: TokenId,
    pub side: Side,
    pub price: Decimal,
    pub shares: Decimal,
    pub fee: Decimal,
    pub status: TradeStatus,
    /// On-chain settlement transaction, once there is one.
    pub tx_hash: Option<String>,
    pub at_ms: i64,
}

/// An order still resting on the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrder {
    pub order_id: String,
    pub token: TokenId,
    pub side: Side,
    pub price: Decimal,
    pub original_shares: Decimal,
    pub matched_shares: Decimal,
}

/// Collateral available to trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// pUSD held.
    pub collateral: Decimal,
    /// pUSD the exchange may spend; `None` where the venue has no such notion (simulator).
    pub allowance: Option<Decimal>,
}
