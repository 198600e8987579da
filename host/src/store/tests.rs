//! Tests of the store against real database files in temporary directories.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tables::{MARKET_MAKERS, META, POSITIONS, SCANS, TRADES, TRADES_BY_POSITION, WHALES};
use super::*;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("data").join("equilibrage.redb")).expect("open");
    (dir, store)
}

/// A file store and an in-memory one (whose price history lives outside redb), for the
/// behaviours both must share.
fn both_stores() -> [(Option<tempfile::TempDir>, Store); 2] {
    let (dir, file) = temp_store();
    [(Some(dir), file), (None, Store::in_memory().expect("in-memory store"))]
}

fn position(id: u64, status: PositionStatus) -> Position {
    let leg = |token: &str, outcome: &str| LegState {
        token: token.into(),
        outcome: outcome.into(),
        bought: dec!(100.5),
        cost: dec!(50.25),
        sold: Decimal::ZERO,
        proceeds: Decimal::ZERO,
        fees: dec!(0.0001),
        exited_at_ms: None,
        exit: None,
    };
    Position {
        id,
        market_id: format!("0xmarket{id}"),
        question: "Will it rain?".into(),
        opened_at_ms: 1_700_000_000_000,
        capital: dec!(100.50),
        legs: [leg("tok-yes", "Yes"), leg("tok-no", "No")],
        status,
        liquidated: Some(Leg::No),
        liquidated_at_ms: Some(1_700_000_100_000),
        closed_at_ms: None,
        close_reason: None,
        closing: None,
        score: Some(7.5),
        scorer: None,
        fee_rate: dec!(0.02),
        fee_exponent: Decimal::TWO,
        neg_risk: false,
        updated_at_ms: 1_700_000_200_000,
        version: 3,
    }
}

fn trade(id: u64, position_id: u64) -> TradeRecord {
    TradeRecord {
        id,
        position_id,
        leg: Leg::Yes,
        action: Action::Buy,
        purpose: Purpose::Entry,
        client_id: format!("c{id}"),
        order_id: format!("o{id}"),
        exchange_trade_ids: vec!["t1".into(), "t2".into()],
        price: dec!(0.4975),
        shares: dec!(101.01),
        notional: dec!(50.252475),
        fee: dec!(0.01),
        status: Settlement::Confirmed,
        tx_hash: Some("0xabc".into()),
        at_ms: 1_700_000_000_500,
        reason: "entry".into(),
        decided_by: None,
    }
}

fn intent(client_id: &str, created_at_ms: i64) -> Intent {
    Intent {
        client_id: client_id.into(),
        position_id: 1,
        leg: Leg::No,
        action: Action::Sell,
        purpose: Purpose::StopLoss,
        token: "tok-no".into(),
        amount: IntentAmount::Shares(dec!(12.34)),
        fill_and_kill: true,
        created_at_ms,
        reason: "stop loss".into(),
        order_id: None,
        venue_at_ms: None,
        decided_by: None,
    }
}

fn opportunity(market_id: &str, score: f32, scan_id: u64) -> Opportunity {
    Opportunity {
        market_id: market_id.into(),
        question: format!("{market_id}?"),
        category: "weather".into(),
        score,
        factors: vec![Factor { name: "spread".into(), value: 0.25, weight: Some(("w_spread".into(), 1.5)) }],
        yes_bid: Some(dec!(0.48)),
        yes_ask: Some(dec!(0.49)),
        no_bid: None,
        no_ask: Some(dec!(0.52)),
        yes_depth: dec!(1000),
        no_depth: dec!(900.5),
        liquidity: dec!(25000),
        volume_24h: dec!(1234.56),
        end_ms: Some(1_800_000_000_000),
        scan_id,
        detected_at_ms: 1_700_000_000_000,
        scorer: "scorer@0.1.0".into(),
    }
}

fn scan(id: u64) -> ScanRecord {
    ScanRecord {
        id,
        started_at_ms: 1_700_000_000_000 + i64::try_from(id).expect("small id"),
        duration_us: 1234,
        listed: 500,
        candidates: 40,
        scored: 40,
        scorer: Some("scorer@0.1.0".into()),
        error: None,
        protocol_v2: 0,
        failed_pages: 0,
    }
}

fn news(id: &str, published_ms: i64) -> NewsRecord {
    NewsRecord {
        id: id.into(),
        title: format!("title {id}"),
        summary: "summary".into(),
        source: "feed".into(),
        url: format!("https://example.com/{id}"),
        published_ms,
        fetched_ms: published_ms + 10,
        markets: vec!["0xmarket1".into()],
        matches: Vec::new(),
    }
}

fn price(at_ms: i64) -> PricePoint {
    PricePoint {
        at_ms,
        yes_bid: Some(dec!(0.41)),
        yes_ask: Some(dec!(0.42)),
        no_bid: None,
        no_ask: Some(dec!(0.6)),
        volume_24h: None,
    }
}

/// Writes raw bytes into a table of a closed store's file, as damage or an older version would.
fn raw_write(path: &Path, f: impl FnOnce(&redb::WriteTransaction)) {
    let db = Database::create(path).expect("raw open");
    let txn = db.begin_write().expect("raw txn");
    f(&txn);
    txn.commit().expect("raw commit");
}

