//! Exit decisions: the liquidation-rules plugin's view of a position, its decisions in host
//! terms, and the built-in rule (same defaults) that protects positions when the plugin is
//! missing or faulting.

use super::settings::Settings;
use crate::plugins::abi;
use crate::store::{Leg, Position, Purpose};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What to do with a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "leg", rename_all = "snake_case")]
pub enum Exit {
    /// Sell one side (the equilibrage rule), keep the other.
    Liquidate(Leg),
    StopLoss(Leg),
    TakeProfit(Leg),
    /// Sell everything still held.
    CloseAll,
}

impl Exit {
    /// The purpose recorded with the orders.
    #[must_use]
    pub fn purpose(self) -> Purpose {
        match self {
            Self::Liquidate(_) => Purpose::Liquidation,
            Self::StopLoss(_) => Purpose::StopLoss,
            Self::TakeProfit(_) => Purpose::TakeProfit,
            Self::CloseAll => Purpose::Close,
        }
    }

    /// Whether it sells a side that is held (a decision about a side already gone is invalid).
    #[must_use]
    pub fn applies_to(self, p: &Position) -> bool {
        match self {
            Self::Liquidate(l) | Self::StopLoss(l) | Self::TakeProfit(l) => p.leg(l).is_held(),
            Self::CloseAll => Leg::BOTH.iter().any(|l| p.leg(*l).is_held()),
        }
    }
}

/// Who made the last decisions: the plugin, or the built-in rule and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RulesSource {
    Plugin { name: String },
    BuiltIn { reason: String },
}

