//! The engine's handle: what the binary, the dashboard and the lab ask of a running engine.

use super::*;

impl Engine {
    /// Opens the engine on a venue: loads settings and the account (the venue's balance on the
    /// very first start), and reconciles journalled orders and open positions with the venue.
    /// Background tasks start with [`Engine::spawn`].
    ///
    /// # Errors
    /// Storage errors, or a venue that cannot be reached for reconciliation.
    pub async fn open(
        exchange: Arc<dyn Exchange>,
        plugins: Plugins,
        store: Store,
        options: EngineOptions,
    ) -> Result<Self> {
        let stored: Option<Settings> = store.read()?.config(SETTINGS_KEY)?;
        let settings = match stored {
            Some(s) if s.validate().is_ok() => s,
            Some(s) => {
                tracing::warn!(error = %s.validate().err().map(|e| e.to_string()).unwrap_or_default(), "stored settings are invalid; using the configured ones");
                options.settings
            }
            None => options.settings,
        };
        settings.validate()?;
        let inner = Inner {
            exchange,
            plugins,
            store,
            clock: options.clock,
            metrics: options.metrics.then(crate::metrics::get),
            settings: ArcSwap::from_pointee(settings),
            state: Mutex::new(State { books: BookSet::new(Decimal::from(5)), ..State::default() }),
            events: broadcast::channel(1_024).0,
            history: history::History::default(),
            opportunities: ArcSwap::from_pointee(Vec::new()),
            last_scan: ArcSwap::from_pointee(None),
            entry: tokio::sync::Mutex::new(()),
            scanning: tokio::sync::Mutex::new(()),
            scan_requested: Notify::new(),
            settings_changed: Notify::new(),
            client_seq: std::sync::atomic::AtomicU64::new(0),
            scans_numbered: std::sync::atomic::AtomicU64::new(0),
            recent: Mutex::new(signals::Recent::default()),
            whale_inbox: Mutex::new(whales::WhaleInbox::default()),
            this: std::sync::OnceLock::new(),
            observer: std::sync::OnceLock::new(),
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            loops: supervisor::Loops::default(),
        };
        let engine = Self { inner: Arc::new(inner) };
        let _ = engine.inner.this.set(Arc::downgrade(&engine.inner));
        engine.inner.load().await?;
        engine.inner.push_rule_params();
        engine.inner.note_versions().await;
        engine.inner.recover().await?;
        Ok(engine)
    }

    /// Tells `observer` what the engine sees and decides from now on (see [`Observer`]). One
    /// observer per engine: a second is refused and returned.
    ///
    /// # Errors
    /// The observer given, when one is set already.
    pub fn set_observer(&self, observer: Arc<dyn Observer>) -> std::result::Result<(), Arc<dyn Observer>> {
        self.inner.observer.set(observer)
    }

    /// Waits until every task the engine spawned (exits, price points) has finished: a
    /// driver that steps the engine by hand (a backtest) waits for this between steps, so each
    /// step's consequences land before the next step, whatever the scheduler does.
    pub async fn idle(&self) {
        while self.inner.in_flight.load(std::sync::atomic::Ordering::Acquire) > 0 {
            tokio::task::yield_now().await;
        }
    }

