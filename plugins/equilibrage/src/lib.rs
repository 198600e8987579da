//! The default liquidation rules: sell a side once its best bid is 30 % below its entry price,
//! keep the other; then stop loss and take profit on the remaining side (0 = off).

use equilibrage_plugin_sdk::prelude::*;

/// The equilibrage rule set.
#[derive(Debug)]
pub struct Equilibrage;

const LIQUIDATION_DROP: usize = 0;
const STOP_LOSS: usize = 1;
const TAKE_PROFIT: usize = 2;

impl LiquidationRules for Equilibrage {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "equilibrage",
            env!("CARGO_PKG_VERSION"),
            "While both sides are held, sell the side whose best bid has fallen the liquidation \
             drop below its entry price and keep the other. Then apply stop loss and take profit \
             to the remaining side.",
        )
        .param(
            "liquidation-drop",
            0.30,
            0.01,
            0.99,
            "Fall of a side's best bid below its entry price that liquidates it (0.30 = 30 %).",
        )
        .param(
            "stop-loss",
            0.0,
            0.0,
            0.99,
            "Fall of the remaining side below its entry that sells it; 0 = off.",
        )
        .param(
            "take-profit",
            0.0,
            0.0,
            10.0,
            "Rise of the remaining side above its entry that sells it; 0 = off.",
        )
    }

    fn evaluate(params: &Params, _now_ms: i64, p: &PositionView) -> Option<(Action, String)> {
        decide(params.at(LIQUIDATION_DROP), params.at(STOP_LOSS), params.at(TAKE_PROFIT), p)
    }
}

export_liquidation_rules!(Equilibrage);

/// Parts per million, so thresholds compare exactly against integer prices.
#[allow(clippy::cast_possible_truncation, reason = "parameters are bounded to 0..=10")]
fn ppm(fraction: f64) -> i128 {
    (fraction * 1_000_000.0).round() as i128
}

/// How far `bid` is below `entry`, if it is at least `drop` (a fraction) below it.
fn fallen(leg: &Leg, drop: f64) -> Option<i128> {
    let bid = i128::from(leg.best_bid?);
    let entry = i128::from(leg.entry_price);
    // bid <= entry * (1 - drop), in integers: bid * 1e6 <= entry * (1e6 - drop_ppm)
    (leg.shares > 0 && entry > 0 && bid * 1_000_000 <= entry * (1_000_000 - ppm(drop))).then_some(entry - bid)
}

fn risen(leg: &Leg, rise: f64) -> bool {
    let (Some(bid), true) = (leg.best_bid, leg.shares > 0) else { return false };
    let entry = i128::from(leg.entry_price);
    entry > 0 && i128::from(bid) * 1_000_000 >= entry * (1_000_000 + ppm(rise))
}

/// A side as the reasons name it.
fn name(o: Outcome) -> &'static str {
    match o {
        Outcome::Yes => "yes",
        Outcome::No => "no",
    }
}

