//! P&L attribution of closed positions: the spread paid at entry, the fees, the liquidated side
//! and the kept side, which add up exactly to the position's P&L; with two counterfactuals from
//! the recorded quotes (both sides held to resolution; the pair sold back when the rule
//! liquidated), and their aggregate over many positions.

use super::stats::Estimate;
use crate::engine::{cost_held, fee_of, mark};
use crate::store::{Action, Leg, Position, PricePoint, TradeRecord};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How far from a moment recorded quotes may be and still stand for it: held markets are
/// recorded at least once a minute, every candidate at each scan.
const QUOTE_TOLERANCE_MS: i64 = 10 * 60_000;

/// Where one closed position's P&L came from. `spread + fees + liquidated_leg + kept_leg = pnl`,
/// exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub position_id: u64,
    pub market_id: String,
    /// The position's realised P&L, fees included.
    pub pnl: Decimal,
    /// Against buying at the mid: what the entry paid above it (negative), both sides. Zero for a
    /// side whose quotes at entry are not known (its spread is then inside its result).
    pub spread: Decimal,
    /// Every fee, buys and sells (negative).
    pub fees: Decimal,
    /// The side the rule sold: what it brought against its cost at the mid (zero when no side
    /// was liquidated).
    pub liquidated_leg: Decimal,
    /// The other side (both, when none was liquidated): what it brought (sales, payout) against
    /// its cost at the mid.
    pub kept_leg: Decimal,
    pub liquidated: Option<Leg>,
    /// Each side's mid when it was entered, YES then NO, where the quotes were recorded.
    pub entry_mid: [Option<Decimal>; 2],
    /// The side that won, where the market resolved within the data.
    pub winner: Option<Leg>,
    /// Counterfactual: the P&L had both sides been held to resolution (entry fees paid, no
    /// other trade); `None` when the market did not resolve within the data.
    pub hold_to_resolution: Option<Decimal>,
    /// Counterfactual, liquidated positions only: the P&L had the kept side been sold with the
    /// liquidated one, at its best bid then and its taker fee; `None` without that bid.
    pub sell_pair_at_liquidation: Option<Decimal>,
}

impl Attribution {
    /// The four parts, summed (equal to `pnl` by construction; tests hold it to that).
    #[must_use]
    pub fn parts_sum(&self) -> Decimal {
        self.spread + self.fees + self.liquidated_leg + self.kept_leg
    }
}

/// The recorded quote standing for moment `at`: the last at or before it, else the first after
/// it, within [`QUOTE_TOLERANCE_MS`]. `points` are in time order.
#[must_use]
pub fn quote_at(points: &[PricePoint], at: i64) -> Option<&PricePoint> {
    let i = points.partition_point(|p| p.at_ms <= at);
    let before = i.checked_sub(1).map(|j| &points[j]).filter(|p| at - p.at_ms <= QUOTE_TOLERANCE_MS);
    before.or_else(|| points.get(i).filter(|p| p.at_ms - at <= QUOTE_TOLERANCE_MS))
}

fn bid_ask(p: &PricePoint, leg: Leg) -> (Option<Decimal>, Option<Decimal>) {
    match leg {
        Leg::Yes => (p.yes_bid, p.yes_ask),
        Leg::No => (p.no_bid, p.no_ask),
    }
}

/// The winning side from the position's settlement trades: the side paid 1, or the other of a
/// side paid 0.
fn winner_from_trades(trades: &[&TradeRecord]) -> Option<Leg> {
    trades.iter().filter(|t| t.action == Action::Settle).find_map(|t| {
        if t.price == Decimal::ONE {
            Some(t.leg)
        } else if t.price.is_zero() {
            Some(t.leg.other())
        } else {
            None
        }
    })
}

