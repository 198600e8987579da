//! The engine's whale path: trades (from the simulator or the Data API tracker) and market
//! resolutions go into the whale table as they are consumed by a scan; the day's trades, less
//! those of market-maker-like wallets, go to the whale-analyzer plugin, whose per-market
//! signals feed the scorer.

use super::Inner;
use super::observer::{Seen, SignalColumns, WhaleCall};
use crate::exchange::Side;
use crate::exchange::sim::WhaleTrade;
use crate::fast_hash::{FastHashMap, FastHashSet};
use crate::feeds::whales::{MarketMakerRule, table};
use crate::plugins::{PluginError, PluginKind, abi};
use crate::store::WhaleProfile;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Whale bookkeeping between scans.
#[derive(Debug, Default)]
pub(super) struct WhaleInbox {
    /// Trades not yet in the whale table (each trade is added once).
    unrecorded: Vec<WhaleTrade>,
    /// Resolved markets (condition id, winning outcome) not yet counted in win rates.
    resolved: Vec<(String, usize)>,
    rule: MarketMakerRule,
    /// The profile last stored for each wallet of the last analysis: an unchanged profile is
    /// not written again (the table's records grow with every market a wallet trades, so a
    /// rewrite each scan is what made long backtests slow down day after day).
    profiled: HashMap<String, WhaleProfile>,
}

/// The whale-analyzer plugin's input for one scan, with the wallets and markets its indices
/// name.
pub(super) struct WhaleInput<'t> {
    pub(super) input: abi::AnalysisInput,
    pub(super) names: WhaleNames<'t>,
}

/// The wallets and markets a whale analysis names by index.
pub(super) struct WhaleNames<'t> {
    wallets: Vec<&'t str>,
    markets: Vec<&'t str>,
}

/// Whether two profiles of a wallet give the same figures, whenever they were made.
fn same_figures(a: &WhaleProfile, b: &WhaleProfile) -> bool {
    WhaleProfile { at_ms: b.at_ms, ..a.clone() } == *b
}

/// Most trades waiting for the table (a scan drains them; this bounds a stalled engine).
const MAX_UNRECORDED: usize = 200_000;

impl super::Engine {
    /// Sets the market-maker rule of the whale table (`[signals.whales]`).
    pub fn set_market_maker_rule(&self, rule: MarketMakerRule) {
        self.inner.whales().rule = rule;
    }

    /// Holders and trades of the whale tracker reach the engine through [`super::SignalFeeds`];
    /// this is for a tracker that is polled by hand (tests): the trades as if they came from it.
    pub fn push_whale_trades(&self, trades: impl IntoIterator<Item = WhaleTrade>) {
        for t in trades {
            self.inner.take_whale_trade(t);
        }
    }
}

impl Inner {
    fn whales(&self) -> std::sync::MutexGuard<'_, WhaleInbox> {
        self.whale_inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A trade as it comes: kept for the day's signals, and queued for the whale table.
    pub(super) fn take_whale_trade(&self, t: WhaleTrade) {
        self.saw(super::observer::Seen::Whale(&t));
        {
            let mut inbox = self.whales();
            if inbox.unrecorded.len() < MAX_UNRECORDED {
                inbox.unrecorded.push(t.clone());
            }
        }
        self.push_recent_whale(t);
    }

    /// A market resolved: the winners and losers among the wallets that bought into it are
    /// counted at the next scan.
    pub(super) fn note_resolution(&self, market: &str, winning_token: &str) {
        let outcome = self
            .state()
            .markets
            .get(market)
            .and_then(|m| m.outcomes.iter().position(|o| o.token_id == winning_token));
        if let Some(winner) = outcome {
            self.whales().resolved.push((market.to_owned(), winner));
        }
    }

    /// Updates the whale table with what came since the last scan and returns the wallets among
    /// `trades` flagged as market makers.
    async fn record_whales(&self, trades: &[Arc<WhaleTrade>]) -> HashSet<String> {
        let (pending, resolved, rule) = {
            let mut inbox = self.whales();
            (std::mem::take(&mut inbox.unrecorded), std::mem::take(&mut inbox.resolved), inbox.rule)
        };
        // Who bought into the resolved markets, in one pass over the table (read before the
        // write: the table is small).
        let mut holders: Vec<(String, usize, Vec<String>)> =
            resolved.into_iter().map(|(market, winner)| (market, winner, Vec::new())).collect();
        if !holders.is_empty() {
            let visited = self.store.read().and_then(|r| {
                r.for_each_whale(|w| {
                    for (market, _, addresses) in &mut holders {
                        if w.markets.contains(market) {
                            addresses.push(w.address.clone());
                        }
                    }
                })
            });
            if let Err(e) = visited {
                tracing::warn!(error = %e, "whale table unreadable: resolved markets count for no wallet");
            }
        }
        let wallets: Vec<String> = trades
            .iter()
            .map(|t| t.wallet.as_str())
            .collect::<FastHashSet<_>>()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if pending.is_empty() && holders.is_empty() {
            // Nothing to write: the flags as stored.
            return self
                .store
                .read()
                .and_then(|r| r.market_makers(wallets.iter().map(String::as_str)))
                .unwrap_or_default();
        }
        let written = self
            .store
            .write(move |w| {
                let new = table::record_trades(w, &pending, rule)?;
                for (market, winner, addresses) in &holders {
                    table::record_resolution(w, market, *winner, addresses)?;
                }
                let makers = w.market_makers(wallets.iter().map(String::as_str))?;
                Ok((new, makers))
            })
            .await;
        match written {
            Ok((new, makers)) => {
                for wallet in new {
                    tracing::info!(%wallet, source = "trades", "new whale");
                }
                makers
            }
            Err(e) => {
                self.error("signals", format!("storing whales: {e}"));
                HashSet::new()
            }
        }
    }

