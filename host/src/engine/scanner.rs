//! The scanner: lists the venue's markets, keeps those worth a look (active, accepting orders,
//! liquid, ending in the configured window), gathers their features, has the scorer plugin
//! score them in batches, stores the opportunities and, with auto-trading on, enters the best.

use super::observer::{Decision, Scored, ScoringCall, Seen};
use super::{EngineEvent, Inner, Result};
use crate::exchange::{BookSide, Market, OrderBook};
use crate::fast_hash::FastHashSet;
use crate::plugins::{PluginKind, abi};
use crate::store::{Factor, Opportunity, ScanRecord};
use futures_util::StreamExt as _;
use rust_decimal::Decimal;
use std::sync::Arc;

/// Running estimate of a market's 24 h volatility: an exponentially weighted variance of the YES
/// mid's moves per unit of time (one day's half-life), a model quantity in floats.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Volatility {
    last_mid: f64,
    last_at_ms: i64,
    var_per_ms: f64,
    seen: bool,
}

const DAY_MS: f64 = 86_400_000.0;

/// Opportunities stored per scan, best first: a 20,000-market listing would otherwise rewrite
/// megabytes every scan for rows nobody reads.
pub(super) const KEEP_OPPORTUNITIES: usize = 2_000;

impl Volatility {
    /// Takes a new observation of the mid and returns the 24 h standard deviation estimate.
    #[expect(clippy::cast_precision_loss, reason = "a time difference in ms, far below 2^52")]
    pub(super) fn observe(&mut self, mid: f64, at_ms: i64) -> f32 {
        if self.seen && at_ms > self.last_at_ms {
            let dt = (at_ms - self.last_at_ms) as f64;
            let rate = (mid - self.last_mid).powi(2) / dt;
            let alpha = 1.0 - (-dt / DAY_MS).exp();
            self.var_per_ms += alpha * (rate - self.var_per_ms);
        }
        self.seen = true;
        self.last_mid = mid;
        self.last_at_ms = at_ms;
        #[expect(clippy::cast_possible_truncation, reason = "a volatility in price units, 0..1")]
        let vol = (self.var_per_ms * DAY_MS).sqrt() as f32;
        vol
    }
}

/// A candidate market, its quotes (YES bid, YES ask, NO bid, NO ask) and depths (YES, NO).
type Candidate<'a> = (&'a Arc<Market>, [Option<Decimal>; 4], [Decimal; 2]);

/// A candidate's features that do not come from the signals (see `Inner::prepare`): its place
/// among the candidates, quotes and depths as in [`Candidate`], and the rest of its scorer row.
struct Prepared {
    at: usize,
    /// Its track's place (`trends::Tracks`).
    track: usize,
    quotes: [Option<Decimal>; 4],
    depth: [Decimal; 2],
    vol: f32,
    history_points: u32,
    momentum_24h: f32,
    volume_change_24h: f32,
}

/// What a scan that ran gives: its opportunities as the dashboard shows them (best first; none
/// where no dashboard reads them, see `Inner::stores_dashboard_records`), the markets scored at or
/// above the threshold with their scores (best first: what auto-trading enters), and its decision
/// as the observer is told it (the scorer's factor names and every candidate kept; empty without
/// an observer).
#[derive(Default)]
struct Outcome {
    opportunities: Vec<Opportunity>,
    above: Vec<(Arc<Market>, f32)>,
    factors: Vec<String>,
    candidates: Arc<[Scored]>,
}

fn micros(d: Decimal) -> i64 {
    super::rules::micros(d)
}

/// Whether a market passes the scanner's filters at `now_ms`.
fn wanted(m: &Market, s: &super::Settings, now_ms: i64) -> bool {
    let Some(end) = m.end_ms else { return false };
    let left = end - now_ms;
    m.accepting_orders
        && left >= i64::from(s.min_hours_to_end) * 3_600_000
        && left <= i64::from(s.max_days_to_end) * 86_400_000
        && m.liquidity >= s.min_liquidity
        && m.volume_24h >= s.min_volume_24h
}

