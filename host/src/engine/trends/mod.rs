//! Market trends from stored price history: per market and window, the YES mid's momentum (its
//! change over the window), its volatility (the spread of its moves from point to point, and the
//! same moves scaled to a day for the scorer) and the change of the venue's 24 h volume.
//!
//! The history is the store's (the `PRICES` table; a backtest's in-memory store keeps it in
//! chunks by market): the monitor records held markets (once a minute)
//! and the scanner records its best candidates (every `record_every_secs`, with the listing's
//! 24 h volume), so every number here is one range read of one market's points (the scorer's
//! windows are kept in memory and fed as points are recorded). Momentum and
//! volume are exact decimals; volatility is a model quantity, in floats. Too few points give
//! `None`, never an error: a market the bot has not watched yet is neutral.

use super::Inner;
use crate::fast_hash::{FastHashMap, FastHashSet};
use crate::store::PricePoint;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

const DAY_MS: f64 = 86_400_000.0;
/// The window the scorer's `volatility-24h` feature is measured over.
pub(super) const SCORER_WINDOW_SECS: u64 = 86_400;
/// Longest window: price history is kept for 30 days.
pub const MAX_WINDOW_SECS: u64 = 30 * 86_400;

/// `[signals.trends]`: the windows trends are shown over and how the scanner records history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrendsConfig {
    /// Windows the dashboard offers, seconds (60..=2,592,000); the first is the default.
    pub windows_secs: Vec<u64>,
    /// Seconds between two points the scanner records for one candidate market (60..=86,400).
    pub record_every_secs: u64,
    /// Best-scored candidates of a scan whose prices the scanner records (0 = none, at most
    /// 100,000): bounds the history a 20,000-market listing would otherwise write every scan.
    pub record_markets: usize,
}

impl Default for TrendsConfig {
    fn default() -> Self {
        Self { windows_secs: vec![3_600, 86_400], record_every_secs: 300, record_markets: 500 }
    }
}

impl TrendsConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// The first bad key, and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.windows_secs.is_empty() || self.windows_secs.len() > 10 {
            return Err((
                "signals.trends.windows_secs",
                format!("needs 1-10 windows, got {}", self.windows_secs.len()),
            ));
        }
        if let Some(w) = self.windows_secs.iter().find(|w| !(60..=MAX_WINDOW_SECS).contains(*w)) {
            return Err((
                "signals.trends.windows_secs",
                format!("each must be 60-{MAX_WINDOW_SECS} seconds, got {w}"),
            ));
        }
        if !(60..=86_400).contains(&self.record_every_secs) {
            return Err((
                "signals.trends.record_every_secs",
                format!("must be 60-86400, got {}", self.record_every_secs),
            ));
        }
        if self.record_markets > 100_000 {
            return Err((
                "signals.trends.record_markets",
                format!("must be at most 100000, got {}", self.record_markets),
            ));
        }
        Ok(())
    }
}

/// A market's movement over one window, from its price points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub window_secs: u64,
    /// Price points in the window.
    pub points: usize,
    /// The YES mid at the last point that has both a bid and an ask.
    pub yes_mid: Option<Decimal>,
    /// Momentum: the YES mid's change from the first to the last such point (two at least).
    pub momentum: Option<Decimal>,
    /// Population standard deviation of the YES mid's moves between consecutive points (two
    /// moves at least), in price units.
    pub volatility: Option<f64>,
    /// The same moves as a day's standard deviation: `sqrt(Σ move² / elapsed × 24 h)` (two moves
    /// at least), the scale of the scorer's `volatility-24h`.
    pub volatility_24h: Option<f64>,
    /// The venue's 24 h volume at the last point that carries it, pUSD.
    pub volume_24h: Option<Decimal>,
    /// Its change from the first such point to the last (two at least), pUSD.
    pub volume_change: Option<Decimal>,
}

/// What the scorer takes of a market's 24 h trend: the inputs of its `history-points`,
/// `volatility-24h`, `momentum-24h` (price units) and `volume-change-24h` (relative to the first
/// volume; 0 where unknown) features, from the same window as a [`Trend`], without the
/// dashboard's standard deviation: a scan takes this of every candidate, and that deviation's
/// decimal divisions were most of its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ScorerTrend {
    pub(super) points: usize,
    pub(super) volatility_24h: Option<f64>,
    pub(super) momentum_24h: f32,
    pub(super) volume_change_24h: f32,
}

