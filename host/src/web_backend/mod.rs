//! The host's implementation of the web layer's [`Backend`]: the dashboard and JSON API served
//! from the running engine, plugins and venue. Reads come from memory (the engine's caches of
//! open positions, closed-position summaries and the last scan) so a dashboard page costs no
//! scan of the store; actions go to the engine, their errors classed by what the caller must do.

mod events;
mod history;
mod settings_form;
mod views;

use crate::config::{Config, ExchangeMode};
use crate::engine::{Engine, EngineError};
use crate::exchange::Exchange;
use crate::exchange::polymarket::WalletType;
use crate::exchange::sim::SimExchange;
use crate::feeds::news::NewsStatus;
use crate::feeds::whales::WhaleStatus;
use crate::plugins::{ParamError, PluginKind, Plugins};
use crate::store::StoreError;
use crate::wallet::signer::PRIVATE_KEY_VAR;
use crate::wallet::{CustodyError, WalletDir, doctor};
use equilibrage_web::{
    Backend, BackendError, BackendResult, DoctorCheck, DoctorStatus, DoctorView, FieldError, Health,
    HistoryFilter, HistoryPage, LiveEvent, NewsSourceView, NewsView, OpportunityView, Overview, Performance,
    PluginView, PositionView, RejectedFile, ScanView, SettingsView, TradeView, TrendView, VenueView,
    WalletForm, WalletView, WhaleDetail, WhaleTrackerView, WhaleView,
};
use rust_decimal::Decimal;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
}

/// The venue as the dashboard sees it: the simulator answers at once; paper and live venues are
/// polled in the background (their answers cost network calls).
#[derive(Clone)]
pub enum Venue {
    Sim(SimExchange),
    /// `exchange` is what the wallet doctor checks in live mode.
    Remote {
        name: &'static str,
        status: Arc<Mutex<VenueView>>,
        exchange: Arc<dyn Exchange>,
    },
}

impl std::fmt::Debug for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sim(sim) => f.debug_tuple("Sim").field(sim).finish(),
            Self::Remote { name, status, .. } => {
                f.debug_struct("Remote").field("name", name).field("status", status).finish_non_exhaustive()
            }
        }
    }
}

impl Venue {
    /// A paper or live venue, its markets and balance refreshed every `every` on the current
    /// tokio runtime for as long as the runtime lives.
    #[must_use]
    pub fn polled(exchange: Arc<dyn Exchange>, every: Duration) -> Self {
        let name = exchange.name();
        let venue = Arc::clone(&exchange);
        let status = Arc::new(Mutex::new(VenueView {
            mode: name.into(),
            open_markets: 0,
            now_ms: 0,
            cash: "…".into(),
        }));
        let shared = Arc::downgrade(&status);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // Markets cost a full listing: every tenth round.
            for round in 0_u64.. {
                tick.tick().await;
                let markets =
                    if round % 10 == 0 { exchange.markets().await.ok().map(|m| m.len()) } else { None };
                let cash = exchange.balance().await;
                let Some(status) = shared.upgrade() else { return };
                let mut view = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                view.now_ms = crate::clock::unix_now_ms();
                if let Some(n) = markets {
                    view.open_markets = n;
                }
                match cash {
                    Ok(b) => view.cash = b.collateral.to_string(),
                    Err(e) => tracing::warn!(error = %e, "venue balance"),
                }
            }
        });
        Self::Remote { name, status, exchange: venue }
    }

    /// `sim`, `paper` or `live`.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Sim(_) => "sim",
            Self::Remote { name, .. } => name,
        }
    }
}

/// The wallet as the dashboard may show it: where the key comes from, never the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletInfo {
    /// The address orders are signed with, when a key is in use or stored.
    pub address: Option<String>,
    /// `eoa`, `proxy`, `gnosis-safe` or `deposit`.
    pub signature_type: String,
    pub funder: Option<String>,
    pub key_present: bool,
    pub note: String,
    /// Where a key posted from the dashboard is stored (encrypted); `None` refuses such posts.
    pub custody: Option<WalletDir>,
}

