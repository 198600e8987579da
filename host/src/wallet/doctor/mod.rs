//! The wallet doctor: live trading's wallet setup checked at the exchange, each check with a plain fix.

use crate::exchange::polymarket::{LiveExchange, PolymarketConfig, SignerConfig, WalletType};
use crate::exchange::{Exchange, ExchangeError};
use rust_decimal::Decimal;
use secrecy::ExposeSecret as _;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod chain;
pub use chain::chain_check_on;
mod test_order;
use test_order::test_order_check;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Works, with something the operator should know.
    Warn,
    /// Live trading will not work until the fix is applied.
    Fail,
    /// Not run (not asked for, not possible in this mode, or an earlier check failed).
    Skipped,
}

/// One check: what was looked at, what was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier: `wallet`, `api_key`, `balance`, `allowance` or `test_order`.
    pub id: &'static str,
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do, in plain words (given for failures and warnings).
    pub fix: Option<String>,
}

/// Everything the doctor found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The signing key's address, checksummed, when known.
    pub address: Option<String>,
    /// As written in `[exchange.polymarket] signature_type`.
    pub signature_type: &'static str,
    pub funder: Option<String>,
    pub checks: Vec<Check>,
}

impl Report {
    /// The checks that failed.
    #[must_use]
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.status == Status::Fail).count()
    }

    /// No check failed (warnings and skipped checks allowed).
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures() == 0
    }

    /// The check with this id.
    #[must_use]
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Replaces every occurrence of each secret (at least 4 characters long) with `<redacted>`:
    /// exchange messages are quoted as they come, and none should ever carry a secret.
    fn scrub(&mut self, secrets: &[String]) {
        let secrets: Vec<&str> = secrets.iter().map(|s| s.trim()).filter(|s| s.len() >= 4).collect();
        let clean = |text: &mut String| {
            for s in &secrets {
                if text.contains(s) {
                    *text = text.replace(s, "<redacted>");
                }
            }
        };
        for c in &mut self.checks {
            clean(&mut c.detail);
            if let Some(fix) = &mut c.fix {
                clean(fix);
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Wallet doctor: key {}, signature type {}, funder {}",
            self.address.as_deref().unwrap_or("unknown"),
            self.signature_type,
            self.funder.as_deref().unwrap_or("none")
        )?;
        for c in &self.checks {
            let mark = match c.status {
                Status::Pass => "✓",
                Status::Warn => "!",
                Status::Fail => "✗",
                Status::Skipped => "-",
            };
            let skipped = if c.status == Status::Skipped { "skipped: " } else { "" };
            writeln!(f, "{mark} {}: {skipped}{}", c.name, c.detail)?;
            if let Some(fix) = &c.fix {
                writeln!(f, "    fix: {fix}")?;
            }
        }
        match self.failures() {
            0 => writeln!(f, "No check failed."),
            1 => writeln!(f, "1 check failed."),
            n => writeln!(f, "{n} checks failed."),
        }
    }
}

/// The wallet the doctor checks the exchange's answers against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The signing key's address, when known.
    pub address: Option<String>,
    pub wallet: WalletType,
    /// `[exchange.polymarket] funder`, trimmed, `None` when empty.
    pub funder: Option<String>,
    /// Whether API credentials were given (stored or from the environment) rather than derived
    /// from the key at sign-in; `None` when not known.
    pub credentials_given: Option<bool>,
}

const WALLET: (&str, &str) = ("wallet", "Signature type and funder");
const API_KEY: (&str, &str) = ("api_key", "API key");
const BALANCE: (&str, &str) = ("balance", "pUSD balance");
const ALLOWANCE: (&str, &str) = ("allowance", "pUSD allowances");
const TEST_ORDER: (&str, &str) = ("test_order", "Test order");
const ALL: [(&str, &str); 5] = [WALLET, API_KEY, BALANCE, ALLOWANCE, TEST_ORDER];

