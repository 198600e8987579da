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

use equilibrage::engine::Account;
use equilibrage::store::{Action, Intent, Position, Purpose, Store, TradeRecord};
use equilibrage_testkit::{MockMarket, MockPolymarket, MockTrade, Side as MockSide, TradeStatus};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::KEY;

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");
/// Kills (and restarts) at least this many times.
const KILLS: usize = 110;
const MARKETS: usize = 6;
/// Order placements are held this long at the mock, so kills often find one in flight.
const ORDER_DELAY_MS: (u64, u64) = (30, 150);
/// In one run in four the venue is slow (a busy matching engine, a market with a matching
/// delay): the bot is killed and restarted while it still works on an order.
const SLOW_ORDER_DELAY_MS: (u64, u64) = (300, 1_200);
/// The bot is killed this long after it is up (or, sometimes, after it was spawned).
const KILL_AFTER_MS: (u64, u64) = (150, 1_500);
const TIMEOUT: Duration = Duration::from_secs(30);

/// splitmix64: small, seedable, good enough for schedules.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct Mkt {
    condition: String,
    tokens: [String; 2],
}

fn markets() -> Vec<Mkt> {
    (0..MARKETS)
        .map(|i| Mkt {
            condition: format!("0x{:064x}", 0xc0 + i),
            tokens: [
                format!("{}", 7_000_000_000_000_000_000_u64 + 2 * i as u64),
                format!("{}", 7_000_000_000_000_000_001_u64 + 2 * i as u64),
            ],
        })
        .collect()
}

/// Where a market's books stand. From calm, a crash of one side liquidates it (it falls 50 %)
/// and the other side either rallies (take profit) or slumps too (stop loss once alone); back to
/// calm, positions entered during a crash see the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Calm,
    Crash { side: usize, other_rallies: bool },
}

fn set_phase(mock: &MockPolymarket, m: &Mkt, phase: Phase) {
    let deep = dec!(100000);
    let quote = |token: &str, bid: Decimal, ask: Decimal| {
        mock.set_book(
            token,
            &[(bid, deep), (bid - dec!(0.01), deep)],
            &[(ask, deep), (ask + dec!(0.01), deep)],
        );
    };
    match phase {
        Phase::Calm => {
            for t in &m.tokens {
                quote(t, dec!(0.49), dec!(0.50));
            }
        }
        Phase::Crash { side, other_rallies } => {
            quote(&m.tokens[side], dec!(0.25), dec!(0.26));
            if other_rallies {
                quote(&m.tokens[1 - side], dec!(0.74), dec!(0.75));
            } else {
                quote(&m.tokens[1 - side], dec!(0.40), dec!(0.41));
            }
        }
    }
}

/// Moves the books until `stop`: every 100–400 ms one market changes phase.
async fn move_books(mock: Arc<MockPolymarket>, seed: u64, stop: Arc<AtomicBool>) -> usize {
    let mut rng = Rng(seed ^ 0x5eed_b00c);
    let markets = markets();
    let mut phases = vec![Phase::Calm; markets.len()];
    let mut moves = 0;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.range((100, 400)))).await;
        let i = usize::try_from(rng.next() % markets.len() as u64).unwrap_or(0);
        phases[i] = match phases[i] {
            Phase::Calm => Phase::Crash { side: usize::from(rng.chance(50)), other_rallies: rng.chance(50) },
            Phase::Crash { .. } => Phase::Calm,
        };
        set_phase(&mock, &markets[i], phases[i]);
        moves += 1;
    }
    moves
}

/// What one run of the bot said on stderr.
#[derive(Debug, Default)]
struct Watch {
    /// The dashboard address, once the engine is up (recovery done).
    addr: Option<String>,
    /// Intents the start found journalled but not recorded.
    pending_at_start: usize,
    /// Client ids of intents reconciled to a final answer (filled, or nothing traded).
    resolved: Vec<String>,
    panics: Vec<String>,
    errors: Vec<String>,
}

struct Bot {
    child: Child,
    watch: Arc<Mutex<Watch>>,
    reader: std::thread::JoinHandle<()>,
    spawned: Instant,
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.split(&format!("{name}=")).nth(1)?;
    rest.split_whitespace().next()
}

