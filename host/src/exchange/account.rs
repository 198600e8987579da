//! A simulated trading account — cash, positions, trades, resting limit orders with locked funds,
//! answers by client order id — filled against whatever book its venue hands it: the simulator's
//! own books, or the live books paper trading follows.

use super::book::{BookSide, Fill, FillError, Level, OrderBook, Side};
use super::error::{ExchangeError, Result};
use super::types::{
    Balance, Market, OpenOrder, OrderAck, OrderKind, OrderRequest, OrderStatus, TokenId, TradeReport,
    TradeStatus,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// The books resting orders are matched against, and what to do with the liquidity they take.
pub(crate) trait Liquidity {
    /// A token's current book.
    fn book(&self, token: &str) -> Option<&OrderBook>;
    /// Removes what a maker fill took, so the next resting order does not take it again.
    fn take(&mut self, token: &str, side: Side, fill: &Fill);
}

/// What a placement did: the venue's answer, and the liquidity it took now (empty for a resting
/// order that matched nothing, or for a repeated client id), for the venue to consume or publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    pub(crate) ack: OrderAck,
    pub(crate) fill: Fill,
}

/// A limit order resting on the book; what it may spend or sell is locked.
#[derive(Debug, Clone)]
struct Resting {
    token: TokenId,
    side: Side,
    price: Decimal,
    original: Decimal,
    remaining: Decimal,
}

/// A simulated account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// `sim`, `paper`: the prefix of order and trade ids.
    ids: &'static str,
    /// Whether trades carry a made-up settlement transaction hash.
    tx_hashes: bool,
    cash: Decimal,
    /// Shares held per token, not counting those locked by resting sells.
    positions: BTreeMap<TokenId, Decimal>,
    trades: Vec<TradeReport>,
    /// Answers by client order id, so a retried placement never trades twice.
    placed: BTreeMap<String, OrderAck>,
    /// Limit orders resting, by order id.
    open: BTreeMap<String, Resting>,
    next_id: u64,
    next_trade: u64,
}

impl Account {
    /// An account holding `cash` pUSD; its orders are `{ids}-order-N`, its trades `{ids}-trade-N`,
    /// each with a made-up transaction hash.
    pub(crate) fn new(ids: &'static str, cash: Decimal) -> Self {
        Self {
            ids,
            tx_hashes: true,
            cash,
            positions: BTreeMap::new(),
            trades: Vec::new(),
            placed: BTreeMap::new(),
            open: BTreeMap::new(),
            next_id: 0,
            next_trade: 0,
        }
    }

    /// Trades without a transaction hash (nothing settles on chain).
    pub(crate) fn without_tx_hashes(mut self) -> Self {
        self.tx_hashes = false;
        self
    }

    /// Takes over shares held from an earlier run of the bot (simulated venues keep no state of
    /// their own), and numbers orders and trades from `id_base` so ids never repeat across runs.
    pub(crate) fn restore(&mut self, holdings: &[(TokenId, Decimal)], id_base: u64) {
        for (token, shares) in holdings {
            *self.positions.entry(token.clone()).or_default() += *shares;
        }
        self.next_id = self.next_id.max(id_base);
        self.next_trade = self.next_trade.max(id_base);
    }

    /// pUSD held, not counting what resting buys have locked.
    pub(crate) fn cash(&self) -> Decimal {
        self.cash
    }

    /// Collateral; the account has no notion of allowance.
    pub(crate) fn balance(&self) -> Balance {
        Balance { collateral: self.cash, allowance: None }
    }

    /// Shares held of a token, not counting those locked by resting sells.
    pub(crate) fn position(&self, token: &str) -> Decimal {
        self.positions.get(token).copied().unwrap_or_default()
    }

    /// The first answer to a client order id, if it was placed.
    pub(crate) fn answer(&self, client_id: &str) -> Option<OrderAck> {
        self.placed.get(client_id).cloned()
    }

    /// Whether an order rests on `token`.
    pub(crate) fn has_open(&self, token: &str) -> bool {
        self.open.values().any(|r| r.token == token)
    }

    /// Tokens the account holds or has orders resting on.
    pub(crate) fn tokens(&self) -> BTreeSet<TokenId> {
        let held = self.positions.iter().filter(|(_, shares)| !shares.is_zero()).map(|(token, _)| token);
        held.chain(self.open.values().map(|r| &r.token)).cloned().collect()
    }

