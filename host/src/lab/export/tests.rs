//! The export read back with the parquet crate's own reader: every record a row, money exact,
//! times as UTC timestamps, factors as a map.

use super::table::{PRECISION, SCALE};
use crate::engine::{Decision, Scored};
use crate::exchange::sim::{NewsItem, SimConfig, Simulator, WhaleTrade};
use crate::exchange::{BookSide, MarketEvent, Side};
use crate::lab::record::{Record, Timed};
use crate::lab::{Backtest, DataSource};
use crate::plugins::PluginOptions;
use arrow_array::cast::AsArray as _;
use arrow_array::types::{Decimal128Type, Float32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array as _, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::path::Path;
use std::sync::Arc;

/// A file's rows, as one batch.
fn read(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow_select_concat(&batches)
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1, "small tables are one row group");
    batches[0].clone()
}

fn texts(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(col).unwrap().as_string::<i32>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_owned())).collect()
}

fn money(b: &RecordBatch, col: &str) -> Vec<Option<Decimal>> {
    let c = b.column_by_name(col).unwrap();
    assert_eq!(c.data_type(), &DataType::Decimal128(PRECISION, SCALE), "{col}");
    let a = c.as_primitive::<Decimal128Type>();
    let scale = u32::from(SCALE.unsigned_abs());
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| Decimal::from_i128_with_scale(a.value(i), scale).normalize()))
        .collect()
}

