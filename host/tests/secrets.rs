//! A full live-mode session at trace level against the mock exchange, then a search for the
//! wallet key, the API secret, the passphrase, the password and the access token in everything
//! the bot wrote: its log, its stdout, its database and data files, and its API answers.

use base64::Engine as _;
use equilibrage::wallet::keystore::Strength;
use equilibrage::wallet::{ApiCredentials, WalletDir};
use equilibrage_testkit::{MockMarket, MockPolymarket};
use rust_decimal_macros::dec;
use secrecy::SecretString;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::KEY;

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");
const PASSWORD: &str = "leak-test wallet password 81f3";
const TOKEN: &str = "leak-test-access-token-5d2e9a71c4";

fn config(mock: &MockPolymarket) -> String {
    format!(
        r#"[exchange]
mode = "live"

[exchange.polymarket]
clob_url = "{http}"
gamma_url = "{http}"
ws_url = "{ws}"
chain_id = 137
signature_type = "eoa"
request_timeout_ms = 5000
attempts = 2
backoff_ms = 20
max_backoff_ms = 200
heartbeat_secs = 0

[engine]
auto_trading = true
opportunity_threshold = 1
max_positions = 2
capital_allocation_percent = "5"
min_liquidity = "500"
min_volume_24h = "0"
min_hours_to_end = 1
max_days_to_end = 90
scan_interval_secs = 10
sweep_interval_secs = 1
"#,
        http = mock.http_url(),
        ws = mock.ws_url(),
    )
}