    /// Where the news aggregator (`feeds::news`) hands its new items: they join the scanner's
    /// signals like the venue's own news.
    pub fn news_sink(&self) -> impl Fn(Vec<crate::exchange::sim::NewsItem>) + Send + Sync + 'static {
        let inner = Arc::clone(&self.inner);
        move |items| inner.push_news(items)
    }

    /// The venue's name.
    #[must_use]
    pub fn venue(&self) -> &'static str {
        self.inner.exchange.name()
    }

    /// Now, on the engine's clock.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Sets the trend windows and how the scanner records candidates' prices (`[signals.trends]`).
    pub fn set_trends_config(&self, config: TrendsConfig) {
        self.inner.state().trends = config;
    }

    /// The trend windows offered, seconds; the first is the default.
    #[must_use]
    pub fn trend_windows(&self) -> Vec<u64> {
        self.inner.state().trends.windows_secs.clone()
    }

    /// Events for the dashboard and API.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> Settings {
        (**self.inner.settings.load()).clone()
    }

    /// Changes settings, all or nothing: validated, persisted, then applied (the liquidation
    /// parameters also go to the active liquidation-rules plugin).
    ///
    /// # Errors
    /// Every invalid field, by name; or the store failing (nothing changes then either).
    pub async fn update_settings(&self, patch: &SettingsPatch) -> Result<Settings> {
        let next = self.settings().patched(patch)?;
        let stored = next.clone();
        self.inner.store.write(move |w| w.put_config(SETTINGS_KEY, &stored)).await?;
        self.inner.settings.store(Arc::new(next.clone()));
        self.inner.push_rule_params();
        self.inner.settings_changed.notify_waiters();
        Ok(next)
    }

    /// Changes parameters of a loaded plugin, live (its next call uses them), and keeps them for
    /// the next start. All values are checked before any is applied.
    ///
    /// # Errors
    /// Unknown plugin or parameter, a value out of its declared range (nothing changes), or the
    /// store failing (the values then apply until the next start only, and the error says so).
    pub async fn set_plugin_params(
        &self,
        kind: PluginKind,
        name: &str,
        values: &[(String, f64)],
    ) -> Result<Vec<f64>> {
        let applied = self.inner.plugins.set_params(kind, name, values)?;
        let info = self.inner.plugins.list().into_iter().find(|p| p.info.kind == kind && p.info.name == name);
        let stored: BTreeMap<String, f64> = info
            .map(|p| p.info.params.iter().map(|s| s.name.clone()).zip(applied.iter().copied()).collect())
            .unwrap_or_default();
        let (kind_name, plugin) = (kind.as_str().to_owned(), name.to_owned());
        self.inner.store.write(move |w| w.put_plugin_params(&kind_name, &plugin, &stored)).await?;
        Ok(applied)
    }

    /// Scans now and returns the scan's record (its `error` says why when it failed).
    ///
    /// # Errors
    /// Only storage errors; venue and plugin failures are recorded in the scan.
    pub async fn scan(&self) -> Result<ScanRecord> {
        self.inner.scan().await
    }

    /// Asks the scheduled scanner to scan as soon as it can.
    pub fn request_scan(&self) {
        self.inner.scan_requested.notify_one();
    }

    /// Opportunities of the last scan at or above `min_score`, best first.
    ///
    /// # Errors
    /// Never: they are held in memory since the scan stored them (the `Result` stays for callers
    /// written when this read the store).
    pub fn opportunities(&self, min_score: f32) -> Result<Vec<Opportunity>> {
        Ok(self.inner.opportunities.load().iter().filter(|o| o.score >= min_score).cloned().collect())
    }

    /// Every opportunity of the last scan, best first (ties by market id), shared: no copy. A
    /// backtest's engine keeps none (no dashboard reads them; its decision log has the scans).
    #[must_use]
    pub fn last_opportunities(&self) -> Arc<Vec<Opportunity>> {
        self.inner.opportunities.load_full()
    }

    /// Closed positions as of now: statistics, charts and History pages without a store scan.
    #[must_use]
    pub fn closed_history(&self) -> Arc<ClosedHistory> {
        self.inner.history.snapshot()
    }

    /// Notes in the store which plugin version of each kind is active now, before returning (the
    /// engine also does so on its own when a plugin loads, a moment later). For callers off the
    /// runtime's workers, such as the dashboard's promote and roll back, whose next page lists
    /// the versions.
    pub fn note_plugin_versions_now(&self) {
        self.inner.note_versions_blocking();
    }

    /// A snapshot of the store the engine writes, for reads the engine does not cache.
    ///
    /// # Errors
    /// redb failures starting a read transaction.
    pub fn store_read(&self) -> std::result::Result<crate::store::Reader, StoreError> {
        self.inner.store.read()
    }

    /// The account: initial capital, cash, fees, since when.
    #[must_use]
    pub fn account(&self) -> Option<Account> {
        self.inner.state().account.clone()
    }

    /// A market's question, where the engine knows it: the last listing or an open position.
    #[must_use]
    pub fn question(&self, market_id: &str) -> Option<String> {
        let state = self.inner.state();
        if let Some(m) = state.markets.get(market_id) {
            return Some(m.question.clone());
        }
        state.positions.values().find(|p| p.market_id == market_id).map(|p| p.question.clone())
    }

    /// Enters a position on a market: `capital` pUSD (default: the allocation percentage of
    /// available capital), half on YES and half on NO, after the pre-trade liquidity check.
    ///
    /// # Errors
    /// No free slot, an unknown or closed market, a market already held, a bad amount, thin
    /// books, or the venue failing (recorded on the position).
    pub async fn enter(&self, market_id: &str, capital: Option<Decimal>) -> Result<Position> {
        self.inner.enter(market_id, capital, None).await
    }

    /// Closes a position: sells every side still held.
    ///
    /// # Errors
    /// Unknown or already closed position, an order in flight, or the venue failing (the close
    /// is retried by the safety sweep).
    pub async fn close(&self, position_id: u64) -> Result<Position> {
        self.inner.close(position_id, "manual close".into()).await
    }

    /// Evaluates every open position now, as the safety sweep does.
    pub async fn sweep(&self) {
        self.inner.sweep().await;
    }

    /// Open positions with their marks and P&L.
    #[must_use]
    pub fn positions(&self) -> Vec<PositionView> {
        let state = self.inner.state();
        state.positions.values().map(|p| view_of(&state, p)).collect()
    }

    /// One position (open or not).
    ///
    /// # Errors
    /// Unknown id, storage errors.
    pub fn position(&self, id: u64) -> Result<PositionView> {
        {
            let state = self.inner.state();
            if let Some(p) = state.positions.get(&id) {
                return Ok(view_of(&state, p));
            }
        }
        let p = self.inner.store.read()?.position(id)?.ok_or(EngineError::UnknownPosition(id))?;
        let pnl = mark(&p, [None, None]);
        Ok(PositionView { position: p, bids: [None, None], asks: [None, None], pnl })
    }

    /// Positions no longer open, newest first.
    ///
    /// # Errors
    /// Storage errors.
    pub fn history(&self) -> Result<Vec<Position>> {
        let mut all = self.inner.store.read()?.positions()?;
        all.retain(|p| !p.status.is_open());
        all.reverse();
        Ok(all)
    }

    /// Every trade, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub fn trades(&self) -> Result<Vec<TradeRecord>> {
        Ok(self.inner.store.read()?.trades()?)
    }

    /// Capital and P&L now.
    ///
    /// # Errors
    /// Storage errors.
    pub fn overview(&self) -> Result<Overview> {
        let state = self.inner.state();
        let account = state.account.clone().unwrap_or_else(|| Account::new(Decimal::ZERO, "", 0));
        Ok(overview(&account, state.positions.values().map(|p| (p, tops(&state, p).0))))
    }

    /// Who decides exits, the last scan, pending orders, the last error.
    ///
    /// # Errors
    /// Storage errors.
    pub fn health(&self) -> Result<Health> {
        // Served with every dashboard page: the last scan comes from memory, the journal's size
        // from the table's length, nothing is decoded.
        let last_scan = (**self.inner.last_scan.load()).clone();
        let pending_intents = usize::try_from(self.inner.store.read()?.intent_count()?).unwrap_or(usize::MAX);
        let state = self.inner.state();
        Ok(Health {
            rules: state.rules.clone().unwrap_or_else(|| self.inner.rules_source_now()),
            last_scan,
            pending_intents,
            last_error: state.last_error.clone(),
        })
    }

    /// Feeds one market event through the monitor, as the feed task does (for tests and
    /// benchmarks that drive the engine by hand).
    pub async fn on_market_event(&self, event: crate::exchange::MarketEvent) {
        self.inner.on_event(event).await;
    }

    /// Feeds the events of one moment of the market together (a simulator step): each held
    /// position they moved is evaluated once, after all of them (see the monitor).
    pub async fn on_market_events(&self, events: &[crate::exchange::MarketEvent]) {
        self.inner.on_events(events).await;
    }

    /// Waits until no position has an order in flight (tests).
    pub async fn settle(&self) {
        loop {
            if self.inner.state().busy.is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}
