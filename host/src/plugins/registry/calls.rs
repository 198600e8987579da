//! Calling the active plugins: a fresh instance per call under the sandbox's limits, faults
//! classified, outputs validated.

use super::*;

impl Plugins {
    /// A fresh store for one call: memory and time limits, and `budget` bytes the answer may
    /// bring into the host (see `plugins::budget`).
    pub(super) fn new_store(&self, label: &Arc<str>, budget: usize) -> Store<CallState> {
        let limits = &self.inner.options.limits;
        let mut store = Store::new(&self.inner.engine, CallState::new(Arc::clone(label), limits));
        store.limiter(CallState::limiter);
        store.set_epoch_deadline(limits.deadline_ticks());
        store.set_hostcall_fuel(budget);
        store
    }

    pub(super) fn classify(
        &self,
        label: &str,
        store: &Store<CallState>,
        err: &wasmtime::Error,
    ) -> PluginError {
        let limits = &self.inner.options.limits;
        if crate::plugins::budget::exhausted(err) {
            PluginError::InvalidOutput {
                plugin: label.to_string(),
                reason: format!(
                    "its answer is larger than the {} KiB this call allows; refused before it was copied",
                    store.hostcall_fuel() >> 10
                ),
            }
        } else if matches!(err.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
            PluginError::Timeout { plugin: label.to_string(), limit_ms: limits.call_timeout.as_millis() }
        } else if store.data().memory_denied() {
            PluginError::MemoryLimit { plugin: label.to_string(), limit_mib: limits.memory_bytes >> 20 }
        } else {
            PluginError::Trap { plugin: label.to_string(), message: format!("{err:#}") }
        }
    }

    pub(super) fn canary_call<R>(
        &self,
        label: &Arc<str>,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, String> {
        let mut store = self.new_store(label, crate::plugins::budget::DESCRIBE);
        f(&mut store).map_err(|e| self.classify(label, &store, &e).to_string())
    }

    /// One call of a loaded plugin in a fresh instance, with limits, fault classification and
    /// statistics. `check` validates the plugin's answer.
    pub(super) fn call<R>(
        &self,
        loaded: &Loaded,
        budget: usize,
        f: impl FnOnce(&Pre, &mut Store<CallState>) -> wasmtime::Result<Result<R, String>>,
        check: impl FnOnce(&R) -> Result<(), String>,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        let mut store = self.new_store(&loaded.label, budget);
        let outcome = match f(&loaded.pre, &mut store) {
            Err(e) => Err(self.classify(&loaded.label, &store, &e)),
            Ok(Err(message)) => Err(PluginError::Refused { plugin: loaded.label.to_string(), message }),
            Ok(Ok(out)) => match check(&out) {
                Ok(()) => Ok(out),
                Err(reason) => Err(PluginError::InvalidOutput { plugin: loaded.label.to_string(), reason }),
            },
        };
        drop(store);
        let stats = &loaded.stats;
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats.calls.fetch_add(1, Ordering::Relaxed);
        stats.total_us.fetch_add(us, Ordering::Relaxed);
        stats.max_us.fetch_max(us, Ordering::Relaxed);
        if let Some(m) = &stats.exported {
            m.latency.observe(started.elapsed().as_secs_f64());
        }
        if let Err(e) = &outcome {
            let counter = if e.is_fault() { &stats.faults } else { &stats.errors };
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = &stats.exported {
                if e.is_fault() { m.faults.inc() } else { m.errors.inc() }
            }
            *stats.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((now_ms(), e.to_string()));
            tracing::warn!(plugin = %loaded.label, error = %e, "plugin call failed");
            // A shadow's failure is its own: nothing the bot does depended on it.
            self.emit(if loaded.shadow {
                PluginEvent::Shadow {
                    kind: loaded.info.kind,
                    name: loaded.info.name.clone(),
                    version: loaded.info.version.clone(),
                    change: crate::plugins::ShadowChange::Fault { error: e.to_string() },
                }
            } else {
                PluginEvent::Fault {
                    kind: loaded.info.kind,
                    name: loaded.info.name.clone(),
                    error: e.to_string(),
                }
            });
        }
        outcome
    }

    /// Exercises a freshly loaded plugin once with a small synthetic input.
    pub(super) fn canary(&self, loaded: &Loaded) -> Result<(), PluginError> {
        let params = loaded.params.load_full();
        let now = 1_767_225_600_000; // 2026-01-01, any fixed time will do
        match loaded.info.kind {
            PluginKind::Scorer => self.score_with(loaded, &params, now, &abi::canary_market()).map(drop),
            PluginKind::WhaleAnalyzer => {
                self.analyze_with(loaded, &params, now, &abi::canary_trades(now)).map(drop)
            }
            PluginKind::NewsAggregator => {
                let (items, markets) = abi::canary_news(now);
                self.match_news_with(loaded, &params, now, &items, &markets).map(drop)
            }
            PluginKind::LiquidationRules => {
                self.evaluate_with(loaded, &params, now, &[abi::canary_position()]).map(drop)
            }
        }
    }

    pub(super) fn active(&self, kind: PluginKind) -> Result<Arc<Loaded>, PluginError> {
        self.inner.active[kind.index()].load_full().ok_or(PluginError::NotLoaded(kind))
    }

    /// Scores markets with the active scorer, in batches of at most the configured size.
    ///
    /// # Errors
    /// No scorer loaded, a fault (trap, timeout, memory, invalid output) or the plugin's own error.
    pub fn score(&self, now_ms: i64, markets: &abi::MarketBatch) -> Result<Scored, PluginError> {
        let loaded = self.active(PluginKind::Scorer)?;
        let params = loaded.params.load_full();
        let out = self.score_with(&loaded, &params, now_ms, markets)?;
        Ok(Scored {
            plugin: Arc::clone(&loaded.info),
            version_id: loaded.version_id(),
            generation: loaded.generation,
            scores: out.values,
            factors: out.factors,
        })
    }

    pub(super) fn score_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        markets: &abi::MarketBatch,
    ) -> Result<abi::Scores, PluginError> {
        let (n, batch) = (markets.len(), self.inner.options.limits.max_batch.max(1));
        if n <= batch {
            return self.score_chunk(loaded, params, now, markets);
        }
        let mut all = abi::Scores { values: Vec::with_capacity(n), factors: Vec::new() };
        for start in (0..n).step_by(batch) {
            let chunk = markets.slice(start..(start + batch).min(n));
            let out = self.score_chunk(loaded, params, now, &chunk)?;
            all.values.extend_from_slice(&out.values);
            all.factors.extend_from_slice(&out.factors);
        }
        Ok(all)
    }

