//! The lab's parts on their own: the replay venue's fills, retention, the end of a recording
//! inside a scan, the interval schedule (replayed and simulated), and books read back exactly;
//! backtests end to end in `backtests`.

mod backtests;

pub(super) use backtests::trading_base;

use super::record::{Decisions, Record, Timed};
use super::segment::SegmentWriter;
use super::{Backtest, DataSource, ReplayVenue, recording};
use crate::engine::Decision;
use crate::exchange::sim::{SimConfig, Simulator};
use crate::exchange::{
    Amount, BookSide, Exchange as _, ExchangeError, FillPolicy, Market, MarketEvent, OrderRequest, Side,
};
use crate::plugins::PluginOptions;
use crate::store::{Leg, Position, PositionStatus};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::path::Path;

fn world() -> (Simulator, Market) {
    let sim = Simulator::new(SimConfig { seed: 11, markets: 4, ..SimConfig::default() });
    let m = sim.markets().into_iter().find(|m| !m.fee.rate.is_zero()).expect("a market with fees");
    (sim, Market::clone(&m))
}

#[tokio::test]
async fn the_replay_venue_fills_on_the_recorded_book_with_fees_and_settles_resolutions() {
    let (sim, m) = world();
    let yes = &m.outcomes[0].token_id;
    let venue = ReplayVenue::new(dec!(1000));
    venue.apply(&Record::Listed(Box::new(m.clone())));
    let book = sim.book(yes).unwrap().clone();
    venue.apply(&Record::Book { token: yes.clone(), book: book.clone() });
    let want = book.walk(Side::Buy, Amount::Usd(dec!(50)), FillPolicy::FillOrKill, m.fee).unwrap();
    let ack = venue.place(OrderRequest::buy_usd("a", yes, dec!(50))).await.unwrap();
    assert_eq!((ack.filled_shares, ack.notional, ack.fee), (want.shares, want.notional, want.fee));
    assert!(!ack.fee.is_zero(), "the market's fee schedule applies");
    // The recorded book is what the venue published: a replayed fill does not thin it.
    let again = venue.place(OrderRequest::buy_usd("b", yes, dec!(50))).await.unwrap();
    assert_eq!(again.notional, ack.notional);
    assert_eq!(
        venue.place(OrderRequest::buy_usd("a", yes, dec!(50))).await.unwrap(),
        ack,
        "a repeated client id trades once"
    );
    let spent = ack.notional + ack.fee + again.notional + again.fee;
    assert_eq!(venue.balance().await.unwrap().collateral, dec!(1000) - spent);

    venue.apply_event(&MarketEvent::Resolved { market: m.id.clone(), winning_token: yes.clone(), at_ms: 1 });
    let paid = ack.filled_shares + again.filled_shares;
    assert_eq!(venue.balance().await.unwrap().collateral, dec!(1000) - spent + paid, "winners pay 1");
    let refused = venue.place(OrderRequest::buy_usd("c", yes, dec!(10))).await.unwrap_err();
    assert!(matches!(refused, ExchangeError::Rejected { .. }), "{refused}");
    assert!(venue.markets().await.unwrap().iter().all(|l| l.id != m.id), "a resolved market is not listed");
}

#[test]
fn retention_deletes_the_oldest_segments_first_and_never_the_active_one() {
    let root = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (dir, n) in [("20260101T000000.000Z-sim", 3), ("20260102T000000.000Z-sim", 3)] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
        for i in 1..=n {
            let f = recording::segment_path(&root.path().join(dir), i);
            std::fs::write(&f, vec![0_u8; 1_000]).unwrap();
            files.push(f);
        }
    }
    let now = crate::clock::unix_now_ms();
    let active = files.last().unwrap().clone();
    // Over the size: the three oldest go, and the first recording's directory with them.
    super::recording::enforce_retention(root.path(), 30, 3_500, now, Some(&active)).unwrap();
    let left: Vec<bool> = files.iter().map(|f| f.exists()).collect();
    assert_eq!(left, [false, false, false, true, true, true]);
    assert!(!root.path().join("20260101T000000.000Z-sim").exists());
    // Too old: gone whatever the size, except the active segment.
    for f in &files[3..] {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400);
        std::fs::File::options().write(true).open(f).unwrap().set_modified(old).unwrap();
    }
    super::recording::enforce_retention(root.path(), 30, u64::MAX, now, Some(&active)).unwrap();
    let left: Vec<bool> = files[3..].iter().map(|f| f.exists()).collect();
    assert_eq!(left, [false, false, true]);
}

/// Writes `records` as one segment of a new recording under `root`.
pub(super) fn write_recording(root: &Path, records: &[Timed]) -> std::path::PathBuf {
    let dir = recording::new_dir(root, "sim", 0).unwrap();
    let mut w = SegmentWriter::create(&recording::segment_path(&dir, 1), "sim", 1, 0).unwrap();
    for t in records {
        w.push(t);
    }
    w.finish().unwrap();
    dir
}

