//! Closed positions in memory: a few fields of each, built from the store when the engine opens
//! and kept in step as positions are written, so statistics, charts, today's P&L and History
//! pages never decode every position the bot ever held. The store stays the source of truth:
//! History pages load their positions from it by id.

use crate::store::{Position, PositionStatus};
use arc_swap::ArcSwap;
use rust_decimal::Decimal;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A position no longer open, in the fields the dashboard filters, counts and charts by.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedSummary {
    pub id: u64,
    pub market_id: String,
    pub question: String,
    /// The question in lower case, computed once for the case-insensitive filter.
    question_lower: String,
    pub opened_at_ms: i64,
    /// When it closed (the last write, for a record that lacks the time).
    pub closed_at_ms: i64,
    pub status: PositionStatus,
    /// What it realised: sales and payouts less the cost of the shares gone and every fee.
    pub pnl: Decimal,
    pub fees: Decimal,
    /// The liquidation rule sold one of its sides.
    pub liquidated: bool,
    pub version: u64,
}

impl ClosedSummary {
    /// The summary of a position (meant for one no longer open: its P&L is what it realised).
    #[must_use]
    pub fn of(p: &Position) -> Self {
        Self {
            id: p.id,
            market_id: p.market_id.clone(),
            question: p.question.clone(),
            question_lower: p.question.to_lowercase(),
            opened_at_ms: p.opened_at_ms,
            closed_at_ms: p.closed_at_ms.unwrap_or(p.updated_at_ms),
            status: p.status,
            pnl: super::mark(p, [None, None]).realised,
            fees: p.legs.iter().map(|l| l.fees).sum(),
            liquidated: p.liquidated.is_some(),
            version: p.version,
        }
    }

    /// Whether anything was traded. An entry that bought nothing is listed in the history but
    /// left out of statistics and charts, where it would only count as an even result.
    #[must_use]
    pub fn traded(&self) -> bool {
        self.status != PositionStatus::Failed
    }

    /// Whether `needle_lower` (already lower case) is the market id or part of the question.
    #[must_use]
    pub fn matches_market(&self, needle_lower: &str) -> bool {
        self.market_id.eq_ignore_ascii_case(needle_lower) || self.question_lower.contains(needle_lower)
    }

    /// The sign of its P&L: a win above zero, a loss below, even at exactly zero.
    #[must_use]
    pub fn result(&self) -> Ordering {
        self.pnl.cmp(&Decimal::ZERO)
    }

    fn key(&self) -> (i64, u64) {
        (self.closed_at_ms, self.id)
    }
}

/// Statistics over the closed positions that traded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryStats {
    pub closed: u64,
    pub wins: u64,
    pub losses: u64,
    /// Positions a side of which the liquidation rule sold.
    pub liquidations: u64,
    /// Mean time from entry to close, milliseconds.
    pub avg_hold_ms: Option<i64>,
    pub best: Option<Decimal>,
    pub worst: Option<Decimal>,
    /// Their P&L and fees, all together.
    pub pnl: Decimal,
    pub fees: Decimal,
}

impl HistoryStats {
    fn of(entries: &[Arc<ClosedSummary>]) -> Self {
        let mut s = Self::default();
        let mut held_ms: i128 = 0;
        for e in entries.iter().filter(|e| e.traded()) {
            s.closed += 1;
            match e.result() {
                Ordering::Greater => s.wins += 1,
                Ordering::Less => s.losses += 1,
                Ordering::Equal => {}
            }
            s.liquidations += u64::from(e.liquidated);
            held_ms += i128::from((e.closed_at_ms - e.opened_at_ms).max(0));
            s.best = Some(s.best.map_or(e.pnl, |b| b.max(e.pnl)));
            s.worst = Some(s.worst.map_or(e.pnl, |w| w.min(e.pnl)));
            s.pnl += e.pnl;
            s.fees += e.fees;
        }
        if s.closed > 0 {
            s.avg_hold_ms = i64::try_from(held_ms / i128::from(s.closed)).ok();
        }
        s
    }

