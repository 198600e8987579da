//! The crash test of issue 4: the bot is killed with SIGKILL at random points while it enters,
//! liquidates and closes positions on the mock Polymarket, restarted each time, and in the end
//! its positions, trades and capital agree with the exchange's record exactly.
//!
//! The mock runs inside this test process, so it outlives every death of the bot: it is the
//! exchange's record. The bot's CLOB requests pass through a front door that, like a real venue,
//! carries out an order it has received even when the sender dies; order placements are delayed,
//! and in some runs the venue is slow enough that the bot is restarted while it still works on an
//! order of the dead process. The test moves the books so that positions are entered, liquidated,
//! stopped out and taken profit on, and kills the bot at random times, during start-up and
//! recovery, and right after a fill (before the bot can record it).
//!
//! After each kill the test opens the bot's database and checks what must hold even mid-flight:
//! nothing recorded twice or made up, every fill the bot has not recorded yet covered by a
//! journalled intent, and cash and shares differing from the venue's by exactly those fills. After
//! a last, idle start everything must agree with nothing left over.
//!
//! The seed is printed; `CRASH_SEED=<n>` replays the same schedule (kill times, book moves,
//! configurations); process timing still varies. Logs and the data directory of the last run are
//! kept in `$CARGO_TARGET_TMPDIR/crash/`.

use equilibrage::store::Purpose;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::live_bot::*;

mod support;

/// Kills (and restarts) at least this many times.
const KILLS: usize = 110;
/// Order placements are held this long at the mock, so kills often find one in flight.
const ORDER_DELAY_MS: (u64, u64) = (30, 150);
/// In one run in four the venue is slow (a busy matching engine, a market with a matching
/// delay): the bot is killed and restarted while it still works on an order.
const SLOW_ORDER_DELAY_MS: (u64, u64) = (300, 1_200);
/// The bot is killed this long after it is up (or, sometimes, after it was spawned).
const KILL_AFTER_MS: (u64, u64) = (150, 1_500);

/// When a run is killed: some time after the engine is up, or after the spawn, or right after
/// a fill.
#[derive(Debug, Clone, Copy)]
enum KillAfter {
    /// A random time after the engine is up: scans, entries, exits, sweeps.
    Up(Duration),
    /// A random time after the spawn: start-up, recovery and the orders it places.
    Spawn(Duration),
    /// Just after the venue's n-th fill of the run: between a fill and its record.
    Fill { fills: usize, jitter: Duration },
}

impl KillAfter {
    fn draw(rng: &mut Rng) -> Self {
        match rng.next() % 100 {
            0..55 => Self::Up(Duration::from_millis(rng.range(KILL_AFTER_MS))),
            55..70 => Self::Spawn(Duration::from_millis(rng.range((20, 400)))),
            _ => Self::Fill {
                fills: usize::try_from(rng.range((1, 3))).unwrap_or(1),
                jitter: Duration::from_micros(rng.range((0, 3_000))),
            },
        }
    }
}

/// Totals over the whole run.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    kills_before_up: usize,
    kills_with_order_in_flight: usize,
    kills_leaving_intents: usize,
    kills_leaving_unrecorded_fills: usize,
    /// Kills that left an intent of this purpose journalled.
    kills_during: BTreeMap<&'static str, usize>,
    /// Fills the bot had not recorded when killed, by purpose.
    unrecorded_fills: BTreeMap<&'static str, usize>,
    /// Restarts while the venue still worked on an order of the killed process.
    restarts_racing_the_venue: usize,
    restarts_with_pending: usize,
    pending_at_starts: usize,
    reconciled: usize,
    balance_alarms: Vec<String>,
    book_moves: usize,
}

impl Tally {
    fn note_start(&mut self, watch: &Watch) {
        if watch.pending_at_start > 0 {
            self.restarts_with_pending += 1;
            self.pending_at_starts += watch.pending_at_start;
        }
        self.reconciled += watch.resolved.len();
        self.balance_alarms.extend(watch.errors.iter().filter(|e| e.contains("the venue holds")).cloned());
    }
}

