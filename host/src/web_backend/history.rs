//! History pages and trades for the dashboard: positions filtered in the engine's in-memory
//! summaries of closed positions (only a page's positions are read from the store), and trades
//! streamed from the store in chunks, joined with their positions, so 100,000 trades export with
//! flat memory.

use super::views;
use crate::engine::{ClosedHistory, ClosedSummary};
use crate::store::{Position, Reader, Result, TradeRecord};
use equilibrage_web::{HistoryFilter, HistoryPage, Outcome, TradeList, TradeView};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Trades read from the store at a time.
const CHUNK: usize = 1_000;
/// Trades one request examines at most: a filter that matches nothing, or a deep offset, costs
/// a bounded search rather than a walk through every trade ever made.
pub(super) const SEARCHED: usize = 200_000;

/// A filter made ready to test many rows: the market text lower-cased once.
#[derive(Debug)]
pub(super) struct Matcher<'a> {
    filter: &'a HistoryFilter,
    needle: Option<String>,
}

impl<'a> Matcher<'a> {
    pub(super) fn new(filter: &'a HistoryFilter) -> Self {
        let needle = filter.market.as_deref().map(str::trim).filter(|m| !m.is_empty()).map(str::to_lowercase);
        Self { filter, needle }
    }

    /// Whether `at_ms` is within `from`..=`to`.
    fn in_time(&self, at_ms: i64) -> bool {
        self.filter.from_ms.is_none_or(|f| at_ms >= f) && self.filter.to_ms.is_none_or(|t| at_ms <= t)
    }

    /// Whether a position's market and result match; `result` is `None` for a position still
    /// open, which matches only when no outcome is asked for.
    fn position(&self, market_matches: impl FnOnce(&str) -> bool, result: Option<Ordering>) -> bool {
        let outcome_ok = match (self.filter.outcome, result) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(Outcome::Win), Some(r)) => r == Ordering::Greater,
            (Some(Outcome::Loss), Some(r)) => r == Ordering::Less,
            (Some(Outcome::Even), Some(r)) => r == Ordering::Equal,
        };
        outcome_ok && self.needle.as_deref().is_none_or(market_matches)
    }

    fn closed(&self, c: &ClosedSummary) -> bool {
        self.position(|n| c.matches_market(n), Some(c.result()))
    }
}

/// Closed positions matching `filter` (closed within `from`..=`to`), newest close first: the
/// page's positions from the store, the count and P&L of all that match.
///
/// # Errors
/// Storage errors reading the page's positions.
pub(super) fn page(
    read: &Reader,
    closed: &ClosedHistory,
    filter: &HistoryFilter,
    offset: usize,
    limit: usize,
) -> Result<HistoryPage> {
    let m = Matcher::new(filter);
    let mut page = HistoryPage { offset, limit, ..HistoryPage::default() };
    let mut ids = Vec::with_capacity(limit.min(500));
    for c in closed.newest_first().filter(|c| m.in_time(c.closed_at_ms) && m.closed(c)) {
        if page.total >= offset && ids.len() < limit {
            ids.push(c.id);
        }
        page.total += 1;
        page.total_pnl += c.pnl;
    }
    for id in ids {
        // Gone from the store only if the file was edited by hand: the page is one shorter then.
        if let Some(p) = read.position(id)? {
            page.positions.push(views::position(&p, [None, None], [None, None]));
        }
    }
    Ok(page)
}

/// What a trade needs to know of a position it does not find among the closed summaries.
#[derive(Debug)]
struct Known {
    market_id: String,
    question: String,
    question_lower: String,
    /// `None` while open.
    result: Option<Ordering>,
}

impl Known {
    fn of(p: &Position) -> Self {
        let result = (!p.status.is_open()).then(|| ClosedSummary::of(p).result());
        Self {
            market_id: p.market_id.clone(),
            question: p.question.clone(),
            question_lower: p.question.to_lowercase(),
            result,
        }
    }
}

/// The positions trades belong to: the closed summaries, the open positions, and any other read
/// from the store once (a position written after the snapshots were taken).
#[derive(Debug)]
pub(super) struct Positions<'a> {
    closed: &'a ClosedHistory,
    others: HashMap<u64, Option<Known>>,
}

impl<'a> Positions<'a> {
    pub(super) fn new(closed: &'a ClosedHistory, open: &[Position]) -> Self {
        let others = open.iter().map(|p| (p.id, Some(Known::of(p)))).collect();
        Self { closed, others }
    }

