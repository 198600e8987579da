//! Whale trades and news items the venue reports, kept for a day, turned by the whale-analyzer
//! and news-aggregator plugins into per-market signals for the scorer, and stored for the
//! dashboard. A failing signal plugin leaves its signals neutral; the scan goes on.

use super::Inner;
use super::observer::{NewsCall, Seen, SignalColumns};
use super::whales::{KeptTrade, Numbers, WhaleInput};
use crate::exchange::Market;
use crate::exchange::sim::{NewsItem, WhaleTrade};
use crate::plugins::{NewsFields, NewsSource, PluginError, PluginKind, abi};
use crate::store::{NewsMarketMatch, NewsRecord};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Where whale trades and news come from (the simulator's Data API and news stand-ins today).
#[derive(Debug)]
pub struct SignalFeeds {
    pub whales: broadcast::Receiver<WhaleTrade>,
    pub news: broadcast::Receiver<NewsItem>,
}

/// What the last day brought; shared, so a scan takes the day's trades and items without
/// copying them.
#[derive(Debug, Default)]
pub(super) struct Recent {
    /// Oldest first. A scan takes the list itself (one count, not one per trade, whose counts
    /// lie each in its own place in memory); a trade arriving while a scan holds it copies it.
    whales: Arc<Vec<KeptTrade>>,
    /// The numbers of their wallets and markets.
    numbers: Numbers,
    news: VecDeque<KeptNews>,
    /// The plugin's matches last stored for each item: an item whose answer has not changed
    /// is not rewritten (storing again the same answer leaves the record as it is).
    stored_matches: HashMap<String, Vec<NewsMarketMatch>>,
}

const DAY_MS: i64 = 86_400_000;
/// Bounds on what is kept in memory.
const MAX_TRADES: usize = 100_000;
const MAX_NEWS: usize = 1_000;

impl Recent {
    fn forget_before(&mut self, cutoff: i64) {
        // The oldest go while the first left is before the cutoff or too many are left.
        let mut gone = 0;
        while self.whales.get(gone).is_some_and(|t| t.trade.at_ms < cutoff)
            || self.whales.len() - gone > MAX_TRADES
        {
            gone += 1;
        }
        if gone > 0 {
            Arc::make_mut(&mut self.whales).drain(..gone);
        }
        let whales = &mut self.whales;
        self.numbers.renumber_if_many(MAX_TRADES, || Arc::make_mut(whales).iter_mut());
        while self.news.front().is_some_and(|n| n.item.published_ms < cutoff) || self.news.len() > MAX_NEWS {
            self.news.pop_front();
        }
    }
}

/// A news item kept for the day, with the digest the news matching's memo key holds of it
/// (`NewsSource::item_digest`), taken once.
#[derive(Debug, Clone)]
struct KeptNews {
    item: Arc<NewsItem>,
    digest: [u8; 32],
}

impl KeptNews {
    fn new(item: NewsItem) -> Self {
        let digest = fields(&item).digest();
        Self { item: Arc::new(item), digest }
    }
}

fn fields(n: &NewsItem) -> NewsFields<'_> {
    NewsFields { title: &n.title, summary: &n.summary, source: &n.source, published: n.published_ms }
}

/// The news-aggregator plugin's input as a scan has it: the day's items and the candidates
/// (their records are built only if the plugin is to run, see `NewsSource`).
struct ScanNews {
    items: Vec<KeptNews>,
    markets: Arc<[Arc<Market>]>,
}

impl NewsSource for ScanNews {
    fn items(&self) -> usize {
        self.items.len()
    }

    fn item(&self, i: usize) -> NewsFields<'_> {
        fields(&self.items[i].item)
    }

    fn item_digest(&self, i: usize) -> [u8; 32] {
        self.items[i].digest
    }

    fn markets(&self) -> usize {
        self.markets.len()
    }

    fn market(&self, i: usize) -> (&str, &str) {
        (&self.markets[i].question, &self.markets[i].category)
    }
}

fn news_id(n: &NewsItem) -> String {
    crate::feeds::news::news_id(&n.source, &n.url, &n.title)
}