/// A market's price points inside a sliding window, with the sums its trend needs kept as
/// points arrive and leave: a trend then costs the same whatever the window holds. The sum of
/// squared moves is an exact decimal, so a window built point by point and one slid along for a
/// day give the same trend, bit for bit.
///
/// The points are kept in one buffer, each with its mid and volume when it has them: a scan adds
/// a point at one end and drops one at the other, so it touches two places of each window where
/// three series of their own took six. A trend needs the first and last mid and volume: the
/// points that lack them are stepped over, as many as lie at either end (points without a mid
/// or a volume are the few the monitor records of a held market between two of the scanner's).
#[derive(Debug, Clone, Default)]
pub(super) struct TrendWindow {
    points: VecDeque<WindowPoint>,
    /// Points with a YES mid, and with a 24 h volume.
    mids: usize,
    volumes: usize,
    /// Σ (mid − previous mid)² over consecutive mids.
    moves_sq: Decimal,
}

/// One point of a window: its time, its YES mid when it has both YES quotes, and its 24 h volume
/// when it carries one.
#[derive(Debug, Clone, Copy)]
struct WindowPoint {
    at_ms: i64,
    mid: Option<Decimal>,
    volume: Option<Decimal>,
}

impl TrendWindow {
    /// Adds a point as the store keeps it: a point at the newest point's millisecond replaces
    /// it (the store overwrites), an older one is not taken (the window only moves forward).
    pub(super) fn add(&mut self, p: &PricePoint) {
        match self.last_at() {
            Some(last) if p.at_ms < last => {}
            Some(last) if p.at_ms == last => {
                self.pop_newest();
                self.push(p);
            }
            _ => self.push(p),
        }
    }

    /// Drops the newest point.
    fn pop_newest(&mut self) {
        let Some(p) = self.points.pop_back() else { return };
        if let Some(last) = p.mid {
            if let Some((_, before)) = self.last_mid() {
                let m = last - before;
                self.moves_sq -= m * m;
            }
            self.mids -= 1;
            if self.mids < 2 {
                self.moves_sq = Decimal::ZERO;
            }
        }
        if p.volume.is_some() {
            self.volumes -= 1;
        }
    }

    /// Adds the newest point (points arrive in time order).
    pub(super) fn push(&mut self, p: &PricePoint) {
        let mid = match (p.yes_bid, p.yes_ask) {
            (Some(bid), Some(ask)) => Some((bid + ask) / Decimal::TWO),
            _ => None,
        };
        if let Some(mid) = mid {
            if let Some((_, last)) = self.last_mid() {
                let m = mid - last;
                self.moves_sq += m * m;
            }
            self.mids += 1;
        }
        if p.volume_24h.is_some() {
            self.volumes += 1;
        }
        self.points.push_back(WindowPoint { at_ms: p.at_ms, mid, volume: p.volume_24h });
    }

    /// Drops the points before `from_ms`.
    pub(super) fn evict_before(&mut self, from_ms: i64) {
        while let Some(p) = self.points.pop_front_if(|p| p.at_ms < from_ms) {
            if let Some(first) = p.mid {
                if let Some((_, next)) = self.first_mid() {
                    let m = next - first;
                    self.moves_sq -= m * m;
                }
                self.mids -= 1;
            }
            if p.volume.is_some() {
                self.volumes -= 1;
            }
        }
        if self.mids < 2 {
            // No move left: exactly zero, whatever rounding the subtractions met.
            self.moves_sq = Decimal::ZERO;
        }
    }

    /// Points held.
    pub(super) fn len(&self) -> usize {
        self.points.len()
    }

    /// The newest point's time.
    pub(super) fn last_at(&self) -> Option<i64> {
        self.points.back().map(|p| p.at_ms)
    }

    /// (time, mid) of the oldest point with a mid.
    fn first_mid(&self) -> Option<(i64, Decimal)> {
        if self.mids == 0 {
            return None;
        }
        self.points.iter().find_map(|p| p.mid.map(|m| (p.at_ms, m)))
    }

    /// (time, mid) of the newest point with a mid.
    fn last_mid(&self) -> Option<(i64, Decimal)> {
        if self.mids == 0 {
            return None;
        }
        self.points.iter().rev().find_map(|p| p.mid.map(|m| (p.at_ms, m)))
    }

