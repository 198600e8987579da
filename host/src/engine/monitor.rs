//! The position monitor: every book change of a held token is evaluated at once by the
//! liquidation-rules plugin (or the built-in rule when it is missing or faulting), with a
//! periodic safety sweep that also finishes interrupted entries and closes.

use super::observer::{Decision, RulesCall, Seen};
use super::rules::{self, Exit, RulesSource};
use super::{EngineEvent, Inner, State};
use crate::exchange::{Applied, MarketEvent};
use crate::plugins::PluginKind;
use crate::store::{Position, PositionStatus};
use rust_decimal::Decimal;
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

const DAY_MS: i64 = 86_400_000;
/// How long price history is kept.
const KEEP_PRICES_MS: i64 = 30 * DAY_MS;
/// Price points one pruning transaction looks at.
const PRUNE_SCAN: usize = 10_000;

tokio::task_local! {
    /// When the market event behind the exit this task carries out reached the monitor; the
    /// first order sent takes it (see [`tick_to_order`]).
    static TICK: Cell<Option<Instant>>;
}

/// Records the tick-to-order latency when this task carries out an exit a market event
/// triggered, once: the first order is the one that counts. Only an engine that reports metrics
/// sets the tick (see `EngineOptions::metrics`).
pub(super) fn tick_to_order() {
    if let Ok(Some(t)) = TICK.try_with(Cell::take) {
        crate::metrics::get().tick_to_order.observe(t.elapsed().as_secs_f64());
    }
}

/// Best bids and best asks of a position's two sides.
type Marks = ([Option<Decimal>; 2], [Option<Decimal>; 2]);

