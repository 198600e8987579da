//! Live mode's signing secrets: the key from the encrypted keystore (or, for automation, from
//! the environment), and the CLOB credentials stored, given, or derived on start.

use super::input::InputError;
use super::{CustodyError, WalletDir};
use crate::config::PolymarketSettings;
use crate::exchange::polymarket::SignerConfig;
use secrecy::SecretString;
use std::path::PathBuf;

/// The private key of the signing wallet (hex, with or without 0x), for automation without a
/// keystore. The keystore is preferred: the environment of a process is visible to its user.
pub const PRIVATE_KEY_VAR: &str = "POLYMARKET_PRIVATE_KEY";
/// Optional L2 API credentials; without them (or stored ones) they are derived from the key.
pub const API_KEY_VARS: [&str; 3] =
    ["POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE"];

/// Why live mode cannot sign in.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "live mode needs a wallet: `equilibrage wallet import` (or `wallet new`) stores one encrypted in {dir}; \
         automation may set {PRIVATE_KEY_VAR} instead (see docs/security.md)"
    )]
    NoKey { dir: PathBuf },
    #[error(
        "set all of POLYMARKET_API_KEY, POLYMARKET_API_SECRET and POLYMARKET_API_PASSPHRASE, or none; {0} is missing"
    )]
    PartialCredentials(&'static str),
    #[error(transparent)]
    Custody(#[from] CustodyError),
}

impl From<InputError> for SecretsError {
    fn from(e: InputError) -> Self {
        Self::Custody(e.into())
    }
}

/// Where live mode's key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The encrypted keystore at this path.
    Keystore(PathBuf),
    /// [`PRIVATE_KEY_VAR`].
    Environment,
}

/// Everything live mode signs in with.
#[derive(Debug)]
pub struct LiveSigner {
    pub config: SignerConfig,
    /// The key's address, checksummed.
    pub address: String,
    pub source: KeySource,
}

/// Live mode's signer: the keystore in `wallet` when there is one (unlocked with the password
/// `password` supplies), else [`PRIVATE_KEY_VAR`]. Credentials come from the credentials keystore,
/// else the environment, else they are derived from the key when signing in.
///
/// # Errors
/// No key anywhere; a wrong password or an exposed, damaged keystore; partial credentials.
pub fn live_signer(
    settings: &PolymarketSettings,
    wallet: &WalletDir,
    password: impl FnOnce() -> Result<SecretString, InputError>,
) -> Result<LiveSigner, SecretsError> {
    live_signer_from(settings, wallet, password, |name| {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    })
}