/// Markets (best first by liquidity) whose books are looked at for the test order.
const TEST_MARKETS: usize = 5;

fn check(which: (&'static str, &'static str), status: Status, detail: String, fix: Option<String>) -> Check {
    Check { id: which.0, name: which.1, status, detail, fix }
}

fn skip(which: (&'static str, &'static str), why: &str) -> Check {
    check(which, Status::Skipped, why.to_owned(), None)
}

/// The value `[exchange.polymarket] signature_type` takes for this wallet type.
#[must_use]
pub fn config_name(wallet: WalletType) -> &'static str {
    match wallet {
        WalletType::Eoa => "eoa",
        WalletType::Proxy => "proxy",
        WalletType::Safe => "safe",
        WalletType::Deposit => "deposit",
    }
}

fn describe(wallet: WalletType) -> &'static str {
    match wallet {
        WalletType::Eoa => "the key's own address (EOA)",
        WalletType::Proxy => "a Polymarket proxy wallet (email / magic-link accounts)",
        WalletType::Safe => "a Gnosis Safe (browser-wallet accounts)",
        WalletType::Deposit => "a Polymarket deposit wallet",
    }
}

fn report(setup: &Setup, checks: Vec<Check>) -> Report {
    Report {
        address: setup.address.clone(),
        signature_type: config_name(setup.wallet),
        funder: setup.funder.clone(),
        checks,
    }
}

/// A report whose every check is skipped for `why` (the simulator and paper trading: "live mode
/// only").
#[must_use]
pub fn skipped(setup: &Setup, why: &str) -> Report {
    report(setup, ALL.iter().map(|which| skip(*which, why)).collect())
}

