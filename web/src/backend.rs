//! The running bot as the web layer needs it: a trait the host implements (so this crate never
//! depends on the host) and the one error type its answers carry.

use crate::model::{
    ChainTxView, ChainView, DoctorView, HistoryFilter, HistoryPage, LiveEvent, NewsSourceView, NewsView,
    NotifyEventsView, OpportunityView, Overview, Performance, PluginVersionView, PluginView, PositionView,
    RejectedFile, ScanView, SettingsView, ShadowAction, ShadowView, TradeList, TradeView, TrendView,
    VenueView, WalletForm, WalletView, WhaleDetail, WhaleTrackerView, WhaleView,
};
use rust_decimal::Decimal;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A field that does not hold an acceptable value, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why the bot refused or could not answer; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// 404: no such position, market, plugin or whale.
    #[error("{0}")]
    NotFound(String),
    /// 422: the request is well formed but its values are not acceptable; `fields` names each.
    #[error("{message}")]
    Invalid { message: String, fields: Vec<FieldError> },
    /// 409: the state does not allow it now (no free slot, an order in flight, already closed).
    #[error("{0}")]
    Conflict(String),
    /// 503: the venue or a plugin is not answering; trying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// 500: storage failed or something else that is the bot's fault.
    #[error("{0}")]
    Internal(String),
}

impl BackendError {
    /// An invalid request with one message and no field named.
    #[must_use]
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid { message: message.into(), fields: Vec::new() }
    }
}

/// Result of a backend call.
pub type BackendResult<T> = Result<T, BackendError>;

