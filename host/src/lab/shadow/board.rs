//! The comparison of a shadow with the active plugin: how often they agree, what the shadow
//! would have done differently, and for rules the hypothetical P&L of following it.

use super::picks::{Picker, Picks};
use super::signals::SignalShadow;
use crate::engine::Exit;
use crate::plugins::abi;
use crate::store::Leg;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// How many differences each kind keeps to show.
const RECENT: usize = 20;

/// How shadows compare with the active plugins, since each shadow was loaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowReport {
    pub scorer: Option<ScorerShadow>,
    pub rules: Option<RulesShadow>,
    #[serde(default)]
    pub whales: Option<SignalShadow>,
    #[serde(default)]
    pub news: Option<SignalShadow>,
    /// Calls the shadows did not get because they fell behind (never silently).
    pub dropped: u64,
}

/// Who is shadowing, against whom, since when, and how its own calls went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowIdentity {
    /// `name@version` of the shadow, and its file's SHA-256.
    pub shadow: String,
    pub sha256: String,
    /// The active plugin of the last call compared (`name@version`, or "built-in").
    pub active: String,
    pub since_ms: i64,
    pub last_ms: i64,
    /// Shadow calls that failed (trap, timeout, bad output): they never affect trading.
    pub faults: u64,
    pub last_error: Option<String>,
    /// Total and worst latency of the shadow's calls, microseconds.
    pub total_us: u64,
    pub max_us: u64,
    pub calls: u64,
}

impl ShadowIdentity {
    /// Mean latency of a shadow call, microseconds.
    #[must_use]
    pub fn mean_us(&self) -> u64 {
        self.total_us.checked_div(self.calls).unwrap_or(0)
    }
}

/// A shadow scorer against the active one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScorerShadow {
    pub id: ShadowIdentity,
    pub scans: u64,
    /// Scans after which both would have entered exactly the same markets.
    pub same_entries: u64,
    /// Market scorings compared, and those on the same side of the entry threshold.
    pub markets: u64,
    pub same_side: u64,
    /// Sum of |shadow score − active score| over `markets`.
    pub abs_diff_sum: f64,
    /// Spearman rank correlation of the two scorers over the last scan.
    pub last_correlation: Option<f64>,
    /// The latest scans whose entries differed, newest last.
    pub recent: VecDeque<EntryDiff>,
    /// The markets only one of them would have entered, bought on paper and followed.
    #[serde(default)]
    pub picks: Picks,
}

impl ScorerShadow {
    /// Share of market scorings on the same side of the threshold.
    #[must_use]
    pub fn agreement(&self) -> Option<f64> {
        ratio(self.same_side, self.markets)
    }

    #[must_use]
    pub fn mean_abs_diff(&self) -> Option<f64> {
        #[expect(clippy::cast_precision_loss, reason = "a count of scorings, far below 2^52")]
        (self.markets > 0).then(|| self.abs_diff_sum / self.markets as f64)
    }
}

/// A scan whose entries would have differed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryDiff {
    pub at_ms: i64,
    /// Markets only the shadow would have entered, and only the active.
    pub shadow_only: Vec<String>,
    pub active_only: Vec<String>,
}

/// Shadow liquidation rules against the active ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesShadow {
    pub id: ShadowIdentity,
    /// Position evaluations compared, and those where both decided the same.
    pub checks: u64,
    pub agreed: u64,
    /// What each side of each position was sold at by the active rules and would have been by
    /// the shadow, for the positions where the two differed.
    pub positions: BTreeMap<u64, Track>,
    /// The latest disagreements, newest last.
    pub recent: VecDeque<RulesDiff>,
}

impl RulesShadow {
    #[must_use]
    pub fn agreement(&self) -> Option<f64> {
        ratio(self.agreed, self.checks)
    }