impl Inner {
    /// Whether to keep and store what only the dashboard reads: the last scan's opportunities
    /// with their factors and texts (shown at once by a restarted bot), the news feed with its
    /// matches, the whale analyzer's profile of each wallet, and the scan records (the
    /// dashboard's list of scans). A backtest's store is in memory, shown by no dashboard and
    /// never restarted, so each scan is spared building an opportunity of every candidate,
    /// rewriting the day's news, rewriting the record of every wallet analysed and storing its
    /// own record (its decision log has the scan, every candidate's score and factors;
    /// auto-trading takes the markets at or above the threshold directly).
    pub(super) fn stores_dashboard_records(&self) -> bool {
        !self.store.is_in_memory()
    }

    /// Lists the venue's markets into the cache.
    pub(super) async fn refresh_markets(&self) -> Result<Vec<Arc<Market>>> {
        // The last listing goes before the next arrives (20,000 markets are 20 MiB); an entry in
        // between lists the markets itself.
        drop(std::mem::take(&mut self.state().markets));
        let (markets, listed) = super::listing::Listed::one_per_market(self.exchange.markets().await?);
        self.saw(Seen::Listing(&markets));
        self.state().markets = listed;
        Ok(markets)
    }

    /// One scan (see the module doc). Venue and plugin failures end the scan with its `error`
    /// set and an error event; they never stop the engine.
    pub(super) async fn scan(&self) -> Result<ScanRecord> {
        let _one_at_a_time = self.scanning.lock().await;
        let started = std::time::Instant::now();
        let now = self.clock.now_ms();
        // A store that keeps scan records numbers them; a backtest's fresh in-memory store keeps
        // none, and the engine numbers its scans as the store's sequence would, from 1, without
        // a database write each.
        let id = if self.stores_dashboard_records() {
            self.store.write(|w| w.next_id(crate::store::Sequence::Scan)).await?
        } else {
            self.scans_numbered.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1
        };
        self.saw(Seen::Decision(&Decision::ScanStarted { scan_id: id }));
        let mut scan = ScanRecord {
            id,
            started_at_ms: now,
            duration_us: 0,
            listed: 0,
            candidates: 0,
            scored: 0,
            scorer: None,
            error: None,
            protocol_v2: 0,
            failed_pages: 0,
        };
        let outcome = self.scan_into(&mut scan, now).await;
        scan.duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(m) = self.metrics {
            m.scan_seconds.observe(started.elapsed().as_secs_f64());
            m.scans.with_label_values(&[if outcome.is_ok() { "ok" } else { "error" }]).inc();
        }
        let Outcome { opportunities, above, factors, candidates } = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.saw(Seen::Decision(&Decision::Scanned {
                    scan_id: id,
                    scorer: None,
                    factors: Vec::new(),
                    candidates: Arc::from([]),
                    error: Some(e.clone()),
                }));
                scan.error = Some(e.clone());
                if self.stores_dashboard_records() {
                    let record = scan.clone();
                    self.store.write(move |w| w.put_scan(&record)).await?;
                }
                self.note_scan(&scan, None);
                self.error("scanner", format!("scan {id} skipped: {e}"));
                self.emit(EngineEvent::ScanCompleted { scan: scan.clone() });
                return Ok(scan);
            }
        };
        if self.observed() {
            self.saw(Seen::Decision(&Decision::Scanned {
                scan_id: id,
                scorer: scan.scorer.clone(),
                factors,
                candidates,
                error: None,
            }));
        }
        let threshold = f32::from(self.settings().opportunity_threshold);
        let before: FastHashSet<String> = self
            .opportunities
            .load()
            .iter()
            .filter(|o| o.score >= threshold)
            .map(|o| o.market_id.clone())
            .collect();
        // One copy, shared by the store's write and the engine's view of the last scan: best
        // first, then by market id, one per market (the listing is), as the store orders them.
        let opportunities = Arc::new(opportunities);
        let (record, stored) = (scan.clone(), Arc::clone(&opportunities));
        // The last scan's opportunities are stored so that a restarted bot shows them at once;
        // nothing else reads them (the engine keeps its own copy).
        if self.stores_dashboard_records() {
            self.store.write(move |w| w.replace_opportunities(&record, &stored)).await?;
        }
        self.note_scan(&scan, Some(Arc::clone(&opportunities)));
        for o in opportunities.iter().filter(|o| o.score >= threshold && !before.contains(&o.market_id)) {
            self.emit(EngineEvent::NewOpportunity { opportunity: Box::new(o.clone()) });
        }
        tracing::info!(
            scan = id,
            listed = scan.listed,
            candidates = scan.candidates,
            above_threshold = above.len(),
            ms = scan.duration_us / 1_000,
            "scan"
        );
        self.emit(EngineEvent::ScanCompleted { scan: scan.clone() });
        if self.settings().auto_trading {
            self.auto_trade(&above).await;
        }
        Ok(scan)
    }

    async fn scan_into(&self, scan: &mut ScanRecord, now: i64) -> Result<Outcome, String> {
        let markets = self.refresh_markets().await.map_err(|e| format!("listing markets: {e}"))?;
        scan.listed = markets.len() as u64;
        let notes = self.exchange.listing_notes();
        (scan.protocol_v2, scan.failed_pages) = (notes.protocol_v2, notes.failed_pages);
        let settings = self.settings();
        // One list, shared by the features' work and the news matching's input.
        let candidates: Arc<[Arc<Market>]> =
            markets.iter().filter(|m| wanted(m, &settings, now)).cloned().collect();
        self.fetch_missing_books(&candidates).await;
        // The features that do not come from the signals are prepared on this thread while the
        // news matching runs beside it (see `signals`).
        let (me, chosen) = (self.me().ok_or("the engine is stopping")?, Arc::clone(&candidates));
        let slippage = settings.max_slippage();
        let (signals, prepared) =
            self.signals(&candidates, now, move || me.prepare(&chosen, now, slippage)).await;
        let mut batch = abi::MarketBatch::with_capacity(prepared.len());
        let mut scored: Vec<Candidate<'_>> = Vec::with_capacity(prepared.len());
        // Each candidate's track, for its recorded point.
        let mut tracks: Vec<usize> = Vec::with_capacity(prepared.len());
        for p in prepared {
            let Some(m) = candidates.get(p.at) else { continue };
            let signal = signals.get(p.at).copied().unwrap_or_default();
            let [yes_bid, yes_ask, no_bid, no_ask] = p.quotes;
            batch.push(&abi::MarketFeatures {
                yes_bid: yes_bid.map(micros),
                yes_ask: yes_ask.map(micros),
                no_bid: no_bid.map(micros),
                no_ask: no_ask.map(micros),
                yes_depth: micros(p.depth[0]),
                no_depth: micros(p.depth[1]),
                liquidity: micros(m.liquidity),
                volume_24h: micros(m.volume_24h),
                volatility_24h: p.vol,
                seconds_to_end: m.end_ms.map_or(i64::MAX, |e| (e - now) / 1_000),
                history_points: p.history_points,
                momentum_24h: p.momentum_24h,
                volume_change_24h: p.volume_change_24h,
                whale_activity: signal.whale_activity,
                whale_net_flow: signal.whale_net_flow,
                whale_count: signal.whale_count,
                whale_concentration: signal.whale_concentration,
                news_relevance: signal.news_relevance,
                news_count: signal.news_count,
                news_sentiment: signal.news_sentiment,
            });
            scored.push((m, p.quotes, p.depth));
            tracks.push(p.track);
        }
        scan.candidates = scored.len() as u64;
        if scored.is_empty() {
            return Ok(Outcome::default());
        }
        let plugins = self.plugins.clone();
        let (batch, result) = super::plugin_io::plugin_call(move || {
            let scored = plugins.score(now, &batch);
            (batch, scored)
        })
        .await
        .map_err(|e| format!("scorer: {e}"))?;
        let result = result.map_err(|e| format!("scorer: {e}"))?;
        if super::SCORING_SHADOWS.into_iter().any(|k| self.plugins.has_shadow(k)) {
            self.tell_scoring(now, &batch, &scored, &result);
        }
        let label = format!("{}@{}", result.plugin.name, result.plugin.version);
        self.state().scan_scorer = Some(result.version_id.to_string());
        scan.scorer = Some(label.clone());
        scan.scored = result.scores.len() as u64;
        // The best first (ties by market id), and only those kept are built. Ids are unique (one
        // entry per market), so the order is total and an unstable sort gives it.
        let mut order: Vec<usize> = (0..scored.len()).collect();
        order.sort_unstable_by(|a, b| {
            result.scores[*b]
                .total_cmp(&result.scores[*a])
                .then_with(|| scored[*a].0.id.cmp(&scored[*b].0.id))
        });
        order.truncate(KEEP_OPPORTUNITIES);
        // The decision as the observer keeps it: every candidate kept, best first.
        let (factors, decided) = if self.observed() {
            let decided = self.scored(
                order.iter().map(|i| (scored[*i].0.id.as_str(), result.scores[*i], result.factors_of(*i))),
            );
            (result.plugin.factors.iter().map(|f| f.name.clone()).collect(), decided)
        } else {
            (Vec::new(), Arc::from([]))
        };
        self.record_candidates(
            order.iter().map(|i| {
                let (m, quotes, _) = &scored[*i];
                (tracks[*i], super::trends::candidate_point(now, *quotes, m.volume_24h))
            }),
            now,
        );
        // What the engine acts on: the prefix at or above the threshold.
        let threshold = f32::from(settings.opportunity_threshold);
        let above = order
            .iter()
            .take_while(|i| result.scores[**i] >= threshold)
            .map(|i| (Arc::clone(scored[*i].0), result.scores[*i]))
            .collect();
        // The opportunities, with their factors and texts, are for the dashboard alone.
        let opportunities = if self.stores_dashboard_records() {
            self.opportunities_of(&order, &scored, &result, &label, scan.id, now)
        } else {
            Vec::new()
        };
        Ok(Outcome { opportunities, above, factors, candidates: decided })
    }

    /// The opportunities of `order` (indices into `scored`, best first) as the dashboard shows
    /// them: each factor with the weight in force.
    fn opportunities_of(
        &self,
        order: &[usize],
        scored: &[Candidate<'_>],
        result: &crate::plugins::Scored,
        label: &str,
        scan_id: u64,
        now: i64,
    ) -> Vec<Opportunity> {
        // The weights in force, to show next to each factor.
        let params = self
            .plugins
            .list()
            .into_iter()
            .find(|p| p.active && p.info.kind == PluginKind::Scorer)
            .map(|p| p.info.params.iter().map(|s| s.name.clone()).zip(p.params).collect::<Vec<_>>())
            .unwrap_or_default();
        // Each factor's name and weight, built once and shared by every opportunity.
        let named: Vec<Factor> = result
            .plugin
            .factors
            .iter()
            .map(|f| Factor {
                name: Arc::from(f.name.as_str()),
                value: 0.0,
                weight: f.weight_param.as_ref().and_then(|name| {
                    params.iter().find(|(n, _)| n == name).map(|(n, v)| (Arc::from(n.as_str()), *v))
                }),
            })
            .collect();
        order
            .iter()
            .map(|&i| (i, &scored[i]))
            .map(|(i, (m, [yes_bid, yes_ask, no_bid, no_ask], depth))| Opportunity {
                market_id: m.id.clone(),
                question: m.question.clone(),
                category: m.category.clone(),
                score: result.scores[i],
                factors: named
                    .iter()
                    .zip(result.factors_of(i))
                    .map(|(f, v)| Factor { value: *v, ..f.clone() })
                    .collect(),
                yes_bid: *yes_bid,
                yes_ask: *yes_ask,
                no_bid: *no_bid,
                no_ask: *no_ask,
                yes_depth: depth[0],
                no_depth: depth[1],
                liquidity: m.liquidity,
                volume_24h: m.volume_24h,
                end_ms: m.end_ms,
                scan_id,
                detected_at_ms: now,
                scorer: label.to_owned(),
            })
            .collect()
    }

    /// Tells the observer (the shadow scorer's runner) what the scorer was given and answered.
    fn tell_scoring<Q, D>(
        &self,
        now: i64,
        batch: &abi::MarketBatch,
        scored: &[(&Arc<Market>, Q, D)],
        result: &crate::plugins::Scored,
    ) {
        let settings = self.settings();
        let (held, open): (Vec<String>, usize) = {
            let state = self.state();
            (state.positions.values().map(|p| p.market_id.clone()).collect(), state.positions.len())
        };
        let ids: Vec<&str> = scored.iter().map(|(m, ..)| m.id.as_str()).collect();
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        let max = usize::try_from(settings.max_positions).unwrap_or(usize::MAX);
        self.saw(Seen::Scoring(&ScoringCall {
            now_ms: now,
            batch,
            market_ids: &ids,
            scored: result,
            threshold: f32::from(settings.opportunity_threshold),
            free_slots: max.saturating_sub(open),
            held: &held,
        }));
    }

    /// The candidates of a scan's decision (market id, score, factor values), their market ids
    /// shared with the last scan's: an observer that keeps every scan's (a backtest's log) then
    /// keeps each id once.
    fn scored<'a>(
        &self,
        candidates: impl ExactSizeIterator<Item = (&'a str, f32, &'a [f32])>,
    ) -> Arc<[Scored]> {
        let known = std::mem::take(&mut self.state().scanned_ids);
        let mut ids = FastHashSet::with_capacity_and_hasher(candidates.len(), Default::default());
        let scored = candidates
            .map(|(market_id, score, factors)| {
                let id = known.get(market_id).cloned().unwrap_or_else(|| market_id.into());
                ids.insert(Arc::clone(&id));
                Scored { market_id: id, score, factors: factors.to_vec() }
            })
            .collect();
        self.state().scanned_ids = ids;
        scored
    }

    /// A scan's features of its candidates that do not come from the signals, in candidate
    /// order: the quotes and depths of their books as they are now, their volatility and the
    /// day's trend. A market with a side that cannot be bought is not a candidate. Run again at
    /// the same `now` (after a failed signal call), it reads the books as they are then, and the
    /// volatility estimates do not count the same moment twice (see `Volatility::observe`).
    fn prepare(&self, candidates: &[Arc<Market>], now: i64, slippage: Decimal) -> Vec<Prepared> {
        // The day's trend from stored history, where the market has some (see `trends`).
        let places = self.follow_scorer_history(candidates.iter().map(|m| m.id.as_str()), now);
        let mut out = Vec::with_capacity(candidates.len());
        let mut state = self.state();
        let state = &mut *state;
        for (at, m) in candidates.iter().enumerate() {
            let (Some(yes), Some(no)) =
                (state.books.get(&m.outcomes[0].token_id), state.books.get(&m.outcomes[1].token_id))
            else {
                continue;
            };
            let top = |b: &OrderBook| (b.best_bid().map(|l| l.price), b.best_ask().map(|l| l.price));
            let ((yes_bid, yes_ask), (no_bid, no_ask)) = (top(yes), top(no));
            if yes_ask.is_none() || no_ask.is_none() {
                continue;
            }
            let depth =
                [yes.depth_within(BookSide::Asks, slippage), no.depth_within(BookSide::Asks, slippage)];
            // Halving a float is exact: this is the decimal mid's float (see `rules::float`).
            let mid = match (yes_bid, yes_ask) {
                (Some(b), Some(a)) => super::rules::float(b + a) / 2.0,
                (_, Some(a)) => super::rules::float(a),
                _ => 0.0,
            };
            // Followed since `follow_scorer_history` above.
            let Some(&track) = places.get(at) else { continue };
            let t = state.tracks.at(track);
            let (vol, trend) = (t.vol.observe(mid, now), super::trends::scorer_trend_of(t.window.as_ref()));
            let trend = trend.as_ref();
            // Realised volatility of the recorded history wins over the running estimate, which
            // sees one point per scan.
            #[expect(clippy::cast_possible_truncation, reason = "a volatility in price units, 0..1")]
            let vol = trend.and_then(|t| t.volatility_24h).map_or(vol, |v| v as f32);
            let (momentum_24h, volume_change_24h) =
                trend.map_or((0.0, 0.0), |t| (t.momentum_24h, t.volume_change_24h));
            let history_points = trend.map_or(0, |t| u32::try_from(t.points).unwrap_or(u32::MAX));
            out.push(Prepared {
                at,
                track,
                quotes: [yes_bid, yes_ask, no_bid, no_ask],
                depth,
                vol,
                history_points,
                momentum_24h,
                volume_change_24h,
            });
        }
        out
    }

    /// Books of candidates the feed has not delivered yet, fetched a few at a time.
    async fn fetch_missing_books(&self, candidates: &[Arc<Market>]) {
        let missing: Vec<String> = {
            let state = self.state();
            // Only the missing tokens' ids are copied (in a backtest, none).
            candidates
                .iter()
                .flat_map(|m| m.outcomes.iter().map(|o| &o.token_id))
                .filter(|t| state.books.get(t).is_none())
                .cloned()
                .collect()
        };
        let fetched: Vec<_> = futures_util::stream::iter(missing)
            .map(|token| async move {
                let book = self.venue_book(&token).await;
                (token, book)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut state = self.state();
        for (token, book) in fetched {
            match book {
                Ok(book) => state.books.insert(token, book),
                Err(e) => tracing::debug!(%token, error = %e, "candidate book"),
            }
        }
    }

    /// Enters the best markets scored at or above the threshold (`above`, best first) while slots
    /// are free.
    async fn auto_trade(&self, above: &[(Arc<Market>, f32)]) {
        let settings = self.settings();
        for (m, score) in above {
            let (open, held) = {
                let state = self.state();
                (state.positions.len(), state.positions.values().any(|p| p.market_id == m.id))
            };
            if open >= usize::try_from(settings.max_positions).unwrap_or(usize::MAX) {
                return;
            }
            if held {
                continue;
            }
            match self.enter(&m.id, None, Some(*score)).await {
                Ok(p) => {
                    tracing::info!(position = p.id, score, market = %m.question, status = p.status.as_str(), "auto-trade")
                }
                Err(e) => tracing::warn!(market = %m.question, error = %e, "auto-trade skipped"),
            }
        }
    }

    /// Scans at the configured interval, on request, and once at start.
    pub(super) async fn scan_loop(self: Arc<Self>) {
        loop {
            if let Err(e) = self.scan().await {
                self.error("scanner", e.to_string());
            }
            let every = self.settings().scan_interval();
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.scan_requested.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatility_is_zero_without_moves_and_grows_with_them() {
        let mut v = Volatility::default();
        assert!(v.observe(0.5, 0).abs() < f32::EPSILON);
        assert!(v.observe(0.5, 3_600_000).abs() < f32::EPSILON);
        let moved = v.observe(0.6, 7_200_000);
        assert!(moved > 0.05, "{moved}");
        let calmer = v.observe(0.6, 14_400_000);
        assert!(calmer < moved);
    }
}