#[tokio::test]
async fn every_record_kind_round_trips() {
    let (_dir, store) = temp_store();
    let params = BTreeMap::from([("min_liquidity".to_owned(), 5000.0), ("w_spread".to_owned(), 1.5)]);
    let whale = WhaleRecord {
        address: "0xwhale".into(),
        total_volume: dec!(1000000.01),
        trade_count: 42,
        markets: vec!["0xmarket1".into()],
        first_seen_ms: 1,
        last_trade_ms: 2,
        profile: Some(WhaleProfile {
            weight: 0.375,
            volume: dec!(30000.5),
            net_yes_flow: dec!(-12.25),
            trades: 3,
            at_ms: 4,
        }),
        ..WhaleRecord::default()
    };
    let (p, t, i, o, s, n, pp) = (
        position(1, PositionStatus::Active),
        trade(1, 1),
        intent("c-1", 5),
        opportunity("0xm", 8.0, 3),
        scan(3),
        news("n1", 100),
        price(1000),
    );
    let written = (p.clone(), t.clone(), i.clone(), s.clone(), n.clone(), whale.clone(), params.clone());
    store
        .write(move |w| {
            let (p, t, i, s, n, whale, params) = written;
            w.put_position(&p)?;
            w.put_trade(&t)?;
            w.put_intent(&i)?;
            w.replace_opportunities(&s, &[opportunity("0xm", 8.0, 3)])?;
            w.put_config("risk", &("max_positions", 3_u32))?;
            w.put_plugin_params("scorer", "default", &params)?;
            w.put_whale(whale)?;
            w.put_news(&n)?;
            w.put_price("0xm", &price(1000))
        })
        .await
        .expect("write");

    let r = store.read().expect("read");
    assert_eq!(r.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(r.position(1).expect("position"), Some(p.clone()));
    assert_eq!(r.positions().expect("positions"), vec![p]);
    assert_eq!(r.trade(1).expect("trade"), Some(t.clone()));
    assert_eq!(r.trades().expect("trades"), vec![t.clone()]);
    assert_eq!(r.trades_of(1).expect("trades_of"), vec![t]);
    assert_eq!(r.intents().expect("intents"), vec![i]);
    assert_eq!(r.intent_count().expect("count"), 1);
    assert_eq!(r.opportunity("0xm").expect("opportunity"), Some(o.clone()));
    assert_eq!(r.opportunities().expect("opportunities"), vec![o]);
    assert_eq!(r.scans(10).expect("scans"), vec![s]);
    assert_eq!(r.config::<(String, u32)>("risk").expect("config"), Some(("max_positions".into(), 3)));
    assert_eq!(r.config::<u32>("absent").expect("config"), None);
    assert_eq!(r.plugin_params().expect("params"), vec![("scorer".into(), "default".into(), params)]);
    assert_eq!(r.whales().expect("whales"), vec![whale.clone()]);
    assert_eq!(r.whale("0xwhale").expect("whale"), Some(whale));
    assert_eq!(r.news(10).expect("news"), vec![n]);
    assert_eq!(r.prices("0xm", 0, 2000).expect("prices"), vec![pp]);
    assert_eq!(r.position(2).expect("absent"), None);

    // Decimals are stored as exact strings.
    let raw = store.inner.db.begin_read().expect("raw read");
    let positions = raw.open_table(POSITIONS).expect("positions table");
    let bytes = positions.get(1).expect("get").expect("stored").value().to_vec();
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(json["capital"], "100.50");
}

#[test]
fn ids_are_monotonic_per_sequence_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.redb");
    let store = Store::open(&path).expect("open");
    let ids = store
        .write_blocking(|w| {
            Ok([w.next_id(Sequence::Position)?, w.next_id(Sequence::Position)?, w.next_id(Sequence::Trade)?])
        })
        .expect("write");
    assert_eq!(ids, [1, 2, 1]);
    assert_eq!(store.write_blocking(|w| w.next_id(Sequence::Position)).expect("write"), 3);
    drop(store);

    let store = Store::open(&path).expect("reopen");
    let ids = store
        .write_blocking(|w| Ok([w.next_id(Sequence::Position)?, w.next_id(Sequence::Scan)?]))
        .expect("write");
    assert_eq!(ids, [4, 1]);
}

#[tokio::test]
async fn a_failed_write_closure_writes_nothing() {
    let (_dir, store) = temp_store();
    let result = store
        .write(|w| {
            let id = w.next_id(Sequence::Position)?;
            w.put_position(&position(id, PositionStatus::Opening))?;
            w.put_intent(&intent("c-1", 1))?;
            Err::<(), _>(StoreError::Aborted("venue refused".into()))
        })
        .await;
    assert!(matches!(result, Err(StoreError::Aborted(reason)) if reason == "venue refused"));
    let r = store.read().expect("read");
    assert!(r.positions().expect("positions").is_empty());
    assert!(r.intents().expect("intents").is_empty());
    // The id taken by the aborted transaction is handed out again.
    assert_eq!(store.write(|w| w.next_id(Sequence::Position)).await.expect("write"), 1);

    // A panicking closure is rolled back too, and the writer keeps serving.
    let panicked = store.write(|w| -> Result<()> {
        w.put_intent(&intent("c-2", 2))?;
        panic!("bug in a write closure");
    });
    assert!(matches!(panicked.await, Err(StoreError::WritePanicked)));
    assert!(store.read().expect("read").intents().expect("intents").is_empty());
    assert_eq!(store.write(|w| w.next_id(Sequence::Position)).await.expect("write"), 2);
}

