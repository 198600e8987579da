//! On-chain settlement against a real local EVM (ganache, with test contracts of the real ABI):
//! redemption returns the capital exactly, binary and neg-risk; approvals; a redemption that
//! would revert, and one that reverts once mined; a node that drops; a crash between sending and the receipt; and, end to end, a
//! live position resolved on the exchange and redeemed on chain to the ledger's cash exactly.

mod support;

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use equilibrage::chain::{Addresses, Chain, ChainConfig, ChainError};
use equilibrage::engine::{Clock, Engine, EngineOptions, Settings};
use equilibrage::store::PositionStatus;
use equilibrage::store::{ChainTxStatus, Store};
use equilibrage_testkit::chain::{BOT_KEY, CHAIN_ID, LocalChain};
use equilibrage_testkit::{MockMarket, MockPolymarket};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use support::{live, runtime};

fn config(chain: &LocalChain) -> ChainConfig {
    let c = chain.contracts;
    ChainConfig {
        rpc_url: chain.rpc_url(),
        chain_id: CHAIN_ID,
        addresses: Addresses {
            collateral: c.collateral,
            conditional_tokens: c.conditional_tokens,
            exchange: c.exchange,
            neg_risk_exchange: c.neg_risk_exchange,
            neg_risk_adapter: c.neg_risk_adapter,
        },
        timeout: Duration::from_secs(5),
        attempts: 2,
        receipt_wait: Duration::from_secs(20),
        poll: Duration::from_millis(50),
        calls_per_second: 1_000,
    }
}

