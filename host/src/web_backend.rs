//! The host's implementation of the web layer's `Backend`.

use crate::exchange::sim::SimExchange;
use crate::plugins::Plugins;
use equilibrage_web::{Backend, ParamView, PluginView, RejectedFile, VenueView};

/// Serves the dashboard from the running bot.
#[derive(Debug, Clone)]
pub struct HostBackend {
    plugins: Plugins,
    venue: SimExchange,
}

impl HostBackend {
    #[must_use]
    pub fn new(plugins: Plugins, venue: SimExchange) -> Self {
        Self { plugins, venue }
    }
}

impl Backend for HostBackend {
    fn venue(&self) -> VenueView {
        let (open_markets, cash) = self.venue.summary();
        VenueView { mode: "sim".into(), open_markets, now_ms: self.venue.now_ms(), cash: cash.to_string() }
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
