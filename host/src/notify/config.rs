//! `[notify]`: the notification channels, what each is told, and where their secrets come from.

use serde::{Deserialize, Serialize};

/// What the operator can be told about, each selectable per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Entry,
    Liquidation,
    StopLoss,
    TakeProfit,
    Close,
    Resolution,
    Redemption,
    Error,
    PluginFault,
    PluginReload,
    /// Heartbeat and market-feed failures (and their recovery).
    Feed,
    /// A supervised background loop failed and is restarting.
    LoopRestart,
    DailySummary,
}

impl EventKind {
    pub const ALL: [Self; 13] = [
        Self::Entry,
        Self::Liquidation,
        Self::StopLoss,
        Self::TakeProfit,
        Self::Close,
        Self::Resolution,
        Self::Redemption,
        Self::Error,
        Self::PluginFault,
        Self::PluginReload,
        Self::Feed,
        Self::LoopRestart,
        Self::DailySummary,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Liquidation => "liquidation",
            Self::StopLoss => "stop_loss",
            Self::TakeProfit => "take_profit",
            Self::Close => "close",
            Self::Resolution => "resolution",
            Self::Redemption => "redemption",
            Self::Error => "error",
            Self::PluginFault => "plugin_fault",
            Self::PluginReload => "plugin_reload",
            Self::Feed => "feed",
            Self::LoopRestart => "loop_restart",
            Self::DailySummary => "daily_summary",
        }
    }

    /// The event named `name` (as [`EventKind::as_str`] writes it).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Its name for people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Entry => "Entries",
            Self::Liquidation => "Liquidations",
            Self::StopLoss => "Stop-losses",
            Self::TakeProfit => "Take-profits",
            Self::Close => "Closes",
            Self::Resolution => "Resolutions",
            Self::Redemption => "Redemptions",
            Self::Error => "Errors",
            Self::PluginFault => "Plugin faults",
            Self::PluginReload => "Plugin reloads",
            Self::Feed => "Feed and heartbeat failures",
            Self::LoopRestart => "Loop restarts",
            Self::DailySummary => "Daily summary",
        }
    }

    /// Whether it needs the operator soon (ntfy's priority, the webhook's `urgent`).
    #[must_use]
    pub fn urgent(self) -> bool {
        matches!(self, Self::Error | Self::PluginFault | Self::Feed | Self::LoopRestart | Self::Liquidation)
    }
}

/// `[notify]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
}

/// One `[[notify.channels]]`, as written: the keys of its kind are checked by [`ChannelConfig::target`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// How the dashboard and the log name it.
    pub name: String,
    pub kind: Kind,
    /// What it is told; every event when left out.
    #[serde(default = "all_events")]
    pub events: Vec<EventKind>,
    /// Most messages a minute; more wait their turn (1-600).
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
    /// Telegram: where messages go.
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// Telegram: the variable holding the bot token (default `EQUILIBRAGE_TELEGRAM_TOKEN`); ntfy:
    /// the one holding an access token, when the topic is protected.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Telegram: the Bot API's address.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Telegram: answer commands from `allowed_chats` (default: `chat_id`).
    #[serde(default)]
    pub commands: bool,
    #[serde(default)]
    pub allowed_chats: Vec<i64>,
    /// Telegram: long-poll timeout of `getUpdates`, seconds (1-50).
    #[serde(default)]
    pub poll_timeout_secs: Option<u64>,
    /// Webhook: the variable holding the URL (default `EQUILIBRAGE_WEBHOOK_URL`; the URL
    /// usually carries a secret path).
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub format: WebhookFormat,
    /// ntfy: the server (default `https://ntfy.sh`) and topic.
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
}

/// A channel's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Telegram,
    Webhook,
    Ntfy,
}

fn all_events() -> Vec<EventKind> {
    EventKind::ALL.to_vec()
}

fn default_per_minute() -> u32 {
    20
}

