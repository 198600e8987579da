//! The host's implementation of the web layer's [`Backend`]: the dashboard and JSON API served
//! from the running engine, plugins and venue. Reads come from memory (the engine's caches of
//! open positions, closed-position summaries and the last scan) so a dashboard page costs no
//! scan of the store; actions go to the engine, their errors classed by what the caller must do.

mod errors;
mod events;
mod history;
mod lab;
mod operator;
mod settings_form;
mod shadows;
mod venue;
mod views;
mod wallet;

use errors::{engine_error, field, store_error};
pub use lab::HostLab;
pub use venue::Venue;
pub use wallet::WalletInfo;

use crate::engine::Engine;
use crate::feeds::news::NewsStatus;
use crate::feeds::whales::WhaleStatus;
use crate::plugins::{PluginKind, Plugins};
use equilibrage_web::{
    Backend, BackendError, BackendResult, ChainTxView, ChainView, DoctorView, Health, HistoryFilter,
    HistoryPage, LiveEvent, NewsSourceView, NewsView, OpportunityView, Overview, Performance, PluginView,
    PositionView, RejectedFile, ScanView, SettingsView, TradeList, TradeView, TrendView, VenueView,
    WalletForm, WalletView, WhaleDetail, WhaleTrackerView, WhaleView,
};
use rust_decimal::Decimal;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::broadcast;

const DAY_MS: i64 = 86_400_000;

/// Live events buffered per subscriber; one that falls further behind is told how many it missed.
const LIVE_CAPACITY: usize = 1_024;

/// A plugin whose last fault is this recent counts as faulting.
const FAULT_RECENT_MS: i64 = 10 * 60_000;

/// Serves the dashboard from the running bot. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HostBackend {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    plugins: Plugins,
    venue: Venue,
    engine: Engine,
    /// Changes once, when a key is stored from the dashboard.
    wallet: std::sync::RwLock<WalletInfo>,
    events: broadcast::Sender<LiveEvent>,
    /// Held while the wallet doctor runs: one at a time, so two test orders never overlap.
    doctor: Arc<tokio::sync::Mutex<()>>,
    /// The news aggregator's published status, when feeds are configured (set once).
    news: std::sync::OnceLock<NewsStatus>,
    /// The whale tracker's published status, in paper and live mode (set once).
    whales: std::sync::OnceLock<WhaleStatus>,
    /// The wallet on chain, in live mode with `[chain] rpc_url` (set once), and whether resolved
    /// markets are redeemed automatically.
    chain: std::sync::OnceLock<(Arc<crate::chain::Chain>, bool)>,
    /// The notification channels (set once).
    notifier: std::sync::OnceLock<crate::notify::Notifier>,
    /// The strategy lab (set once).
    lab: std::sync::OnceLock<Arc<HostLab>>,
    /// The shadow plugins' comparisons (set once).
    shadows: std::sync::OnceLock<Arc<crate::lab::ShadowRunner>>,
}