fn live_signer_from(
    settings: &PolymarketSettings,
    wallet: &WalletDir,
    password: impl FnOnce() -> Result<SecretString, InputError>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<LiveSigner, SecretsError> {
    let env_credentials = env_credentials(&var)?;
    let (key, address, source, stored) = if wallet.has_key() {
        let password = password()?;
        let unlocked = wallet.unlock(&password)?;
        let stored = wallet.credentials(&password)?;
        (unlocked.key, unlocked.address, KeySource::Keystore(wallet.key_path()), stored)
    } else if let Some(key) = var(PRIVATE_KEY_VAR) {
        let key = SecretString::from(key);
        let address = super::address_of(&key)?;
        (key, address, KeySource::Environment, None)
    } else {
        return Err(SecretsError::NoKey {
            dir: wallet.key_path().parent().map(PathBuf::from).unwrap_or_default(),
        });
    };
    let credentials = stored.map(|c| (c.key, c.secret, c.passphrase)).or(env_credentials);
    let venue = settings.venue();
    let config = SignerConfig {
        clob_url: venue.clob_url,
        chain_id: venue.chain_id,
        private_key: key,
        wallet: venue.wallet,
        funder: venue.funder,
        credentials,
        nonce: None,
        fixed_salt: None,
    };
    Ok(LiveSigner { config, address, source })
}

type Credentials = (String, SecretString, SecretString);

fn env_credentials(var: &impl Fn(&str) -> Option<String>) -> Result<Option<Credentials>, SecretsError> {
    let [k, s, p] = API_KEY_VARS.map(var);
    match (k, s, p) {
        (None, None, None) => Ok(None),
        (Some(k), Some(s), Some(p)) => Ok(Some((k, SecretString::from(s), SecretString::from(p)))),
        (k, s, _) => {
            let missing = API_KEY_VARS[if k.is_none() {
                0
            } else if s.is_none() {
                1
            } else {
                2
            }];
            Err(SecretsError::PartialCredentials(missing))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::wallet::keystore::Strength;
    use crate::wallet::{ApiCredentials, CustodyError};
    use secrecy::ExposeSecret as _;

    /// Anvil's first well-known test key and its address.
    const KNOWN: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const KNOWN_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    fn no_password() -> Result<SecretString, InputError> {
        Err(InputError::NoPassword)
    }

    #[test]
    fn without_a_keystore_the_environment_key_is_used_and_credentials_come_all_or_none() {
        let settings = Config::load(None).unwrap().exchange.polymarket;
        let tmp = tempfile::tempdir().unwrap();
        let wallet = WalletDir::in_data_dir(tmp.path());
        let none = live_signer_from(&settings, &wallet, no_password, env(&[]));
        assert!(matches!(none, Err(SecretsError::NoKey { .. })));
        assert!(none.unwrap_err().to_string().contains("wallet import"));
        let bad = live_signer_from(&settings, &wallet, no_password, env(&[(PRIVATE_KEY_VAR, "0xabc")]));
        assert!(matches!(bad, Err(SecretsError::Custody(CustodyError::BadKey(_)))));
        let only_key =
            live_signer_from(&settings, &wallet, no_password, env(&[(PRIVATE_KEY_VAR, KNOWN)])).unwrap();
        assert!(only_key.config.credentials.is_none());
        assert_eq!(only_key.address, KNOWN_ADDRESS);
        assert_eq!(only_key.source, KeySource::Environment);
        assert_eq!(only_key.config.chain_id, 137);
        let partial = live_signer_from(
            &settings,
            &wallet,
            no_password,
            env(&[(PRIVATE_KEY_VAR, KNOWN), ("POLYMARKET_API_KEY", "k")]),
        );
        assert!(matches!(partial, Err(SecretsError::PartialCredentials("POLYMARKET_API_SECRET"))));
        let all = live_signer_from(
            &settings,
            &wallet,
            no_password,
            env(&[
                (PRIVATE_KEY_VAR, KNOWN),
                ("POLYMARKET_API_KEY", "k"),
                ("POLYMARKET_API_SECRET", "topsecret"),
                ("POLYMARKET_API_PASSPHRASE", "phrase"),
            ]),
        )
        .unwrap();
        let shown = format!("{all:?}");
        assert!(
            !shown.contains("ac0974bec") && !shown.contains("topsecret") && !shown.contains("phrase"),
            "{shown}"
        );
    }

    #[test]
    fn the_keystore_wins_over_the_environment_and_needs_its_password() {
        let settings = Config::load(None).unwrap().exchange.polymarket;
        let tmp = tempfile::tempdir().unwrap();
        let wallet = WalletDir::in_data_dir(tmp.path()).with_strength(Strength::LIGHT);
        let password = SecretString::from("a long password".to_owned());
        let address = wallet.import_key(&SecretString::from(KNOWN.to_owned()), &password, false).unwrap();
        assert_eq!(address, KNOWN_ADDRESS);
        let other = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        let from_env = move |n: &str| (n == PRIVATE_KEY_VAR).then(|| other.to_owned());

        let locked = live_signer_from(&settings, &wallet, no_password, from_env);
        assert!(matches!(locked, Err(SecretsError::Custody(CustodyError::Input(InputError::NoPassword)))));
        let wrong =
            live_signer_from(&settings, &wallet, || Ok(SecretString::from("nope".to_owned())), from_env);
        assert!(wrong.unwrap_err().to_string().contains("wrong password"));

        let pw = password.clone();
        let signer = live_signer_from(&settings, &wallet, move || Ok(pw), from_env).unwrap();
        assert_eq!(signer.address, KNOWN_ADDRESS);
        assert_eq!(signer.source, KeySource::Keystore(wallet.key_path()));
        assert_eq!(signer.config.private_key.expose_secret(), KNOWN.trim_start_matches("0x"));
        assert!(signer.config.credentials.is_none(), "derived when signing in");

        let credentials = ApiCredentials {
            key: "key-id".into(),
            secret: SecretString::from("c2VjcmV0".to_owned()),
            passphrase: SecretString::from("pass".to_owned()),
        };
        wallet.store_credentials(&credentials, &password).unwrap();
        let pw = password.clone();
        let signer = live_signer_from(&settings, &wallet, move || Ok(pw), from_env).unwrap();
        let (key, secret, passphrase) = signer.config.credentials.unwrap();
        assert_eq!(
            (key.as_str(), secret.expose_secret(), passphrase.expose_secret()),
            ("key-id", "c2VjcmV0", "pass")
        );
        let on_disk = std::fs::read_to_string(wallet.credentials_path()).unwrap();
        assert!(!on_disk.contains("c2VjcmV0") && !on_disk.contains("pass\""), "{on_disk}");
    }
}