/// What the web layer needs from the running bot. Reads are synchronous and cheap (they must
/// serve a dashboard at 1,000 requests/s); actions are asynchronous.
/// Runs a blocking backend call on tokio's blocking pool, off the async workers, so a slow
/// search never holds up other requests; a panic in it is resumed here.
pub(crate) async fn off_workers<B, T, F>(backend: &Arc<B>, call: F) -> T
where
    B: Backend + ?Sized,
    T: Send + 'static,
    F: FnOnce(&B) -> T + Send + 'static,
{
    let backend = Arc::clone(backend);
    match tokio::task::spawn_blocking(move || call(&backend)).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

pub trait Backend: Send + Sync + 'static {
    /// The venue.
    fn venue(&self) -> VenueView;
    /// Capital, P&L, quick statistics and health.
    fn overview(&self) -> BackendResult<Overview>;
    /// Why the bot cannot be left alone right now (the safety net of open positions is down),
    /// for `/healthz`; `None` when it can. Cheap: probes call it often.
    fn unhealthy(&self) -> Option<String>;
    /// The bot's metrics in the Prometheus text exposition format (version 0.0.4), for
    /// `/metrics`.
    ///
    /// # Errors
    /// When the figures cannot be read.
    fn metrics(&self) -> BackendResult<String>;
    /// Open positions with their live marks, oldest first.
    fn positions(&self) -> Vec<PositionView>;
    /// One position, open or closed.
    fn position(&self, id: u64) -> BackendResult<PositionView>;
    /// Closed positions matching `filter`, newest first, `limit` of them from `offset`.
    fn history(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<HistoryPage>;
    /// Trades of positions matching `filter` (the position's market and outcome, the trade's own
    /// time), newest first, `limit` of them from `offset`; a bounded search (see
    /// [`TradeList::complete`]). Blocking: the web layer calls it, and `history`, off the async
    /// workers.
    fn trades(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<TradeList>;
    /// Every trade matching `filter`, oldest first, handed to `each` one at a time without
    /// collecting them (an export of 100,000 trades keeps memory flat); stops early when `each`
    /// returns false. Blocking: the web layer calls it off the async workers.
    fn for_each_trade(
        &self,
        filter: &HistoryFilter,
        each: &mut dyn FnMut(&TradeView) -> bool,
    ) -> BackendResult<()>;
    /// Equity curve, P&L per closed position and statistics.
    fn performance(&self) -> BackendResult<Performance>;
    /// Opportunities of the last scan at or above `min_score`, best first, at most `limit`.
    fn opportunities(&self, min_score: f32, limit: usize) -> BackendResult<Vec<OpportunityView>>;
    /// The most recent scans, newest first.
    fn scans(&self, limit: usize) -> BackendResult<Vec<ScanView>>;
    /// The settings form and the wallet.
    fn settings(&self) -> SettingsView;
    /// Loaded plugins.
    fn plugins(&self) -> Vec<PluginView>;
    /// Plugin files that were rejected, with why.
    fn rejected_files(&self) -> Vec<RejectedFile>;
    /// Tracked whales, largest volume first, at most `limit`.
    fn whales(&self, limit: usize) -> BackendResult<Vec<WhaleView>>;
    /// One whale.
    fn whale(&self, address: &str) -> BackendResult<WhaleDetail>;
    /// The Data API whale tracker's status; `None` when it does not run (the simulator brings
    /// its own whale trades).
    fn whale_tracker(&self) -> Option<WhaleTrackerView>;
    /// Recent news, newest first, at most `limit`.
    fn news(&self, limit: usize) -> BackendResult<Vec<NewsView>>;
    /// Every configured news source and its fetch status, in configuration order; empty when
    /// none is configured.
    fn news_sources(&self) -> Vec<NewsSourceView>;
    /// Market trends over the last `window_secs`, largest moves first, at most `limit`.
    fn trends(&self, window_secs: u64, limit: usize) -> BackendResult<Vec<TrendView>>;
    /// The trend windows the operator configured, seconds; the first is the default.
    fn trend_windows(&self) -> Vec<u64> {
        vec![3_600, 86_400]
    }
    /// Live events; a subscriber that falls behind misses events and is told so by `Lagged`.
    fn subscribe(&self) -> broadcast::Receiver<LiveEvent>;
    /// The strategy lab, where the bot runs one.
    fn lab(&self) -> Option<Arc<dyn crate::lab::Lab>> {
        None
    }

    /// Changes settings, all or nothing: `patch` is a JSON object of setting name → value.
    fn update_settings(
        &self,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> impl Future<Output = BackendResult<SettingsView>> + Send;
    /// Stores a wallet key (encrypted); afterwards only the address is shown.
    fn set_wallet(&self, form: WalletForm) -> impl Future<Output = BackendResult<WalletView>> + Send;
    /// Runs the wallet doctor: live trading's wallet checked at the exchange (every check skipped
    /// outside live mode); with `test_order`, a tiny post-only order is posted and cancelled at once.
    fn wallet_doctor(&self, test_order: bool) -> impl Future<Output = BackendResult<DoctorView>> + Send;
    /// The wallet on chain: markets due for redemption and the transaction journal, and with
    /// `balances` its pUSD and POL (read from the node, bounded to a few seconds; pages that do
    /// not show them skip the call); `None` when on-chain settlement is off (not live, or no
    /// `[chain] rpc_url`).
    fn chain(&self, balances: bool) -> impl Future<Output = BackendResult<Option<ChainView>>> + Send;
    /// Redeems one resolved market's winning shares now and waits for the receipt.
    fn redeem(&self, condition_id: String) -> impl Future<Output = BackendResult<ChainTxView>> + Send;
    /// Scans now.
    fn scan(&self) -> impl Future<Output = BackendResult<ScanView>> + Send;
    /// Enters a position: `capital` pUSD, or the allocation percentage when `None`, split 50/50.
    fn enter(
        &self,
        market_id: String,
        capital: Option<Decimal>,
    ) -> impl Future<Output = BackendResult<PositionView>> + Send;
    /// Closes a position (sells every side still held).
    fn close(&self, id: u64) -> impl Future<Output = BackendResult<PositionView>> + Send;
    /// The notification channels and the events each is told.
    fn notification_events(&self) -> Vec<NotifyEventsView>;
    /// Chooses the events `channel` is told (names as in [`NotifyEventChoice::event`]), live
    /// and persisted; every channel after.
    fn set_notification_events(
        &self,
        channel: String,
        events: Vec<String>,
    ) -> impl Future<Output = BackendResult<Vec<NotifyEventsView>>> + Send;
    /// Shadow plugins and how they compare with the active ones (none where the bot has none).
    fn shadows(&self) -> Vec<ShadowView> {
        Vec::new()
    }
    /// Promotes or retires the shadow of a kind (`scorer`, `liquidation-rules`, …); returns
    /// what was done, in words. Blocking (files move): call it off the async workers.
    fn shadow_action(&self, kind: &str, action: ShadowAction) -> BackendResult<String> {
        let _ = (kind, action);
        Err(BackendError::Unavailable("shadow plugins are not available here".into()))
    }
    /// Installs a component as a shadow (`shadow/FILE` in the plugin directory) and loads it;
    /// returns its kind and `name@version`. Blocking (it compiles): off the async workers.
    fn upload_shadow(&self, file: &str, bytes: &[u8]) -> BackendResult<(String, String)> {
        let _ = (file, bytes);
        Err(BackendError::Unavailable("shadow plugins are not available here".into()))
    }
    /// Every plugin version the bot has had active, most recently active first.
    fn plugin_versions(&self) -> Vec<PluginVersionView> {
        Vec::new()
    }
    /// Makes a kept version of a kind active again (`sha256` names it); returns what was done,
    /// in words. Blocking (it compiles): off the async workers.
    fn rollback_plugin(&self, kind: &str, sha256: &str) -> BackendResult<String> {
        let _ = (kind, sha256);
        Err(BackendError::Unavailable("plugin versions are not available here".into()))
    }
    /// Sets parameters of a plugin, live and persisted; returns every parameter's value after.
    fn set_plugin_params(
        &self,
        kind: String,
        name: String,
        values: Vec<(String, f64)>,
    ) -> impl Future<Output = BackendResult<Vec<f64>>> + Send;
}

/// A shared backend is a backend (tests keep a handle on theirs; the host may share one).
impl<B: Backend> Backend for std::sync::Arc<B> {
    fn venue(&self) -> VenueView {
        (**self).venue()
    }
    fn overview(&self) -> BackendResult<Overview> {
        (**self).overview()
    }
    fn unhealthy(&self) -> Option<String> {
        (**self).unhealthy()
    }
    fn metrics(&self) -> BackendResult<String> {
        (**self).metrics()
    }
    fn positions(&self) -> Vec<PositionView> {
        (**self).positions()
    }
    fn position(&self, id: u64) -> BackendResult<PositionView> {
        (**self).position(id)
    }
    fn history(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<HistoryPage> {
        (**self).history(filter, offset, limit)
    }
    fn trades(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<TradeList> {
        (**self).trades(filter, offset, limit)
    }
    fn for_each_trade(
        &self,
        filter: &HistoryFilter,
        each: &mut dyn FnMut(&TradeView) -> bool,
    ) -> BackendResult<()> {
        (**self).for_each_trade(filter, each)
    }
    fn performance(&self) -> BackendResult<Performance> {
        (**self).performance()
    }
    fn opportunities(&self, min_score: f32, limit: usize) -> BackendResult<Vec<OpportunityView>> {
        (**self).opportunities(min_score, limit)
    }
    fn scans(&self, limit: usize) -> BackendResult<Vec<ScanView>> {
        (**self).scans(limit)
    }
    fn settings(&self) -> SettingsView {
        (**self).settings()
    }
    fn plugins(&self) -> Vec<PluginView> {
        (**self).plugins()
    }
    fn rejected_files(&self) -> Vec<RejectedFile> {
        (**self).rejected_files()
    }
    fn whales(&self, limit: usize) -> BackendResult<Vec<WhaleView>> {
        (**self).whales(limit)
    }
    fn whale(&self, address: &str) -> BackendResult<WhaleDetail> {
        (**self).whale(address)
    }
    fn whale_tracker(&self) -> Option<WhaleTrackerView> {
        (**self).whale_tracker()
    }
    fn news(&self, limit: usize) -> BackendResult<Vec<NewsView>> {
        (**self).news(limit)
    }
    fn news_sources(&self) -> Vec<NewsSourceView> {
        (**self).news_sources()
    }
    fn trends(&self, window_secs: u64, limit: usize) -> BackendResult<Vec<TrendView>> {
        (**self).trends(window_secs, limit)
    }
    fn trend_windows(&self) -> Vec<u64> {
        (**self).trend_windows()
    }
    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        (**self).subscribe()
    }
    fn lab(&self) -> Option<Arc<dyn crate::lab::Lab>> {
        (**self).lab()
    }
    fn update_settings(
        &self,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> impl Future<Output = BackendResult<SettingsView>> + Send {
        (**self).update_settings(patch)
    }
    fn set_wallet(&self, form: WalletForm) -> impl Future<Output = BackendResult<WalletView>> + Send {
        (**self).set_wallet(form)
    }
    fn wallet_doctor(&self, test_order: bool) -> impl Future<Output = BackendResult<DoctorView>> + Send {
        (**self).wallet_doctor(test_order)
    }
    fn scan(&self) -> impl Future<Output = BackendResult<ScanView>> + Send {
        (**self).scan()
    }
    fn enter(
        &self,
        market_id: String,
        capital: Option<Decimal>,
    ) -> impl Future<Output = BackendResult<PositionView>> + Send {
        (**self).enter(market_id, capital)
    }
    fn close(&self, id: u64) -> impl Future<Output = BackendResult<PositionView>> + Send {
        (**self).close(id)
    }
    fn chain(&self, balances: bool) -> impl Future<Output = BackendResult<Option<ChainView>>> + Send {
        (**self).chain(balances)
    }
    fn redeem(&self, condition_id: String) -> impl Future<Output = BackendResult<ChainTxView>> + Send {
        (**self).redeem(condition_id)
    }
    fn set_plugin_params(
        &self,
        kind: String,
        name: String,
        values: Vec<(String, f64)>,
    ) -> impl Future<Output = BackendResult<Vec<f64>>> + Send {
        (**self).set_plugin_params(kind, name, values)
    }
    fn notification_events(&self) -> Vec<NotifyEventsView> {
        (**self).notification_events()
    }
    fn shadows(&self) -> Vec<ShadowView> {
        (**self).shadows()
    }
    fn shadow_action(&self, kind: &str, action: ShadowAction) -> BackendResult<String> {
        (**self).shadow_action(kind, action)
    }
    fn upload_shadow(&self, file: &str, bytes: &[u8]) -> BackendResult<(String, String)> {
        (**self).upload_shadow(file, bytes)
    }
    fn plugin_versions(&self) -> Vec<PluginVersionView> {
        (**self).plugin_versions()
    }
    fn rollback_plugin(&self, kind: &str, sha256: &str) -> BackendResult<String> {
        (**self).rollback_plugin(kind, sha256)
    }
    fn set_notification_events(
        &self,
        channel: String,
        events: Vec<String>,
    ) -> impl Future<Output = BackendResult<Vec<NotifyEventsView>>> + Send {
        (**self).set_notification_events(channel, events)
    }
}
