//! The order book's tests: level ordering, snapshots and changes, walks and fees.

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

/// The check that lets a snapshot side be copied as it is agrees with what it stands for:
/// every level positive and each strictly better than the next, over prices of one scale or
/// mixed, negative, zero and extreme, on both sides.
#[test]
fn a_side_is_taken_as_it_is_exactly_when_it_is_best_first_and_has_no_empty_level() {
    let prices = [
        dec!(0.5),
        dec!(0.50),
        dec!(0.49),
        dec!(0.51),
        dec!(0.001),
        dec!(0),
        dec!(-0.5),
        dec!(-0.51),
        dec!(1),
        Decimal::MAX,
        Decimal::MIN,
    ];
    let sizes = [dec!(1), dec!(0), dec!(-1), dec!(0.01)];
    let want = |levels: &[Level], side| {
        levels.iter().all(|l| l.size > Decimal::ZERO)
            && levels.windows(2).all(|w| match side {
                BookSide::Bids => w[0].price > w[1].price,
                BookSide::Asks => w[0].price < w[1].price,
            })
    };
    let mut checked = 0;
    for a in prices {
        for b in prices {
            for c in prices {
                for (i, size) in sizes.iter().enumerate() {
                    // One level of the three, in turn, gets each size; the others 1.
                    let mut levels = [a, b, c].map(|price| Level { price, size: dec!(1) });
                    levels[i % 3].size = *size;
                    for n in 0..=3 {
                        for side in [BookSide::Bids, BookSide::Asks] {
                            let got = in_order(&levels[..n], side);
                            assert_eq!(got, want(&levels[..n], side), "{side:?} {:?}", &levels[..n]);
                            checked += usize::from(got);
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 1_000, "the ordered cases were reached too ({checked})");
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
    let fill = book().walk(Side::Buy, Amount::Usd(dec!(10)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap();
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
    let err = b.walk(Side::Buy, Amount::Usd(dec!(50)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap_err();
    assert_eq!(err, FillError::Killed { wanted: dec!(50), available: dec!(44.80) });
    let fill = b.walk(Side::Buy, Amount::Usd(dec!(50)), FillPolicy::FillAndKill, TakerFee::ZERO).unwrap();
    assert_eq!((fill.shares, fill.notional), (dec!(85), dec!(44.80)));
    // Selling 60 shares into 50 of bids.
    let err =
        b.walk(Side::Sell, Amount::Shares(dec!(60)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap_err();
    assert_eq!(err, FillError::Killed { wanted: dec!(60), available: dec!(50) });
    let fill = b.walk(Side::Sell, Amount::Shares(dec!(60)), FillPolicy::FillAndKill, TakerFee::ZERO).unwrap();
    assert_eq!((fill.shares, fill.notional), (dec!(50), dec!(24.20)));
    assert_eq!(fill.average_price(), dec!(0.484));
}

#[test]
fn a_sell_takes_bids_best_first_and_consuming_updates_the_book() {
    let mut b = book();
    let fill = b.walk(Side::Sell, Amount::Shares(dec!(25)), FillPolicy::FillOrKill, TakerFee::ZERO).unwrap();
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

/// The depth in integers is the depth in decimals digit for digit (mantissa and scale) on
/// generated books: prices at one scale and sizes at another, or mixed scales and huge sizes
/// (where it declines and the decimals answer), every side and slippages that take no level,
/// some, all, or reach below zero.
#[test]
fn the_depth_in_integers_is_the_depth_in_decimals_digit_for_digit() {
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let digits = |d: Decimal| (d.mantissa(), d.scale());
    let (mut fast, mut declined) = (0, 0);
    for case in 0..20_000 {
        let price_scale = u32::try_from(1 + next(4)).unwrap();
        let size_scale = u32::try_from(next(7)).unwrap();
        let mixed = next(10) == 0;
        let huge = next(20) == 0;
        let side = if next(2) == 0 { BookSide::Asks } else { BookSide::Bids };
        let unit = 10_i64.pow(price_scale);
        let mut levels: Vec<Level> = Vec::new();
        let mut price = i64::try_from(next(u64::try_from(unit).unwrap() - 1)).unwrap() + 1;
        for k in 0..1 + next(12) {
            let scale = if mixed && k % 3 == 1 { price_scale + 1 } else { price_scale };
            let mantissa = if scale == price_scale { price } else { price * 10 + 5 };
            let size = if huge {
                Decimal::from_i128_with_scale(i128::from(u64::MAX) * 1_000 + 7, size_scale)
            } else {
                Decimal::new(i64::try_from(1 + next(10_000_000)).unwrap(), size_scale)
            };
            levels.push(Level { price: Decimal::new(mantissa, scale), size });
            price = match side {
                BookSide::Asks => price + 1 + i64::try_from(next(3)).unwrap(),
                BookSide::Bids => price - 1 - i64::try_from(next(3)).unwrap(),
            };
            if price <= 0 || price >= unit {
                break;
            }
        }
        let slippage = Decimal::new(i64::try_from(next(3_000)).unwrap(), u32::try_from(next(5)).unwrap());
        let best = levels[0].price;
        let limit = match side {
            BookSide::Asks => best * (Decimal::ONE + slippage),
            BookSide::Bids => best * (Decimal::ONE - slippage),
        };
        let want = depth_in_decimals(&levels, side, limit);
        match depth_in_units(&levels, side, slippage) {
            Some(got) => {
                fast += 1;
                assert_eq!(digits(got), digits(want), "case {case}: {levels:?} {side:?} within {limit}");
            }
            None => declined += 1,
        }
    }
    // Both ways were taken, the integers' on the books as books are.
    assert!(fast > 15_000 && declined > 500, "{fast} in integers, {declined} declined");
}

/// Where the exact depth needs more than the 96 bits a decimal holds, the integers decline and
/// the decimals' way (which rounds) stands; just under, the integers give the decimals' digits.
#[test]
fn a_depth_past_96_bits_is_left_to_the_decimals() {
    let cap = 1_i128 << 96;
    // Two ask levels, 0.50 and 0.51, of `m` shares each: the exact depth is 101 × m at scale 2.
    let book = |m: i128| {
        let size = Decimal::from_i128_with_scale(m, 0);
        vec![Level { price: dec!(0.50), size }, Level { price: dec!(0.51), size }]
    };
    let slippage = dec!(0.05);
    let limit = dec!(0.50) * (Decimal::ONE + slippage);
    let under = book(cap / 101 - 1);
    let got = depth_in_units(&under, BookSide::Asks, slippage).expect("fits in 96 bits");
    let want = depth_in_decimals(&under, BookSide::Asks, limit);
    assert_eq!((got.mantissa(), got.scale()), (want.mantissa(), want.scale()));
    assert_eq!(got.mantissa(), 101 * (cap / 101 - 1));
    let over = book(cap / 101 + 1);
    assert_eq!(depth_in_units(&over, BookSide::Asks, slippage), None, "past 96 bits");
    let mut asks = OrderBook::new(Decimal::ONE);
    asks.replace(&[], &over);
    assert_eq!(
        asks.depth_within(BookSide::Asks, slippage),
        depth_in_decimals(&over, BookSide::Asks, limit),
        "the decimals' depth stands"
    );
}