    /// Places an order against `book`, a book of one of `market`'s tokens: a market order walks
    /// it, a limit order takes what it crosses and rests the rest with its funds locked. A repeated
    /// client id gets the first answer and an empty fill. The book is not changed: the caller
    /// consumes the returned fill if its venue's liquidity is its own.
    ///
    /// # Errors
    /// `Rejected` for a price off the tick grid, a size below the minimum or not in hundredths, a
    /// post-only order that crosses, what [`OrderBook::walk`] refuses, and an order beyond the
    /// cash or shares held. Nothing changes on an error.
    pub(crate) fn place(
        &mut self,
        order: &OrderRequest,
        market: &Market,
        book: &OrderBook,
        now_ms: i64,
    ) -> Result<Placed> {
        if let Some(ack) = self.answer(&order.client_id) {
            return Ok(Placed { ack, fill: Fill::default() });
        }
        // What takes liquidity now, and (limit orders) what rests at which price.
        let (fill, rest, limit) = match order.kind {
            OrderKind::Market { amount, policy } => (
                book.walk(order.side, amount, policy, market.fee).map_err(rejected)?,
                Decimal::ZERO,
                Decimal::ZERO,
            ),
            OrderKind::Limit { price, shares, post_only } => {
                check_limit(market, price, shares)?;
                let crosses = match order.side {
                    Side::Buy => book.best_ask().is_some_and(|a| price >= a.price),
                    Side::Sell => book.best_bid().is_some_and(|b| price <= b.price),
                };
                if post_only && crosses {
                    return Err(ExchangeError::Rejected {
                        reason: "invalid post-only order: order crosses book".into(),
                    });
                }
                let (fill, rest) =
                    book.match_limit(order.side, shares, price, market.fee).map_err(rejected)?;
                (fill, rest, price)
            }
        };
        let short = match order.side {
            Side::Buy => fill.notional + fill.fee + rest * limit > self.cash,
            Side::Sell => fill.shares + rest > self.position(&order.token),
        };
        if short {
            return Err(ExchangeError::Rejected { reason: "not enough balance / allowance".into() });
        }
        self.next_id += 1;
        let order_id = format!("{}-order-{}", self.ids, self.next_id);
        let mut trade_ids = Vec::new();
        if !fill.shares.is_zero() {
            trade_ids.push(self.record_fill(&order_id, &order.token, order.side, &fill, now_ms));
        }
        if !rest.is_zero() {
            // Lock what the resting order may spend (pUSD) or sell (shares) until it fills or is
            // cancelled.
            match order.side {
                Side::Buy => self.cash -= rest * limit,
                Side::Sell => *self.positions.entry(order.token.clone()).or_default() -= rest,
            }
            let resting = Resting {
                token: order.token.clone(),
                side: order.side,
                price: limit,
                original: fill.shares + rest,
                remaining: rest,
            };
            self.open.insert(order_id.clone(), resting);
        }
        let ack = OrderAck {
            order_id,
            status: if rest.is_zero() { OrderStatus::Matched } else { OrderStatus::Live },
            filled_shares: fill.shares,
            notional: fill.notional,
            fee: fill.fee,
            trade_ids,
        };
        self.placed.insert(order.client_id.clone(), ack.clone());
        Ok(Placed { ack, fill })
    }

    /// Cancels a resting order and gives back what it had locked.
    ///
    /// # Errors
    /// `NotFound` when no such order rests.
    pub(crate) fn cancel(&mut self, order_id: &str) -> Result<()> {
        let resting = self
            .open
            .remove(order_id)
            .ok_or_else(|| ExchangeError::NotFound(format!("open order {order_id}")))?;
        self.release(&resting);
        Ok(())
    }

    /// Orders still resting.
    pub(crate) fn open_orders(&self) -> Vec<OpenOrder> {
        self.open
            .iter()
            .map(|(id, r)| OpenOrder {
                order_id: id.clone(),
                token: r.token.clone(),
                side: r.side,
                price: r.price,
                original_shares: r.original,
                matched_shares: r.original - r.remaining,
            })
            .collect()
    }

    /// Trades at or after `since_ms`.
    pub(crate) fn trades_since(&self, since_ms: i64) -> Vec<TradeReport> {
        self.trades.iter().filter(|t| t.at_ms >= since_ms).cloned().collect()
    }

