//! The engine's whale path: trades (from the simulator or the Data API tracker) and market
//! resolutions go into the whale table as they are consumed by a scan; the day's trades, less
//! those of market-maker-like wallets, go to the whale-analyzer plugin, whose per-market
//! signals feed the scorer.

use super::Inner;
use super::observer::{Seen, SignalColumns, WhaleCall};
use crate::exchange::sim::WhaleTrade;
use crate::exchange::{Market, Side};
use crate::fast_hash::FastHashMap;
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

/// A whale trade kept for the day's signals, its wallet and market numbered ([`Numbers`]): a
/// scan indexes the day's trades by these numbers instead of hashing each address again.
#[derive(Debug, Clone)]
pub(super) struct KeptTrade {
    pub(super) trade: Arc<WhaleTrade>,
    wallet: u32,
    market: u32,
    /// The price and size in micro-units, as the whale analysis takes them at every scan.
    price_micros: i64,
    shares_micros: i64,
}

/// A number for each wallet and market of the trades kept, given once, when a trade arrives.
#[derive(Debug, Default)]
pub(super) struct Numbers(FastHashMap<String, u32>);

impl Numbers {
    /// How many numbers were given (each is below this).
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    fn of(&mut self, name: &str) -> u32 {
        if let Some(n) = self.0.get(name) {
            return *n;
        }
        let n = u32::try_from(self.0.len()).unwrap_or(u32::MAX);
        self.0.insert(name.to_owned(), n);
        n
    }

    /// The trade with its numbers.
    pub(super) fn keep(&mut self, trade: Arc<WhaleTrade>) -> KeptTrade {
        let (wallet, market) = (self.of(&trade.wallet), self.of(&trade.market));
        let (price_micros, shares_micros) =
            (super::rules::micros(trade.price), super::rules::micros(trade.shares));
        KeptTrade { trade, wallet, market, price_micros, shares_micros }
    }

    /// Numbers the kept trades afresh when names no longer kept have piled up: the numbers
    /// then stay fewer than twice `floor` plus what the trades name.
    /// The trades are reached through `kept` only then.
    pub(super) fn renumber_if_many<'a, I: Iterator<Item = &'a mut KeptTrade>>(
        &mut self,
        floor: usize,
        kept: impl FnOnce() -> I,
    ) {
        if self.0.len() <= 2 * floor {
            return;
        }
        self.0.clear();
        for t in kept() {
            (t.wallet, t.market) = (self.of(&t.trade.wallet), self.of(&t.trade.market));
        }
    }
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

