//! The wallet doctor against the mock Polymarket: a correct EOA passes and its test order is
//! posted and cancelled; a proxy funded by its own key, an empty wallet, refused API credentials and the
//! deposit-wallet refusal each fail with their fix; nothing is posted unless asked; no report
//! carries a secret. Through the dashboard's backend on a running live engine, and through the CLI.

use equilibrage::engine::{Clock, Engine, EngineOptions, Settings};
use equilibrage::exchange::Exchange;
use equilibrage::exchange::polymarket::{LiveExchange, WalletType};
use equilibrage::store::Store;
use equilibrage::wallet::doctor::{self, Report, Status};
use equilibrage::web_backend::{HostBackend, Venue, WalletInfo};
use equilibrage_testkit::{MockMarket, MockPolymarket, OrderStatus};
use rust_decimal_macros::dec;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use support::{KEY, live_config, signer};

mod support;

const CONDITION: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";
const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";
const ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const DEPOSIT_REFUSAL: &str = "maker address not allowed, please use the deposit wallet flow";

/// A mock with one liquid binary market and 1000 pUSD.
async fn mock() -> MockPolymarket {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("701", CONDITION, YES, NO);
    market.question = "Will the doctor pass?".into();
    mock.add_market(market);
    mock.set_book(YES, &[(dec!(0.48), dec!(100))], &[(dec!(0.52), dec!(100))]);
    mock.set_book(NO, &[(dec!(0.47), dec!(100))], &[(dec!(0.53), dec!(100))]);
    mock.set_balance(dec!(1000));
    mock
}

/// The doctor as `equilibrage wallet doctor` runs it, for the test key at the mock.
async fn run(mock: &MockPolymarket, wallet: WalletType, test_order: bool) -> Report {
    let signer = equilibrage::exchange::polymarket::SignerConfig { wallet, ..signer(mock, true) };
    doctor::run_live(live_config(mock), signer, test_order, None).await
}

fn status(report: &Report, id: &str) -> Status {
    report.check(id).unwrap_or_else(|| panic!("no check {id}: {report}")).status
}

fn fix(report: &Report, id: &str) -> String {
    report.check(id).and_then(|c| c.fix.clone()).unwrap_or_else(|| panic!("no fix for {id}: {report}"))
}

/// Requests for an order path (`POST`/`DELETE /order`).
fn order_requests(mock: &MockPolymarket, method: &str) -> usize {
    mock.requests().iter().filter(|r| r.method == method && r.path == "/order").count()
}

/// Neither the key nor the API secret, passphrase or key appear anywhere in the report.
fn assert_no_secret(mock: &MockPolymarket, text: &str) {
    let c = mock.credentials();
    for secret in [KEY, KEY.trim_start_matches("0x"), &c.secret, &c.passphrase, &c.api_key] {
        assert!(!text.contains(secret), "a secret in the report: {text}");
    }
}

#[tokio::test]
async fn a_correct_eoa_passes_and_its_test_order_is_posted_and_cancelled() {
    let mock = mock().await;
    let report = run(&mock, WalletType::Eoa, true).await;
    for id in ["wallet", "api_key", "balance", "allowance", "test_order"] {
        assert_eq!(status(&report, id), Status::Pass, "{id}: {report}");
    }
    assert!(report.passed());
    assert_eq!(report.address.as_deref(), Some(ADDRESS));
    assert!(report.check("balance").unwrap().detail.contains("1000 pUSD"), "{report}");

    // Exactly one order: a post-only GTC BUY of the minimum size at the lowest tick, cancelled.
    let orders = mock.orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    let o = &orders[0];
    assert_eq!((o.asset_id.as_str(), o.price, o.original_size), (YES, dec!(0.01), dec!(5)));
    assert!(o.post_only && o.order_type == "GTC" && o.side == equilibrage_testkit::Side::Buy, "{o:?}");
    assert_eq!(o.status, OrderStatus::Canceled, "cancelled at once");
    assert_eq!((order_requests(&mock, "POST"), order_requests(&mock, "DELETE")), (1, 1));
    assert!(report.check("test_order").unwrap().detail.contains(&o.id), "{report}");
    assert_eq!(mock.balance(), dec!(1000), "nothing traded");

    let json = serde_json::to_string(&report).unwrap();
    assert_no_secret(&mock, &json);
    assert_no_secret(&mock, &report.to_string());
}

#[tokio::test]
async fn without_test_order_nothing_is_posted() {
    let mock = mock().await;
    let report = run(&mock, WalletType::Eoa, false).await;
    assert!(report.passed(), "{report}");
    assert_eq!(status(&report, "test_order"), Status::Skipped);
    assert!(report.check("test_order").unwrap().detail.contains("--test-order"), "{report}");
    assert!(mock.orders().is_empty());
    assert_eq!(order_requests(&mock, "POST"), 0);
}