const MICROS: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Powers of ten up to the sixth, for [`micros`].
const TENS: [i128; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

/// A decimal as micro-units, toward zero; saturating (no real price or share count comes near).
/// Every price, size and plugin input the engine converts has six decimals or fewer, and then
/// its mantissa scaled up is the exact answer, in integers: the general decimal product and
/// truncation (the path of the rest) was 2 % of a sweep's time.
pub(crate) fn micros(v: Decimal) -> i64 {
    let saturated = if v.is_sign_negative() { i64::MIN } else { i64::MAX };
    if let Some(ten) = 6_u32.checked_sub(v.scale()).and_then(|e| TENS.get(e as usize)) {
        // |mantissa| < 2^96, so the product fits an i128.
        return i64::try_from(v.mantissa() * ten).unwrap_or(saturated);
    }
    use rust_decimal::prelude::ToPrimitive as _;
    v.checked_mul(MICROS).and_then(|m| m.trunc().to_i64()).unwrap_or(saturated)
}

/// Powers of ten that are exact floats (10^22 is the last), for [`float`].
const FLOAT_TENS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// A decimal as `Decimal::to_f64` gives it, bit for bit, for the model quantities (mids, sums of
/// squared moves) a scan turns into floats. With a mantissa below 2^49 and a scale of 22 or less,
/// both the mantissa and the power of ten are exact floats, so their quotient is the correctly
/// rounded value, and so is rust_decimal's answer there (its 128-bit division and rounding
/// recover the mantissa exactly; a test compares the two). Elsewhere, rust_decimal's path. Those
/// 128-bit divisions were 3 % of a sweep's time.
pub(crate) fn float(v: Decimal) -> f64 {
    let (m, scale) = (v.mantissa(), v.scale() as usize);
    match FLOAT_TENS.get(scale) {
        // rust_decimal keeps the sign of a negative zero with decimals, and only then.
        Some(_) if m == 0 => {
            if v.is_sign_negative() && scale > 0 {
                -0.0
            } else {
                0.0
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "below 2^49, exact")]
        Some(ten) if m.unsigned_abs() < 1 << 49 => m as f64 / ten,
        _ => {
            use rust_decimal::prelude::ToPrimitive as _;
            v.to_f64().unwrap_or_default()
        }
    }
}

/// The plugin's view of a position, at the best bids and asks given (YES, NO).
#[must_use]
pub fn view(p: &Position, bids: [Option<Decimal>; 2], asks: [Option<Decimal>; 2]) -> abi::PositionView {
    let leg = |l: Leg| {
        let s = p.leg(l);
        abi::Leg {
            shares: micros(s.sellable()),
            entry_price: micros(s.entry_price()),
            best_bid: bids[l.index()].map(micros),
            best_ask: asks[l.index()].map(micros),
        }
    };
    abi::PositionView {
        yes: leg(Leg::Yes),
        no: leg(Leg::No),
        opened_at: p.opened_at_ms,
        liquidated: p.liquidated.map(|l| match l {
            Leg::Yes => abi::Outcome::Yes,
            Leg::No => abi::Outcome::No,
        }),
    }
}

/// A plugin decision in host terms.
#[must_use]
pub fn from_plugin(action: &abi::Action) -> Exit {
    let leg = |o: &abi::Outcome| match o {
        abi::Outcome::Yes => Leg::Yes,
        abi::Outcome::No => Leg::No,
    };
    match action {
        abi::Action::Liquidate(o) => Exit::Liquidate(leg(o)),
        abi::Action::StopLoss(o) => Exit::StopLoss(leg(o)),
        abi::Action::TakeProfit(o) => Exit::TakeProfit(leg(o)),
        abi::Action::CloseAll => Exit::CloseAll,
    }
}

/// How far `bid` sits below the entry when at least `drop` (a fraction) below it.
fn fallen(p: &Position, leg: Leg, bid: Option<Decimal>, drop: Decimal) -> Option<Decimal> {
    let s = p.leg(leg);
    let (bid, entry) = (bid?, s.entry_price());
    (s.is_held() && entry > Decimal::ZERO && bid <= entry * (Decimal::ONE - drop)).then_some(entry - bid)
}

fn risen(p: &Position, leg: Leg, bid: Option<Decimal>, rise: Decimal) -> bool {
    let s = p.leg(leg);
    let entry = s.entry_price();
    bid.is_some_and(|bid| s.is_held() && entry > Decimal::ZERO && bid >= entry * (Decimal::ONE + rise))
}

/// The built-in rule, identical in behaviour to the default `equilibrage` plugin: while both
/// sides are held, sell the side whose best bid fell the liquidation drop below its entry (the
/// deeper fall if both did); once one side is gone, stop loss and take profit (0 = off) on the
/// other.
#[must_use]
pub fn builtin(settings: &Settings, p: &Position, bids: [Option<Decimal>; 2]) -> Option<(Exit, String)> {
    let pct = |f: Decimal| format!("{} %", (f * Decimal::ONE_HUNDRED).normalize());
    let held = |l: Leg| p.leg(l).is_held();
    let bid = |l: Leg| bids[l.index()];
    if held(Leg::Yes) && held(Leg::No) {
        let drop = settings.liquidation_drop();
        let side = match (fallen(p, Leg::Yes, bid(Leg::Yes), drop), fallen(p, Leg::No, bid(Leg::No), drop)) {
            (Some(y), Some(n)) => {
                if y >= n {
                    Leg::Yes
                } else {
                    Leg::No
                }
            }
            (Some(_), None) => Leg::Yes,
            (None, Some(_)) => Leg::No,
            (None, None) => return None,
        };
        let reason = format!("{} best bid is at least {} below its entry price", side.as_str(), pct(drop));
        return Some((Exit::Liquidate(side), reason));
    }
    let remaining = Leg::BOTH.into_iter().find(|l| held(*l))?;
    let (sl, tp) = (settings.stop_loss(), settings.take_profit());
    if sl > Decimal::ZERO && fallen(p, remaining, bid(remaining), sl).is_some() {
        let why = format!("stop loss: {} is {} or more below entry", remaining.as_str(), pct(sl));
        return Some((Exit::StopLoss(remaining), why));
    }
    if tp > Decimal::ZERO && risen(p, remaining, bid(remaining), tp) {
        let why = format!("take profit: {} is {} or more above entry", remaining.as_str(), pct(tp));
        return Some((Exit::TakeProfit(remaining), why));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LegState, PositionStatus};
    use rust_decimal_macros::dec;

    fn position(yes: (Decimal, Decimal), no: (Decimal, Decimal)) -> Position {
        let leg = |(shares, price): (Decimal, Decimal)| LegState {
            bought: shares,
            cost: shares * price,
            ..LegState::default()
        };
        Position {
            id: 1,
            market_id: "m".into(),
            question: String::new(),
            capital: dec!(100),
            legs: [leg(yes), leg(no)],
            status: PositionStatus::Active,
            ..Position::blank()
        }
    }

    #[test]
    #[expect(clippy::cast_possible_truncation, reason = "a mantissa split into its 32-bit words")]
    fn a_decimal_becomes_the_float_rust_decimal_gives_bit_for_bit() {
        use rust_decimal::prelude::ToPrimitive as _;
        let check = |d: Decimal| {
            let (ours, theirs) = (float(d), d.to_f64().unwrap());
            assert_eq!(ours.to_bits(), theirs.to_bits(), "{d} (scale {}): {ours:e} vs {theirs:e}", d.scale());
        };
        // Every scale, both signs, zeros, and mantissas on both sides of the fast path's bound.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for scale in 0..=28 {
            for negative in [false, true] {
                check(Decimal::from_parts(0, 0, 0, negative, scale));
                for m in [1_u64, 5, 49, 1 << 48, (1 << 49) - 1, 1 << 49, (1 << 49) + 1, u64::MAX] {
                    check(Decimal::from_parts(m as u32, (m >> 32) as u32, 0, negative, scale));
                }
                for _ in 0..2_000 {
                    // xorshift: mantissas of every size up to 2^64.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let m = x >> (x % 64);
                    check(Decimal::from_parts(m as u32, (m >> 32) as u32, 0, negative, scale));
                }
            }
        }
        // The quantities a scan converts: mids of prices on ticks of 0.01 to 0.0001, the float
        // of the sum halved as the scanner takes it.
        for (scale, spread) in [(2, 1), (3, 7), (4, 3)] {
            for bid in 1..10_i64.pow(scale) - spread {
                let (b, a) = (Decimal::new(bid, scale), Decimal::new(bid + spread, scale));
                check((b + a) / Decimal::TWO);
                let half = ((b + a) / Decimal::TWO).to_f64().unwrap();
                assert_eq!((float(b + a) / 2.0).to_bits(), half.to_bits(), "{b} {a}");
            }
        }
    }

    #[test]
    fn a_thirty_percent_fall_liquidates_that_side_only() {
        let s = Settings::default();
        let p = position((dec!(100), dec!(0.50)), (dec!(100), dec!(0.50)));
        assert_eq!(builtin(&s, &p, [Some(dec!(0.36)), Some(dec!(0.60))]), None, "28 % is not enough");
        let (exit, why) = builtin(&s, &p, [Some(dec!(0.35)), Some(dec!(0.64))]).unwrap();
        assert_eq!(exit, Exit::Liquidate(Leg::Yes));
        assert!(why.contains("30 %"), "{why}");
        // Both fell: the deeper fall goes.
        let (exit, _) = builtin(&s, &p, [Some(dec!(0.34)), Some(dec!(0.20))]).unwrap();
        assert_eq!(exit, Exit::Liquidate(Leg::No));
    }

    #[test]
    fn stop_loss_and_take_profit_apply_to_the_remaining_side_when_on() {
        let mut p = position((dec!(100), dec!(0.50)), (dec!(100), dec!(0.50)));
        p.legs[0].sold = dec!(100);
        let off = Settings::default();
        assert_eq!(builtin(&off, &p, [None, Some(dec!(0.10))]), None, "off by default");
        let on =
            Settings { stop_loss_percent: dec!(20), take_profit_percent: dec!(50), ..Settings::default() };
        assert_eq!(builtin(&on, &p, [None, Some(dec!(0.40))]).unwrap().0, Exit::StopLoss(Leg::No));
        assert_eq!(builtin(&on, &p, [None, Some(dec!(0.75))]).unwrap().0, Exit::TakeProfit(Leg::No));
        assert_eq!(builtin(&on, &p, [None, Some(dec!(0.60))]), None);
    }

    /// The integer path gives what the decimal product and truncation give, on every scale,
    /// sign and size, up to saturation.
    #[test]
    fn micros_agrees_with_the_decimal_definition() {
        use rust_decimal::prelude::ToPrimitive as _;
        let by_definition = |v: Decimal| {
            let saturated = if v.is_sign_negative() { i64::MIN } else { i64::MAX };
            v.checked_mul(MICROS).and_then(|m| m.trunc().to_i64()).unwrap_or(saturated)
        };
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values = vec![
            Decimal::ZERO,
            -Decimal::ZERO,
            Decimal::MAX,
            Decimal::MIN,
            dec!(0.000001),
            dec!(-0.0000019),
            dec!(9223372036854.775807),
            dec!(9223372036854.775808),
            dec!(-9223372036854.775808),
            dec!(-9223372036854.775809),
        ];
        let mut word = || u32::try_from(next() >> 32).unwrap_or(0);
        for _ in 0..20_000 {
            // Mantissas of every width: the high and middle words often zero or short.
            let (lo, mid, hi) = (word(), word() >> (word() % 32), word() >> (word() % 32));
            let (mid, hi) = if word() % 2 == 0 { (mid, 0) } else { (mid, hi) };
            let (scale, negative) = (word() % 29, word() % 2 == 0);
            values.push(Decimal::from_parts(lo, mid, hi, negative, scale));
        }
        for v in values {
            assert_eq!(micros(v), by_definition(v), "{v} (scale {})", v.scale());
        }
        assert_eq!(micros(dec!(0.53)), 530_000);
        assert_eq!(micros(dec!(-12.5)), -12_500_000);
    }

    #[test]
    fn the_plugin_view_is_in_micro_units() {
        let p = position((dec!(12.5), dec!(0.53)), (dec!(10), dec!(0.48)));
        let v = view(&p, [Some(dec!(0.52)), None], [Some(dec!(0.54)), Some(dec!(0.49))]);
        assert_eq!((v.yes.shares, v.yes.entry_price, v.yes.best_bid), (12_500_000, 530_000, Some(520_000)));
        assert_eq!((v.no.best_bid, v.no.best_ask), (None, Some(490_000)));
    }
}