    /// What following the shadow would have made more (negative: less) than the active rules,
    /// over every position where they differed, each side valued at its best bid when each
    /// decided to sell it (a side one of them kept, at the last best bid seen while the
    /// position was open). Before fees, which both would pay alike on a sale.
    #[must_use]
    pub fn pnl_difference(&self) -> Decimal {
        self.positions.values().map(Track::difference).fold(Decimal::ZERO, |a, b| a.saturating_add(b))
    }
}

/// One position's sides, as the two rule sets sold them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub sides: [SideTrack; 2],
    /// The last best bid seen of each side.
    pub last_bids: [Option<Decimal>; 2],
}

impl Track {
    fn difference(&self) -> Decimal {
        self.sides
            .iter()
            .zip(self.last_bids)
            .map(|(s, last)| {
                let price = |sold: Option<Sold>| sold.map(|s| s.price).or(last);
                match (price(s.shadow), price(s.active)) {
                    (Some(shadow), Some(active)) if s.shadow.is_some() || s.active.is_some() => {
                        shadow.saturating_sub(active).saturating_mul(s.shares)
                    }
                    _ => Decimal::ZERO,
                }
            })
            .fold(Decimal::ZERO, |a, b| a.saturating_add(b))
    }
}

/// When and at what best bid a side was (or would have been) sold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sold {
    pub at_ms: i64,
    pub price: Decimal,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideTrack {
    /// Shares held when the first of the two decided to sell.
    pub shares: Decimal,
    pub active: Option<Sold>,
    pub shadow: Option<Sold>,
}

/// A position evaluation where the two decided differently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesDiff {
    pub at_ms: i64,
    pub position: u64,
    /// What each decided (`None`: hold).
    pub active: Option<Exit>,
    pub shadow: Option<Exit>,
    pub shadow_reason: Option<String>,
    /// The best bid of each side then (YES, NO).
    pub bids: [Option<Decimal>; 2],
}

impl RulesDiff {
    /// The best bid the side a one-side exit sells stood at then (`None` for a close of both).
    #[must_use]
    pub fn bid_of(&self, exit: Exit) -> Option<Decimal> {
        match exit {
            Exit::Liquidate(l) | Exit::StopLoss(l) | Exit::TakeProfit(l) => self.bids[l.index()],
            Exit::CloseAll => None,
        }
    }
}

pub(super) fn ratio(part: u64, whole: u64) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn push_recent<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() == RECENT {
        list.pop_front();
    }
    list.push_back(item);
}

pub(super) fn decimal(micros: i64) -> Decimal {
    Decimal::new(micros, 6).normalize()
}

/// The markets a scorer's answer would have entered: at or above the threshold, not held, best
/// first (ties by market id, as the engine orders them), as many as there are free slots.
pub(super) fn would_enter(
    ids: &[String],
    scores: &[f32],
    threshold: f32,
    free_slots: usize,
    held: &[String],
) -> Vec<String> {
    let mut order: Vec<usize> =
        (0..ids.len().min(scores.len())).filter(|i| scores[*i] >= threshold).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then_with(|| ids[*a].cmp(&ids[*b])));
    order.into_iter().map(|i| ids[i].clone()).filter(|id| !held.contains(id)).take(free_slots).collect()
}

/// One scan's input as the shadow scorer saw it, and both answers.
pub(super) struct ScanCompared<'a> {
    pub at_ms: i64,
    pub ids: &'a [String],
    /// What the scorers were given, a row per id (the quotes the picks are bought and marked at).
    pub batch: &'a abi::MarketBatch,
    pub active: &'a [f32],
    pub shadow: &'a [f32],
    pub threshold: f32,
    pub free_slots: usize,
    pub held: &'a [String],
}

