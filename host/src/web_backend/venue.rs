//! The venue as the dashboard sees it: the simulator answers at once; a paper or live venue's
//! markets and balance are polled in the background.

use crate::exchange::Exchange;
use crate::exchange::sim::SimExchange;
use equilibrage_web::VenueView;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The venue as the dashboard sees it: the simulator answers at once; paper and live venues are
/// polled in the background (their answers cost network calls).
#[derive(Clone)]
pub enum Venue {
    Sim(SimExchange),
    /// `exchange` is what the wallet doctor checks in live mode.
    Remote {
        name: &'static str,
        status: Arc<Mutex<VenueView>>,
        exchange: Arc<dyn Exchange>,
    },
}

impl std::fmt::Debug for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sim(sim) => f.debug_tuple("Sim").field(sim).finish(),
            Self::Remote { name, status, .. } => {
                f.debug_struct("Remote").field("name", name).field("status", status).finish_non_exhaustive()
            }
        }
    }
}

impl Venue {
    /// A paper or live venue, its markets and balance refreshed every `every` on the current
    /// tokio runtime for as long as the runtime lives.
    #[must_use]
    pub fn polled(exchange: Arc<dyn Exchange>, every: Duration) -> Self {
        let name = exchange.name();
        let venue = Arc::clone(&exchange);
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
        Self::Remote { name, status, exchange: venue }
    }

    /// `sim`, `paper` or `live`.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Sim(_) => "sim",
            Self::Remote { name, .. } => name,
        }
    }
}