#[test]
fn readers_are_not_blocked_by_a_running_write_and_see_the_old_snapshot() {
    let (_dir, store) = temp_store();
    store.write_blocking(|w| w.put_position(&position(1, PositionStatus::Active))).expect("write");

    let (started, wait_started) = mpsc::channel();
    let writer_store = store.clone();
    let writer = std::thread::spawn(move || {
        writer_store.write_blocking(move |w| {
            w.put_position(&position(2, PositionStatus::Active))?;
            started.send(()).expect("signal");
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        })
    });
    wait_started.recv().expect("write started");

    let begun = Instant::now();
    let snapshot = store.read().expect("read");
    let ids: Vec<u64> = snapshot.positions().expect("positions").iter().map(|p| p.id).collect();
    let waited = begun.elapsed();
    assert_eq!(ids, [1]);
    assert!(waited < Duration::from_millis(100), "the read waited {waited:?}");

    writer.join().expect("writer thread").expect("write");
    // The old snapshot stays as it was; a new one sees the commit.
    assert_eq!(snapshot.positions().expect("positions").len(), 1);
    assert_eq!(store.read().expect("read").positions().expect("positions").len(), 2);
}

#[test]
fn a_write_from_inside_a_write_is_refused() {
    let (_dir, store) = temp_store();
    let inner = store.clone();
    let result = store.write_blocking(move |_| Ok(inner.write_blocking(|_| Ok(())))).expect("outer write");
    assert!(matches!(result, Err(StoreError::NestedWrite)));
}

