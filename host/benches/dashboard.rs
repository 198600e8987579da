//! Dashboard benchmarks (issue 5), against the running binary on the simulator, results in
//! docs/benchmarks.md:
//! - the Dashboard page with 10,000 closed positions in history while the engine trades (target
//!   p99 ≤ 20 ms and ≥ 1,000 requests/s on 2 cores), with a keep-alive load generator;
//! - a CSV export of 100,000 trades (target ≤ 2 s, streamed: the bot's memory stays flat);
//! - event to browser: from the engine publishing a position update to a WebSocket client having
//!   it, and to that client having refetched the fragment the page swaps in (target ≤ 200 ms).
//!
//! `cargo bench -p equilibrage --bench dashboard [-- SECONDS]` (load duration, default 10).

#![expect(clippy::print_stdout, reason = "a harness-less benchmark reports on stdout")]

use equilibrage::engine::Account;
use equilibrage::store::{
    Action, Leg, LegState, Position, PositionStatus, Purpose, Sequence, Settlement, Store, TradeRecord,
};
use futures_util::{SinkExt as _, StreamExt as _};
use rust_decimal::Decimal;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");
const TOKEN: &str = "bench-access-token-0123456789abcdef";
const CLOSED_POSITIONS: u64 = 10_000;
/// Trades per closed position: each side bought in 2 fills and sold in 3.
const TRADES_PER_POSITION: u64 = 10;
const CONNECTIONS: usize = 16;

fn main() {
    let seconds: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10);
    let data = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    seed(&data.path().join("equilibrage.redb"));
    println!(
        "seeded {CLOSED_POSITIONS} closed positions and {} trades in {:.1} s",
        CLOSED_POSITIONS * TRADES_PER_POSITION,
        started.elapsed().as_secs_f64()
    );
    let mut bot = Bot::start(data.path());
    println!("bot pid {} at http://{}", bot.child.id(), bot.addr);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONNECTIONS)
            // The login answers 303 with the cookie; following it would drop that answer.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let cookie = login(&client, &bot.addr).await;
        // The engine scans and, auto-trading, enters its positions; let it settle first.
        wait_for_positions(&client, &bot.addr, &cookie).await;
        for (name, path) in [
            ("Dashboard page /", "/"),
            ("overview API", "/api/dashboard/overview"),
            ("History page (first 50 of 10,000)", "/history"),
        ] {
            load(&client, &bot.addr, &cookie, name, path, Duration::from_secs(seconds)).await;
        }
        export(&client, &bot.addr, &cookie, bot.child.id()).await;
        live_latency(&client, &bot.addr, &cookie, Duration::from_secs(seconds)).await;
    });
    bot.stop();
}

/// Closed positions with their trades, and the account they leave, written as the engine writes
/// them. Half win, some lose, a few break even; a fifth had a side liquidated.
fn seed(path: &std::path::Path) {
    let store = Store::open(path).expect("open store");
    let now = equilibrage::clock::unix_now_ms();
    let capital = Decimal::from(1_000_000);
    store
        .write_blocking(move |w| {
            let mut account = Account::new(capital, "sim", now - 90 * 86_400_000);
            for i in 0..CLOSED_POSITIONS {
                let id = w.next_id(Sequence::Position)?;
                let opened = now - 60 * 86_400_000 + i64::try_from(i).unwrap() * 500_000;
                let closed = opened + 3_600_000 + i64::try_from(i % 7).unwrap() * 600_000;
                // Exit prices: YES 0.30..0.70 and NO mirrored, so P&L spreads around zero.
                let yes_exit = Decimal::new(30 + i64::try_from(i % 41).unwrap(), 2);
                let no_exit = Decimal::new(68 - i64::try_from(i % 37).unwrap(), 2);
                let mut legs = [leg("yes", "Yes"), leg("no", "No")];
                let mut trades = Vec::new();
                for (index, exit) in [(0_usize, yes_exit), (1, no_exit)] {
                    let side = if index == 0 { Leg::Yes } else { Leg::No };
                    let fills = [
                        (Action::Buy, Decimal::new(5, 1), Decimal::from(500), Purpose::Entry),
                        (Action::Buy, Decimal::new(5, 1), Decimal::from(500), Purpose::Entry),
                        (Action::Sell, exit, Decimal::from(400), Purpose::Close),
                        (Action::Sell, exit, Decimal::from(300), Purpose::Close),
                        (Action::Sell, exit, Decimal::from(300), Purpose::Close),
                    ];
                    for (n, (action, price, shares, purpose)) in fills.into_iter().enumerate() {
                        let notional = price * shares;
                        let fee = (notional * Decimal::new(1, 3)).round_dp(6);
                        let l = &mut legs[index];
                        match action {
                            Action::Buy => {
                                l.bought += shares;
                                l.cost += notional;
                            }
                            _ => {
                                l.sold += shares;
                                l.proceeds += notional;
                            }
                        }
                        l.fees += fee;
                        let trade = TradeRecord {
                            id: w.next_id(Sequence::Trade)?,
                            position_id: id,
                            leg: side,
                            action,
                            purpose,
                            client_id: format!("eq-{id}-{index}-{n}"),
                            order_id: format!("order-{id}-{index}-{n}"),
                            exchange_trade_ids: vec![format!("trade-{id}-{index}-{n}")],
                            price,
                            shares,
                            notional,
                            fee,
                            status: Settlement::Confirmed,
                            tx_hash: Some(format!("0x{id:064x}")),
                            at_ms: if action == Action::Buy { opened } else { closed },
                            reason: if action == Action::Buy {
                                "entry".into()
                            } else {
                                "manual close".into()
                            },
                            decided_by: None,
                        };
                        account.apply(&trade);
                        trades.push(trade);
                    }
                    legs[index].exited_at_ms = Some(closed);
                    legs[index].exit = Some(Purpose::Close);
                }
                let liquidated = (i % 5 == 0).then_some(Leg::No);
                let position = Position {
                    id,
                    market_id: format!("0xseeded{i:060x}"),
                    question: format!("Seeded market number {i}: will the benchmark pass?"),
                    opened_at_ms: opened,
                    capital: Decimal::from(1000),
                    legs,
                    status: PositionStatus::Closed,
                    liquidated,
                    liquidated_at_ms: liquidated.map(|_| closed - 60_000),
                    closed_at_ms: Some(closed),
                    close_reason: Some("manual close".into()),
                    closing: None,
                    score: Some(7.0),
                    scorer: None,
                    fee_rate: Decimal::ZERO,
                    fee_exponent: Decimal::ONE,
                    neg_risk: false,
                    updated_at_ms: closed,
                    version: 1,
                };
                w.put_position(&position)?;
                for t in &trades {
                    w.put_trade(t)?;
                }
            }
            w.put_config(Account::KEY, &account)
        })
        .expect("seed the store");
}