    /// Wins over closed positions, percent to two places; `None` before the first close.
    #[must_use]
    pub fn win_rate_percent(&self) -> Option<Decimal> {
        (self.closed > 0).then(|| {
            (Decimal::from(self.wins) * Decimal::ONE_HUNDRED / Decimal::from(self.closed)).round_dp(2)
        })
    }
}

/// Every closed position as of one moment: an immutable snapshot, cheap to share.
#[derive(Debug, Clone, Default)]
pub struct ClosedHistory {
    /// Oldest close first, ties by id.
    entries: Vec<Arc<ClosedSummary>>,
    /// Position id → index in `entries`.
    by_id: HashMap<u64, usize>,
    stats: HistoryStats,
}

impl ClosedHistory {
    /// The history of the positions given that are no longer open.
    pub fn new<'a>(positions: impl IntoIterator<Item = &'a Position>) -> Self {
        let mut entries: Vec<Arc<ClosedSummary>> = positions
            .into_iter()
            .filter(|p| !p.status.is_open())
            .map(|p| Arc::new(ClosedSummary::of(p)))
            .collect();
        entries.sort_by_key(|e| e.key());
        Self::indexed(entries)
    }

    fn indexed(entries: Vec<Arc<ClosedSummary>>) -> Self {
        let by_id = entries.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        let stats = HistoryStats::of(&entries);
        Self { entries, by_id, stats }
    }

    /// Closed positions, traded or not.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One closed position.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<&ClosedSummary> {
        self.by_id.get(&id).map(|i| &*self.entries[*i])
    }

    /// Every closed position, oldest close first (ties by id).
    #[must_use]
    pub fn oldest_first(&self) -> &[Arc<ClosedSummary>] {
        &self.entries
    }

    /// Every closed position, newest close first.
    pub fn newest_first(&self) -> impl Iterator<Item = &ClosedSummary> {
        self.entries.iter().rev().map(|e| &**e)
    }

    /// Statistics over those that traded.
    #[must_use]
    pub fn stats(&self) -> &HistoryStats {
        &self.stats
    }

    /// Those closed at or after `since_ms`, oldest first.
    #[must_use]
    pub fn closed_since(&self, since_ms: i64) -> &[Arc<ClosedSummary>] {
        let from = self.entries.partition_point(|e| e.closed_at_ms < since_ms);
        &self.entries[from..]
    }

    /// P&L of the positions closed at or after `since_ms`.
    #[must_use]
    pub fn pnl_since(&self, since_ms: i64) -> Decimal {
        self.closed_since(since_ms).iter().map(|e| e.pnl).sum()
    }

    /// Realised equity: `initial` at `start_ms`, then after each close that traded, in close order.
    #[must_use]
    pub fn equity(&self, initial: Decimal, start_ms: i64) -> Vec<(i64, Decimal)> {
        let mut equity = initial;
        let mut out = Vec::with_capacity(self.entries.len() + 1);
        out.push((start_ms, initial));
        for e in self.entries.iter().filter(|e| e.traded()) {
            equity += e.pnl;
            out.push((e.closed_at_ms, equity));
        }
        out
    }

    /// (position id, close time, P&L) of each close that traded, in close order.
    #[must_use]
    pub fn per_position(&self) -> Vec<(u64, i64, Decimal)> {
        self.entries.iter().filter(|e| e.traded()).map(|e| (e.id, e.closed_at_ms, e.pnl)).collect()
    }

    /// This history once `p` is written: added or replaced when no longer open, taken out when
    /// open again (a trade undone at settlement reopens a position); `None` when nothing changes,
    /// including for a copy older than the one held.
    #[must_use]
    pub fn with(&self, p: &Position) -> Option<Self> {
        let held = self.by_id.get(&p.id).copied();
        if let Some(i) = held
            && self.entries[i].version > p.version
        {
            return None;
        }
        if p.status.is_open() {
            let i = held?;
            let mut entries = self.entries.clone();
            entries.remove(i);
            return Some(Self::indexed(entries));
        }
        let summary = ClosedSummary::of(p);
        if held.is_some_and(|i| *self.entries[i] == summary) {
            return None;
        }
        let mut entries = self.entries.clone();
        if let Some(i) = held {
            entries.remove(i);
        }
        // Closes usually come in time order, so this is nearly always the end.
        let at = entries.partition_point(|e| e.key() < summary.key());
        entries.insert(at, Arc::new(summary));
        Some(Self::indexed(entries))
    }
}