/// The rule itself, on parameter values; `None` holds the position.
#[must_use]
pub fn decide(drop: f64, stop_loss: f64, take_profit: f64, p: &PositionView) -> Option<(Action, String)> {
    let pct = |f: f64| format!("{:.1} %", f * 100.0);
    let (yes_held, no_held) = (p.yes.shares > 0, p.no.shares > 0);
    if yes_held && no_held {
        let side = match (fallen(&p.yes, drop), fallen(&p.no, drop)) {
            (Some(y), Some(n)) => {
                if y >= n {
                    Outcome::Yes
                } else {
                    Outcome::No
                }
            }
            (Some(_), None) => Outcome::Yes,
            (None, Some(_)) => Outcome::No,
            (None, None) => return None,
        };
        let reason = format!("{} best bid is at least {} below its entry price", name(side), pct(drop));
        return Some((Action::Liquidate(side), reason));
    }
    let remaining = match (yes_held, no_held) {
        (true, false) => Outcome::Yes,
        (false, true) => Outcome::No,
        _ => return None,
    };
    let leg = if remaining == Outcome::Yes { &p.yes } else { &p.no };
    if stop_loss > 0.0 && fallen(leg, stop_loss).is_some() {
        return Some((
            Action::StopLoss(remaining),
            format!("stop loss: {} is {} or more below entry", name(remaining), pct(stop_loss)),
        ));
    }
    if take_profit > 0.0 && risen(leg, take_profit) {
        return Some((
            Action::TakeProfit(remaining),
            format!("take profit: {} is {} or more above entry", name(remaining), pct(take_profit)),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(shares: i64, entry: i64, bid: Option<i64>) -> Leg {
        Leg { shares, entry_price: entry, best_bid: bid, best_ask: bid.map(|b| b + 10_000) }
    }

    fn position(yes: Leg, no: Leg) -> PositionView {
        PositionView { yes, no, opened_at: 0, liquidated: None }
    }

    fn action(p: &PositionView, sl: f64, tp: f64) -> Option<Action> {
        decide(0.30, sl, tp, p).map(|(a, _)| a)
    }

    #[test]
    fn holds_while_neither_side_has_fallen_thirty_percent() {
        let p = position(leg(100, 500_000, Some(351_000)), leg(100, 500_000, Some(640_000)));
        assert_eq!(action(&p, 0.0, 0.0), None);
    }

    #[test]
    fn liquidates_a_side_at_exactly_thirty_percent_below_entry() {
        let p = position(leg(100, 500_000, Some(350_000)), leg(100, 500_000, Some(640_000)));
        assert_eq!(action(&p, 0.0, 0.0), Some(Action::Liquidate(Outcome::Yes)));
        let p = position(leg(100, 480_000, Some(650_000)), leg(100, 520_000, Some(364_000)));
        assert_eq!(action(&p, 0.0, 0.0), Some(Action::Liquidate(Outcome::No)));
    }

    #[test]
    fn when_both_sides_fell_the_one_that_fell_further_goes() {
        let p = position(leg(100, 500_000, Some(300_000)), leg(100, 500_000, Some(200_000)));
        assert_eq!(action(&p, 0.0, 0.0), Some(Action::Liquidate(Outcome::No)));
    }

    #[test]
    fn no_bid_means_nothing_to_sell_into() {
        let p = position(leg(100, 500_000, None), leg(100, 500_000, Some(500_000)));
        assert_eq!(action(&p, 0.0, 0.0), None);
    }

    #[test]
    fn stop_loss_and_take_profit_apply_to_the_remaining_side_only_when_on() {
        let after = |bid| position(leg(0, 500_000, Some(100_000)), leg(100, 500_000, Some(bid)));
        assert_eq!(action(&after(200_000), 0.0, 0.0), None, "both off");
        assert_eq!(action(&after(400_000), 0.2, 0.0), Some(Action::StopLoss(Outcome::No)));
        assert_eq!(action(&after(401_000), 0.2, 0.0), None);
        assert_eq!(action(&after(750_000), 0.0, 0.5), Some(Action::TakeProfit(Outcome::No)));
        assert_eq!(action(&after(749_000), 0.0, 0.5), None);
        // With both sides held, SL/TP do not apply.
        let both = position(leg(100, 500_000, Some(900_000)), leg(100, 500_000, Some(400_000)));
        assert_eq!(action(&both, 0.1, 0.5), None);
    }

    #[test]
    fn batch_refers_to_positions_by_index_and_holds_the_rest() {
        let hold = position(leg(100, 500_000, Some(500_000)), leg(100, 500_000, Some(500_000)));
        let drop = position(leg(100, 500_000, Some(100_000)), leg(100, 500_000, Some(800_000)));
        let params = Equilibrage::info().defaults();
        let out = Equilibrage::evaluate_batch(&params, 0, &[hold, drop, hold]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].position, 1);
        assert_eq!(out[0].action, Action::Liquidate(Outcome::Yes));
        assert!(out[0].reason.contains("30.0 %"), "{}", out[0].reason);
    }
}
