//! Signal plugins' answers shared between runs over the same data (a sweep's variants, a
//! comparison's two versions): plugins are pure functions of their inputs (`wit/plugin.wit`),
//! so one file with the same parameters, `now` and input answers the same, and is asked once.
//!
//! An answer is found by the BLAKE3 hash of everything that decides it: the plugin file's own
//! hash, the parameters' bits, `now` and the whole input, each field with its length (a news item
//! by the hash of its fields, which the engine takes once per item). BLAKE3 rather than SHA-256:
//! a sweep hashes every variant's whale input at every scan, and BLAKE3 hashes those kilobytes
//! several times faster, as collision-resistant. Only answers
//! the plugin gave and the host accepted are kept; errors and faults are asked again. When the
//! memo's byte budget is spent it keeps what it has and takes no more: a sweep's variants each
//! walk the data from its start, so the first answers are the ones asked for again.

use super::PluginKind;
use super::abi;
use super::registry::NewsSource;
use crate::fast_hash::FastHashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What decides an answer, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key([u8; 32]);

/// Writes a call's inputs into the key, each field with its length so no two inputs meet.
pub(super) struct KeyWriter {
    buf: Vec<u8>,
}

impl KeyWriter {
    /// The call's identity: which plugin kind and file, with which parameters, at which time.
    pub(super) fn new(kind: PluginKind, file_sha256: &str, params: &[f64], now_ms: i64) -> Self {
        let mut w = Self { buf: Vec::with_capacity(4_096) };
        w.str(kind.as_str());
        w.str(file_sha256);
        w.u64(params.len() as u64);
        for p in params {
            w.u64(p.to_bits());
        }
        w.u64(now_ms.cast_unsigned());
        w
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(super) fn finish(self) -> Key {
        Key(blake3::hash(&self.buf).into())
    }
}

/// The key of a whale analysis.
pub(super) fn whales_key(file_sha256: &str, params: &[f64], now_ms: i64, input: &abi::AnalysisInput) -> Key {
    let mut w = KeyWriter::new(PluginKind::WhaleAnalyzer, file_sha256, params, now_ms);
    w.u32(input.wallet_count);
    w.u32(input.market_count);
    w.u64(input.trades.len() as u64);
    w.buf.reserve(input.trades.len() * 34);
    for t in &input.trades {
        w.u32(t.wallet);
        w.u32(t.market);
        w.buf.push(match t.outcome {
            abi::Outcome::Yes => 0,
            abi::Outcome::No => 1,
        });
        w.buf.push(match t.side {
            abi::TradeSide::Buy => 0,
            abi::TradeSide::Sell => 1,
        });
        w.u64(t.price.cast_unsigned());
        w.u64(t.shares.cast_unsigned());
        w.u64(t.at.cast_unsigned());
    }
    w.finish()
}

/// The digest of a news item's fields, each with its length (an item the engine keeps for a day
/// is hashed once, not at every scan).
pub(super) fn news_item_digest(n: &crate::plugins::NewsFields<'_>) -> [u8; 32] {
    let mut w = KeyWriter { buf: Vec::with_capacity(n.title.len() + n.summary.len() + n.source.len() + 32) };
    w.str(n.title);
    w.str(n.summary);
    w.str(n.source);
    w.u64(n.published.cast_unsigned());
    w.finish().0
}

/// The key of a news matching, written from the fields of its input whatever holds them (the
/// plugin's records or what they are built from: the key is the same): each item by its
/// digest, each market by its texts.
pub(super) fn news_key(file_sha256: &str, params: &[f64], now_ms: i64, input: &dyn NewsSource) -> Key {
    let mut w = KeyWriter::new(PluginKind::NewsAggregator, file_sha256, params, now_ms);
    w.u64(input.items() as u64);
    for i in 0..input.items() {
        w.buf.extend_from_slice(&input.item_digest(i));
    }
    w.u64(input.markets() as u64);
    for i in 0..input.markets() {
        let (question, category) = input.market(i);
        w.str(question);
        w.str(category);
    }
    w.finish()
}

/// How much a memo saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoStats {
    /// Calls answered from the memo.
    pub hits: u64,
    /// Calls the plugin answered.
    pub misses: u64,
    /// Answers not kept because the budget was spent.
    pub refused: u64,
    /// Bytes of answers kept.
    pub bytes: usize,
}

/// Answers of one kind.
type Shelf<T> = Mutex<FastHashMap<Key, T>>;

/// Whale analyses and news matchings, shared by the runs given the same memo
/// (`PluginOptions::memo`).
pub struct CallMemo {
    budget: usize,
    used: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    refused: AtomicU64,
    whales: Shelf<abi::Analysis>,
    news: Shelf<Vec<abi::NewsMatch>>,
}