/// Attributes a closed position's P&L. `trades` may hold other positions' trades (only this
/// one's are read); `quotes` are its market's recorded quotes in time order; `winner` is the
/// side that won where the caller knows the resolution (the position's own payouts tell it
/// otherwise). `None` for a position still open, or one that bought nothing.
#[must_use]
pub fn attribute(
    p: &Position,
    trades: &[TradeRecord],
    quotes: &[PricePoint],
    winner: Option<Leg>,
) -> Option<Attribution> {
    if p.status.is_open() || p.legs.iter().all(|l| l.bought.is_zero()) {
        return None;
    }
    let own: Vec<&TradeRecord> = trades.iter().filter(|t| t.position_id == p.id).collect();
    let at_entry = quote_at(quotes, p.opened_at_ms);
    let mut a = Attribution {
        position_id: p.id,
        market_id: p.market_id.clone(),
        pnl: mark(p, [None, None]).realised,
        spread: Decimal::ZERO,
        fees: Decimal::ZERO,
        liquidated_leg: Decimal::ZERO,
        kept_leg: Decimal::ZERO,
        liquidated: p.liquidated,
        entry_mid: [None, None],
        winner: winner.or_else(|| winner_from_trades(&own)),
        hold_to_resolution: None,
        sell_pair_at_liquidation: None,
    };
    for leg in Leg::BOTH {
        let s = p.leg(leg);
        let mid = at_entry.and_then(|q| match bid_ask(q, leg) {
            (Some(b), Some(a)) => Some((b + a) / Decimal::TWO),
            _ => None,
        });
        a.entry_mid[leg.index()] = mid;
        // What the shares cost at the mid; without a mid, what they cost (the spread is then
        // part of the side's result).
        let at_mid = mid.map_or(s.cost, |m| s.bought * m);
        a.spread -= s.cost - at_mid;
        a.fees -= s.fees;
        // The cost of shares still held (dust below a hundredth) is not part of the P&L.
        let result = s.proceeds + cost_held(s) - at_mid;
        if p.liquidated == Some(leg) {
            a.liquidated_leg += result;
        } else {
            a.kept_leg += result;
        }
    }
    let buy_fees = |leg: Leg| -> Decimal {
        own.iter().filter(|t| t.leg == leg && t.action == Action::Buy).map(|t| t.fee).sum()
    };
    if let Some(w) = a.winner {
        a.hold_to_resolution = Some(
            Leg::BOTH
                .iter()
                .map(|&l| {
                    let s = p.leg(l);
                    let payout = if l == w { s.bought } else { Decimal::ZERO };
                    payout - s.cost - buy_fees(l)
                })
                .sum(),
        );
    }
    if let (Some(liq), Some(at)) = (p.liquidated, p.liquidated_at_ms) {
        let kept = liq.other();
        let bid = quote_at(quotes, at).and_then(|q| bid_ask(q, kept).0);
        a.sell_pair_at_liquidation = bid.map(|bid| {
            let s = p.leg(kept);
            let sold = s.bought * bid - fee_of(p).on(s.bought, bid);
            crate::engine::mark_leg(p, liq, None).0 + sold - s.cost - buy_fees(kept)
        });
    }
    Some(a)
}

/// Attribution over many positions: each part's total, and what the liquidation rule earned
/// against each counterfactual, per liquidated position, with a 95 % interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionSummary {
    pub positions: usize,
    pub pnl: Decimal,
    pub spread: Decimal,
    pub fees: Decimal,
    pub liquidated_leg: Decimal,
    pub kept_leg: Decimal,
    pub liquidated: usize,
    /// Over liquidated positions whose market resolved: actual P&L − held to resolution.
    pub rule_vs_hold: Option<Estimate>,
    /// Over liquidated positions with a bid for the kept side: actual − sold as a pair then.
    pub rule_vs_pair: Option<Estimate>,
    /// Over every position whose market resolved: actual − held to resolution (what all exits
    /// together, liquidations, stops and closes, earned against doing nothing).
    pub exits_vs_hold: Option<Estimate>,
}

