//! What the entries a shadow scorer and the active one disagreed on would have made: each such
//! pick bought on paper as an equilibrage pair (half the stake on each side, at the asks of the
//! scan), held, and marked at the best bids of the later scans that list its market.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// pUSD put into each paper pair: the same for both scorers, so their picks compare.
pub const STAKE: Decimal = Decimal::from_parts(100, 0, 0, false, 0);

/// Pairs followed one by one; beyond this the oldest is frozen at its last mark.
const FOLLOWED: usize = 200;

/// Whose pick a paper pair is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Picker {
    /// Only the shadow would have entered the market.
    Shadow,
    /// Only the active scorer would have.
    Active,
}

impl Picker {
    const fn index(self) -> usize {
        match self {
            Self::Shadow => 0,
            Self::Active => 1,
        }
    }
}

/// A pick bought on paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperPair {
    pub by: Picker,
    pub at_ms: i64,
    /// YES and NO shares bought (whole hundredths, as the exchange sizes orders), and what they
    /// cost at the asks.
    pub shares: [Decimal; 2],
    pub cost: Decimal,
    /// The last best bid seen of each side (`None`: none yet, valued at nothing).
    pub bids: [Option<Decimal>; 2],
    pub marked_ms: i64,
}

impl PaperPair {
    /// Half of [`STAKE`] on each side at `asks`; `None` when a side has no ask to buy at.
    fn buy(by: Picker, at_ms: i64, asks: [Option<Decimal>; 2], bids: [Option<Decimal>; 2]) -> Option<Self> {
        let half = STAKE / Decimal::TWO;
        let mut shares = [Decimal::ZERO; 2];
        let mut cost = Decimal::ZERO;
        for (side, ask) in asks.into_iter().enumerate() {
            let ask = ask.filter(|a| *a > Decimal::ZERO && *a <= Decimal::ONE)?;
            shares[side] = half.checked_div(ask)?.trunc_with_scale(2);
            cost = cost.checked_add(shares[side].checked_mul(ask)?)?;
        }
        (shares.iter().all(|s| *s > Decimal::ZERO)).then_some(Self {
            by,
            at_ms,
            shares,
            cost,
            bids,
            marked_ms: at_ms,
        })
    }

    /// What selling both sides at the last bids would have made, before fees.
    #[must_use]
    pub fn pnl(&self) -> Decimal {
        self.shares
            .iter()
            .zip(self.bids)
            .map(|(s, bid)| s.saturating_mul(bid.unwrap_or_default()))
            .fold(Decimal::ZERO, Decimal::saturating_add)
            .saturating_sub(self.cost)
    }
}

/// Count and P&L of one scorer's picks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickTotal {
    pub count: u64,
    pub pnl: Decimal,
}

/// The picks of both scorers so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Picks {
    /// Followed pairs by market id.
    pub pairs: BTreeMap<String, PaperPair>,
    /// Pairs no longer followed, at their last marks: the shadow's, then the active's.
    pub frozen: [PickTotal; 2],
}

impl Picks {
    /// Buys a pick on paper, unless its market already has a pair (the first pick is kept).
    pub(super) fn pick(
        &mut self,
        market: &str,
        by: Picker,
        at_ms: i64,
        asks: [Option<Decimal>; 2],
        bids: [Option<Decimal>; 2],
    ) {
        if self.pairs.contains_key(market) {
            return;
        }
        let Some(pair) = PaperPair::buy(by, at_ms, asks, bids) else { return };
        self.pairs.insert(market.to_owned(), pair);
        while self.pairs.len() > FOLLOWED {
            let Some(oldest) =
                self.pairs.iter().min_by_key(|(id, p)| (p.at_ms, *id)).map(|(id, _)| id.clone())
            else {
                break;
            };
            if let Some(p) = self.pairs.remove(&oldest) {
                let total = &mut self.frozen[p.by.index()];
                total.count += 1;
                total.pnl = total.pnl.saturating_add(p.pnl());
            }
        }
    }

    /// Marks a followed pair at a scan's best bids (a side without a bid keeps its last one).
    pub(super) fn mark(&mut self, market: &str, at_ms: i64, bids: [Option<Decimal>; 2]) {
        if let Some(pair) = self.pairs.get_mut(market) {
            for (kept, new) in pair.bids.iter_mut().zip(bids) {
                if new.is_some() {
                    *kept = new;
                }
            }
            pair.marked_ms = at_ms;
        }
    }