/// A market's listing and its YES book at the simulator's time, a move of that book (its best
/// bid gone), and a record maker for that time.
fn listed_book_and_move() -> (Record, Record, Record, impl Fn(Record) -> Timed) {
    let (sim, m) = world();
    let at = sim.now_ms();
    let yes = m.outcomes[0].token_id.clone();
    let book = sim.book(&yes).unwrap().clone();
    let moved = MarketEvent::Book {
        token: yes.clone(),
        bids: book.levels(BookSide::Bids).skip(1).collect(),
        asks: book.levels(BookSide::Asks).collect(),
        at_ms: at,
    };
    let t = move |record: Record| Timed { at_ms: at, record };
    (Record::Listed(Box::new(m)), Record::Book { token: yes, book }, Record::Market(moved), t)
}

/// Options for an empty plugin folder under `root`.
fn no_plugins(root: &Path) -> PluginOptions {
    let plugins = PluginOptions::new(root.join("no-plugins"), None);
    std::fs::create_dir(&plugins.dir).unwrap();
    plugins
}

#[test]
fn a_recording_that_ends_inside_a_scan_still_replays_what_came_meanwhile() {
    let root = tempfile::tempdir().unwrap();
    let (listed, book, moved, t) = listed_book_and_move();
    let dir = write_recording(
        root.path(),
        &[t(listed), t(book), t(Record::Decision(Box::new(Decision::ScanStarted { scan_id: 1 }))), t(moved)],
    );
    let report = Backtest::new(DataSource::Recording(dir), no_plugins(root.path())).run(&|_, _| {}).unwrap();
    assert_eq!(report.stats.records, 4);
    assert_eq!(report.stats.market_events, 1, "the event inside the unfinished scan reached the engine");
}

#[test]
fn decisions_stepped_over_still_count_and_every_other_record_comes_in_order() {
    let root = tempfile::tempdir().unwrap();
    let (listed, book, moved, t) = listed_book_and_move();
    let records = [
        t(Record::Decision(Box::new(Decision::ScanStarted { scan_id: 1 }))),
        t(listed),
        t(book),
        t(Record::Decision(Box::new(Decision::SweepStarted))),
        t(Record::Decision(Box::new(Decision::SweepEnded))),
        t(moved),
        t(Record::Decision(Box::new(Decision::ScanStarted { scan_id: 2 }))),
    ];
    let dir = write_recording(root.path(), &records);
    let read = |decisions| {
        let mut seen = Vec::new();
        let summary = recording::read_with(&dir, decisions, |t, _| {
            seen.push(t);
            Ok(())
        })
        .unwrap();
        (seen, summary.records)
    };
    assert_eq!(read(Decisions::Decode), (records.to_vec(), 7));
    let others: Vec<Timed> =
        records.iter().filter(|t| !matches!(t.record, Record::Decision(_))).cloned().collect();
    assert_eq!(read(Decisions::Skip), (others, 7), "the block's count still adds up");

    // A replay on its own schedule steps over them and still counts every record.
    let bt = Backtest {
        schedule: super::Schedule::Interval,
        ..Backtest::new(DataSource::Recording(dir.clone()), no_plugins(root.path()))
    };
    let report = bt.run(&|_, _| {}).unwrap();
    assert_eq!((report.stats.records, report.stats.market_events), (7, 1));
}

/// On the interval schedule a replay scans at its start and every `scan_interval_secs` of
/// recorded time, and sweeps every `sweep_interval_secs` from one interval in, as the engine's
/// own loops do; nothing recorded about scans is needed.
#[test]
fn the_interval_schedule_scans_and_sweeps_on_recorded_time() {
    let root = tempfile::tempdir().unwrap();
    let (mut sim, m) = world();
    let start = sim.now_ms();
    let mut records = vec![Timed { at_ms: start, record: Record::Listed(Box::new(m.clone())) }];
    // Twenty minutes of the simulator, a minute at a time.
    for _ in 0..20 {
        let out = sim.step(60_000);
        let at = sim.now_ms();
        records.extend(out.events.into_iter().map(|e| Timed { at_ms: at, record: Record::Market(e) }));
        records.push(Timed { at_ms: at, record: Record::Gap { dropped: 0 } });
    }
    let dir = write_recording(root.path(), &records);
    let bt = Backtest {
        schedule: super::Schedule::Interval,
        ..Backtest::new(DataSource::Recording(dir), no_plugins(root.path()))
    };
    let report = bt.run(&|_, _| {}).unwrap();
    // Scans at 0, 5, 10, 15 and 20 minutes (300 s); sweeps every 30 s from 30 s to 20 minutes.
    assert_eq!((report.stats.scans, report.stats.sweeps), (5, 40));
}