/// `0x` and 40 hexadecimal digits.
fn is_address(text: &str) -> bool {
    text.strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .is_some_and(|hex| hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Check (a): the signature type against the funder, from the configuration alone.
#[must_use]
pub fn wallet_check(setup: &Setup) -> Check {
    let kind = config_name(setup.wallet);
    let me = setup.address.as_deref().unwrap_or("the key's address");
    let same = |funder: &str| setup.address.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(funder));
    let fail = |detail: String, fix: String| check(WALLET, Status::Fail, detail, Some(fix));
    match (setup.wallet, setup.funder.as_deref()) {
        (_, Some(funder)) if !is_address(funder) => fail(
            format!("funder {funder:?} is not an address"),
            "Set `[exchange.polymarket] funder` to 0x followed by 40 hexadecimal digits: the address that \
             holds your pUSD on Polymarket (leave it empty for signature_type = \"eoa\")."
                .into(),
        ),
        (WalletType::Eoa, None) => check(
            WALLET,
            Status::Pass,
            format!("signature type eoa: the key's own address {me} holds the funds and signs the orders"),
            None,
        ),
        (WalletType::Eoa, Some(funder)) if same(funder) => check(
            WALLET,
            Status::Pass,
            format!("signature type eoa: the funder is the key's own address {funder}"),
            None,
        ),
        (WalletType::Eoa, Some(funder)) => fail(
            format!(
                "signature type eoa trades from the key's own address {me}, but funder is another address, \
                 {funder}"
            ),
            format!(
                "If {funder} is your Polymarket wallet, set `[exchange.polymarket] signature_type` to the kind it \
                 is: \"proxy\" (email / magic-link account), \"safe\" (browser-wallet account) or \"deposit\" \
                 (deposit wallet). If the funds are on the key's own address, set `funder = \"\"`."
            ),
        ),
        // Signing in derives the proxy or Safe address from the key when none is named; that is
        // right for accounts made the usual way, and wrong for any other: say which to check.
        (wallet, None) => check(
            WALLET,
            Status::Warn,
            format!(
                "signature type {kind} trades for {}, and no funder is set: it is derived from the key at sign-in",
                describe(wallet)
            ),
            Some(format!(
                "Set `[exchange.polymarket] funder = \"0x…\"` to the address that holds your pUSD on Polymarket \
                 (the wallet or deposit address shown in your Polymarket profile), not the key's own address \
                 {me}, so the wallet checked and traded is surely that one. If the funds are on the key's own \
                 address, set `signature_type = \"eoa\"` instead."
            )),
        ),
        (wallet, Some(funder)) if same(funder) => fail(
            format!(
                "signature type {kind} trades for {}, but the funder is the signing key's own address {funder}",
                describe(wallet)
            ),
            format!(
                "Set `[exchange.polymarket] funder` to your Polymarket {kind} wallet's address (shown in your \
                 Polymarket profile), or set `signature_type = \"eoa\"` if the key's own address holds the \
                 funds."
            ),
        ),
        (wallet, Some(funder)) => check(
            WALLET,
            Status::Pass,
            format!("signature type {kind}: {} {funder}, orders signed by {me}", describe(wallet)),
            None,
        ),
    }
}

/// What to do when the exchange refuses the API credentials.
fn credentials_fix(setup: &Setup) -> String {
    match setup.credentials_given {
        Some(false) => "The exchange refused API credentials for this key (they are created or derived from \
                        the key at sign-in): check `[exchange.polymarket] clob_url` and `chain_id` (137 for \
                        Polygon), and that this key is your Polymarket account's."
            .into(),
        _ => "The API credentials do not belong to this key, or were revoked. Delete the stored ones \
              (`<data dir>/wallet/clob-credentials.json`) and unset POLYMARKET_API_KEY, \
              POLYMARKET_API_SECRET and POLYMARKET_API_PASSPHRASE: the bot then derives fresh ones from \
              the key when it signs in. Or store the right ones with `equilibrage wallet api-key`."
            .into(),
    }
}

fn is_auth_refusal(e: &ExchangeError) -> bool {
    let text = e.to_string();
    matches!(e, ExchangeError::Rejected { .. })
        && (text.contains("401") || text.contains("403") || text.contains("Invalid api key"))
}

const NETWORK_FIX: &str = "The exchange did not answer: check the network and `[exchange.polymarket] \
                           clob_url`, then run the doctor again.";

/// Check (b) when signing in itself failed.
fn sign_in_failed(setup: &Setup, e: &ExchangeError) -> Check {
    let text = e.to_string();
    let fix = if is_auth_refusal(e) {
        credentials_fix(setup)
    } else if e.is_retryable() {
        NETWORK_FIX.into()
    } else if text.contains("funder") || text.contains("deposit wallet") {
        "Fix `[exchange.polymarket] funder` and `signature_type` (see the first check).".into()
    } else if text.contains("private key") {
        "The stored key is not a valid secp256k1 key: import it again with `equilibrage wallet import \
         --replace`."
            .into()
    } else {
        "Check `[exchange.polymarket] clob_url` and `chain_id` (137 for Polygon), and the API credentials \
         (stored with `equilibrage wallet api-key`, or POLYMARKET_API_*)."
            .into()
    };
    check(API_KEY, Status::Fail, format!("signing in failed: {e}"), Some(fix))
}

/// Check (b): an authenticated (L2) call.
async fn api_key_check(setup: &Setup, exchange: &dyn Exchange) -> Check {
    let source = match setup.credentials_given {
        Some(true) => " with the stored or configured credentials",
        Some(false) => " with credentials derived from the key",
        None => "",
    };
    match exchange.open_orders().await {
        Ok(orders) => check(
            API_KEY,
            Status::Pass,
            format!(
                "signed in{source}; an authenticated call (open orders) succeeded: {} order(s) resting",
                orders.len()
            ),
            None,
        ),
        Err(e) if is_auth_refusal(&e) => {
            check(API_KEY, Status::Fail, format!("the exchange refused the API key: {e}"), Some(credentials_fix(setup)))
        }
        Err(e) if e.is_retryable() => check(API_KEY, Status::Fail, e.to_string(), Some(NETWORK_FIX.into())),
        Err(e) => check(
            API_KEY,
            Status::Fail,
            e.to_string(),
            Some("The exchange refused an authenticated call: check the API credentials and the wallet settings.".into()),
        ),
    }
}

/// Who holds the funds, in words.
fn holder(setup: &Setup) -> String {
    match (&setup.funder, setup.wallet) {
        (Some(funder), _) => funder.clone(),
        (None, WalletType::Eoa) => setup.address.clone().unwrap_or_else(|| "the key's address".into()),
        (None, wallet) => format!("the {} wallet derived from the key", config_name(wallet)),
    }
}

/// Checks (c): balance and allowances, from one `balance-allowance` call.
async fn funds_checks(setup: &Setup, exchange: &dyn Exchange) -> [Check; 2] {
    let who = holder(setup);
    let balance = match exchange.balance().await {
        Ok(b) => b,
        Err(e) => {
            let fix = if is_auth_refusal(&e) {
                credentials_fix(setup)
            } else if e.is_retryable() {
                NETWORK_FIX.into()
            } else {
                "The exchange refused the balance query: check signature_type and funder.".into()
            };
            return [
                check(BALANCE, Status::Fail, format!("reading the balance failed: {e}"), Some(fix)),
                skip(ALLOWANCE, "needs the balance"),
            ];
        }
    };
    let deposit = format!(
        "Deposit pUSD to {who} (Deposit in Polymarket's UI). If the money is elsewhere, check that \
         signature_type and funder name the wallet that holds it: the exchange reads the funder's balance."
    );
    let cash = balance.collateral.normalize();
    let balance_check = if cash <= Decimal::ZERO {
        check(
            BALANCE,
            Status::Fail,
            format!("{who} holds 0 pUSD: every order would be refused"),
            Some(deposit),
        )
    } else if cash < Decimal::ONE {
        check(
            BALANCE,
            Status::Warn,
            format!("{who} holds {cash} pUSD: less than the 1 pUSD an order that takes liquidity needs"),
            Some(deposit),
        )
    } else {
        check(BALANCE, Status::Pass, format!("{who} holds {cash} pUSD"), None)
    };
    let approve = match setup.wallet {
        WalletType::Eoa => "Approve the exchange contracts to spend your pUSD (pUSD `approve`) and to move \
                            your outcome tokens (Conditional Tokens 0x4D97DCd97eC945f40cF65F87097ACe5EA0476045 \
                            `setApprovalForAll`, which selling needs), each for CTF Exchange V2 \
                            0xE111180000d2663C0091e4f400237545B87B996B, NegRisk CTF Exchange V2 \
                            0xe2222d279d744050d28e00520010520000310F59 and the NegRiskAdapter \
                            0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296 (Polymarket's UI asks for these the first \
                            time you trade; or send the six transactions from your wallet)."
            .to_owned(),
        _ => "Log in to Polymarket with this account and accept the prompt to enable trading (it approves the \
              exchange contracts for your wallet); then run the doctor again."
            .to_owned(),
    };
    let allowance_check = match balance.allowance {
        None => skip(ALLOWANCE, "this venue reports no allowances"),
        Some(a) if a <= Decimal::ZERO => check(
            ALLOWANCE,
            Status::Fail,
            "an exchange contract may not spend your pUSD (allowance 0): orders would be refused with \
             `not enough balance / allowance`"
                .into(),
            Some(approve),
        ),
        Some(a) if a == Decimal::MAX => check(
            ALLOWANCE,
            Status::Pass,
            "the exchange contracts may spend your pUSD (unlimited approval)".into(),
            None,
        ),
        Some(a) if a < cash => check(
            ALLOWANCE,
            Status::Warn,
            format!(
                "the exchange contracts may spend only {} of your {cash} pUSD: larger orders would be refused",
                a.normalize()
            ),
            Some(approve),
        ),
        Some(a) => check(
            ALLOWANCE,
            Status::Pass,
            format!("the exchange contracts may spend your pUSD (smallest allowance {} pUSD)", a.normalize()),
            None,
        ),
    };
    [balance_check, allowance_check]
}

/// Runs the checks, in order: the signature type against the funder (configuration only), the
/// API key (an authenticated call), the pUSD balance and the exchange contracts' allowances, and —
/// only when `test_order` — a tiny post-only BUY at the lowest tick of a liquid market, cancelled
/// at once: the only way to learn whether the exchange accepts orders from this wallet type.
/// `exchange` is a signed-in venue: the running bot's, or one connected for the occasion.
pub async fn run(setup: &Setup, exchange: Arc<dyn Exchange>, test_order: bool) -> Report {
    let mut checks = vec![wallet_check(setup)];
    let api_key = api_key_check(setup, &*exchange).await;
    let signed_in = api_key.status != Status::Fail;
    checks.push(api_key);
    if signed_in {
        checks.extend(funds_checks(setup, &*exchange).await);
    } else {
        let why = "needs a working API key (see above)";
        checks.extend([skip(BALANCE, why), skip(ALLOWANCE, why)]);
    }
    checks.push(if !test_order {
        skip(
            TEST_ORDER,
            "no order was posted; to check that the exchange accepts orders from this wallet, run \
             `equilibrage wallet doctor --test-order` (or tick \"Post a test order\" in the wallet check on the Settings page): it \
             posts a tiny post-only BUY far below the market and cancels it at once",
        )
    } else if signed_in {
        test_order_check(setup, exchange).await
    } else {
        skip(TEST_ORDER, "needs a working API key (see above); no order was posted")
    });
    report(setup, checks)
}

/// Signs in with `signer` (no heartbeats, no market feed beyond the books it looks at) and runs
/// every check, and with `chain` the on-chain one (gas and approvals): what `equilibrage wallet
/// doctor` does, the bot running or not.
pub async fn run_live(
    mut venue: PolymarketConfig,
    signer: SignerConfig,
    test_order: bool,
    chain: Option<crate::chain::ChainConfig>,
) -> Report {
    // A second heartbeat chain on the same API key could upset the running bot's; the test
    // order is cancelled explicitly instead.
    venue.heartbeat = Duration::ZERO;
    venue.watch_limit = 0;
    venue.max_markets = venue.max_markets.min(venue.page_size.max(1));
    let setup = Setup {
        address: crate::wallet::address_of(&signer.private_key).ok(),
        wallet: signer.wallet,
        funder: signer.funder.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned),
        credentials_given: Some(signer.credentials.is_some()),
    };
    let key = signer.private_key.expose_secret().trim().to_owned();
    let on_chain = chain::chain_check(&setup, chain, &key).await;
    let mut secrets = vec![key.trim_start_matches("0x").to_owned(), key];
    if let Some((api_key, secret, passphrase)) = &signer.credentials {
        secrets.extend([
            api_key.clone(),
            secret.expose_secret().to_owned(),
            passphrase.expose_secret().to_owned(),
        ]);
    }
    let mut report = match LiveExchange::connect(venue, signer).await {
        Ok(live) => run(&setup, Arc::new(live), test_order).await,
        Err(e) => {
            let why = "needs a signed-in connection (see the API key check)";
            let checks = vec![
                wallet_check(&setup),
                sign_in_failed(&setup, &e),
                skip(BALANCE, why),
                skip(ALLOWANCE, why),
                skip(TEST_ORDER, if test_order { why } else { "not asked for; no order was posted" }),
            ];
            report(&setup, checks)
        }
    };
    report.checks.push(on_chain);
    report.scrub(&secrets);
    report
}

