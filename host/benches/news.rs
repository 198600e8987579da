//! News matching through the news-aggregator plugin (issue 7): 1,000 news items against 20,000
//! markets in one call, target ≤ 500 ms (results and command in docs/benchmarks.md).
//!
//! Markets and items are generated deterministically: questions over a vocabulary of 4,000
//! subjects and a few dozen topic words (so common words hit thousands of markets, as "election"
//! or "price" do on the real venue), headlines naming one or two subjects among filler words.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use equilibrage::plugins::{PluginKind, PluginOptions, Plugins, abi, install_defaults};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ITEMS: usize = 1_000;
const MARKETS: usize = 20_000;
const SUBJECTS: usize = 4_000;
const NOW: i64 = 1_795_521_600_000;

const TOPICS: &[&str] = &[
    "election",
    "championship",
    "price",
    "inflation",
    "rate",
    "launch",
    "approval",
    "merger",
    "trial",
    "summit",
    "ceasefire",
    "tournament",
    "earnings",
    "record",
    "vote",
    "referendum",
    "final",
    "season",
    "nomination",
    "budget",
    "tariff",
    "strike",
    "deal",
    "report",
];
const TEMPLATES: &[&str] = &[
    "Will {a} win the {t} before {y}?",
    "Will {a} and {b} agree on the {t} by {y}?",
    "Will the {t} of {a} be above expectations in {y}?",
    "Will {a} beat {b} in the {t} final?",
    "Will {a} announce a {t} before the end of {y}?",
];
const HEADLINES: &[&str] = &[
    "{a} surges ahead of {t} as analysts weigh the outlook",
    "Report: {a} and {b} close to {t} after talks",
    "{a} trails in latest {t} polls, officials say",
    "Markets react as {a} confirms {t} plans for {y}",
    "Court rejects {a} appeal; {t} delayed",
];
const FILLER: &[&str] = &["week", "sources", "people", "familiar", "morning", "update", "plans", "talks"];

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

fn subject(i: usize) -> String {
    // Pronounceable, distinct, capitalised: "Bakoren", "Tisamul", ...
    const SYL: &[&str] =
        &["ba", "ko", "ren", "ti", "sa", "mul", "vo", "da", "lin", "pe", "zu", "qar", "ne", "or"];
    let mut name = String::new();
    let mut n = i + 1;
    while n > 0 {
        name.push_str(SYL[n % SYL.len()]);
        n /= SYL.len();
    }
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn fill(template: &str, rng: &mut Rng) -> String {
    template
        .replace("{a}", &subject(rng.below(SUBJECTS)))
        .replace("{b}", &subject(rng.below(SUBJECTS)))
        .replace("{t}", TOPICS[rng.below(TOPICS.len())])
        .replace("{y}", &(2026 + rng.below(3)).to_string())
}

fn markets(rng: &mut Rng) -> Vec<abi::MarketText> {
    (0..MARKETS)
        .map(|_| abi::MarketText {
            question: fill(TEMPLATES[rng.below(TEMPLATES.len())], rng),
            category: "politics".into(),
        })
        .collect()
}

fn items(rng: &mut Rng) -> Vec<abi::NewsItem> {
    (0..ITEMS)
        .map(|i| {
            let mut summary = fill(HEADLINES[rng.below(HEADLINES.len())], rng);
            for _ in 0..12 {
                summary.push(' ');
                summary.push_str(FILLER[rng.below(FILLER.len())]);
            }
            abi::NewsItem {
                title: fill(HEADLINES[rng.below(HEADLINES.len())], rng),
                summary,
                source: format!("wire-{}", i % 7),
                published: NOW - i64::try_from(rng.below(86_400_000)).unwrap(),
            }
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    install_defaults(dir.path()).unwrap();
    let mut options = PluginOptions::new(dir.path(), None);
    // Measured, not cut off: the bot's own budget (plugins.call_timeout_ms) is a config value.
    options.limits.call_timeout = Duration::from_secs(30);
    options.limits.memory_bytes = 256 << 20;
    let plugins = Plugins::new(options).expect("runtime");
    plugins.load_dir().expect("load");
    let info = plugins.active_info(PluginKind::NewsAggregator).expect("news plugin");
    let mut rng = Rng(7);
    let markets = markets(&mut rng);
    let items = items(&mut rng);

    // One call up front, so the figure printed with the criterion numbers says how many matched.
    let started = Instant::now();
    let found = plugins.match_news(NOW, &items, &markets).expect("matches");
    eprintln!(
        "{} {}: {} matches for {ITEMS} items x {MARKETS} markets, first call {:?}",
        info.name,
        info.version,
        found.len(),
        started.elapsed()
    );

    let mut group = c.benchmark_group("news_match_1k_items_20k_markets");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(BenchmarkId::new("wasm", &info.name), |b| {
        b.iter(|| black_box(plugins.match_news(NOW, black_box(&items), black_box(&markets)).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