impl WalletInfo {
    /// The wallet the configuration describes: `address` is the key's in use (live mode) or
    /// stored; a key posted from the dashboard goes to the data directory's keystore.
    #[must_use]
    pub fn from_config(config: &Config, address: Option<String>) -> Self {
        let pm = &config.exchange.polymarket;
        let signature_type = match pm.signature_type {
            WalletType::Eoa => "eoa",
            WalletType::Proxy => "proxy",
            WalletType::Safe => "gnosis-safe",
            WalletType::Deposit => "deposit",
        };
        let funder = Some(pm.funder.trim().to_owned()).filter(|f| !f.is_empty());
        let mode = match config.exchange.mode {
            ExchangeMode::Sim => "sim",
            ExchangeMode::Paper => "paper",
            ExchangeMode::Live => "live",
        };
        let custody = WalletDir::in_data_dir(&config.data.dir);
        let stored = custody.has_key();
        let mut info = Self { signature_type: signature_type.into(), funder, ..Self::for_mode(mode) };
        info.key_present = stored || address.is_some();
        info.address = address;
        if stored {
            info.note = stored_note(&custody);
        } else if info.key_present {
            info.note = format!(
                "The signing key comes from {PRIVATE_KEY_VAR} in the environment; `equilibrage wallet import` \
                 keeps it encrypted instead (docs/security.md)."
            );
        }
        info.custody = Some(custody);
        info
    }

    /// What a venue needs by default: no key for the simulator and paper trading.
    #[must_use]
    pub fn for_mode(mode: &str) -> Self {
        let note = match mode {
            "live" => "Live mode needs a key: store one here or with `equilibrage wallet import`.",
            "paper" => {
                "Paper trading on live Polymarket data: no key needed; one stored here is used in live mode."
            }
            _ => "Simulator: no key needed; one stored here is used in live mode.",
        };
        Self { signature_type: "eoa".into(), note: note.to_owned(), ..Self::default() }
    }

    /// What the wallet doctor checks the exchange against.
    fn doctor_setup(&self) -> doctor::Setup {
        let wallet = match self.signature_type.as_str() {
            "proxy" => WalletType::Proxy,
            "gnosis-safe" | "safe" => WalletType::Safe,
            "deposit" => WalletType::Deposit,
            _ => WalletType::Eoa,
        };
        doctor::Setup {
            address: self.address.clone(),
            wallet,
            funder: self.funder.clone(),
            credentials_given: None,
        }
    }

    fn view(&self) -> WalletView {
        WalletView {
            address: self.address.clone(),
            signature_type: self.signature_type.clone(),
            funder: self.funder.clone(),
            key_present: self.key_present,
            note: self.note.clone(),
        }
    }
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
        let shared =
            Arc::new(Shared { plugins, venue, engine, wallet, events: events.clone(), doctor, news, whales });
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
}

/// An engine error as the web layer answers it, by what the caller must do.
fn engine_error(e: EngineError) -> BackendError {
    match e {
        EngineError::Settings(s) => BackendError::Invalid {
            message: s.to_string(),
            fields: s
                .0
                .into_iter()
                .map(|f| FieldError { field: f.field.into(), message: f.message })
                .collect(),
        },
        EngineError::BadAmount(_) | EngineError::InsufficientCapital { .. } => {
            BackendError::Invalid { message: e.to_string(), fields: vec![field("capital", e.to_string())] }
        }
        EngineError::Params(p) => param_error(p),
        EngineError::UnknownMarket(_) | EngineError::UnknownPosition(_) => {
            BackendError::NotFound(e.to_string())
        }
        EngineError::MarketClosed(_)
        | EngineError::AlreadyHeld(_)
        | EngineError::NotOpen(_)
        | EngineError::Busy(_)
        | EngineError::NoSlot { .. }
        | EngineError::Liquidity { .. } => BackendError::Conflict(e.to_string()),
        EngineError::Exchange(x) => match x {
            crate::exchange::ExchangeError::NotFound(_) => BackendError::NotFound(format!("exchange: {x}")),
            // The venue said no to this order as things stand (balance, book, market state).
            crate::exchange::ExchangeError::Rejected { .. } => {
                BackendError::Conflict(format!("exchange: {x}"))
            }
            _ => BackendError::Unavailable(format!("exchange: {x}")),
        },
        EngineError::Plugin(_) => BackendError::Unavailable(e.to_string()),
        EngineError::Store(s) => store_error(&s),
        EngineError::VenueMismatch { .. } => BackendError::Internal(e.to_string()),
    }
}

