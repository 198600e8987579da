//! An in-memory store's price history: markets in a hash map, each market's points in time
//! order in chunks, in place of the redb table, so a point a backtest's scan records costs a
//! push at the end, not a copy-on-write B-tree page per market.
//!
//! The file store keeps its history in the `PRICES` table as before; only a store made by
//! [`Store::in_memory`](super::Store::in_memory) (a backtest's, which nothing outlives) uses this.
//! A write's price changes are staged and applied when its transaction commits, so an aborted
//! or panicking write leaves the history as it was, as the table would. Two differences from the
//! table, neither visible to the engine: pruning inside a write looks at the points committed
//! before that write, and a [`Reader`](super::Reader) sees the history as of its call, not as of
//! its snapshot (an in-memory store writes on its caller's thread, between reads).

use std::collections::{BTreeMap, VecDeque};

use crate::fast_hash::FastHashMap;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

use super::PricePoint;
use super::packed_point::Packed;

/// Every market's points, by market. A scan's write finds each of its hundreds of markets by
/// one hash; the rare walks in market order (pruning, a whole read) sort the ids they visit.
/// A market's id is the one its first point came with, shared with the engine's own (a point
/// found by it compares bytes the engine has just read, not a copy elsewhere in memory).
type Markets = FastHashMap<Arc<str>, Points>;

/// One market's points, oldest first, one per time, in chunks of at most [`CHUNK`] points (a
/// chunk may grow past it by points put out of order). Points come in time order and leave
/// oldest first, so the newest chunk takes them at its end and the oldest chunk loses them at
/// its start; a point out of order is placed by binary search. A month of a market's points
/// then never moves once written, where one growing buffer was copied, and faulted in afresh,
/// at every doubling. Points are packed ([`Packed`]: 48 bytes, not 112); the rare one with a
/// quote that does not pack is kept whole in `wide`, by time, behind a stand-in in its chunk.
#[derive(Debug, Default)]
struct Points {
    /// Never an empty chunk; the chunks' times ascend across them.
    chunks: VecDeque<Vec<Packed>>,
    wide: BTreeMap<i64, PricePoint>,
    /// Keep only the newest point (a market without a position in a lean history).
    newest_only: bool,
}

/// Points a chunk holds before the next begins (48 KiB of them). A market's first chunk grows
/// as a vector does, so a market of a few points takes no more than they need. The tests use
/// chunks of eight points, so that their histories span many chunks.
const CHUNK: usize = if cfg!(test) { 8 } else { 1_024 };

/// A place among a market's points: chunk, then index in it. `(chunks, 0)` is the end.
type Place = (usize, usize);

impl Points {
    /// Where the first point whose time passes `after` is (or would go): `after(t)` is true of
    /// the times before that point and false from it on.
    fn place(&self, after: impl Fn(i64) -> bool) -> Place {
        let c = self.chunks.partition_point(|chunk| chunk.last().is_some_and(|p| after(p.at_ms)));
        match self.chunks.get(c) {
            Some(chunk) => (c, chunk.partition_point(|p| after(p.at_ms))),
            None => (c, 0),
        }
    }

    /// Where the first point at or after `at_ms` is (or would go).
    fn at(&self, at_ms: i64) -> Place {
        self.place(|t| t < at_ms)
    }

    /// Puts a point, replacing the one at its time.
    fn put(&mut self, p: PricePoint) {
        if self.newest_only {
            // An older point is not the newest; a newer one (or one at its time) replaces it, in
            // the memory it had.
            if self.chunks.back().and_then(|c| c.last()).is_some_and(|newest| p.at_ms < newest.at_ms) {
                return;
            }
            self.chunks.truncate(1);
            if let Some(only) = self.chunks.front_mut() {
                only.clear();
            }
            self.wide.clear();
        }
        let packed = Packed::new(&p).unwrap_or_else(|| Packed::wide(p.at_ms));
        if packed.is_wide() {
            self.wide.insert(p.at_ms, p);
        } else if !self.wide.is_empty() {
            self.wide.remove(&p.at_ms);
        }
        match self.chunks.back_mut() {
            Some(last) if last.last().is_none_or(|newest| newest.at_ms < p.at_ms) => {
                if last.len() < CHUNK {
                    last.push(packed);
                } else {
                    let mut next = Vec::with_capacity(CHUNK);
                    next.push(packed);
                    self.chunks.push_back(next);
                }
                return;
            }
            None => {
                self.chunks.push_back(vec![packed]);
                return;
            }
            Some(_) => {}
        }
        // Not after the newest point, so within the chunks.
        let (c, i) = self.at(p.at_ms);
        if let Some(chunk) = self.chunks.get_mut(c) {
            match chunk.get_mut(i) {
                Some(existing) if existing.at_ms == p.at_ms => *existing = packed,
                _ => chunk.insert(i, packed),
            }
        }
    }

