//! A full scan of 20,000 markets, and the host's memory with them tracked.

use super::*;

/// RSS and its high-water mark, from /proc/self/status, MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u32>().ok())
            .map_or(f64::NAN, |kb| f64::from(kb) / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn report_rss(what: &str) {
    let (rss, hwm) = rss();
    println!("  {what:<58} VmRSS {rss:7.1} MiB   VmHWM {hwm:7.1} MiB");
}

pub(super) fn scan() {
    let (_plugin_dir, plugins) = default_plugins();
    let started = Instant::now();
    let venue =
        SimExchange::new(SimConfig { markets: SCAN_MARKETS, ..SimConfig::default() }, Decimal::from(10_000));
    println!("scan of {SCAN_MARKETS} markets (simulator built in {:.0} ms):", ms(started.elapsed()));
    let (probe, _sells) = Probe::new(venue);
    let rt = runtime();
    let dirs: Vec<tempfile::TempDir> =
        (0..COLD_SCANS).map(|_| tempfile::tempdir().expect("temp dir")).collect();
    println!("  store on {}", filesystem(dirs[0].path()));
    rt.block_on(async {
        let mut engine = None;
        for (i, dir) in dirs.iter().enumerate() {
            // A fresh engine knows no books: every candidate's two books come from the venue.
            let fresh = engine_on(&probe, &plugins, dir.path()).await;
            probe.take();
            let start = Instant::now();
            let record = fresh.scan().await.expect("scan");
            let wall = start.elapsed();
            let (venue, books) = probe.take();
            assert!(record.error.is_none(), "scan failed: {:?}", record.error);
            println!(
                "  cold #{}: {:.0} ms wall ({} listed, {} candidates, {} scored; record says {:.0} ms \
                 before storing); of which venue calls {:.0} ms ({books} book requests) → engine {:.0} ms",
                i + 1,
                ms(wall),
                record.listed,
                record.candidates,
                record.scored,
                ms(Duration::from_micros(record.duration_us)),
                ms(venue),
                ms(wall.saturating_sub(venue)),
            );
            engine = Some(fresh);
        }
        let engine = engine.expect("an engine");
        let mut walls = Vec::new();
        for _ in 0..STEADY_SCANS {
            let start = Instant::now();
            let record = engine.scan().await.expect("scan");
            let wall = start.elapsed();
            let (venue, books) = probe.take();
            assert!(record.error.is_none(), "scan failed: {:?}", record.error);
            println!(
                "  steady: {:.0} ms wall (record says {:.0} ms before storing; venue calls {:.1} ms, {books} \
                 book requests)",
                ms(wall),
                ms(Duration::from_micros(record.duration_us)),
                ms(venue),
            );
            walls.push(wall);
        }
        walls.sort();
        println!(
            "  steady over {STEADY_SCANS} scans: median {:.0} ms, min {:.0} ms, max {:.0} ms",
            ms(pct(&walls, 50)),
            ms(walls[0]),
            ms(*walls.last().expect("scans"))
        );
        // Where a steady scan's storing goes: the same two store operations the scan makes after
        // scoring, timed alone.
        let start = Instant::now();
        let opportunities = engine.opportunities(f32::MIN).expect("opportunities");
        let read = start.elapsed();
        let last = engine.health().expect("health").last_scan.expect("a scan");
        let other = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&other.path().join("equilibrage.redb")).expect("open the store");
        let mut writes = Vec::new();
        for _ in 0..3 {
            let (scan, all) = (last.clone(), opportunities.clone());
            let start = Instant::now();
            store.write(move |w| w.replace_opportunities(&scan, &all)).await.expect("replace");
            writes.push(start.elapsed());
        }
        println!(
            "  of a steady scan's storing: reading back the {} stored opportunities {:.0} ms; replacing them \
             in one durable transaction {:.0} ms (2nd and 3rd of 3 writes to a separate store: {:.0}, {:.0} ms)",
            opportunities.len(),
            ms(read),
            ms(writes[0]),
            ms(writes[1]),
            ms(writes[2]),
        );
    });
}