impl Inner {
    /// Follows the venue's market events for as long as the engine runs.
    pub(super) async fn feed_loop(self: Arc<Self>) {
        let mut events = self.exchange.events();
        loop {
            match events.recv().await {
                Ok(event) => self.on_event(event).await,
                Err(RecvError::Lagged(n)) => {
                    // Books may be stale: fresh snapshots of held tokens, then a full evaluation.
                    tracing::warn!(missed = n, "market feed lagged; taking fresh books");
                    self.refresh_held_books().await;
                    self.evaluate_all().await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// One market event: books, resolutions, and an evaluation of the position holding the token.
    pub(super) async fn on_event(&self, event: MarketEvent) {
        self.on_events(std::slice::from_ref(&event)).await;
    }

    /// The events of one moment of the market, taken in order (a simulator step, whose books all
    /// change at once): each held position they moved is then evaluated once, all of them in one
    /// call of the rules, and never between the two books of its market.
    pub(super) async fn on_events(&self, events: &[MarketEvent]) {
        // Taken only where it is reported: a replay reads the clock for nothing otherwise.
        let arrived = self.metrics.map(|_| Instant::now());
        let mut moved: Vec<u64> = Vec::new();
        let mut rest = events;
        while !rest.is_empty() {
            rest = &rest[self.take_books(rest, &mut moved)..];
            // A resolution, or a held token's change before its first snapshot, on its own.
            if let Some((event, tail)) = rest.split_first() {
                if let Some(id) = self.take_event(event).await
                    && !moved.contains(&id)
                {
                    moved.push(id);
                }
                rest = tail;
            }
        }
        if moved.is_empty() {
            return;
        }
        for id in &moved {
            self.announce_marks(*id);
        }
        self.evaluate(&moved, arrived).await;
    }

    /// Takes in the leading events of `events` that only change books, in order and under one
    /// lock (a simulator step moves hundreds of books at once), noting in `moved` the held
    /// positions whose top of book they moved. Returns how many it took: it stops before a
    /// resolution, and before a held token's change that needs a snapshot first, which
    /// [`Self::take_event`] takes.
    fn take_books(&self, events: &[MarketEvent], moved: &mut Vec<u64>) -> usize {
        let mut state = self.state();
        let state = &mut *state;
        for (taken, event) in events.iter().enumerate() {
            if matches!(event, MarketEvent::Resolved { .. }) {
                return taken;
            }
            // A change refused for want of a snapshot leaves the books as they were.
            match state.books.apply(event) {
                Applied::Book { token, top_changed: true } => {
                    if let Some(&id) = state.by_token.get(token)
                        && !moved.contains(&id)
                    {
                        moved.push(id);
                    }
                }
                Applied::NeedsSnapshot(token) if state.by_token.contains_key(token) => return taken,
                _ => {}
            }
            self.saw(Seen::Market(event));
        }
        events.len()
    }

    /// Takes in one market event (a book, a resolution): the held position whose top of book it
    /// moved, if any, to be evaluated.
    async fn take_event(&self, event: &MarketEvent) -> Option<u64> {
        self.saw(Seen::Market(event));
        if let MarketEvent::Resolved { market, winning_token, .. } = event {
            self.note_resolution(market, winning_token);
            self.settle_market(market, winning_token).await;
            return None;
        }
        // One lock for the book and the position it moves (every event of a replay comes here).
        let (token, id, snapshot) = {
            let mut state = self.state();
            let state = &mut *state;
            match state.books.apply(event) {
                Applied::Book { token, top_changed: true } => {
                    (token, state.by_token.get(token).copied(), false)
                }
                Applied::NeedsSnapshot(token) if state.by_token.contains_key(token) => (token, None, true),
                _ => return None,
            }
        };
        if !snapshot {
            return id;
        }
        // A held token's change before its first snapshot: take one, then evaluate.
        match self.venue_book(token).await {
            Ok(book) => self.state().books.insert(token.clone(), book),
            Err(e) => {
                tracing::warn!(%token, error = %e, "book snapshot");
                return None;
            }
        }
        self.state().by_token.get(token).copied()
    }

    /// Tells subscribers (the dashboard) a held position's new bids and unrealised P&L after its
    /// top of book moved: at once after a quiet spell, otherwise once at the end of the
    /// [`MARKS_EVERY_MS`] period with the prices as they are then, so a busy book cannot flood
    /// subscribers and the last move is always shown.
    fn announce_marks(&self, id: u64) {
        // Nobody listening (a backtest): nothing to announce, and no timer to leave running.
        if self.events.receiver_count() == 0 {
            return;
        }
        let now = crate::clock::unix_now_ms();
        let wait = {
            let mut state = self.state();
            if !state.positions.contains_key(&id) {
                return;
            }
            let last = state.last_marked.get(&id).copied().unwrap_or(i64::MIN);
            let wait = MARKS_EVERY_MS.saturating_sub(now.saturating_sub(last));
            if wait <= 0 {
                state.last_marked.insert(id, now);
                None
            } else if state.marks_due.insert(id) {
                Some(wait)
            } else {
                return;
            }
        };
        match wait {
            None => self.emit_marks(id),
            Some(ms) => {
                let Some(me) = self.me() else { return };
                self.spawn_tracked(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
                        .await;
                    {
                        let mut state = me.state();
                        state.marks_due.remove(&id);
                        state.last_marked.insert(id, crate::clock::unix_now_ms());
                    }
                    me.emit_marks(id);
                });
            }
        }
    }

    fn emit_marks(&self, id: u64) {
        let update = {
            let state = self.state();
            let Some(position) = state.positions.get(&id) else { return };
            let (bids, asks) = super::tops(&state, position);
            let pnl = super::mark(position, bids);
            EngineEvent::PositionUpdate { position: Box::new(position.clone()), pnl, bids, asks }
        };
        self.emit(update);
    }

    /// Snapshots of every held token's book.
    async fn refresh_held_books(&self) {
        let tokens: Vec<String> = self.state().by_token.keys().cloned().collect();
        for token in tokens {
            match self.venue_book(&token).await {
                Ok(book) => self.state().books.insert(token, book),
                Err(e) => tracing::warn!(%token, error = %e, "book snapshot"),
            }
        }
    }

    async fn evaluate_all(&self) {
        let ids: Vec<u64> = self.state().positions.keys().copied().collect();
        self.evaluate(&ids, None).await;
    }

    /// Positions with an order journalled and not resolved. Nothing is decided about them until
    /// reconciliation knows what became of it: after a restart or an unknown answer the venue may
    /// still be filling it.
    fn journalled(&self) -> HashSet<u64> {
        match self.store.journal() {
            Ok(intents) => intents.iter().map(|i| i.position_id).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the journal");
                HashSet::new()
            }
        }
    }

    /// Asks the rules about these positions (those without an order in flight or journalled)
    /// and starts what they decide. Decisions run on their own tasks, so the feed never waits on
    /// an order. `tick`: when the market event that asks arrived, for the tick-to-order metric
    /// (none where it is not reported).
    pub(super) async fn evaluate(&self, ids: &[u64], tick: Option<Instant>) {
        let journalled = self.journalled();
        let (positions, marks): (Vec<Position>, Vec<Marks>) = {
            let state = self.state();
            ids.iter()
                .filter_map(|id| state.positions.get(id))
                .filter(|p| matches!(p.status, PositionStatus::Active | PositionStatus::Liquidated))
                .filter(|p| p.closing.is_none() && !state.busy.contains(&p.id) && !journalled.contains(&p.id))
                .map(|p| (p.clone(), super::tops(&state, p)))
                .unzip()
        };
        if positions.is_empty() {
            return;
        }
        let (views, decisions, (by, version)) = self.decide(&positions, &marks).await;
        let Some(me) = self.me() else { return };
        for (i, exit, reason) in decisions.iter().cloned() {
            let Some(p) = positions.get(i) else { continue };
            if !exit.applies_to(p) || !self.state().busy.insert(p.id) {
                continue;
            }
            tracing::info!(position = p.id, ?exit, %reason, "exit decided");
            self.saw(Seen::Decision(&Decision::Exit {
                position: p.id,
                action: format!("{exit:?}"),
                reason: reason.clone(),
                by: by.clone(),
            }));
            if let Some(m) = self.metrics {
                m.exits.with_label_values(&[exit.purpose().as_str()]).inc();
            }
            let (engine, id) = (Arc::clone(&me), p.id);
            let version = version.clone();
            let act = async move { engine.act(id, exit, reason, version).await };
            match tick {
                Some(t) => self.spawn_tracked(TICK.scope(Cell::new(Some(t)), act)),
                None => self.spawn_tracked(act),
            }
        }
        // Shadow rules get the same input, once the orders are on their way.
        if self.plugins.has_shadow(PluginKind::LiquidationRules) {
            let (now, views) = views;
            let ids: Vec<u64> = positions.iter().map(|p| p.id).collect();
            self.saw(Seen::Rules(&RulesCall {
                now_ms: now,
                positions: &ids,
                views: &views,
                decisions: &decisions,
                by: &by,
            }));
        }
    }

    /// Decisions by the plugin, or by the built-in rule when the plugin cannot answer.
    /// Returns the views the rules were given, with `now`, for the shadow rules; and who decided:
    /// the plugin's name (or "built-in") and its version id (none for the built-in rule).
    async fn decide(
        &self,
        positions: &[Position],
        marks: &[Marks],
    ) -> (Views, Vec<(usize, Exit, String)>, (String, Option<String>)) {
        let views: Vec<_> = positions.iter().zip(marks).map(|(p, (b, a))| rules::view(p, *b, *a)).collect();
        let now = self.clock.now_ms();
        let plugins = self.plugins.clone();
        let (views, answer) = match super::plugin_io::plugin_call(move || {
            let answer = plugins.evaluate_rules(now, &views);
            (views, answer)
        })
        .await
        {
            Ok(done) => done,
            Err(e) => (Vec::new(), Err(crate::plugins::PluginError::InvalidInput(e))),
        };
        let version = answer.as_ref().ok().map(|d| d.version_id.to_string());
        let (source, decisions) = match answer {
            Ok(decided) => (
                RulesSource::Plugin { name: decided.plugin.name.clone() },
                decided
                    .decisions
                    .iter()
                    .filter_map(|d| {
                        let i = usize::try_from(d.position).ok()?;
                        Some((i, rules::from_plugin(&d.action), d.reason.clone()))
                    })
                    .collect(),
            ),
            Err(e) => {
                let settings = self.settings();
                let decisions = positions
                    .iter()
                    .zip(marks)
                    .enumerate()
                    .filter_map(|(i, (p, (bids, _)))| {
                        rules::builtin(&settings, p, *bids)
                            .map(|(exit, why)| (i, exit, format!("{why} (built-in rule)")))
                    })
                    .collect();
                (RulesSource::BuiltIn { reason: e.to_string() }, decisions)
            }
        };
        let by = match &source {
            RulesSource::Plugin { name } => name.clone(),
            RulesSource::BuiltIn { .. } => "built-in".to_owned(),
        };
        self.note_rules(source);
        ((now, views), decisions, (by, version))
    }

    /// Remembers who decided; a change is an event (and an error when the plugin failed).
    fn note_rules(&self, source: RulesSource) {
        let changed = {
            let mut state = self.state();
            let changed = state.rules.as_ref() != Some(&source);
            if changed {
                state.rules = Some(source.clone());
            }
            changed
        };
        if changed {
            if let RulesSource::BuiltIn { reason } = &source {
                self.error("rules", format!("the built-in rule protects open positions: {reason}"));
            }
            self.emit(EngineEvent::RulesSource { source });
        }
    }

    /// The periodic safety net: finishes what a failure left half done, refreshes books and
    /// evaluates every open position.
    pub(super) async fn sweep(&self) {
        self.saw(Seen::Decision(&Decision::SweepStarted));
        self.sweep_inner().await;
        self.saw(Seen::Decision(&Decision::SweepEnded));
    }

    async fn sweep_inner(&self) {
        self.reconcile_pending().await;
        self.refresh_settlements().await;
        self.finish_interrupted_entries("entry interrupted").await;
        // A close with an order still journalled waits for its reconciliation.
        let journalled = self.journalled();
        let closing: Vec<(u64, String)> = {
            let state = self.state();
            state
                .positions
                .values()
                .filter(|p| !state.busy.contains(&p.id) && !journalled.contains(&p.id))
                .filter_map(|p| p.closing.clone().map(|r| (p.id, r)))
                .collect()
        };
        for (id, reason) in closing {
            if self.state().busy.insert(id) {
                self.act(id, Exit::CloseAll, reason, None).await;
            }
        }
        let missing: Vec<String> = {
            let state = self.state();
            state.by_token.keys().filter(|t| state.books.get(t).is_none()).cloned().collect()
        };
        for token in missing {
            if let Ok(book) = self.venue_book(&token).await {
                self.state().books.insert(token, book);
            }
        }
        // Held markets stay followed by the venue, even once their listing ends.
        let held: Vec<_> = self.state().by_token.keys().cloned().collect();
        self.exchange.watch(&held);
        self.record_prices();
        self.evaluate_all().await;
    }

    /// Finishes entries a failure or restart left half done, once nothing of theirs is in flight
    /// or journalled (see `finish_opening`).
    pub(super) async fn finish_interrupted_entries(&self, why: &str) {
        let journalled = self.journalled();
        let opening: Vec<u64> = {
            let state = self.state();
            state
                .positions
                .values()
                .filter(|p| p.status == PositionStatus::Opening && !journalled.contains(&p.id))
                .map(|p| p.id)
                .collect()
        };
        for id in opening {
            if self.state().busy.insert(id) {
                if let Err(e) = self.finish_opening(id, why).await {
                    self.error("trader", format!("position {id}: finishing the entry failed: {e}"));
                }
                self.release(id);
            }
        }
    }

    pub(super) async fn sweep_loop(self: Arc<Self>) {
        loop {
            let every = self.settings().sweep_interval();
            tokio::select! {
                () = tokio::time::sleep(every) => self.sweep().await,
                () = self.settings_changed.notified() => {}
            }
        }
    }

    /// A price point per held market, at most one a minute, for charts.
    fn record_prices(&self) {
        let now = self.clock.now_ms();
        let points: Vec<(String, crate::store::PricePoint)> = {
            let mut state = self.state();
            let points: Vec<(String, crate::store::PricePoint)> = state
                .positions
                .values()
                .filter(|p| state.last_point.get(&p.market_id).is_none_or(|t| now - t >= 60_000))
                .map(|p| (p.market_id.clone(), point(&state, p, now)))
                .collect();
            for (market, _) in &points {
                state.last_point.insert(market.clone(), now);
            }
            super::trends::follow_points(&mut state.tracks, &points);
            points
        };
        // Charts look back a month; older points go once a day.
        let prune = {
            let mut state = self.state();
            let due = now - state.pruned_at_ms >= DAY_MS;
            if due {
                state.pruned_at_ms = now;
            }
            due
        };
        if points.is_empty() && !prune {
            return;
        }
        let store = self.store.clone();
        self.spawn_tracked(async move {
            let written = store.write(move |w| w.put_prices(points)).await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "price history");
            }
            // Old points go in small transactions, so the writer is never held long however
            // large the table has grown.
            if prune {
                let mut cursor = None;
                loop {
                    let after = cursor.take();
                    let before = now - KEEP_PRICES_MS;
                    match store.write(move |w| w.prune_prices_chunk(before, after, PRUNE_SCAN)).await {
                        Ok((_, Some(next))) => cursor = Some(next),
                        Ok((_, None)) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "pruning price history");
                            break;
                        }
                    }
                    tokio::task::yield_now().await;
                }
            }
        });
    }

    /// This engine as an owned handle, for tasks it spawns.
    pub(super) fn me(&self) -> Option<Arc<Self>> {
        self.this.get().and_then(std::sync::Weak::upgrade)
    }
}

/// The views the rules were given, and the `now` they were given.
type Views = (i64, Vec<crate::plugins::abi::PositionView>);

/// Shortest gap between two price-move announcements of one position.
const MARKS_EVERY_MS: i64 = 250;

fn point(state: &State, p: &Position, at_ms: i64) -> crate::store::PricePoint {
    let ([yes_bid, no_bid], [yes_ask, no_ask]) = super::tops(state, p);
    // The listing's 24 h volume, for trends, where the last listing has the market.
    let volume_24h = state.markets.get(&p.market_id).map(|m| m.volume_24h);
    crate::store::PricePoint { at_ms, yes_bid, yes_ask, no_bid, no_ask, volume_24h }
}