    /// The oldest point's 24 h volume, of the points with one.
    fn first_volume(&self) -> Option<Decimal> {
        if self.volumes == 0 {
            return None;
        }
        self.points.iter().find_map(|p| p.volume)
    }

    /// The newest point's 24 h volume, of the points with one.
    fn last_volume(&self) -> Option<Decimal> {
        if self.volumes == 0 {
            return None;
        }
        self.points.iter().rev().find_map(|p| p.volume)
    }

    /// The trend of the points held.
    pub(super) fn trend(&self, window_secs: u64) -> Trend {
        let (first, last) = (self.first_mid(), self.last_mid());
        let moves = self.mids.saturating_sub(1);
        let volatility = match (first, last) {
            (Some(f), Some(l)) if moves >= 2 => {
                let n = Decimal::from(moves);
                // Σ moves telescopes to last − first.
                let mean = (l.1 - f.1) / n;
                let variance = (self.moves_sq / n - mean * mean).max(Decimal::ZERO);
                variance.to_f64().map(f64::sqrt)
            }
            _ => None,
        };
        Trend {
            window_secs,
            points: self.points.len(),
            yes_mid: last.map(|m| m.1),
            momentum: self.momentum(first, last),
            volatility,
            volatility_24h: self.volatility_24h(first, last),
            volume_24h: self.last_volume(),
            volume_change: self.volume_change(self.first_volume()),
        }
    }

    /// The scorer's part of the trend of the points held: the numbers [`Self::trend`] gives,
    /// computed the same way.
    /// `momentum-24h` is in price units, `volume-change-24h` relative to the first volume (0 for
    /// each where unknown).
    pub(super) fn scorer_trend(&self) -> ScorerTrend {
        let first_volume = self.first_volume();
        let volume_change_24h = match (first_volume, self.volume_change(first_volume)) {
            (Some(first), Some(change)) if first > Decimal::ZERO => (change / first).to_f32().unwrap_or(0.0),
            _ => 0.0,
        };
        let (first, last) = (self.first_mid(), self.last_mid());
        // As `Decimal::to_f32` gives it: the float, rounded again.
        #[expect(clippy::cast_possible_truncation, reason = "a price move")]
        let momentum_24h = self.momentum(first, last).map_or(0.0, |m| super::rules::float(m) as f32);
        ScorerTrend {
            points: self.points.len(),
            volatility_24h: self.volatility_24h(first, last),
            momentum_24h,
            volume_change_24h,
        }
    }

    /// The YES mid's change from the first point with one to the last (two such at least), of
    /// the window's first and last mids.
    fn momentum(&self, first: Option<(i64, Decimal)>, last: Option<(i64, Decimal)>) -> Option<Decimal> {
        match (first, last) {
            (Some(f), Some(l)) if self.mids >= 2 => Some(l.1 - f.1),
            _ => None,
        }
    }

    /// The moves as a day's standard deviation (see [`Trend::volatility_24h`]), of the window's
    /// first and last mids.
    fn volatility_24h(&self, first: Option<(i64, Decimal)>, last: Option<(i64, Decimal)>) -> Option<f64> {
        match (first, last) {
            (Some(f), Some(l)) if self.mids >= 3 && l.0 > f.0 => {
                #[expect(clippy::cast_precision_loss, reason = "a time difference in ms, far below 2^52")]
                let elapsed = (l.0 - f.0) as f64;
                Some((super::rules::float(self.moves_sq) / elapsed * DAY_MS).sqrt())
            }
            _ => None,
        }
    }

    /// The 24 h volume's change from the first point with one (`first`) to the last (two such
    /// at least).
    fn volume_change(&self, first: Option<Decimal>) -> Option<Decimal> {
        match (first, self.last_volume()) {
            (Some(f), Some(l)) if self.volumes >= 2 => Some(l - f),
            _ => None,
        }
    }
}

impl Trend {
    /// The trend of `points` (one market's, oldest first, all inside the window).
    #[must_use]
    pub fn from_points(points: &[PricePoint], window_secs: u64) -> Self {
        let mut w = TrendWindow::default();
        for p in points {
            w.push(p);
        }
        w.trend(window_secs)
    }
}

