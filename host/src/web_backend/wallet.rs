//! The wallet as the dashboard handles it: where the key comes from (never the key), a key
//! posted from the Settings page, the wallet doctor, and the wallet on chain (balances,
//! redemptions due, the transaction journal).

use super::{HostBackend, Venue, field};
use crate::chain::ChainError;
use crate::config::{Config, ExchangeMode};
use crate::exchange::polymarket::WalletType;
use crate::store::ChainTx;
use crate::wallet::signer::PRIVATE_KEY_VAR;
use crate::wallet::{CustodyError, WalletDir, doctor};
use equilibrage_web::{
    BackendError, BackendResult, DoctorCheck, DoctorStatus, DoctorView, FieldError, WalletForm, WalletView,
};
use equilibrage_web::{ChainBalancesView, ChainTxView, ChainView, RedemptionView};
use std::sync::Arc;
use std::time::Duration;

/// The wallet as the dashboard may show it: where the key comes from, never the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletInfo {
    /// The address orders are signed with, when a key is in use or stored.
    pub address: Option<String>,
    /// `eoa`, `proxy`, `gnosis-safe` or `deposit`.
    pub signature_type: String,
    pub funder: Option<String>,
    pub key_present: bool,
    pub note: String,
    /// Where a key posted from the dashboard is stored (encrypted); `None` refuses such posts.
    pub custody: Option<WalletDir>,
}

impl WalletInfo {
    /// The wallet the configuration describes: `address` is the key's in use (live mode) or
    /// stored; a key posted from the dashboard goes to the data directory's keystore.
    #[must_use]
    pub fn from_config(config: &Config, address: Option<String>) -> Self {
        let pm = &config.exchange.polymarket;
        let signature_type = match pm.signature_type {
            WalletType::Eoa => "eoa",
            WalletType::Proxy => "proxy",
            WalletType::Safe => "gnosis-safe",
            WalletType::Deposit => "deposit",
        };
        let funder = Some(pm.funder.trim().to_owned()).filter(|f| !f.is_empty());
        let mode = match config.exchange.mode {
            ExchangeMode::Sim => "sim",
            ExchangeMode::Paper => "paper",
            ExchangeMode::Live => "live",
        };
        let custody = WalletDir::in_data_dir(&config.data.dir);
        let stored = custody.has_key();
        let mut info = Self { signature_type: signature_type.into(), funder, ..Self::for_mode(mode) };
        info.key_present = stored || address.is_some();
        info.address = address;
        if stored {
            info.note = stored_note(&custody);
        } else if info.key_present {
            info.note = format!(
                "The signing key comes from {PRIVATE_KEY_VAR} in the environment; `equilibrage wallet import` \
                 keeps it encrypted instead (docs/security.md)."
            );
        }
        info.custody = Some(custody);
        info
    }

    /// What a venue needs by default: no key for the simulator and paper trading.
    #[must_use]
    pub fn for_mode(mode: &str) -> Self {
        let note = match mode {
            "live" => "Live mode needs a key: store one here or with `equilibrage wallet import`.",
            "paper" => {
                "Paper trading on live Polymarket data: no key needed; one stored here is used in live mode."
            }
            _ => "Simulator: no key needed; one stored here is used in live mode.",
        };
        Self { signature_type: "eoa".into(), note: note.to_owned(), ..Self::default() }
    }

    /// What the wallet doctor checks the exchange against.
    fn doctor_setup(&self) -> doctor::Setup {
        let wallet = match self.signature_type.as_str() {
            "proxy" => WalletType::Proxy,
            "gnosis-safe" | "safe" => WalletType::Safe,
            "deposit" => WalletType::Deposit,
            _ => WalletType::Eoa,
        };
        doctor::Setup {
            address: self.address.clone(),
            wallet,
            funder: self.funder.clone(),
            credentials_given: None,
        }
    }

    pub(super) fn view(&self) -> WalletView {
        WalletView {
            address: self.address.clone(),
            signature_type: self.signature_type.clone(),
            funder: self.funder.clone(),
            key_present: self.key_present,
            note: self.note.clone(),
        }
    }
}

/// Whether a key looks like a secp256k1 private key: 64 hexadecimal digits, optionally `0x`.
fn key_shape_ok(key: &str) -> bool {
    let key = key.trim();
    let digits = key.strip_prefix("0x").or_else(|| key.strip_prefix("0X")).unwrap_or(key);
    digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a wallet form's fields, naming each one at fault; never repeats the key or password.
fn check_wallet_form(form: &WalletForm) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !key_shape_ok(&form.private_key) {
        errors.push(field("private_key", "must be 64 hexadecimal digits, optionally prefixed 0x".into()));
    }
    let chars = form.password.chars().count();
    if chars < crate::wallet::input::MIN_PASSWORD_CHARS {
        errors.push(field(
            "password",
            format!("must be at least {} characters", crate::wallet::input::MIN_PASSWORD_CHARS),
        ));
    }
    errors
}

fn stored_note(custody: &WalletDir) -> String {
    format!(
        "The key is stored encrypted in {}; live mode unlocks it at start with its password (a prompt, or \
         EQUILIBRAGE_WALLET_PASSWORD).",
        custody.key_path().display()
    )
}