    /// Fills resting orders the books have moved through, at their own (maker) price, fee-free,
    /// oldest order first; each takes the crossed liquidity out of `books` before the next looks.
    pub(crate) fn match_resting(&mut self, books: &mut impl Liquidity, now_ms: i64) {
        let ids: Vec<String> = self.open.keys().cloned().collect();
        for id in ids {
            let Some(resting) = self.open.get(&id).cloned() else { continue };
            let Some(book) = books.book(&resting.token) else { continue };
            let (opposite, crossed): (BookSide, fn(Decimal, Decimal) -> bool) = match resting.side {
                Side::Buy => (BookSide::Asks, |level, limit| level <= limit),
                Side::Sell => (BookSide::Bids, |level, limit| level >= limit),
            };
            // The crossed liquidity, level by level, up to what the order still wants.
            let mut left = resting.remaining;
            let mut levels = Vec::new();
            for l in book.levels(opposite).take_while(|l| crossed(l.price, resting.price)) {
                let size = left.min(l.size);
                levels.push(Level { price: l.price, size });
                left -= size;
                if left.is_zero() {
                    break;
                }
            }
            let take = resting.remaining - left;
            if take.is_zero() {
                continue;
            }
            books.take(&resting.token, resting.side, &Fill { shares: take, levels, ..Fill::default() });
            // The locked pUSD (buy) or shares (sell) pay for it at the order's own price.
            match resting.side {
                Side::Buy => *self.positions.entry(resting.token.clone()).or_default() += take,
                Side::Sell => self.cash += take * resting.price,
            }
            let fill = Fill { shares: take, ..Fill::default() };
            self.push_trade(&id, &resting.token, resting.side, resting.price, &fill, now_ms);
            if let Some(r) = self.open.get_mut(&id) {
                r.remaining -= take;
                if r.remaining.is_zero() {
                    self.open.remove(&id);
                }
            }
        }
    }

    /// Settles a resolved market: orders resting on it are cancelled (their locks released), then
    /// each winning share pays 1 pUSD and the market's positions are cleared.
    pub(crate) fn settle(&mut self, market: &Market, winning_token: &str) {
        let tokens: Vec<&TokenId> = market.outcomes.iter().map(|o| &o.token_id).collect();
        let stale: Vec<String> =
            self.open.iter().filter(|(_, r)| tokens.contains(&&r.token)).map(|(id, _)| id.clone()).collect();
        for id in stale {
            if let Some(r) = self.open.remove(&id) {
                self.release(&r);
            }
        }
        for token in tokens {
            if let Some(shares) = self.positions.remove(token)
                && token == winning_token
            {
                self.cash += shares;
            }
        }
    }

    /// Gives back what a resting order had locked.
    fn release(&mut self, resting: &Resting) {
        match resting.side {
            Side::Buy => self.cash += resting.remaining * resting.price,
            Side::Sell => *self.positions.entry(resting.token.clone()).or_default() += resting.remaining,
        }
    }

    /// Books a taker fill as a confirmed trade and moves cash and shares; returns the trade id.
    fn record_fill(&mut self, order_id: &str, token: &str, side: Side, fill: &Fill, now_ms: i64) -> String {
        let held = self.positions.entry(token.to_string()).or_default();
        match side {
            Side::Buy => {
                *held += fill.shares;
                self.cash -= fill.notional + fill.fee;
            }
            Side::Sell => {
                *held -= fill.shares;
                self.cash += fill.notional - fill.fee;
            }
        }
        self.push_trade(order_id, token, side, fill.average_price(), fill, now_ms)
    }

    /// Appends a confirmed trade of the fill's shares and fee at `price`; returns its id.
    fn push_trade(
        &mut self,
        order_id: &str,
        token: &str,
        side: Side,
        price: Decimal,
        fill: &Fill,
        now_ms: i64,
    ) -> String {
        self.next_trade += 1;
        let n = self.next_trade;
        let trade_id = format!("{}-trade-{n}", self.ids);
        self.trades.push(TradeReport {
            trade_id: trade_id.clone(),
            order_id: order_id.to_string(),
            token: token.to_string(),
            side,
            price,
            shares: fill.shares,
            fee: fill.fee,
            status: TradeStatus::Confirmed,
            tx_hash: self.tx_hashes.then(|| format!("0x{n:064x}")),
            at_ms: now_ms,
        });
        trade_id
    }
}

/// Prices on the market's tick grid inside (0, 1), sizes in hundredths and at least the minimum.
fn check_limit(market: &Market, price: Decimal, shares: Decimal) -> Result<()> {
    let tick = market.tick_size;
    if price < tick || price > Decimal::ONE - tick || !(price / tick).fract().is_zero() {
        return Err(ExchangeError::Rejected {
            reason: format!("order is invalid. Price ({price}) breaks minimum tick size rule: {tick}"),
        });
    }
    if shares < market.min_size || shares.round_dp(2) != shares {
        return Err(ExchangeError::Rejected {
            reason: format!("order is invalid. Size ({shares}) lower than the minimum: {}", market.min_size),
        });
    }
    Ok(())
}

fn rejected(e: FillError) -> ExchangeError {
    ExchangeError::Rejected { reason: e.to_string() }
}
