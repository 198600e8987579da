//! `equilibrage notify …`: store a channel's secret encrypted, and send a test message on every
//! channel.

use crate::{Common, load_config};
use anyhow::Context as _;
use clap::Subcommand;
use equilibrage::config::Config;
use equilibrage::notify::{EventKind, Note, Notifier};
use equilibrage::wallet::{WalletDir, input};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::io::Write as _;

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Store a channel's secret (Telegram bot token, webhook URL, ntfy access token), typed at
    /// a hidden prompt or piped on standard input, encrypted with the wallet's password. The
    /// channel's environment variable, when set, wins over it.
    Secret {
        /// The channel's `name` in `[[notify.channels]]`.
        channel: String,
    },
    /// Send a test message on every configured channel and say what came of each. Exits
    /// non-zero when one was not delivered.
    Test,
}

pub(crate) fn notify_command(common: &Common, command: NotifyCommand) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let wallet = WalletDir::in_data_dir(&config.data.dir);
    let mut out = std::io::stdout().lock();
    match command {
        NotifyCommand::Secret { channel } => {
            anyhow::ensure!(
                config.notify.channels.iter().any(|c| c.name == channel),
                "no channel named {channel:?} in [[notify.channels]] (configured: {})",
                config.notify.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            );
            let secret = input::secret_line(&format!("Secret of channel {channel} (hidden)"))?;
            let exists = wallet.notify_secrets_path().exists();
            let password = input::password("Keystore password", !exists && !wallet.has_key())?;
            // With a wallet, the same password opens both: live mode unlocks them together.
            if wallet.has_key() {
                wallet.unlock(&password).context("the password must open the wallet's keystore")?;
            }
            wallet.store_notify_secret(&channel, &secret, &password)?;
            writeln!(
                out,
                "stored the secret of {channel}, encrypted: {}",
                wallet.notify_secrets_path().display()
            )?;
        }
        NotifyCommand::Test => {
            anyhow::ensure!(!config.notify.channels.is_empty(), "no [[notify.channels]] configured");
            let env = |var: &str| std::env::var(var).ok();
            let stored = stored_secrets(&config, &wallet, None)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let statuses = runtime.block_on(async {
                let notifier = Notifier::start(&config.notify, &env, &stored)?;
                let note = Note {
                    kind: EventKind::Error,
                    title: "equilibrage: test notification".into(),
                    text: "If you read this, the channel works.".into(),
                    at_ms: equilibrage::clock::unix_now_ms(),
                };
                anyhow::Ok(notifier.test(&note, std::time::Duration::from_secs(120)).await)
            })?;
            let mut failed = 0;
            for s in &statuses {
                let outcome = if s.sent > 0 {
                    format!(
                        "delivered{}",
                        if s.retries > 0 { format!(" after {} retries", s.retries) } else { String::new() }
                    )
                } else {
                    failed += 1;
                    match &s.last_error {
                        Some((_, e)) => format!("NOT delivered: {e}"),
                        None => "NOT delivered (no answer in time)".to_owned(),
                    }
                };
                writeln!(out, "{:<16} {:<9} {outcome}", s.name, s.kind)?;
            }
            anyhow::ensure!(failed == 0, "{failed} of {} channels did not deliver", statuses.len());
        }
    }
    Ok(())
}

/// The secrets stored with `notify secret`, opened only when a channel's secret is not in the
/// environment: with `password` (the one live mode asked for), else `EQUILIBRAGE_WALLET_PASSWORD`
/// or a prompt.
fn stored_secrets(
    config: &Config,
    wallet: &WalletDir,
    password: Option<SecretString>,
) -> anyhow::Result<BTreeMap<String, SecretString>> {
    let env = |var: &str| std::env::var(var).ok();
    if Notifier::needing_stored_secrets(&config.notify, &env).is_empty()
        || !wallet.notify_secrets_path().exists()
    {
        return Ok(BTreeMap::new());
    }
    let password = match password {
        Some(p) => p,
        None => input::password("Keystore password (notification secrets)", false)?,
    };
    equilibrage::logging::register_secret(secrecy::ExposeSecret::expose_secret(&password));
    wallet.notify_secrets(&password).context("opening the notification secrets")
}

/// Starts the bot's notifications: the channels, the choices of events kept in `store`,
/// Telegram's commands, and the watcher of the engine (subscribed now, before its first scan).
pub(crate) fn start(
    config: &Config,
    wallet: &WalletDir,
    password: Option<SecretString>,
    store: &equilibrage::store::Store,
    engine: &equilibrage::engine::Engine,
    plugins: &equilibrage::Plugins,
    link: Option<equilibrage::notify::LinkProbe>,
) -> anyhow::Result<Notifier> {
    let env = |var: &str| std::env::var(var).ok();
    let stored = stored_secrets(config, wallet, password)?;
    let notifier = Notifier::start(&config.notify, &env, &stored).context("starting notifications")?;
    notifier.keep_events_in(store).context("the notification events chosen in Settings")?;
    notifier.serve_commands(engine, plugins);
    if !notifier.is_empty() {
        tracing::info!(channels = notifier.statuses().len(), "notifications on");
        tokio::spawn(notifier.clone().watch(engine.clone(), plugins, link));
    }
    Ok(notifier)
}
