//! One token's order book in exact decimals, and market orders filled by walking it — the
//! arithmetic the simulator, paper trading and the pre-trade liquidity check share.

mod order;

#[cfg(test)]
use order::below;
use order::{better, in_order, positive, sorted_into};
use rust_decimal::{Decimal, RoundingStrategy};

/// Buying or selling the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

/// Bids or asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookSide {
    Bids,
    Asks,
}

/// A price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: Decimal,
    pub size: Decimal,
}

/// How much a market order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// pUSD to spend (buys only).
    Usd(Decimal),
    /// Shares to buy or sell.
    Shares(Decimal),
}

/// Fill-or-kill fills completely or not at all; fill-and-kill fills what the book holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillPolicy {
    FillOrKill,
    FillAndKill,
}

/// A market's taker fee: `shares × rate × (p·(1−p))^exponent` per level, rounded to 5 decimals.
/// Makers pay nothing. The exponent may be fractional (Gamma's `feeSchedule.exponent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TakerFee {
    pub rate: Decimal,
    pub exponent: Decimal,
}

impl TakerFee {
    /// No fee.
    pub const ZERO: Self = Self { rate: Decimal::ZERO, exponent: Decimal::ONE };

    /// The fee for taking `shares` at `price`, in pUSD.
    ///
    /// A whole exponent multiplies exactly; a fractional one goes through `rust_decimal`'s
    /// `powd` (28 significant digits, far below the fifth decimal the fee is rounded to).
    /// Inputs out of range (a price outside 0..1) give no fee rather than a panic.
    #[must_use]
    pub fn on(&self, shares: Decimal, price: Decimal) -> Decimal {
        if self.rate.is_zero() || price <= Decimal::ZERO || price >= Decimal::ONE {
            return Decimal::ZERO;
        }
        let base = price * (Decimal::ONE - price);
        let factor = if self.exponent.fract().is_zero()
            && self.exponent >= Decimal::ZERO
            && self.exponent <= Decimal::from(16)
        {
            let n = self.exponent.trunc().mantissa();
            (0..n).fold(Decimal::ONE, |acc, _| acc * base)
        } else {
            use rust_decimal::MathematicalOps as _;
            base.checked_powd(self.exponent).unwrap_or(Decimal::ZERO)
        };
        shares
            .checked_mul(self.rate)
            .and_then(|v| v.checked_mul(factor))
            .map_or(Decimal::ZERO, |v| v.round_dp_with_strategy(5, RoundingStrategy::MidpointAwayFromZero))
    }
}

/// The result of walking the book: what was taken, level by level, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fill {
    /// Shares bought or sold.
    pub shares: Decimal,
    /// pUSD paid (buy) or received (sell), before fees.
    pub notional: Decimal,
    /// Taker fee in pUSD.
    pub fee: Decimal,
    /// The worst price reached.
    pub worst_price: Decimal,
    /// The levels taken, best first, with the size taken at each.
    pub levels: Vec<Level>,
}

impl Fill {
    /// Average price per share, before fees; zero for an empty fill.
    #[must_use]
    pub fn average_price(&self) -> Decimal {
        if self.shares.is_zero() { Decimal::ZERO } else { self.notional / self.shares }
    }
}

/// Why a market order could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error(
        "order couldn't be fully filled: the book holds {available} of the {wanted} asked for (fill-or-kill)"
    )]
    Killed { wanted: Decimal, available: Decimal },
    #[error("no liquidity on the {0:?} side to match")]
    NoLiquidity(BookSide),
    #[error("amount must be positive, got {0}")]
    NotPositive(Decimal),
    #[error("size {size} is below the market's minimum of {min} shares")]
    BelowMinimum { size: Decimal, min: Decimal },
    #[error("a sell is for a number of shares, not a pUSD amount")]
    SellByUsd,
    #[error("limit price {0} must be strictly between 0 and 1")]
    BadPrice(Decimal),
}

/// Shares trade in hundredths.
const SHARE_DP: u32 = 2;

/// One token's book: price → resting size, exact.
///
/// Each side is a vector of levels, best first (bids highest first, asks lowest first), with
/// unique prices and no empty level: a whole-book snapshot replaces it without allocating once
/// it has grown, and the best price is the first element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderBook {
    bids: Vec<Level>,
    asks: Vec<Level>,
    /// Smallest order size in shares.
    pub min_size: Decimal,
}

impl OrderBook {
    /// An empty book.
    #[must_use]
    pub fn new(min_size: Decimal) -> Self {
        Self { bids: Vec::new(), asks: Vec::new(), min_size }
    }

    fn side(&self, side: BookSide) -> &[Level] {
        match side {
            BookSide::Bids => &self.bids,
            BookSide::Asks => &self.asks,
        }
    }

    fn side_mut(&mut self, side: BookSide) -> &mut Vec<Level> {
        match side {
            BookSide::Bids => &mut self.bids,
            BookSide::Asks => &mut self.asks,
        }
    }