    fn remove(&mut self, at_ms: i64) {
        let (c, i) = self.at(at_ms);
        let Some(chunk) = self.chunks.get_mut(c) else { return };
        if let Some(p) = chunk.get(i).filter(|p| p.at_ms == at_ms) {
            if p.is_wide() {
                self.wide.remove(&at_ms);
            }
            chunk.remove(i);
            if chunk.is_empty() {
                self.chunks.remove(c);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The oldest point's time.
    fn first_at(&self) -> Option<i64> {
        self.chunks.front().and_then(|c| c.first()).map(|p| p.at_ms)
    }

    /// A point as it was put.
    fn point(&self, p: &Packed) -> PricePoint {
        if p.is_wide()
            && let Some(whole) = self.wide.get(&p.at_ms)
        {
            return *whole;
        }
        p.unpack()
    }

    /// The times of the points, oldest first.
    fn times(&self) -> impl Iterator<Item = i64> {
        self.chunks.iter().flatten().map(|p| p.at_ms)
    }

    /// The packed points from `from` (included or not) up to `to_ms` included.
    fn span(&self, from: Bound<i64>, to_ms: i64) -> impl Iterator<Item = &Packed> {
        let start = match from {
            Bound::Included(t) => self.at(t),
            Bound::Excluded(t) => self.place(|at| at <= t),
            Bound::Unbounded => (0, 0),
        };
        let end = self.place(|at| at <= to_ms).max(start);
        self.chunks.range(start.0..self.chunks.len().min(end.0 + 1)).enumerate().flat_map(
            move |(k, chunk)| {
                let c = start.0 + k;
                let from = if c == start.0 { start.1 } else { 0 };
                let to = if c == end.0 { end.1 } else { chunk.len() };
                chunk.get(from..to).unwrap_or_default()
            },
        )
    }

    /// The points from `from` (included or not) up to `to_ms` included.
    fn range(&self, from: Bound<i64>, to_ms: i64) -> impl Iterator<Item = PricePoint> {
        self.span(from, to_ms).map(|p| self.point(p))
    }
}

/// The history, shared by the store's writes and reads.
#[derive(Debug, Default)]
pub(crate) struct MemoryPrices {
    markets: RwLock<Markets>,
    /// A lean history ([`MemoryPrices::lean`]): each market's entry says whether it keeps its
    /// newest point only, and a market with a position keeps its entry even when pruned empty.
    lean: bool,
}

/// A point's key: its market and time.
pub(crate) type PriceKey = (String, i64);

/// A change a write makes, applied at its commit.
#[derive(Debug)]
pub(crate) enum PriceChange {
    /// A point of a market: its id shared, so a scan's hundreds of points copy none.
    Put(Arc<str>, PricePoint),
    Remove(String, i64),
    /// The market has a position: a lean history keeps its history whole from now on.
    Hold(Arc<str>),
}

impl MemoryPrices {
    /// A history that keeps each market's newest point only, until the market has a position
    /// ([`PriceChange::Hold`]), and its whole history from then on. What a backtest's report
    /// reads of it, each position's quote at its entry and at its liquidation (the last point at
    /// or before the moment, else the first after: `lab::attribution::quote_at`), is then what
    /// the whole history gives, while a scan's hundreds of points each replace one in place
    /// instead of taking memory that has to be faulted in, zeroed and written. For a sweep's
    /// variants, whose engines never read their history back (`engine::trends`) and whose
    /// reports keep no charts.
    pub(crate) fn lean() -> Self {
        Self { markets: RwLock::default(), lean: true }
    }

    /// Whether this is a lean history ([`Self::lean`]).
    pub(crate) fn is_lean(&self) -> bool {
        self.lean
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Markets> {
        self.markets.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a committed write's changes, in the order it made them.
    pub(crate) fn apply(&self, changes: Vec<PriceChange>) {
        if changes.is_empty() {
            return;
        }
        let mut markets = self.markets.write().unwrap_or_else(PoisonError::into_inner);
        for change in changes {
            match change {
                PriceChange::Put(market, p) => match markets.get_mut(&*market) {
                    Some(points) => points.put(p),
                    None => {
                        let newest_only = self.lean;
                        markets
                            .entry(market)
                            .or_insert_with(|| Points { newest_only, ..Points::default() })
                            .put(p);
                    }
                },
                // The entry, begun if need be, keeps the market's whole history from now on.
                PriceChange::Hold(market) => {
                    if self.lean {
                        markets.entry(market).or_default().newest_only = false;
                    }
                }
                PriceChange::Remove(market, at_ms) => {
                    if let Some(points) = markets.get_mut(market.as_str()) {
                        points.remove(at_ms);
                        // A lean history's held market keeps its (whole) entry.
                        if points.is_empty() && (points.newest_only || !self.lean) {
                            markets.remove(market.as_str());
                        }
                    }
                }
            }
        }
    }

    /// As [`Reader::prices`](super::Reader::prices).
    pub(crate) fn prices(&self, market_id: &str, from_ms: i64, to_ms: i64) -> Vec<PricePoint> {
        if from_ms > to_ms {
            return Vec::new();
        }
        self.read()
            .get(market_id)
            .map_or_else(Vec::new, |points| points.range(Bound::Included(from_ms), to_ms).collect())
    }

    /// As [`Reader::price_histories`](super::Reader::price_histories).
    pub(crate) fn price_histories(
        &self,
        to_ms: i64,
        mut from_of: impl FnMut(&str) -> Option<i64>,
    ) -> Vec<(String, Vec<PricePoint>)> {
        let markets = self.read();
        let mut order: Vec<(&Arc<str>, &Points)> = markets.iter().collect();
        order.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::new();
        for (market, points) in order {
            let Some(from_ms) = from_of(market).filter(|from| *from <= to_ms) else { continue };
            let window: Vec<PricePoint> = points.range(Bound::Included(from_ms), to_ms).collect();
            if !window.is_empty() {
                out.push((market.to_string(), window));
            }
        }
        out
    }

    /// The points older than `before_ms` among the first `scan` after `after` (exclusive), in key
    /// order, and the last key looked at; as [`Writer::prune_prices_chunk`](super::Writer::prune_prices_chunk).
    pub(crate) fn old_points(
        &self,
        before_ms: i64,
        after: Option<&PriceKey>,
        scan: usize,
    ) -> (Vec<PriceKey>, Option<PriceKey>, usize) {
        let markets = self.read();
        // No point old enough anywhere (the first month of a backtest): nothing to walk, and the
        // walk is done, as it would find when it got to the end.
        if markets.values().all(|points| points.first_at().is_none_or(|t| t >= before_ms)) {
            return (Vec::new(), None, 0);
        }
        let mut old = Vec::new();
        // The last key looked at, its market id copied once at the end.
        let mut last: Option<(&str, i64)> = None;
        let mut seen = 0_usize;
        // The markets from `after`'s on, in order.
        let mut order: Vec<(&Arc<str>, &Points)> =
            markets.iter().filter(|(m, _)| after.is_none_or(|(first, _)| &***m >= first.as_str())).collect();
        order.sort_unstable_by(|a, b| a.0.cmp(b.0));
        'markets: for (market, points) in order {
            let from = match after {
                Some((m, t)) if m.as_str() == &**market => Bound::Excluded(*t),
                _ => Bound::Unbounded,
            };
            for at_ms in points.span(from, i64::MAX).map(|p| p.at_ms) {
                if seen == scan {
                    break 'markets;
                }
                seen += 1;
                if at_ms < before_ms {
                    old.push((market.to_string(), at_ms));
                }
                last = Some((&**market, at_ms));
            }
        }
        (old, last.map(|(m, at)| (m.to_owned(), at)), seen)
    }

    /// Every point older than `before_ms`.
    pub(crate) fn all_old_points(&self, before_ms: i64) -> Vec<PriceKey> {
        let mut old: Vec<PriceKey> = self
            .read()
            .iter()
            .flat_map(|(market, points)| {
                points.times().take_while(move |t| *t < before_ms).map(move |t| (market.to_string(), t))
            })
            .collect();
        old.sort_unstable();
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    /// A point told apart by `tag`; one in five has a quote too wide to pack, one in seven a
    /// negative zero (kept whole as well).
    fn point(at_ms: i64, tag: i64) -> PricePoint {
        PricePoint {
            at_ms,
            yes_bid: Some(Decimal::new(tag, 2)),
            yes_ask: None,
            no_bid: (tag % 7 == 0).then(|| super::super::packed_point::negative_zero(3)),
            no_ask: None,
            volume_24h: (tag % 5 == 0).then_some(Decimal::MAX),
        }
    }

    /// A point's time and the bytes of its quotes: a negative zero is not a zero here.
    fn bits(p: impl std::borrow::Borrow<PricePoint>) -> (i64, [Option<[u8; 16]>; 5]) {
        let p = p.borrow();
        let quotes = [p.yes_bid, p.yes_ask, p.no_bid, p.no_ask, p.volume_24h];
        (p.at_ms, quotes.map(|q| q.map(|d| d.serialize())))
    }

    /// A prune with no point old enough anywhere ends at once, without a walk; one old point
    /// in any market (here the last in key order) still has the walk find it.
    #[test]
    fn a_prune_with_nothing_old_ends_at_once_and_finds_an_old_point_anywhere() {
        let prices = MemoryPrices::default();
        let mut changes: Vec<PriceChange> = (0..5)
            .flat_map(|m| (10..20).map(move |at| PriceChange::Put(Arc::from(format!("m{m}")), point(at, at))))
            .collect();
        prices.apply(std::mem::take(&mut changes));
        assert_eq!(prices.old_points(10, None, 3), (Vec::new(), None, 0));
        prices.apply(vec![PriceChange::Put(Arc::from("m4"), point(5, 5))]);
        let (mut cursor, mut found) = (None, Vec::new());
        loop {
            let (old, last, seen) = prices.old_points(10, cursor.as_ref(), 3);
            found.extend(old);
            if seen < 3 {
                break;
            }
            cursor = last;
        }
        assert_eq!(found, [("m4".to_owned(), 5)]);
    }

    /// A market's points behave as the ordered map they replace: points in and out of order,
    /// a time given twice (the last one kept), removals of present and absent times, and every
    /// kind of range, on a generated sequence checked step by step against a `BTreeMap` (over
    /// many of the tests' eight-point chunks).
    #[test]
    fn a_market_s_points_behave_as_an_ordered_map_of_their_times() {
        let (mut points, mut map) = (Points::default(), BTreeMap::new());
        let mut seed = 7_u64;
        let mut next = |n: i64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            i64::try_from((seed >> 33) % u64::try_from(n).unwrap()).unwrap()
        };
        let mut clock = 0;
        for step in 0..4_000 {
            match next(10) {
                // Mostly the next point in time, as a scan records them.
                0..=5 => {
                    clock += 1 + next(3);
                    points.put(point(clock, step));
                    map.insert(clock, point(clock, step));
                }
                // The newest time given again, or an earlier one: new in between, or given again.
                6 | 7 => {
                    let newest = map.keys().next_back().copied();
                    let at = match newest {
                        Some(t) if next(2) == 0 => t,
                        _ => next(clock + 1),
                    };
                    points.put(point(at, step));
                    map.insert(at, point(at, step));
                }
                // A removal, usually of the oldest as pruning does, sometimes of any time.
                _ => {
                    let at =
                        if next(2) == 0 { map.keys().next().copied().unwrap_or(0) } else { next(clock + 2) };
                    points.remove(at);
                    map.remove(&at);
                }
            }
            assert!(
                points.range(Bound::Unbounded, i64::MAX).map(bits).eq(map.values().map(bits)),
                "step {step}"
            );
            assert_eq!(points.wide.len(), map.values().filter(|p| Packed::new(p).is_none()).count());
            assert!(points.times().eq(map.keys().copied()), "step {step}");
            assert!(points.chunks.iter().all(|c| !c.is_empty()), "step {step}: an empty chunk");
            let (a, b) = (next(clock + 3) - 1, next(clock + 3) - 1);
            for from in [Bound::Included(a), Bound::Excluded(a), Bound::Unbounded] {
                if from == Bound::Excluded(a) && a == b || a > b && from != Bound::Unbounded {
                    // `BTreeMap::range` panics on these; the points answer nothing.
                    assert!(points.range(from, b).next().is_none(), "step {step}: {from:?}..={b}");
                    continue;
                }
                let want: Vec<PricePoint> = map.range((from, Bound::Included(b))).map(|(_, p)| *p).collect();
                assert_eq!(
                    points.range(from, b).map(bits).collect::<Vec<_>>(),
                    want.iter().map(bits).collect::<Vec<_>>(),
                    "step {step}: {from:?}..={b}"
                );
            }
        }
    }
}