#[test]
fn positions_and_trades_queries() {
    let (_dir, store) = temp_store();
    store
        .write_blocking(|w| {
            w.put_position(&position(1, PositionStatus::Closed))?;
            w.put_position(&position(2, PositionStatus::Liquidated))?;
            w.put_position(&position(3, PositionStatus::Opening))?;
            for (id, position_id) in [(1, 2), (2, 1), (3, 2), (4, 3), (5, 2)] {
                w.put_trade(&trade(id, position_id))?;
            }
            // Moving a trade to another position moves its index entry.
            w.put_trade(&trade(3, 3))?;
            let seen: Vec<u64> = w.trades_of(2)?.iter().map(|t| t.id).collect();
            assert_eq!(seen, [1, 5]);
            Ok(())
        })
        .expect("write");
    let r = store.read().expect("read");
    let ids = |v: Vec<TradeRecord>| v.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(r.open_positions().expect("open").iter().map(|p| p.id).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(ids(r.trades_of(3).expect("trades_of")), [3, 4]);
    assert_eq!(ids(r.trades_of(9).expect("trades_of")), Vec::<u64>::new());
    assert_eq!(ids(r.trades_after(None, 2).expect("page")), [1, 2]);
    assert_eq!(ids(r.trades_after(Some(2), 2).expect("page")), [3, 4]);
    assert_eq!(ids(r.trades_after(Some(4), 2).expect("page")), [5]);
    assert_eq!(ids(r.trades_after(Some(u64::MAX), 2).expect("page")), Vec::<u64>::new());
    assert_eq!(ids(r.trades_before(None, 2).expect("page")), [5, 4]);
    assert_eq!(ids(r.trades_before(Some(4), 2).expect("page")), [3, 2]);
    assert_eq!(ids(r.trades_before(Some(2), 2).expect("page")), [1]);
    assert_eq!(ids(r.trades_before(Some(1), 2).expect("page")), Vec::<u64>::new());
}

#[test]
fn replace_opportunities_replaces_and_sorts() {
    let (_dir, store) = temp_store();
    store
        .write_blocking(|w| {
            w.replace_opportunities(&scan(1), &[opportunity("old", 9.0, 1), opportunity("kept", 1.0, 1)])
        })
        .expect("first scan");
    store
        .write_blocking(|w| {
            w.replace_opportunities(
                &scan(2),
                &[opportunity("b", 5.0, 2), opportunity("kept", 7.0, 2), opportunity("a", 5.0, 2)],
            )
        })
        .expect("second scan");
    let r = store.read().expect("read");
    let order: Vec<(String, f32)> =
        r.opportunities().expect("opportunities").into_iter().map(|o| (o.market_id, o.score)).collect();
    assert_eq!(order, [("kept".into(), 7.0), ("a".into(), 5.0), ("b".into(), 5.0)]);
    assert_eq!(r.opportunity("old").expect("opportunity"), None);
    assert_eq!(r.scans(10).expect("scans").iter().map(|s| s.id).collect::<Vec<_>>(), [2, 1]);

    // A score that JSON cannot carry is refused, and the whole transaction with it.
    let refused =
        store.write_blocking(|w| w.replace_opportunities(&scan(3), &[opportunity("x", f32::NAN, 3)]));
    assert!(matches!(refused, Err(StoreError::Invalid { ref table, .. }) if table == "opportunities"));
    assert_eq!(store.read().expect("read").opportunities().expect("opportunities").len(), 3);
}

#[test]
fn scans_are_capped_to_the_newest() {
    let (_dir, store) = temp_store();
    let total = tables::MAX_SCANS + 5;
    store
        .write_blocking(move |w| {
            for id in 1..=total {
                w.put_scan(&scan(id))?;
            }
            Ok(())
        })
        .expect("write");
    let r = store.read().expect("read");
    let all = r.scans(usize::MAX).expect("scans");
    assert_eq!(u64::try_from(all.len()).expect("len"), tables::MAX_SCANS);
    assert_eq!(all.first().map(|s| s.id), Some(total));
    assert_eq!(all.last().map(|s| s.id), Some(6));
    assert_eq!(r.scans(2).expect("scans").iter().map(|s| s.id).collect::<Vec<_>>(), [total, total - 1]);
}

#[test]
fn prices_by_range_and_pruning() {
    for (_dir, store) in both_stores() {
        prices_by_range_and_pruning_in(&store);
    }
}

fn prices_by_range_and_pruning_in(store: &Store) {
    store
        .write_blocking(|w| {
            for at in [-5, 10, 20, 30, 40] {
                w.put_price("m1", &price(at))?;
            }
            w.put_price("m0", &price(15))?;
            w.put_price("m2", &price(25))
        })
        .expect("write");
    let times = |from, to| -> Vec<i64> {
        store.read().expect("read").prices("m1", from, to).expect("prices").iter().map(|p| p.at_ms).collect()
    };
    assert_eq!(times(10, 30), [10, 20, 30]);
    assert_eq!(times(i64::MIN, i64::MAX), [-5, 10, 20, 30, 40]);
    assert_eq!(times(31, 39), Vec::<i64>::new());
    assert_eq!(times(30, 10), Vec::<i64>::new());

    assert_eq!(store.write_blocking(|w| w.prune_prices(20)).expect("prune"), 3);
    assert_eq!(times(i64::MIN, i64::MAX), [20, 30, 40]);
    let r = store.read().expect("read");
    assert!(r.prices("m0", i64::MIN, i64::MAX).expect("prices").is_empty());
    assert_eq!(r.prices("m2", i64::MIN, i64::MAX).expect("prices").len(), 1);
}

#[test]
fn price_pruning_goes_in_bounded_chunks_and_removes_exactly_the_old_points() {
    for (_dir, store) in both_stores() {
        price_pruning_in_chunks(&store);
    }
}

fn price_pruning_in_chunks(store: &Store) {
    store
        .write_blocking(|w| {
            for m in 0..7 {
                for at in 0..10 {
                    w.put_price(&format!("m{m}"), &price(at * 10))?;
                }
            }
            Ok(())
        })
        .expect("write");
    // 70 points, 3 looked at per transaction: many transactions, each small.
    let (mut cursor, mut removed, mut rounds) = (None, 0, 0);
    loop {
        let after = cursor.take();
        let (n, next) = store.write_blocking(move |w| w.prune_prices_chunk(45, after, 3)).expect("prune");
        removed += n;
        rounds += 1;
        assert!(n <= 3, "at most what one chunk looks at");
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(removed, 7 * 5, "the points at 0..=40 of every market");
    assert!(rounds >= 70 / 3, "{rounds} rounds");
    let r = store.read().expect("read");
    for m in 0..7 {
        let left: Vec<i64> =
            r.prices(&format!("m{m}"), i64::MIN, i64::MAX).expect("prices").iter().map(|p| p.at_ms).collect();
        assert_eq!(left, [50, 60, 70, 80, 90]);
    }
}

#[test]
fn price_histories_visit_only_the_markets_with_history_that_are_wanted() {
    for (_dir, store) in both_stores() {
        price_histories_in(&store);
    }
    let (_dir, empty) = temp_store();
    assert!(empty.read().expect("read").price_histories(10, |_| Some(0)).expect("no table rows").is_empty());
    let empty = Store::in_memory().expect("in-memory store");
    assert!(empty.read().expect("read").price_histories(10, |_| Some(0)).expect("no points").is_empty());
}

fn price_histories_in(store: &Store) {
    store
        .write_blocking(|w| {
            for (market, times) in
                [("a", &[5, 10, 20][..]), ("b", &[1, 50]), ("c", &[10]), ("d", &[i64::MAX])]
            {
                for at in times {
                    w.put_price(market, &price(*at))?;
                }
            }
            Ok(())
        })
        .expect("write");
    let r = store.read().expect("read");
    let mut asked = Vec::new();
    let found = r
        .price_histories(20, |m| {
            asked.push(m.to_owned());
            (m != "c").then_some(5)
        })
        .expect("histories");
    let times: Vec<(&str, Vec<i64>)> =
        found.iter().map(|(m, p)| (m.as_str(), p.iter().map(|p| p.at_ms).collect())).collect();
    // "b" has no point in the window, "c" is not wanted, "d" only a point past it.
    assert_eq!(times, [("a", vec![5, 10, 20])]);
    assert_eq!(asked, ["a", "b", "c", "d"], "each market with history once, in order");
    assert!(r.price_histories(5, |_| Some(20)).expect("empty window").is_empty());
    // Each market from its own time: "a" from 10 on.
    let from_10 = r.price_histories(20, |m| (m == "a").then_some(10)).expect("histories");
    assert_eq!(from_10[0].1.iter().map(|p| p.at_ms).collect::<Vec<_>>(), [10, 20]);
}

/// A write that fails or panics leaves an in-memory store's price history as it was, as it
/// leaves the file store's table; one that commits shows its points to the next read.
#[test]
fn an_in_memory_price_history_takes_a_write_only_when_it_commits() {
    for (_dir, store) in both_stores() {
        store.write_blocking(|w| w.put_price("m", &price(1))).expect("write");
        let failed = store.write_blocking(|w| {
            w.put_price("m", &price(2))?;
            w.prune_prices(i64::MAX)?;
            Err::<(), _>(StoreError::Database("refused".into()))
        });
        assert!(failed.is_err());
        let panicked = store.write_blocking(|w| -> Result<()> {
            w.put_price("m", &price(3))?;
            panic!("a write closure panics");
        });
        assert!(matches!(panicked, Err(StoreError::WritePanicked)), "{panicked:?}");
        let times = |s: &Store| -> Vec<i64> {
            s.read()
                .expect("read")
                .prices("m", i64::MIN, i64::MAX)
                .expect("prices")
                .iter()
                .map(|p| p.at_ms)
                .collect()
        };
        assert_eq!(times(&store), [1], "only the committed point");
        store.write_blocking(|w| w.put_prices([("m", &price(4)), ("n", &price(4))])).expect("write");
        assert_eq!(times(&store), [1, 4]);
        // A point at the same millisecond overwrites.
        let mut later = price(4);
        later.yes_bid = Some(dec!(0.77));
        store.write_blocking(move |w| w.put_price("m", &later)).expect("write");
        let read = store.read().expect("read");
        assert_eq!(read.prices("m", 4, 4).expect("prices")[0].yes_bid, Some(dec!(0.77)));
    }
}

#[test]
fn intents_are_ordered_by_time_then_client_id_and_removable() {
    let (_dir, store) = temp_store();
    store
        .write_blocking(|w| {
            w.put_intent(&intent("c", 20))?;
            w.put_intent(&intent("b", 10))?;
            w.put_intent(&intent("a", 20))?;
            let order: Vec<String> = w.intents()?.into_iter().map(|i| i.client_id).collect();
            assert_eq!(order, ["b", "a", "c"]);
            Ok(())
        })
        .expect("write");
    let removed = store
        .write_blocking(|w| Ok((w.remove_intent("a")?, w.remove_intent("a")?, w.remove_intent("zz")?)))
        .expect("remove");
    assert_eq!(removed, (true, false, false));
    let order: Vec<String> =
        store.read().expect("read").intents().expect("intents").into_iter().map(|i| i.client_id).collect();
    assert_eq!(order, ["b", "c"]);
}

/// The count of trade writes the sweep checks before reading the trades again moves with each
/// committed write that puts a trade, and with nothing else: not a write elsewhere, not a write
/// that fails after putting one.
#[test]
fn trade_writes_count_the_committed_writes_that_put_a_trade() {
    for (_dir, store) in both_stores() {
        assert_eq!(store.trade_writes(), 0);
        store.write_blocking(|w| w.put_trade(&trade(1, 1))).expect("trade");
        assert_eq!(store.trade_writes(), 1);
        store.write_blocking(|w| w.put_position(&position(1, PositionStatus::Active))).expect("position");
        store.write_blocking(|w| w.put_intent(&intent("a", 1))).expect("intent");
        assert_eq!(store.trade_writes(), 1);
        let failed = store.write_blocking(|w| {
            w.put_trade(&trade(2, 1))?;
            Err::<(), _>(StoreError::Corrupt { table: "t".into(), key: "k".into(), reason: "test".into() })
        });
        assert!(failed.is_err());
        assert_eq!(store.trade_writes(), 1);
        store
            .write_blocking(|w| {
                w.put_trade(&trade(2, 1))?;
                w.put_trade(&trade(3, 1))
            })
            .expect("two trades");
        assert_eq!(store.trade_writes(), 2, "one write, however many trades");
    }
}

/// The journal the engine asks for at every evaluation is kept between writes that leave it
/// alone (the same intents, not read again) and follows every committed change to it: puts,
/// removals, a removal of nothing; a failed write that journalled an order leaves it as it was.
#[test]
fn the_kept_journal_follows_every_committed_change_and_only_those() {
    for (_dir, store) in both_stores() {
        let ids = |j: &[Intent]| j.iter().map(|i| i.client_id.clone()).collect::<Vec<_>>();
        let empty = store.journal().expect("journal");
        assert!(empty.is_empty());
        store.write_blocking(|w| w.put_intent(&intent("b", 10))).expect("put");
        let one = store.journal().expect("journal");
        assert_eq!(ids(&one), ["b"]);
        // A write elsewhere keeps it: the very same intents, not read again.
        store.write_blocking(|w| w.put_position(&position(7, PositionStatus::Active))).expect("position");
        assert!(Arc::ptr_eq(&one, &store.journal().expect("journal")));
        // A write that fails after journalling an order commits nothing.
        let failed = store.write_blocking(|w| {
            w.put_intent(&intent("a", 5))?;
            Err::<(), _>(StoreError::Corrupt { table: "t".into(), key: "k".into(), reason: "test".into() })
        });
        assert!(failed.is_err());
        assert_eq!(ids(&store.journal().expect("journal")), ["b"]);
        store.write_blocking(|w| w.put_intent(&intent("a", 5))).expect("put");
        assert_eq!(ids(&store.journal().expect("journal")), ["a", "b"]);
        assert!(!store.write_blocking(|w| w.remove_intent("zz")).expect("remove nothing"));
        assert_eq!(ids(&store.journal().expect("journal")), ["a", "b"]);
        store.write_blocking(|w| w.remove_intent("a")).expect("remove");
        let left = store.journal().expect("journal");
        assert_eq!(ids(&left), ["b"]);
        assert_eq!(ids(&left), ids(&store.read().expect("read").intents().expect("intents")));
    }
}
#[test]
fn news_is_deduplicated_and_newest_first() {
    let (_dir, store) = temp_store();
    store
        .write_blocking(|w| {
            w.put_news(&news("n1", 100))?;
            w.put_news(&news("n2", 300))?;
            w.put_news(&news("n3", 200))?;
            w.put_news(&NewsRecord { title: "updated".into(), ..news("n1", 400) })
        })
        .expect("write");
    let got = store.read().expect("read").news(2).expect("news");
    assert_eq!(
        got.iter().map(|n| (n.id.as_str(), n.title.as_str())).collect::<Vec<_>>(),
        [("n1", "updated"), ("n2", "title n2")]
    );
    assert_eq!(store.read().expect("read").news(10).expect("news").len(), 3);
}

#[test]
fn a_version_1_database_migrates_and_gets_the_trade_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v1.redb");
    raw_write(&path, |txn| {
        txn.open_table(META).expect("meta").insert("schema_version", 1).expect("version");
        let mut trades = txn.open_table(TRADES).expect("trades");
        for (id, position_id) in [(1, 7), (2, 8), (3, 7)] {
            let bytes = serde_json::to_vec(&trade(id, position_id)).expect("json");
            trades.insert(id, bytes.as_slice()).expect("trade");
        }
        txn.open_table(POSITIONS).expect("positions");
        txn.open_table(SCANS).expect("scans");
    });

    let store = Store::open(&path).expect("open");
    let r = store.read().expect("read");
    assert_eq!(r.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(r.trades_of(7).expect("trades_of").iter().map(|t| t.id).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(r.trades_of(8).expect("trades_of").iter().map(|t| t.id).collect::<Vec<_>>(), [2]);
    // Tables version 1 lacked are there for readers.
    assert!(r.intents().expect("intents").is_empty());
    drop(r);
    drop(store);

    // Opening again finds the current version and changes nothing.
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.read().expect("read").trades_of(7).expect("trades_of").len(), 2);
}

fn whale_json(address: &str, market_maker: bool) -> Vec<u8> {
    let record = WhaleRecord { address: address.into(), market_maker, ..WhaleRecord::default() };
    serde_json::to_vec(&record).expect("json")
}

#[test]
fn a_version_2_database_migrates_and_gets_the_market_maker_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v2.redb");
    raw_write(&path, |txn| {
        txn.open_table(META).expect("meta").insert("schema_version", 2).expect("version");
        let mut whales = txn.open_table(WHALES).expect("whales");
        for (address, flagged) in [("0xa", true), ("0xb", false), ("0xc", true)] {
            whales.insert(address, whale_json(address, flagged).as_slice()).expect("whale");
        }
    });
    let store = Store::open(&path).expect("open");
    let r = store.read().expect("read");
    assert_eq!(r.schema_version().expect("version"), SCHEMA_VERSION);
    let makers = r.market_makers(["0xa", "0xb", "0xc", "0xunknown"]).expect("makers");
    assert_eq!(makers, ["0xa", "0xc"].map(String::from).into_iter().collect());
    assert_eq!(r.whale("0xb").expect("whale").map(|w| w.market_maker), Some(false), "records unchanged");
}

#[test]
fn a_whale_record_and_its_market_maker_flag_change_together() {
    let (_dir, store) = temp_store();
    let maker = WhaleRecord { address: "0xm".into(), market_maker: true, ..WhaleRecord::default() };
    let write = |w: WhaleRecord| store.write_blocking(move |tx| tx.put_whale(w)).expect("write");
    write(maker.clone());
    let makers = |store: &Store| store.read().expect("read").market_makers(["0xm"]).expect("makers");
    assert_eq!(makers(&store).len(), 1);
    assert!(store.write_blocking(|tx| tx.market_makers(["0xm"])).expect("in a write").contains("0xm"));
    write(WhaleRecord { market_maker: false, ..maker });
    assert!(makers(&store).is_empty(), "unflagged: out of the index");
    let db = store.read().expect("read");
    assert_eq!(db.whale("0xm").expect("whale").map(|w| w.market_maker), Some(false));
}

#[test]
fn a_version_2_whale_that_does_not_decode_stops_the_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v2.redb");
    raw_write(&path, |txn| {
        txn.open_table(META).expect("meta").insert("schema_version", 2).expect("version");
        txn.open_table(WHALES).expect("whales").insert("0xbad", b"{\"address\":".as_slice()).expect("whale");
    });
    let error = Store::open(&path).expect_err("a damaged whale stops the migration");
    assert!(
        matches!(&error, StoreError::Corrupt { table, key, .. } if table == "whales" && key.contains("0xbad")),
        "{error}"
    );
    let db = Database::create(&path).expect("raw open");
    let txn = db.begin_read().expect("raw read");
    assert_eq!(
        txn.open_table(META).expect("meta").get("schema_version").expect("get").map(|v| v.value()),
        Some(2)
    );
    assert!(txn.open_table(MARKET_MAKERS).is_err(), "no index table was created");
}