fn leg(token: &str, outcome: &str) -> LegState {
    LegState {
        token: format!("seeded-{token}"),
        outcome: outcome.into(),
        bought: Decimal::ZERO,
        cost: Decimal::ZERO,
        sold: Decimal::ZERO,
        proceeds: Decimal::ZERO,
        fees: Decimal::ZERO,
        exited_at_ms: None,
        exit: None,
    }
}

/// The real binary on the simulator (default config: 300 markets, auto-trading on).
struct Bot {
    child: Child,
    addr: String,
}

impl Bot {
    fn start(data: &std::path::Path) -> Self {
        // The seeded account holds about a million pUSD: entries of 0.1 % of it (about 1,000, as
        // on the default 10,000) pass the simulator's depth check.
        let config = data.join("bench.toml");
        std::fs::write(&config, "[engine]\ncapital_allocation_percent = \"0.1\"\n").expect("config");
        let mut child = Command::new(BIN)
            .args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(data)
            .env("EQUILIBRAGE_TOKEN", TOKEN)
            .env("RUST_LOG", "warn,equilibrage=info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the bot");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split("dashboard: http://").nth(1).map(|a| a.trim().to_owned()))
            .expect("the bot announced its dashboard");
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn login(client: &reqwest::Client, addr: &str) -> String {
    let response = client
        .post(format!("http://{addr}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&next=%2F"))
        .send()
        .await
        .expect("log in");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|c| c.starts_with("eq_session=")))
        .expect("a session cookie")
        .to_owned()
}

async fn wait_for_positions(client: &reqwest::Client, addr: &str, cookie: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: serde_json::Value = client
            .get(format!("http://{addr}/api/dashboard/overview"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("overview")
            .json()
            .await
            .expect("overview JSON");
        if body["active_positions"].as_u64().unwrap_or(0) > 0 {
            println!(
                "engine running: {} open positions, {} closed",
                body["active_positions"], body["stats"]["closed_positions"]
            );
            return;
        }
        assert!(Instant::now() < deadline, "the engine entered no position: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// `CONNECTIONS` keep-alive clients request `path` back to back for `duration` after a 2 s
/// warm-up; every answer must be a 200.
async fn load(
    client: &reqwest::Client,
    addr: &str,
    cookie: &str,
    name: &str,
    path: &str,
    duration: Duration,
) {
    let url = format!("http://{addr}{path}");
    let warm_until = Instant::now() + Duration::from_secs(2);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, cookie, stop, errors) =
            (client.clone(), url.clone(), cookie.to_owned(), Arc::clone(&stop), Arc::clone(&errors));
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(50_000);
            let mut bytes = 0_usize;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = match client.get(&url).header("cookie", &cookie).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.map(|b| bytes = b.len()).is_ok(),
                    _ => false,
                };
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                if t >= warm_until {
                    samples.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                }
            }
            (samples, bytes)
        }));
    }
    tokio::time::sleep_until((warm_until + duration).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut size = 0;
    for t in tasks {
        let (samples, bytes) = t.await.expect("load task");
        all.extend(samples);
        size = size.max(bytes);
    }
    all.sort_unstable();
    #[expect(clippy::cast_precision_loss)]
    let rps = all.len() as f64 / duration.as_secs_f64();
    println!(
        "{name}: {rps:.0} requests/s over {CONNECTIONS} connections, latency p50 {:.2} ms, p90 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms, {} errors, {size} bytes per page",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.9)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or(0)),
        errors.load(Ordering::Relaxed),
    );
}

