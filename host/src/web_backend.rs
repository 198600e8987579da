//! The host's implementation of the web layer's `Backend`.

use crate::exchange::Exchange;
use crate::exchange::sim::SimExchange;
use crate::plugins::Plugins;
use equilibrage_web::{Backend, ParamView, PluginView, RejectedFile, VenueView};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serves the dashboard from the running bot.
#[derive(Debug, Clone)]
pub struct HostBackend {
    plugins: Plugins,
    venue: Venue,
}

/// The venue as the dashboard sees it: the simulator answers at once; paper and live venues are
/// polled in the background (their answers cost network calls).
#[derive(Debug, Clone)]
pub enum Venue {
    Sim(SimExchange),
    Remote { name: &'static str, status: Arc<Mutex<VenueView>> },
}

impl Venue {
    /// A paper or live venue, its markets and balance refreshed every `every` on the current
    /// tokio runtime for as long as the runtime lives.
    #[must_use]
    pub fn polled(exchange: Arc<dyn Exchange>, every: Duration) -> Self {
        let name = exchange.name();
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
        Self::Remote { name, status }
    }
}

impl HostBackend {
    #[must_use]
    pub fn new(plugins: Plugins, venue: Venue) -> Self {
        Self { plugins, venue }
    }
}

impl Backend for HostBackend {
    fn venue(&self) -> VenueView {
        match &self.venue {
            Venue::Sim(sim) => {
                let (open_markets, cash) = sim.summary();
                VenueView { mode: "sim".into(), open_markets, now_ms: sim.now_ms(), cash: cash.to_string() }
            }
            Venue::Remote { name, status } => {
                let mut view = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                (*name).clone_into(&mut view.mode);
                view
            }
        }
    }

    fn plugins(&self) -> Vec<PluginView> {
        self.plugins
            .list()
            .into_iter()
            .map(|p| PluginView {
                kind: p.info.kind.to_string(),
                name: p.info.name.clone(),
                version: p.info.version.clone(),
                active: p.active,
                file: p.file.display().to_string(),
                sha256: p.sha256.clone(),
                loaded_at_ms: p.loaded_at_ms,
                calls: p.stats.calls,
                faults: p.stats.faults,
                errors: p.stats.errors,
                mean_us: p.stats.mean_us,
                last_error: p.last_error.map(|(_, e)| e),
                params: p
                    .info
                    .params
                    .iter()
                    .zip(&p.params)
                    .map(|(s, v)| ParamView {
                        name: s.name.clone(),
                        value: *v,
                        min: s.min,
                        max: s.max,
                        help: s.help.clone(),
                    })
                    .collect(),
            })
            .collect()
    }

    fn rejected_files(&self) -> Vec<RejectedFile> {
        self.plugins
            .files()
            .into_iter()
            .filter_map(|f| {
                f.result.err().map(|error| RejectedFile { file: f.file.display().to_string(), error })
            })
            .collect()
    }
}