fn spawn_bot(
    dir: &Path,
    config: &Path,
    mock: &MockPolymarket,
    log: &Arc<Mutex<std::fs::File>>,
    run: usize,
) -> Bot {
    let creds = mock.credentials();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--plugin-dir")
        .arg(dir.join("data").join("plugins"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("EQUILIBRAGE_CONFIG")
        .env_remove("EQUILIBRAGE_DATA_DIR")
        .env_remove("EQUILIBRAGE_PLUGIN_DIR")
        .env_remove("EQUILIBRAGE_LISTEN")
        .env("POLYMARKET_PRIVATE_KEY", KEY)
        .env("POLYMARKET_API_KEY", &creds.api_key)
        .env("POLYMARKET_API_SECRET", &creds.secret)
        .env("POLYMARKET_API_PASSPHRASE", &creds.passphrase)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the bot");
    let spawned = Instant::now();
    let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let watch = Arc::new(Mutex::new(Watch::default()));
    let (w, log) = (Arc::clone(&watch), Arc::clone(log));
    let reader = std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(lock(&log), "[run {run:3} +{:5} ms] {line}", spawned.elapsed().as_millis());
            let mut w = lock(&w);
            if let Some(addr) = line.split("dashboard: http://").nth(1) {
                w.addr = Some(addr.trim().to_owned());
            }
            if line.contains("orders journalled but not recorded") {
                w.pending_at_start = field(&line, "pending").and_then(|n| n.parse().ok()).unwrap_or(1);
            }
            if line.contains("reconciled") && !line.contains("outcome=Unknown") {
                w.resolved.extend(field(&line, "client_id").map(str::to_owned));
            }
            if line.contains("panicked") {
                w.panics.push(line.clone());
            }
            if line.contains(" ERROR ") {
                w.errors.push(line.clone());
            }
        }
    });
    Bot { child, watch, reader, spawned }
}