/// How long a page waits for the node's balances before showing the page without them.
const BALANCES_WAIT: Duration = Duration::from_secs(4);
/// Journalled transactions shown.
const TRANSACTIONS: usize = 50;

/// A chain error as the web layer answers it, by what the caller must do.
fn chain_error(e: ChainError) -> BackendError {
    match e {
        ChainError::Invalid(m) => BackendError::invalid(m),
        e @ ChainError::Refused { .. } => BackendError::Conflict(e.to_string()),
        e @ (ChainError::Rpc(_) | ChainError::Pending { .. }) => BackendError::Unavailable(e.to_string()),
        ChainError::Store(e) => super::store_error(&e),
    }
}

fn tx_view(t: &ChainTx) -> ChainTxView {
    ChainTxView {
        hash: t.hash.clone(),
        kind: t.kind.clone(),
        what: t.what.clone(),
        condition_id: t.condition_id.clone(),
        nonce: t.nonce,
        status: t.status.name().to_owned(),
        block: t.block,
        created_at_ms: t.created_at_ms,
        updated_at_ms: t.updated_at_ms,
    }
}

impl HostBackend {
    /// The wallet on chain; `None` without `[chain]` (or outside live mode). A node that does
    /// not answer within [`BALANCES_WAIT`] leaves the balances out, with why.
    pub(super) async fn chain_view(&self, with_balances: bool) -> BackendResult<Option<ChainView>> {
        let Some((chain, auto_redeem)) = self.shared.chain.get() else { return Ok(None) };
        let (balances, balances_error) = if with_balances {
            match tokio::time::timeout(BALANCES_WAIT, chain.balances()).await {
                Ok(Ok(b)) => (Some(ChainBalancesView { pusd: b.pusd, pol: b.pol }), None),
                Ok(Err(e)) => (None, Some(e.to_string())),
                Err(_) => (None, Some(format!("no answer within {} s", BALANCES_WAIT.as_secs()))),
            }
        } else {
            (None, None)
        };
        let due = chain
            .due()
            .map_err(chain_error)?
            .into_iter()
            .map(|d| RedemptionView {
                condition_id: d.condition_id.to_string(),
                question: d.question,
                neg_risk: d.neg_risk,
                payout: d.payout,
            })
            .collect();
        let transactions =
            chain.transactions().map_err(chain_error)?.iter().take(TRANSACTIONS).map(tx_view).collect();
        Ok(Some(ChainView {
            address: chain.address().to_string(),
            low_gas: balances.is_some_and(|b| b.pol < crate::chain::LOW_GAS),
            balances,
            balances_error,
            auto_redeem: *auto_redeem,
            due,
            transactions,
        }))
    }

    /// Redeems one market now (the History page's button), waiting for the receipt.
    pub(super) async fn redeem_market(&self, condition_id: &str) -> BackendResult<ChainTxView> {
        let Some((chain, _)) = self.shared.chain.get() else {
            return Err(BackendError::Conflict(
                "on-chain settlement is off: it needs live mode and `[chain] rpc_url`".into(),
            ));
        };
        // On its own task: a browser that gives up does not stop it between sending and the receipt.
        let chain = Arc::clone(chain);
        let wanted = condition_id.to_owned();
        let tx = tokio::spawn(async move { chain.redeem_market(&wanted).await })
            .await
            .map_err(|e| BackendError::Internal(format!("the redemption stopped: {e}")))?
            .map_err(chain_error)?;
        tracing::info!(hash = %tx.hash, what = %tx.what, "redeemed from the dashboard");
        if let Some(n) = self.shared.notifier.get() {
            n.notify(&crate::notify::redemption_note(&tx));
        }
        Ok(tx_view(&tx))
    }

    /// Stores a key posted from the dashboard, encrypted; afterwards only its address is shown.
    pub(super) async fn store_wallet(&self, form: WalletForm) -> BackendResult<WalletView> {
        let errors = check_wallet_form(&form);
        if !errors.is_empty() {
            return Err(BackendError::Invalid { message: "invalid wallet key".into(), fields: errors });
        }
        let custody = {
            let info = self.shared.wallet.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if info.key_present {
                return Err(BackendError::Conflict(format!(
                    "a key is already in use ({}); replace it with `equilibrage wallet import --replace` while \
                     the bot is stopped",
                    info.address.as_deref().unwrap_or("unknown address")
                )));
            }
            info.custody.clone().ok_or_else(|| {
                BackendError::Unavailable("this bot has no data directory to store a key in".into())
            })?
        };
        // Encrypting takes about a second of scrypt: off the async workers. The key and password
        // go no further than the keystore; both are dropped (and zeroed) here.
        let key = secrecy::SecretString::from(form.private_key);
        let password = secrecy::SecretString::from(form.password);
        let target = custody.clone();
        let stored = tokio::task::spawn_blocking(move || target.import_key(&key, &password, false))
            .await
            .map_err(|e| BackendError::Internal(format!("storing the key: {e}")))?;
        let address = match stored {
            Ok(address) => address,
            Err(CustodyError::BadKey(why)) => {
                return Err(BackendError::Invalid {
                    message: "invalid wallet key".into(),
                    fields: vec![field("private_key", why.into())],
                });
            }
            Err(CustodyError::File(crate::wallet::files::FileError::Exists { .. })) => {
                return Err(BackendError::Conflict("a key is already stored".into()));
            }
            Err(e) => {
                tracing::error!(error = %e, "storing the wallet key failed");
                return Err(BackendError::Internal(format!("storing the key: {e}")));
            }
        };
        tracing::info!(%address, "wallet key stored encrypted from the dashboard");
        let mut info = self.shared.wallet.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        info.address = Some(address);
        info.key_present = true;
        info.note = stored_note(&custody);
        Ok(info.view())
    }

