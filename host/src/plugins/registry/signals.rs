//! The signal plugins' calls: the whale analysis and the news matching, each through the memo
//! when the runs share one; a news matching to be computed runs on a thread beside the caller's,
//! which meanwhile analyses the whales and does its own work (the news matching is the longest).

use super::memo::Key;
use super::*;

/// A news matching's input as what it is made of: the news aggregator's records (`NewsItem`,
/// `MarketText`) are built from it only when the plugin is to run, and the memo's key is written
/// from its fields, the same whatever holds them. A sweep's variants find nearly every matching
/// in the memo, and building the records (three strings per item, two per market) each scan
/// cost more than the lookup.
pub trait NewsSource: Sync {
    /// How many news items.
    fn items(&self) -> usize;
    /// The `i`-th item's fields.
    fn item(&self, i: usize) -> NewsFields<'_>;
    /// The `i`-th item's digest ([`NewsFields::digest`]), which a source that keeps its items
    /// across calls can keep with them.
    fn item_digest(&self, i: usize) -> [u8; 32] {
        self.item(i).digest()
    }
    /// How many markets.
    fn markets(&self) -> usize;
    /// The `i`-th market's question and category.
    fn market(&self, i: usize) -> (&str, &str);
    /// The records themselves, when this source holds them already.
    fn records(&self) -> Option<(&[abi::NewsItem], &[abi::MarketText])> {
        None
    }
}

/// A news item's fields, as [`abi::NewsItem`] has them.
#[derive(Debug, Clone, Copy)]
pub struct NewsFields<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub source: &'a str,
    pub published: i64,
}

impl NewsFields<'_> {
    /// The hash of the fields, each with its length: what a news matching's memo key holds
    /// of the item (`plugins::memo`).
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        super::super::memo::news_item_digest(self)
    }
}

/// The records themselves.
impl NewsSource for (&[abi::NewsItem], &[abi::MarketText]) {
    fn items(&self) -> usize {
        self.0.len()
    }

    fn item(&self, i: usize) -> NewsFields<'_> {
        let n = &self.0[i];
        NewsFields { title: &n.title, summary: &n.summary, source: &n.source, published: n.published }
    }

    fn markets(&self) -> usize {
        self.1.len()
    }

    fn market(&self, i: usize) -> (&str, &str) {
        (&self.1[i].question, &self.1[i].category)
    }

    fn records(&self) -> Option<(&[abi::NewsItem], &[abi::MarketText])> {
        Some(*self)
    }
}

/// The news aggregator's records of `input`.
#[must_use]
pub fn news_records(input: &dyn NewsSource) -> (Vec<abi::NewsItem>, Vec<abi::MarketText>) {
    let items = (0..input.items())
        .map(|i| {
            let n = input.item(i);
            abi::NewsItem {
                title: n.title.to_owned(),
                summary: n.summary.to_owned(),
                source: n.source.to_owned(),
                published: n.published,
            }
        })
        .collect();
    let markets = (0..input.markets())
        .map(|i| {
            let (question, category) = input.market(i);
            abi::MarketText { question: question.to_owned(), category: category.to_owned() }
        })
        .collect();
    (items, markets)
}

/// What the signal plugins answered to [`Plugins::signals`]; `None` for a call not asked for.
#[derive(Debug)]
pub struct SignalAnswers {
    pub whales: Option<Result<abi::Analysis, PluginError>>,
    pub news: Option<Result<Vec<abi::NewsMatch>, PluginError>>,
}

/// The thread the news matching runs on beside a scan's whale analysis: one for the process,
/// started at the first scan that needs it and kept (a thread started per scan paid its set-up,
/// signal stack and allocator heap, each time). Its own pool, not rayon's global one, so a
/// plugin compiling there (wasmtime's parallel compilation) never holds up a scan. `None` when
/// it cannot be started: then both calls run on the caller's thread.
fn beside() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "plugin-beside".into())
            .build()
            .inspect_err(
                |e| tracing::warn!(error = %e, "no thread for the news matching; it runs after the whales"),
            )
            .ok()
    })
    .as_ref()
}

/// A call made ready: the active plugin, its parameters, and the key of its answer in the memo
/// (when the runs share one).
struct Ready {
    loaded: Arc<Loaded>,
    params: Arc<Vec<f64>>,
    key: Option<Key>,
}

impl Plugins {
    fn ready(&self, kind: PluginKind, key: impl FnOnce(&str, &[f64]) -> Key) -> Result<Ready, PluginError> {
        let loaded = self.active(kind)?;
        let params = loaded.params.load_full();
        let key = self.inner.options.memo.as_ref().map(|_| key(&loaded.sha256, &params));
        Ok(Ready { loaded, params, key })
    }