fn count(s: &Snapshot, purpose: Purpose) -> usize {
    s.trades.iter().filter(|t| t.purpose == purpose).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let Run { seed, dir, db, ctx, log } = Run::start("crash", "CRASH_SEED");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let mock = Arc::new(mock_with_markets("Crash").await);

    let door = front_door(mock.http_url()).await;
    let in_flight_now = || door.orders_in_flight.load(Ordering::SeqCst);
    let stop = Arc::new(AtomicBool::new(false));
    let books = tokio::spawn(move_books(Arc::clone(&mock), seed, Arc::clone(&stop)));
    let mut tally = Tally::default();
    let mut kill_log = String::new();

    for run in 0..KILLS {
        let slow = rng.chance(25);
        let delay = Duration::from_millis(rng.range(if slow { SLOW_ORDER_DELAY_MS } else { ORDER_DELAY_MS }));
        mock.faults().delay("/order", delay);
        let config = dir.join(format!("run-{run}.toml"));
        let engine = EngineConfig {
            auto_trading: true,
            max_positions: rng.range((3, 4)),
            allocation: rng.range((3, 6)),
            leg_retries: rng.range((0, 2)),
            request_timeout_ms: 5_000,
            heartbeat_secs: 0,
        };
        write_config(&config, &mock, &door.url, &engine);
        let kill_at = KillAfter::draw(&mut rng);
        let (fills_before, posts_before) = (mock.trades().len(), order_posts(&mock));
        let mut bot = spawn_bot(&dir, &config, &mock, &log, run);
        match kill_at {
            KillAfter::Spawn(after) => {
                tokio::time::sleep((bot.spawned + after).saturating_duration_since(Instant::now())).await;
            }
            KillAfter::Up(after) => {
                ctx.up(&mut bot, run).await;
                tokio::time::sleep(after).await;
            }
            KillAfter::Fill { fills, jitter } => {
                ctx.up(&mut bot, run).await;
                let give_up = Instant::now() + Duration::from_millis(KILL_AFTER_MS.1);
                while mock.trades().len() < fills_before + fills && Instant::now() < give_up {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(jitter).await;
            }
        }
        if let Some(status) = bot.exited() {
            ctx.fail(
                &format!("run {run}: the bot died by itself ({status})"),
                &lock(&bot.watch).errors.join("\n"),
            );
        }
        let up = lock(&bot.watch).addr.is_some();
        let lived = bot.spawned.elapsed();
        let watch = bot.kill();
        let in_flight = in_flight_now();
        if !watch.panics.is_empty() {
            ctx.fail(&format!("run {run}: the bot panicked"), &watch.panics.join("\n"));
        }
        tally.note_start(&watch);
        tally.kills += 1;
        tally.kills_before_up += usize::from(!up);
        tally.kills_with_order_in_flight += usize::from(in_flight > 0);
        let posts = order_posts(&mock) - posts_before;
        if in_flight > 0 && slow {
            // The venue still works on an order: restart at once, as a supervisor would; the
            // venue may fill it while the next start reconciles. (No audit now: the venue's
            // record is moving.)
            tally.restarts_racing_the_venue += 1;
            let _ = writeln!(
                kill_log,
                "kill {run:3} after {:5} ms ({kill_at:?}): up={up} orders={posts} in-flight={in_flight} \
                 (venue slow by {delay:?}: restarting at once)",
                lived.as_millis(),
            );
            continue;
        }
        // Otherwise the venue finishes what it was sent first.
        let settle = Instant::now() + TIMEOUT;
        while in_flight_now() > 0 && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }

        let snap = snapshot(&db);
        let audit = audit(&snap, &venue(&mock), false).unwrap_or_else(|e| {
            let what = format!("after kill {run} ({kill_at:?}, lived {lived:?}, order delay {delay:?})");
            ctx.fail(&what, &format!("{e}\nthe kills so far:\n{kill_log}"))
        });
        tally.kills_leaving_intents += usize::from(!audit.pending.is_empty());
        tally.kills_leaving_unrecorded_fills += usize::from(!audit.unrecorded.is_empty());
        let purposes: std::collections::BTreeSet<&'static str> =
            audit.pending.iter().map(|p| p.as_str()).collect();
        for p in purposes {
            *tally.kills_during.entry(p).or_default() += 1;
        }
        for p in &audit.unrecorded {
            *tally.unrecorded_fills.entry(p.as_str()).or_default() += 1;
        }
        let _ = writeln!(
            kill_log,
            "kill {run:3} after {:5} ms ({kill_at:?}): up={up} orders={posts} in-flight={in_flight} pending={:?} \
             unrecorded={:?} positions={} trades={}",
            lived.as_millis(),
            audit.pending,
            audit.unrecorded,
            snap.positions.len(),
            snap.trades.len(),
        );
    }

    // A last, calm and idle start: recovery finishes what the last kill interrupted.
    stop.store(true, Ordering::Relaxed);
    tally.book_moves = books.await.unwrap_or_default();
    for m in &markets() {
        set_phase(&mock, m, Phase::Calm);
    }
    mock.faults().delay("/order", Duration::ZERO);
    let config = dir.join("final.toml");
    let idle = EngineConfig {
        auto_trading: false,
        max_positions: 4,
        allocation: 5,
        leg_retries: 1,
        request_timeout_ms: 5_000,
        heartbeat_secs: 0,
    };
    write_config(&config, &mock, &door.url, &idle);
    let journalled: Vec<String> = snapshot(&db).intents.into_iter().map(|i| i.client_id).collect();
    let mut bot = spawn_bot(&dir, &config, &mock, &log, KILLS);
    ctx.up(&mut bot, KILLS).await;
    // Idle: every intent the kills left reconciled (one the venue shows no trade for waits out
    // the grace period), no order placed for three sweeps and none in flight.
    let deadline = Instant::now() + TIMEOUT;
    let mut quiet = (Instant::now(), order_posts(&mock));
    loop {
        let posts = order_posts(&mock);
        let reconciled = {
            let w = lock(&bot.watch);
            journalled.iter().all(|id| w.resolved.contains(id))
        };
        if posts != quiet.1 || in_flight_now() > 0 || !reconciled {
            quiet = (Instant::now(), posts);
        } else if quiet.0.elapsed() > Duration::from_secs(3) {
            break;
        }
        if Instant::now() > deadline {
            ctx.fail("the final start never went idle", "");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let watch = bot.kill();
    if !watch.panics.is_empty() {
        ctx.fail("the final run panicked", &watch.panics.join("\n"));
    }
    tally.note_start(&watch);

    let snap = snapshot(&db);
    let v = venue(&mock);
    audit(&snap, &v, true)
        .unwrap_or_else(|e| ctx.fail("after the final start", &format!("{e}\nthe kills:\n{kill_log}")));

    let statuses = snap.positions.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(p.status.as_str()).or_insert(0_usize) += 1;
        m
    });
    let entries = snap.positions.len();
    let dust: Decimal = snap
        .positions
        .iter()
        .filter(|p| !p.status.is_open())
        .flat_map(|p| p.legs.iter().map(|l| l.held()))
        .sum();
    let (liquidations, stop_losses, take_profits, unwinds) = (
        count(&snap, Purpose::Liquidation),
        count(&snap, Purpose::StopLoss),
        count(&snap, Purpose::TakeProfit),
        count(&snap, Purpose::Unwind),
    );
    eprintln!("{kill_log}");
    eprintln!(
        "seed {seed}: {} kills in {:.1} s: {} before the engine was up, {} with an order in flight at the venue, \
         {} leaving journalled intents (kills by purpose {:?}), {} leaving fills not yet recorded (fills by purpose \
         {:?}); \
         {} restarts while the venue still worked on an order; {} restarts found {} pending intents, {} reconciled; \
         {} book moves",
        tally.kills,
        started.elapsed().as_secs_f64(),
        tally.kills_before_up,
        tally.kills_with_order_in_flight,
        tally.kills_leaving_intents,
        tally.kills_during,
        tally.kills_leaving_unrecorded_fills,
        tally.unrecorded_fills,
        tally.restarts_racing_the_venue,
        tally.restarts_with_pending,
        tally.pending_at_starts,
        tally.reconciled,
        tally.book_moves,
    );
    eprintln!(
        "positions {entries} {statuses:?}; trades {} (entry {}, liquidation {liquidations}, stop loss {stop_losses}, \
         take profit {take_profits}, unwind {unwinds}); venue trades {}; cash {} = venue {}; dust left in closed \
         positions {dust} shares",
        snap.trades.len(),
        count(&snap, Purpose::Entry),
        v.trades.len(),
        snap.cash.unwrap_or_default(),
        v.balance,
    );

    // Each start found the ledger equal to the venue's balance once it had reconciled.
    assert!(tally.balance_alarms.is_empty(), "balance alarms at start:\n{}", tally.balance_alarms.join("\n"));
    // Not vacuous: kills cut orders in flight and fills not yet recorded, and the bot entered,
    // liquidated and closed.
    assert!(tally.kills >= 100);
    assert!(tally.restarts_with_pending >= 10, "{tally:?}");
    assert!(tally.kills_with_order_in_flight >= 5, "{tally:?}");
    assert!(tally.restarts_racing_the_venue >= 3, "{tally:?}");
    assert!(tally.kills_leaving_unrecorded_fills >= 5, "{tally:?}");
    let during = |purposes: &[&str]| {
        purposes.iter().map(|p| tally.kills_during.get(p).copied().unwrap_or(0)).sum::<usize>()
    };
    assert!(during(&["entry"]) >= 3, "kills during entries: {tally:?}");
    assert!(during(&["liquidation"]) >= 3, "kills during liquidations: {tally:?}");
    assert!(during(&["stop_loss", "take_profit"]) >= 3, "kills during closes: {tally:?}");
    assert!(entries >= 20, "{entries} positions entered");
    assert!(liquidations >= 10, "{liquidations} liquidations");
    assert!(stop_losses >= 3 && take_profits >= 3, "{stop_losses} stop losses, {take_profits} take profits");
    assert!(statuses.get("closed").copied().unwrap_or(0) >= 10, "{statuses:?}");
}
