//! The lab's parts on their own: the replay venue's fills, retention, the end of a recording
//! inside a scan, and the decision diff.

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
        let summary = recording::read_with(&dir, decisions, |t| {
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

fn report(positions: Vec<Position>) -> super::RunReport {
    super::RunReport {
        id: None,
        label: String::new(),
        source: String::new(),
        plugins: Vec::new(),
        params: Vec::new(),
        settings: crate::engine::Settings::default(),
        metrics: super::metrics::compute(dec!(1000), &[], &positions, &[]),
        equity: Vec::new(),
        positions,
        trades: Vec::new(),
        decisions: Vec::new(),
        attribution: Vec::new(),
        attribution_summary: super::AttributionSummary::default(),
        stats: super::RunStats::default(),
        quotes: Vec::new(),
        calibration: None,
    }
}

fn closed(id: u64, market: &str, liquidated: Option<Leg>, proceeds: Decimal) -> Position {
    let mut p = Position {
        id,
        market_id: market.into(),
        question: format!("Question {market}?"),
        status: PositionStatus::Closed,
        liquidated,
        liquidated_at_ms: liquidated.map(|_| 5),
        close_reason: Some("resolved".into()),
        closed_at_ms: Some(10),
        ..Position::blank()
    };
    p.legs[0].bought = dec!(100);
    p.legs[0].cost = dec!(50);
    p.legs[0].sold = dec!(100);
    p.legs[0].proceeds = proceeds;
    p
}

#[test]
fn the_diff_lists_exactly_the_markets_where_the_runs_differ_largest_consequence_first() {
    let a = report(vec![
        closed(1, "same", None, dec!(60)),
        closed(2, "only-a", None, dec!(55)),
        closed(3, "exit", Some(Leg::Yes), dec!(40)),
    ]);
    let b = report(vec![
        closed(1, "same", None, dec!(60)),
        closed(2, "exit", None, dec!(70)),
        closed(3, "only-b", None, dec!(49)),
    ]);
    let diff = super::diff_runs(&a, &b);
    let markets: Vec<&str> = diff.iter().map(|r| r.market_id.as_str()).collect();
    assert_eq!(markets, ["exit", "only-a", "only-b"], "by |P&L A − B|: 30, 5, 1");
    assert_eq!(diff[0].pnl_diff, dec!(-30));
    assert!(
        diff[0].a.contains("liquidated yes 1970-01-01 00:00") && !diff[0].b.contains("liquidated"),
        "{}",
        diff[0].a
    );
    assert_eq!((diff[1].b.as_str(), diff[1].pnl_diff), ("-", dec!(5)));
    assert_eq!((diff[2].a.as_str(), diff[2].pnl_b, diff[2].pnl_diff), ("-", dec!(-1), dec!(1)));
    assert!(super::diff_runs(&a, &a).is_empty(), "a run does not differ from itself");
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

/// The engine sets the rules plugin's drop, stop loss and take profit from the settings at
/// start: a `--param` for them would be silently replaced, so it is refused with the setting.
#[test]
fn a_rule_parameter_the_settings_drive_is_refused_with_the_setting_to_use() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plugins");
    crate::plugins::install_defaults(&dir).unwrap();
    let mut bt = Backtest::new(
        DataSource::Sim { seed: 1, days: 1, markets: 10, start_ms: SimConfig::default().start_ms },
        PluginOptions::new(&dir, None),
    );
    bt.overrides.param("equilibrage.liquidation-drop=0.5").unwrap();
    let err = bt.run(&|_, _| {}).unwrap_err().to_string();
    assert!(err.contains("--set engine.liquidation_drop_percent"), "{err}");
}

/// Two versions of a scorer that disagree on a known set of markets (the fixture scores 10, or
/// 1 for markets ending within `veto-days`): the decision diff of their backtests lists exactly
/// the markets of that set the first version traded, and nothing else.
#[test]
fn two_scorer_versions_differ_in_the_diff_on_exactly_the_markets_they_disagree_on() {
    const DAY: f64 = 86_400_000.0;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    let veto = &equilibrage_plugin_artifacts::VETO_SCORER;
    std::fs::write(dir.join(veto.file), veto.bytes).unwrap();
    let config = SimConfig { seed: 9, markets: 16, ..SimConfig::default() };
    let start = config.start_ms;
    // Version B vetoes the markets ending before the middle of the listing's end dates.
    let listing = Simulator::new(config.clone()).markets();
    #[allow(clippy::cast_precision_loss, reason = "test end dates")]
    let mut days: Vec<f64> = listing.iter().map(|m| (m.end_ms.unwrap() - start) as f64 / DAY).collect();
    days.sort_by(f64::total_cmp);
    let cut = f64::midpoint(days[days.len() / 2 - 1], days[days.len() / 2]);
    #[allow(clippy::cast_precision_loss, reason = "test end dates")]
    let vetoed: std::collections::BTreeSet<&str> = listing
        .iter()
        .filter(|m| ((m.end_ms.unwrap() - start) as f64 / DAY) < cut)
        .map(|m| m.id.as_str())
        .collect();

    let mut a = Backtest::new(
        DataSource::Sim { seed: 9, days: 1, markets: 16, start_ms: start },
        PluginOptions::new(&dir, None),
    );
    // One scan, room for every market, a small stake each.
    a.to_ms = Some(start + 60_000);
    a.settings.auto_trading = true;
    a.settings.max_positions = 100;
    a.settings.capital_allocation_percent = Decimal::ONE;
    let mut b = a.clone();
    b.overrides.param(&format!("veto-scorer.veto-days={cut}")).unwrap();
    let (ra, rb) = (a.run(&|_, _| {}).unwrap(), b.run(&|_, _| {}).unwrap());

    let entered = |r: &super::RunReport| -> std::collections::BTreeSet<String> {
        r.positions.iter().map(|p| p.market_id.clone()).collect()
    };
    let (ea, eb) = (entered(&ra), entered(&rb));
    let expected: Vec<&str> = ea.iter().map(String::as_str).filter(|m| vetoed.contains(m)).collect();
    assert!(expected.len() >= 2 && ea.len() > expected.len(), "A traded vetoed and other markets: {ea:?}");
    assert!(eb.iter().all(|m| !vetoed.contains(m.as_str())), "B trades no vetoed market");
    let diff = super::diff_runs(&ra, &rb);
    let mut listed: Vec<&str> = diff.iter().map(|r| r.market_id.as_str()).collect();
    listed.sort_unstable();
    assert_eq!(listed, expected, "the diff lists exactly the markets the versions disagree on");
    assert!(diff.iter().all(|r| r.b == "-" && r.a.starts_with("entered")), "A entered them, B did not");
}

/// `hours` of the simulator (`seed`, `markets`) with the default plugins installed under `root`,
/// auto-trading every candidate.
pub(super) fn trading_base(root: &std::path::Path, seed: u64, markets: usize, hours: i64) -> Backtest {
    let dir = root.join("plugins");
    crate::plugins::install_defaults(&dir).unwrap();
    let start = SimConfig::default().start_ms;
    let mut base = Backtest::new(
        DataSource::Sim { seed, days: 1, markets, start_ms: start },
        PluginOptions::new(&dir, None),
    );
    base.to_ms = Some(start + hours * 3_600_000);
    base.settings.auto_trading = true;
    base.settings.opportunity_threshold = 1;
    base
}

/// The two runs of a comparison share the signal plugins' answers (the same whale and news
/// plugins over the same data): B asks none of A's questions again, and both runs are the runs
/// they would be alone, every scan's factors included.
#[test]
fn a_comparisons_runs_share_the_signal_answers_and_are_as_they_would_be_alone() {
    let root = tempfile::tempdir().unwrap();
    let mut a = trading_base(root.path(), 4, 12, 4);
    a.calibrate = false;
    let mut b = a.clone();
    b.overrides.param("default-scorer.weight-liquidity=0.9").unwrap();
    let (alone_a, alone_b) = (a.run(&|_, _| {}).unwrap(), b.run(&|_, _| {}).unwrap());
    let (a, b) = a.compared_with(b);
    let memo = std::sync::Arc::clone(a.plugins.memo.as_ref().unwrap());
    assert!(std::sync::Arc::ptr_eq(&memo, b.plugins.memo.as_ref().unwrap()));
    let ra = a.run(&|_, _| {}).unwrap();
    let asked = memo.stats();
    assert!(asked.misses > 0 && asked.hits == 0, "A asks everything once: {asked:?}");
    let rb = b.run(&|_, _| {}).unwrap();
    let both = memo.stats();
    assert_eq!((both.misses, both.hits), (asked.misses, asked.misses), "B asks nothing again");
    assert!(!ra.decisions.is_empty());
    assert_eq!(ra.deterministic_json(), alone_a.deterministic_json());
    assert_eq!(rb.deterministic_json(), alone_b.deterministic_json());
    assert_ne!(ra.deterministic_json(), rb.deterministic_json(), "the scorers differ");
}

/// A backtest keeps every scan's candidates; a market scanned again shares its id with the
/// scans before (one copy kept, not one a scan), and the decisions read as before.
#[test]
fn kept_scans_share_the_ids_of_the_markets_they_scanned_again() {
    let root = tempfile::tempdir().unwrap();
    let mut bt = trading_base(root.path(), 4, 12, 2);
    bt.calibrate = false;
    let report = bt.run(&|_, _| {}).unwrap();
    let scans: Vec<&Vec<crate::engine::Scored>> = report
        .decisions
        .iter()
        .filter_map(|d| match &d.decision {
            Decision::Scanned { candidates, error: None, .. } => Some(candidates),
            _ => None,
        })
        .collect();
    assert!(scans.len() > 2, "{} scans", scans.len());
    let mut shared = 0;
    for pair in scans.windows(2) {
        for c in pair[1] {
            let before = pair[0].iter().find(|b| b.market_id == c.market_id);
            if let Some(b) = before {
                assert!(std::sync::Arc::ptr_eq(&b.market_id, &c.market_id), "{} kept twice", c.market_id);
                shared += 1;
            }
        }
    }
    assert!(shared > 0, "markets scanned again");
    // Shared or not, an id reads (and serialises) as the market's id.
    let first = &scans[0][0];
    assert!(first.market_id.starts_with("0x"), "{}", first.market_id);
    let json = serde_json::to_value(first).unwrap();
    assert_eq!(json["market_id"], serde_json::Value::String(first.market_id.to_string()));
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

/// A backtest of `days` simulated days of 12 markets (seed 5, the default plugins under
/// `root`) that trades often and leaves often: a low threshold, more slots, a tighter
/// liquidation, stops and targets, and sweeps every ten minutes.
fn trading_often(root: &Path, days: u32) -> Backtest {
    let dir = root.join("plugins");
    crate::plugins::install_defaults(&dir).unwrap();
    let mut bt = Backtest::new(
        DataSource::Sim { seed: 5, days, markets: 12, start_ms: SimConfig::default().start_ms },
        PluginOptions::new(&dir, None),
    );
    bt.settings.auto_trading = true;
    bt.settings.opportunity_threshold = 1;
    bt.settings.max_positions = 6;
    bt.settings.liquidation_drop_percent = dec!(15);
    bt.settings.stop_loss_percent = dec!(20);
    bt.settings.take_profit_percent = dec!(20);
    bt.settings.sweep_interval_secs = 600;
    bt
}

/// A simulated month traded with a low threshold: every closed position's attribution adds up
/// exactly to its P&L (and that P&L is the ledger's), the sum over the run is the sum of the
/// positions, and the results store gives back the attribution and each position's quotes.
#[test]
fn attribution_adds_up_exactly_over_every_position_of_a_simulated_month() {
    use super::ResultsStore;
    let root = tempfile::tempdir().unwrap();
    let mut bt = trading_often(root.path(), 30);
    // Markets that resolve within the month; scans hourly.
    bt.settings.max_days_to_end = 20;
    bt.settings.scan_interval_secs = 3_600;
    let mut r = bt.run(&|_, _| {}).unwrap();
    let closed: Vec<&Position> = r
        .positions
        .iter()
        .filter(|p| !p.status.is_open() && p.legs.iter().any(|l| !l.bought.is_zero()))
        .collect();
    assert!(closed.len() >= 10, "a month of trading closes positions: {}", closed.len());
    assert_eq!(r.attribution.len(), closed.len(), "one attribution per closed position");
    for (a, p) in r.attribution.iter().zip(&closed) {
        assert_eq!(a.position_id, p.id);
        assert_eq!(a.pnl, crate::engine::mark(p, [None, None]).realised, "position {}", p.id);
        assert_eq!(a.parts_sum(), a.pnl, "position {}: {a:?}", p.id);
    }
    assert!(r.attribution.iter().any(|a| a.liquidated.is_some()), "some positions were liquidated");
    assert!(
        r.attribution.iter().all(|a| a.entry_mid.iter().all(Option::is_some)),
        "every entry's quotes were recorded"
    );
    assert!(r.attribution.iter().any(|a| a.hold_to_resolution.is_some()), "some markets resolved");
    let s = &r.attribution_summary;
    assert_eq!(s.pnl, r.attribution.iter().map(|a| a.pnl).sum::<Decimal>());
    assert_eq!(s.spread + s.fees + s.liquidated_leg + s.kept_leg, s.pnl);

    let first = closed[0].id;
    let store = ResultsStore::open(root.path()).unwrap();
    let id = store.put(&mut r).unwrap();
    let back = store.get_without_decisions(id).unwrap().unwrap();
    assert_eq!(back.attribution, r.attribution);
    let quotes = store.quotes(id, first).unwrap();
    assert!(!quotes.is_empty() && quotes.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
    assert_eq!(quotes, r.quotes.iter().find(|(p, _)| *p == first).unwrap().1);
}

/// Calibration over two simulated days: every scored candidate's simulated trade is on record
/// with its bucket, and a candidate the run entered ends as the position did. Both walk the
/// same books with the same fill and fee code and follow the same rule on the same book
/// changes, so their P&L agree exactly (no fee rounding differs: the venue and the simulation
/// charge `fill.fee` of the same walk).
#[test]
fn a_calibrated_candidate_that_was_entered_ends_as_its_position_did() {
    let root = tempfile::tempdir().unwrap();
    let mut bt = trading_often(root.path(), 2);
    bt.settings.scan_interval_secs = 1_800;
    let r = bt.run(&|_, _| {}).unwrap();
    let cal = r.calibration.as_ref().expect("calibrated");
    let summary = cal.summarise();
    assert_eq!(summary.buckets.len(), 10);
    assert!(summary.simulated > 50, "{} simulated of {}", summary.simulated, summary.candidates);
    assert_eq!(summary.factors.len(), cal.factors.len());
    assert!(cal.candidates.iter().all(|c| c.mid.is_some()), "each candidate's mid then");
    assert!(cal.candidates.iter().any(|c| c.mid_1h.is_some() && c.mid_24h.is_some()));
    let mut compared = 0;
    for p in r.positions.iter().filter(|p| !p.status.is_open() && p.legs.iter().all(|l| !l.bought.is_zero()))
    {
        let c = cal
            .candidates
            .iter()
            .find(|c| c.position == Some(p.id))
            .expect("the entered candidate is on record");
        assert!(c.closed, "position {} closed, its simulated trade too", p.id);
        assert_eq!(c.pnl, Some(crate::engine::mark(p, [None, None]).realised), "position {}", p.id);
        compared += 1;
    }
    assert!(compared >= 5, "{compared} positions compared");
    // Decisions not asked for stay out of the report, though the calibration reads them.
    let lean = super::Backtest { keep_decisions: false, ..bt }.run(&|_, _| {}).unwrap();
    assert!(lean.decisions.is_empty() && !r.decisions.is_empty());
    assert_eq!(
        lean.deterministic_json(),
        super::RunReport { decisions: Vec::new(), ..r.clone() }.deterministic_json()
    );
}

/// Plugin calls run inline on a backtest's one thread. Liquidation rules that print at every
/// call cost the run nothing; rules that panic fault at every call, and the built-in rule then
/// makes the same exits the default rules plugin makes; rules that sleep are stopped at once
/// (a plugin may not wait), with the same outcome, rather than holding the run.
#[test]
fn rules_that_print_panic_or_sleep_do_not_stop_a_backtest() {
    let root = tempfile::tempdir().unwrap();
    let defaults = root.path().join("defaults");
    crate::plugins::install_defaults(&defaults).unwrap();
    let noisy = root.path().join("noisy");
    crate::plugins::install_defaults(&noisy).unwrap();
    std::fs::remove_file(noisy.join("equilibrage.wasm")).unwrap();
    let rules = &equilibrage_plugin_artifacts::NOISY_RULES;
    std::fs::write(noisy.join(rules.file), rules.bytes).unwrap();
    let start = SimConfig::default().start_ms;
    let backtest = |dir: &Path, param: Option<&str>| {
        let mut bt = Backtest::new(
            DataSource::Sim { seed: 3, days: 1, markets: 8, start_ms: start },
            PluginOptions::new(dir, None),
        );
        bt.to_ms = Some(start + 12 * 3_600_000);
        bt.settings.auto_trading = true;
        bt.settings.opportunity_threshold = 1;
        bt.settings.max_positions = 8;
        if let Some(p) = param {
            bt.overrides.param(p).unwrap();
        }
        bt.run(&|_, _| {}).unwrap()
    };
    let exits_by = |r: &super::RunReport| -> Vec<String> {
        r.decisions
            .iter()
            .filter_map(|d| match &d.decision {
                Decision::Exit { by, .. } => Some(by.clone()),
                _ => None,
            })
            .collect()
    };
    let trades = |r: &super::RunReport| -> Vec<String> {
        r.trades
            .iter()
            .map(|t| format!("p{} {:?} {:?} {} x {}", t.position_id, t.leg, t.action, t.price, t.shares))
            .collect()
    };

    let reference = backtest(&defaults, None);
    let by = exits_by(&reference);
    assert!(!by.is_empty() && by.iter().all(|b| b == "equilibrage"), "the default rules sell: {by:?}");

    let printing = backtest(&noisy, None);
    assert!(!printing.positions.is_empty(), "it trades");
    assert!(exits_by(&printing).is_empty(), "printing rules that never sell answered every call");

    let panicking = backtest(&noisy, Some("noisy-rules.panic=1"));
    let by = exits_by(&panicking);
    assert!(!by.is_empty() && by.iter().all(|b| b == "built-in"), "{by:?}");
    assert_eq!(trades(&panicking), trades(&reference), "the built-in rule trades as the default plugin");

    let sleeping = backtest(&noisy, Some("noisy-rules.sleep=1"));
    assert_eq!(exits_by(&sleeping), exits_by(&panicking));
    assert_eq!(trades(&sleeping), trades(&reference));
}