/// Where a channel's messages go, checked. Secrets are named by environment variable only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Telegram {
        chat_id: i64,
        token_env: String,
        api_url: String,
        /// Chats whose commands are answered; empty when commands are off.
        command_chats: Vec<i64>,
        poll_timeout_secs: u64,
    },
    Webhook {
        url_env: String,
        format: WebhookFormat,
    },
    Ntfy {
        server: String,
        topic: String,
        token_env: Option<String>,
    },
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"bot", "event", "urgent", "title", "text", "at_ms"}`.
    #[default]
    Json,
    /// Discord's execute-webhook body: `{"username", "content"}` (content at most 2000
    /// characters).
    Discord,
}

fn is_url(u: &str) -> bool {
    u.starts_with("http://") || u.starts_with("https://")
}

impl ChannelConfig {
    /// Its target, with the keys its kind needs and none it does not.
    ///
    /// # Errors
    /// The key and what is wrong with it.
    pub fn target(&self) -> Result<Target, (&'static str, String)> {
        let name = &self.name;
        let stray = |key: &'static str, present: bool| {
            if present {
                Err((key, format!("{name}: not a key of a {:?} channel", self.kind)))
            } else {
                Ok(())
            }
        };
        match self.kind {
            Kind::Telegram => {
                stray("notify.channels.url_env", self.url_env.is_some())?;
                stray("notify.channels.server", self.server.is_some())?;
                stray("notify.channels.topic", self.topic.is_some())?;
                let chat_id = self.chat_id.ok_or((
                    "notify.channels.chat_id",
                    format!("{name}: a Telegram channel needs its chat_id"),
                ))?;
                let api_url = self.api_url.clone().unwrap_or_else(|| "https://api.telegram.org".to_owned());
                if !is_url(&api_url) {
                    return Err((
                        "notify.channels.api_url",
                        format!("{name}: not an http(s) URL: {api_url:?}"),
                    ));
                }
                let poll_timeout_secs = self.poll_timeout_secs.unwrap_or(25);
                if !(1..=50).contains(&poll_timeout_secs) {
                    return Err((
                        "notify.channels.poll_timeout_secs",
                        format!("{name}: must be 1-50, got {poll_timeout_secs}"),
                    ));
                }
                let command_chats = match (self.commands, self.allowed_chats.is_empty()) {
                    (false, true) => Vec::new(),
                    (false, false) => {
                        return Err((
                            "notify.channels.allowed_chats",
                            format!("{name}: allowed_chats without commands = true"),
                        ));
                    }
                    (true, true) => vec![chat_id],
                    (true, false) => self.allowed_chats.clone(),
                };
                Ok(Target::Telegram {
                    chat_id,
                    token_env: env_name(
                        name,
                        "notify.channels.token_env",
                        self.token_env.as_deref(),
                        "EQUILIBRAGE_TELEGRAM_TOKEN",
                    )?,
                    api_url: api_url.trim_end_matches('/').to_owned(),
                    command_chats,
                    poll_timeout_secs,
                })
            }
            Kind::Webhook => {
                for (key, present) in [
                    ("notify.channels.chat_id", self.chat_id.is_some()),
                    ("notify.channels.token_env", self.token_env.is_some()),
                    ("notify.channels.api_url", self.api_url.is_some()),
                    ("notify.channels.commands", self.commands),
                    ("notify.channels.server", self.server.is_some()),
                    ("notify.channels.topic", self.topic.is_some()),
                ] {
                    stray(key, present)?;
                }
                Ok(Target::Webhook {
                    url_env: env_name(
                        name,
                        "notify.channels.url_env",
                        self.url_env.as_deref(),
                        "EQUILIBRAGE_WEBHOOK_URL",
                    )?,
                    format: self.format,
                })
            }
            Kind::Ntfy => {
                for (key, present) in [
                    ("notify.channels.chat_id", self.chat_id.is_some()),
                    ("notify.channels.api_url", self.api_url.is_some()),
                    ("notify.channels.commands", self.commands),
                    ("notify.channels.url_env", self.url_env.is_some()),
                ] {
                    stray(key, present)?;
                }
                let server = self.server.clone().unwrap_or_else(|| "https://ntfy.sh".to_owned());
                if !is_url(&server) {
                    return Err((
                        "notify.channels.server",
                        format!("{name}: not an http(s) URL: {server:?}"),
                    ));
                }
                let topic = self.topic.clone().unwrap_or_default();
                let ok = !topic.is_empty()
                    && topic.len() <= 64
                    && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err((
                        "notify.channels.topic",
                        format!("{name}: a topic is 1-64 letters, digits, `-` or `_`, got {topic:?}"),
                    ));
                }
                let token_env = match self.token_env.as_deref() {
                    None => None,
                    Some(v) => Some(env_name(name, "notify.channels.token_env", Some(v), "")?),
                };
                Ok(Target::Ntfy { server: server.trim_end_matches('/').to_owned(), topic, token_env })
            }
        }
    }
}

/// An environment variable's name (letters, digits and `_`), given as `key` or `default`.
fn env_name(
    channel: &str,
    key: &'static str,
    given: Option<&str>,
    default: &str,
) -> Result<String, (&'static str, String)> {
    let name = given.unwrap_or(default).trim();
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(name.to_owned())
    } else {
        Err((key, format!("{channel}: not an environment variable name: {name:?}")))
    }
}

impl NotifyConfig {
    /// The key and the message of the first value out of range.
    ///
    /// # Errors
    /// A name empty or used twice, a rate out of 1-600, or a channel's keys (see
    /// [`ChannelConfig::target`]).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let mut names = std::collections::HashSet::new();
        for c in &self.channels {
            if c.name.trim().is_empty() || c.name.len() > 64 {
                return Err(("notify.channels.name", "must be 1-64 characters".into()));
            }
            if !names.insert(c.name.as_str()) {
                return Err(("notify.channels.name", format!("{:?} is used by two channels", c.name)));
            }
            if !(1..=600).contains(&c.per_minute) {
                return Err((
                    "notify.channels.per_minute",
                    format!("{}: must be 1-600, got {}", c.name, c.per_minute),
                ));
            }
            c.target()?;
        }
        Ok(())
    }
}
