//! The default news aggregator: keyword overlap between news and market questions, decayed by
//! age, with a small sentiment lexicon.
//!
//! Fast enough for 1,000 items against 20,000 markets in one call (docs/benchmarks.md): each
//! distinct word is lowercased and looked up once per call and known by an id after that, an
//! inverted index from keyword id to markets, hits counted in a flat array (no hashing per hit),
//! and a cheap non-cryptographic hash for the words (they come from the host, not an adversary
//! that could pick collisions to slow it down much).

use equilibrage_plugin_sdk::prelude::*;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: a few instructions per byte for short keys, where SipHash costs far more.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The default news aggregator.
#[derive(Debug)]
pub struct DefaultNews;

const MIN_RELEVANCE: usize = 0;
const MIN_OVERLAP: usize = 1;
const HALF_LIFE_HOURS: usize = 2;
const MAX_MATCHES: usize = 3;

impl NewsAggregator for DefaultNews {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "default-news",
            env!("CARGO_PKG_VERSION"),
            "Matches a news item to a market when enough of the market question's keywords \
             appear in the item; relevance halves every half-life; sentiment from a small lexicon.",
        )
        .param(
            "min-relevance",
            0.3,
            0.0,
            1.0,
            "Share of a market's keywords an item must mention, after age decay.",
        )
        .param("min-overlap", 2.0, 1.0, 20.0, "Keywords an item must share with a market.")
        .param("half-life-hours", 24.0, 0.5, 720.0, "Age at which an item's relevance halves.")
        .param(
            "max-matches",
            20.0,
            1.0,
            1000.0,
            "Most markets one item may match (the most relevant).",
        )
    }

    fn match_news(
        params: &Params,
        now_ms: i64,
        items: &[NewsItem],
        markets: &[MarketText],
    ) -> Result<Vec<NewsMatch>, String> {
        Ok(match_news(params.values(), now_ms, items, markets))
    }
}

export_news_aggregator!(DefaultNews);

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "will", "with", "that", "this", "from", "are", "was", "were", "has", "have", "had",
    "not", "but", "its", "his", "her", "their", "they", "them", "than", "then", "into", "over", "after",
    "before", "about", "what", "when", "who", "which", "would", "could", "should", "does", "did", "any",
    "all", "can", "more", "most", "end", "by", "of", "in", "on", "be", "to", "or", "at", "an", "as", "is",
    "it", "yes", "new", "says", "said",
];
const POSITIVE: &[&str] = &[
    "win",
    "wins",
    "won",
    "approve",
    "approves",
    "approved",
    "pass",
    "passes",
    "passed",
    "surge",
    "surges",
    "rally",
    "rallies",
    "raise",
    "raises",
    "extends",
    "support",
    "lead",
    "leads",
    "leading",
    "confirm",
    "confirms",
    "confirmed",
    "rise",
    "rises",
    "gain",
    "gains",
    "beat",
    "beats",
    "success",
    "agree",
    "agrees",
    "agreement",
];
const NEGATIVE: &[&str] = &[
    "lose",
    "loses",
    "lost",
    "reject",
    "rejects",
    "rejected",
    "fail",
    "fails",
    "failed",
    "fall",
    "falls",
    "drop",
    "drops",
    "deny",
    "denies",
    "denied",
    "delay",
    "delays",
    "delayed",
    "trail",
    "trails",
    "collapse",
    "collapses",
    "cancel",
    "cancels",
    "cancelled",
    "block",
    "blocks",
    "injury",
    "outage",
    "fault",
    "shutdown",
    "doubts",
    "setback",
];

/// The words one call has met, each with an id: the markets' keywords first, then the items'
/// new ones. The stopwords are in the map from the start under [`STOP`], so a word costs one
/// lookup; each distinct word is lowercased and looked up in the sentiment lexicon once per call.
/// A text's keywords are then a sorted list of ids, and the index from keyword to markets a
/// vector by id.
#[derive(Debug)]
struct Vocabulary {
    ids: FastMap<String, u32>,
    /// By id: +1 for a word of the positive lexicon, −1 for the negative one, 0 otherwise.
    mood: Vec<i8>,
    /// The word being looked up, lowercased (reused from word to word).
    lower: String,
}

/// The id the stopwords have: never a keyword.
const STOP: u32 = u32::MAX;

impl Default for Vocabulary {
    fn default() -> Self {
        let mut ids = FastMap::with_capacity_and_hasher(1_024, BuildHasherDefault::default());
        for w in STOPWORDS {
            ids.insert((*w).to_owned(), STOP);
        }
        Self { ids, mood: Vec::new(), lower: String::new() }
    }
}