impl Inner {
    /// Collects whale trades and news as they come, for as long as the engine runs.
    pub(super) async fn signal_loop(self: Arc<Self>, mut feeds: SignalFeeds) {
        loop {
            tokio::select! {
                trade = feeds.whales.recv() => match trade {
                    Ok(t) => self.take_whale_trade(t),
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "whale trades lagged"),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                item = feeds.news.recv() => match item {
                    Ok(n) => self.push_news(vec![n]),
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "news lagged"),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// News items from the feeds (`feeds::news`), for the next scans' signals.
    pub(super) fn push_news(&self, mut items: Vec<NewsItem>) {
        // Feeds bring older items too: only the last day's count, kept in publication order so
        // the oldest are forgotten first.
        let cutoff = self.clock.now_ms() - DAY_MS;
        items.retain(|n| n.published_ms >= cutoff);
        if items.is_empty() {
            return;
        }
        for n in &items {
            self.saw(super::observer::Seen::News(n));
        }
        let mut recent = self.recent();
        recent.news.extend(items.into_iter().map(KeptNews::new));
        recent.news.make_contiguous().sort_by_key(|n| n.item.published_ms);
        while recent.news.len() > MAX_NEWS {
            recent.news.pop_front();
        }
    }

    /// A whale trade for the next scans' signals (see `whales` for the whale table).
    pub(super) fn push_recent_whale(&self, t: WhaleTrade) {
        let mut recent = self.recent();
        let kept = recent.numbers.keep(Arc::new(t));
        Arc::make_mut(&mut recent.whales).push(kept);
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signals for `markets` (condition id, question, category), in their order, from the last
    /// day's whale trades and news, through the plugins; whales and news are stored on the way.
    /// `meanwhile` (the scan's work that does not need them) runs on this thread while the news
    /// matching runs beside (see `Plugins::signals_and`); should that call fail, it runs (again)
    /// after, so running it twice must do no harm.
    pub(super) async fn signals<T: Send + 'static>(
        &self,
        markets: &Arc<[Arc<Market>]>,
        now: i64,
        meanwhile: impl Fn() -> T + Send + Sync + 'static,
    ) -> (Vec<SignalColumns>, T) {
        let (trades, numbers, news) = {
            let mut recent = self.recent();
            recent.forget_before(now - DAY_MS);
            (
                Arc::clone(&recent.whales),
                recent.numbers.len(),
                recent.news.iter().cloned().collect::<Vec<_>>(),
            )
        };
        // Each market's columns, in the order of `markets`.
        let mut out = vec![SignalColumns::default(); markets.len()];
        // Both plugins' inputs, then both calls at once (see `Plugins::signals`), then their
        // answers in turn: the whales', then the news'.
        let (whale_in, whale_names) = match self.whale_input(&trades, numbers).await {
            Some(WhaleInput { input, names }) => (Some(input), Some(names)),
            None => (None, None),
        };
        let news_in = (!news.is_empty() && !markets.is_empty())
            .then(|| ScanNews { items: news, markets: Arc::clone(markets) });
        if whale_in.is_none() && news_in.is_none() {
            return (out, meanwhile());
        }
        let plugins = self.plugins.clone();
        let meanwhile = Arc::new(meanwhile);
        let also = Arc::clone(&meanwhile);
        let answered = super::plugin_io::plugin_call(move || {
            let (answers, done) = plugins.signals_and(
                now,
                whale_in.as_ref(),
                news_in.as_ref().map(|n| n as &dyn NewsSource),
                || also(),
            );
            (answers, whale_in, news_in, done)
        })
        .await;
        let (answers, whale_in, news_in, done) = match answered {
            Ok(answered) => answered,
            Err(e) => {
                self.error("signals", format!("whale analysis and news matching aborted: {e}"));
                return (out, meanwhile());
            }
        };
        if let (Some(input), Some(names), Some(answer)) = (&whale_in, &whale_names, answers.whales) {
            self.whale_answer(input, names, answer, now, markets, &mut out).await;
        }
        if let (Some(asked), Some(answer)) = (news_in, answers.news) {
            self.news_answer(asked, answer, now, &mut out).await;
        }
        (out, done)
    }

    /// The news-aggregator plugin's answer to `asked` into the signals of its markets (`out`, in
    /// their order), and the matched items into the store for the dashboard.
    async fn news_answer(
        &self,
        asked: ScanNews,
        answer: Result<Vec<abi::NewsMatch>, PluginError>,
        now: i64,
        out: &mut [SignalColumns],
    ) {
        let ScanNews { items: news, markets } = &asked;
        if self.plugins.has_shadow(PluginKind::NewsAggregator) {
            let (items, texts) = crate::plugins::news_records(&asked);
            let ids: Vec<&str> = markets.iter().map(|m| m.id.as_str()).collect();
            self.saw(Seen::NewsMatching(&NewsCall {
                now_ms: now,
                items: &items,
                markets: &texts,
                market_ids: &ids,
                answer: answer.as_ref().ok().map(Vec::as_slice),
            }));
        }
        let found = match answer {
            Ok(m) => m,
            Err(e) => return self.error("signals", format!("news matching skipped: {e}")),
        };
        let mut matched: HashMap<usize, Vec<NewsMarketMatch>> = HashMap::new();
        for m in &found {
            let (Ok(item), Ok(market)) = (usize::try_from(m.item), usize::try_from(m.market)) else {
                continue;
            };
            let (Some(id), Some(columns)) = (markets.get(market).map(|m| &m.id), out.get_mut(market)) else {
                continue;
            };
            columns.add_news(m);
            let why = matched.entry(item).or_default();
            match why.iter_mut().find(|w| w.market == *id) {
                Some(w) if w.relevance >= m.relevance => {}
                Some(w) => (w.relevance, w.sentiment) = (m.relevance, m.sentiment),
                None => why.push(NewsMarketMatch {
                    market: id.clone(),
                    relevance: m.relevance,
                    sentiment: m.sentiment,
                }),
            }
        }
        // The scores took the matches in above; the stored items are the dashboard's news feed.
        if !self.stores_dashboard_records() {
            return;
        }
        let records: Vec<NewsRecord> = news
            .iter()
            .map(|n| &*n.item)
            .enumerate()
            .map(|(i, n)| NewsRecord {
                id: news_id(n),
                title: n.title.clone(),
                summary: n.summary.clone(),
                source: n.source.clone(),
                url: n.url.clone(),
                published_ms: n.published_ms,
                fetched_ms: now,
                markets: Vec::new(),
                matches: matched.remove(&i).unwrap_or_default(),
            })
            .collect();
        let records: Vec<NewsRecord> = {
            let mut recent = self.recent();
            let stored = &mut recent.stored_matches;
            // Only the items still in the day are remembered.
            let ids: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
            stored.retain(|id, _| ids.contains(id.as_str()));
            records.into_iter().filter(|r| stored.get(&r.id) != Some(&r.matches)).collect()
        };
        if records.is_empty() {
            return;
        }
        let answers: Vec<(String, Vec<NewsMarketMatch>)> =
            records.iter().map(|r| (r.id.clone(), r.matches.clone())).collect();
        let written = self
            .store
            .write(move |w| {
                for mut r in records {
                    // Matches from earlier scans (other candidate markets) are kept; this scan's
                    // answer wins for its markets. The first fetch time is kept too.
                    if let Some(old) = w.news_item(&r.id)? {
                        r.fetched_ms = r.fetched_ms.min(old.fetched_ms);
                        for m in old.matches {
                            if !r.matches.iter().any(|n| n.market == m.market) {
                                r.matches.push(m);
                            }
                        }
                        for id in old.markets {
                            if !r.matches.iter().any(|n| n.market == id) && !r.markets.contains(&id) {
                                r.markets.push(id);
                            }
                        }
                    }
                    r.matches
                        .sort_by(|a, b| b.relevance.total_cmp(&a.relevance).then(a.market.cmp(&b.market)));
                    let mut markets: Vec<String> = r.matches.iter().map(|m| m.market.clone()).collect();
                    markets.append(&mut r.markets);
                    r.markets = markets;
                    w.put_news(&r)?;
                }
                Ok(())
            })
            .await;
        match written {
            Ok(()) => self.recent().stored_matches.extend(answers),
            Err(e) => self.error("signals", format!("storing news: {e}")),
        }
    }
}