#[test]
fn a_recording_exports_every_record_with_exact_prices_and_utc_times() {
    let root = tempfile::tempdir().unwrap();
    let mut sim = Simulator::new(SimConfig { seed: 4, markets: 2, ..SimConfig::default() });
    let m = sim.markets()[0].clone();
    let yes = m.outcomes[0].token_id.clone();
    let at = sim.now_ms();
    let book = sim.book(&yes).unwrap().clone();
    let book_levels = book.levels(BookSide::Bids).count() + book.levels(BookSide::Asks).count();
    let mut records = vec![
        Timed { at_ms: at, record: Record::Listed(Box::new(crate::exchange::Market::clone(&m))) },
        Timed { at_ms: at, record: Record::Book { token: yes.clone(), book } },
    ];
    let change = MarketEvent::PriceChange {
        token: yes.clone(),
        side: BookSide::Asks,
        price: dec!(0.513),
        size: dec!(1234.567891),
        at_ms: at + 5,
    };
    let trade = MarketEvent::Trade {
        token: yes.clone(),
        side: Side::Sell,
        price: dec!(0.51),
        size: dec!(20),
        at_ms: at + 6,
    };
    let resolved = MarketEvent::Resolved { market: m.id.clone(), winning_token: yes.clone(), at_ms: at + 9 };
    for (i, e) in (0_i64..).zip([change, trade, resolved]) {
        records.push(Timed { at_ms: at + 10 + i, record: Record::Market(e) });
    }
    let stepped = sim.step(60_000).events;
    let stepped_rows: usize = stepped
        .iter()
        .map(|e| match e {
            MarketEvent::Book { bids, asks, .. } => (bids.len() + asks.len()).max(1),
            _ => 1,
        })
        .sum();
    records.extend(stepped.into_iter().map(|e| Timed { at_ms: at + 60_000, record: Record::Market(e) }));
    records.extend([
        Timed {
            at_ms: at + 61_000,
            record: Record::Whale(Box::new(WhaleTrade {
                wallet: "0xwhale".into(),
                market: m.id.clone(),
                outcome: 1,
                side: Side::Buy,
                price: dec!(0.47),
                shares: dec!(5000),
                at_ms: at + 60_500,
            })),
        },
        Timed {
            at_ms: at + 62_000,
            record: Record::News(Box::new(NewsItem {
                title: "Headline".into(),
                source: "wire".into(),
                market: m.id.clone(),
                published_ms: at + 61_500,
                summary: String::new(),
                url: String::new(),
            })),
        },
        Timed {
            at_ms: at + 63_000,
            record: Record::Decision(Box::new(Decision::Scanned {
                scan_id: 7,
                scorer: Some("default-scorer@1.0.0".into()),
                factors: vec!["liquidity".into(), "spread".into()],
                candidates: Arc::from([Scored {
                    market_id: m.id.as_str().into(),
                    score: 8.5,
                    factors: vec![0.25, 0.75],
                }]),
                error: None,
            })),
        },
        Timed {
            at_ms: at + 63_001,
            record: Record::Decision(Box::new(Decision::Entry {
                position: 1,
                market_id: m.id.clone(),
                capital: dec!(123.456789),
                score: Some(8.5),
            })),
        },
        Timed { at_ms: at + 64_000, record: Record::Gap { dropped: 3 } },
    ]);
    let rec = crate::lab::tests::write_recording(root.path(), &records);
    let out = root.path().join("export");
    let files = super::export_recording(&rec, &out).unwrap();
    let rows = |name: &str| files.iter().find(|f| f.path.ends_with(format!("{name}.parquet"))).unwrap().rows;

    let events = read(&out.join("market_events.parquet"));
    assert_eq!(events.num_rows() as u64, rows("market_events"));
    assert_eq!(
        events.num_rows(),
        book_levels + 3 + stepped_rows,
        "a row per level, change, trade, resolution"
    );
    assert_eq!(
        events.column_by_name("ts").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    let at_col = events.column_by_name("ts").unwrap().as_primitive::<TimestampMillisecondType>();
    assert_eq!(at_col.value(0), at);
    let kinds = texts(&events, "kind");
    let i = kinds.iter().position(|k| k.as_deref() == Some("price_change")).unwrap();
    assert_eq!(money(&events, "price")[i], Some(dec!(0.513)));
    assert_eq!(money(&events, "size")[i], Some(dec!(1234.567891)), "sizes exact");
    assert_eq!(texts(&events, "side")[i].as_deref(), Some("ask"));
    assert_eq!(
        texts(&events, "market_id")[i].as_deref(),
        Some(m.id.as_str()),
        "the token's market, from the listing"
    );
    assert_eq!(kinds.iter().filter(|k| k.as_deref() == Some("venue_book")).count(), book_levels);
    assert_eq!(texts(&events, "side")[i + 1].as_deref(), Some("sell"));

    let listings = read(&out.join("listings.parquet"));
    assert_eq!(texts(&listings, "yes_token"), [Some(yes.to_string())]);
    assert_eq!(money(&listings, "tick_size"), [Some(m.tick_size.normalize())]);
    let whales = read(&out.join("whales.parquet"));
    assert_eq!(money(&whales, "shares"), [Some(dec!(5000))]);
    assert_eq!(whales.column_by_name("outcome").unwrap().as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(texts(&read(&out.join("news.parquet")), "title"), [Some("Headline".to_owned())]);

    let decisions = read(&out.join("decisions.parquet"));
    assert_eq!(
        texts(&decisions, "kind"),
        [Some("scanned".to_owned()), Some("entry".to_owned()), Some("gap".to_owned())]
    );
    assert_eq!(money(&decisions, "amount")[1], Some(dec!(123.456789)));
    assert_eq!(decisions.column_by_name("dropped").unwrap().as_primitive::<Int64Type>().value(2), 3);
    let candidates = read(&out.join("candidates.parquet"));
    let factors = candidates.column_by_name("factors").unwrap().as_map();
    let entry = factors.value(0);
    let names = entry.column(0).as_string::<i32>();
    let values = entry.column(1).as_primitive::<Float32Type>();
    assert_eq!(
        (names.value(0), values.value(0), names.value(1), values.value(1)),
        ("liquidity", 0.25, "spread", 0.75)
    );
}

#[test]
fn a_backtest_run_exports_its_figures_positions_and_trades() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    let veto = &equilibrage_plugin_artifacts::VETO_SCORER;
    std::fs::write(dir.join(veto.file), veto.bytes).unwrap();
    let start = SimConfig::default().start_ms;
    let mut bt = Backtest::new(
        DataSource::Sim { seed: 2, days: 1, markets: 6, start_ms: start },
        PluginOptions::new(&dir, None),
    );
    bt.to_ms = Some(start + 60_000);
    bt.settings.auto_trading = true;
    bt.settings.max_positions = 100;
    let report = bt.run(&|_, _| {}).unwrap();
    assert!(!report.positions.is_empty() && !report.trades.is_empty());
    let out = root.path().join("run");
    super::export_run(&report, &out).unwrap();
    let run = read(&out.join("run.parquet"));
    assert_eq!(money(&run, "pnl"), [Some(report.metrics.pnl.normalize())]);
    let positions = read(&out.join("positions.parquet"));
    assert_eq!(positions.num_rows(), report.positions.len());
    assert_eq!(money(&positions, "yes_cost")[0], Some(report.positions[0].legs[0].cost.normalize()));
    let trades = read(&out.join("trades.parquet"));
    let notional: Decimal = money(&trades, "notional").into_iter().flatten().sum();
    assert_eq!(notional, report.trades.iter().map(|t| t.notional).sum::<Decimal>().round_dp(12));
    assert_eq!(texts(&trades, "purpose")[0].as_deref(), Some("entry"));
    assert_eq!(read(&out.join("equity.parquet")).num_rows(), report.equity.len());
    let decisions = read(&out.join("decisions.parquet"));
    assert!(texts(&decisions, "kind").iter().any(|k| k.as_deref() == Some("entry")));
    assert!(read(&out.join("candidates.parquet")).num_rows() > 0, "the scans' candidates");
}
