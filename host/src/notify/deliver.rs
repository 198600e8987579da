//! Delivery to one channel: its wire format (Telegram's `sendMessage`, a JSON or Discord
//! webhook, an ntfy publish), its rate limit, and retries with backoff, on a task of its own so
//! the engine never waits on a chat service.

use super::config::{Target, WebhookFormat};
use super::{ChannelStatus, Note};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Attempts per message, the first included.
const ATTEMPTS: u32 = 5;
/// First backoff; it doubles per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest text Telegram and ntfy take in one message; Discord takes 2000.
const TELEGRAM_MAX: usize = 4096;
const DISCORD_MAX: usize = 2000;

/// A channel ready to send: its target with the secret resolved.
#[derive(Clone)]
pub(super) struct Sender {
    pub name: String,
    pub target: Target,
    /// The bot token, webhook URL or ntfy token, from the environment.
    pub secret: Option<secrecy::SecretString>,
    pub http: reqwest::Client,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Why a message was not delivered.
#[derive(Debug)]
pub(super) enum Failure {
    /// Worth another try, after the service's wait when it named one.
    Retry { reason: String, after: Option<Duration> },
    /// Trying again would fail the same way (a refused token, a bad chat id).
    Refused(String),
}

impl Sender {
    /// Sends one message once.
    pub(super) async fn send(&self, note: &Note) -> Result<(), Failure> {
        use secrecy::ExposeSecret as _;
        let secret = self.secret.as_ref().map(|s| s.expose_secret().to_owned());
        let request = match &self.target {
            Target::Telegram { chat_id, api_url, .. } => {
                let token = secret.ok_or_else(|| Failure::Refused("no bot token".into()))?;
                let text = clip(&format!("{}\n{}", note.title, note.text), TELEGRAM_MAX);
                self.http
                    .post(format!("{api_url}/bot{token}/sendMessage"))
                    .json(&serde_json::json!({ "chat_id": chat_id, "text": text, "disable_web_page_preview": true }))
            }
            Target::Webhook { format, .. } => {
                let url = secret.ok_or_else(|| Failure::Refused("no webhook URL".into()))?;
                let body = match format {
                    WebhookFormat::Json => serde_json::json!({
                        "bot": "equilibrage",
                        "event": note.kind.as_str(),
                        "urgent": note.kind.urgent(),
                        "title": note.title,
                        "text": note.text,
                        "at_ms": note.at_ms,
                    }),
                    WebhookFormat::Discord => serde_json::json!({
                        "username": "equilibrage",
                        "content": clip(&format!("**{}**\n{}", note.title, note.text), DISCORD_MAX),
                    }),
                };
                self.http.post(url).json(&body)
            }
            Target::Ntfy { server, topic, .. } => {
                let mut request = self
                    .http
                    .post(format!("{server}/{topic}"))
                    .header("Title", header_text(&note.title))
                    .header("Priority", if note.kind.urgent() { "high" } else { "default" })
                    .header("Tags", note.kind.as_str())
                    .body(clip(&note.text, TELEGRAM_MAX));
                if let Some(token) = secret {
                    request = request.bearer_auth(token);
                }
                request
            }
        };
        let response = request.send().await.map_err(|e| Failure::Retry {
            // reqwest's error names the URL, which for a webhook or Telegram carries the secret.
            reason: format!("no answer: {}", causes(&e.without_url())),
            after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        // Telegram says how long to wait in the body.
        let body_wait = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["parameters"]["retry_after"].as_u64())
            .map(Duration::from_secs);
        let reason = format!("{status}: {}", clip(body.trim(), 200));
        if status.as_u16() == 429 || status.is_server_error() {
            Err(Failure::Retry { reason, after: body_wait.or(header_wait) })
        } else {
            Err(Failure::Refused(reason))
        }
    }
}

/// An error and its causes, `outer: inner: innermost` ("error sending request" alone does not
/// say the connection was refused).
pub(super) fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = s.source();
    }
    text
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A header value: one line of visible ASCII (ntfy reads UTF-8 titles only when encoded).
fn header_text(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(200).collect()
}

/// At most `per_minute` messages in any minute: a message waits for the oldest of the last
/// `per_minute` to be a minute old.
#[derive(Debug)]
pub(super) struct Pace {
    per_minute: usize,
    sent: std::collections::VecDeque<Instant>,
}

impl Pace {
    pub(super) fn new(per_minute: u32) -> Self {
        let per_minute = usize::try_from(per_minute.max(1)).unwrap_or(usize::MAX);
        Self { per_minute, sent: std::collections::VecDeque::new() }
    }

