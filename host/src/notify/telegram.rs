//! Telegram commands: `getUpdates` long-polled, answered only in allow-listed chats. Read-only
//! `/status`, `/positions`, `/pnl`, `/plugins`; `/pause` and `/resume` auto-trading; `/close ID`
//! acts only after `/confirm ID` from the same chat within a minute. Every other chat is
//! ignored and logged.

use super::ChannelStatus;
use super::config::Target;
use super::deliver::{Sender, lock};
use crate::engine::{Engine, SettingsPatch};
use crate::plugins::Plugins;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a `/close` waits for its `/confirm`.
const CONFIRM_WITHIN: Duration = Duration::from_secs(60);
/// The wait after a failed poll; it doubles up to a minute.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Positions `/positions` lists.
const LISTED: usize = 10;

#[derive(Debug, Deserialize)]
struct Answer<T> {
    ok: bool,
    #[serde(default)]
    result: Option<T>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    chat: Chat,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
}

/// The command poller of one Telegram channel.
pub(super) struct Poller {
    name: String,
    api: String,
    token: Option<SecretString>,
    allowed: Vec<i64>,
    timeout_secs: u64,
    http: reqwest::Client,
    engine: Engine,
    plugins: Plugins,
    status: Arc<Mutex<ChannelStatus>>,
    /// Closes asked for and not confirmed yet, by chat: the position and when it was asked.
    pending: HashMap<i64, (u64, Instant)>,
}

impl Poller {
    pub(super) fn new(
        sender: &Sender,
        engine: Engine,
        plugins: Plugins,
        status: Arc<Mutex<ChannelStatus>>,
    ) -> Self {
        let (api, allowed, timeout_secs) = match &sender.target {
            Target::Telegram { api_url, command_chats, poll_timeout_secs, .. } => {
                (api_url.clone(), command_chats.clone(), *poll_timeout_secs)
            }
            _ => (String::new(), Vec::new(), 25),
        };
        Self {
            name: sender.name.clone(),
            api,
            token: sender.secret.clone(),
            allowed,
            timeout_secs,
            http: sender.http.clone(),
            engine,
            plugins,
            status,
            pending: HashMap::new(),
        }
    }

    fn url(&self, method: &str) -> String {
        let token = self.token.as_ref().map(|t| t.expose_secret().to_owned()).unwrap_or_default();
        format!("{}/bot{token}/{method}", self.api)
    }