#[expect(clippy::cast_precision_loss)]
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Resident memory of a process, KiB: (now, high-water mark).
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Downloads the CSV of every trade, timing it and sampling the bot's resident memory meanwhile.
async fn export(client: &reqwest::Client, addr: &str, cookie: &str, pid: u32) {
    let (rss_before, hwm_before) = rss_kib(pid);
    let started = Instant::now();
    let mut response = client
        .get(format!("http://{addr}/history/export.csv"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("export");
    assert!(response.status().is_success(), "export answered {}", response.status());
    let first_byte = started.elapsed();
    let (mut bytes, mut rows, mut rss_peak) = (0_usize, 0_usize, rss_before);
    while let Some(chunk) = response.chunk().await.expect("export chunk") {
        bytes += chunk.len();
        rows += chunk.iter().filter(|&&b| b == b'\n').count();
        rss_peak = rss_peak.max(rss_kib(pid).0);
    }
    let elapsed = started.elapsed();
    let (_, hwm_after) = rss_kib(pid);
    let trades = rows.saturating_sub(1);
    assert!(trades >= usize::try_from(CLOSED_POSITIONS * TRADES_PER_POSITION).unwrap(), "{trades} rows");
    println!(
        "CSV export: {trades} trades, {:.1} MiB in {:.2} s (first byte after {:.0} ms); bot RSS {:.1} MiB \
         before, peak {:.1} MiB during (+{:.1} MiB), high-water mark {:.1} → {:.1} MiB",
        mib(bytes as u64 / 1024),
        elapsed.as_secs_f64(),
        first_byte.as_secs_f64() * 1000.0,
        mib(rss_before),
        mib(rss_peak),
        mib(rss_peak.saturating_sub(rss_before)),
        mib(hwm_before),
        mib(hwm_after),
    );
}

#[expect(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A WebSocket client subscribed to positions, as the page's script is: for every
/// `position_update`, the delay from the engine publishing it (`sent_at_ms`) to its arrival, and
/// to the refetched positions fragment the page swaps in.
async fn live_latency(client: &reqwest::Client, addr: &str, cookie: &str, duration: Duration) {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = format!("ws://{addr}/api/ws").into_client_request().expect("ws request");
    request.headers_mut().insert("cookie", cookie.parse().expect("cookie header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("WebSocket");
    ws.send(Message::text(r#"{"type":"subscribe_positions"}"#)).await.expect("subscribe");
    let (mut arrive, mut refreshed) = (Vec::new(), Vec::new());
    let until = Instant::now() + duration;
    while Instant::now() < until {
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        else {
            continue;
        };
        let now = equilibrage::clock::unix_now_ms();
        let event: serde_json::Value = serde_json::from_str(&text).expect("event JSON");
        if event["type"] != "position_update" {
            continue;
        }
        let sent = event["sent_at_ms"].as_i64().expect("sent_at_ms");
        arrive.push(u64::try_from(now - sent).unwrap_or(0));
        let fragment = client
            .get(format!("http://{addr}/partials/positions"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("fragment");
        assert!(fragment.status().is_success());
        let _ = fragment.bytes().await;
        refreshed.push(u64::try_from(equilibrage::clock::unix_now_ms() - sent).unwrap_or(0));
        // Drain what queued meanwhile, as the page coalesces events into one refetch.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(1), ws.next()).await {}
    }
    arrive.sort_unstable();
    refreshed.sort_unstable();
    println!(
        "event → browser: {} position updates; WebSocket arrival p50 {} ms, p99 {} ms, max {} ms; with the \
         fragment refetched p50 {} ms, p99 {} ms, max {} ms",
        arrive.len(),
        percentile(&arrive, 0.5),
        percentile(&arrive, 0.99),
        arrive.last().copied().unwrap_or(0),
        percentile(&refreshed, 0.5),
        percentile(&refreshed, 0.99),
        refreshed.last().copied().unwrap_or(0),
    );
    assert!(!arrive.is_empty(), "no position update arrived in {duration:?}");
}