/// RSS with 20,000 markets tracked: all default plugins loaded, the engine on the 20k-market
/// simulator, a scan, 100 positions, then a simulated hour of one-minute steps whose every event
/// goes through the engine's feed path, with a sweep each minute and a scan every five.
pub(super) fn memory() {
    println!("memory, 20,000 markets:");
    report_rss("process started");
    let (_plugin_dir, plugins) = default_plugins();
    report_rss("all four default plugins loaded");
    let venue =
        SimExchange::new(SimConfig { markets: SCAN_MARKETS, ..SimConfig::default() }, Decimal::from(10_000));
    report_rss("+ simulator with 20,000 markets (in-process venue)");
    let (probe, _sells) = Probe::new(venue.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = runtime();
    rt.block_on(async {
        let engine = engine_on(&probe, &plugins, dir.path()).await;
        let record = engine.scan().await.expect("scan");
        assert!(record.error.is_none(), "scan failed: {:?}", record.error);
        report_rss(&format!("+ engine open, first scan ({} candidates)", record.candidates));
        let markets = venue.markets().await.expect("markets");
        let mut next = 0;
        fill_slots(&engine, &markets, &mut next, OPEN_POSITIONS).await;
        report_rss(&format!("+ {OPEN_POSITIONS} positions open"));
        let mut events = 0_usize;
        let started = Instant::now();
        for minute in 1..=60 {
            for event in venue.advance(60_000).events {
                events += 1;
                engine.on_market_event(event).await;
            }
            engine.sweep().await;
            if minute % 5 == 0 {
                let record = engine.scan().await.expect("scan");
                assert!(record.error.is_none(), "scan failed: {:?}", record.error);
            }
        }
        engine.settle().await;
        report_rss(&format!(
            "+ 1 simulated hour: {events} events fed, 60 sweeps, 12 scans ({:.0} s)",
            started.elapsed().as_secs_f64()
        ));
        let open = engine.positions().len();
        let liquidated = engine.positions().iter().filter(|v| v.position.liquidated.is_some()).count();
        println!(
            "  ({open} positions still open after the hour, {liquidated} of them liquidated on one side)"
        );
    });
    let (rss, hwm) = rss();
    println!("  final: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB");
}

/// What the big pieces weigh, each measured as the RSS it adds in a fresh process: the engine's
/// cache of 40,000 books and 20,000 markets (rebuilt here the way the engine holds them), and the
/// store kept by a run of scans (the same 20,000 opportunities replaced again and again).
pub(super) fn memory_parts() {
    println!("memory, the parts:");
    let venue =
        SimExchange::new(SimConfig { markets: SCAN_MARKETS, ..SimConfig::default() }, Decimal::from(10_000));
    let rt = runtime();
    rt.block_on(async {
        let markets = venue.markets().await.expect("markets");
        let (before, _) = rss();
        let mut books = equilibrage::exchange::BookSet::new(Decimal::from(5));
        for m in &markets {
            for o in &m.outcomes {
                books.insert(o.token_id.clone(), venue.book(&o.token_id).await.expect("book"));
            }
        }
        let (after, _) = rss();
        println!("  40,000 books in a BookSet: +{:.1} MiB", after - before);
        let (before, _) = rss();
        let by_id: HashMap<String, std::sync::Arc<Market>> =
            markets.iter().map(|m| (m.id.clone(), m.clone())).collect();
        let (after, _) = rss();
        println!("  20,000 markets by id: +{:.1} MiB", after - before);
        std::hint::black_box((books, by_id));

        let (_plugin_dir, plugins) = default_plugins();
        let (probe, _sells) = Probe::new(venue.clone());
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine_on(&probe, &plugins, dir.path()).await;
        engine.scan().await.expect("scan");
        let opportunities = engine.opportunities(f32::MIN).expect("opportunities");
        let last = engine.health().expect("health").last_scan.expect("a scan");
        let bytes: usize = opportunities.iter().map(|o| serde_json::to_vec(o).map_or(0, |v| v.len())).sum();
        println!(
            "  {} opportunities, {:.1} MiB as stored (JSON); the store, replacing them scan after scan:",
            opportunities.len(),
            f64::from(u32::try_from(bytes).unwrap_or(u32::MAX)) / 1_048_576.0
        );
        let other = tempfile::tempdir().expect("temp dir");
        let path = other.path().join("equilibrage.redb");
        let store = Store::open(&path).expect("open the store");
        let (start, _) = rss();
        for n in 1..=24 {
            let (scan, all) = (last.clone(), opportunities.clone());
            store.write(move |w| w.replace_opportunities(&scan, &all)).await.expect("replace");
            if [1, 2, 4, 8, 12, 24].contains(&n) {
                let (now, _) = rss();
                let file = std::fs::metadata(&path).map_or(0, |m| m.len()) >> 20;
                println!("    after {n:>2} writes: +{:.1} MiB RSS (database file {file} MiB)", now - start);
            }
        }
    });
}