/// The words of an ASCII text: its maximal runs of ASCII letters and digits, found byte by byte.
fn ascii_words(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && !bytes[at].is_ascii_alphanumeric() {
            at += 1;
        }
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_alphanumeric() {
            at += 1;
        }
        // Both ends are at ASCII bytes, so on character boundaries.
        (start < at).then(|| text.get(start..at).unwrap_or_default())
    })
}

impl Vocabulary {
    /// The ids of `text`'s keywords (lowercase alphanumeric words of three or more characters
    /// that are not stopwords) appended to `out` in text order, repeats included; new words
    /// get new ids. An ASCII text (the usual one) is cut into words byte by byte.
    fn add_keywords(&mut self, text: &str, out: &mut Vec<u32>) {
        if text.is_ascii() {
            for word in ascii_words(text) {
                self.add_word(word, out);
            }
        } else {
            for word in text.split(|c: char| !c.is_alphanumeric()) {
                self.add_word(word, out);
            }
        }
    }

    /// One word of a text: its id appended to `out` when it is a keyword.
    fn add_word(&mut self, word: &str, out: &mut Vec<u32>) {
        let Self { ids, mood, lower } = self;
        if word.is_ascii() {
            if word.len() < 3 {
                return;
            }
            lower.clear();
            lower.push_str(word);
            lower.make_ascii_lowercase();
        } else {
            if word.chars().count() < 3 {
                return;
            }
            *lower = word.to_lowercase();
        }
        let id = match ids.get(lower.as_str()) {
            Some(&STOP) => return,
            Some(&id) => id,
            None => {
                let Ok(id) = u32::try_from(mood.len()) else { return };
                if id == STOP {
                    return;
                }
                let w = lower.as_str();
                mood.push(if POSITIVE.contains(&w) {
                    1
                } else if NEGATIVE.contains(&w) {
                    -1
                } else {
                    0
                });
                ids.insert(lower.clone(), id);
                id
            }
        };
        out.push(id);
    }

    /// The keyword ids of `texts` together, sorted and each once, into `out` (cleared first).
    fn keywords(&mut self, texts: &[&str], out: &mut Vec<u32>) {
        out.clear();
        for text in texts {
            self.add_keywords(text, out);
        }
        out.sort_unstable();
        out.dedup();
    }

    /// (positive − negative) / (positive + negative) over distinct keywords; 0 without either.
    #[allow(clippy::cast_precision_loss, reason = "scores are floats")]
    fn sentiment(&self, words: &[u32]) -> f32 {
        let mood = |w: &u32| self.mood.get(*w as usize).copied().unwrap_or(0);
        let pos = words.iter().filter(|w| mood(w) > 0).count() as f32;
        let neg = words.iter().filter(|w| mood(w) < 0).count() as f32;
        if pos + neg == 0.0 { 0.0 } else { (pos - neg) / (pos + neg) }
    }
}

