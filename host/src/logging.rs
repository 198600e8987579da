//! The bot's log and panic output: text for a terminal or a file, JSON lines for log shippers,
//! level filters per module that keep wire-level crates from dumping frames, and a last line of
//! defence that blanks every registered secret before a byte is written.

use serde::Deserialize;
use std::io::{IsTerminal as _, Write};
use std::sync::RwLock;
use tracing_subscriber::EnvFilter;
use zeroize::Zeroizing;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not registered: blanking them would mangle ordinary text.
const MIN_SECRET_CHARS: usize = 8;

/// Crates that log whole frames, bodies or headers at trace level: capped at debug whatever
/// `RUST_LOG` asks, because a websocket frame or a request carries credentials.
const WIRE_CRATES: [&str; 8] =
    ["tungstenite", "tokio_tungstenite", "hyper", "hyper_util", "h2", "reqwest", "rustls", "tower_http"];

static SECRETS: RwLock<Vec<Zeroizing<String>>> = RwLock::new(Vec::new());

thread_local! {
    /// A thread whose informational lines stay out of the log (see [`quiet_thread`]).
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keeps the calling thread's informational and debug lines out of the log; its warnings and
/// errors still reach it. The lab's backtests run the engine in the bot's process: their
/// simulated scans and trades are not the bot's, and would drown its log.
pub fn quiet_thread() {
    QUIET.with(|q| q.set(true));
}

/// Whether [`quiet_thread`] was called on this thread (threads it starts follow it).
#[must_use]
pub fn is_quiet() -> bool {
    QUIET.with(std::cell::Cell::get)
}

/// Registers a secret (a key, an API secret, a passphrase, a password): from now on it is blanked
/// from every log line and panic message, in its given form and in lower and upper case.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    let secret = secret.strip_prefix("0x").unwrap_or(secret);
    if secret.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    for form in [secret.to_owned(), secret.to_lowercase(), secret.to_uppercase()] {
        if !secrets.iter().any(|s| **s == form) {
            secrets.push(Zeroizing::new(form));
        }
    }
    // Longest first, so a secret containing another is blanked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret blanked.
#[must_use]
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A writer that blanks registered secrets from each write (the log formats an event into one
/// buffer and writes it at once) before passing it to standard error.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScrubbingStderr;

impl Write for ScrubbingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The log filter: `RUST_LOG` (default `info`), with [`WIRE_CRATES`] capped at debug when the
/// filter would trace them (a cap only: at `info` or `warn` they stay as quiet as the rest).
#[must_use]
pub fn filter(spec: Option<&str>) -> EnvFilter {
    let mut filter = spec.and_then(|s| EnvFilter::try_new(s).ok()).unwrap_or_else(|| EnvFilter::new("info"));
    let traces = filter.max_level_hint().is_none_or(|l| l > tracing::level_filters::LevelFilter::DEBUG);
    if !traces {
        return filter;
    }
    for krate in WIRE_CRATES {
        if let Ok(directive) = format!("{krate}=debug").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line an event, coloured only when standard error is a terminal.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `message`, the event's fields, `target`,
    /// and `spans` when logged inside one.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected text or json, got {other:?}")),
        }
    }
}

/// `[log]`: the filter (a default level and levels per module) and the format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Filter directives (`info,equilibrage::engine=debug`); `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

/// Whether `level` is a filter the log understands.
///
/// # Errors
/// What is wrong with it.
pub fn check_level(level: &str) -> Result<(), String> {
    EnvFilter::try_new(level).map(drop).map_err(|e| format!("{level:?} is not a log filter: {e}"))
}

/// Installs the log at `info`, as text (see [`init_with`]).
pub fn init() {
    init_with(&LogConfig::default());
}

/// Installs the log (to standard error, scrubbed) and a panic hook that scrubs panic messages.
/// The filter is `RUST_LOG` when set, else `config.level`; colours are used only for text on a
/// terminal, so a log file or a journal gets plain lines.
pub fn init_with(config: &LogConfig) {
    let env = std::env::var("RUST_LOG").ok().filter(|s| !s.trim().is_empty());
    let filter = filter(Some(env.as_deref().unwrap_or(&config.level)));
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| ScrubbingStderr);
    let quiet =
        tracing_subscriber::filter::filter_fn(|meta| !is_quiet() || *meta.level() <= tracing::Level::WARN);
    match config.format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).finish().with(quiet).init(),
        // Fields at the top level of each object, as log shippers index them.
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(false).finish().with(quiet).init()
        }
    }
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let message = scrub(&info.to_string()).into_owned();
        let backtrace = std::backtrace::Backtrace::capture();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "thread '{name}' {message}");
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            let _ = writeln!(err, "stack backtrace:\n{}", scrub(&backtrace.to_string()));
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_blanked_in_any_case_and_short_ones_are_ignored() {
        let key = "0xAbCdEf0123456789aBcDeF0123456789abcdef0123456789abcdef01234567";
        register_secret(key);
        register_secret("short");
        let line = format!(
            "signing with {key} / {} / {} and a short word",
            key.to_lowercase(),
            key.trim_start_matches("0x").to_uppercase()
        );
        let clean = scrub(&line);
        assert!(!clean.to_lowercase().contains(&key[2..].to_lowercase()), "{clean}");
        assert_eq!(clean.matches(REDACTED).count(), 3, "{clean}");
        assert!(clean.contains("a short word"));
        assert!(matches!(scrub("nothing secret here"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn wire_crates_stay_at_debug_even_when_everything_traces() {
        let shown = filter(Some("trace")).to_string();
        for krate in WIRE_CRATES {
            assert!(shown.contains(&format!("{krate}=debug")), "{shown}");
        }
        assert!(filter(Some("not a [valid filter")).to_string().contains("info"));
        let quiet = filter(Some("warn")).to_string();
        assert!(!quiet.contains("=debug"), "a cap, never a raise: {quiet}");
    }
}