#[test]
fn a_failed_migration_leaves_version_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v1.redb");
    raw_write(&path, |txn| {
        txn.open_table(META).expect("meta").insert("schema_version", 1).expect("version");
        txn.open_table(TRADES).expect("trades").insert(4, b"{\"id\":".as_slice()).expect("trade");
    });
    let error = Store::open(&path).expect_err("a damaged trade stops the migration");
    assert!(
        matches!(&error, StoreError::Corrupt { table, key, .. } if table == "trades" && key == "4"),
        "{error}"
    );
    let db = Database::create(&path).expect("raw open");
    let txn = db.begin_read().expect("raw read");
    assert_eq!(
        txn.open_table(META).expect("meta").get("schema_version").expect("get").map(|v| v.value()),
        Some(1)
    );
    assert!(txn.open_table(TRADES_BY_POSITION).is_err(), "no index table was created");
}

#[test]
fn a_newer_database_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("future.redb");
    drop(Store::open(&path).expect("create"));
    raw_write(&path, |txn| {
        txn.open_table(META).expect("meta").insert("schema_version", 99).expect("version");
    });
    let before = std::fs::read(&path).expect("file");
    let error = Store::open(&path).expect_err("too new");
    assert!(matches!(error, StoreError::TooNew { found: 99, supported: SCHEMA_VERSION }), "{error}");
    assert!(std::fs::read(&path).expect("file") == before, "the file was modified");
}

