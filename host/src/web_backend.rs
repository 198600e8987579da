//! The host's implementation of the web layer's `Backend`.

use crate::engine::{Engine, RulesSource};
use crate::exchange::Exchange;
use crate::exchange::sim::SimExchange;
use crate::plugins::Plugins;
use equilibrage_web::{
    Backend, OpportunityRow, ParamView, PluginView, PositionRow, RejectedFile, TradingView, VenueView,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serves the dashboard from the running bot.
#[derive(Debug, Clone)]
pub struct HostBackend {
    plugins: Plugins,
    venue: Venue,
    engine: Engine,
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
    pub fn new(plugins: Plugins, venue: Venue, engine: Engine) -> Self {
        Self { plugins, venue, engine }
    }
}

fn text(v: Option<rust_decimal::Decimal>) -> String {
    v.map(|d| d.normalize().to_string()).unwrap_or_default()
}

impl Backend for HostBackend {
    fn trading(&self) -> TradingView {
        let mut view = TradingView::default();
        let cents = |d: rust_decimal::Decimal| d.round_dp(2).to_string();
        match self.engine.overview() {
            Ok(o) => {
                view.figures = vec![
                    ("total".into(), cents(o.total)),
                    ("available".into(), cents(o.available)),
                    ("allocated".into(), cents(o.allocated)),
                    ("realised P&L".into(), cents(o.realised_pnl)),
                    ("unrealised P&L".into(), cents(o.unrealised_pnl)),
                    ("fees".into(), cents(o.fees)),
                    ("open positions".into(), o.open_positions.to_string()),
                ];
            }
            Err(e) => view.last_error = Some(e.to_string()),
        }
        if let Ok(h) = self.engine.health() {
            view.rules = match h.rules {
                RulesSource::Plugin { name } => format!("plugin {name}"),
                RulesSource::BuiltIn { reason } => format!("built-in rule ({reason})"),
            };
            view.last_error = view.last_error.or(h.last_error.map(|(_, e)| e));
        }
        view.positions = self
            .engine
            .positions()
            .into_iter()
            .map(|v| {
                let p = &v.position;
                PositionRow {
                    id: p.id,
                    question: p.question.clone(),
                    status: p.status.as_str().into(),
                    entry: [
                        text(Some(p.legs[0].entry_price().round_dp(4))),
                        text(Some(p.legs[1].entry_price().round_dp(4))),
                    ],
                    held: [text(Some(p.legs[0].held())), text(Some(p.legs[1].held()))],
                    bid: [text(v.bids[0]), text(v.bids[1])],
                    unrealised: cents(v.pnl.unrealised),
                    realised: cents(v.pnl.realised),
                }
            })
            .collect();
        view.opportunities = self
            .engine
            .opportunities(0.0)
            .unwrap_or_default()
            .into_iter()
            .take(20)
            .map(|o| OpportunityRow {
                market_id: o.market_id,
                question: o.question,
                score: o.score,
                factors: o.factors.into_iter().map(|f| (f.name, f.value, f.weight.map(|(_, w)| w))).collect(),
            })
            .collect();
        view
    }

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
