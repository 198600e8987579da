//! Whale trades and news items the venue reports, kept for a day, turned by the whale-analyzer
//! and news-aggregator plugins into per-market signals for the scorer, and stored for the
//! dashboard. A failing signal plugin leaves its signals neutral; the scan goes on.

use super::Inner;
use crate::exchange::sim::{NewsItem, WhaleTrade};
use crate::exchange::{Market, Side};
use crate::plugins::abi;
use crate::store::{NewsRecord, WhaleRecord};
use rust_decimal::Decimal;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Where whale trades and news come from (the simulator's Data API and news stand-ins today).
#[derive(Debug)]
pub struct SignalFeeds {
    pub whales: broadcast::Receiver<WhaleTrade>,
    pub news: broadcast::Receiver<NewsItem>,
}

/// What the last day brought.
#[derive(Debug, Default)]
pub(super) struct Recent {
    whales: VecDeque<WhaleTrade>,
    news: VecDeque<NewsItem>,
}

const DAY_MS: i64 = 86_400_000;
/// Bounds on what is kept in memory.
const MAX_TRADES: usize = 100_000;
const MAX_NEWS: usize = 1_000;

/// Per-market signals for the scorer.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MarketSignals {
    pub whale_activity: f32,
    pub whale_net_flow: i64,
    pub news_relevance: f32,
    pub news_count: u32,
}

impl Recent {
    fn forget_before(&mut self, cutoff: i64) {
        while self.whales.front().is_some_and(|t| t.at_ms < cutoff) || self.whales.len() > MAX_TRADES {
            self.whales.pop_front();
        }
        while self.news.front().is_some_and(|n| n.published_ms < cutoff) || self.news.len() > MAX_NEWS {
            self.news.pop_front();
        }
    }
}

fn news_id(n: &NewsItem) -> String {
    hex::encode(&Sha256::digest(format!("{}\n{}", n.source, n.title).as_bytes())[..12])
}

