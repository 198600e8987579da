//! Whale analysis of 100,000 trades through the default whale-analyzer plugin (issue 7, target
//! ≤ 100 ms). Results and the command in docs/benchmarks.md ("Signals (issue 7)").

use criterion::{Criterion, criterion_group, criterion_main};
use equilibrage::plugins::{PluginOptions, Plugins, abi, install_defaults};
use std::hint::black_box;

const TRADES: u32 = 100_000;
const WALLETS: u32 = 5_000;
const MARKETS: u32 = 2_000;
const NOW_MS: i64 = 1_800_000_000_000;

/// A day of large trades: deterministic, spread over wallets, markets, sides and the day.
fn input() -> abi::AnalysisInput {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let trades = (0..TRADES)
        .map(|_| {
            let r = next();
            let pick = |n: u32, shift: u32| u32::try_from((r >> shift) % u64::from(n)).unwrap_or(0);
            abi::Trade {
                wallet: pick(WALLETS, 0),
                market: pick(MARKETS, 16),
                outcome: if r & (1 << 40) == 0 { abi::Outcome::Yes } else { abi::Outcome::No },
                side: if r & (1 << 41) == 0 { abi::TradeSide::Buy } else { abi::TradeSide::Sell },
                price: 10_000 + i64::from(pick(980_000, 42)),
                shares: 1_000_000 * (1_000 + i64::from(pick(50_000, 20))),
                at: NOW_MS - i64::from(pick(86_400_000, 8)),
            }
        })
        .collect();
    abi::AnalysisInput { wallet_count: WALLETS, market_count: MARKETS, trades }
}

fn analysis(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    install_defaults(dir.path()).unwrap();
    let plugins = Plugins::new(PluginOptions::new(dir.path(), None)).expect("runtime");
    plugins.load_dir().expect("load");
    let input = input();
    let a = plugins.analyze_whales(NOW_MS, &input).expect("analysis");
    assert!(!a.whales.is_empty() && !a.markets.is_empty());
    let mut group = c.benchmark_group("whale_analysis");
    group.sample_size(20);
    group.bench_function("100k_trades_wasm_default_whales", |b| {
        b.iter(|| black_box(plugins.analyze_whales(NOW_MS, black_box(&input)).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, analysis);
criterion_main!(benches);