    /// Replaces the whole book (a snapshot). Levels of size 0 are dropped.
    pub fn replace(&mut self, bids: &[Level], asks: &[Level]) {
        sorted_into(&mut self.bids, bids, BookSide::Bids);
        sorted_into(&mut self.asks, asks, BookSide::Asks);
    }

    /// Replaces the whole book with levels the caller built best first, at distinct prices and
    /// of positive sizes (the simulator's own quotes): copied as they are, without the sorting
    /// and checks a snapshot from elsewhere gets. Debug builds (the tests) check the order.
    pub(crate) fn replace_ordered(&mut self, bids: &[Level], asks: &[Level]) {
        debug_assert!(in_order(bids, BookSide::Bids) && in_order(asks, BookSide::Asks), "{bids:?} {asks:?}");
        self.bids.clear();
        self.bids.extend_from_slice(bids);
        self.asks.clear();
        self.asks.extend_from_slice(asks);
    }

    /// Sets one level's size; a size of 0 removes the level (a `price_change` event).
    pub fn set(&mut self, side: BookSide, price: Decimal, size: Decimal) {
        let levels = self.side_mut(side);
        let at = levels.partition_point(|l| better(side, l.price, price));
        let exists = levels.get(at).is_some_and(|l| !better(side, price, l.price));
        match (positive(size), exists) {
            (true, true) => levels[at].size = size,
            (true, false) => levels.insert(at, Level { price, size }),
            (false, true) => {
                levels.remove(at);
            }
            (false, false) => {}
        }
    }

    /// The highest bid: the price the token can be sold at now.
    #[must_use]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.first().copied()
    }

    /// The lowest ask: the price the token can be bought at now.
    #[must_use]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.first().copied()
    }

    /// Levels of one side, best first.
    pub fn levels(&self, side: BookSide) -> std::iter::Copied<std::slice::Iter<'_, Level>> {
        self.side(side).iter().copied()
    }

    /// pUSD resting within `slippage` (a fraction) of the best price of `side`: what a market
    /// order could take without moving the price more than that.
    #[must_use]
    pub fn depth_within(&self, side: BookSide, slippage: Decimal) -> Decimal {
        let levels = self.side(side);
        if let Some(depth) = depth_in_units(levels, side, slippage) {
            return depth;
        }
        let Some(best) = levels.first() else { return Decimal::ZERO };
        let limit = match side {
            BookSide::Asks => best.price * (Decimal::ONE + slippage),
            BookSide::Bids => best.price * (Decimal::ONE - slippage),
        };
        depth_in_decimals(levels, side, limit)
    }

    /// Walks the book for a market order without changing it.
    ///
    /// A buy takes asks best first, a sell takes bids best first; shares are taken in hundredths
    /// (a pUSD amount that does not buy a whole hundredth at the next level stops the walk).
    ///
    /// # Errors
    /// A non-positive amount, a sell by pUSD, a size below the minimum, an empty side, or, for
    /// fill-or-kill, a book too thin to fill it all.
    pub fn walk(
        &self,
        side: Side,
        amount: Amount,
        policy: FillPolicy,
        fee: TakerFee,
    ) -> Result<Fill, FillError> {
        let (value, by_usd) = match amount {
            Amount::Usd(v) => (v, true),
            Amount::Shares(v) => (v, false),
        };
        if value <= Decimal::ZERO {
            return Err(FillError::NotPositive(value));
        }
        if by_usd && side == Side::Sell {
            return Err(FillError::SellByUsd);
        }
        if !by_usd && value < self.min_size {
            return Err(FillError::BelowMinimum { size: value, min: self.min_size });
        }
        let book_side = match side {
            Side::Buy => BookSide::Asks,
            Side::Sell => BookSide::Bids,
        };
        let mut fill = Fill::default();
        let mut remaining = value;
        for level in self.levels(book_side) {
            let shares = if by_usd {
                (remaining / level.price).trunc_with_scale(SHARE_DP).min(level.size)
            } else {
                remaining.min(level.size)
            };
            if shares.is_zero() {
                break;
            }
            let cost = shares * level.price;
            fill.shares += shares;
            fill.notional += cost;
            fill.fee += fee.on(shares, level.price);
            fill.worst_price = level.price;
            fill.levels.push(Level { price: level.price, size: shares });
            remaining -= if by_usd { cost } else { shares };
            if remaining.is_zero() {
                break;
            }
        }
        if fill.shares.is_zero() {
            return Err(FillError::NoLiquidity(book_side));
        }
        // A pUSD remainder too small for a hundredth of a share at the last price counts as filled.
        let dust = by_usd && remaining < fill.worst_price * Decimal::new(1, SHARE_DP);
        if policy == FillPolicy::FillOrKill && !remaining.is_zero() && !dust {
            let available = if by_usd { fill.notional } else { fill.shares };
            return Err(FillError::Killed { wanted: value, available });
        }
        Ok(fill)
    }

    /// Matches a limit order for `shares` at `limit`: takes the opposite side's levels at or
    /// better than the limit, best first, up to `shares`. Returns what matched (possibly nothing)
    /// and the shares left to rest on the book.
    ///
    /// # Errors
    /// A non-positive size, a size below the minimum, or a limit outside (0, 1).
    pub fn match_limit(
        &self,
        side: Side,
        shares: Decimal,
        limit: Decimal,
        fee: TakerFee,
    ) -> Result<(Fill, Decimal), FillError> {
        if shares <= Decimal::ZERO {
            return Err(FillError::NotPositive(shares));
        }
        if shares < self.min_size {
            return Err(FillError::BelowMinimum { size: shares, min: self.min_size });
        }
        if limit <= Decimal::ZERO || limit >= Decimal::ONE {
            return Err(FillError::BadPrice(limit));
        }
        let (book_side, acceptable): (BookSide, fn(Decimal, Decimal) -> bool) = match side {
            Side::Buy => (BookSide::Asks, |price, limit| price <= limit),
            Side::Sell => (BookSide::Bids, |price, limit| price >= limit),
        };
        let mut fill = Fill::default();
        let mut remaining = shares;
        for level in self.levels(book_side).take_while(|l| acceptable(l.price, limit)) {
            let take = remaining.min(level.size);
            fill.shares += take;
            fill.notional += take * level.price;
            fill.fee += fee.on(take, level.price);
            fill.worst_price = level.price;
            fill.levels.push(Level { price: level.price, size: take });
            remaining -= take;
            if remaining.is_zero() {
                break;
            }
        }
        Ok((fill, remaining))
    }

    /// Takes a fill out of the book (what a matching engine does after [`OrderBook::walk`]).
    pub fn consume(&mut self, side: Side, fill: &Fill) {
        let book_side = match side {
            Side::Buy => BookSide::Asks,
            Side::Sell => BookSide::Bids,
        };
        let levels = self.side_mut(book_side);
        for taken in &fill.levels {
            let at = levels.partition_point(|l| better(book_side, l.price, taken.price));
            if let Some(level) = levels.get_mut(at).filter(|l| l.price == taken.price) {
                level.size -= taken.size;
                if level.size <= Decimal::ZERO {
                    levels.remove(at);
                }
            }
        }
    }
}