    /// Polls for as long as the bot runs.
    pub(super) async fn run(mut self) {
        let mut offset: i64 = 0;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.poll(offset).await {
                Ok(updates) => {
                    backoff = FIRST_BACKOFF;
                    for u in updates {
                        offset = offset.max(u.update_id + 1);
                        if let Some(m) = u.message {
                            self.on_message(m).await;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(channel = %self.name, error = %e, ?backoff, "telegram: getUpdates failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    async fn poll(&self, offset: i64) -> Result<Vec<Update>, String> {
        let body = serde_json::json!({ "offset": offset, "timeout": self.timeout_secs, "allowed_updates": ["message"] });
        let response = self
            .http
            .post(self.url("getUpdates"))
            .timeout(Duration::from_secs(self.timeout_secs + 10))
            .json(&body)
            .send()
            .await
            .map_err(|e| super::deliver::causes(&e.without_url()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| super::deliver::causes(&e.without_url()))?;
        let answer: Answer<Vec<Update>> =
            serde_json::from_str(&text).map_err(|e| format!("{status}: not a Bot API answer ({e})"))?;
        match (answer.ok, answer.result) {
            (true, Some(updates)) => Ok(updates),
            _ => Err(format!("{status}: {}", answer.description.unwrap_or_default())),
        }
    }

    async fn on_message(&mut self, m: Message) {
        let chat = m.chat.id;
        if !self.allowed.contains(&chat) {
            lock(&self.status).ignored += 1;
            tracing::warn!(channel = %self.name, chat, "telegram: ignored a message from a chat not allowed");
            return;
        }
        let text = m.text.unwrap_or_default();
        let reply = self.answer(chat, text.trim()).await;
        lock(&self.status).commands += 1;
        if let Err(e) = self.reply(chat, &reply).await {
            tracing::warn!(channel = %self.name, chat, error = %e, "telegram: the reply was not delivered");
        }
    }

    async fn reply(&self, chat: i64, text: &str) -> Result<(), String> {
        let body = serde_json::json!({ "chat_id": chat, "text": text, "disable_web_page_preview": true });
        let response = self
            .http
            .post(self.url("sendMessage"))
            .json(&body)
            .send()
            .await
            .map_err(|e| super::deliver::causes(&e.without_url()))?;
        if response.status().is_success() { Ok(()) } else { Err(response.status().to_string()) }
    }

    /// The answer to one command.
    async fn answer(&mut self, chat: i64, text: &str) -> String {
        let mut words = text.split_whitespace();
        // `/status@MyBot` in groups.
        let command = words.next().unwrap_or_default().split('@').next().unwrap_or_default().to_lowercase();
        let arg = words.next();
        match command.as_str() {
            "/status" => self.status_text(),
            "/positions" => self.positions_text(),
            "/pnl" => self.pnl_text(),
            "/plugins" => self.plugins_text(),
            "/pause" => self.auto_trading(false).await,
            "/resume" => self.auto_trading(true).await,
            "/close" => match arg.and_then(|a| a.parse::<u64>().ok()) {
                None => "Usage: /close ID (the position's number, see /positions).".into(),
                Some(id) => match self.engine.position(id) {
                    Ok(v) if v.position.status.is_open() => {
                        self.pending.insert(chat, (id, Instant::now()));
                        format!(
                            "Close position {id} ({}), selling every side still held at the best bids? Send /confirm {id} within {} seconds.",
                            v.position.question,
                            CONFIRM_WITHIN.as_secs()
                        )
                    }
                    Ok(_) => format!("Position {id} is not open."),
                    Err(e) => format!("Position {id}: {e}"),
                },
            },
            "/confirm" => {
                let id = arg.and_then(|a| a.parse::<u64>().ok());
                match (self.pending.remove(&chat), id) {
                    (Some((asked, at)), Some(id)) if asked == id && at.elapsed() <= CONFIRM_WITHIN => {
                        tracing::info!(channel = %self.name, chat, position = id, "telegram: close confirmed");
                        match self.engine.close(id).await {
                            Ok(p) => format!("Position {id} closed ({:?}).", p.status),
                            Err(e) => format!("Position {id} was not closed: {e}"),
                        }
                    }
                    (Some((asked, _)), Some(id)) if asked == id => {
                        "Too late: send /close again to start over.".into()
                    }
                    _ => "Nothing to confirm: send /close ID first, then /confirm ID.".into(),
                }
            }
            "/start" | "/help" => HELP.into(),
            _ => format!("Unknown command {command:?}.\n{HELP}"),
        }
    }

    fn status_text(&self) -> String {
        let settings = self.engine.settings();
        let net = self.engine.safety_net_down().unwrap_or_else(|| "watching".into());
        match self.engine.overview() {
            Ok(o) => format!(
                "Equity {} pUSD, cash {} pUSD, {} open positions.\nAuto-trading {}. Safety net: {net}.",
                o.total.round_dp(2),
                o.available.round_dp(2),
                o.open_positions,
                if settings.auto_trading { "on" } else { "paused" },
            ),
            Err(e) => format!("The figures could not be read: {e}"),
        }
    }

    fn positions_text(&self) -> String {
        let open = self.engine.positions();
        if open.is_empty() {
            return "No open position.".into();
        }
        let mut lines: Vec<String> = open
            .iter()
            .take(LISTED)
            .map(|v| {
                format!(
                    "#{} {:?}: {} (P&L {} pUSD)",
                    v.position.id,
                    v.position.status,
                    v.position.question,
                    v.pnl.total.round_dp(2)
                )
            })
            .collect();
        if open.len() > LISTED {
            lines.push(format!("… and {} more.", open.len() - LISTED));
        }
        lines.join("\n")
    }

    fn pnl_text(&self) -> String {
        match self.engine.overview() {
            Ok(o) => format!(
                "P&L {} pUSD: realised {} (open and closed positions), unrealised {} at the best bids; fees {}.",
                o.total_pnl.round_dp(2),
                o.realised_pnl.round_dp(2),
                o.unrealised_pnl.round_dp(2),
                o.fees.round_dp(2)
            ),
            Err(e) => format!("The figures could not be read: {e}"),
        }
    }

    fn plugins_text(&self) -> String {
        let list = self.plugins.list();
        if list.is_empty() {
            return "No plugin loaded.".into();
        }
        list.iter()
            .map(|p| {
                format!(
                    "{}{}/{}@{}: {} calls, {} faults",
                    if p.active { "" } else { "(inactive) " },
                    p.info.kind,
                    p.info.name,
                    p.info.version,
                    p.stats.calls,
                    p.stats.faults
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn auto_trading(&self, on: bool) -> String {
        let patch = SettingsPatch { auto_trading: Some(on), ..SettingsPatch::default() };
        match self.engine.update_settings(&patch).await {
            Ok(_) => {
                tracing::info!(channel = %self.name, on, "telegram: auto-trading changed");
                if on {
                    "Auto-trading resumed."
                } else {
                    "Auto-trading paused: no new entries; open positions stay watched."
                }
                .into()
            }
            Err(e) => format!("Not changed: {e}"),
        }
    }
}

const HELP: &str =
    "Commands: /status, /positions, /pnl, /plugins, /pause, /resume, /close ID (then /confirm ID).";