impl HostBackend {
    /// Serves `engine`, `plugins`, `venue` and the wallet as configured
    /// ([`WalletInfo::for_mode`] when there is no configuration). On a tokio runtime, starts the
    /// task that turns their events into the dashboard's live events (without one, there are none).
    #[must_use]
    pub fn new(plugins: Plugins, venue: Venue, engine: Engine, wallet: WalletInfo) -> Self {
        let events = broadcast::channel(LIVE_CAPACITY).0;
        let (engine_events, plugin_events) = (engine.subscribe(), plugins.subscribe());
        let wallet = std::sync::RwLock::new(wallet);
        let doctor = Arc::default();
        let (news, whales) = (std::sync::OnceLock::new(), std::sync::OnceLock::new());
        let shared = Arc::new(Shared {
            plugins,
            venue,
            engine,
            wallet,
            events: events.clone(),
            doctor,
            news,
            whales,
            chain: std::sync::OnceLock::new(),
            notifier: std::sync::OnceLock::new(),
            lab: std::sync::OnceLock::new(),
            shadows: std::sync::OnceLock::new(),
        });
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(events::bridge(Arc::downgrade(&shared), engine_events, plugin_events, events));
            }
            Err(_) => tracing::warn!("no tokio runtime: the dashboard receives no live events"),
        }
        Self { shared }
    }

    /// Shows the news feeds' status (from [`crate::feeds::news::NewsAggregator::status`]) on the
    /// Scanner page and `/api/info/news/sources`; without it, no feed is configured. The first
    /// handle given is kept.
    #[must_use]
    pub fn with_news_status(self, status: NewsStatus) -> Self {
        if self.shared.news.set(status).is_err() {
            tracing::warn!("a second news status handle was ignored");
        }
        self
    }

    /// Shows the whale tracker's status (from [`crate::feeds::whales::WhaleTracker::status`]) on
    /// the Scanner page and `/api/info/whales/tracker`; without it, the tracker does not run (the
    /// simulator brings its own whale trades). The first handle given is kept.
    #[must_use]
    pub fn with_whale_status(self, status: WhaleStatus) -> Self {
        if self.shared.whales.set(status).is_err() {
            tracing::warn!("a second whale tracker status handle was ignored");
        }
        self
    }

    /// Serves the strategy lab's pages and API from `lab`.
    #[must_use]
    pub fn with_lab(self, lab: Arc<HostLab>) -> Self {
        let _ = self.shared.lab.set(lab);
        self
    }

    /// Shows the notification channels' deliveries in the dashboard's health, and tells them
    /// of redemptions made from the dashboard.
    #[must_use]
    pub fn with_notifier(self, notifier: crate::notify::Notifier) -> Self {
        if self.shared.notifier.set(notifier).is_err() {
            tracing::warn!("a second notifier was ignored");
        }
        self
    }

    /// Shows the wallet on chain (Settings, History's redemptions, `/api/wallet/chain`) and
    /// lets the operator redeem from the History page; `auto_redeem` is `[chain] redeem`. The
    /// settlement loop shares the same `chain`, so the two never send at once. The first given
    /// is kept.
    #[must_use]
    pub fn with_chain(self, chain: Arc<crate::chain::Chain>, auto_redeem: bool) -> Self {
        if self.shared.chain.set((chain, auto_redeem)).is_err() {
            tracing::warn!("a second chain handle was ignored");
        }
        self
    }
}

impl Shared {
    fn health(&self) -> BackendResult<Health> {
        let h = self.engine.health().map_err(engine_error)?;
        let (rules, rules_builtin) = views::rules(&h.rules);
        let plugins = self.plugins.list();
        let now = crate::clock::unix_now_ms();
        let faulting = plugins
            .iter()
            .filter(|p| {
                p.stats.faults > 0 && p.last_error.as_ref().is_some_and(|(at, _)| now - at < FAULT_RECENT_MS)
            })
            .count();
        Ok(Health {
            rules,
            rules_builtin,
            last_scan_ms: h.last_scan.as_ref().map(|s| s.started_at_ms),
            last_scan_error: h.last_scan.and_then(|s| s.error),
            pending_orders: h.pending_intents,
            last_error: h.last_error.map(|(_, e)| e),
            plugins_loaded: plugins.len(),
            plugins_faulting: faulting,
            venue: self.engine.venue().to_owned(),
            venue_time_ms: self.engine.now_ms(),
            loops: self.engine.loops().iter().map(views::loop_view).collect(),
            safety_net_down: self.engine.safety_net_down(),
            notifications: self
                .notifier
                .get()
                .map(|n| n.statuses().iter().map(views::notify_channel).collect())
                .unwrap_or_default(),
        })
    }

    /// Markets of the open positions.
    fn held_markets(&self) -> HashSet<String> {
        self.engine.positions().into_iter().map(|v| v.position.market_id).collect()
    }

    /// A market's question where anything the bot holds in memory knows it.
    fn question_of(&self, market_id: &str) -> String {
        self.engine
            .question(market_id)
            .or_else(|| {
                self.engine
                    .last_opportunities()
                    .iter()
                    .find(|o| o.market_id == market_id)
                    .map(|o| o.question.clone())
            })
            .or_else(|| {
                self.engine
                    .closed_history()
                    .newest_first()
                    .find(|c| c.market_id == market_id)
                    .map(|c| c.question.clone())
            })
            .unwrap_or_default()
    }

    fn position_view(&self, p: &crate::store::Position) -> PositionView {
        match self.engine.position(p.id) {
            Ok(v) => views::position(&v.position, v.bids, v.asks),
            Err(_) => views::position(p, [None, None], [None, None]),
        }
    }
}