impl std::fmt::Debug for CallMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMemo").field("budget", &self.budget).field("stats", &self.stats()).finish()
    }
}

/// Bytes an answer takes in the memo, roughly: its vectors and the entry.
trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for abi::Analysis {
    fn weight(&self) -> usize {
        std::mem::size_of::<abi::WalletProfile>() * self.whales.len()
            + std::mem::size_of::<abi::MarketSignal>() * self.markets.len()
            + std::mem::size_of::<Self>()
    }
}

impl Weigh for Vec<abi::NewsMatch> {
    fn weight(&self) -> usize {
        std::mem::size_of::<abi::NewsMatch>() * self.len() + std::mem::size_of::<Self>()
    }
}

/// Per entry, besides the answer's vectors: its key and the map's slot.
const ENTRY_BYTES: usize = 32 + 8;

impl CallMemo {
    /// An empty memo that keeps at most `budget_bytes` of answers.
    #[must_use]
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            budget: budget_bytes,
            used: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            whales: Mutex::default(),
            news: Mutex::default(),
        }
    }

    /// Hits, misses and what is kept so far.
    #[must_use]
    pub fn stats(&self) -> MemoStats {
        MemoStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            bytes: self.used.load(Ordering::Relaxed),
        }
    }

    pub(super) fn whales<E>(
        &self,
        key: Key,
        ask: impl FnOnce() -> Result<abi::Analysis, E>,
    ) -> Result<abi::Analysis, E> {
        self.answer(&self.whales, key, ask)
    }

    pub(super) fn news<E>(
        &self,
        key: Key,
        ask: impl FnOnce() -> Result<Vec<abi::NewsMatch>, E>,
    ) -> Result<Vec<abi::NewsMatch>, E> {
        self.answer(&self.news, key, ask)
    }

    /// Whether a news matching is kept for `key`.
    pub(super) fn knows_news(&self, key: &Key) -> bool {
        self.news.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(key)
    }

    /// The kept answer for `key`, else the plugin's (`ask`), kept if it succeeded and fits.
    fn answer<T: Clone + Weigh, E>(
        &self,
        shelf: &Shelf<T>,
        key: Key,
        ask: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let kept = shelf.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
        if let Some(answer) = kept {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let answer = ask()?;
        let weight = answer.weight() + ENTRY_BYTES;
        let reserved = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(weight).filter(|total| *total <= self.budget)
            })
            .is_ok();
        if !reserved {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        let mut answers = shelf.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another run may have asked the same meanwhile: the answer is the same, keep one.
        match answers.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.used.fetch_sub(weight, Ordering::AcqRel);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(answer.clone());
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(wallet: u32, price: i64) -> abi::Trade {
        abi::Trade {
            wallet,
            market: 0,
            outcome: abi::Outcome::Yes,
            side: abi::TradeSide::Buy,
            price,
            shares: 1_000_000,
            at: 5,
        }
    }

    fn input(trades: Vec<abi::Trade>) -> abi::AnalysisInput {
        abi::AnalysisInput { wallet_count: 2, market_count: 1, trades }
    }

    fn analysis(flow: i64) -> abi::Analysis {
        abi::Analysis {
            whales: Vec::new(),
            markets: vec![abi::MarketSignal {
                market: 0,
                activity: 0.5,
                net_yes_flow: flow,
                whale_count: 1,
                concentration: 1.0,
            }],
        }
    }

    #[test]
    fn a_key_changes_with_anything_that_decides_the_answer() {
        let base = input(vec![trade(0, 500_000)]);
        let k = whales_key("f", &[0.5], 10, &base);
        assert_eq!(k, whales_key("f", &[0.5], 10, &base.clone()), "the same call, the same key");
        assert_ne!(k, whales_key("g", &[0.5], 10, &base), "another file");
        assert_ne!(k, whales_key("f", &[0.6], 10, &base), "another parameter value");
        assert_ne!(k, whales_key("f", &[0.5, 0.0], 10, &base), "another parameter list");
        assert_ne!(k, whales_key("f", &[0.5], 11, &base), "another time");
        assert_ne!(k, whales_key("f", &[0.5], 10, &input(vec![trade(1, 500_000)])), "another wallet");
        assert_ne!(k, whales_key("f", &[0.5], 10, &input(vec![trade(0, 500_001)])), "another price");
        assert_ne!(k, whales_key("f", &[0.5], 10, &input(Vec::new())), "fewer trades");
        let mut sold = base.clone();
        sold.trades[0].side = abi::TradeSide::Sell;
        assert_ne!(k, whales_key("f", &[0.5], 10, &sold), "another side");

        let item = |title: &str, summary: &str| abi::NewsItem {
            title: title.into(),
            summary: summary.into(),
            source: "s".into(),
            published: 1,
        };
        let market = abi::MarketText { question: "q".into(), category: "c".into() };
        let news =
            |items: &[abi::NewsItem], markets: &[abi::MarketText]| news_key("f", &[], 10, &(items, markets));
        let n = news(&[item("ab", "c")], std::slice::from_ref(&market));
        // Lengths keep the fields apart: "ab"+"c" is not "a"+"bc".
        assert_ne!(n, news(&[item("a", "bc")], std::slice::from_ref(&market)));
        assert_ne!(n, news(&[item("ab", "c")], &[]));
        assert_eq!(n, news(&[item("ab", "c")], &[market]));

        // The key of what the records are built from is theirs.
        struct Fields;
        impl NewsSource for Fields {
            fn items(&self) -> usize {
                1
            }
            fn item(&self, _: usize) -> crate::plugins::NewsFields<'_> {
                crate::plugins::NewsFields { title: "ab", summary: "c", source: "s", published: 1 }
            }
            fn markets(&self) -> usize {
                1
            }
            fn market(&self, _: usize) -> (&str, &str) {
                ("q", "c")
            }
        }
        assert_eq!(n, news_key("f", &[], 10, &Fields));
        let (items, markets) = crate::plugins::registry::news_records(&Fields);
        assert_eq!(n, news(&items, &markets));
        // A source that keeps its items' digests keys as one that hashes them each time; a
        // digest that is not the item's gives another key.
        struct Kept([u8; 32]);
        impl NewsSource for Kept {
            fn items(&self) -> usize {
                Fields.items()
            }
            fn item(&self, i: usize) -> crate::plugins::NewsFields<'_> {
                Fields.item(i)
            }
            fn item_digest(&self, _: usize) -> [u8; 32] {
                self.0
            }
            fn markets(&self) -> usize {
                Fields.markets()
            }
            fn market(&self, i: usize) -> (&str, &str) {
                Fields.market(i)
            }
        }
        assert_eq!(n, news_key("f", &[], 10, &Kept(Fields.item(0).digest())));
        assert_ne!(n, news_key("f", &[], 10, &Kept([0; 32])));
    }

    #[test]
    fn an_answer_is_asked_once_and_an_error_every_time() {
        let memo = CallMemo::new(1 << 20);
        let key = whales_key("f", &[], 10, &input(vec![trade(0, 1)]));
        let mut asked = 0;
        for _ in 0..3 {
            let got = memo.whales(key, || -> Result<_, String> {
                asked += 1;
                Ok(analysis(7))
            });
            assert_eq!(got.unwrap(), analysis(7));
        }
        assert_eq!(asked, 1);
        let other = whales_key("f", &[], 11, &input(vec![trade(0, 1)]));
        for _ in 0..2 {
            let got = memo.whales(other, || -> Result<abi::Analysis, String> {
                asked += 1;
                Err("no".into())
            });
            assert_eq!(got.unwrap_err(), "no");
        }
        assert_eq!(asked, 3, "errors are not kept");
        let s = memo.stats();
        assert_eq!((s.hits, s.misses, s.refused), (2, 3, 0));
        assert_eq!(s.bytes, analysis(7).weight() + ENTRY_BYTES);
    }

    #[test]
    fn a_full_memo_keeps_what_it_has_and_still_answers() {
        let one = analysis(1).weight() + ENTRY_BYTES;
        let memo = CallMemo::new(one + one / 2);
        let keys: Vec<Key> = (0..3).map(|i| whales_key("f", &[], i, &input(Vec::new()))).collect();
        for (i, k) in keys.iter().enumerate() {
            let flow = i64::try_from(i).unwrap();
            assert_eq!(memo.whales(*k, || Ok::<_, String>(analysis(flow))).unwrap(), analysis(flow));
        }
        let s = memo.stats();
        assert_eq!((s.misses, s.refused, s.bytes), (3, 2, one));
        // The first is kept; the later ones are asked again.
        let mut asked = 0;
        let mut ask = |flow| {
            asked += 1;
            Ok::<_, String>(analysis(flow))
        };
        assert_eq!(memo.whales(keys[0], || ask(99)).unwrap(), analysis(0));
        assert_eq!(memo.whales(keys[2], || ask(2)).unwrap(), analysis(2));
        assert_eq!(asked, 1);
        // News and whales keep their answers apart.
        let news = vec![abi::NewsMatch { item: 0, market: 0, relevance: 1.0, sentiment: 0.0 }];
        assert_eq!(memo.news(keys[0], || Ok::<_, String>(news.clone())).unwrap(), news);
    }
}