impl Bot {
    /// SIGKILL, and wait until the process and its stderr are gone.
    fn kill(mut self) -> Watch {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap the bot");
        let _ = self.reader.join();
        std::mem::take(&mut *lock(&self.watch))
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("poll the bot")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct EngineConfig {
    auto_trading: bool,
    max_positions: u64,
    allocation: u64,
    leg_retries: u64,
}

fn write_config(path: &Path, mock: &MockPolymarket, clob: &str, e: &EngineConfig) {
    let (http, ws) = (mock.http_url(), mock.ws_url());
    let text = format!(
        r#"[exchange]
mode = "live"

[exchange.polymarket]
clob_url = "{clob}"
gamma_url = "{http}"
ws_url = "{ws}"
chain_id = 137
signature_type = "eoa"
request_timeout_ms = 5000
attempts = 3
backoff_ms = 20
max_backoff_ms = 200
heartbeat_secs = 0

[engine]
auto_trading = {auto}
opportunity_threshold = 1
max_positions = {max}
capital_allocation_percent = "{alloc}"
liquidation_drop_percent = "30"
stop_loss_percent = "15"
take_profit_percent = "20"
max_slippage_percent = "2"
min_liquidity = "500"
min_volume_24h = "0"
min_hours_to_end = 1
max_days_to_end = 90
scan_interval_secs = 10
sweep_interval_secs = 1
leg_retries = {retries}
"#,
        auto = e.auto_trading,
        max = e.max_positions,
        alloc = e.allocation,
        retries = e.leg_retries,
    );
    std::fs::write(path, text).expect("write the config");
}

/// The bot's database, read after the bot is gone.
struct Snapshot {
    positions: Vec<Position>,
    trades: Vec<TradeRecord>,
    intents: Vec<Intent>,
    /// The ledger's cash; `None` before the first start opened the account (killed before).
    cash: Option<Decimal>,
}

fn snapshot(db: &Path) -> Snapshot {
    let store = Store::open(db).unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    let read = store.read().expect("read");
    let account: Option<Account> = read.config(Account::KEY).expect("account");
    Snapshot {
        positions: read.positions().expect("positions"),
        trades: read.trades().expect("trades"),
        intents: read.intents().expect("intents"),
        cash: account.map(|a| a.cash),
    }
}

/// The venue's record.
struct Venue {
    trades: Vec<MockTrade>,
    balance: Decimal,
    shares: BTreeMap<String, Decimal>,
}

fn venue(mock: &MockPolymarket) -> Venue {
    let shares =
        markets().iter().flat_map(|m| m.tokens.clone()).map(|t| (t.clone(), mock.position(&t))).collect();
    Venue { trades: mock.trades(), balance: mock.balance(), shares }
}

/// What an audit found besides failures: what the bot left unfinished, by purpose.
#[derive(Debug, Default)]
struct Audit {
    /// Journalled intents not resolved yet.
    pending: Vec<Purpose>,
    /// Fills at the venue the bot has not recorded yet (each covered by a pending intent), by
    /// the purpose of that intent.
    unrecorded: Vec<Purpose>,
}

fn side_of(action: Action) -> MockSide {
    if action == Action::Buy { MockSide::Buy } else { MockSide::Sell }
}

/// Checks the database against the venue. With `settled`, nothing may be pending; otherwise the
/// venue may be ahead of the store by fills that pending intents cover, and by nothing else.
fn audit(s: &Snapshot, v: &Venue, settled: bool) -> Result<Audit, String> {
    let mut problems = Vec::new();
    let by_id: HashMap<&str, &MockTrade> = v.trades.iter().map(|t| (t.id.as_str(), t)).collect();
    let positions: HashMap<u64, &Position> = s.positions.iter().map(|p| (p.id, p)).collect();

    // Every venue trade id in at most one record, once; every recorded id real and matching.
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for r in &s.trades {
        if r.action == Action::Settle {
            continue;
        }
        let Some(p) = positions.get(&r.position_id) else {
            problems.push(format!("trade {} belongs to unknown position {}", r.id, r.position_id));
            continue;
        };
        let token = &p.legs[r.leg.index()].token;
        if r.exchange_trade_ids.is_empty() {
            problems.push(format!("trade {} ({:?} {:?}) has no venue trade id", r.id, r.action, r.purpose));
        }
        let (mut shares, mut notional, mut fee) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for id in &r.exchange_trade_ids {
            if let Some(first) = seen.insert(id.as_str(), r.id) {
                problems.push(format!("venue trade {id} recorded twice: in trades {first} and {}", r.id));
            }
            match by_id.get(id.as_str()) {
                None => problems
                    .push(format!("trade {} names venue trade {id}, which the venue never made", r.id)),
                Some(t) => {
                    if &t.asset_id != token || t.side != side_of(r.action) || t.status == TradeStatus::Failed
                    {
                        problems.push(format!(
                            "trade {} names venue trade {id} of another token, side or a failed one: {t:?}",
                            r.id
                        ));
                    }
                    shares += t.size;
                    notional += t.size * t.price;
                    fee += t.fee;
                }
            }
        }
        if (shares, notional) != (r.shares, r.notional) {
            problems.push(format!(
                "trade {} ({:?} {:?}) records {} shares for {} pUSD; its venue trades are {shares} for {notional}",
                r.id, r.action, r.purpose, r.shares, r.notional
            ));
        }
        if fee != r.fee {
            problems.push(format!(
                "trade {} ({:?} {:?}, {} shares for {}) records a fee of {}; the venue charged {fee}",
                r.id, r.action, r.purpose, r.shares, r.notional, r.fee
            ));
        }
    }

    // Fills the store does not have: each must be one a pending intent will reconcile.
    let unrecorded: Vec<&MockTrade> = v
        .trades
        .iter()
        .filter(|t| t.status != TradeStatus::Failed && !seen.contains_key(t.id.as_str()))
        .collect();
    let mut unrecorded_purposes = Vec::new();
    for t in &unrecorded {
        let covering = s.intents.iter().find(|i| i.token == t.asset_id && side_of(i.action) == t.side);
        unrecorded_purposes.extend(covering.map(|i| i.purpose));
        let covered = covering.is_some();
        if settled || !covered {
            problems.push(format!(
                "venue trade {} ({:?} {} × {} of {}, order {}) is in no trade record{}",
                t.id,
                t.side,
                t.size,
                t.price,
                t.asset_id,
                t.order_id,
                if covered { "" } else { " and no pending intent covers it: lost" }
            ));
        }
    }
    if settled && !s.intents.is_empty() {
        problems.push(format!("{} intents still pending: {:?}", s.intents.len(), s.intents));
    }

    // Cash: the venue's balance is the ledger's plus what the unrecorded fills moved.
    let in_flight_cash: Decimal = unrecorded
        .iter()
        .map(|t| match t.side {
            MockSide::Buy => -(t.size * t.price) - t.fee,
            MockSide::Sell => t.size * t.price - t.fee,
        })
        .sum();
    match s.cash {
        Some(cash) if cash + in_flight_cash != v.balance => problems.push(format!(
            "the ledger's cash is {cash} (+ {in_flight_cash} in unrecorded fills); the venue holds {}",
            v.balance
        )),
        Some(_) => {}
        None if settled || !s.trades.is_empty() || !s.positions.is_empty() => {
            problems.push("no account in the store (after the final start, or beside trades)".to_owned());
        }
        None => {}
    }

    // Shares, per token: recorded trades, positions and the venue agree.
    let mut recorded: BTreeMap<&str, Decimal> = BTreeMap::new();
    for r in &s.trades {
        let Some(p) = positions.get(&r.position_id) else { continue };
        let n = recorded.entry(p.legs[r.leg.index()].token.as_str()).or_default();
        match r.action {
            Action::Buy => *n += r.shares,
            Action::Sell | Action::Settle => *n -= r.shares,
        }
    }
    let mut held: BTreeMap<&str, Decimal> = BTreeMap::new();
    for p in &s.positions {
        for l in &p.legs {
            *held.entry(l.token.as_str()).or_default() += l.held();
        }
        // A closed position may keep dust below a hundredth of a share (a buy by pUSD leaves
        // some; shares trade in hundredths): it is counted above, it just cannot be sold.
        if (!p.status.is_open() && p.legs.iter().any(|l| l.is_held()))
            || p.legs.iter().any(|l| l.held().is_sign_negative())
        {
            problems.push(format!("position {} is {:?} and holds {:?}", p.id, p.status, p.legs));
        }
    }
    for (token, at_venue) in &v.shares {
        let unrecorded: Decimal = unrecorded
            .iter()
            .filter(|t| &t.asset_id == token)
            .map(|t| if t.side == MockSide::Buy { t.size } else { -t.size })
            .sum();
        let rec = recorded.get(token.as_str()).copied().unwrap_or_default();
        let pos = held.get(token.as_str()).copied().unwrap_or_default();
        if rec + unrecorded != *at_venue || rec != pos {
            problems.push(format!(
                "token …{}: trades say {rec} held (+ {unrecorded} unrecorded), positions {pos}, the venue {at_venue}",
                &token[token.len() - 4..]
            ));
        }
    }

    // Each position is the sum of its trades.
    for p in &s.positions {
        for (i, l) in p.legs.iter().enumerate() {
            let mine = s.trades.iter().filter(|r| r.position_id == p.id && r.leg.index() == i);
            let (mut bought, mut cost, mut sold, mut proceeds, mut fees) =
                (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
            for r in mine {
                if r.action == Action::Buy {
                    bought += r.shares;
                    cost += r.notional;
                } else {
                    sold += r.shares;
                    proceeds += r.notional;
                }
                fees += r.fee;
            }
            if (bought, cost, sold, proceeds, fees) != (l.bought, l.cost, l.sold, l.proceeds, l.fees) {
                problems.push(format!("position {} side {i} disagrees with its trades: {l:?}", p.id));
            }
        }
    }

    // One open position per market.
    let mut open: HashMap<&str, u64> = HashMap::new();
    for p in s.positions.iter().filter(|p| p.status.is_open()) {
        if let Some(other) = open.insert(p.market_id.as_str(), p.id) {
            problems.push(format!("positions {other} and {} are both open on market {}", p.id, p.market_id));
        }
    }

    if problems.is_empty() {
        Ok(Audit { pending: s.intents.iter().map(|i| i.purpose).collect(), unrecorded: unrecorded_purposes })
    } else {
        Err(problems.join("\n"))
    }
}

/// The venue's front door: forwards every CLOB request to the mock and sees it through even when
/// the client has gone, as a real venue does with an order it has received (the mock alone would
/// drop a request whose connection closed). Counts order placements not answered yet.
struct FrontDoor {
    url: String,
    orders_in_flight: Arc<AtomicUsize>,
}

async fn front_door(upstream: String) -> FrontDoor {
    let client = reqwest::Client::new();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&in_flight);
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (client, upstream, counter) = (client.clone(), upstream.clone(), Arc::clone(&counter));
        async move { forward(client, &upstream, counter, req).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the front door");
    let url = format!("http://{}", listener.local_addr().expect("front door address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FrontDoor { url, orders_in_flight: in_flight }
}

async fn forward(
    client: reqwest::Client,
    upstream: &str,
    in_flight: Arc<AtomicUsize>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 8 << 20).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let order = parts.method == axum::http::Method::POST && parts.uri.path() == "/order";
    let url = format!("{upstream}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    let request = client.request(parts.method.clone(), url).headers(headers).body(body);
    if order {
        in_flight.fetch_add(1, Ordering::SeqCst);
    }
    // Detached: dropping this handler (the client went away) does not stop it.
    let answered = tokio::spawn(async move {
        let result = async {
            let response = request.send().await?;
            let (status, headers) = (response.status(), response.headers().clone());
            Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
        }
        .await;
        if order {
            in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        result
    })
    .await;
    match answered {
        Ok(Ok((status, headers, body))) => (status, headers, body).into_response(),
        _ => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

fn order_posts(mock: &MockPolymarket) -> usize {
    mock.requests().iter().filter(|r| r.method == "POST" && r.path == "/order").count()
}

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

/// What a failure report names: the seed to replay and the log to read.
struct Ctx {
    seed: u64,
    log: PathBuf,
}

impl Ctx {
    fn fail(&self, what: &str, detail: &str) -> ! {
        panic!("{what} (seed {}; logs in {})\n{detail}", self.seed, self.log.display())
    }

    /// Waits until the bot's engine is up (recovery done, dashboard served).
    async fn up(&self, bot: &mut Bot, run: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while lock(&bot.watch).addr.is_none() {
            if let Some(status) = bot.exited() {
                let watch = std::mem::take(&mut *lock(&bot.watch));
                self.fail(
                    &format!("run {run}: the bot exited ({status}) before it was up"),
                    &watch.errors.join("\n"),
                );
            }
            if Instant::now() > deadline {
                self.fail(&format!("run {run}: the bot was not up within {TIMEOUT:?}"), "");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        u64::try_from(t.as_nanos() % u128::from(u64::MAX)).unwrap_or(42)
    });
    eprintln!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("data").join("equilibrage.redb");
    let ctx = Ctx { seed, log: dir.join("bot.log") };
    let log = Arc::new(Mutex::new(std::fs::File::create(&ctx.log).unwrap()));

    let mock = Arc::new(MockPolymarket::start().await);
    let end =
        (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (i, m) in markets().iter().enumerate() {
        let mut market =
            MockMarket::binary(&format!("{}", 900 + i), &m.condition, &m.tokens[0], &m.tokens[1]);
        market.question = format!("Crash market {i}?");
        market.end_date.clone_from(&end);
        // Half the markets charge the taker fee (2 %, exponent 1): fees must agree to the digit.
        market.fee_rate = if i % 2 == 0 { dec!(0.02) } else { Decimal::ZERO };
        mock.add_market(market);
        set_phase(&mock, m, Phase::Calm);
    }
    mock.set_balance(dec!(10000));

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
    let idle = EngineConfig { auto_trading: false, max_positions: 4, allocation: 5, leg_retries: 1 };
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