    /// Runs the wallet doctor (one at a time), with the on-chain check when a chain is configured.
    pub(super) async fn run_doctor(&self, test_order: bool) -> BackendResult<DoctorView> {
        let setup =
            self.shared.wallet.read().unwrap_or_else(std::sync::PoisonError::into_inner).doctor_setup();
        let exchange = match &self.shared.venue {
            Venue::Remote { name: "live", exchange, .. } => Arc::clone(exchange),
            _ => return Ok(doctor_view(&doctor::skipped(&setup, "live mode only"))),
        };
        let running = Arc::clone(&self.shared.doctor).try_lock_owned().map_err(|_| {
            BackendError::Conflict("the wallet check is already running; wait for its result".into())
        })?;
        // On its own task: a browser that gives up does not stop it between posting the test
        // order and cancelling it.
        let chain = self.shared.chain.get().map(|(chain, _)| Arc::clone(chain));
        let report = tokio::spawn(async move {
            let mut report = doctor::run(&setup, exchange, test_order).await;
            if let Some(chain) = &chain {
                report.checks.push(doctor::chain_check_on(&setup, chain).await);
            }
            drop(running);
            report
        })
        .await
        .map_err(|e| BackendError::Internal(format!("the wallet check stopped: {e}")))?;
        Ok(doctor_view(&report))
    }
}

/// The wallet doctor's report as the dashboard shows it.
fn doctor_view(report: &doctor::Report) -> DoctorView {
    let status = |s| match s {
        doctor::Status::Pass => DoctorStatus::Pass,
        doctor::Status::Warn => DoctorStatus::Warn,
        doctor::Status::Fail => DoctorStatus::Fail,
        doctor::Status::Skipped => DoctorStatus::Skipped,
    };
    DoctorView {
        address: report.address.clone(),
        signature_type: report.signature_type.to_owned(),
        funder: report.funder.clone(),
        ok: report.passed(),
        checks: report
            .checks
            .iter()
            .map(|c| DoctorCheck {
                id: c.id.to_owned(),
                name: c.name.to_owned(),
                status: status(c.status),
                detail: c.detail.clone(),
                fix: c.fix.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallet_form_is_checked_and_the_key_never_repeated() {
        let key = "ab".repeat(32);
        let form = |k: &str, p: &str| WalletForm { private_key: k.into(), password: p.into() };
        assert!(check_wallet_form(&form(&key, "long enough")).is_empty());
        assert!(check_wallet_form(&form(&format!("0x{key}"), "long enough")).is_empty());
        let errors = check_wallet_form(&form("0xdeadbeef", "short"));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["private_key", "password"]);
        assert!(errors.iter().all(|e| !e.message.contains("deadbeef") && !e.message.contains("short")));
        assert!(!check_wallet_form(&form(&format!("{key}0"), "long enough")).is_empty(), "65 digits");
        assert!(!check_wallet_form(&form(&"zz".repeat(32), "long enough")).is_empty(), "not hex");
    }

    #[test]
    fn outside_live_mode_the_wallet_doctor_skips_every_check() {
        let mut info = WalletInfo::for_mode("paper");
        info.signature_type = "gnosis-safe".into();
        info.funder = Some("0x1111111111111111111111111111111111111111".into());
        let setup = info.doctor_setup();
        assert_eq!(setup.wallet, WalletType::Safe);
        let view = doctor_view(&doctor::skipped(&setup, "live mode only"));
        assert!(view.ok);
        assert_eq!(view.signature_type, "safe");
        assert_eq!(view.checks.len(), 5);
        assert!(
            view.checks.iter().all(|c| c.status == DoctorStatus::Skipped && c.detail == "live mode only")
        );
    }

    #[test]
    fn the_wallet_says_where_the_key_comes_from() {
        let sim = WalletInfo::for_mode("sim");
        assert!(!sim.key_present && sim.note.contains("no key needed"));
        let mut config = Config::load(None).unwrap();
        config.exchange.mode = ExchangeMode::Live;
        let tmp = tempfile::tempdir().unwrap();
        config.data.dir = tmp.path().to_path_buf();
        let live = WalletInfo::from_config(&config, Some("0xabc".into()));
        assert!(live.key_present && live.note.contains("POLYMARKET_PRIVATE_KEY"));
        assert_eq!((live.address.as_deref(), live.funder.as_deref()), (Some("0xabc"), None));
    }
}
