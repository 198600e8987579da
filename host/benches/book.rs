//! Order book: apply one price change, then recompute best bid/ask and depth within slippage
//! (target ≤ 1 µs). `cargo bench -p equilibrage --bench book`; results in docs/benchmarks.md.

use criterion::{Criterion, criterion_group, criterion_main};
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

criterion_group!(benches, update);
criterion_main!(benches);