impl Inner {
    /// Collects whale trades and news as they come, for as long as the engine runs.
    pub(super) async fn signal_loop(self: Arc<Self>, mut feeds: SignalFeeds) {
        loop {
            tokio::select! {
                trade = feeds.whales.recv() => match trade {
                    Ok(t) => self.recent().whales.push_back(t),
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "whale trades lagged"),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                item = feeds.news.recv() => match item {
                    Ok(n) => self.recent().news.push_back(n),
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "news lagged"),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signals for `markets` (condition id, question, category) from the last day's whale
    /// trades and news, through the plugins; whales and news are stored on the way.
    pub(super) async fn signals(&self, markets: &[&Market], now: i64) -> HashMap<String, MarketSignals> {
        let (trades, news) = {
            let mut recent = self.recent();
            recent.forget_before(now - DAY_MS);
            (
                recent.whales.iter().cloned().collect::<Vec<_>>(),
                recent.news.iter().cloned().collect::<Vec<_>>(),
            )
        };
        let mut out: HashMap<String, MarketSignals> = HashMap::new();
        if !trades.is_empty() {
            self.whale_signals(&trades, now, &mut out).await;
        }
        if !news.is_empty() && !markets.is_empty() {
            self.news_signals(&news, markets, now, &mut out).await;
        }
        out
    }

    async fn whale_signals(&self, trades: &[WhaleTrade], now: i64, out: &mut HashMap<String, MarketSignals>) {
        let mut wallets: Vec<&str> = Vec::new();
        let mut markets: Vec<&str> = Vec::new();
        let mut wallet_ix: HashMap<&str, u32> = HashMap::new();
        let mut market_ix: HashMap<&str, u32> = HashMap::new();
        let mut input =
            abi::AnalysisInput { wallet_count: 0, market_count: 0, trades: Vec::with_capacity(trades.len()) };
        for t in trades {
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
        input.wallet_count = u32::try_from(wallets.len()).unwrap_or(u32::MAX);
        input.market_count = u32::try_from(markets.len()).unwrap_or(u32::MAX);
        let plugins = self.plugins.clone();
        let answer = super::plugin_call(move || plugins.analyze_whales(now, &input)).await;
        let analysis = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return self.error("signals", format!("whale analysis skipped: {e}")),
            Err(e) => return self.error("signals", format!("whale analysis aborted: {e}")),
        };
        for s in &analysis.markets {
            if let Some(id) = usize::try_from(s.market).ok().and_then(|i| markets.get(i)) {
                let entry = out.entry((*id).to_owned()).or_default();
                entry.whale_activity = s.activity;
                entry.whale_net_flow = s.net_yes_flow;
            }
        }
        // The whale table: every profiled wallet, with what the day's trades say about it.
        let mut records = Vec::new();
        for w in &analysis.whales {
            let Some(address) = usize::try_from(w.wallet).ok().and_then(|i| wallets.get(i)) else { continue };
            let theirs: Vec<&WhaleTrade> = trades.iter().filter(|t| t.wallet == *address).collect();
            let volume: Decimal = theirs.iter().map(|t| t.price * t.shares).sum();
            let traded: BTreeSet<String> = theirs.iter().map(|t| t.market.clone()).collect();
            records.push(WhaleRecord {
                address: (*address).to_owned(),
                total_volume: volume,
                trade_count: theirs.len() as u64,
                markets: traded.into_iter().collect(),
                first_seen_ms: theirs.iter().map(|t| t.at_ms).min().unwrap_or(now),
                last_trade_ms: theirs.iter().map(|t| t.at_ms).max().unwrap_or(now),
            });
        }
        let written = self
            .store
            .write(move |w| {
                for mut r in records {
                    // Keep when the wallet was first seen across days.
                    if let Some(old) = w.whale(&r.address)? {
                        r.first_seen_ms = r.first_seen_ms.min(old.first_seen_ms);
                    }
                    w.put_whale(&r)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            self.error("signals", format!("storing whales: {e}"));
        }
    }

    async fn news_signals(
        &self,
        news: &[NewsItem],
        markets: &[&Market],
        now: i64,
        out: &mut HashMap<String, MarketSignals>,
    ) {
        let items: Vec<abi::NewsItem> = news
            .iter()
            .map(|n| abi::NewsItem {
                title: n.title.clone(),
                summary: String::new(),
                source: n.source.clone(),
                published: n.published_ms,
            })
            .collect();
        let texts: Vec<abi::MarketText> = markets
            .iter()
            .map(|m| abi::MarketText { question: m.question.clone(), category: m.category.clone() })
            .collect();
        let plugins = self.plugins.clone();
        let answer = super::plugin_call(move || plugins.match_news(now, &items, &texts)).await;
        let found = match answer {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return self.error("signals", format!("news matching skipped: {e}")),
            Err(e) => return self.error("signals", format!("news matching aborted: {e}")),
        };
        let mut matched: HashMap<usize, BTreeSet<String>> = HashMap::new();
        for m in &found {
            let (Ok(item), Ok(market)) = (usize::try_from(m.item), usize::try_from(m.market)) else {
                continue;
            };
            let Some(id) = markets.get(market).map(|m| &m.id) else { continue };
            let entry = out.entry(id.clone()).or_default();
            entry.news_relevance = entry.news_relevance.max(m.relevance);
            entry.news_count += 1;
            matched.entry(item).or_default().insert(id.clone());
        }
        let records: Vec<NewsRecord> = news
            .iter()
            .enumerate()
            .map(|(i, n)| NewsRecord {
                id: news_id(n),
                title: n.title.clone(),
                summary: String::new(),
                source: n.source.clone(),
                url: String::new(),
                published_ms: n.published_ms,
                fetched_ms: now,
                markets: matched.remove(&i).map(|s| s.into_iter().collect()).unwrap_or_default(),
            })
            .collect();
        let written = self
            .store
            .write(move |w| {
                for r in &records {
                    w.put_news(r)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            self.error("signals", format!("storing news: {e}"));
        }
    }
}