/// The window's first millisecond, for a window ending at `now_ms`.
#[must_use]
pub fn window_start(now_ms: i64, window_secs: u64) -> i64 {
    now_ms.saturating_sub(i64::try_from(window_secs.min(MAX_WINDOW_SECS)).unwrap_or(0) * 1_000)
}

/// Up to this many markets new to the scorer are read from the store one by one; more (the
/// first scan of a large listing) in one pass over every stored history.
const READ_BY_MARKET: usize = 64;

/// What the scanner follows of one market between scans, kept together so that a scan finds it
/// with one lookup of the market's id at each of its steps.
#[derive(Debug, Default)]
pub(super) struct Track {
    /// The running volatility estimate (see `scanner`).
    pub(super) vol: super::scanner::Volatility,
    /// The scorer's 24 h window of the market's price points, while it has any: read from the
    /// store when the scanner first follows the market, otherwise begun by the first point
    /// recorded of it, fed every point recorded of it (as a candidate or held), and given up
    /// once its points have all left the window (see [`Inner::follow_scorer_history`]).
    pub(super) window: Option<TrendWindow>,
    /// When the scanner last recorded a point of it, for throttling.
    last_point: Option<i64>,
    /// The last scan (`State::tracked_scans`) that had it among its candidates.
    seen: u64,
}

/// Every market's [`Track`], each at a place it keeps for the engine's life (tracks are never
/// removed): a scan finds each candidate's place by its id once, and its later steps (features,
/// the recorded point) reach the track by that place.
#[derive(Debug, Default)]
pub(super) struct Tracks {
    /// Each market's place, by its id (shared with `ids` and the points recorded of it).
    places: FastHashMap<Arc<str>, usize>,
    all: Vec<Track>,
    /// Each track's market id.
    ids: Vec<Arc<str>>,
}

impl Tracks {
    /// The place of `market`'s track, begun when it has none: its id is copied only then.
    pub(super) fn place(&mut self, market: &str) -> usize {
        if let Some(place) = self.places.get(market) {
            return *place;
        }
        let place = self.all.len();
        self.all.push(Track::default());
        let id: Arc<str> = Arc::from(market);
        self.ids.push(Arc::clone(&id));
        self.places.insert(id, place);
        place
    }

    /// The market id of the track at `place`.
    ///
    /// # Panics
    /// As [`Self::at`].
    pub(super) fn id(&self, place: usize) -> &Arc<str> {
        &self.ids[place]
    }

    /// The track at `place` (as [`Self::place`] gave it).
    ///
    /// # Panics
    /// At a place no track has: places are never taken back, so only a place from elsewhere.
    pub(super) fn at(&mut self, place: usize) -> &mut Track {
        &mut self.all[place]
    }

    /// `market`'s track, if it has one.
    pub(super) fn get_mut(&mut self, market: &str) -> Option<&mut Track> {
        let place = *self.places.get(market)?;
        self.all.get_mut(place)
    }

    /// Every track.
    pub(super) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Track> {
        self.all.iter_mut()
    }
}

/// Points being recorded, into the windows of the markets the scorer follows (a window begun by
/// the first): the window sees what the store will hold without reading it back.
pub(super) fn follow_points(tracks: &mut Tracks, points: &[(String, PricePoint)]) {
    for (market, p) in points {
        if let Some(t) = tracks.get_mut(market) {
            t.window.get_or_insert_default().add(p);
        }
    }
}

/// The scanner's price point for a candidate: its quotes and the listing's 24 h volume.
#[must_use]
pub(super) fn candidate_point(at_ms: i64, quotes: [Option<Decimal>; 4], volume_24h: Decimal) -> PricePoint {
    let [yes_bid, yes_ask, no_bid, no_ask] = quotes;
    PricePoint { at_ms, yes_bid, yes_ask, no_bid, no_ask, volume_24h: Some(volume_24h) }
}

/// The scorer's trend of a market's window, when it holds enough points (three).
pub(super) fn scorer_trend_of(window: Option<&TrendWindow>) -> Option<ScorerTrend> {
    window.filter(|w| w.len() >= 3).map(TrendWindow::scorer_trend)
}