    /// Stores the profiles whose figures differ from those last stored (a stored profile keeps
    /// the time its figures were first seen), and keeps this analysis's to compare the next with.
    async fn store_profiles(&self, profiles: Vec<(String, WhaleProfile)>) {
        let changed: Vec<(String, WhaleProfile)> = {
            let inbox = self.whales();
            profiles
                .iter()
                .filter(|(wallet, p)| inbox.profiled.get(wallet).is_none_or(|old| !same_figures(p, old)))
                .cloned()
                .collect()
        };
        if !changed.is_empty() {
            let written = self.store.write(move |w| table::record_profiles(w, &changed)).await;
            if let Err(e) = written {
                // Nothing is remembered as stored: the next scan tries again.
                return self.error("signals", format!("storing whale profiles: {e}"));
            }
        }
        // Only the figures are compared, so this analysis's copies serve.
        self.whales().profiled = profiles.into_iter().collect();
    }

    /// The whale table updated, then the whale-analyzer plugin's input: the day's trades of
    /// wallets that are not market makers, wallets and markets by index. `None` when no trade
    /// is left to analyze.
    pub(super) async fn whale_input<'t>(&self, trades: &'t [Arc<WhaleTrade>]) -> Option<WhaleInput<'t>> {
        if trades.is_empty() {
            return None;
        }
        let makers = self.record_whales(trades).await;
        let mut wallets: Vec<&str> = Vec::new();
        let mut markets: Vec<&str> = Vec::new();
        let mut wallet_ix: FastHashMap<&str, u32> = FastHashMap::default();
        let mut market_ix: FastHashMap<&str, u32> = FastHashMap::default();
        let mut input =
            abi::AnalysisInput { wallet_count: 0, market_count: 0, trades: Vec::with_capacity(trades.len()) };
        // Market makers quote both sides: their flow is no conviction, so it is left out.
        for t in trades.iter().filter(|t| !makers.contains(&t.wallet)) {
            let w = *wallet_ix.entry(&t.wallet).or_insert_with(|| {
                wallets.push(&t.wallet);
                u32::try_from(wallets.len() - 1).unwrap_or(u32::MAX)
            });
            let m = *market_ix.entry(&t.market).or_insert_with(|| {
                markets.push(&t.market);
                u32::try_from(markets.len() - 1).unwrap_or(u32::MAX)
            });
            input.trades.push(abi::Trade {
                wallet: w,
                market: m,
                outcome: if t.outcome == 0 { abi::Outcome::Yes } else { abi::Outcome::No },
                side: if t.side == Side::Buy { abi::TradeSide::Buy } else { abi::TradeSide::Sell },
                price: super::rules::micros(t.price),
                shares: super::rules::micros(t.shares),
                at: t.at_ms,
            });
        }
        if input.trades.is_empty() {
            return None;
        }
        input.wallet_count = u32::try_from(wallets.len()).unwrap_or(u32::MAX);
        input.market_count = u32::try_from(markets.len()).unwrap_or(u32::MAX);
        Some(WhaleInput { input, names: WhaleNames { wallets, markets } })
    }

    /// The whale-analyzer plugin's answer into per-market signals, and its whale profiles into
    /// the table.
    pub(super) async fn whale_answer(
        &self,
        input: &abi::AnalysisInput,
        names: &WhaleNames<'_>,
        answer: Result<abi::Analysis, PluginError>,
        now: i64,
        out: &mut FastHashMap<String, SignalColumns>,
    ) {
        let WhaleNames { wallets, markets } = names;
        if self.plugins.has_shadow(PluginKind::WhaleAnalyzer) {
            self.saw(Seen::WhaleAnalysis(&WhaleCall {
                now_ms: now,
                input,
                market_ids: markets,
                answer: answer.as_ref().ok(),
            }));
        }
        let analysis = match answer {
            Ok(a) => a,
            Err(e) => return self.error("signals", format!("whale analysis skipped: {e}")),
        };
        SignalColumns::add_whales(out, &analysis, markets);
        // The plugin's view of each whale goes with its record, for the dashboard alone.
        if !self.stores_dashboard_records() {
            return;
        }
        let profiles: Vec<(String, WhaleProfile)> = analysis
            .whales
            .iter()
            .filter_map(|p| {
                let address = usize::try_from(p.wallet).ok().and_then(|i| wallets.get(i))?;
                let profile = WhaleProfile {
                    weight: p.weight,
                    volume: Decimal::new(p.volume, 6),
                    net_yes_flow: Decimal::new(p.net_yes_flow, 6),
                    trades: p.trades,
                    at_ms: now,
                };
                Some(((*address).to_owned(), profile))
            })
            .collect();
        self.store_profiles(profiles).await;
    }
}