impl events::Lookup for Shared {
    fn label(&self, position_id: u64) -> (String, String) {
        if let Some(c) = self.engine.closed_history().get(position_id) {
            return (c.market_id.clone(), c.question.clone());
        }
        self.engine
            .position(position_id)
            .map(|v| (v.position.market_id, v.position.question))
            .unwrap_or_default()
    }

    fn held(&self, market_id: &str) -> bool {
        self.engine.positions().iter().any(|v| v.position.market_id == market_id)
    }
}

impl Backend for HostBackend {
    fn venue(&self) -> VenueView {
        match &self.shared.venue {
            Venue::Sim(sim) => {
                let (open_markets, cash) = sim.summary();
                VenueView { mode: "sim".into(), open_markets, now_ms: sim.now_ms(), cash: cash.to_string() }
            }
            Venue::Remote { name, status, .. } => {
                let mut view = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                (*name).clone_into(&mut view.mode);
                view
            }
        }
    }

    fn overview(&self) -> BackendResult<Overview> {
        let s = &self.shared;
        let o = s.engine.overview().map_err(engine_error)?;
        let closed = s.engine.closed_history();
        let now = s.engine.now_ms();
        let open = s.engine.positions();
        let open_pnl: Decimal = open.iter().map(|v| v.pnl.total).sum();
        let mut stats = views::stats(closed.stats());
        stats.liquidations += views::liquidated_legs(&open);
        Ok(Overview {
            total_capital: o.total,
            available_capital: o.available,
            allocated_capital: o.allocated,
            initial_capital: o.initial_capital,
            realised_pnl: o.realised_pnl,
            unrealised_pnl: o.unrealised_pnl,
            total_pnl: o.total_pnl,
            today_pnl: closed.pnl_since(now - now.rem_euclid(DAY_MS)) + open_pnl,
            fees: o.fees,
            active_positions: o.open_positions,
            stats,
            health: s.health()?,
        })
    }

    fn unhealthy(&self) -> Option<String> {
        self.shared.engine.safety_net_down()
    }

    fn notification_events(&self) -> Vec<equilibrage_web::NotifyEventsView> {
        operator::notification_events(&self.shared)
    }

    async fn set_notification_events(
        &self,
        channel: String,
        events: Vec<String>,
    ) -> BackendResult<Vec<equilibrage_web::NotifyEventsView>> {
        operator::set_notification_events(&self.shared, channel, events).await
    }

    fn metrics(&self) -> BackendResult<String> {
        operator::metrics(&self.shared)
    }

    fn positions(&self) -> Vec<PositionView> {
        self.shared.engine.positions().iter().map(|v| views::position(&v.position, v.bids, v.asks)).collect()
    }

    fn position(&self, id: u64) -> BackendResult<PositionView> {
        let v = self.shared.engine.position(id).map_err(engine_error)?;
        Ok(views::position(&v.position, v.bids, v.asks))
    }