    fn score_chunk(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        markets: &abi::MarketBatch,
    ) -> Result<abi::Scores, PluginError> {
        let factors = loaded.info.factors.len();
        self.call(
            loaded,
            crate::plugins::budget::score(markets.len(), factors),
            |pre, store| match pre {
                Pre::Scorer(p) => {
                    Scorer::call_score(&p.instantiate(&mut *store)?, store, params, now, markets)
                }
                _ => unreachable!("a scorer slot holds a scorer"),
            },
            |out| validate::scores(out, markets.len(), factors),
        )
    }

    pub(super) fn analyze_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        input: &abi::AnalysisInput,
    ) -> Result<abi::Analysis, PluginError> {
        let cap = self.inner.options.limits.max_batch.saturating_mul(4);
        if input.trades.len() > cap {
            return Err(PluginError::InvalidInput(format!(
                "{} trades in one call; the limit is {cap}",
                input.trades.len()
            )));
        }
        let budget =
            crate::plugins::budget::analyze(input.wallet_count as usize, input.market_count as usize);
        self.call(
            loaded,
            budget,
            |pre, store| match pre {
                Pre::Whales(p) => {
                    WhaleAnalyzer::call_analyze(&p.instantiate(&mut *store)?, store, params, now, input)
                }
                _ => unreachable!("a whale slot holds a whale analyzer"),
            },
            |a| validate::analysis(a, input.wallet_count, input.market_count),
        )
    }

    pub(super) fn match_news_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        items: &[abi::NewsItem],
        markets: &[abi::MarketText],
    ) -> Result<Vec<abi::NewsMatch>, PluginError> {
        let cap = self.inner.options.limits.max_batch;
        if items.len() > cap || markets.len() > cap {
            return Err(PluginError::InvalidInput(format!(
                "{} items and {} markets in one call; the limit is {cap} each",
                items.len(),
                markets.len()
            )));
        }
        self.call(
            loaded,
            crate::plugins::budget::match_news(items.len(), markets.len()),
            |pre, store| match pre {
                Pre::News(p) => NewsAggregator::call_match_news(
                    &p.instantiate(&mut *store)?,
                    store,
                    params,
                    now,
                    items,
                    markets,
                ),
                _ => unreachable!("a news slot holds a news aggregator"),
            },
            |m| validate::matches(m, items.len(), markets.len()),
        )
    }

    /// Asks the active liquidation rules about open positions.
    ///
    /// # Errors
    /// No rules plugin loaded, too many positions, a fault or the plugin's own error; the caller
    /// then applies the built-in rule.
    pub fn evaluate_rules(
        &self,
        now_ms: i64,
        positions: &[abi::PositionView],
    ) -> Result<Decided, PluginError> {
        let loaded = self.active(PluginKind::LiquidationRules)?;
        let params = loaded.params.load_full();
        let last = self.inner.options.repeat_rules.then_some(&self.inner.last_rules);
        let decisions = match last.and_then(|l| l.answer(loaded.generation, &params, now_ms, positions)) {
            Some(decisions) => decisions,
            None => {
                let decisions = self.evaluate_with(&loaded, &params, now_ms, positions)?;
                if let Some(last) = last {
                    last.keep(loaded.generation, &params, now_ms, positions, &decisions);
                }
                decisions
            }
        };
        Ok(Decided { plugin: Arc::clone(&loaded.info), version_id: loaded.version_id(), decisions })
    }

    pub(super) fn evaluate_with(
        &self,
        loaded: &Loaded,
        params: &[f64],
        now: i64,
        positions: &[abi::PositionView],
    ) -> Result<Vec<abi::Decision>, PluginError> {
        let cap = self.inner.options.limits.max_batch;
        if positions.len() > cap {
            return Err(PluginError::InvalidInput(format!(
                "{} positions in one call; the limit is {cap}",
                positions.len()
            )));
        }
        self.call(
            loaded,
            crate::plugins::budget::evaluate(positions.len()),
            |pre, store| match pre {
                Pre::Rules(p) => LiquidationRules::call_evaluate(
                    &p.instantiate(&mut *store)?,
                    store,
                    params,
                    now,
                    positions,
                ),
                _ => unreachable!("a rules slot holds liquidation rules"),
            },
            |d| validate::decisions(d, positions),
        )
    }
}
