//! The real binary in live mode against the mock Polymarket, for the crash and soak tests:
//! seeded schedules, markets whose books swing, spawning and killing the bot, its database read
//! after it is gone, and the audit of that database against the venue's record.

use equilibrage::engine::Account;
use equilibrage::store::{Action, Intent, Position, Purpose, Settlement, Store, TradeRecord};
use equilibrage_testkit::{MockMarket, MockPolymarket, MockTrade, Side as MockSide, TradeStatus};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::KEY;

pub const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");
pub const MARKETS: usize = 6;
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The dashboard's access token every spawned bot gets (`EQUILIBRAGE_TOKEN`).
pub const TOKEN: &str = "soak-and-crash-test-token-0123456789";

/// splitmix64: small, seedable, good enough for schedules.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub struct Mkt {
    pub condition: String,
    pub tokens: [String; 2],
}

pub fn markets() -> Vec<Mkt> {
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
pub enum Phase {
    Calm,
    Crash { side: usize, other_rallies: bool },
}

pub fn set_phase(mock: &MockPolymarket, m: &Mkt, phase: Phase) {
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

/// A mock with the [`markets`] listed (questions `"{name} market {i}?"`, ending in 30 days, half
/// of them charging a 2 % taker fee), calm books and 10,000 pUSD.
pub async fn mock_with_markets(name: &str) -> MockPolymarket {
    let mock = MockPolymarket::start().await;
    let end =
        (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (i, m) in markets().iter().enumerate() {
        let mut market =
            MockMarket::binary(&format!("{}", 900 + i), &m.condition, &m.tokens[0], &m.tokens[1]);
        market.question = format!("{name} market {i}?");
        market.end_date.clone_from(&end);
        // Half the markets charge the taker fee (2 %, exponent 1): fees must agree to the digit.
        market.fee_rate = if i % 2 == 0 { dec!(0.02) } else { Decimal::ZERO };
        mock.add_market(market);
        set_phase(&mock, m, Phase::Calm);
    }
    mock.set_balance(dec!(10000));
    mock
}

/// Moves the books until `stop`: every 100–400 ms one market changes phase.
pub async fn move_books(mock: Arc<MockPolymarket>, seed: u64, stop: Arc<AtomicBool>) -> usize {
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
pub struct Watch {
    /// The dashboard address, once the engine is up (recovery done).
    pub addr: Option<String>,
    /// Intents the start found journalled but not recorded.
    pub pending_at_start: usize,
    /// Client ids of intents reconciled to a final answer (filled, or nothing traded).
    pub resolved: Vec<String>,
    /// Client ids of the orders the bot said it sent to the venue, in order.
    pub sent: Vec<String>,
    pub panics: Vec<String>,
    pub errors: Vec<String>,
}

pub struct Bot {
    pub child: Child,
    pub watch: Arc<Mutex<Watch>>,
    pub reader: std::thread::JoinHandle<()>,
    pub spawned: Instant,
}

pub fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.split(&format!("{name}=")).nth(1)?;
    rest.split_whitespace().next()
}

pub fn spawn_bot(
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
        .env("EQUILIBRAGE_TOKEN", TOKEN)
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
            if line.contains("order sent") {
                w.sent.extend(field(&line, "client_id").map(str::to_owned));
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
    pub fn kill(mut self) -> Watch {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap the bot");
        let _ = self.reader.join();
        std::mem::take(&mut *lock(&self.watch))
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("poll the bot")
    }

    /// The process's peak resident memory so far, bytes (Linux `VmHWM`).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct EngineConfig {
    pub auto_trading: bool,
    pub max_positions: u64,
    pub allocation: u64,
    pub leg_retries: u64,
    /// How long the bot waits for a venue answer, ms.
    pub request_timeout_ms: u64,
    /// Heartbeats every so many seconds (0: none).
    pub heartbeat_secs: u64,
}

pub fn write_config(path: &Path, mock: &MockPolymarket, clob: &str, e: &EngineConfig) {
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
request_timeout_ms = {timeout}
attempts = 3
backoff_ms = 20
max_backoff_ms = 200
heartbeat_secs = {heartbeat}

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
        timeout = e.request_timeout_ms,
        heartbeat = e.heartbeat_secs,
    );
    std::fs::write(path, text).expect("write the config");
}

/// The bot's database, read after the bot is gone.
pub struct Snapshot {
    pub positions: Vec<Position>,
    pub trades: Vec<TradeRecord>,
    pub intents: Vec<Intent>,
    /// The ledger's cash; `None` before the first start opened the account (killed before).
    pub cash: Option<Decimal>,
}

pub fn snapshot(db: &Path) -> Snapshot {
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
pub struct Venue {
    pub trades: Vec<MockTrade>,
    pub balance: Decimal,
    pub shares: BTreeMap<String, Decimal>,
}

pub fn venue(mock: &MockPolymarket) -> Venue {
    let shares =
        markets().iter().flat_map(|m| m.tokens.clone()).map(|t| (t.clone(), mock.position(&t))).collect();
    Venue { trades: mock.trades(), balance: mock.balance(), shares }
}

/// What an audit found besides failures: what the bot left unfinished, by purpose.
#[derive(Debug, Default)]
pub struct Audit {
    /// Journalled intents not resolved yet.
    pub pending: Vec<Purpose>,
    /// Fills at the venue the bot has not recorded yet (each covered by a pending intent), by
    /// the purpose of that intent.
    pub unrecorded: Vec<Purpose>,
}

pub fn side_of(action: Action) -> MockSide {
    if action == Action::Buy { MockSide::Buy } else { MockSide::Sell }
}

/// Checks the database against the venue. With `settled`, nothing may be pending; otherwise the
/// venue may be ahead of the store by fills that pending intents cover, and by nothing else.
pub fn audit(s: &Snapshot, v: &Venue, settled: bool) -> Result<Audit, String> {
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
                    if &t.asset_id != token || t.side != side_of(r.action) {
                        problems.push(format!(
                            "trade {} names venue trade {id} of another token or side: {t:?}",
                            r.id
                        ));
                    }
                    // A trade that failed at settlement is recorded as failed (and undone), and
                    // only such a one.
                    if (t.status == TradeStatus::Failed) != (r.status == Settlement::Failed) {
                        problems.push(format!(
                            "trade {} is recorded {:?}; its venue trade {id} is {:?}",
                            r.id, r.status, t.status
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
    for r in s.trades.iter().filter(|r| r.status != Settlement::Failed) {
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
            let mine = s
                .trades
                .iter()
                .filter(|r| r.position_id == p.id && r.leg.index() == i && r.status != Settlement::Failed);
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
pub struct FrontDoor {
    pub url: String,
    pub orders_in_flight: Arc<AtomicUsize>,
}

pub async fn front_door(upstream: String) -> FrontDoor {
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

pub async fn forward(
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

pub fn order_posts(mock: &MockPolymarket) -> usize {
    mock.requests().iter().filter(|r| r.method == "POST" && r.path == "/order").count()
}

/// One run of a long test: its seed (from `seed_var`, else the clock), a fresh directory under
/// `$CARGO_TARGET_TMPDIR/<name>/`, the bot's database there, and the log every start appends to.
pub struct Run {
    pub seed: u64,
    pub dir: PathBuf,
    pub db: PathBuf,
    pub ctx: Ctx,
    pub log: Arc<Mutex<std::fs::File>>,
}

impl Run {
    /// Draws the seed (printed, with how to replay it) and makes the run's directory.
    pub fn start(name: &str, seed_var: &str) -> Self {
        let seed = std::env::var(seed_var).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            u64::try_from(t.as_nanos() % u128::from(u64::MAX)).unwrap_or(42)
        });
        eprintln!("{name} test seed {seed} (replay with {seed_var}={seed})");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the run's directory");
        let ctx = Ctx { seed, log: dir.join("bot.log") };
        let log = Arc::new(Mutex::new(std::fs::File::create(&ctx.log).expect("the run's log")));
        Self { seed, db: dir.join("data").join("equilibrage.redb"), dir, ctx, log }
    }
}

/// What a failure report names: the seed to replay and the log to read.
pub struct Ctx {
    pub seed: u64,
    pub log: PathBuf,
}

impl Ctx {
    pub fn fail(&self, what: &str, detail: &str) -> ! {
        panic!("{what} (seed {}; logs in {})\n{detail}", self.seed, self.log.display())
    }

    /// Waits until the bot's engine is up (recovery done, dashboard served).
    pub async fn up(&self, bot: &mut Bot, run: usize) {
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
