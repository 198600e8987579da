//! One token's order book in exact decimals, and market orders filled by walking it — the
//! arithmetic the simulator, paper trading and the pre-trade liquidity check share.

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

/// Whether `a` comes before `b` on `side` (better price first).
#[inline]
fn better(side: BookSide, a: Decimal, b: Decimal) -> bool {
    match side {
        BookSide::Bids => below(b, a),
        BookSide::Asks => below(a, b),
    }
}

/// `a < b`. A book's prices nearly always share one scale (the tick's), and then their
/// mantissas order them as their values do: one integer comparison in place of
/// `Decimal`'s general one, which books call on every level of every update.
#[inline]
fn below(a: Decimal, b: Decimal) -> bool {
    if a.scale() == b.scale() { a.mantissa() < b.mantissa() } else { a < b }
}

/// `d > 0`, without `Decimal`'s general comparison.
#[inline]
fn positive(d: Decimal) -> bool {
    !d.is_zero() && d.is_sign_positive()
}

/// Fills `out` with `levels` best first: sizes of 0 dropped, and of a price given twice the
/// last one kept (as a map built from them would).
fn sorted_into(out: &mut Vec<Level>, levels: &[Level], side: BookSide) {
    out.clear();
    out.extend(levels.iter().copied().filter(|l| positive(l.size)));
    // Feeds send a side in one order or the other: check before sorting.
    if out.windows(2).all(|w| better(side, w[0].price, w[1].price)) {
        return;
    }
    if out.windows(2).all(|w| better(side, w[1].price, w[0].price)) {
        out.reverse();
        return;
    }
    // Stable: of equal prices the one given last stays last, and wins below.
    out.sort_by(|a, b| match side {
        BookSide::Bids => b.price.cmp(&a.price),
        BookSide::Asks => a.price.cmp(&b.price),
    });
    let mut kept = 0;
    for i in 0..out.len() {
        if kept > 0 && out[kept - 1].price == out[i].price {
            out[kept - 1] = out[i];
        } else {
            out[kept] = out[i];
            kept += 1;
        }
    }
    out.truncate(kept);
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
        let ordered = |side, levels: &[Level]| {
            levels.windows(2).all(|w| better(side, w[0].price, w[1].price))
                && levels.iter().all(|l| positive(l.size))
        };
        debug_assert!(ordered(BookSide::Bids, bids) && ordered(BookSide::Asks, asks), "{bids:?} {asks:?}");
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
        match side {
            BookSide::Asks => {
                let Some(best) = self.best_ask() else { return Decimal::ZERO };
                let limit = best.price * (Decimal::ONE + slippage);
                self.asks.iter().take_while(|l| l.price <= limit).map(|l| l.price * l.size).sum()
            }
            BookSide::Bids => {
                let Some(best) = self.best_bid() else { return Decimal::ZERO };
                let limit = best.price * (Decimal::ONE - slippage);
                self.bids.iter().take_while(|l| l.price >= limit).map(|l| l.price * l.size).sum()
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// The book from the API notes' `GET /book` example: bids 0.49×20, 0.48×30; asks 0.52×25, 0.53×60.
    fn book() -> OrderBook {
        let mut b = OrderBook::new(dec!(5));
        b.replace(
            &[Level { price: dec!(0.48), size: dec!(30) }, Level { price: dec!(0.49), size: dec!(20) }],
            &[Level { price: dec!(0.53), size: dec!(60) }, Level { price: dec!(0.52), size: dec!(25) }],
        );
        b
    }

    fn prices(b: &OrderBook, side: BookSide) -> Vec<(Decimal, Decimal)> {
        b.levels(side).map(|l| (l.price, l.size)).collect()
    }

    /// The comparisons books use agree with `Decimal`'s own: one scale or mixed, signs, zeros.
    #[test]
    fn the_fast_price_comparisons_agree_with_decimal_ordering() {
        let values = [
            dec!(0),
            dec!(0.00),
            dec!(-0.00),
            dec!(0.5),
            dec!(0.50),
            dec!(0.500),
            dec!(0.49),
            dec!(0.51),
            dec!(0.001),
            dec!(-0.5),
            dec!(-0.51),
            dec!(1),
            dec!(0.0000000000000000000000000001),
            Decimal::MAX,
            Decimal::MIN,
        ];
        for a in values {
            assert_eq!(positive(a), a > Decimal::ZERO, "{a} > 0");
            for b in values {
                assert_eq!(below(a, b), a < b, "{a} < {b}");
                for side in [BookSide::Bids, BookSide::Asks] {
                    let want = if side == BookSide::Bids { a > b } else { a < b };
                    assert_eq!(better(side, a, b), want, "{side:?}: {a} before {b}");
                }
            }
        }
    }

    #[test]
    fn snapshots_in_any_order_give_sides_best_first_without_empty_or_repeated_levels() {
        let l = |price, size| Level { price, size };
        let mut b = OrderBook::new(dec!(5));
        // Unsorted, a level given twice (the last one counts) and an empty one.
        b.replace(
            &[l(dec!(0.47), dec!(5)), l(dec!(0.49), dec!(1)), l(dec!(0.48), dec!(0)), l(dec!(0.49), dec!(2))],
            &[l(dec!(0.53), dec!(7)), l(dec!(0.52), dec!(3)), l(dec!(0.55), dec!(9))],
        );
        assert_eq!(prices(&b, BookSide::Bids), [(dec!(0.49), dec!(2)), (dec!(0.47), dec!(5))]);
        assert_eq!(
            prices(&b, BookSide::Asks),
            [(dec!(0.52), dec!(3)), (dec!(0.53), dec!(7)), (dec!(0.55), dec!(9))]
        );
        // Best first and worst first are taken as they come; a price given twice in a row is
        // still given once.
        let mut c = OrderBook::new(dec!(5));
        c.replace(
            &[l(dec!(0.49), dec!(1)), l(dec!(0.49), dec!(2)), l(dec!(0.48), dec!(3))],
            &[l(dec!(0.54), dec!(4)), l(dec!(0.53), dec!(5)), l(dec!(0.53), dec!(6))],
        );
        assert_eq!(prices(&c, BookSide::Bids), [(dec!(0.49), dec!(2)), (dec!(0.48), dec!(3))]);
        assert_eq!(prices(&c, BookSide::Asks), [(dec!(0.53), dec!(6)), (dec!(0.54), dec!(4))]);
        c.replace(
            &[l(dec!(0.45), dec!(1)), l(dec!(0.46), dec!(2))],
            &[l(dec!(0.56), dec!(3)), l(dec!(0.55), dec!(4))],
        );
        assert_eq!(prices(&c, BookSide::Bids), [(dec!(0.46), dec!(2)), (dec!(0.45), dec!(1))]);
        assert_eq!(prices(&c, BookSide::Asks), [(dec!(0.55), dec!(4)), (dec!(0.56), dec!(3))]);
        // Changes keep the order: a new best, a level inside, a removal, a removal of nothing.
        b.set(BookSide::Bids, dec!(0.50), dec!(4));
        b.set(BookSide::Bids, dec!(0.48), dec!(6));
        b.set(BookSide::Asks, dec!(0.53), dec!(0));
        b.set(BookSide::Asks, dec!(0.54), dec!(0));
        b.set(BookSide::Asks, dec!(0.520), dec!(8));
        assert_eq!(
            prices(&b, BookSide::Bids),
            [(dec!(0.50), dec!(4)), (dec!(0.49), dec!(2)), (dec!(0.48), dec!(6)), (dec!(0.47), dec!(5))]
        );
        assert_eq!(prices(&b, BookSide::Asks), [(dec!(0.52), dec!(8)), (dec!(0.55), dec!(9))]);
        let mut same = OrderBook::new(dec!(5));
        same.replace(
            &[l(dec!(0.47), dec!(5)), l(dec!(0.48), dec!(6)), l(dec!(0.49), dec!(2)), l(dec!(0.50), dec!(4))],
            &[l(dec!(0.55), dec!(9)), l(dec!(0.52), dec!(8))],
        );
        assert_eq!(b, same, "a book is its levels, however it was built");
    }

    #[test]
    fn best_prices_and_depth_within_slippage() {
        let b = book();
        assert_eq!(b.best_bid(), Some(Level { price: dec!(0.49), size: dec!(20) }));
        assert_eq!(b.best_ask(), Some(Level { price: dec!(0.52), size: dec!(25) }));
        // Asks within 1 % of 0.52 (≤ 0.5252): only 0.52 × 25 = 13.
        assert_eq!(b.depth_within(BookSide::Asks, dec!(0.01)), dec!(13.00));
        // Within 2 % (≤ 0.5304): 13 + 0.53 × 60 = 44.8.
        assert_eq!(b.depth_within(BookSide::Asks, dec!(0.02)), dec!(44.80));
        // Bids within 2.1 % of 0.49 (≥ 0.47971): 9.8 + 14.4.
        assert_eq!(b.depth_within(BookSide::Bids, dec!(0.021)), dec!(24.20));
        assert_eq!(OrderBook::new(dec!(5)).depth_within(BookSide::Bids, dec!(0.5)), Decimal::ZERO);
    }

    #[test]
    fn price_changes_set_and_remove_levels() {
        let mut b = book();
        b.set(BookSide::Bids, dec!(0.50), dec!(10));
        assert_eq!(b.best_bid().unwrap().price, dec!(0.50));
        b.set(BookSide::Bids, dec!(0.50), Decimal::ZERO);
        assert_eq!(b.best_bid().unwrap().price, dec!(0.49));
        b.set(BookSide::Asks, dec!(0.52), Decimal::ZERO);
        assert_eq!(b.best_ask().unwrap(), Level { price: dec!(0.53), size: dec!(60) });
    }

    #[test]
    fn a_buy_for_ten_dollars_takes_the_best_ask_only() {
        let fill =
            book().walk(Side::Buy, Amount::Usd(dec!(10)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap();
        // 10 / 0.52 = 19.2307… → 19.23 shares costing 9.9996; the 0.0004 left buys no hundredth.
        assert_eq!(fill.shares, dec!(19.23));
        assert_eq!(fill.notional, dec!(9.9996));
        assert_eq!(fill.worst_price, dec!(0.52));
    }

    #[test]
    fn a_buy_walks_into_the_second_level_and_pays_the_fee_per_level() {
        let fee = TakerFee { rate: dec!(0.02), exponent: Decimal::ONE };
        let fill = book().walk(Side::Buy, Amount::Usd(dec!(30)), FillPolicy::FillOrKill, fee).unwrap();
        // Level 1: 25 × 0.52 = 13. Left 17 → 17 / 0.53 = 32.0754… → 32.07 shares = 16.9971.
        assert_eq!(
            fill.levels,
            vec![Level { price: dec!(0.52), size: dec!(25) }, Level { price: dec!(0.53), size: dec!(32.07) },]
        );
        assert_eq!(fill.shares, dec!(57.07));
        assert_eq!(fill.notional, dec!(29.9971));
        // Fees: 25 × 0.02 × 0.52 × 0.48 = 0.1248; 32.07 × 0.02 × 0.53 × 0.47 = 0.15977 (5 dp).
        assert_eq!(fill.fee, dec!(0.1248) + dec!(0.15977));
        assert_eq!(fill.worst_price, dec!(0.53));
    }

    #[test]
    fn exhausting_the_book_kills_a_fok_and_partially_fills_a_fak() {
        let b = book();
        // All asks: 13 + 31.8 = 44.8 pUSD.
        let err =
            b.walk(Side::Buy, Amount::Usd(dec!(50)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap_err();
        assert_eq!(err, FillError::Killed { wanted: dec!(50), available: dec!(44.80) });
        let fill = b.walk(Side::Buy, Amount::Usd(dec!(50)), FillPolicy::FillAndKill, TakerFee::ZERO).unwrap();
        assert_eq!((fill.shares, fill.notional), (dec!(85), dec!(44.80)));
        // Selling 60 shares into 50 of bids.
        let err =
            b.walk(Side::Sell, Amount::Shares(dec!(60)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap_err();
        assert_eq!(err, FillError::Killed { wanted: dec!(60), available: dec!(50) });
        let fill =
            b.walk(Side::Sell, Amount::Shares(dec!(60)), FillPolicy::FillAndKill, TakerFee::ZERO).unwrap();
        assert_eq!((fill.shares, fill.notional), (dec!(50), dec!(24.20)));
        assert_eq!(fill.average_price(), dec!(0.484));
    }

    #[test]
    fn a_sell_takes_bids_best_first_and_consuming_updates_the_book() {
        let mut b = book();
        let fill =
            b.walk(Side::Sell, Amount::Shares(dec!(25)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap();
        assert_eq!(
            fill.levels,
            vec![Level { price: dec!(0.49), size: dec!(20) }, Level { price: dec!(0.48), size: dec!(5) },]
        );
        assert_eq!(fill.notional, dec!(12.20));
        b.consume(Side::Sell, &fill);
        assert_eq!(b.best_bid(), Some(Level { price: dec!(0.48), size: dec!(25) }));
    }

    #[test]
    fn bad_orders_are_refused_with_a_reason() {
        let b = book();
        let walk = |side, amount| b.walk(side, amount, FillPolicy::FillAndKill, TakerFee::ZERO);
        assert_eq!(walk(Side::Buy, Amount::Usd(dec!(0))), Err(FillError::NotPositive(dec!(0))));
        assert_eq!(walk(Side::Sell, Amount::Usd(dec!(5))), Err(FillError::SellByUsd));
        assert_eq!(
            walk(Side::Sell, Amount::Shares(dec!(4.99))),
            Err(FillError::BelowMinimum { size: dec!(4.99), min: dec!(5) })
        );
        assert_eq!(
            OrderBook::new(dec!(5)).walk(
                Side::Buy,
                Amount::Usd(dec!(5)),
                FillPolicy::FillAndKill,
                TakerFee::ZERO
            ),
            Err(FillError::NoLiquidity(BookSide::Asks))
        );
    }

    #[test]
    fn a_limit_order_takes_only_levels_within_its_price_and_rests_the_rest() {
        let b = book();
        // Buy 40 at 0.52: the 25 at 0.52 match, 15 rest.
        let (fill, rest) = b.match_limit(Side::Buy, dec!(40), dec!(0.52), TakerFee::ZERO).unwrap();
        assert_eq!((fill.shares, fill.notional, rest), (dec!(25), dec!(13.00), dec!(15)));
        // Buy 40 at 0.53: 25 at 0.52 and 15 at 0.53, nothing rests.
        let (fill, rest) = b.match_limit(Side::Buy, dec!(40), dec!(0.53), TakerFee::ZERO).unwrap();
        assert_eq!((fill.shares, fill.notional, rest), (dec!(40), dec!(20.95), Decimal::ZERO));
        // Sell 10 at 0.50: no bid is that high; everything rests.
        let (fill, rest) = b.match_limit(Side::Sell, dec!(10), dec!(0.50), TakerFee::ZERO).unwrap();
        assert_eq!((fill.shares, rest), (Decimal::ZERO, dec!(10)));
        // Sell 30 at 0.48: 20 at 0.49 then 10 at 0.48.
        let (fill, rest) = b.match_limit(Side::Sell, dec!(30), dec!(0.48), TakerFee::ZERO).unwrap();
        assert_eq!((fill.notional, rest), (dec!(14.60), Decimal::ZERO));
        assert!(matches!(
            b.match_limit(Side::Buy, dec!(1), dec!(0.5), TakerFee::ZERO),
            Err(FillError::BelowMinimum { .. })
        ));
        assert_eq!(
            b.match_limit(Side::Buy, dec!(10), dec!(1), TakerFee::ZERO),
            Err(FillError::BadPrice(dec!(1)))
        );
    }

    #[test]
    fn the_fee_formula_rounds_to_five_decimals_and_is_zero_without_a_rate() {
        let fee = TakerFee { rate: dec!(0.0625), exponent: Decimal::TWO };
        // 100 × 0.0625 × (0.5 × 0.5)² = 0.390625 → 0.39063 (5 dp, half away from zero).
        assert_eq!(fee.on(dec!(100), dec!(0.5)), dec!(0.39063));
        assert_eq!(TakerFee::ZERO.on(dec!(100), dec!(0.5)), Decimal::ZERO);
    }

    #[test]
    fn a_fractional_exponent_prices_the_fee_as_a_decimal_power() {
        // 100 × 0.02 × (0.36 × 0.64)^0.5 = 2 × 0.48 = 0.96.
        let half = TakerFee { rate: dec!(0.02), exponent: dec!(0.5) };
        assert_eq!(half.on(dec!(100), dec!(0.36)), dec!(0.96));
        // 100 × 0.02 × 0.25^1.5 = 2 × 0.125 = 0.25.
        let one_and_a_half = TakerFee { rate: dec!(0.02), exponent: dec!(1.5) };
        assert_eq!(one_and_a_half.on(dec!(100), dec!(0.5)), dec!(0.25));
        // A price outside 0..1 or a product too large for a decimal charges nothing instead of
        // panicking (such input is refused where it enters).
        assert_eq!(half.on(dec!(100), dec!(1.5)), Decimal::ZERO);
        assert_eq!(
            TakerFee { rate: Decimal::MAX, exponent: Decimal::ONE }.on(Decimal::MAX, dec!(0.5)),
            Decimal::ZERO
        );
    }
}