    /// The trade as the dashboard shows it, if it matches; reads its position from the store the
    /// first time when neither snapshot has it.
    fn view(&mut self, read: &Reader, m: &Matcher<'_>, t: &TradeRecord) -> Result<Option<TradeView>> {
        if !m.in_time(t.at_ms) {
            return Ok(None);
        }
        if let Some(c) = self.closed.get(t.position_id) {
            return Ok(m.closed(c).then(|| views::trade(t, &c.market_id, &c.question)));
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.others.entry(t.position_id) {
            slot.insert(read.position(t.position_id)?.map(|p| Known::of(&p)));
        }
        Ok(match self.others.get(&t.position_id).and_then(Option::as_ref) {
            Some(k) => {
                let matches = m.position(
                    |n| k.market_id.eq_ignore_ascii_case(n) || k.question_lower.contains(n),
                    k.result,
                );
                matches.then(|| views::trade(t, &k.market_id, &k.question))
            }
            // A trade of a position the store does not hold: shown only unfiltered.
            None => (m.needle.is_none() && m.filter.outcome.is_none()).then(|| views::trade(t, "", "")),
        })
    }
}

/// Trades matching `filter`, newest first, `limit` of them from `offset`, among the newest
/// `searched` trades at most (the list says whether it searched them all).
///
/// # Errors
/// Storage errors.
pub(super) fn trades(
    read: &Reader,
    positions: &mut Positions<'_>,
    filter: &HistoryFilter,
    offset: usize,
    limit: usize,
    searched: usize,
) -> Result<TradeList> {
    let m = Matcher::new(filter);
    let (mut skipped, mut out) = (0, Vec::with_capacity(limit.min(CHUNK)));
    let (mut before, mut examined) = (None, 0_usize);
    let mut complete = true;
    while out.len() < limit {
        if examined >= searched {
            complete = false;
            break;
        }
        let chunk = read.trades_before(before, CHUNK.min(searched - examined))?;
        let Some(last) = chunk.last() else { break };
        before = Some(last.id);
        examined += chunk.len();
        for t in &chunk {
            if let Some(view) = positions.view(read, &m, t)? {
                if skipped < offset {
                    skipped += 1;
                } else if out.len() < limit {
                    out.push(view);
                }
            }
        }
    }
    Ok(TradeList { trades: out, complete })
}

/// Every trade matching `filter`, oldest first, handed to `each` until it returns false.
///
/// # Errors
/// Storage errors.
pub(super) fn each_trade(
    read: &Reader,
    positions: &mut Positions<'_>,
    filter: &HistoryFilter,
    each: &mut dyn FnMut(&TradeView) -> bool,
) -> Result<()> {
    let m = Matcher::new(filter);
    let mut after = None;
    loop {
        let chunk = read.trades_after(after, CHUNK)?;
        let Some(last) = chunk.last() else { return Ok(()) };
        after = Some(last.id);
        for t in &chunk {
            if let Some(view) = positions.view(read, &m, t)?
                && !each(&view)
            {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Action, Leg, LegState, PositionStatus, Purpose, Settlement, Store};
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    fn position(
        id: u64,
        question: &str,
        closed_at: Option<i64>,
        cost: Decimal,
        proceeds: Decimal,
    ) -> Position {
        let yes = LegState {
            token: format!("y{id}"),
            outcome: "Yes".into(),
            bought: dec!(100),
            cost,
            sold: if closed_at.is_some() { dec!(100) } else { Decimal::ZERO },
            proceeds,
            ..LegState::default()
        };
        Position {
            id,
            market_id: format!("0xM{id}"),
            question: question.into(),
            opened_at_ms: closed_at.unwrap_or(DAY) - HOUR,
            capital: cost,
            legs: [yes, LegState { token: format!("n{id}"), outcome: "No".into(), ..LegState::default() }],
            status: if closed_at.is_some() { PositionStatus::Closed } else { PositionStatus::Active },
            closed_at_ms: closed_at,
            updated_at_ms: closed_at.unwrap_or(0),
            version: 1,
            ..Position::blank()
        }
    }

    fn trade(id: u64, position_id: u64, at_ms: i64) -> TradeRecord {
        TradeRecord {
            id,
            position_id,
            leg: Leg::Yes,
            action: if id % 2 == 1 { Action::Buy } else { Action::Sell },
            purpose: if id % 2 == 1 { Purpose::Entry } else { Purpose::Close },
            client_id: format!("c{id}"),
            order_id: String::new(),
            exchange_trade_ids: vec![],
            price: dec!(0.5),
            shares: dec!(100),
            notional: dec!(50),
            fee: Decimal::ZERO,
            status: Settlement::Confirmed,
            tx_hash: None,
            at_ms,
            reason: String::new(),
            decided_by: None,
        }
    }

    /// Three closed positions — #1 "Trump wins?" +10 on day 1, #2 "Rain in Paris?" −5 on day 2,
    /// #3 "Trump loses?" even on day 3 — and #4 "Trump in Paris?" still open. Each closed one has
    /// a buy at open and a sale at close; the open one a buy.
    fn fixture() -> (tempfile::TempDir, Store, ClosedHistory, Vec<Position>) {
        let positions = vec![
            position(1, "Trump wins?", Some(DAY + 10 * HOUR), dec!(50), dec!(60)),
            position(2, "Rain in Paris?", Some(2 * DAY + 10 * HOUR), dec!(50), dec!(45)),
            position(3, "Trump loses?", Some(3 * DAY + 10 * HOUR), dec!(50), dec!(50)),
            position(4, "Trump in Paris?", None, dec!(50), Decimal::ZERO),
        ];
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.redb")).unwrap();
        let stored = positions.clone();
        store
            .write_blocking(move |w| {
                let mut id = 0;
                for p in &stored {
                    id += 1;
                    w.put_trade(&trade(id, p.id, p.opened_at_ms))?;
                    if let Some(at) = p.closed_at_ms {
                        id += 1;
                        w.put_trade(&trade(id, p.id, at))?;
                    }
                    w.put_position(p)?;
                }
                Ok(())
            })
            .unwrap();
        let closed = ClosedHistory::new(&positions);
        let open = positions.into_iter().filter(|p| p.status.is_open()).collect();
        (dir, store, closed, open)
    }

    fn filter(market: Option<&str>, outcome: Option<Outcome>) -> HistoryFilter {
        HistoryFilter { market: market.map(Into::into), outcome, ..HistoryFilter::default() }
    }

    #[test]
    fn pages_filter_count_and_sum_over_all_matches() {
        let (_dir, store, closed, _) = fixture();
        let read = store.read().unwrap();
        let ids = |p: &HistoryPage| p.positions.iter().map(|p| p.id).collect::<Vec<_>>();
        let all = page(&read, &closed, &HistoryFilter::default(), 0, 2).unwrap();
        assert_eq!((ids(&all), all.total, all.total_pnl), (vec![3, 2], 3, dec!(5)));
        let next = page(&read, &closed, &HistoryFilter::default(), 2, 2).unwrap();
        assert_eq!((ids(&next), next.total, next.offset), (vec![1], 3, 2));
        assert_eq!(next.positions[0].pnl, dec!(10));
        let trump = page(&read, &closed, &filter(Some(" TRUMP "), None), 0, 10).unwrap();
        assert_eq!((ids(&trump), trump.total_pnl), (vec![3, 1], dec!(10)));
        let by_id = page(&read, &closed, &filter(Some("0xm2"), None), 0, 10).unwrap();
        assert_eq!(ids(&by_id), vec![2]);
        for (outcome, expected) in [(Outcome::Win, 1), (Outcome::Loss, 2), (Outcome::Even, 3)] {
            let p = page(&read, &closed, &filter(None, Some(outcome)), 0, 10).unwrap();
            assert_eq!(ids(&p), vec![expected], "{outcome:?}");
        }
        // Day 2 only, by close time, both ends inclusive.
        let day2 = HistoryFilter {
            from_ms: Some(2 * DAY),
            to_ms: Some(2 * DAY + 10 * HOUR),
            ..HistoryFilter::default()
        };
        assert_eq!(ids(&page(&read, &closed, &day2, 0, 10).unwrap()), vec![2]);
        let beyond = page(&read, &closed, &HistoryFilter::default(), 10, 10).unwrap();
        assert_eq!((beyond.positions.len(), beyond.total), (0, 3));
    }

    #[test]
    fn trades_match_their_position_and_their_own_time() {
        let (_dir, store, closed, open) = fixture();
        let read = store.read().unwrap();
        // Trades: 1 buy #1, 2 sell #1, 3 buy #2, 4 sell #2, 5 buy #3, 6 sell #3, 7 buy #4 (open).
        let ids = |f: &HistoryFilter, offset, limit| {
            let mut positions = Positions::new(&closed, &open);
            let found = trades(&read, &mut positions, f, offset, limit, SEARCHED).unwrap();
            assert!(found.complete);
            found.trades.iter().map(|t| t.id).collect::<Vec<_>>()
        };
        assert_eq!(ids(&HistoryFilter::default(), 0, 100), [7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(ids(&HistoryFilter::default(), 2, 3), [5, 4, 3]);
        assert_eq!(ids(&filter(Some("trump"), None), 0, 100), [7, 6, 5, 2, 1], "the open one too");
        assert_eq!(ids(&filter(Some("paris"), Some(Outcome::Loss)), 0, 100), [4, 3]);
        assert_eq!(ids(&filter(None, Some(Outcome::Win)), 0, 100), [2, 1], "open positions have no outcome");
        // The trade's own time: #2's buy (day 2 09:00) and sale (10:00), #3's buy is day 3.
        let day2 =
            HistoryFilter { from_ms: Some(2 * DAY), to_ms: Some(3 * DAY - 1), ..HistoryFilter::default() };
        assert_eq!(ids(&day2, 0, 100), [4, 3]);
        // A search is bounded: with room for 3 trades, a filter that matches nothing, or a deep
        // offset, stops after the newest 3 and says so.
        let mut positions = Positions::new(&closed, &open);
        let nothing =
            trades(&read, &mut positions, &filter(Some("no such market"), None), 0, 100, 3).unwrap();
        assert_eq!((nothing.trades.len(), nothing.complete), (0, false));
        let deep = trades(&read, &mut positions, &HistoryFilter::default(), 1_000_000, 10, 3).unwrap();
        assert_eq!((deep.trades.len(), deep.complete), (0, false));
        let newest = trades(&read, &mut positions, &HistoryFilter::default(), 0, 2, 3).unwrap();
        assert_eq!(newest.trades.iter().map(|t| t.id).collect::<Vec<_>>(), [7, 6]);
        assert!(newest.complete, "it found what was asked before the bound");

        let mut seen = Vec::new();
        let mut positions = Positions::new(&closed, &open);
        each_trade(&read, &mut positions, &filter(Some("trump"), None), &mut |t| {
            seen.push((t.id, t.question.clone()));
            seen.len() < 3
        })
        .unwrap();
        assert_eq!(
            seen,
            [(1, "Trump wins?".to_owned()), (2, "Trump wins?".to_owned()), (5, "Trump loses?".to_owned())],
            "oldest first, stopping when asked"
        );
    }

    #[test]
    fn a_position_missing_from_the_snapshots_is_read_from_the_store() {
        let (_dir, store, _, _) = fixture();
        let read = store.read().unwrap();
        // Snapshots taken before anything closed or opened: every position comes from the store.
        let empty = ClosedHistory::default();
        let mut positions = Positions::new(&empty, &[]);
        let got = trades(&read, &mut positions, &filter(Some("rain"), Some(Outcome::Loss)), 0, 10, SEARCHED)
            .unwrap()
            .trades;
        assert_eq!(got.iter().map(|t| t.id).collect::<Vec<_>>(), [4, 3]);
        assert_eq!(got[0].market_id, "0xM2");
    }

    /// 100,000 trades stream within the time the export allows (measured in release builds; a
    /// debug build only checks that it finishes).
    #[test]
    fn a_hundred_thousand_trades_stream_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("big.redb")).unwrap();
        let p = position(1, "Big?", Some(DAY), dec!(1), dec!(2));
        let stored = p.clone();
        store
            .write_blocking(move |w| {
                w.put_position(&stored)?;
                for id in 1..=100_000 {
                    w.put_trade(&trade(id, 1, i64::try_from(id).unwrap_or(0)))?;
                }
                Ok(())
            })
            .unwrap();
        let closed = ClosedHistory::new([&p]);
        let read = store.read().unwrap();
        let started = std::time::Instant::now();
        let mut count = 0_u64;
        let mut positions = Positions::new(&closed, &[]);
        each_trade(&read, &mut positions, &HistoryFilter::default(), &mut |_| {
            count += 1;
            true
        })
        .unwrap();
        let took = started.elapsed();
        eprintln!("100,000 trades streamed in {took:?}");
        assert_eq!(count, 100_000);
        if !cfg!(debug_assertions) {
            assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        }
    }
}