    /// Updates the whale table with what came since the last scan and tells, by wallet number
    /// (`numbers` of them), which wallets among `trades` are flagged as market makers.
    async fn record_whales(&self, trades: &[KeptTrade], numbers: usize) -> Vec<bool> {
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
                        if w.markets.iter().any(|m| **m == **market) {
                            addresses.push(w.address.clone());
                        }
                    }
                })
            });
            if let Err(e) = visited {
                tracing::warn!(error = %e, "whale table unreadable: resolved markets count for no wallet");
            }
        }
        // Each wallet once, with its number.
        let mut seen = vec![false; numbers];
        let (numbered, wallets): (Vec<u32>, Vec<String>) = trades
            .iter()
            .filter(|t| seen.get_mut(t.wallet as usize).is_some_and(|s| !std::mem::replace(s, true)))
            .map(|t| (t.wallet, t.trade.wallet.clone()))
            .unzip();
        let by_number = |wallets: &[String], makers: &HashSet<String>| {
            let mut flags = vec![false; numbers];
            for (n, w) in numbered.iter().zip(wallets) {
                flags[*n as usize] = makers.contains(w);
            }
            flags
        };
        if pending.is_empty() && holders.is_empty() {
            // Nothing to write: the flags as stored.
            let makers = self.store.read().and_then(|r| r.market_makers(wallets.iter().map(String::as_str)));
            return by_number(&wallets, &makers.unwrap_or_default());
        }
        let written = self
            .store
            .write(move |w| {
                let new = table::record_trades(w, &pending, rule)?;
                for (market, winner, addresses) in &holders {
                    table::record_resolution(w, market, *winner, addresses)?;
                }
                let makers = w.market_makers(wallets.iter().map(String::as_str))?;
                Ok((new, makers, wallets))
            })
            .await;
        match written {
            Ok((new, makers, wallets)) => {
                for wallet in new {
                    tracing::info!(%wallet, source = "trades", "new whale");
                }
                by_number(&wallets, &makers)
            }
            Err(e) => {
                self.error("signals", format!("storing whales: {e}"));
                vec![false; numbers]
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
    pub(super) async fn whale_input<'t>(
        &self,
        trades: &'t [KeptTrade],
        numbers: usize,
    ) -> Option<WhaleInput<'t>> {
        if trades.is_empty() {
            return None;
        }
        let makers = self.record_whales(trades, numbers).await;
        let mut wallets: Vec<&str> = Vec::new();
        let mut markets: Vec<&str> = Vec::new();
        // Each wallet's and market's index in the input, by number (none yet: `u32::MAX`).
        let (mut wallet_ix, mut market_ix) = (vec![u32::MAX; numbers], vec![u32::MAX; numbers]);
        let index = |ix: &mut Vec<u32>, names: &mut Vec<&'t str>, n: u32, name: &'t str| {
            let at = &mut ix[n as usize];
            if *at == u32::MAX {
                *at = u32::try_from(names.len()).unwrap_or(u32::MAX);
                names.push(name);
            }
            *at
        };
        let mut input =
            abi::AnalysisInput { wallet_count: 0, market_count: 0, trades: Vec::with_capacity(trades.len()) };
        // Market makers quote both sides: their flow is no conviction, so it is left out.
        for kept in trades.iter().filter(|t| !makers[t.wallet as usize]) {
            let t = &*kept.trade;
            let w = index(&mut wallet_ix, &mut wallets, kept.wallet, &t.wallet);
            let m = index(&mut market_ix, &mut markets, kept.market, &t.market);
            input.trades.push(abi::Trade {
                wallet: w,
                market: m,
                outcome: if t.outcome == 0 { abi::Outcome::Yes } else { abi::Outcome::No },
                side: if t.side == Side::Buy { abi::TradeSide::Buy } else { abi::TradeSide::Sell },
                price: kept.price_micros,
                shares: kept.shares_micros,
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

    /// The whale-analyzer plugin's answer into the signals of `candidates` (`out`, in their
    /// order), and its whale profiles into the table.
    pub(super) async fn whale_answer(
        &self,
        input: &abi::AnalysisInput,
        names: &WhaleNames<'_>,
        answer: Result<abi::Analysis, PluginError>,
        now: i64,
        candidates: &[Arc<Market>],
        out: &mut [SignalColumns],
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
        // Each candidate's columns, found by the market's id (the analysis names the markets of
        // the day's trades, candidates or not).
        let at: FastHashMap<&str, usize> =
            candidates.iter().enumerate().map(|(i, m)| (m.id.as_str(), i)).collect();
        for s in &analysis.markets {
            let name = usize::try_from(s.market).ok().and_then(|i| markets.get(i));
            if let Some(c) = name.and_then(|n| at.get(n)).and_then(|&i| out.get_mut(i)) {
                c.set_whales(s);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(wallet: &str, market: &str) -> Arc<WhaleTrade> {
        Arc::new(WhaleTrade {
            wallet: wallet.into(),
            market: market.into(),
            outcome: 0,
            side: Side::Buy,
            price: Decimal::ONE,
            shares: Decimal::ONE,
            at_ms: 0,
        })
    }

    /// The same name always has the same number and two names never share one, before and
    /// after the numbers are given afresh; they are given afresh only past twice the floor.
    #[test]
    fn a_name_keeps_one_number_of_its_own_and_renumbering_keeps_it_so() {
        let mut numbers = Numbers::default();
        let mut kept: Vec<KeptTrade> = (0..40)
            .map(|i| numbers.keep(trade(&format!("0xwallet{}", i % 7), &format!("0xmarket{}", i % 5))))
            .collect();
        let consistent = |kept: &[KeptTrade], numbers: &Numbers| {
            let mut by_name: HashMap<String, u32> = HashMap::new();
            for k in kept {
                for (name, n) in [(&k.trade.wallet, k.wallet), (&k.trade.market, k.market)] {
                    assert!((n as usize) < numbers.len());
                    assert_eq!(*by_name.entry(name.clone()).or_insert(n), n, "{name}");
                }
            }
            let distinct: HashSet<u32> = by_name.values().copied().collect();
            assert_eq!(distinct.len(), by_name.len(), "no number shared");
        };
        consistent(&kept, &numbers);
        assert_eq!(numbers.len(), 12);
        // Names no longer kept: the first half's wallets and markets go, new ones come.
        kept.drain(..20);
        kept.extend((0..4).map(|i| numbers.keep(trade(&format!("0xnew{i}"), "0xmarket0"))));
        numbers.renumber_if_many(8, || kept.iter_mut());
        assert_eq!(numbers.len(), 16, "not past twice the floor: kept as they are");
        consistent(&kept, &numbers);
        numbers.renumber_if_many(7, || kept.iter_mut());
        assert_eq!(numbers.len(), 16, "7 wallets, 5 markets and 4 new wallets are still named");
        consistent(&kept, &numbers);
        kept.drain(..20);
        numbers.renumber_if_many(7, || kept.iter_mut());
        assert_eq!(numbers.len(), 5, "the new wallets and their market");
        consistent(&kept, &numbers);
    }
}