#[tokio::test]
async fn a_proxy_without_funder_is_warned_and_one_funded_by_its_own_key_fails() {
    let mock = mock().await;
    // Signing in derives the proxy address from the key: it works, with a warning to name it.
    let report = run(&mock, WalletType::Proxy, false).await;
    assert_eq!(status(&report, "wallet"), Status::Warn, "{report}");
    let fix = fix(&report, "wallet");
    assert!(fix.contains("[exchange.polymarket] funder"), "{fix}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.signature_type, "proxy");
    assert_eq!(status(&report, "api_key"), Status::Pass, "{report}");

    // A proxy whose funder is the signing key itself is a mistake.
    let own = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".to_owned();
    let signer = equilibrage::exchange::polymarket::SignerConfig {
        wallet: WalletType::Proxy,
        funder: Some(own),
        ..signer(&mock, true)
    };
    let report = doctor::run_live(live_config(&mock), signer, false, None).await;
    assert_eq!(status(&report, "wallet"), Status::Fail, "{report}");
    assert!(!report.passed());
    let shown = report.to_string();
    assert!(shown.contains("✗ Signature type and funder: ") && shown.contains("    fix: Set"), "{shown}");
}

#[tokio::test]
async fn an_empty_wallet_fails_the_balance_check() {
    let mock = mock().await;
    mock.set_balance(dec!(0));
    let report = run(&mock, WalletType::Eoa, false).await;
    assert_eq!(status(&report, "balance"), Status::Fail, "{report}");
    assert!(fix(&report, "balance").contains("Deposit pUSD"), "{report}");
    assert_eq!(status(&report, "allowance"), Status::Pass, "the mock approves everything");
    assert_eq!(report.failures(), 1);
}

#[tokio::test]
async fn the_deposit_wallet_refusal_gives_the_deposit_wallet_fix() {
    let mock = mock().await;
    mock.faults().fail_next("/order", 400, DEPOSIT_REFUSAL, 1);
    let report = run(&mock, WalletType::Eoa, true).await;
    assert_eq!(status(&report, "test_order"), Status::Fail, "{report}");
    assert!(report.check("test_order").unwrap().detail.contains(DEPOSIT_REFUSAL), "{report}");
    let fix = fix(&report, "test_order");
    assert!(fix.contains("signature_type = \"deposit\"") && fix.contains("funder"), "{fix}");
    assert!(mock.orders().is_empty(), "nothing rests");
    assert_eq!(order_requests(&mock, "DELETE"), 0, "nothing to cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_dropped_between_posting_and_cancelling_still_cancels_its_order() {
    let mock = mock().await;
    // Posting and cancelling take half a second each: the caller gives up once the cancel is in
    // flight (the server then never completes that one).
    mock.faults().delay("/order", Duration::from_millis(500));
    let run = run(&mock, WalletType::Eoa, true);
    let cancelling = async {
        while order_requests(&mock, "DELETE") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        report = run => panic!("the doctor finished first: {report}"),
        () = cancelling => {}
    }
    assert_eq!(order_requests(&mock, "POST"), 1);
    tokio::time::timeout(Duration::from_secs(10), async {
        while !mock.orders().first().is_some_and(|o| o.status == OrderStatus::Canceled) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the test order is cancelled in the background");
    assert_eq!(mock.orders().len(), 1);
}

#[tokio::test]
async fn a_refused_api_key_fails_with_how_to_renew_it_and_nothing_is_posted() {
    let mock = mock().await;
    mock.faults().fail_next("/data/orders", 401, "Unauthorized/Invalid api key", 1);
    let report = run(&mock, WalletType::Eoa, true).await;
    assert_eq!(status(&report, "api_key"), Status::Fail, "{report}");
    let fix = fix(&report, "api_key");
    assert!(fix.contains("clob-credentials.json") && fix.contains("wallet api-key"), "{fix}");
    for id in ["balance", "allowance", "test_order"] {
        assert_eq!(status(&report, id), Status::Skipped, "{id}: {report}");
    }
    assert_eq!(order_requests(&mock, "POST"), 0);
    assert_no_secret(&mock, &serde_json::to_string(&report).unwrap());
}

#[tokio::test]
async fn a_failed_sign_in_is_the_api_key_check_and_skips_the_rest() {
    let mock = mock().await;
    // Without configured credentials the key derives them (L1); the exchange refuses.
    mock.faults().fail_next("/auth/", 401, "Unauthorized/Invalid api key", 10);
    let report = doctor::run_live(live_config(&mock), signer(&mock, false), true, None).await;
    let api_key = report.check("api_key").unwrap();
    assert_eq!(api_key.status, Status::Fail, "{report}");
    assert!(api_key.detail.starts_with("signing in failed"), "{report}");
    assert_eq!(status(&report, "wallet"), Status::Pass);
    assert_eq!(status(&report, "test_order"), Status::Skipped);
    assert_eq!(order_requests(&mock, "POST"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_checks_the_running_live_venue() {
    let mock = mock().await;
    let (_plugins_dir, plugins) = support::runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let live: Arc<dyn Exchange> = Arc::new(
        LiveExchange::connect(live_config(&mock), signer(&mock, true)).await.expect("sign-in at the mock"),
    );
    let options = EngineOptions { settings: Settings::default(), clock: Clock::system(), metrics: true };
    let engine = Engine::open(Arc::clone(&live), plugins.clone(), store, options).await.unwrap();
    let venue = Venue::polled(Arc::clone(&live), Duration::from_secs(3_600));
    let wallet =
        WalletInfo { address: Some(ADDRESS.into()), key_present: true, ..WalletInfo::for_mode("live") };
    let backend = HostBackend::new(plugins, venue, engine, wallet);
    let view = equilibrage_web::Backend::wallet_doctor(&backend, true).await.unwrap();
    assert!(view.ok, "{view:?}");
    assert_eq!(view.address.as_deref(), Some(ADDRESS));
    let statuses: Vec<_> = view.checks.iter().map(|c| (c.id.as_str(), c.status)).collect();
    assert_eq!(
        statuses,
        [
            ("wallet", equilibrage_web::DoctorStatus::Pass),
            ("api_key", equilibrage_web::DoctorStatus::Pass),
            ("balance", equilibrage_web::DoctorStatus::Pass),
            ("allowance", equilibrage_web::DoctorStatus::Pass),
            ("test_order", equilibrage_web::DoctorStatus::Pass),
        ]
    );
    let orders = mock.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status, OrderStatus::Canceled);
    assert_no_secret(&mock, &serde_json::to_string(&view).unwrap());
}

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");

/// `equilibrage wallet doctor [--test-order]` with a live configuration at the mock and the
/// test key and credentials in the environment.
async fn cli(mock: &MockPolymarket, mode: &str, test_order: bool) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("live.toml");
    std::fs::write(
        &config,
        format!(
            "[exchange]\nmode = \"{mode}\"\n[exchange.polymarket]\nclob_url = \"{http}\"\ngamma_url = \"{http}\"\n\
             ws_url = \"{ws}\"\nsignature_type = \"eoa\"\nfunder = \"\"\n",
            http = mock.http_url(),
            ws = mock.ws_url()
        ),
    )
    .unwrap();
    let c = mock.credentials();
    let mut command = Command::new(BIN);
    command
        .args(["wallet", "doctor", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("POLYMARKET_PRIVATE_KEY", KEY)
        .env("POLYMARKET_API_KEY", &c.api_key)
        .env("POLYMARKET_API_SECRET", &c.secret)
        .env("POLYMARKET_API_PASSPHRASE", &c.passphrase)
        .env_remove("EQUILIBRAGE_WALLET_PASSWORD")
        .env("NO_COLOR", "1");
    if test_order {
        command.arg("--test-order");
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_each_check_and_exits_non_zero_on_a_failure() {
    let mock = mock().await;
    let (out, stdout) = cli(&mock, "live", true).await;
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "✓ Signature type and funder: ",
        "✓ API key: ",
        "✓ pUSD balance: ",
        "✓ pUSD allowances: ",
        "✓ Test order: ",
        "No check failed.",
    ] {
        assert!(stdout.contains(line), "missing {line:?}: {stdout}");
    }
    assert_eq!(mock.orders().len(), 1);
    assert_eq!(mock.orders()[0].status, OrderStatus::Canceled);
    assert_no_secret(&mock, &stdout);
    assert_no_secret(&mock, &String::from_utf8_lossy(&out.stderr));

    mock.set_balance(dec!(0));
    let (out, stdout) = cli(&mock, "live", false).await;
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("✗ pUSD balance: ") && stdout.contains("    fix: Deposit pUSD"), "{stdout}");
    assert!(stdout.contains("- Test order: skipped: "), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 failing check"));
    assert_eq!(mock.orders().len(), 1, "no second order");

    let (out, _) = cli(&mock, "sim", false).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exchange.mode = \"live\""));
}