/// [`OrderBook::depth_within`]: pUSD at the levels (best first) priced within `limit`.
fn depth_in_decimals(levels: &[Level], side: BookSide, limit: Decimal) -> Decimal {
    let within = |l: &&Level| match side {
        BookSide::Asks => l.price <= limit,
        BookSide::Bids => l.price >= limit,
    };
    levels.iter().take_while(within).map(|l| l.price * l.size).sum()
}

/// [`depth_in_decimals`] in integers, for levels whose prices share one scale and sizes another
/// (a book's, nearly always; every scan asks it of every candidate's two books). The limit,
/// `best × (1 ± slippage)`, is the product of their digits at the sum of their scales, as
/// `Decimal` multiplies them, and a level is within it when its price's digits scaled alike are;
/// each level's `price × size` likewise, so the sum is the same decimal, digit for digit. `None`
/// where that does not hold (another scale, digits that do not fit), for `Decimal`'s way.
fn depth_in_units(levels: &[Level], side: BookSide, slippage: Decimal) -> Option<Decimal> {
    let best = levels.first()?;
    let (price_scale, size_scale) = (best.price.scale(), best.size.scale());
    let one = 10_i128.checked_pow(slippage.scale())?;
    let factor = match side {
        BookSide::Asks => one.checked_add(slippage.mantissa())?,
        BookSide::Bids => one.checked_sub(slippage.mantissa())?,
    };
    // The limit's digits at scale `price_scale + slippage scale`: `Decimal`'s own when they fit.
    let limit = best.price.mantissa().checked_mul(factor)?;
    if price_scale + slippage.scale() > 28 || price_scale + size_scale > 28 || limit.unsigned_abs() >= 1 << 96
    {
        return None;
    }
    let mut sum: i128 = 0;
    let mut taken = false;
    for l in levels {
        if l.price.scale() != price_scale || l.size.scale() != size_scale {
            return None;
        }
        let price = l.price.mantissa();
        let scaled = price.checked_mul(one)?;
        let within = match side {
            BookSide::Asks => scaled <= limit,
            BookSide::Bids => scaled >= limit,
        };
        if !within {
            break;
        }
        sum = sum.checked_add(price.checked_mul(l.size.mantissa())?)?;
        taken = true;
    }
    if !taken {
        // Nothing within reach: `Decimal`'s empty sum.
        return Some(Decimal::ZERO);
    }
    // A sum past 96 bits does not convert: `Decimal` would have rounded it; its way then.
    Decimal::try_from_i128_with_scale(sum, price_scale + size_scale).ok()
}

#[cfg(test)]
mod tests;