fn param_error(e: ParamError) -> BackendError {
    match &e {
        ParamError::UnknownPlugin { .. } => BackendError::NotFound(e.to_string()),
        ParamError::UnknownParam { param, .. } | ParamError::OutOfRange { param, .. } => {
            BackendError::Invalid { message: e.to_string(), fields: vec![field(param, e.to_string())] }
        }
    }
}

fn store_error(e: &StoreError) -> BackendError {
    tracing::error!(error = %e, "storage failed serving the dashboard");
    BackendError::Internal(format!("storage: {e}"))
}

fn field(name: &str, message: String) -> FieldError {
    FieldError { field: name.to_owned(), message }
}

/// Whether a key looks like a secp256k1 private key: 64 hexadecimal digits, optionally `0x`.
fn key_shape_ok(key: &str) -> bool {
    let key = key.trim();
    let digits = key.strip_prefix("0x").or_else(|| key.strip_prefix("0X")).unwrap_or(key);
    digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a wallet form's fields, naming each one at fault; never repeats the key or password.
fn check_wallet_form(form: &WalletForm) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !key_shape_ok(&form.private_key) {
        errors.push(field("private_key", "must be 64 hexadecimal digits, optionally prefixed 0x".into()));
    }
    let chars = form.password.chars().count();
    if chars < crate::wallet::input::MIN_PASSWORD_CHARS {
        errors.push(field(
            "password",
            format!("must be at least {} characters", crate::wallet::input::MIN_PASSWORD_CHARS),
        ));
    }
    errors
}