#[test]
fn a_value_that_does_not_decode_is_corrupt_with_table_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.redb");
    let store = Store::open(&path).expect("open");
    store.write_blocking(|w| w.put_position(&position(1, PositionStatus::Active))).expect("write");
    drop(store);
    raw_write(&path, |txn| {
        txn.open_table(POSITIONS).expect("positions").insert(7, b"not json".as_slice()).expect("insert");
    });

    let store = Store::open(&path).expect("reopen");
    let r = store.read().expect("read");
    assert!(r.position(1).expect("intact record").is_some());
    for error in [r.position(7).expect_err("single"), r.positions().expect_err("all")] {
        assert!(
            matches!(&error, StoreError::Corrupt { table, key, .. } if table == "positions" && key == "7"),
            "{error}"
        );
    }
    // Overwriting the damaged record repairs it.
    store.write_blocking(|w| w.put_position(&position(7, PositionStatus::Closed))).expect("repair");
    assert_eq!(store.read().expect("read").positions().expect("positions").len(), 2);
}

#[test]
fn handles_can_cross_threads_and_awaits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Store>();
    send_sync::<Reader>();
    send_sync::<StoreError>();
}

/// The backtests' store: in memory, each write done on the caller's thread before `write`
/// returns, rolled back on failure or panic, and a write from inside a write refused.
#[test]
fn an_in_memory_store_writes_inline_and_rolls_back_like_the_file_store() {
    let store = Store::in_memory().expect("in memory");
    let caller = std::thread::current().id();
    store
        .write_blocking(move |w| {
            assert_eq!(std::thread::current().id(), caller, "on the caller's thread");
            let id = w.next_id(Sequence::Position)?;
            w.put_position(&position(id, PositionStatus::Opening))?;
            Ok(id)
        })
        .expect("write");
    assert_eq!(store.read().expect("read").positions().expect("positions").len(), 1);
    let failed = store.write_blocking(|w| {
        w.put_intent(&intent("c-1", 1))?;
        Err::<(), _>(StoreError::Aborted("no".into()))
    });
    assert!(matches!(failed, Err(StoreError::Aborted(_))));
    let panicked = store.write_blocking(|w| -> Result<()> {
        w.put_intent(&intent("c-2", 2))?;
        panic!("bug in a write closure");
    });
    assert!(matches!(panicked, Err(StoreError::WritePanicked)));
    assert!(store.read().expect("read").intents().expect("intents").is_empty());
    let inner = store.clone();
    let nested = store.write_blocking(move |_| Ok(inner.write_blocking(|_| Ok(())))).expect("outer write");
    assert!(matches!(nested, Err(StoreError::NestedWrite)));
    assert_eq!(store.write_blocking(|w| w.next_id(Sequence::Position)).expect("write"), 2);
    // The database's transaction begins with the first table a write opens: a write of price
    // points only, one of a table only, and one of both, commit all they wrote; a failed one
    // that began it after staging points keeps neither.
    let points = |s: &Store| s.read().expect("read").prices("m", i64::MIN, i64::MAX).expect("prices").len();
    store.write_blocking(|w| w.put_price("m", &price(1))).expect("points only");
    store.write_blocking(|w| w.put_intent(&intent("c-3", 3))).expect("a table only");
    store
        .write_blocking(|w| {
            w.put_price("m", &price(2))?;
            w.put_intent(&intent("c-4", 4))
        })
        .expect("both");
    let failed = store.write_blocking(|w| {
        w.put_price("m", &price(3))?;
        w.put_intent(&intent("c-5", 5))?;
        Err::<(), _>(StoreError::Aborted("no".into()))
    });
    assert!(failed.is_err());
    let intents = store.read().expect("read").intents().expect("intents");
    assert_eq!(intents.iter().map(|i| i.client_id.as_str()).collect::<Vec<_>>(), ["c-3", "c-4"]);
    assert_eq!(points(&store), 2);
}