/// The engine's current history, replaced whole on each change so readers never wait.
#[derive(Debug, Default)]
pub(super) struct History {
    current: ArcSwap<ClosedHistory>,
    /// One change at a time: two concurrent changes would each start from the same snapshot.
    changing: Mutex<()>,
}

impl History {
    pub(super) fn snapshot(&self) -> Arc<ClosedHistory> {
        self.current.load_full()
    }

    pub(super) fn replace(&self, history: ClosedHistory) {
        let _one = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.current.store(Arc::new(history));
    }

    /// Takes a position just written into account.
    pub(super) fn note(&self, p: &Position) {
        let _one = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(next) = self.current.load().with(p) {
            self.current.store(Arc::new(next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Leg, LegState, Purpose};
    use rust_decimal_macros::dec;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    /// A position that bought 100 YES for `cost` and sold them for `proceeds`, paying `fees`.
    fn closed(id: u64, closed_at: i64, cost: Decimal, proceeds: Decimal, fees: Decimal) -> Position {
        let yes = LegState {
            token: format!("y{id}"),
            outcome: "Yes".into(),
            bought: dec!(100),
            cost,
            sold: dec!(100),
            proceeds,
            fees,
            exited_at_ms: Some(closed_at),
            exit: Some(Purpose::Close),
        };
        let no = LegState { token: format!("n{id}"), outcome: "No".into(), ..LegState::default() };
        Position {
            id,
            market_id: format!("0xM{id}"),
            question: format!("Will Team {id} win?"),
            opened_at_ms: closed_at - 2 * HOUR,
            capital: cost,
            legs: [yes, no],
            status: PositionStatus::Closed,
            closed_at_ms: Some(closed_at),
            close_reason: Some("manual close".into()),
            score: Some(7.0),
            updated_at_ms: closed_at,
            version: 3,
            ..Position::blank()
        }
    }

    /// Five closes over two days (the second day starts at `DAY`):
    /// #1 day 1 10:00 +12.50; #2 day 1 11:00 −20 (liquidated); #3 day 1 12:00 bought nothing;
    /// #4 day 2 01:00 even (40 → 40.20 less 0.20 fees); #5 day 2 09:00 +7.25.
    fn worked() -> Vec<Position> {
        let mut two = closed(2, 11 * HOUR, dec!(50), dec!(30), Decimal::ZERO);
        two.liquidated = Some(Leg::Yes);
        let mut three = closed(3, 12 * HOUR, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        three.legs[0] = LegState::default();
        three.status = PositionStatus::Failed;
        vec![
            closed(5, DAY + 9 * HOUR, dec!(40), dec!(47.25), Decimal::ZERO),
            closed(1, 10 * HOUR, dec!(50), dec!(62.50), Decimal::ZERO),
            two,
            three,
            closed(4, DAY + HOUR, dec!(40), dec!(40.20), dec!(0.20)),
        ]
    }

    #[test]
    fn statistics_today_and_equity_of_the_worked_example() {
        let h = ClosedHistory::new(&worked());
        assert_eq!(h.len(), 5);
        let order: Vec<u64> = h.oldest_first().iter().map(|e| e.id).collect();
        assert_eq!(order, [1, 2, 3, 4, 5], "close order, whatever the store's order");
        let s = h.stats();
        assert_eq!(
            (s.closed, s.wins, s.losses, s.liquidations),
            (4, 2, 1, 1),
            "the failed entry is left out"
        );
        assert_eq!(s.win_rate_percent(), Some(dec!(50)));
        assert_eq!((s.best, s.worst), (Some(dec!(12.50)), Some(dec!(-20))));
        assert_eq!(s.pnl, dec!(-0.25));
        assert_eq!(s.fees, dec!(0.20));
        assert_eq!(s.avg_hold_ms, Some(2 * HOUR));
        // Day 2 (UTC): #4 (0) and #5 (+7.25).
        assert_eq!(h.pnl_since(DAY), dec!(7.25));
        assert_eq!(h.pnl_since(2 * DAY), Decimal::ZERO);
        assert_eq!(
            h.equity(dec!(10000), 0),
            vec![
                (0, dec!(10000)),
                (10 * HOUR, dec!(10012.50)),
                (11 * HOUR, dec!(9992.50)),
                (DAY + HOUR, dec!(9992.50)),
                (DAY + 9 * HOUR, dec!(9999.75)),
            ]
        );
        assert_eq!(h.per_position().len(), 4);
        assert_eq!(h.get(4).map(ClosedSummary::result), Some(Ordering::Equal));
        let newest: Vec<u64> = h.newest_first().map(|e| e.id).collect();
        assert_eq!(newest, [5, 4, 3, 2, 1]);
        assert!(h.get(2).unwrap().matches_market("team 2") && h.get(2).unwrap().matches_market("0xm2"));
        assert!(!h.get(2).unwrap().matches_market("team 3"));
        // A third of wins rounds to two places.
        let thirds = HistoryStats { closed: 3, wins: 1, ..HistoryStats::default() };
        assert_eq!(thirds.win_rate_percent(), Some(dec!(33.33)));
        assert_eq!(HistoryStats::default().win_rate_percent(), None);
    }

    #[test]
    fn writes_add_replace_reopen_and_stale_copies_change_nothing() {
        let h = ClosedHistory::new(&worked());
        // An open position that was never closed: nothing to do.
        let mut open = closed(9, DAY, dec!(10), dec!(10), Decimal::ZERO);
        open.status = PositionStatus::Active;
        assert!(h.with(&open).is_none());
        // It closes at the start of day 2, between #3 and #4, with +1.
        open.status = PositionStatus::Closed;
        open.legs[0].proceeds = dec!(11);
        open.version = 4;
        let h = h.with(&open).expect("added");
        assert_eq!(h.newest_first().map(|e| e.id).take(4).collect::<Vec<_>>(), [5, 4, 9, 3]);
        assert_eq!(h.stats().pnl, dec!(0.75));
        assert!(h.with(&open).is_none(), "the same write again changes nothing");
        // A stale copy (older version) is ignored; a newer one replaces.
        let mut stale = open.clone();
        stale.version = 2;
        stale.legs[0].proceeds = dec!(99);
        assert!(h.with(&stale).is_none());
        let mut newer = open.clone();
        newer.version = 5;
        newer.legs[0].proceeds = dec!(12);
        let h = h.with(&newer).expect("replaced");
        assert_eq!(h.get(9).map(|e| e.pnl), Some(dec!(2)));
        assert_eq!(h.len(), 6);
        // Undone at settlement: open again, out of the history.
        newer.version = 6;
        newer.status = PositionStatus::Liquidated;
        let h = h.with(&newer).expect("removed");
        assert!(h.get(9).is_none());
        assert_eq!((h.len(), h.stats().pnl), (5, dec!(-0.25)));
    }

    #[test]
    fn the_live_cell_serves_snapshots() {
        let cell = History::default();
        cell.replace(ClosedHistory::new(&worked()));
        let before = cell.snapshot();
        cell.note(&closed(7, 3 * DAY, dec!(1), dec!(2), Decimal::ZERO));
        assert_eq!(before.len(), 5, "a snapshot taken earlier does not change");
        assert_eq!(cell.snapshot().len(), 6);
    }
}