    /// How long to wait before the next message may go (zero: now); takes its slot.
    pub(super) fn slot(&mut self, now: Instant) -> Duration {
        let minute = Duration::from_secs(60);
        while self.sent.front().is_some_and(|t| now.duration_since(*t) >= minute) {
            self.sent.pop_front();
        }
        let wait = if self.sent.len() < self.per_minute {
            Duration::ZERO
        } else {
            self.sent.front().map_or(Duration::ZERO, |t| minute.saturating_sub(now.duration_since(*t)))
        };
        if self.sent.len() >= self.per_minute {
            self.sent.pop_front();
        }
        self.sent.push_back(now + wait);
        wait
    }
}

/// Sends what arrives on `queue`, paced and retried, recording the outcome in `status`.
pub(super) async fn run(
    sender: Sender,
    mut queue: mpsc::Receiver<Note>,
    mut pace: Pace,
    status: Arc<Mutex<ChannelStatus>>,
) {
    let metrics = crate::metrics::get();
    while let Some(note) = queue.recv().await {
        let wait = pace.slot(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match sender.send(&note).await {
                Ok(()) => break Ok(()),
                Err(Failure::Refused(reason)) => break Err(reason),
                Err(Failure::Retry { reason, .. }) if attempt >= ATTEMPTS => break Err(reason),
                Err(Failure::Retry { reason, after }) => {
                    let wait = after.unwrap_or(backoff).min(MAX_BACKOFF);
                    tracing::debug!(channel = %sender.name, attempt, ?wait, %reason, "notification retried");
                    lock(&status).retries += 1;
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        let now = crate::clock::unix_now_ms();
        let result = match outcome {
            Ok(()) => {
                let mut s = lock(&status);
                s.sent += 1;
                s.last_sent_ms = Some(now);
                "sent"
            }
            Err(reason) => {
                tracing::warn!(channel = %sender.name, event = note.kind.as_str(), %reason, "notification not delivered");
                let mut s = lock(&status);
                s.failed += 1;
                s.last_error = Some((now, reason));
                "failed"
            }
        };
        metrics.notifications.with_label_values(&[&sender.name, result]).inc();
    }
}

pub(super) fn lock(status: &Mutex<ChannelStatus>) -> std::sync::MutexGuard<'_, ChannelStatus> {
    status.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_lets_a_minutes_worth_through_then_spaces_them() {
        let mut pace = Pace::new(3);
        let t0 = Instant::now();
        assert_eq!(pace.slot(t0), Duration::ZERO);
        assert_eq!(pace.slot(t0), Duration::ZERO);
        assert_eq!(pace.slot(t0 + Duration::from_secs(10)), Duration::ZERO);
        // The fourth waits for the first to be a minute old.
        assert_eq!(pace.slot(t0 + Duration::from_secs(20)), Duration::from_secs(40));
        // The fifth for the second, and behind the fourth's slot.
        assert_eq!(pace.slot(t0 + Duration::from_secs(20)), Duration::from_secs(40));
        assert_eq!(pace.slot(t0 + Duration::from_secs(61)), Duration::from_secs(9));
    }

    #[test]
    fn long_texts_are_clipped_and_titles_made_header_safe() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(header_text("Position 3 liquidé\r\nX"), "Position 3 liquid???X");
    }
}