#[test]
fn a_position_stored_with_a_whole_number_fee_exponent_still_loads() {
    let p = position(7, PositionStatus::Active);
    let stored = serde_json::to_string(&p).unwrap();
    assert!(stored.contains("\"fee_exponent\":\"2\""), "{stored}");
    // Records written before fractional exponents were read carry a JSON number.
    let older = stored.replace("\"fee_exponent\":\"2\"", "\"fee_exponent\":2");
    let loaded: Position = serde_json::from_str(&older).unwrap();
    assert_eq!(loaded, p);
}

/// A lean in-memory history (a sweep's variants') keeps each market's newest point until the
/// market has a position, then its whole history: what a report reads of it, the quote standing
/// for any moment from the position on (its entry, its liquidation), is the whole history's;
/// a market never held keeps one point, the newest (an older point put late is not it).
#[test]
fn a_lean_history_keeps_the_newest_point_until_a_position_and_then_every_point() {
    use crate::lab::attribution::quote_at;
    let (whole, lean) = (Store::in_memory().expect("store"), Store::in_memory_lean().expect("store"));
    let minute = 60_000;
    let held = position(1, PositionStatus::Active);
    for store in [&whole, &lean] {
        // Two markets recorded every 7 minutes; the first is entered at minute 63, from then
        // on also recorded every minute (as the monitor records held markets).
        for m in 0..120_i64 {
            let at = m * minute;
            let held = held.clone();
            store
                .write_blocking(move |w| {
                    if m % 7 == 0 {
                        w.put_price("0xmarket1", &price(at))?;
                        w.put_price("0xother", &price(at))?;
                    }
                    if m == 63 {
                        w.put_position(&held)?;
                    }
                    if m > 63 {
                        w.put_price("0xmarket1", &price(at))?;
                    }
                    // A point older than the newest, put late.
                    if m == 100 {
                        w.put_price("0xother", &price(50 * 60_000))?;
                    }
                    Ok(())
                })
                .expect("write");
        }
    }
    let points =
        |s: &Store, market: &str| s.read().expect("read").prices(market, i64::MIN, i64::MAX).expect("prices");
    let (all, kept) = (points(&whole, "0xmarket1"), points(&lean, "0xmarket1"));
    assert_eq!(all.len(), 10 + 56, "every 7 minutes to minute 63, then every minute");
    assert_eq!(
        kept.iter().map(|p| p.at_ms).collect::<Vec<_>>(),
        all[9..].iter().map(|p| p.at_ms).collect::<Vec<_>>()
    );
    for at in (63 * minute..=125 * minute).step_by(30_000) {
        assert_eq!(quote_at(&kept, at), quote_at(&all, at), "at minute {}", at / minute);
    }
    let other = points(&lean, "0xother");
    assert_eq!(other.iter().map(|p| p.at_ms).collect::<Vec<_>>(), [119 * minute], "the newest only");
    assert!(points(&whole, "0xother").len() > 10);
    // Pruning treats a market kept lean as one of a single point: every point of both goes,
    // the held market's 57 and the other's one.
    assert_eq!(lean.write_blocking(move |w| w.prune_prices(119 * minute + 1)).expect("prune"), 57 + 1);
    assert!(points(&lean, "0xother").is_empty());
    // Pruned empty, the held market still keeps every point, the other its newest only.
    lean.write_blocking(move |w| {
        for at in [120, 121] {
            w.put_price("0xmarket1", &price(at * minute))?;
            w.put_price("0xother", &price(at * minute))?;
        }
        Ok(())
    })
    .expect("write");
    let times = |market: &str| points(&lean, market).iter().map(|p| p.at_ms / minute).collect::<Vec<_>>();
    assert_eq!((times("0xmarket1"), times("0xother")), (vec![120, 121], vec![121]));
}