impl ScorerShadow {
    /// Takes in one scan; returns the markets the shadow would have entered.
    pub(super) fn compare(&mut self, scan: &ScanCompared<'_>) -> Vec<String> {
        self.scans += 1;
        self.id.last_ms = scan.at_ms;
        for (a, s) in scan.active.iter().zip(scan.shadow) {
            self.markets += 1;
            self.abs_diff_sum += f64::from((a - s).abs());
            if (*a >= scan.threshold) == (*s >= scan.threshold) {
                self.same_side += 1;
            }
        }
        let x: Vec<f64> = scan.active.iter().map(|v| f64::from(*v)).collect();
        let y: Vec<f64> = scan.shadow.iter().map(|v| f64::from(*v)).collect();
        self.last_correlation = crate::lab::spearman(&x, &y);
        let mine = would_enter(scan.ids, scan.shadow, scan.threshold, scan.free_slots, scan.held);
        let theirs = would_enter(scan.ids, scan.active, scan.threshold, scan.free_slots, scan.held);
        let only = |these: &[String], those: &[String]| -> Vec<String> {
            these.iter().filter(|m| !those.contains(m)).cloned().collect()
        };
        let diff = EntryDiff {
            at_ms: scan.at_ms,
            shadow_only: only(&mine, &theirs),
            active_only: only(&theirs, &mine),
        };
        self.follow_picks(scan, &diff);
        if mine == theirs {
            self.same_entries += 1;
        } else {
            push_recent(&mut self.recent, diff);
        }
        mine
    }

    /// Marks the followed picks at this scan's bids, then buys the new ones at its asks.
    fn follow_picks(&mut self, scan: &ScanCompared<'_>, diff: &EntryDiff) {
        let b = scan.batch;
        // A missing quote crosses as 0.
        let quote = |column: &[i64], i: usize| column.get(i).copied().filter(|q| *q > 0).map(decimal);
        let bids = |i: usize| [quote(&b.yes_bid, i), quote(&b.no_bid, i)];
        for (i, id) in scan.ids.iter().enumerate() {
            if self.picks.follows(id) {
                self.picks.mark(id, scan.at_ms, bids(i));
            }
        }
        let shadow = diff.shadow_only.iter().map(|m| (m, Picker::Shadow));
        for (market, by) in shadow.chain(diff.active_only.iter().map(|m| (m, Picker::Active))) {
            if let Some(i) = scan.ids.iter().position(|id| id == market) {
                let asks = [quote(&b.yes_ask, i), quote(&b.no_ask, i)];
                self.picks.pick(market, by, scan.at_ms, asks, bids(i));
            }
        }
    }
}

/// The sides an exit sells, given what the view holds.
fn sells(exit: Exit, view: &abi::PositionView) -> Vec<Leg> {
    let held = |l: Leg| match l {
        Leg::Yes => view.yes.shares > 0,
        Leg::No => view.no.shares > 0,
    };
    match exit {
        Exit::Liquidate(l) | Exit::StopLoss(l) | Exit::TakeProfit(l) => {
            vec![l].into_iter().filter(|l| held(*l)).collect()
        }
        Exit::CloseAll => Leg::BOTH.into_iter().filter(|l| held(*l)).collect(),
    }
}

/// One position evaluation as both rule sets answered it.
pub(super) struct Evaluation<'a> {
    pub at_ms: i64,
    pub position: u64,
    pub view: &'a abi::PositionView,
    pub active: Option<Exit>,
    pub shadow: Option<(Exit, &'a str)>,
}