/// Adds up attributions.
#[must_use]
pub fn summarise(all: &[Attribution]) -> AttributionSummary {
    let mut s = AttributionSummary { positions: all.len(), ..AttributionSummary::default() };
    let (mut vs_hold, mut vs_pair, mut exits) = (Vec::new(), Vec::new(), Vec::new());
    for a in all {
        s.pnl += a.pnl;
        s.spread += a.spread;
        s.fees += a.fees;
        s.liquidated_leg += a.liquidated_leg;
        s.kept_leg += a.kept_leg;
        if let Some(h) = a.hold_to_resolution {
            exits.push(a.pnl - h);
        }
        if a.liquidated.is_some() {
            s.liquidated += 1;
            if let Some(h) = a.hold_to_resolution {
                vs_hold.push(a.pnl - h);
            }
            if let Some(pair) = a.sell_pair_at_liquidation {
                vs_pair.push(a.pnl - pair);
            }
        }
    }
    s.rule_vs_hold = Estimate::of(&vs_hold);
    s.rule_vs_pair = Estimate::of(&vs_pair);
    s.exits_vs_hold = Estimate::of(&exits);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LegState, PositionStatus, Purpose, Settlement};
    use rust_decimal_macros::dec;

    fn trade(
        id: u64,
        leg: Leg,
        action: Action,
        shares: Decimal,
        price: Decimal,
        fee: Decimal,
    ) -> TradeRecord {
        TradeRecord {
            id,
            position_id: 7,
            leg,
            action,
            purpose: Purpose::Entry,
            client_id: String::new(),
            order_id: String::new(),
            exchange_trade_ids: Vec::new(),
            price,
            shares,
            notional: shares * price,
            fee,
            status: Settlement::Confirmed,
            tx_hash: None,
            at_ms: 0,
            reason: String::new(),
            decided_by: None,
        }
    }

    fn point(at_ms: i64, yes: (&str, &str), no: (&str, &str)) -> PricePoint {
        let d = |s: &str| Some(s.parse::<Decimal>().unwrap());
        PricePoint {
            at_ms,
            yes_bid: d(yes.0),
            yes_ask: d(yes.1),
            no_bid: d(no.0),
            no_ask: d(no.1),
            volume_24h: None,
        }
    }

    /// 100 YES at 0.52 and 100 NO at 0.50 (mids 0.51 and 0.49), 0.10 fee a buy; NO liquidated
    /// at 0.30 (fee 0.05); YES paid 1 at resolution.
    fn liquidated_then_won() -> (Position, Vec<TradeRecord>, Vec<PricePoint>) {
        let p = Position {
            id: 7,
            opened_at_ms: 1_000,
            capital: dec!(102),
            legs: [
                LegState {
                    bought: dec!(100),
                    cost: dec!(52),
                    sold: dec!(100),
                    proceeds: dec!(100),
                    fees: dec!(0.10),
                    ..LegState::default()
                },
                LegState {
                    bought: dec!(100),
                    cost: dec!(50),
                    sold: dec!(100),
                    proceeds: dec!(30),
                    fees: dec!(0.15),
                    ..LegState::default()
                },
            ],
            status: PositionStatus::Closed,
            liquidated: Some(Leg::No),
            liquidated_at_ms: Some(50_000),
            closed_at_ms: Some(90_000),
            fee_rate: dec!(0.02),
            ..Position::blank()
        };
        let trades = vec![
            trade(1, Leg::Yes, Action::Buy, dec!(100), dec!(0.52), dec!(0.10)),
            trade(2, Leg::No, Action::Buy, dec!(100), dec!(0.50), dec!(0.10)),
            trade(3, Leg::No, Action::Sell, dec!(100), dec!(0.30), dec!(0.05)),
            trade(4, Leg::Yes, Action::Settle, dec!(100), dec!(1), dec!(0)),
        ];
        let quotes = vec![
            point(900, ("0.50", "0.52"), ("0.48", "0.50")),
            point(49_000, ("0.68", "0.70"), ("0.30", "0.32")),
        ];
        (p, trades, quotes)
    }

    #[test]
    fn the_parts_add_up_exactly_to_the_pnl() {
        let (p, trades, quotes) = liquidated_then_won();
        let a = attribute(&p, &trades, &quotes, None).unwrap();
        // 100 + 30 − 52 − 50 − 0.25 fees
        assert_eq!(a.pnl, dec!(27.75));
        assert_eq!(a.entry_mid, [Some(dec!(0.51)), Some(dec!(0.49))]);
        assert_eq!(a.spread, dec!(-2), "paid 1 above the mid on each side");
        assert_eq!(a.fees, dec!(-0.25));
        assert_eq!(a.liquidated_leg, dec!(-19), "30 against 49 at the mid");
        assert_eq!(a.kept_leg, dec!(49), "100 against 51 at the mid");
        assert_eq!(a.parts_sum(), a.pnl);
        assert_eq!(a.winner, Some(Leg::Yes), "told by the payout of 1");
        // Held: 100 − 52 − 50 − 0.20 entry fees.
        assert_eq!(a.hold_to_resolution, Some(dec!(-2.20)));
        // Pair at liquidation: NO as it went (30 − 50 − 0.15), YES at its bid 0.68 less the fee
        // 100 × 0.02 × 0.68 × 0.32 = 0.4352, less its cost and entry fee.
        assert_eq!(
            a.sell_pair_at_liquidation,
            Some(dec!(-20.15) + dec!(68) - dec!(0.4352) - dec!(52) - dec!(0.10))
        );
    }

    #[test]
    fn without_quotes_the_spread_is_inside_the_sides_and_still_adds_up() {
        let (p, trades, _) = liquidated_then_won();
        let a = attribute(&p, &trades, &[], Some(Leg::Yes)).unwrap();
        assert_eq!((a.spread, a.entry_mid), (Decimal::ZERO, [None, None]));
        assert_eq!(a.liquidated_leg, dec!(-20));
        assert_eq!(a.parts_sum(), a.pnl);
        assert_eq!(a.sell_pair_at_liquidation, None, "no bid for the kept side then");
        // Quotes too far from the entry do not stand for it.
        let far = [point(1_000 + QUOTE_TOLERANCE_MS + 1, ("0.5", "0.52"), ("0.48", "0.5"))];
        assert_eq!(attribute(&p, &trades, &far, None).unwrap().entry_mid, [None, None]);
    }

    #[test]
    fn dust_left_unsold_stays_out_of_both_the_pnl_and_the_parts() {
        let (mut p, trades, quotes) = liquidated_then_won();
        p.legs[0].sold = dec!(99.996);
        p.legs[0].proceeds = dec!(99.996);
        let a = attribute(&p, &trades, &quotes, None).unwrap();
        assert_eq!(a.parts_sum(), a.pnl);
        assert_eq!(a.pnl, crate::engine::mark(&p, [None, None]).realised);
        let mut open = p.clone();
        open.status = PositionStatus::Active;
        assert!(attribute(&open, &trades, &quotes, None).is_none(), "open positions are not attributed");
    }

    #[test]
    fn the_summary_says_what_the_rule_earned_against_holding() {
        let (p, trades, quotes) = liquidated_then_won();
        let a = attribute(&p, &trades, &quotes, None).unwrap();
        let mut b = a.clone();
        b.pnl = dec!(10);
        b.hold_to_resolution = Some(dec!(4));
        let s = summarise(&[a.clone(), b]);
        assert_eq!((s.positions, s.liquidated), (2, 2));
        assert_eq!(s.pnl, dec!(37.75));
        let vs = s.rule_vs_hold.unwrap();
        assert_eq!((vs.n, vs.total), (2, dec!(27.75) + dec!(2.20) + dec!(6)));
        assert!(vs.low.is_some() && vs.high.is_some());
        assert_eq!(s.rule_vs_pair.unwrap().n, 2);
        assert_eq!(summarise(&[]).rule_vs_hold, None);
    }
}
