//! An in-memory store's price history: ordered maps in place of the redb table, so a point a
//! backtest's scan records costs a map insert, not a copy-on-write B-tree page per market.
//!
//! The file store keeps its history in the `PRICES` table as before; only a store made by
//! [`Store::in_memory`](super::Store::in_memory) (a backtest's, which nothing outlives) uses this.
//! A write's price changes are staged and applied when its transaction commits, so an aborted
//! or panicking write leaves the history as it was, as the table would. Two differences from the
//! table, neither visible to the engine: pruning inside a write looks at the points committed
//! before that write, and a [`Reader`](super::Reader) sees the history as of its call, not as of
//! its snapshot (an in-memory store writes on its caller's thread, between reads).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock};

use super::PricePoint;

/// Every market's points, by market then time.
type Markets = BTreeMap<String, BTreeMap<i64, PricePoint>>;

/// The history, shared by the store's writes and reads.
#[derive(Debug, Default)]
pub(crate) struct MemoryPrices {
    markets: RwLock<Markets>,
}

/// A point's key: its market and time.
pub(crate) type PriceKey = (String, i64);

/// A change a write makes, applied at its commit.
#[derive(Debug)]
pub(crate) enum PriceChange {
    Put(String, PricePoint),
    Remove(String, i64),
}

impl MemoryPrices {
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
                PriceChange::Put(market, p) => {
                    markets.entry(market).or_default().insert(p.at_ms, p);
                }
                PriceChange::Remove(market, at_ms) => {
                    if let Some(points) = markets.get_mut(&market) {
                        points.remove(&at_ms);
                        if points.is_empty() {
                            markets.remove(&market);
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
            .map_or_else(Vec::new, |points| points.range(from_ms..=to_ms).map(|(_, p)| *p).collect())
    }

    /// As [`Reader::price_histories`](super::Reader::price_histories).
    pub(crate) fn price_histories(
        &self,
        to_ms: i64,
        mut from_of: impl FnMut(&str) -> Option<i64>,
    ) -> Vec<(String, Vec<PricePoint>)> {
        let markets = self.read();
        let mut out = Vec::new();
        for (market, points) in markets.iter() {
            let Some(from_ms) = from_of(market).filter(|from| *from <= to_ms) else { continue };
            let window: Vec<PricePoint> = points.range(from_ms..=to_ms).map(|(_, p)| *p).collect();
            if !window.is_empty() {
                out.push((market.clone(), window));
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
        let mut old = Vec::new();
        let mut last = None;
        let mut seen = 0_usize;
        let first_market = after.map_or(Bound::Unbounded, |(m, _)| Bound::Included(m.as_str()));
        'markets: for (market, points) in markets.range::<str, _>((first_market, Bound::Unbounded)) {
            let from = match after {
                Some((m, t)) if m == market => Bound::Excluded(*t),
                _ => Bound::Unbounded,
            };
            for at_ms in points.range((from, Bound::Unbounded)).map(|(t, _)| *t) {
                if seen == scan {
                    break 'markets;
                }
                seen += 1;
                if at_ms < before_ms {
                    old.push((market.clone(), at_ms));
                }
                last = Some((market.clone(), at_ms));
            }
        }
        (old, last, seen)
    }

    /// Every point older than `before_ms`.
    pub(crate) fn all_old_points(&self, before_ms: i64) -> Vec<PriceKey> {
        self.read()
            .iter()
            .flat_map(|(market, points)| points.range(..before_ms).map(move |(t, _)| (market.clone(), *t)))
            .collect()
    }
}
