//! Exchange layer: a book update with best bid/ask and depth (target ≤ 1 µs), 24 simulated hours
//! of 300 markets (target ≤ 10 s), and signing plus serializing one V2 order (target ≤ 100 µs).
//! `cargo bench -p equilibrage --bench exchange`; results in docs/benchmarks.md.

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

/// One V2 order through the bot's signer: EIP-712 hash, secp256k1 signature, JSON body.
fn sign_order(c: &mut Criterion) {
    use equilibrage::exchange::polymarket::{OrderSigner, SignerConfig, WalletType};
    use polymarket_client_sdk_v2::clob::types::{OrderPayload, OrderType, OrderV2, SignableOrder};
    use polymarket_client_sdk_v2::types::U256;
    use std::str::FromStr as _;

    const TOKEN: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Configured credentials: signing in makes no network call.
    let signer = rt
        .block_on(OrderSigner::connect(SignerConfig {
            clob_url: "http://127.0.0.1:9".into(),
            chain_id: 137,
            private_key: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".into(),
            wallet: WalletType::Eoa,
            funder: None,
            credentials: Some((
                "00000000-0000-0000-0000-000000000001".into(),
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                "pass".into(),
            )),
            nonce: None,
            fixed_salt: None,
        }))
        .unwrap();
    signer.note_token(TOKEN, Decimal::new(1, 2), false).unwrap();
    let mut order = OrderV2::default();
    order.salt = U256::from(479_249_096_354_u64);
    order.tokenId = U256::from_str(TOKEN).unwrap();
    order.makerAmount = U256::from(11_782_400_u64);
    order.takerAmount = U256::from(21_040_000_u64);
    order.timestamp = U256::from(1_710_000_000_000_u64);
    let mut signable = SignableOrder::default();
    signable.payload = OrderPayload::new(order, U256::ZERO);
    signable.order_type = OrderType::GTC;
    c.bench_function("sign_and_serialize_one_v2_order", |b| {
        b.iter(|| black_box(rt.block_on(signer.sign(black_box(signable.clone()))).unwrap()));
    });
}

criterion_group!(benches, update, simulated_day, sign_order);
criterion_main!(benches);