#[cfg(test)]
mod tests {
    use super::test_order::order_refusal;
    use super::*;

    const ME: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    const OTHER: &str = "0x1111111111111111111111111111111111111111";

    fn setup(wallet: WalletType, funder: Option<&str>) -> Setup {
        Setup {
            address: Some(ME.into()),
            wallet,
            funder: funder.map(str::to_owned),
            credentials_given: Some(true),
        }
    }

    #[test]
    fn the_signature_type_must_match_the_funder() {
        let lower = ME.to_lowercase();
        let status = |w, f| wallet_check(&setup(w, f)).status;
        assert_eq!(status(WalletType::Eoa, None), Status::Pass);
        assert_eq!(status(WalletType::Eoa, Some(lower.as_str())), Status::Pass);
        assert_eq!(status(WalletType::Eoa, Some(OTHER)), Status::Fail);
        for wallet in [WalletType::Proxy, WalletType::Safe, WalletType::Deposit] {
            assert_eq!(status(wallet, Some(OTHER)), Status::Pass, "{wallet:?}");
            assert_eq!(status(wallet, None), Status::Warn, "{wallet:?}: derived at sign-in");
            assert_eq!(status(wallet, Some(ME)), Status::Fail, "{wallet:?}");
        }
        assert_eq!(status(WalletType::Deposit, Some("0xnope")), Status::Fail);
        let c = wallet_check(&setup(WalletType::Proxy, None));
        let fix = c.fix.unwrap();
        assert!(
            fix.contains("[exchange.polymarket] funder") && fix.contains("signature_type = \"eoa\""),
            "{fix}"
        );
        let c = wallet_check(&setup(WalletType::Eoa, Some(OTHER)));
        assert!(c.fix.unwrap().contains("\"deposit\""));
        assert!(wallet_check(&setup(WalletType::Eoa, None)).fix.is_none());
    }