/// `equilibrage wallet <args>` on `data` with `config_file`, the wallet's password in the
/// environment, no standard input, its output piped.
fn equilibrage(
    args: &[&str],
    config_file: &std::path::Path,
    data: &std::path::Path,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_equilibrage"));
    command
        .arg("wallet")
        .args(args)
        .arg("--config")
        .arg(config_file)
        .arg("--data-dir")
        .arg(data)
        .env("EQUILIBRAGE_WALLET_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .env_remove("EQUILIBRAGE_CONFIG")
        .env_remove("POLYMARKET_PRIVATE_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// The keystore password of the tests' data directories.
const PASSWORD: &str = "correct horse battery staple";

/// A configuration file for the binary: `[chain]` on the local chain and its contracts.
fn chain_config_file(chain: &LocalChain, data: &std::path::Path) -> std::path::PathBuf {
    let c = chain.contracts;
    let file = data.join("chain.toml");
    let text = format!(
        "[chain]\nrpc_url = \"{}\"\nchain_id = {CHAIN_ID}\nreceipt_wait_secs = 60\ncollateral = \"{}\"\n\
         conditional_tokens = \"{}\"\nexchange = \"{}\"\nneg_risk_exchange = \"{}\"\nneg_risk_adapter = \"{}\"\n",
        chain.rpc_url(),
        c.collateral,
        c.conditional_tokens,
        c.exchange,
        c.neg_risk_exchange,
        c.neg_risk_adapter
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn key() -> PrivateKeySigner {
    BOT_KEY.parse().unwrap()
}

fn bot() -> Address {
    key().address()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemption_returns_the_capital_to_the_wallet_exactly() {
    let chain = LocalChain::start().await;
    let (_dir, store) = store();
    let wallet = Chain::connect(config(&chain), key(), store.clone()).unwrap();
    let condition = B256::repeat_byte(0x11);
    // 150.25 YES shares and 80 NO shares held; YES wins.
    chain.deposit(condition, bot(), 1, 150_250_000).await;
    chain.deposit(condition, bot(), 2, 80_000_000).await;
    assert_eq!(wallet.balances().await.unwrap().pusd, dec!(0));

    // Before the result is on chain, the redemption would revert: refused, nothing signed.
    assert!(!wallet.is_resolved(condition).await.unwrap());
    let early = wallet.redeem(condition, None).await.unwrap_err();
    assert!(
        matches!(&early, ChainError::Refused { reason, .. } if reason.contains("not received yet")),
        "{early}"
    );
    assert!(store.read().unwrap().chain_txs().unwrap().is_empty());

    chain.resolve(condition, [1, 0]).await;
    let tx = wallet.redeem(condition, None).await.unwrap();
    assert_eq!(tx.status, ChainTxStatus::Confirmed);
    let balances = wallet.balances().await.unwrap();
    assert_eq!(balances.pusd, dec!(150.25), "the winning shares paid 1 each, the losing ones 0");
    assert!(balances.pol > dec!(999) && balances.pol < dec!(1000), "gas was paid: {}", balances.pol);
    assert_eq!(chain.pusd(bot()).await, U256::from(150_250_000_u64));
    assert_eq!(chain.shares(condition, bot(), 1).await, U256::ZERO);
    assert_eq!(chain.shares(condition, bot(), 2).await, U256::ZERO);
    let journal = store.read().unwrap().chain_txs().unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!((journal[0].kind.as_str(), journal[0].status), ("redeem", ChainTxStatus::Confirmed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_that_reverts_once_mined_is_journalled_as_reverted_and_done_again_once() {
    let chain = LocalChain::start().await;
    let (_dir, store) = store();
    let wallet = Arc::new(Chain::connect(config(&chain), key(), store.clone()).unwrap());
    let condition = B256::repeat_byte(0x33);
    chain.deposit(condition, bot(), 1, 40_000_000).await;
    chain.resolve(condition, [1, 0]).await;

    // Fine when estimated, reverted when mined: the chain's clock passes the halt meanwhile.
    chain.halt_redemptions_from(chain.now().await + 1_800).await;
    chain.pause_mining().await;
    let sending = tokio::spawn({
        let wallet = Arc::clone(&wallet);
        async move { wallet.redeem(condition, None).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while chain.waiting(bot()).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the redemption reaches the pool");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    chain.advance_time(3_600).await;
    chain.resume_mining().await;
    let reverted = sending.await.unwrap().unwrap_err();
    assert!(
        matches!(&reverted, ChainError::Refused { reason, .. } if reason.contains("reverted in block")),
        "{reverted}"
    );
    let journal = store.read().unwrap().chain_txs().unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].status, ChainTxStatus::Reverted);
    assert!(journal[0].block.is_some(), "mined, in a block");
    // Nothing moved: the shares are still held, no pUSD came in, and nothing is left to follow up.
    assert_eq!(chain.shares(condition, bot(), 1).await, U256::from(40_000_000_u64));
    assert_eq!(chain.pusd(bot()).await, U256::ZERO);
    assert!(wallet.reconcile().await.unwrap().is_empty(), "a reverted transaction is closed");

    // Once redemptions go through again, it is done once, and the journal keeps both.
    chain.halt_redemptions_from(u64::MAX).await;
    let tx = wallet.redeem(condition, None).await.unwrap();
    assert_eq!(tx.status, ChainTxStatus::Confirmed);
    assert_eq!(chain.pusd(bot()).await, U256::from(40_000_000_u64));
    let statuses: Vec<ChainTxStatus> =
        store.read().unwrap().chain_txs().unwrap().into_iter().map(|t| t.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == ChainTxStatus::Reverted).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == ChainTxStatus::Confirmed).count(), 1);
    assert_eq!(statuses.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_found_missing_given_once_and_then_a_neg_risk_market_redeems() {
    let chain = LocalChain::start().await;
    let (_dir, store) = store();
    let wallet = Chain::connect(config(&chain), key(), store.clone()).unwrap();
    let missing = wallet.missing_approvals().await.unwrap();
    assert_eq!(missing.len(), 6, "pUSD and outcome shares, for both exchanges and the adapter: {missing:?}");
    assert!(missing.iter().any(|a| a.what.contains("NegRiskAdapter") && a.what.contains("outcome shares")));

    // A neg-risk redemption without the adapter's approval would revert: refused before signing.
    let condition = B256::repeat_byte(0x22);
    chain.deposit(condition, bot(), 2, 40_000_000).await;
    chain.resolve(condition, [0, 1]).await;
    let amounts = [U256::ZERO, U256::from(40_000_000_u64)];
    let refused = wallet.redeem(condition, Some(amounts)).await.unwrap_err();
    assert!(
        matches!(&refused, ChainError::Refused { reason, .. } if reason.contains("not approved")),
        "{refused}"
    );

    for approval in &missing {
        let tx = wallet.approve(approval).await.unwrap();
        assert_eq!(tx.status, ChainTxStatus::Confirmed, "{}", approval.what);
    }
    assert!(wallet.missing_approvals().await.unwrap().is_empty());
    let tx = wallet.redeem(condition, Some(amounts)).await.unwrap();
    assert_eq!(tx.status, ChainTxStatus::Confirmed);
    assert_eq!(wallet.balances().await.unwrap().pusd, dec!(40));
    let journal = store.read().unwrap().chain_txs().unwrap();
    assert_eq!(journal.len(), 7);
    assert!(journal.windows(2).all(|w| w[0].nonce < w[1].nonce), "one nonce each, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_sending_and_the_receipt_redeems_once_after_the_restart() {
    let chain = LocalChain::start().await;
    let (_dir, store) = store();
    let condition = B256::repeat_byte(0x33);
    chain.deposit(condition, bot(), 1, 25_000_000).await;
    chain.resolve(condition, [1, 0]).await;
    {
        // The transaction reaches the node, but no block comes before the bot stops waiting.
        chain.pause_mining().await;
        let mut impatient = config(&chain);
        impatient.receipt_wait = Duration::from_millis(300);
        let wallet = Chain::connect(impatient, key(), store.clone()).unwrap();
        let pending = wallet.redeem(condition, None).await.unwrap_err();
        assert!(matches!(pending, ChainError::Pending { .. }), "{pending}");
        let journal = store.read().unwrap().chain_txs().unwrap();
        assert_eq!(journal.iter().map(|t| t.status).collect::<Vec<_>>(), [ChainTxStatus::Sent]);
        // The process dies here.
    }
    chain.resume_mining().await;
    let restarted = Chain::connect(config(&chain), key(), store.clone()).unwrap();
    let followed = restarted.reconcile().await.unwrap();
    assert_eq!(followed.iter().map(|t| t.status).collect::<Vec<_>>(), [ChainTxStatus::Confirmed]);
    assert_eq!(chain.pusd(bot()).await, U256::from(25_000_000_u64), "paid once");
    assert!(restarted.reconcile().await.unwrap().is_empty(), "nothing left open");
    // Redeeming again has nothing left to pay: the shares are gone.
    let again = restarted.redeem(condition, None).await.unwrap();
    assert_eq!(again.status, ChainTxStatus::Confirmed);
    assert_eq!(chain.pusd(bot()).await, U256::from(25_000_000_u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_drops_is_a_retryable_error_and_the_wallet_goes_on_when_it_is_back() {
    let mut chain = LocalChain::start().await;
    let (_dir, store) = store();
    chain.mint(bot(), 7_500_000).await;
    let wallet = Chain::connect(config(&chain), key(), store.clone()).unwrap();
    assert_eq!(wallet.balances().await.unwrap().pusd, dec!(7.5));
    chain.stop();
    let down = wallet.balances().await.unwrap_err();
    assert!(matches!(down, ChainError::Rpc(_)), "{down}");
    chain.restart().await;
    assert_eq!(wallet.balances().await.unwrap().pusd, dec!(7.5), "the same chain, back");
}

/// 10^-6 units of a decimal amount that has at most six decimals.
fn micro(d: Decimal) -> u64 {
    let units = d * Decimal::from(1_000_000);
    assert_eq!(units.fract(), Decimal::ZERO, "{d} has more than six decimals");
    u64::try_from(units.trunc().mantissa()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_live_position_is_redeemed_and_the_ledgers_cash_equals_the_chains_pusd() {
    const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
    const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";
    let condition = format!("0x{}", "44".repeat(32));
    let mock = MockPolymarket::start().await;
    mock.add_market(MockMarket::binary("701", &condition, YES, NO));
    mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(500))]);
    mock.set_balance(dec!(100));
    let chain = LocalChain::start().await;
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, store) = store();
    let options = EngineOptions { settings: Settings::default(), clock: Clock::system(), metrics: true };
    let engine = Engine::open(Arc::new(live(&mock).await), plugins, store.clone(), options).await.unwrap();
    let _tasks = engine.spawn();
    let p = engine.enter(&condition, Some(dec!(20))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active);

    // The chain holds what the exchange settled there: the cash and both sides' shares.
    chain.mint(bot(), micro(engine.overview().unwrap().available)).await;
    let cond: B256 = condition.parse().unwrap();
    for (index_set, leg) in [(1, &p.legs[0]), (2, &p.legs[1])] {
        chain.deposit(cond, bot(), index_set, micro(leg.held())).await;
    }
    // YES wins: the ledger books 1 a YES share at once; the pUSD is on chain after redemption.
    mock.resolve(&condition, YES);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine.position(p.id).unwrap().position.status.is_open() {
        assert!(tokio::time::Instant::now() < deadline, "the resolution reaches the engine");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    chain.resolve(cond, [1, 0]).await;
    let wallet = Chain::connect(config(&chain), key(), store.clone()).unwrap();
    let due = equilibrage::chain::due(&store).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payout, p.legs[0].held(), "the YES shares, at 1 each");
    let done = wallet.redeem_due().await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].condition_id.as_deref(), Some(condition.as_str()));
    assert_eq!(
        engine.overview().unwrap().available,
        wallet.balances().await.unwrap().pusd,
        "the ledger's cash and the wallet's pUSD agree to the last unit"
    );
    // Done once: nothing is due any more.
    assert!(equilibrage::chain::due(&store).unwrap().is_empty());
    assert!(wallet.redeem_due().await.unwrap().is_empty());
}

#[test]
fn wallet_approve_shows_the_missing_approvals_asks_and_sends_them_once() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let chain = rt.block_on(LocalChain::start());
    let data = tempfile::tempdir().unwrap();
    equilibrage::wallet::WalletDir::in_data_dir(data.path())
        .import_key(&BOT_KEY.into(), &PASSWORD.into(), false)
        .unwrap();
    let config_file = chain_config_file(&chain, data.path());
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut command = equilibrage(&[&["approve"], args].concat(), &config_file, data.path());
        command.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        let mut child = command.spawn().unwrap();
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write as _;
            let _ = pipe.write_all(text.as_bytes());
        }
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) =
            (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
        assert!(!format!("{stdout}{stderr}").to_lowercase().contains(&BOT_KEY[2..]), "the key was shown");
        (out.status.success(), stdout, stderr)
    };
    // Without a terminal and without --yes it shows them and refuses to send.
    let (ok, stdout, stderr) = run(&[], Some("y\n"));
    assert!(!ok && stderr.contains("--yes"), "{stdout}\n{stderr}");
    assert!(stdout.contains("6 approvals missing") && stdout.contains("NegRiskAdapter"), "{stdout}");
    // With --yes: all six, one transaction each, journalled.
    let (ok, stdout, stderr) = run(&["--yes"], None);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("Confirmed 0x").count(), 6, "{stdout}");
    let (ok, stdout, _) = run(&["--yes"], None);
    assert!(ok && stdout.contains("every approval trading needs is in place"), "{stdout}");
    let store = Store::open(&data.path().join("equilibrage.redb")).unwrap();
    assert_eq!(store.read().unwrap().chain_txs().unwrap().len(), 6, "nothing sent twice");
    let wallet = Chain::connect(config(&chain), key(), store).unwrap();
    assert!(rt.block_on(wallet.missing_approvals()).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_reads_gas_and_approvals_on_chain_and_names_the_command_that_fixes_them() {
    use equilibrage::wallet::doctor::{self, Status};
    let chain = LocalChain::start().await;
    let mock = MockPolymarket::start().await;
    mock.set_balance(dec!(10));
    let run = || {
        doctor::run_live(
            support::live_config(&mock),
            support::signer(&mock, true),
            false,
            Some(config(&chain)),
        )
    };
    let report = run().await;
    let on_chain = report.check("chain").unwrap();
    assert_eq!(on_chain.status, Status::Fail, "{on_chain:?}");
    assert!(
        on_chain.detail.contains("1000 POL") && on_chain.detail.contains("6 approvals are missing"),
        "{on_chain:?}"
    );
    assert!(on_chain.fix.as_deref().unwrap().contains("equilibrage wallet approve"));

    let (_dir, store) = store();
    let wallet = Chain::connect(config(&chain), key(), store).unwrap();
    for approval in wallet.missing_approvals().await.unwrap() {
        wallet.approve(&approval).await.unwrap();
    }
    let on_chain = run().await.check("chain").unwrap().clone();
    assert_eq!(on_chain.status, Status::Pass, "{on_chain:?}");
    assert!(on_chain.detail.contains("every approval trading needs is in place"), "{on_chain:?}");
}

/// Stands up a data directory whose ledger settled a resolved live position (engine on the mock
/// exchange), with the chain mirroring it: the cash and both sides' shares. Returns the chain
/// config file and what the winning shares pay.
fn settled_data_dir(
    chain: &LocalChain,
    data: &std::path::Path,
    rt: &tokio::runtime::Runtime,
) -> (std::path::PathBuf, Decimal) {
    const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
    const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";
    let condition = format!("0x{}", "55".repeat(32));
    let cond: B256 = condition.parse().unwrap();
    let payout = rt.block_on(async {
        let mock = MockPolymarket::start().await;
        mock.add_market(MockMarket::binary("702", &condition, YES, NO));
        mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(500))]);
        mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(500))]);
        mock.set_balance(dec!(100));
        let (_plugins_dir, plugins) = runtime(&[]);
        let store = Store::open(&data.join("equilibrage.redb")).unwrap();
        let options = EngineOptions { settings: Settings::default(), clock: Clock::system(), metrics: true };
        let engine = Engine::open(Arc::new(live(&mock).await), plugins, store, options).await.unwrap();
        let tasks = engine.spawn();
        let p = engine.enter(&condition, Some(dec!(20))).await.unwrap();
        chain.mint(bot(), micro(engine.overview().unwrap().available)).await;
        for (index_set, leg) in [(1, &p.legs[0]), (2, &p.legs[1])] {
            chain.deposit(cond, bot(), index_set, micro(leg.held())).await;
        }
        mock.resolve(&condition, YES);
        while engine.position(p.id).unwrap().position.status.is_open() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        chain.resolve(cond, [1, 0]).await;
        drop(tasks);
        p.legs[0].held()
    });
    equilibrage::wallet::WalletDir::in_data_dir(data)
        .import_key(&BOT_KEY.into(), &PASSWORD.into(), false)
        .unwrap();
    (chain_config_file(chain, data), payout)
}

#[test]
fn sigkill_between_sending_a_redemption_and_its_receipt_redeems_once_after_the_restart() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let chain = rt.block_on(LocalChain::start());
    let data = tempfile::tempdir().unwrap();
    let (config_file, payout) = settled_data_dir(&chain, data.path(), &rt);
    let cash = rt.block_on(chain.pusd(bot()));
    let redeem = || equilibrage(&["redeem"], &config_file, data.path());
    // No blocks: the redemption reaches the node and the bot waits for a receipt. It is killed
    // there (SIGKILL: nothing runs after it).
    rt.block_on(chain.pause_mining());
    let mut first = redeem().spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rt.block_on(chain.waiting(bot())) == 0 {
        if first.try_wait().unwrap().is_some() || std::time::Instant::now() >= deadline {
            let _ = first.kill();
            let out = first.wait_with_output().unwrap();
            panic!(
                "the redemption never reached the node:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    rt.block_on(chain.resume_mining());

    // The restart follows the journalled transaction up instead of redeeming again.
    let out = redeem().output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("followed up") && stdout.contains("Confirmed"), "{stdout}");
    assert!(stdout.contains("nothing to redeem now"), "{stdout}");
    let paid = rt.block_on(chain.pusd(bot())) - cash;
    assert_eq!(paid, U256::from(micro(payout)), "paid once");
    let store = Store::open(&data.path().join("equilibrage.redb")).unwrap();
    let journal = store.read().unwrap().chain_txs().unwrap();
    assert_eq!(
        journal.iter().map(|t| t.status).collect::<Vec<_>>(),
        [ChainTxStatus::Confirmed],
        "one redemption"
    );
}

/// The binary in live mode against the mock exchange, with `[chain]` on the local chain and
/// automatic redemption off: the History page lists the market due; its Redeem button redeems
/// it once; Settings shows the wallet's pUSD equal to the ledger's cash. Screenshots at desktop
/// and phone width.
#[test]
fn the_history_pages_redeem_button_returns_the_capital_and_settings_show_it_on_chain() {
    use support::browser::{Bot, Chromedriver, element, http, js, open, screenshot, text};
    const TOKEN: &str = "chain-e2e-access-token-7c1f";
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let chain = rt.block_on(LocalChain::start());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (chain_file, payout) = settled_data_dir(&chain, &data, &rt);
    let cash_before = rt.block_on(chain.pusd(bot()));
    let mock = rt.block_on(MockPolymarket::start());
    mock.set_balance(Decimal::from(cash_before.to::<u64>()) / dec!(1000000));
    let config = format!(
        "[exchange]\nmode = \"live\"\n\n[exchange.polymarket]\nclob_url = \"{http}\"\ngamma_url = \"{http}\"\n\
         ws_url = \"{ws}\"\nchain_id = 137\nsignature_type = \"eoa\"\nrequest_timeout_ms = 5000\n\
         attempts = 2\nbackoff_ms = 20\nmax_backoff_ms = 200\nheartbeat_secs = 0\n\n\
         [signals.whales]\ndata_url = \"{http}\"\n\n{chain}redeem = false\nredeem_every_secs = 5\n",
        http = mock.http_url(),
        ws = mock.ws_url(),
        chain = std::fs::read_to_string(&chain_file).unwrap(),
    );
    let driver = Chromedriver::start();
    let running = Bot::start_in(&config, TOKEN, dir, &[("EQUILIBRAGE_WALLET_PASSWORD", PASSWORD)]);
    let condition = format!("0x{}", "55".repeat(32));
    let api = |bot: &Bot, path: &str| {
        let request = http().get(bot.url(path)).bearer_auth(TOKEN);
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    rt.block_on(async {
        let profile = tempfile::tempdir().unwrap();
        let b = driver.browser(profile.path()).await;
        b.goto(&running.url("/login")).await.unwrap();
        element(&b, "input#token").await.send_keys(TOKEN).await.unwrap();
        element(&b, "form#login-form button[type=submit]").await.click().await.unwrap();
        element(&b, "#capital-total").await;

        // Due, with its button; nothing sent yet (automatic redemption is off).
        let row = format!("#redemptions-due tr[data-condition-id=\"{condition}\"]");
        open(&b, &running, "/history", &row).await;
        let shown = text(&b, &format!("{row} td.num")).await;
        assert_eq!(shown, payout.round_dp(2).to_string(), "the payout the ledger booked");
        assert_eq!(text(&b, "#chain-transactions tr.empty").await, "No transaction sent yet.");
        screenshot(&b, "chain-history-due").await;
        b.set_window_size(390, 844).await.unwrap();
        screenshot(&b, "chain-history-due-phone").await;
        b.set_window_size(1280, 1000).await.unwrap();

        element(&b, &format!("{row} form.redeem button")).await.click().await.unwrap();
        element(&b, "#chain-transactions td.status.confirmed").await;
        assert_eq!(text(&b, "#redemptions-due tr.empty").await, "Nothing waits for redemption.");
        screenshot(&b, "chain-history-redeemed").await;

        // The capital is back: the wallet's pUSD on chain is the ledger's cash, to the unit.
        let paid = chain.pusd(bot()).await - cash_before;
        assert_eq!(paid, U256::from(micro(payout)), "paid once, in full");
        let overview = api(&running, "/api/dashboard/overview").await;
        let ledger: Decimal = overview["available_capital"].as_str().unwrap().parse().unwrap();
        let on_chain = Decimal::from(chain.pusd(bot()).await.to::<u64>()) / dec!(1000000);
        assert_eq!(ledger, on_chain, "the ledger's cash and the wallet's pUSD agree");

        open(&b, &running, "/settings", "#chain-pusd").await;
        assert_eq!(text(&b, "#chain-pusd").await.parse::<Decimal>().unwrap(), on_chain);
        let pol = element(&b, "#chain-pol").await.attr("title").await.unwrap().unwrap();
        let pol: Decimal = pol.parse().unwrap();
        assert!(pol > dec!(999) && pol < dec!(1000), "gas was paid from the POL: {pol}");
        js(&b, "document.getElementById('on-chain').scrollIntoView();", vec![]).await;
        screenshot(&b, "chain-settings").await;
        b.set_window_size(390, 844).await.unwrap();
        js(&b, "document.getElementById('on-chain').scrollIntoView();", vec![]).await;
        screenshot(&b, "chain-settings-phone").await;

        // Once: a second press finds nothing due, and the journal holds one redemption.
        let chain_view = api(&running, "/api/wallet/chain").await;
        let txs = chain_view["chain"]["transactions"].as_array().unwrap();
        assert_eq!(txs.len(), 1, "{chain_view}");
        assert_eq!(txs[0]["status"], "confirmed");
        let again = http()
            .post(running.url("/api/wallet/redeem"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "condition_id": condition }))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY, "nothing left to redeem");
        b.close().await.unwrap();
    });
    drop(mock);
}
