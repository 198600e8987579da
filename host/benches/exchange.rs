//! Exchange layer: a book update with best bid/ask and depth (target ≤ 1 µs), and 24 simulated
//! hours of 300 markets (target ≤ 10 s). `cargo bench -p equilibrage --bench exchange`; results
//! in docs/benchmarks.md.

use criterion::{Criterion, criterion_group, criterion_main};
use equilibrage::exchange::sim::{SimConfig, Simulator};
use equilibrage::exchange::{BookSide, Level, OrderBook};
use rust_decimal::Decimal;
use std::hint::black_box;

/// A book of 20 levels a side around 0.50, one tick (0.01) apart.
fn book() -> OrderBook {
    let level = |cents: i64, size: i64| Level { price: Decimal::new(cents, 2), size: Decimal::from(size) };
    let mut b = OrderBook::new(Decimal::from(5));
    let bids: Vec<_> = (30..50).map(|c| level(c, 100 + c)).collect();
    let asks: Vec<_> = (51..71).map(|c| level(c, 100 + c)).collect();
    b.replace(&bids, &asks);
    b
}

fn update(c: &mut Criterion) {
    let mut b = book();
    let slippage = Decimal::new(2, 2);
    let mut n: i64 = 0;
    c.bench_function("book_update_best_and_depth_20_levels", |bench| {
        bench.iter(|| {
            n += 1;
            // Alternate between resizing the best ask and a level inside the 2 % window.
            let price = Decimal::new(51 + (n & 1), 2);
            b.set(BookSide::Asks, price, Decimal::from(100 + (n % 50)));
            black_box((b.best_bid(), b.best_ask(), b.depth_within(BookSide::Asks, black_box(slippage))))
        });
    });
}

/// A simulated day, one-minute steps, 300 markets: what accelerated mode must keep up with.
fn simulated_day(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulator");
    group.sample_size(10);
    group.bench_function("24h_300_markets_1min_steps", |b| {
        b.iter(|| {
            let mut sim = Simulator::new(SimConfig::default());
            let mut events = 0;
            for _ in 0..24 * 60 {
                events += sim.step(60_000).events.len();
            }
            black_box(events)
        });
    });
    group.finish();
}

criterion_group!(benches, update, simulated_day);
criterion_main!(benches);