/// The matching on parameter values in declaration order.
#[must_use]
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "scores are floats; counts are small"
)]
pub fn match_news(params: &[f64], now_ms: i64, items: &[NewsItem], markets: &[MarketText]) -> Vec<NewsMatch> {
    let p = |i: usize| params.get(i).copied().unwrap_or(0.0);
    let (min_relevance, min_overlap) = (p(MIN_RELEVANCE), p(MIN_OVERLAP).max(1.0) as usize);
    let half_life_ms = (p(HALF_LIFE_HOURS) * 3_600_000.0).max(1.0);
    let max_matches = p(MAX_MATCHES).max(1.0) as usize;

    // Inverted index: keyword id -> markets whose question contains it.
    let mut vocabulary = Vocabulary::default();
    let mut words: Vec<u32> = Vec::new();
    let mut index: Vec<Vec<u32>> = Vec::new();
    let mut sizes = Vec::with_capacity(markets.len());
    for (i, m) in markets.iter().enumerate() {
        vocabulary.keywords(&[&m.question], &mut words);
        sizes.push(words.len());
        let Ok(i) = u32::try_from(i) else { break };
        for &w in &words {
            let w = w as usize;
            if index.len() <= w {
                index.resize_with(w + 1, Vec::new);
            }
            index[w].push(i);
        }
    }

    let mut out = Vec::new();
    // Keywords shared with each market, and the markets touched, reset after each item.
    let mut counts: Vec<u32> = vec![0; markets.len()];
    let mut touched: Vec<u32> = Vec::new();
    for (item_index, item) in items.iter().enumerate() {
        let Ok(item_index) = u32::try_from(item_index) else { break };
        vocabulary.keywords(&[&item.title, &item.summary], &mut words);
        for &m in &touched {
            counts[m as usize] = 0;
        }
        touched.clear();
        for &w in &words {
            for &m in index.get(w as usize).map_or(&[][..], Vec::as_slice) {
                let n = &mut counts[m as usize];
                if *n == 0 {
                    touched.push(m);
                }
                *n += 1;
            }
        }
        let age = (now_ms - item.published).max(0) as f64;
        let decay = 0.5f64.powf(age / half_life_ms);
        let mood = vocabulary.sentiment(&words);
        let mut matched: Vec<NewsMatch> = touched
            .iter()
            .map(|&m| (m, counts[m as usize] as usize))
            .filter(|&(_, n)| n >= min_overlap)
            .filter_map(|(market, n)| {
                let relevance = n as f64 / sizes[market as usize].max(1) as f64 * decay;
                (relevance >= min_relevance).then_some(NewsMatch {
                    item: item_index,
                    market,
                    relevance: relevance.clamp(0.0, 1.0) as f32,
                    sentiment: mood,
                })
            })
            .collect();
        matched.sort_by(|a, b| b.relevance.total_cmp(&a.relevance).then(a.market.cmp(&b.market)));
        matched.truncate(max_matches);
        out.extend(matched);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn item(title: &str, published: i64) -> NewsItem {
        NewsItem { title: title.into(), summary: String::new(), source: "wire".into(), published }
    }

    fn market(q: &str) -> MarketText {
        MarketText { question: q.into(), category: "politics".into() }
    }

    fn defaults() -> Vec<f64> {
        DefaultNews::info().defaults().values().to_vec()
    }

    #[test]
    fn matches_items_to_the_markets_whose_keywords_they_mention() {
        let markets = [
            market("Will the Senate pass the infrastructure bill by June?"),
            market("Will Bitcoin close above $100k in 2026?"),
        ];
        let items = [item("Senate passes infrastructure bill after long debate", 10 * HOUR)];
        let out = match_news(&defaults(), 10 * HOUR, &items, &markets);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].item, out[0].market), (0, 0));
        assert!(out[0].relevance >= 0.5, "{}", out[0].relevance);
        assert!(out[0].sentiment > 0.0, "'passes' is positive");
    }

    #[test]
    fn relevance_halves_every_half_life_and_old_news_drops_out() {
        let markets = [market("Senate infrastructure bill")];
        let fresh = match_news(&defaults(), 0, &[item("Senate infrastructure bill", 0)], &markets);
        let day_old = match_news(&defaults(), 24 * HOUR, &[item("Senate infrastructure bill", 0)], &markets);
        assert!((fresh[0].relevance - 1.0).abs() < 1e-6);
        assert!((day_old[0].relevance - 0.5).abs() < 1e-6);
        let week_old =
            match_news(&defaults(), 24 * 7 * HOUR, &[item("Senate infrastructure bill", 0)], &markets);
        assert!(week_old.is_empty());
    }

    #[test]
    fn one_shared_word_is_not_a_match_and_markup_is_just_text() {
        let markets = [market("Will the Lakers win the championship?")];
        let out = match_news(&defaults(), 0, &[item("<script>alert('lakers')</script>", 0)], &markets);
        assert!(out.is_empty());
        let mut vocabulary = Vocabulary::default();
        let mut words = Vec::new();
        vocabulary.keywords(&["Court rejects appeal, delays vote"], &mut words);
        assert_eq!(vocabulary.sentiment(&words), -1.0);
    }

    /// The matching as first written (a keyword a `String`, the lexicons searched per word),
    /// kept as the definition the faster one must agree with.
    mod reference {
        use super::super::*;

        fn keywords(text: &str) -> Vec<String> {
            let mut out: Vec<String> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 3)
                .map(str::to_lowercase)
                .filter(|w| !STOPWORDS.contains(&w.as_str()))
                .collect();
            out.sort_unstable();
            out.dedup();
            out
        }

        #[allow(clippy::cast_precision_loss, reason = "scores are floats")]
        fn sentiment(words: &[String]) -> f32 {
            let pos = words.iter().filter(|w| POSITIVE.contains(&w.as_str())).count() as f32;
            let neg = words.iter().filter(|w| NEGATIVE.contains(&w.as_str())).count() as f32;
            if pos + neg == 0.0 { 0.0 } else { (pos - neg) / (pos + neg) }
        }

        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "scores are floats; counts are small"
        )]
        pub(super) fn match_news(
            params: &[f64],
            now_ms: i64,
            items: &[NewsItem],
            markets: &[MarketText],
        ) -> Vec<NewsMatch> {
            let p = |i: usize| params.get(i).copied().unwrap_or(0.0);
            let (min_relevance, min_overlap) = (p(MIN_RELEVANCE), p(MIN_OVERLAP).max(1.0) as usize);
            let half_life_ms = (p(HALF_LIFE_HOURS) * 3_600_000.0).max(1.0);
            let max_matches = p(MAX_MATCHES).max(1.0) as usize;
            let texts: Vec<Vec<String>> = markets.iter().map(|m| keywords(&m.question)).collect();
            let mut out = Vec::new();
            for (item_index, item) in items.iter().enumerate() {
                let words = keywords(&format!("{} {}", item.title, item.summary));
                let decay = 0.5f64.powf((now_ms - item.published).max(0) as f64 / half_life_ms);
                let mood = sentiment(&words);
                let mut matched: Vec<NewsMatch> = texts
                    .iter()
                    .enumerate()
                    .filter_map(|(market, theirs)| {
                        let n = words.iter().filter(|w| theirs.contains(w)).count();
                        let relevance = n as f64 / theirs.len().max(1) as f64 * decay;
                        (n >= min_overlap && relevance >= min_relevance).then_some(NewsMatch {
                            item: item_index as u32,
                            market: market as u32,
                            relevance: relevance.clamp(0.0, 1.0) as f32,
                            sentiment: mood,
                        })
                    })
                    .collect();
                matched.sort_by(|a, b| b.relevance.total_cmp(&a.relevance).then(a.market.cmp(&b.market)));
                matched.truncate(max_matches);
                out.extend(matched);
            }
            out
        }
    }

    #[test]
    fn the_matching_agrees_with_its_reference_definition_on_varied_text() {
        // Words of every kind the tokenizer treats apart: stopwords, lexicon words, short words,
        // mixed case, digits, and non-ASCII words (one whose lowercase is longer, a final sigma).
        const WORDS: &[&str] = &[
            "Senate",
            "senate",
            "SENATE",
            "bill",
            "Bill",
            "passes",
            "rejects",
            "delays",
            "wins",
            "lost",
            "the",
            "will",
            "and",
            "of",
            "to",
            "by",
            "vote",
            "court",
            "appeal",
            "bitcoin",
            "Bitcoin",
            "100k",
            "2026",
            "rally",
            "outage",
            "Lakers",
            "championship",
            "Zürich",
            "ZÜRICH",
            "İstanbul",
            "ΟΔΟΣ",
            "οδος",
            "élection",
            "Élection",
            "naïve",
            "ab",
            "AB",
            "x",
            "fed",
            "rate",
            "cut",
            "cuts",
            "inflation",
            "approve",
            "approved",
            "deny",
            "trade",
            "deal",
            "tariff",
            "launch",
            "delay",
            "mission",
            "mars",
            "price",
            "above",
            "below",
            "June",
            "july",
            "gain",
            "fall",
            "support",
        ];
        const SEPARATORS: &[&str] = &[" ", ", ", " - ", "'", "? ", "!", " ($", ") ", "/", "\u{a0}"];
        fn draw(seed: &mut u64, n: usize) -> usize {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            usize::try_from(*seed % n as u64).unwrap_or(0)
        }
        fn text(seed: &mut u64, words: usize) -> String {
            let mut t = String::new();
            for _ in 0..words {
                t.push_str(WORDS[draw(seed, WORDS.len())]);
                t.push_str(SEPARATORS[draw(seed, SEPARATORS.len())]);
            }
            t
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let markets: Vec<MarketText> = (0..150)
            .map(|_| {
                let words = 3 + draw(&mut seed, 8);
                market(&text(&mut seed, words))
            })
            .collect();
        let items: Vec<NewsItem> = (0..200_i64)
            .map(|i| NewsItem {
                title: text(&mut seed, 6),
                summary: if i % 3 == 0 { String::new() } else { text(&mut seed, 10) },
                source: "wire".into(),
                published: i * HOUR / 4,
            })
            .collect();
        let loose = [0.0, 1.0, 24.0, 1000.0];
        for (params, now) in [(defaults(), 50 * HOUR), (loose.to_vec(), 60 * HOUR), (loose.to_vec(), 0)] {
            let fast = match_news(&params, now, &items, &markets);
            let reference = reference::match_news(&params, now, &items, &markets);
            assert!(!reference.is_empty(), "the corpus has matches");
            assert_eq!(fast.len(), reference.len());
            for (a, b) in fast.iter().zip(&reference) {
                assert_eq!((a.item, a.market), (b.item, b.market));
                assert_eq!(a.relevance.to_bits(), b.relevance.to_bits());
                assert_eq!(a.sentiment.to_bits(), b.sentiment.to_bits());
            }
        }
    }
}
