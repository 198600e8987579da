//! Notifications: what the engine, the plugins and the background loops do, told to Telegram,
//! webhooks and ntfy as each channel selects, rate-limited and retried off the engine's paths;
//! and Telegram commands from allow-listed chats.

mod config;
mod deliver;
mod telegram;

pub use config::{ChannelConfig, EventKind, Kind, NotifyConfig, Target, WebhookFormat};

use crate::engine::{Engine, EngineEvent, LoopStatus};
use crate::plugins::{PluginEvent, Plugins, ShadowChange};
use crate::store::{Leg, Purpose, TradeRecord};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Messages a channel may have waiting; past it new ones are dropped (and counted), so a dead
/// service never grows memory.
const QUEUE: usize = 256;
/// How often loop restarts, the safety net, the feed probe and the day are checked.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub kind: EventKind,
    pub title: String,
    pub text: String,
    /// Unix milliseconds on the engine's clock.
    pub at_ms: i64,
}

/// How a channel is doing, for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStatus {
    pub name: String,
    pub kind: String,
    pub sent: u64,
    pub failed: u64,
    /// Dropped because its queue was full.
    pub dropped: u64,
    /// Attempts that were retried.
    pub retries: u64,
    pub last_sent_ms: Option<i64>,
    /// The last delivery that failed for good: when, and why.
    pub last_error: Option<(i64, String)>,
    /// Telegram: messages from chats not allowed, ignored.
    pub ignored: u64,
    /// Telegram: commands answered.
    pub commands: u64,
}