fn stored_note(custody: &WalletDir) -> String {
    format!(
        "The key is stored encrypted in {}; live mode unlocks it at start with its password (a prompt, or \
         EQUILIBRAGE_WALLET_PASSWORD).",
        custody.key_path().display()
    )
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
        let open_pnl: Decimal = s.engine.positions().iter().map(|v| v.pnl.total).sum();
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
            stats: views::stats(closed.stats()),
            health: s.health()?,
        })
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

    fn trades(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<Vec<TradeView>> {
        let (closed, open) = (self.shared.engine.closed_history(), self.shared.open_positions());
        let read = self.shared.engine_store_read()?;
        let mut positions = history::Positions::new(&closed, &open);
        history::trades(&read, &mut positions, filter, offset, limit).map_err(|e| store_error(&e))
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
        Ok(Performance {
            initial_capital: initial,
            equity: closed.equity(initial, start),
            per_position: closed.per_position(),
            stats: views::stats(stats),
            // Of the closed positions, so the equity curve ends at initial + realised.
            realised_pnl: stats.pnl,
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
        let markets = w.markets.iter().map(|m| (m.clone(), self.shared.question_of(m))).collect();
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
        let errors = check_wallet_form(&form);
        if !errors.is_empty() {
            return Err(BackendError::Invalid { message: "invalid wallet key".into(), fields: errors });
        }
        let custody = {
            let info = self.shared.wallet.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if info.key_present {
                return Err(BackendError::Conflict(format!(
                    "a key is already in use ({}); replace it with `equilibrage wallet import --replace` while \
                     the bot is stopped",
                    info.address.as_deref().unwrap_or("unknown address")
                )));
            }
            info.custody.clone().ok_or_else(|| {
                BackendError::Unavailable("this bot has no data directory to store a key in".into())
            })?
        };
        // Encrypting takes about a second of scrypt: off the async workers. The key and password
        // go no further than the keystore; both are dropped (and zeroed) here.
        let key = secrecy::SecretString::from(form.private_key);
        let password = secrecy::SecretString::from(form.password);
        let target = custody.clone();
        let stored = tokio::task::spawn_blocking(move || target.import_key(&key, &password, false))
            .await
            .map_err(|e| BackendError::Internal(format!("storing the key: {e}")))?;
        let address = match stored {
            Ok(address) => address,
            Err(CustodyError::BadKey(why)) => {
                return Err(BackendError::Invalid {
                    message: "invalid wallet key".into(),
                    fields: vec![field("private_key", why.into())],
                });
            }
            Err(CustodyError::File(crate::wallet::files::FileError::Exists { .. })) => {
                return Err(BackendError::Conflict("a key is already stored".into()));
            }
            Err(e) => {
                tracing::error!(error = %e, "storing the wallet key failed");
                return Err(BackendError::Internal(format!("storing the key: {e}")));
            }
        };
        tracing::info!(%address, "wallet key stored encrypted from the dashboard");
        let mut info = self.shared.wallet.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        info.address = Some(address);
        info.key_present = true;
        info.note = stored_note(&custody);
        Ok(info.view())
    }

    async fn wallet_doctor(&self, test_order: bool) -> BackendResult<DoctorView> {
        let setup =
            self.shared.wallet.read().unwrap_or_else(std::sync::PoisonError::into_inner).doctor_setup();
        let exchange = match &self.shared.venue {
            Venue::Remote { name: "live", exchange, .. } => Arc::clone(exchange),
            _ => return Ok(doctor_view(&doctor::skipped(&setup, "live mode only"))),
        };
        let running = Arc::clone(&self.shared.doctor).try_lock_owned().map_err(|_| {
            BackendError::Conflict("the wallet check is already running; wait for its result".into())
        })?;
        // On its own task: a browser that gives up does not stop it between posting the test
        // order and cancelling it.
        let report = tokio::spawn(async move {
            let report = doctor::run(&setup, exchange, test_order).await;
            drop(running);
            report
        })
        .await
        .map_err(|e| BackendError::Internal(format!("the wallet check stopped: {e}")))?;
        Ok(doctor_view(&report))
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

/// The wallet doctor's report as the dashboard shows it.
fn doctor_view(report: &doctor::Report) -> DoctorView {
    let status = |s| match s {
        doctor::Status::Pass => DoctorStatus::Pass,
        doctor::Status::Warn => DoctorStatus::Warn,
        doctor::Status::Fail => DoctorStatus::Fail,
        doctor::Status::Skipped => DoctorStatus::Skipped,
    };
    DoctorView {
        address: report.address.clone(),
        signature_type: report.signature_type.to_owned(),
        funder: report.funder.clone(),
        ok: report.passed(),
        checks: report
            .checks
            .iter()
            .map(|c| DoctorCheck {
                id: c.id.to_owned(),
                name: c.name.to_owned(),
                status: status(c.status),
                detail: c.detail.clone(),
                fix: c.fix.clone(),
            })
            .collect(),
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FieldError as SettingsField, SettingsError};

    #[test]
    fn engine_errors_map_to_what_the_caller_must_do() {
        let settings = engine_error(EngineError::Settings(SettingsError(vec![SettingsField {
            field: "max_positions",
            message: "must be from 1 to 100, got 0".into(),
        }])));
        match settings {
            BackendError::Invalid { fields, .. } => {
                assert_eq!(fields, vec![field("max_positions", "must be from 1 to 100, got 0".into())]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(engine_error(EngineError::UnknownPosition(3)), BackendError::NotFound(_)));
        assert!(matches!(engine_error(EngineError::UnknownMarket("m".into())), BackendError::NotFound(_)));
        for conflict in [
            EngineError::NoSlot { max: 3 },
            EngineError::Busy(1),
            EngineError::NotOpen(1),
            EngineError::AlreadyHeld("m".into()),
            EngineError::MarketClosed("m".into()),
        ] {
            assert!(matches!(engine_error(conflict), BackendError::Conflict(_)));
        }
        let unavailable = EngineError::Exchange(crate::exchange::ExchangeError::Retryable {
            reason: "429".into(),
            retry_after: None,
        });
        assert!(matches!(engine_error(unavailable), BackendError::Unavailable(_)));
        assert!(matches!(
            engine_error(EngineError::Store(StoreError::Database("disk".into()))),
            BackendError::Internal(_)
        ));
        match engine_error(EngineError::BadAmount(Decimal::ZERO)) {
            BackendError::Invalid { fields, .. } => assert_eq!(fields[0].field, "capital"),
            other => panic!("{other:?}"),
        }
        let out_of_range =
            EngineError::Params(ParamError::OutOfRange { param: "w".into(), value: 9.0, min: 0.0, max: 1.0 });
        match engine_error(out_of_range) {
            BackendError::Invalid { fields, .. } => assert_eq!(fields[0].field, "w"),
            other => panic!("{other:?}"),
        }
        let unknown = ParamError::UnknownPlugin { kind: PluginKind::Scorer, name: "x".into() };
        assert!(matches!(engine_error(EngineError::Params(unknown)), BackendError::NotFound(_)));
    }

    #[test]
    fn a_wallet_form_is_checked_and_the_key_never_repeated() {
        let key = "ab".repeat(32);
        let form = |k: &str, p: &str| WalletForm { private_key: k.into(), password: p.into() };
        assert!(check_wallet_form(&form(&key, "long enough")).is_empty());
        assert!(check_wallet_form(&form(&format!("0x{key}"), "long enough")).is_empty());
        let errors = check_wallet_form(&form("0xdeadbeef", "short"));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["private_key", "password"]);
        assert!(errors.iter().all(|e| !e.message.contains("deadbeef") && !e.message.contains("short")));
        assert!(!check_wallet_form(&form(&format!("{key}0"), "long enough")).is_empty(), "65 digits");
        assert!(!check_wallet_form(&form(&"zz".repeat(32), "long enough")).is_empty(), "not hex");
    }

    #[test]
    fn outside_live_mode_the_wallet_doctor_skips_every_check() {
        let mut info = WalletInfo::for_mode("paper");
        info.signature_type = "gnosis-safe".into();
        info.funder = Some("0x1111111111111111111111111111111111111111".into());
        let setup = info.doctor_setup();
        assert_eq!(setup.wallet, WalletType::Safe);
        let view = doctor_view(&doctor::skipped(&setup, "live mode only"));
        assert!(view.ok);
        assert_eq!(view.signature_type, "safe");
        assert_eq!(view.checks.len(), 5);
        assert!(
            view.checks.iter().all(|c| c.status == DoctorStatus::Skipped && c.detail == "live mode only")
        );
    }

    #[test]
    fn the_wallet_says_where_the_key_comes_from() {
        let sim = WalletInfo::for_mode("sim");
        assert!(!sim.key_present && sim.note.contains("no key needed"));
        let mut config = Config::load(None).unwrap();
        config.exchange.mode = ExchangeMode::Live;
        let tmp = tempfile::tempdir().unwrap();
        config.data.dir = tmp.path().to_path_buf();
        let live = WalletInfo::from_config(&config, Some("0xabc".into()));
        assert!(live.key_present && live.note.contains("POLYMARKET_PRIVATE_KEY"));
        assert_eq!((live.address.as_deref(), live.funder.as_deref()), (Some("0xabc"), None));
    }
}