    fn history(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<HistoryPage> {
        let closed = self.shared.engine.closed_history();
        let read = self.shared.engine_store_read()?;
        history::page(&read, &closed, filter, offset, limit).map_err(|e| store_error(&e))
    }

    fn trades(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<TradeList> {
        let (closed, open) = (self.shared.engine.closed_history(), self.shared.open_positions());
        let read = self.shared.engine_store_read()?;
        let mut positions = history::Positions::new(&closed, &open);
        history::trades(&read, &mut positions, filter, offset, limit, history::SEARCHED)
            .map_err(|e| store_error(&e))
    }

    fn for_each_trade(
        &self,
        filter: &HistoryFilter,
        each: &mut dyn FnMut(&TradeView) -> bool,
    ) -> BackendResult<()> {
        let (closed, open) = (self.shared.engine.closed_history(), self.shared.open_positions());
        let read = self.shared.engine_store_read()?;
        let mut positions = history::Positions::new(&closed, &open);
        history::each_trade(&read, &mut positions, filter, each).map_err(|e| store_error(&e))
    }

    fn performance(&self) -> BackendResult<Performance> {
        let s = &self.shared;
        let closed = s.engine.closed_history();
        let (initial, start) =
            s.engine.account().map_or((Decimal::ZERO, 0), |a| (a.initial_capital, a.started_at_ms));
        let stats = closed.stats();
        let open = s.engine.positions();
        let mut quick = views::stats(stats);
        quick.liquidations += views::liquidated_legs(&open);
        Ok(Performance {
            initial_capital: initial,
            equity: closed.equity(initial, start),
            per_position: closed.per_position(),
            stats: quick,
            // Of the closed positions, so the equity curve ends at initial + realised.
            realised_pnl: stats.pnl,
            open_realised_pnl: open.iter().map(|v| v.pnl.realised).sum(),
            fees: stats.fees,
        })
    }

    fn opportunities(&self, min_score: f32, limit: usize) -> BackendResult<Vec<OpportunityView>> {
        let s = &self.shared;
        let all = s.engine.last_opportunities();
        let held = s.held_markets();
        Ok(all
            .iter()
            .filter(|o| o.score >= min_score)
            .take(limit)
            .map(|o| views::opportunity(o, held.contains(&o.market_id)))
            .collect())
    }

    fn scans(&self, limit: usize) -> BackendResult<Vec<ScanView>> {
        let read = self.shared.engine_store_read()?;
        let scans = read.scans(limit).map_err(|e| store_error(&e))?;
        Ok(scans.iter().map(views::scan).collect())
    }

    fn settings(&self) -> SettingsView {
        SettingsView {
            fields: settings_form::fields(&self.shared.engine.settings()),
            wallet: self.shared.wallet.read().unwrap_or_else(std::sync::PoisonError::into_inner).view(),
        }
    }

    fn plugins(&self) -> Vec<PluginView> {
        self.shared.plugins.list().iter().map(views::plugin).collect()
    }

    fn rejected_files(&self) -> Vec<RejectedFile> {
        self.shared
            .plugins
            .files()
            .into_iter()
            .filter_map(|f| {
                let at_ms = f.at_ms;
                f.result.err().map(|error| RejectedFile { file: f.file.display().to_string(), at_ms, error })
            })
            .collect()
    }

    fn whales(&self, limit: usize) -> BackendResult<Vec<WhaleView>> {
        let read = self.shared.engine_store_read()?;
        let mut whales = read.whales().map_err(|e| store_error(&e))?;
        whales.sort_by(|a, b| b.total_volume.cmp(&a.total_volume).then_with(|| a.address.cmp(&b.address)));
        Ok(whales.iter().take(limit).map(views::whale).collect())
    }

    fn whale(&self, address: &str) -> BackendResult<WhaleDetail> {
        let read = self.shared.engine_store_read()?;
        let w = read
            .whale(address)
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| BackendError::NotFound(format!("no whale {address:?} is tracked")))?;
        let markets = w.markets.iter().map(|m| (m.to_string(), self.shared.question_of(m))).collect();
        Ok(WhaleDetail { whale: views::whale(&w), markets, activity: views::whale_activity(&w) })
    }

    fn whale_tracker(&self) -> Option<WhaleTrackerView> {
        self.shared.whales.get().map(|status| views::whale_tracker(&status.current()))
    }

    fn news(&self, limit: usize) -> BackendResult<Vec<NewsView>> {
        let read = self.shared.engine_store_read()?;
        let news = read.news(limit).map_err(|e| store_error(&e))?;
        Ok(news.iter().map(views::news).collect())
    }

    fn news_sources(&self) -> Vec<NewsSourceView> {
        self.shared
            .news
            .get()
            .map(|status| status.sources().iter().map(views::news_source).collect())
            .unwrap_or_default()
    }

    fn trends(&self, window_secs: u64, limit: usize) -> BackendResult<Vec<TrendView>> {
        let s = &self.shared;
        // Price history is kept for a month, recorded for held markets and the scanner's best
        // candidates (see `engine::trends`): the markets held now or during the window, and the
        // best of the last scan, are the ones shown; one range read each, the prices table is
        // never scanned whole.
        let window_secs = window_secs.clamp(60, 30 * 86_400);
        let now = s.engine.now_ms();
        let from = now - i64::try_from(window_secs).unwrap_or(i64::MAX / 1_000) * 1_000;
        let mut candidates: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |id: &str, question: &str| {
            if seen.insert(id.to_owned()) {
                candidates.push((id.to_owned(), question.to_owned()));
            }
        };
        for v in s.engine.positions() {
            add(&v.position.market_id, &v.position.question);
        }
        let closed = s.engine.closed_history();
        for c in closed.closed_since(from) {
            add(&c.market_id, &c.question);
        }
        for o in s.engine.last_opportunities().iter().take(TREND_OPPORTUNITIES) {
            add(&o.market_id, &o.question);
        }
        let read = s.engine_store_read()?;
        let mut trends = Vec::new();
        for (id, question) in &candidates {
            let points = read.prices(id, from, now).map_err(|e| store_error(&e))?;
            if !points.is_empty() {
                trends.push(views::trend(id, question, &points, window_secs));
            }
        }
        trends.sort_by(|a, b| {
            let size = |t: &TrendView| t.change.map(|c| c.abs());
            size(b).cmp(&size(a)).then_with(|| a.market_id.cmp(&b.market_id))
        });
        trends.truncate(limit);
        Ok(trends)
    }

    fn trend_windows(&self) -> Vec<u64> {
        self.shared.engine.trend_windows()
    }

    fn lab(&self) -> Option<Arc<dyn equilibrage_web::Lab>> {
        self.shared.lab.get().map(|l| Arc::clone(l) as Arc<dyn equilibrage_web::Lab>)
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.shared.events.subscribe()
    }

    async fn update_settings(
        &self,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> BackendResult<SettingsView> {
        let patch = settings_form::coerce(&patch).map_err(|fields| BackendError::Invalid {
            message: format!(
                "invalid settings: {}",
                fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
            ),
            fields,
        })?;
        self.shared.engine.update_settings(&patch).await.map_err(engine_error)?;
        Ok(self.settings())
    }

    async fn set_wallet(&self, form: WalletForm) -> BackendResult<WalletView> {
        self.store_wallet(form).await
    }

    async fn wallet_doctor(&self, test_order: bool) -> BackendResult<DoctorView> {
        self.run_doctor(test_order).await
    }

    async fn chain(&self, balances: bool) -> BackendResult<Option<ChainView>> {
        self.chain_view(balances).await
    }

    async fn redeem(&self, condition_id: String) -> BackendResult<ChainTxView> {
        self.redeem_market(&condition_id).await
    }

    async fn scan(&self) -> BackendResult<ScanView> {
        let scan = self.shared.engine.scan().await.map_err(engine_error)?;
        Ok(views::scan(&scan))
    }

    async fn enter(&self, market_id: String, capital: Option<Decimal>) -> BackendResult<PositionView> {
        let p = self.shared.engine.enter(&market_id, capital).await.map_err(engine_error)?;
        Ok(self.shared.position_view(&p))
    }

    async fn close(&self, id: u64) -> BackendResult<PositionView> {
        let p = self.shared.engine.close(id).await.map_err(engine_error)?;
        Ok(self.shared.position_view(&p))
    }

    fn shadows(&self) -> Vec<equilibrage_web::ShadowView> {
        shadows::list(&self.shared)
    }

    fn shadow_action(&self, kind: &str, action: equilibrage_web::ShadowAction) -> BackendResult<String> {
        shadows::act(&self.shared, kind, action)
    }

    fn upload_shadow(&self, file: &str, bytes: &[u8]) -> BackendResult<(String, String)> {
        shadows::upload(&self.shared, file, bytes)
    }

    fn plugin_versions(&self) -> Vec<equilibrage_web::PluginVersionView> {
        shadows::versions(&self.shared)
    }

    fn rollback_plugin(&self, kind: &str, sha256: &str) -> BackendResult<String> {
        shadows::rollback(&self.shared, kind, sha256)
    }

    async fn set_plugin_params(
        &self,
        kind: String,
        name: String,
        values: Vec<(String, f64)>,
    ) -> BackendResult<Vec<f64>> {
        let kind: PluginKind = kind.parse().map_err(BackendError::NotFound)?;
        self.shared.engine.set_plugin_params(kind, &name, &values).await.map_err(engine_error)
    }
}

/// Opportunities of the last scan whose markets are looked up for trends.
const TREND_OPPORTUNITIES: usize = 50;

impl Shared {
    fn engine_store_read(&self) -> BackendResult<crate::store::Reader> {
        self.engine.store_read().map_err(|e| store_error(&e))
    }

    fn open_positions(&self) -> Vec<crate::store::Position> {
        self.engine.positions().into_iter().map(|v| v.position).collect()
    }
}

#[cfg(test)]
mod engine_tests;