impl ChannelStatus {
    /// Whether the last attempt to deliver failed (no success since).
    #[must_use]
    pub fn failing(&self) -> bool {
        match (&self.last_error, self.last_sent_ms) {
            (Some((failed, _)), Some(sent)) => *failed > sent,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Why notifications cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("config: {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error(
        "notify channel {channel}: no {what}: set the environment variable {var}, or store it encrypted with `equilibrage notify secret {channel}`"
    )]
    MissingSecret { channel: String, var: String, what: &'static str },
    #[error("notifications: http client: {0}")]
    Http(String),
    #[error("no notification channel named {0:?}")]
    UnknownChannel(String),
    #[error("notifications: storage: {0}")]
    Store(String),
}

struct Channel {
    name: String,
    kind: &'static str,
    /// What it is told: the configuration's choice, or the operator's from Settings.
    events: std::sync::RwLock<HashSet<EventKind>>,
    queue: mpsc::Sender<Note>,
    status: Arc<Mutex<ChannelStatus>>,
}

/// The running notifications (cheap to clone).
#[derive(Clone)]
pub struct Notifier {
    channels: Arc<Vec<Channel>>,
    /// Telegram channels that answer commands, until [`Notifier::serve_commands`] starts them.
    commands: Arc<Vec<(deliver::Sender, Arc<Mutex<ChannelStatus>>)>>,
    /// Where the operator's choices of events are kept (see [`Notifier::keep_events_in`]).
    store: Arc<std::sync::OnceLock<crate::store::Store>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("channels", &self.channels.len()).finish()
    }
}

/// What else the watcher follows: a probe of the venue's link (heartbeats, market feed) that
/// says what is wrong, when something is.
pub type LinkProbe = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl Notifier {
    /// Starts a delivery task per channel. A channel's secret is its environment variable's
    /// value, read with `env` (the process environment in the bot), else the one `stored`
    /// under its name (`equilibrage notify secret`); either is registered with the log's
    /// scrubber, so no log line can carry it.
    ///
    /// # Errors
    /// A bad channel, or a secret neither in the environment nor stored.
    pub fn start(
        config: &NotifyConfig,
        env: &dyn Fn(&str) -> Option<String>,
        stored: &std::collections::BTreeMap<String, secrecy::SecretString>,
    ) -> Result<Self, NotifyError> {
        config.validate().map_err(|(key, message)| NotifyError::Invalid { key, message })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("equilibrage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Http(e.to_string()))?;
        let mut channels = Vec::new();
        let mut commands = Vec::new();
        for c in &config.channels {
            let target = c.target().map_err(|(key, message)| NotifyError::Invalid { key, message })?;
            let (var, what, needed) = match &target {
                Target::Telegram { token_env, .. } => (Some(token_env.clone()), "bot token", true),
                Target::Webhook { url_env, .. } => (Some(url_env.clone()), "webhook URL", true),
                Target::Ntfy { token_env, .. } => (token_env.clone(), "ntfy access token", true),
            };
            let secret = match var {
                Some(var) => {
                    let from_env = env(&var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
                    let from_store = || {
                        stored.get(&c.name).map(|s| secrecy::ExposeSecret::expose_secret(s).trim().to_owned())
                    };
                    match from_env.or_else(from_store).filter(|v| !v.is_empty()) {
                        Some(value) => {
                            crate::logging::register_secret(&value);
                            Some(secrecy::SecretString::from(value))
                        }
                        None if needed => {
                            return Err(NotifyError::MissingSecret { channel: c.name.clone(), var, what });
                        }
                        None => None,
                    }
                }
                None => None,
            };
            let kind = match c.kind {
                Kind::Telegram => "telegram",
                Kind::Webhook => "webhook",
                Kind::Ntfy => "ntfy",
            };
            let status = Arc::new(Mutex::new(ChannelStatus {
                name: c.name.clone(),
                kind: kind.to_owned(),
                ..ChannelStatus::default()
            }));
            let (queue, rx) = mpsc::channel(QUEUE);
            let sender =
                deliver::Sender { name: c.name.clone(), target: target.clone(), secret, http: http.clone() };
            if let Target::Telegram { command_chats, .. } = &target
                && !command_chats.is_empty()
            {
                commands.push((sender.clone(), Arc::clone(&status)));
            }
            tokio::spawn(deliver::run(sender, rx, deliver::Pace::new(c.per_minute), Arc::clone(&status)));
            channels.push(Channel {
                name: c.name.clone(),
                kind,
                events: std::sync::RwLock::new(c.events.iter().copied().collect()),
                queue,
                status,
            });
        }
        Ok(Self { channels: Arc::new(channels), commands: Arc::new(commands), store: Arc::default() })
    }

    /// Answers Telegram commands (where a channel has them on) for `engine` and `plugins`.
    pub fn serve_commands(&self, engine: &Engine, plugins: &Plugins) {
        for (sender, status) in self.commands.iter() {
            let poller = telegram::Poller::new(sender, engine.clone(), plugins.clone(), Arc::clone(status));
            tokio::spawn(poller.run());
        }
    }

    /// The names of the channels whose secret is not in the environment (`env`): they need the
    /// stored secrets.
    #[must_use]
    pub fn needing_stored_secrets(
        config: &NotifyConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<String> {
        config
            .channels
            .iter()
            .filter(|c| {
                let var = match c.target() {
                    Ok(Target::Telegram { token_env, .. }) => Some(token_env),
                    Ok(Target::Webhook { url_env, .. }) => Some(url_env),
                    Ok(Target::Ntfy { token_env, .. }) => token_env,
                    Err(_) => None,
                };
                var.is_some_and(|v| env(&v).is_none_or(|s| s.trim().is_empty()))
            })
            .map(|c| c.name.clone())
            .collect()
    }

    /// Sends `note` on every channel, whatever the events it selected, and waits (up to
    /// `within`) for each to deliver or fail: the channels' statuses after (`notify test`).
    pub async fn test(&self, note: &Note, within: Duration) -> Vec<ChannelStatus> {
        for c in self.channels.iter() {
            if c.queue.try_send(note.clone()).is_err() {
                deliver::lock(&c.status).dropped += 1;
            }
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let statuses = self.statuses();
            let done = statuses.iter().all(|s| s.sent + s.failed + s.dropped > 0);
            if done || tokio::time::Instant::now() >= deadline {
                return statuses;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Hands `note` to every channel that selected its kind; never waits.
    pub fn notify(&self, note: &Note) {
        for c in self.channels.iter().filter(|c| events_of(c).contains(&note.kind)) {
            if c.queue.try_send(note.clone()).is_err() {
                let mut s = deliver::lock(&c.status);
                s.dropped += 1;
                crate::metrics::get().notifications.with_label_values(&[s.name.as_str(), "dropped"]).inc();
            }
        }
    }

    /// Every channel's status, in the configured order.
    #[must_use]
    pub fn statuses(&self) -> Vec<ChannelStatus> {
        self.channels.iter().map(|c| deliver::lock(&c.status).clone()).collect()
    }

    /// Whether any channel is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Follows the engine's and the plugins' events, the background loops, the link `probe` and
    /// the day, for as long as the engine runs. It subscribes and takes the states it compares
    /// with when called, so what happens after this call is told even before the returned task
    /// first runs.
    pub fn watch(
        self,
        engine: Engine,
        plugins: &Plugins,
        probe: Option<LinkProbe>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let events = engine.subscribe();
        let plugin_events = plugins.subscribe();
        let seen = Seen {
            entered: engine.positions().iter().map(|v| v.position.id).collect(),
            restarts: restarts_of(&engine.loops()),
            net_down: engine.safety_net_down(),
            link_down: probe.as_ref().and_then(|p| p()),
            day: day_of(engine.now_ms()),
        };
        self.follow(engine, events, plugin_events, probe, seen)
    }

    async fn follow(
        self,
        engine: Engine,
        mut events: broadcast::Receiver<EngineEvent>,
        mut plugin_events: broadcast::Receiver<PluginEvent>,
        probe: Option<LinkProbe>,
        seen: Seen,
    ) {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let Seen { mut entered, mut restarts, mut net_down, mut link_down, mut day } = seen;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => {
                        if let Some(note) = engine_note(&engine, &event, &mut entered) {
                            self.notify(&note);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "notifications fell behind the engine's events");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                event = plugin_events.recv() => match event {
                    Ok(event) => {
                        if let Some(note) = plugin_note(engine.now_ms(), &event) {
                            self.notify(&note);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    let now = engine.now_ms();
                    let loops = engine.loops();
                    for l in &loops {
                        let before = restarts.iter().find(|(n, _)| *n == l.name).map_or(0, |(_, r)| *r);
                        if l.restarts > before {
                            let why = l.last_failure.as_ref().map_or("", |(_, w)| w.as_str());
                            self.notify(&Note {
                                kind: EventKind::LoopRestart,
                                title: format!("The {} loop failed and is restarting", l.name),
                                text: format!("{why} (restart {}{})", l.restarts,
                                    if l.safety_net { "; open positions are unwatched until it is back" } else { "" }),
                                at_ms: now,
                            });
                        }
                    }
                    restarts = restarts_of(&loops);
                    let down = engine.safety_net_down();
                    if down != net_down {
                        self.notify(&transition("The safety net", down.as_deref(), now));
                        net_down = down;
                    }
                    if let Some(p) = &probe {
                        let down = p();
                        if down != link_down {
                            self.notify(&transition("The exchange link", down.as_deref(), now));
                            link_down = down;
                        }
                    }
                    let today = day_of(now);
                    if today != day {
                        self.notify(&daily_summary(&engine, day, now));
                        day = today;
                    }
                }
            }
        }
    }
}

fn events_of(c: &Channel) -> std::sync::RwLockReadGuard<'_, HashSet<EventKind>> {
    c.events.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the operator's choices of events are kept (the store's configuration table).
const EVENTS_KEY: &str = "notify_events";

/// A channel's name, kind and the events it is told, in [`EventKind::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEvents {
    pub name: String,
    pub kind: &'static str,
    pub events: Vec<EventKind>,
}

impl Notifier {
    /// Every channel's events.
    #[must_use]
    pub fn events(&self) -> Vec<ChannelEvents> {
        self.channels
            .iter()
            .map(|c| {
                let on = events_of(c);
                ChannelEvents {
                    name: c.name.clone(),
                    kind: c.kind,
                    events: EventKind::ALL.into_iter().filter(|k| on.contains(k)).collect(),
                }
            })
            .collect()
    }

    /// Applies the choices of events the operator made earlier (kept in `store`), over the
    /// configuration's, and keeps later choices there; a choice for a channel no longer
    /// configured is ignored.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn keep_events_in(&self, store: &crate::store::Store) -> Result<(), crate::store::StoreError> {
        let _ = self.store.set(store.clone());
        let kept: Option<std::collections::BTreeMap<String, Vec<EventKind>>> =
            store.read()?.config(EVENTS_KEY)?;
        for (name, events) in kept.unwrap_or_default() {
            if let Some(c) = self.channels.iter().find(|c| c.name == name) {
                *c.events.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    events.into_iter().collect();
            }
        }
        Ok(())
    }

    /// Chooses the events `channel` is told, at once, and keeps every channel's choice in the
    /// store of [`Notifier::keep_events_in`] so a restart keeps it.
    ///
    /// # Errors
    /// No such channel, or the store cannot be written (the choice then applies until a restart).
    pub async fn set_events(&self, channel: &str, events: &[EventKind]) -> Result<(), NotifyError> {
        let c = self
            .channels
            .iter()
            .find(|c| c.name == channel)
            .ok_or_else(|| NotifyError::UnknownChannel(channel.to_owned()))?;
        *c.events.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            events.iter().copied().collect();
        let all: std::collections::BTreeMap<String, Vec<EventKind>> =
            self.events().into_iter().map(|c| (c.name, c.events)).collect();
        if let Some(store) = self.store.get() {
            store
                .write(move |w| w.put_config(EVENTS_KEY, &all))
                .await
                .map_err(|e| NotifyError::Store(e.to_string()))?;
        }
        tracing::info!(channel, events = ?events, "notification events chosen");
        Ok(())
    }
}

/// What the watcher last saw, to tell changes.
struct Seen {
    /// Open positions whose entry was told (or that were open when the watcher started).
    entered: HashSet<u64>,
    restarts: Vec<(String, u64)>,
    net_down: Option<String>,
    link_down: Option<String>,
    day: i64,
}

fn restarts_of(loops: &[LoopStatus]) -> Vec<(String, u64)> {
    loops.iter().map(|l| (l.name.to_string(), l.restarts)).collect()
}

/// A link or net that went down (with why) or came back.
fn transition(what: &str, down: Option<&str>, at_ms: i64) -> Note {
    match down {
        Some(why) => {
            Note { kind: EventKind::Feed, title: format!("{what} is down"), text: why.to_owned(), at_ms }
        }
        None => Note {
            kind: EventKind::Feed,
            title: format!("{what} is back"),
            text: "Working again.".into(),
            at_ms,
        },
    }
}

/// The UTC day number of `ms`.
fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// The summary of `day` (a UTC day number), sent as the next begins.
fn daily_summary(engine: &Engine, day: i64, now: i64) -> Note {
    let date = crate::clock::utc_date(day * 86_400_000);
    let text = match engine.overview() {
        Ok(o) => {
            let trades =
                engine.trades().map(|t| t.iter().filter(|t| day_of(t.at_ms) == day).count()).unwrap_or(0);
            format!(
                "Equity {} pUSD (cash {}), P&L {} pUSD: realised {}, unrealised {}; fees {}.\n{} open positions; {} trades on {date}.",
                o.total.round_dp(2),
                o.available.round_dp(2),
                o.total_pnl.round_dp(2),
                o.realised_pnl.round_dp(2),
                o.unrealised_pnl.round_dp(2),
                o.fees.round_dp(2),
                o.open_positions,
                trades
            )
        }
        Err(e) => format!("The figures could not be read: {e}"),
    };
    Note { kind: EventKind::DailySummary, title: format!("Daily summary, {date} (UTC)"), text, at_ms: now }
}

/// The message of a redemption sent on chain.
#[must_use]
pub fn redemption_note(tx: &crate::store::ChainTx) -> Note {
    Note {
        kind: EventKind::Redemption,
        title: "Redeemed on chain: the capital is back in the wallet".into(),
        text: format!("{} (transaction {})", tx.what, tx.hash),
        at_ms: tx.created_at_ms,
    }
}

fn leg_name(leg: Leg) -> &'static str {
    match leg {
        Leg::Yes => "YES",
        Leg::No => "NO",
    }
}

/// The message an engine event makes, if any. An entry is told once, when both sides are held
/// (`entered` remembers which were); its two buys are not told one by one.
fn engine_note(engine: &Engine, event: &EngineEvent, entered: &mut HashSet<u64>) -> Option<Note> {
    match event {
        EngineEvent::TradeExecuted { trade } if trade.purpose == Purpose::Entry => None,
        EngineEvent::TradeExecuted { trade } => Some(trade_note(engine, trade)),
        EngineEvent::PositionUpdate { position, .. } => {
            if !position.status.is_open() {
                entered.remove(&position.id);
                return None;
            }
            let held = position.legs.iter().all(|l| l.bought > rust_decimal::Decimal::ZERO);
            (position.status == crate::store::PositionStatus::Active && held && entered.insert(position.id))
                .then(|| entry_note(position))
        }
        EngineEvent::Error { source, message, at_ms } => Some(Note {
            kind: EventKind::Error,
            title: format!("Error ({source})"),
            text: message.clone(),
            at_ms: *at_ms,
        }),
        _ => None,
    }
}

/// One message for an entry: both sides, what they cost, and the score it was entered on.
fn entry_note(p: &crate::store::Position) -> Note {
    let side = |i: usize| {
        let l = &p.legs[i];
        format!(
            "{} {} shares at {}",
            leg_name(if i == 0 { Leg::Yes } else { Leg::No }),
            l.bought.normalize(),
            l.entry_price().round_dp(4).normalize()
        )
    };
    let cost: rust_decimal::Decimal = p.legs.iter().map(|l| l.cost).sum();
    let fees: rust_decimal::Decimal = p.legs.iter().map(|l| l.fees).sum();
    let score = p.score.map(|s| format!(" Score {s:.1}.")).unwrap_or_default();
    Note {
        kind: EventKind::Entry,
        title: format!("Position {} entered", p.id),
        text: format!(
            "{}\n{}, {}; {} pUSD, fees {}.{score}",
            p.question,
            side(0),
            side(1),
            cost.round_dp(2),
            fees.round_dp(2)
        ),
        at_ms: p.opened_at_ms,
    }
}

fn trade_note(engine: &Engine, t: &TradeRecord) -> Note {
    let question = engine.position(t.position_id).map(|v| v.position.question).unwrap_or_default();
    let (kind, what) = match t.purpose {
        Purpose::Entry => (EventKind::Entry, "bought"), // told as one entry, see `entry_note`
        Purpose::Liquidation => (EventKind::Liquidation, "liquidated"),
        Purpose::StopLoss => (EventKind::StopLoss, "stop-loss sold"),
        Purpose::TakeProfit => (EventKind::TakeProfit, "take-profit sold"),
        Purpose::Close | Purpose::Unwind => (EventKind::Close, "sold"),
        Purpose::Settlement => (EventKind::Resolution, "settled"),
    };
    let title = format!("Position {}: {what} {}", t.position_id, leg_name(t.leg));
    let text = format!(
        "{question}\n{} shares at {} = {} pUSD, fee {}. {}",
        t.shares.normalize(),
        t.price.round_dp(4).normalize(),
        t.notional.round_dp(2),
        t.fee.round_dp(2),
        t.reason
    );
    Note { kind, title, text: text.trim_end().to_owned(), at_ms: t.at_ms }
}

/// The message a plugin event makes, if any.
fn plugin_note(at_ms: i64, event: &PluginEvent) -> Option<Note> {
    match event {
        PluginEvent::Fault { kind, name, error } => Some(Note {
            kind: EventKind::PluginFault,
            title: format!("Plugin {kind}/{name} faulted"),
            text: error.clone(),
            at_ms,
        }),
        PluginEvent::Loaded { kind, name, version, generation, .. } => Some(Note {
            kind: EventKind::PluginReload,
            title: format!("Plugin {kind}/{name}@{version} loaded"),
            text: format!("Generation {generation}."),
            at_ms,
        }),
        PluginEvent::Rejected { file, error } => Some(Note {
            kind: EventKind::PluginReload,
            title: format!("Plugin file {} refused", file.display()),
            text: format!("{error} (the previous version keeps serving)"),
            at_ms,
        }),
        PluginEvent::Shadow { kind, name, version, change: ShadowChange::Promoted } => Some(Note {
            kind: EventKind::PluginReload,
            title: format!("Shadow {kind}/{name}@{version} promoted"),
            text: "It is now the active plugin of its kind.".into(),
            at_ms,
        }),
        PluginEvent::Unloaded { .. } | PluginEvent::Shadow { .. } => None,
    }
}