impl Inner {
    /// Brings the scorer's 24 h window of each of `markets` up to `now_ms`; the scanner then
    /// takes the trend of each window with enough points ([`scorer_trend_of`]); markets
    /// without enough points score as before.
    ///
    /// Each market's window is kept between scans (its track's, with the sums its trend needs,
    /// so a trend costs the same however many points it holds), whether the market is still a
    /// candidate or not, and the points the engine records go into it as they are recorded
    /// ([`follow_points`]). The store is read only for a market without a window: one the
    /// scanner follows for the first time (its history from before this engine), or one
    /// without a point for a day (when the store has none of the day either): its day whole,
    /// by market for a few, in one pass over the stored histories for many. So an engine whose
    /// store began with it never needs its history back (a sweep's variants keep only what
    /// their reports read: `Store::in_memory_lean`).
    ///
    /// Returns the place of each market's track ([`Tracks::place`]), in the order of `markets`.
    pub(super) fn follow_scorer_history<'a>(
        &self,
        markets: impl Iterator<Item = &'a str>,
        now_ms: i64,
    ) -> Vec<usize> {
        // Stored points before now only: the scanner records this scan's point after scoring.
        let (from, to) = (window_start(now_ms, SCORER_WINDOW_SECS), now_ms - 1);
        // This scan's candidates are marked as seen by it; those without a window are read.
        let (unknown, places) = {
            let mut state = self.state();
            let state = &mut *state;
            state.tracked_scans += 1;
            let scan = state.tracked_scans;
            let (mut unknown, mut places): (Vec<&str>, Vec<usize>) = (Vec::new(), Vec::new());
            for m in markets {
                let place = state.tracks.place(m);
                places.push(place);
                let t = state.tracks.at(place);
                if t.seen != scan && t.window.is_none() {
                    unknown.push(m);
                }
                t.seen = scan;
            }
            (unknown, places)
        };
        let new = if unknown.is_empty() {
            Ok(Vec::new())
        } else {
            self.store.read().and_then(|r| {
                if unknown.len() <= READ_BY_MARKET {
                    let mut found = Vec::new();
                    for m in &unknown {
                        let points = r.prices(m, from, to)?;
                        if !points.is_empty() {
                            found.push(((*m).to_owned(), points));
                        }
                    }
                    Ok(found)
                } else {
                    let unknown: FastHashSet<&str> = unknown.iter().copied().collect();
                    r.price_histories(to, |m| unknown.contains(m).then_some(from))
                }
            })
        };
        let new = match new {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(error = %e, "reading price history for trends");
                return places;
            }
        };
        let mut state = self.state();
        let tracks = &mut state.tracks;
        for (market, points) in new {
            if let Some(t) = tracks.get_mut(&market) {
                let window = t.window.get_or_insert_default();
                for p in &points {
                    window.add(p);
                }
            }
        }
        // A window is kept while it holds points of the day, candidate or not: a market that
        // leaves the candidates and comes back finds the window a read of the store would give.
        for t in tracks.iter_mut() {
            if let Some(window) = &mut t.window {
                window.evict_before(from);
                if window.len() == 0 {
                    t.window = None;
                }
            }
        }
        places
    }

    /// Records a point for each candidate (best first, at most `record_markets`) not recorded in
    /// the last `record_every_secs`. The write goes to a task of its own, off the scan's path, as
    /// the monitor's points do: a lost point only thins the history. Each candidate is given by
    /// its track's place ([`Self::follow_scorer_history`]), with its point.
    pub(super) fn record_candidates(&self, best: impl Iterator<Item = (usize, PricePoint)>, now_ms: i64) {
        let due: Vec<(Arc<str>, PricePoint)> = {
            let mut state = self.state();
            let (every_secs, most) = (state.trends.record_every_secs, state.trends.record_markets);
            let every = i64::try_from(every_secs).unwrap_or(i64::MAX / 1_000) * 1_000;
            let mut due = Vec::with_capacity(best.size_hint().0.min(most));
            for (place, p) in best.take(most) {
                let t = state.tracks.at(place);
                if t.last_point.is_some_and(|last| now_ms - last < every) {
                    continue;
                }
                t.last_point = Some(now_ms);
                t.window.get_or_insert_default().add(&p);
                due.push((Arc::clone(state.tracks.id(place)), p));
            }
            due
        };
        if due.is_empty() {
            return;
        }
        let store = self.store.clone();
        self.spawn_tracked(async move {
            let written = store.write(move |w| w.put_prices(due)).await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "recording candidate prices");
            }
        });
    }
}

#[cfg(test)]
mod tests;
