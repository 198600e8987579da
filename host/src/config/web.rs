//! `[web]`: where the dashboard listens, its sessions, and the names it answers to.

use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// Session cookies carry `Secure` (browsers accept it on http://127.0.0.1 and localhost).
    pub secure_cookies: bool,
    /// How long a browser stays logged in, hours (1..=8760).
    pub session_ttl_hours: u64,
    /// Names the dashboard answers to besides IP addresses and `localhost` (a request with any
    /// other `Host` is refused: DNS rebinding).
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl WebConfig {
    /// How long a browser stays logged in.
    #[must_use]
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_hours * 3_600)
    }

    /// The key and the message of the first value out of range.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=8_760).contains(&self.session_ttl_hours) {
            return Err((
                "web.session_ttl_hours",
                format!("must be 1-8760 (a year), got {}", self.session_ttl_hours),
            ));
        }
        for name in &self.hosts {
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !name.starts_with(['.', '-']);
            if !ok {
                return Err((
                    "web.hosts",
                    format!("{name:?} is not a host name (letters, digits, `-` and `.`, without a port)"),
                ));
            }
        }
        Ok(())
    }
}

/// `[metrics]`: where Prometheus scrapes `/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A listener of its own serving only `/metrics`, without the access token; `None`: only
    /// the dashboard's `/metrics`, behind the token.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path)).map_err(|e| e.to_string())
    }

    #[test]
    fn host_names_are_plain_names() {
        assert!(load("").unwrap().web.hosts.is_empty(), "none by default");
        let config = load("[web]\nhosts = [\"bot.home.lan\", \"equilibrage\"]\n").unwrap();
        assert_eq!(config.web.hosts, ["bot.home.lan", "equilibrage"]);
        for bad in ["bot.lan:8080", "", "http://bot.lan", ".lan", "bot lan"] {
            let e = load(&format!("[web]\nhosts = [{bad:?}]\n")).unwrap_err();
            assert!(e.contains("web.hosts") && e.contains("is not a host name"), "{bad}: {e}");
        }
    }
}