/// A request with the access token; the raw response.
fn http(addr: &str, method: &str, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else { return String::new() };
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = if method == "GET" { "" } else { "{}" };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Every file the bot wrote under `dir`, except the encrypted wallet files and the plugin
/// directory and compile cache (copies and compilations of the embedded plugins).
fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["wallet", "plugins", "cache"].contains(&name.as_str()) {
                files(&path, out);
            }
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_stdout_the_database_or_api_answers() {
    let mock = MockPolymarket::start().await;
    let end =
        (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for i in 0..3u64 {
        let (yes, no) = (format!("{}", 8_000_000 + 2 * i), format!("{}", 8_000_001 + 2 * i));
        let mut market =
            MockMarket::binary(&format!("{}", 700 + i), &format!("0x{:064x}", 0xa0 + i), &yes, &no);
        market.end_date.clone_from(&end);
        mock.add_market(market);
        for token in [&yes, &no] {
            mock.set_book(token, &[(dec!(0.49), dec!(100000))], &[(dec!(0.50), dec!(100000))]);
        }
    }
    mock.set_balance(dec!(10000));
    let creds = mock.credentials();

    // The key and the API credentials live only in the encrypted keystore.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wallet = WalletDir::in_data_dir(&data).with_strength(Strength::LIGHT);
    let password = SecretString::from(PASSWORD.to_owned());
    wallet.import_key(&SecretString::from(KEY.to_owned()), &password, false).unwrap();
    let api = ApiCredentials {
        key: creds.api_key.clone(),
        secret: SecretString::from(creds.secret.clone()),
        passphrase: SecretString::from(creds.passphrase.clone()),
    };
    wallet.store_credentials(&api, &password).unwrap();
    let config_path = tmp.path().join("live.toml");
    std::fs::write(&config_path, config(&mock)).unwrap();
    let log_path = tmp.path().join("bot.log");
    let out_path = tmp.path().join("bot.out");

    let mut bot = Command::new(BIN)
        .arg("--config")
        .arg(&config_path)
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("EQUILIBRAGE_CONFIG")
        .env_remove("EQUILIBRAGE_DATA_DIR")
        .env_remove("EQUILIBRAGE_PLUGIN_DIR")
        .env_remove("EQUILIBRAGE_LISTEN")
        .env_remove("POLYMARKET_PRIVATE_KEY")
        .env_remove("POLYMARKET_API_KEY")
        .env_remove("POLYMARKET_API_SECRET")
        .env_remove("POLYMARKET_API_PASSPHRASE")
        .env("EQUILIBRAGE_WALLET_PASSWORD", PASSWORD)
        .env("EQUILIBRAGE_TOKEN", TOKEN)
        // Everything at trace, but the plugin compiler's own code-generation traces (the
        // plugins compile before the wallet is unlocked; at trace they take minutes).
        .env("RUST_LOG", "trace,cranelift_codegen=info,cranelift_frontend=info,regalloc2=info,wasmtime_cranelift=info,wasmtime_environ=info,wasmtime=info,cranelift_entity=info,wasmparser=info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();

    // Up, signed in, trading: wait for the dashboard and for fills at the venue.
    let started = Instant::now();
    let addr = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(addr) = log.lines().find_map(|l| l.split("dashboard: http://").nth(1)) {
            break addr.trim().to_owned();
        }
        assert!(bot.try_wait().unwrap().is_none(), "the bot exited:\n{log}");
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no dashboard; the log ends:\n{}",
            tail.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    while mock.trades().len() < 2 && started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(mock.trades().len() >= 2, "the session traded (auto trading entered a position)");
    let mut answers = String::new();
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/api/config"),
        ("GET", "/api/dashboard/overview"),
        ("GET", "/api/dashboard/performance"),
        ("GET", "/api/positions"),
        ("GET", "/api/positions/history"),
        ("GET", "/api/opportunities"),
        ("POST", "/api/opportunities/scan"),
        ("GET", "/api/plugins"),
        ("GET", "/api/trades"),
        ("GET", "/api/trades.csv"),
        ("GET", "/"),
        ("GET", "/settings"),
    ] {
        let answer = http(&addr, method, path);
        assert!(answer.starts_with("HTTP/1.1 "), "{method} {path}: {answer}");
        answers.push_str(&answer);
    }
    assert!(answers.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), "the address is shown");
    tokio::time::sleep(Duration::from_secs(1)).await;
    bot.kill().unwrap();
    bot.wait().unwrap();

    let log = std::fs::read(&log_path).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains(" TRACE "), "the session logged at trace level");
    assert!(text.contains("LIVE trading on Polymarket"), "the session ran in live mode");
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("log".into(), log.clone()),
        ("stdout".into(), std::fs::read(&out_path).unwrap()),
        ("API answers".into(), answers.into_bytes()),
    ];
    files(&data, &mut places);
    assert!(places.iter().any(|(name, _)| name.ends_with("equilibrage.redb")), "the database is searched");

    let key_hex = KEY.trim_start_matches("0x");
    let key_bytes = hex::decode(key_hex).unwrap();
    let secret_bytes = base64::engine::general_purpose::STANDARD.decode(&creds.secret).unwrap();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("the key (hex)", key_hex.as_bytes().to_vec()),
        ("the key (upper-case hex)", key_hex.to_uppercase().into_bytes()),
        ("the key (bytes)", key_bytes),
        ("the API secret", creds.secret.as_bytes().to_vec()),
        ("the API secret (decoded)", secret_bytes),
        ("the passphrase", creds.passphrase.as_bytes().to_vec()),
        ("the wallet password", PASSWORD.as_bytes().to_vec()),
        ("the access token", TOKEN.as_bytes().to_vec()),
    ];
    for (place, bytes) in &places {
        for (what, secret) in &secrets {
            assert!(!find(bytes, secret), "{what} found in {place}");
        }
    }
    eprintln!(
        "searched {} places ({} bytes of trace log) for {} secrets",
        places.len(),
        log.len(),
        secrets.len()
    );
}

/// The panic hook blanks registered secrets: a child run of this test panics with the password
/// in its message, and its standard error shows the message without it.
#[test]
fn a_panic_message_carrying_a_secret_is_blanked() {
    const CHILD: &str = "EQUILIBRAGE_TEST_PANIC_CHILD";
    if std::env::var_os(CHILD).is_some() {
        equilibrage::logging::init();
        equilibrage::logging::register_secret(PASSWORD);
        panic!("could not unlock the keystore with {PASSWORD}");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["a_panic_message_carrying_a_secret_is_blanked", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child panicked");
    assert!(stderr.contains("could not unlock the keystore with [redacted]"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}
