//! How the engine calls its plugins (off the async path), and the
//! liquidation parameters it sets on the rules plugin from the operator's settings.

use super::{EngineEvent, Inner, RulesSource, Settings};
use crate::plugins::{PluginEvent, PluginKind};
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A setting's value as a fraction.
type SettingValue = fn(&Settings) -> Decimal;

/// Parameters of the liquidation-rules plugin the engine sets from the operator's settings, so
/// that the settings stay the one place to change them: (parameter, setting, value).
const RULE_PARAMS: [(&str, &str, SettingValue); 3] = [
    ("liquidation-drop", "liquidation_drop_percent", Settings::liquidation_drop),
    ("stop-loss", "stop_loss_percent", Settings::stop_loss),
    ("take-profit", "take_profit_percent", Settings::take_profit),
];

/// The setting that drives a liquidation-rules parameter, when the engine sets it (a value given
/// to the parameter directly would be replaced by the setting's).
#[must_use]
pub fn setting_of_rule_param(param: &str) -> Option<&'static str> {
    RULE_PARAMS.iter().find(|(name, ..)| *name == param).map(|(_, setting, _)| *setting)
}

/// Runs a plugin call from async code. A call never waits on anything (the sandbox's WASI answers
/// at once or stops the call, see `plugins::never_waits`), but it may compute for up to its
/// deadline. On a multi-threaded runtime (the bot's) the worker turns into a blocking thread for
/// the call, so other tasks move to another worker without a hand-off on the hot path. On a
/// current-thread runtime (a backtest's) the call runs inline: nothing else could run meanwhile
/// anyway, and a hand-off to the blocking pool costs more than most calls.
///
/// # Errors
/// A panic in the call (a host bug: a misbehaving guest traps, it does not panic) is caught and
/// returned, so one bad call does not take the engine's task down with it.
pub(super) async fn plugin_call<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, String> {
    let caught = || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .map_err(|panic| format!("plugin call aborted: {}", super::supervisor::panic_message(panic)))
    };
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(caught)
    } else {
        // Yield first, as the hand-off to the blocking pool did: a task that calls plugins in a
        // loop still lets the others run between calls.
        tokio::task::yield_now().await;
        caught()
    }
}

impl Inner {
    /// Gives the liquidation parameters to the active rules plugin, for those it declares, and
    /// to its shadow, so that the two differ by their logic, not by the settings.
    pub(super) fn push_rule_params(&self) {
        let s = self.settings();
        let all: Vec<(String, f64)> = RULE_PARAMS
            .iter()
            .map(|(name, _, value)| {
                use rust_decimal::prelude::ToPrimitive as _;
                ((*name).to_owned(), value(&s).to_f64().unwrap_or_default())
            })
            .collect();
        self.plugins.set_shadow_params(PluginKind::LiquidationRules, &all);
        let Some(info) = self.plugins.active_info(PluginKind::LiquidationRules) else { return };
        let values: Vec<(String, f64)> =
            all.into_iter().filter(|(name, _)| info.params.iter().any(|p| p.name == *name)).collect();
        if values.is_empty() {
            return;
        }
        if let Err(e) = self.plugins.set_params(PluginKind::LiquidationRules, &info.name, &values) {
            self.error(
                "settings",
                format!("liquidation rules plugin {} refused the parameters: {e}", info.name),
            );
        }
    }

    /// Notes in the store which plugin version of each kind is active now (see
    /// [`crate::store::Writer::note_active_plugins`]).
    pub(super) async fn note_versions(&self) {
        let written = self.store.write(self.versions_write()).await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "noting the active plugin versions");
        }
    }

    /// As [`Self::note_versions`], for a caller off the runtime's workers that must see the
    /// versions stored when it returns (the dashboard's promote and roll back: the page that
    /// follows lists them).
    pub(super) fn note_versions_blocking(&self) {
        if let Err(e) = self.store.write_blocking(self.versions_write()) {
            tracing::warn!(error = %e, "noting the active plugin versions");
        }
    }

    /// The write that notes the versions active now.
    fn versions_write(
        &self,
    ) -> impl for<'a> FnOnce(&mut crate::store::Writer<'a>) -> crate::store::Result<bool> + Send + 'static
    {
        let active: Vec<(PluginKind, String, String, String)> = self.plugins.active_versions();
        let at = self.clock.now_ms();
        move |w| {
            let rows: Vec<(&str, &str, &str, &str)> = active
                .iter()
                .map(|(k, n, v, sha)| (k.as_str(), n.as_str(), v.as_str(), sha.as_str()))
                .collect();
            w.note_active_plugins(at, &rows)
        }
    }

    pub(super) fn rules_source_now(&self) -> RulesSource {
        match self.plugins.active_info(PluginKind::LiquidationRules) {
            Some(info) => RulesSource::Plugin { name: info.name.clone() },
            None => RulesSource::BuiltIn { reason: "no liquidation-rules plugin is loaded".into() },
        }
    }

    /// Reacts to plugin events: a new rules plugin gets the liquidation parameters; faults and
    /// rejected files join the engine's errors, so one stream tells the dashboard everything.
    pub(super) async fn plugin_loop(self: Arc<Self>) {
        let mut events = self.plugins.subscribe();
        loop {
            let event = events.recv().await;
            // Which version of each kind is active may have changed: the store keeps the periods.
            // (A promotion is a `Loaded` too; a shadow's own events, faults among them, never
            // change the active plugins, so they cost no write.)
            if matches!(
                event,
                Ok(PluginEvent::Loaded { .. } | PluginEvent::Unloaded { .. })
                    | Err(broadcast::error::RecvError::Lagged(_))
            ) {
                self.note_versions().await;
            }
            match event {
                Ok(
                    PluginEvent::Loaded { kind: PluginKind::LiquidationRules, .. }
                    | PluginEvent::Shadow {
                        kind: PluginKind::LiquidationRules,
                        change: crate::plugins::ShadowChange::Loaded,
                        ..
                    },
                ) => self.push_rule_params(),
                // A new scorer rescores at once: the dashboard shows its scores without waiting
                // for the next scheduled scan (`plugin dev`'s edit → see loop).
                Ok(PluginEvent::Loaded { kind: PluginKind::Scorer, .. }) => self.scan_requested.notify_one(),
                Ok(PluginEvent::Fault { kind, name, error }) => {
                    self.emit(EngineEvent::Error {
                        source: "plugin",
                        message: format!("{kind} plugin {name}: {error}"),
                        at_ms: self.clock.now_ms(),
                    });
                }
                Ok(PluginEvent::Rejected { file, error }) => {
                    self.emit(EngineEvent::Error {
                        source: "plugin",
                        message: format!("{} was not loaded: {error}", file.display()),
                        at_ms: self.clock.now_ms(),
                    });
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