/// A simulated backtest keeps the same schedule from its own start: a scan at the start and
/// every five minutes after, a sweep every 30 s from 30 s on (the engine's loops on the
/// simulator's clock), not from the end of the first simulated minute.
#[test]
fn a_simulated_run_scans_at_its_start_and_sweeps_from_one_interval_in() {
    let root = tempfile::tempdir().unwrap();
    let start = SimConfig::default().start_ms;
    let mut bt = Backtest::new(
        DataSource::Sim { seed: 3, days: 1, markets: 6, start_ms: start },
        no_plugins(root.path()),
    );
    bt.to_ms = Some(start + 20 * 60_000);
    let report = bt.run(&|_, _| {}).unwrap();
    // Scans at 0, 5, 10, 15 and 20 minutes; sweeps every 30 s from 30 s to 20 minutes; twenty
    // simulated minutes stepped.
    assert_eq!((report.stats.scans, report.stats.sweeps, report.stats.records), (5, 40, 20));
}

/// Books that move with the price (stored as the previous one shifted), books that change a
/// level or two (stored as the changes), and books unlike the last (stored whole) all read back
/// as the books that were recorded, exactly; a version-1 file still reads.
#[test]
fn books_read_back_exactly_however_they_were_stored_and_version_one_still_reads() {
    use crate::exchange::Level;
    let root = tempfile::tempdir().unwrap();
    let l = |price: Decimal, size: Decimal| Level { price, size };
    let book = |best_bid: Decimal, sizes: &[Decimal]| -> (Vec<Level>, Vec<Level>) {
        let tick = dec!(0.01);
        let bids = (0_i64..).zip(sizes).map(|(k, s)| l(best_bid - tick * Decimal::from(k), *s)).collect();
        let asks = (0_i64..).zip(sizes).map(|(k, s)| l(best_bid + tick * Decimal::from(k + 2), *s)).collect();
        (bids, asks)
    };
    let sizes = [dec!(100), dec!(200), dec!(300), dec!(400)];
    let mut books = Vec::new();
    for step in 0_i64..60 {
        let best = dec!(0.40) + dec!(0.01) * Decimal::from(step % 7);
        let mut s = sizes.to_vec();
        if step % 5 == 0 {
            s[2] = dec!(333.5); // a level's size changed too
        }
        if step % 11 == 0 {
            s.truncate(2); // a thinner book
        }
        books.push(book(best, &s));
    }
    books.push((Vec::new(), vec![l(dec!(0.90), dec!(1))])); // unlike anything before
    books.push((vec![l(dec!(0.10), dec!(5.50))], Vec::new()));
    let records: Vec<Timed> = (0_i64..)
        .zip(&books)
        .map(|(i, (bids, asks))| Timed {
            at_ms: 1_000 + i,
            record: Record::Market(MarketEvent::Book {
                token: "t".into(),
                bids: bids.clone(),
                asks: asks.clone(),
                at_ms: 1_000 + i,
            }),
        })
        .collect();
    let dir = write_recording(root.path(), &records);
    let read_back = |path: &Path| {
        let mut out = Vec::new();
        recording::read(path, |t| {
            out.push(t);
            Ok(())
        })
        .unwrap();
        out
    };
    let got = read_back(&dir);
    assert_eq!(got.len(), books.len());
    for (t, (bids, asks)) in got.iter().zip(&books) {
        let Record::Market(MarketEvent::Book { bids: b, asks: a, .. }) = &t.record else { panic!("{t:?}") };
        // Levels best first, as the book holds them; the same digits and scale.
        let canon = |v: &Vec<Level>, side| {
            let mut ob = crate::exchange::OrderBook::new(Decimal::ZERO);
            match side {
                BookSide::Bids => ob.replace(v, &[]),
                BookSide::Asks => ob.replace(&[], v),
            }
            ob.levels(side).map(|l| (l.price.to_string(), l.size.to_string())).collect::<Vec<_>>()
        };
        let strings =
            |v: &Vec<Level>| v.iter().map(|l| (l.price.to_string(), l.size.to_string())).collect::<Vec<_>>();
        assert_eq!(strings(b), canon(bids, BookSide::Bids), "at {}", t.at_ms);
        assert_eq!(strings(a), canon(asks, BookSide::Asks), "at {}", t.at_ms);
    }
    // The same bytes under a version-1 header read the same (version 2 only added a record kind).
    let segment = recording::segments(&dir).unwrap().remove(0);
    let mut bytes = std::fs::read(&segment).unwrap();
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), super::FORMAT_VERSION);
    bytes[8..10].copy_from_slice(&1_u16.to_le_bytes());
    let old = root.path().join("v1");
    std::fs::create_dir(&old).unwrap();
    std::fs::write(recording::segment_path(&old, 1), &bytes).unwrap();
    assert_eq!(read_back(&old), got);
}