    #[test]
    fn refused_orders_get_the_fix_their_message_calls_for() {
        let s = setup(WalletType::Eoa, None);
        let fix = |reason: &str| order_refusal(&s, reason);
        let (status, deposit) = fix("400: maker address not allowed, please use the deposit wallet flow");
        assert_eq!(status, Status::Fail);
        assert!(deposit.contains("signature_type = \"deposit\""), "{deposit}");
        assert!(fix("not enough balance / allowance").1.contains("Deposit pUSD"));
        assert_eq!(fix("invalid post-only order: order crosses book").0, Status::Warn);
        assert!(fix("invalid signature").1.contains("signature_type (eoa)"));
        assert!(fix("the order owner has to be the owner of the API KEY").1.contains("api-key"));
        assert!(fix("order_version_mismatch").1.contains("upgrade"));
        assert!(fix("something else").1.contains("operations.md"));
    }

    #[test]
    fn a_skipped_report_fails_nothing_and_secrets_are_scrubbed() {
        let mut r = skipped(&setup(WalletType::Safe, Some(OTHER)), "live mode only");
        assert!(r.passed());
        assert_eq!(r.checks.len(), 5);
        assert!(r.checks.iter().all(|c| c.status == Status::Skipped && c.detail == "live mode only"));
        assert_eq!(r.signature_type, "safe");
        r.checks[0].detail = "key ab12cd34 and secret c2VjcmV0".into();
        r.checks[0].fix = Some("c2VjcmV0".into());
        r.scrub(&["ab12cd34".into(), " c2VjcmV0 ".into(), String::new()]);
        assert_eq!(r.checks[0].detail, "key <redacted> and secret <redacted>");
        assert_eq!(r.checks[0].fix.as_deref(), Some("<redacted>"));
        let shown = r.to_string();
        assert!(shown.contains("- API key: skipped: live mode only\n"), "{shown}");
        assert!(shown.contains("    fix: <redacted>\n"), "{shown}");
        assert!(shown.ends_with("No check failed.\n"), "{shown}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["checks"][0]["status"], "skipped");
        assert_eq!(json["checks"][4]["id"], "test_order");
    }
}