impl RulesShadow {
    pub(super) fn compare(&mut self, e: &Evaluation<'_>) {
        self.checks += 1;
        self.id.last_ms = e.at_ms;
        let bids = [e.view.yes.best_bid.map(decimal), e.view.no.best_bid.map(decimal)];
        let shadow = e.shadow.map(|(x, _)| x);
        let agreed = e.active == shadow;
        if agreed {
            self.agreed += 1;
        } else {
            let active = e.active;
            // A disagreement that goes on (a sale the shadow keeps asking for) is listed once.
            let repeated = self
                .recent
                .iter()
                .rev()
                .find(|d| d.position == e.position)
                .is_some_and(|d| d.active == active && d.shadow == shadow);
            if !repeated {
                push_recent(
                    &mut self.recent,
                    RulesDiff {
                        at_ms: e.at_ms,
                        position: e.position,
                        active,
                        shadow,
                        shadow_reason: e.shadow.map(|(_, r)| r.to_owned()),
                        bids,
                    },
                );
            }
        }
        // Positions are followed from their first disagreement; until then the two are alike.
        if agreed && !self.positions.contains_key(&e.position) {
            return;
        }
        let track = self.positions.entry(e.position).or_default();
        for (i, bid) in bids.iter().enumerate() {
            if bid.is_some() {
                track.last_bids[i] = *bid;
            }
        }
        let shares = [decimal(e.view.yes.shares), decimal(e.view.no.shares)];
        let mut note = |exit: Option<Exit>, shadow: bool| {
            for leg in exit.map(|x| sells(x, e.view)).unwrap_or_default() {
                let i = leg.index();
                let side = &mut track.sides[i];
                let slot = if shadow { &mut side.shadow } else { &mut side.active };
                if slot.is_some() {
                    continue;
                }
                let Some(price) = bids[i] else { continue };
                if side.active.is_none() && side.shadow.is_none() {
                    side.shares = shares[i];
                }
                let slot = if shadow { &mut side.shadow } else { &mut side.active };
                *slot = Some(Sold { at_ms: e.at_ms, price });
            }
        };
        note(e.active, false);
        note(shadow, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn view(yes_bid: i64, no_bid: i64, yes_shares: i64, no_shares: i64) -> abi::PositionView {
        let leg =
            |bid, shares| abi::Leg { shares, entry_price: 500_000, best_bid: Some(bid), best_ask: None };
        abi::PositionView {
            yes: leg(yes_bid, yes_shares),
            no: leg(no_bid, no_shares),
            opened_at: 0,
            liquidated: None,
        }
    }

    #[test]
    fn a_shadow_that_sells_earlier_is_valued_at_the_bids_when_each_decided() {
        let mut r = RulesShadow::default();
        let shares = 100_000_000; // 100 shares
        // Both hold.
        r.compare(&Evaluation {
            at_ms: 1,
            position: 7,
            view: &view(480_000, 500_000, shares, shares),
            active: None,
            shadow: None,
        });
        // The shadow sells YES at 0.45; the active holds.
        let v = view(450_000, 530_000, shares, shares);
        r.compare(&Evaluation {
            at_ms: 2,
            position: 7,
            view: &v,
            active: None,
            shadow: Some((Exit::Liquidate(Leg::Yes), "eager")),
        });
        assert_eq!(r.pnl_difference(), Decimal::ZERO, "the active still holds YES at 0.45");
        // YES keeps falling; the active sells it at 0.34.
        let v = view(340_000, 640_000, shares, shares);
        r.compare(&Evaluation {
            at_ms: 3,
            position: 7,
            view: &v,
            active: Some(Exit::Liquidate(Leg::Yes)),
            shadow: None,
        });
        // 100 × (0.45 − 0.34)
        assert_eq!(r.pnl_difference(), dec!(11));
        assert_eq!((r.checks, r.agreed), (3, 1));
        assert_eq!(r.recent.len(), 2);
        assert_eq!(r.recent[0].shadow, Some(Exit::Liquidate(Leg::Yes)));
        assert_eq!(r.recent[0].bid_of(Exit::Liquidate(Leg::Yes)), Some(dec!(0.45)));
        // Asking again for the same sale is not a new difference.
        r.compare(&Evaluation {
            at_ms: 4,
            position: 7,
            view: &v,
            active: None,
            shadow: Some((Exit::Liquidate(Leg::Yes), "eager")),
        });
        r.compare(&Evaluation {
            at_ms: 5,
            position: 7,
            view: &v,
            active: None,
            shadow: Some((Exit::Liquidate(Leg::Yes), "eager")),
        });
        assert_eq!((r.recent.len(), r.checks), (3, 5));
        assert_eq!(r.recent[0].bids, [Some(dec!(0.45)), Some(dec!(0.53))]);
    }

    #[test]
    fn a_side_the_shadow_keeps_is_marked_at_the_last_bid_seen() {
        let mut r = RulesShadow::default();
        let shares = 10_000_000;
        r.compare(&Evaluation {
            at_ms: 1,
            position: 1,
            view: &view(300_000, 700_000, shares, shares),
            active: Some(Exit::Liquidate(Leg::Yes)),
            shadow: None,
        });
        // YES recovers after the active sold it; the shadow, still holding, gains.
        r.compare(&Evaluation {
            at_ms: 2,
            position: 1,
            view: &view(420_000, 580_000, 0, shares),
            active: None,
            shadow: None,
        });
        // 10 × (0.42 − 0.30)
        assert_eq!(r.pnl_difference(), dec!(1.2));
        // Agreeing on other positions follows nothing more.
        r.compare(&Evaluation { at_ms: 3, position: 2, view: &view(1, 1, 1, 1), active: None, shadow: None });
        assert_eq!(r.positions.len(), 1);
    }

    #[test]
    fn the_shadow_scorer_is_compared_on_scores_and_on_entries() {
        let ids: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| (*s).to_owned()).collect();
        let mut s = ScorerShadow::default();
        let quotes = |yes: [i64; 2], no: [i64; 2]| abi::MarketFeatures {
            yes_bid: Some(yes[0]),
            yes_ask: Some(yes[1]),
            no_bid: Some(no[0]),
            no_ask: Some(no[1]),
            ..abi::MarketFeatures::default()
        };
        let even = quotes([490_000, 500_000], [490_000, 500_000]);
        let batch = abi::MarketBatch::from_rows(&[even; 4]);
        let entered = s.compare(&ScanCompared {
            at_ms: 5,
            ids: &ids,
            batch: &batch,
            active: &[9.0, 7.0, 3.0, 6.5],
            shadow: &[2.0, 7.5, 8.0, 6.0],
            threshold: 6.0,
            free_slots: 2,
            held: &["c".to_owned()],
        });
        // The shadow: c is held, so b then d; the active: a then b.
        assert_eq!(entered, ["b", "d"]);
        assert_eq!(s.recent[0].shadow_only, ["d"]);
        assert_eq!(s.recent[0].active_only, ["a"]);
        assert_eq!((s.markets, s.same_side), (4, 2));
        assert_eq!(s.mean_abs_diff(), Some((7.0 + 0.5 + 5.0 + 0.5) / 4.0));
        assert_eq!(s.agreement(), Some(0.5));

        // The picks only one would have made are bought on paper (100 shares a side at 0.50) and
        // marked at the next scan's bids: the shadow's d rose, the active's a fell.
        assert_eq!(s.picks.pairs.keys().collect::<Vec<_>>(), ["a", "d"]);
        let later = abi::MarketBatch::from_rows(&[
            quotes([300_000, 310_000], [600_000, 610_000]),
            even,
            even,
            quotes([700_000, 710_000], [320_000, 330_000]),
        ]);
        s.compare(&ScanCompared {
            at_ms: 6,
            ids: &ids,
            batch: &later,
            active: &[1.0; 4],
            shadow: &[1.0; 4],
            threshold: 6.0,
            free_slots: 2,
            held: &[],
        });
        // d: 100 × 0.70 + 100 × 0.32 − 100; a: 100 × 0.30 + 100 × 0.60 − 100.
        assert_eq!(s.picks.total(Picker::Shadow).pnl, dec!(2));
        assert_eq!(s.picks.total(Picker::Active).pnl, dec!(-10));
        assert_eq!(s.picks.difference(), dec!(12));
    }
}
