//! Starting the venue `exchange.mode` names (simulator, paper, live) with what an earlier run
//! left, patiently when the venue is briefly busy, and the probe of its link notifications use.

use anyhow::Context as _;
use equilibrage::clock::unix_now_ms;
use equilibrage::config::{Config, ExchangeMode};
use equilibrage::engine::{Account, Clock};
use equilibrage::exchange::Exchange;
use equilibrage::exchange::paper::PaperExchange;
use equilibrage::exchange::polymarket::LiveExchange;
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::store::Store;
use equilibrage::wallet::signer::LiveSigner;
use equilibrage::web_backend::Venue;
use std::sync::Arc;

/// What an earlier run left that simulated venues (which keep nothing) must take over: the
/// ledger's cash, the shares open positions hold, and the latest time the bot recorded.
pub(crate) struct Prior {
    pub(crate) cash: Option<rust_decimal::Decimal>,
    pub(crate) holdings: Vec<(String, rust_decimal::Decimal)>,
    pub(crate) last_ms: i64,
}

impl Prior {
    pub(crate) fn read(store: &Store) -> anyhow::Result<Self> {
        let read = store.read()?;
        let account: Option<Account> = read.config(Account::KEY)?;
        let positions = read.positions()?;
        let holdings = positions
            .iter()
            .filter(|p| p.status.is_open())
            .flat_map(|p| p.legs.iter().map(|l| (l.token.clone(), l.held())))
            .filter(|(_, held)| *held > rust_decimal::Decimal::ZERO)
            .collect();
        let last_ms = positions.iter().map(|p| p.updated_at_ms).max().unwrap_or(0);
        Ok(Self { cash: account.map(|a| a.cash), holdings, last_ms })
    }
}

/// The venue, the exchange the engine trades on, its clock, the simulator's clock task, and a
/// probe of the live link (paper and live) for notifications.
pub(crate) type Started = (
    Venue,
    Arc<dyn Exchange>,
    Clock,
    Option<tokio::task::JoinHandle<()>>,
    Option<equilibrage::notify::LinkProbe>,
);

/// What is wrong with the exchange link, when something is: heartbeats failing (live) or the
/// market feed disconnected after it had connected.
fn link_probe(live: Arc<LiveExchange>) -> equilibrage::notify::LinkProbe {
    Arc::new(move || {
        let h = live.health();
        let why = h.last_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
        if h.heartbeat_failures >= 2 {
            Some(format!("{} heartbeats failed in a row{why}", h.heartbeat_failures))
        } else if h.feed_connects > 0 && !h.feed_connected {
            Some(format!("the market feed is disconnected{why}"))
        } else {
            None
        }
    })
}

/// The venue `exchange.mode` names, the engine's clock for it, and the simulator's clock task
/// when it is the simulator.
pub(crate) async fn start_venue(
    config: &Config,
    prior: &Prior,
    live: Option<LiveSigner>,
) -> anyhow::Result<Started> {
    let poll = std::time::Duration::from_secs(15);
    match config.exchange.mode {
        ExchangeMode::Sim => {
            let sim = &config.exchange.sim;
            let venue = SimExchange::new(
                SimConfig {
                    seed: sim.seed,
                    markets: sim.markets,
                    horizon_days: sim.horizon_days,
                    questions: sim.questions.clone(),
                    // Simulated time never runs backwards across restarts.
                    start_ms: unix_now_ms().max(prior.last_ms),
                    ..SimConfig::default()
                },
                prior.cash.unwrap_or(sim.starting_cash),
            );
            venue.restore_holdings(&prior.holdings);
            tracing::info!(
                markets = sim.markets,
                seed = sim.seed,
                speed = sim.speed,
                "market simulator ready"
            );
            let driver = venue.spawn_driver(sim.speed, std::time::Duration::from_secs(1));
            let clock = {
                let sim = venue.clone();
                Clock::from_fn(move || sim.now_ms())
            };
            let exchange: Arc<dyn Exchange> = Arc::new(venue.clone());
            Ok((Venue::Sim(venue), exchange, clock, Some(driver), None))
        }
        ExchangeMode::Paper => {
            let data = Arc::new(LiveExchange::public(config.exchange.polymarket.venue())?);
            let cash = prior.cash.unwrap_or(config.exchange.paper.starting_cash);
            let probe = link_probe(Arc::clone(&data));
            let paper: Arc<dyn Exchange> = Arc::new(PaperExchange::restored(data, cash, &prior.holdings));
            tracing::info!(gamma = %config.exchange.polymarket.gamma_url, "paper trading on live Polymarket data");
            Ok((Venue::polled(Arc::clone(&paper), poll), paper, Clock::system(), None, Some(probe)))
        }
        ExchangeMode::Live => {
            let signer = live.context("live mode has no signer")?;
            let venue = config.exchange.polymarket.venue();
            let live = patiently("signing in to Polymarket", || {
                LiveExchange::connect(venue.clone(), signer.config.clone())
            })
            .await
            .context("signing in to Polymarket")?;
            let balance = patiently("reading the pUSD balance", || live.balance())
                .await
                .context("reading the pUSD balance")?;
            tracing::info!(
                collateral = %balance.collateral,
                allowance = ?balance.allowance,
                wallet = ?config.exchange.polymarket.signature_type,
                "LIVE trading on Polymarket"
            );
            let live = Arc::new(live);
            let probe = link_probe(Arc::clone(&live));
            let live: Arc<dyn Exchange> = live;
            Ok((Venue::polled(Arc::clone(&live), poll), live, Clock::system(), None, Some(probe)))
        }
    }
}

/// A start-up call to the venue: a failure worth retrying (a rate limit, a 5xx, a timeout) is
/// retried with backoff for up to two minutes, so a venue that is briefly busy does not stop the
/// bot from starting; anything else (a refused key, bad credentials) stops it at once.
async fn patiently<T, F, Fut>(what: &str, mut call: F) -> Result<T, equilibrage::exchange::ExchangeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, equilibrage::exchange::ExchangeError>>,
{
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        match call().await {
            Err(e) if e.is_retryable() && std::time::Instant::now() + wait < give_up => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis(), "{what}: the venue is busy; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(10));
            }
            answer => return answer,
        }
    }
}