    /// Whether a ready news matching must run the plugin: there is no memo, or the memo lacks
    /// its answer.
    fn news_to_compute(&self, ready: &Result<Ready, PluginError>) -> bool {
        let Ok(ready) = ready else { return false };
        match (&self.inner.options.memo, &ready.key) {
            (Some(memo), Some(key)) => !memo.knows_news(key),
            _ => true,
        }
    }

    /// Analyzes trades with the active whale analyzer.
    ///
    /// # Errors
    /// No analyzer loaded, too many trades for one call, a fault or the plugin's own error.
    pub fn analyze_whales(
        &self,
        now_ms: i64,
        input: &abi::AnalysisInput,
    ) -> Result<abi::Analysis, PluginError> {
        let ready =
            self.ready(PluginKind::WhaleAnalyzer, |sha, p| memo::whales_key(sha, p, now_ms, input))?;
        self.whales_with(&ready, now_ms, input)
    }

    fn whales_with(
        &self,
        ready: &Ready,
        now_ms: i64,
        input: &abi::AnalysisInput,
    ) -> Result<abi::Analysis, PluginError> {
        let ask = || self.analyze_with(&ready.loaded, &ready.params, now_ms, input);
        match (&self.inner.options.memo, ready.key) {
            (Some(memo), Some(key)) => memo.whales(key, ask),
            _ => ask(),
        }
    }

    /// Matches news items to markets with the active news aggregator.
    ///
    /// # Errors
    /// No aggregator loaded, too large an input, a fault or the plugin's own error.
    pub fn match_news(
        &self,
        now_ms: i64,
        items: &[abi::NewsItem],
        markets: &[abi::MarketText],
    ) -> Result<Vec<abi::NewsMatch>, PluginError> {
        let input = (items, markets);
        let ready =
            self.ready(PluginKind::NewsAggregator, |sha, p| memo::news_key(sha, p, now_ms, &input))?;
        self.news_with(&ready, now_ms, &input)
    }

    fn news_with(
        &self,
        ready: &Ready,
        now_ms: i64,
        input: &dyn NewsSource,
    ) -> Result<Vec<abi::NewsMatch>, PluginError> {
        let ask = || match input.records() {
            Some((items, markets)) => {
                self.match_news_with(&ready.loaded, &ready.params, now_ms, items, markets)
            }
            None => {
                let (items, markets) = news_records(input);
                self.match_news_with(&ready.loaded, &ready.params, now_ms, &items, &markets)
            }
        };
        match (&self.inner.options.memo, ready.key) {
            (Some(memo), Some(key)) => memo.news(key, ask),
            _ => ask(),
        }
    }

    /// A scan's two signal calls, answered as [`Self::analyze_whales`] and [`Self::match_news`]
    /// answer them. When both plugins are to run (no memo, or one without either answer), the
    /// news matching runs on a thread kept for it (see `beside`) while this one analyses the whales:
    /// a scan then waits for the longer of the two rather than for both. A panic on either goes
    /// on here, where the caller catches it.
    #[must_use]
    pub fn signals(
        &self,
        now_ms: i64,
        whales: Option<&abi::AnalysisInput>,
        news: Option<&dyn NewsSource>,
    ) -> SignalAnswers {
        self.signals_and(now_ms, whales, news, || ()).0
    }

    /// [`Self::signals`], and `meanwhile` run once on this thread after the whale analysis: work
    /// of the caller's that does not need the answers fills the time the news matching beside
    /// takes. Whenever the news matching is to be computed (and a thread beside is there), it
    /// runs beside.
    pub fn signals_and<T>(
        &self,
        now_ms: i64,
        whales: Option<&abi::AnalysisInput>,
        news: Option<&dyn NewsSource>,
        meanwhile: impl FnOnce() -> T,
    ) -> (SignalAnswers, T) {
        let whales = whales.map(|input| {
            let ready =
                self.ready(PluginKind::WhaleAnalyzer, |sha, p| memo::whales_key(sha, p, now_ms, input));
            (input, ready)
        });
        let news = news.map(|input| {
            let ready =
                self.ready(PluginKind::NewsAggregator, |sha, p| memo::news_key(sha, p, now_ms, input));
            (input, ready)
        });
        let news_computed = news.as_ref().is_some_and(|(_, r)| self.news_to_compute(r));
        let ask_whales =
            || whales.map(|(input, ready)| ready.and_then(|r| self.whales_with(&r, now_ms, input)));
        let ask_news = || news.map(|(input, ready)| ready.and_then(|r| self.news_with(&r, now_ms, input)));
        let beside = if news_computed { beside() } else { None };
        let Some(beside) = beside else {
            let whales = ask_whales();
            let news = ask_news();
            return (SignalAnswers { whales, news }, meanwhile());
        };
        let mut news = None;
        let (whales, done) = beside.in_place_scope(|s| {
            s.spawn(|_| news = ask_news());
            let whales = ask_whales();
            (whales, meanwhile())
        });
        (SignalAnswers { whales, news }, done)
    }
}
