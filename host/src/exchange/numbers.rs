//! Numbers from a venue, checked where they are parsed: prices in 0..=1, sizes and amounts not
//! negative and below a bound no real market reaches. Anything else is malformed input; and
//! since every product and sum of a few thousand such numbers stays far inside `Decimal`'s
//! range (about 7.9·10²⁸), arithmetic on them cannot overflow or panic.

use super::{ExchangeError, Result};
use rust_decimal::Decimal;

/// The most shares (or pUSD) one number from a venue may hold: 10¹² (no market is a thousandth
/// of that).
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

fn bad(what: &str, value: Decimal, range: &str) -> ExchangeError {
    ExchangeError::Malformed { reason: format!("{what} {value} is out of range ({range})") }
}

/// A price or probability: 0 to 1, both included.
///
/// # Errors
/// `Malformed` outside 0..=1.
pub fn price(what: &str, value: Decimal) -> Result<Decimal> {
    if value.is_sign_negative() && !value.is_zero() || value > Decimal::ONE {
        return Err(bad(what, value, "0 to 1"));
    }
    Ok(value)
}

/// The smallest non-zero share count, amount or price a venue deals in (pUSD and shares are in
/// 10⁻⁶ units): with it, no quotient of two such numbers leaves `Decimal`'s range.
pub const MICRO: Decimal = Decimal::from_parts(1, 0, 0, false, 6);

/// A price something traded or rests at: strictly between 0 and 1, and at least a micro-unit
/// (a book level at 0 or 1 cannot exist; a trade there would be free or worthless).
///
/// # Errors
/// `Malformed` otherwise.
pub fn level_price(what: &str, value: Decimal) -> Result<Decimal> {
    if value < MICRO || value >= Decimal::ONE {
        return Err(bad(what, value, "strictly between 0 and 1, at least 0.000001"));
    }
    Ok(value)
}

/// A tick size: strictly between 0 and 1, at least a micro-unit.
///
/// # Errors
/// `Malformed` otherwise.
pub fn tick(what: &str, value: Decimal) -> Result<Decimal> {
    if value < MICRO || value >= Decimal::ONE {
        return Err(bad(what, value, "strictly between 0 and 1"));
    }
    Ok(value)
}

/// A number of shares or an amount of pUSD: 0, or a micro-unit to [`MAX_QUANTITY`].
///
/// # Errors
/// `Malformed` when negative, larger, or non-zero and below a micro-unit.
pub fn quantity(what: &str, value: Decimal) -> Result<Decimal> {
    if !value.is_zero() && (value < MICRO || value > MAX_QUANTITY) {
        return Err(bad(what, value, "0, or 0.000001 to 10^12"));
    }
    Ok(value)
}

/// A market statistic (liquidity, volume): 0 to 10¹⁵, kept to 6 decimals (Gamma sends floats).
///
/// # Errors
/// `Malformed` when negative or larger.
pub fn statistic(what: &str, value: Decimal) -> Result<Decimal> {
    if value.is_sign_negative() && !value.is_zero() || value > MAX_QUANTITY * Decimal::from(1_000) {
        return Err(bad(what, value, "0 to 10^15"));
    }
    Ok(value.round_dp(6))
}

/// A fee exponent: 0 to 16 (Polymarket's are 1 or 2, sometimes fractional).
///
/// # Errors
/// `Malformed` outside 0..=16.
pub fn exponent(what: &str, value: Decimal) -> Result<Decimal> {
    if value.is_sign_negative() && !value.is_zero() || value > Decimal::from(16) {
        return Err(bad(what, value, "0 to 16"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn numbers_out_of_range_are_malformed() {
        assert_eq!(MAX_QUANTITY, dec!(1_000_000_000_000));
        for ok in [dec!(0), dec!(0.5), dec!(1), dec!(-0)] {
            assert_eq!(price("price", ok).unwrap(), ok);
        }
        for bad in [dec!(-0.01), dec!(1.01), dec!(1e20)] {
            let e = price("trade price", bad).unwrap_err().to_string();
            assert!(e.contains("trade price") && e.contains("out of range"), "{e}");
        }
        assert!(quantity("size", dec!(1_000_000_000_000)).is_ok());
        assert!(quantity("size", dec!(-5)).is_err());
        assert!(quantity("size", dec!(1_000_000_000_000.01)).is_err());
        assert!(quantity("size", dec!(219.217767)).is_ok());
        assert!(quantity("size", dec!(10.3699999)).is_ok(), "finer digits of a real amount");
        assert!(quantity("size", dec!(1e-28)).is_err(), "below a micro-unit");
        for bad in [dec!(0), dec!(1), dec!(0.0000001), dec!(-0.5)] {
            assert!(level_price("level", bad).is_err(), "{bad}");
        }
        assert!(level_price("level", dec!(0.0025)).is_ok());
        assert!(tick("tick", dec!(0)).is_err() && tick("tick", dec!(0.001)).is_ok());
        assert_eq!(statistic("liquidity", dec!(20328.374712345)).unwrap(), dec!(20328.374712));
        assert!(exponent("exponent", dec!(1.5)).is_ok());
        assert!(exponent("exponent", dec!(17)).is_err());
        // The worst products stay far inside Decimal's range.
        let worst = MAX_QUANTITY * Decimal::ONE * Decimal::from(10_000);
        assert!(worst.checked_mul(Decimal::from(1_000)).is_some());
    }
}