    /// Whether a market's pair is followed.
    pub(super) fn follows(&self, market: &str) -> bool {
        self.pairs.contains_key(market)
    }

    /// The picks of one scorer, followed and frozen.
    #[must_use]
    pub fn total(&self, by: Picker) -> PickTotal {
        self.pairs.values().filter(|p| p.by == by).fold(self.frozen[by.index()], |t, p| PickTotal {
            count: t.count + 1,
            pnl: t.pnl.saturating_add(p.pnl()),
        })
    }

    /// What the shadow's picks made more (negative: less) than the active scorer's.
    #[must_use]
    pub fn difference(&self) -> Decimal {
        self.total(Picker::Shadow).pnl.saturating_sub(self.total(Picker::Active).pnl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_pick_is_bought_half_and_half_at_the_asks_and_marked_at_the_bids() {
        let mut picks = Picks::default();
        picks.pick(
            "m1",
            Picker::Shadow,
            1_000,
            [Some(dec!(0.52)), Some(dec!(0.50))],
            [Some(dec!(0.50)), None],
        );
        let pair = &picks.pairs["m1"];
        // 50 pUSD at 0.52 buys 96.15 shares (whole hundredths), at 0.50 exactly 100.
        assert_eq!(pair.shares, [dec!(96.15), dec!(100)]);
        assert_eq!(pair.cost, dec!(99.998));
        // Valued at what it could be sold for: no NO bid yet counts as nothing.
        assert_eq!(pair.pnl(), dec!(96.15) * dec!(0.50) - dec!(99.998));
        // YES rises, NO gets a bid; a scan without a YES bid keeps the last one.
        picks.mark("m1", 2_000, [Some(dec!(0.70)), Some(dec!(0.28))]);
        picks.mark("m1", 3_000, [None, Some(dec!(0.29))]);
        let expected = dec!(96.15) * dec!(0.70) + dec!(100) * dec!(0.29) - dec!(99.998);
        assert_eq!(picks.total(Picker::Shadow), PickTotal { count: 1, pnl: expected });
        assert_eq!(picks.pairs["m1"].marked_ms, 3_000);

        // The active scorer's pick loses; the difference is the shadow's gain over it.
        picks.pick(
            "m2",
            Picker::Active,
            1_000,
            [Some(dec!(0.50)), Some(dec!(0.50))],
            [Some(dec!(0.49)), Some(dec!(0.49))],
        );
        picks.mark("m2", 2_000, [Some(dec!(0.10)), Some(dec!(0.85))]);
        let active = dec!(100) * dec!(0.10) + dec!(100) * dec!(0.85) - dec!(100);
        assert_eq!(picks.total(Picker::Active).pnl, active);
        assert_eq!(picks.difference(), expected - active);

        // A market already picked keeps its first pair; one without an ask is not bought.
        picks.pick("m1", Picker::Active, 5_000, [Some(dec!(0.9)), Some(dec!(0.1))], [None, None]);
        assert_eq!(picks.pairs["m1"].by, Picker::Shadow);
        picks.pick("m3", Picker::Shadow, 5_000, [None, Some(dec!(0.5))], [None, None]);
        assert!(!picks.follows("m3"));
    }

    #[test]
    fn beyond_the_followed_pairs_the_oldest_is_frozen_at_its_last_mark() {
        let mut picks = Picks::default();
        let quote = [Some(dec!(0.50)), Some(dec!(0.50))];
        let mut each = Vec::new();
        for i in 0..=FOLLOWED {
            let id = format!("m{i:03}");
            picks.pick(&id, Picker::Shadow, i64::try_from(i).unwrap_or_default(), quote, quote);
            picks.mark(&id, 10_000, [Some(dec!(0.60)), Some(dec!(0.45))]);
            each.push(picks.pairs[&id].pnl());
        }
        assert_eq!(picks.pairs.len(), FOLLOWED);
        assert!(!picks.follows("m000"), "the oldest pick is no longer followed");
        assert_eq!(picks.frozen[0], PickTotal { count: 1, pnl: each[0] });
        let all: Decimal = each.iter().copied().sum();
        assert_eq!(
            picks.total(Picker::Shadow),
            PickTotal { count: u64::try_from(FOLLOWED).unwrap_or(0) + 1, pnl: all }
        );
        // A frozen pair is not marked any more.
        picks.mark("m000", 20_000, [Some(dec!(0.99)), Some(dec!(0.99))]);
        assert_eq!(picks.total(Picker::Shadow).pnl, all);
    }
}
