//! Trading secrets for live mode, read from the environment (never from config files, never
//! logged); the encrypted keystore replaces this source when it lands.

use crate::config::PolymarketSettings;
use crate::exchange::polymarket::SignerConfig;
use polymarket_client_sdk_v2::auth::SecretString;

/// The private key of the signing wallet (hex, with or without 0x).
pub const PRIVATE_KEY_VAR: &str = "POLYMARKET_PRIVATE_KEY";
/// Optional L2 API credentials; without them they are created or derived from the key.
pub const API_KEY_VARS: [&str; 3] =
    ["POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE"];

/// Why live mode cannot sign in.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("live mode needs the signing key in {PRIVATE_KEY_VAR} (see docs/operations.md)")]
    NoKey,
    #[error(
        "set all of POLYMARKET_API_KEY, POLYMARKET_API_SECRET and POLYMARKET_API_PASSPHRASE, or none; {0} is missing"
    )]
    PartialCredentials(&'static str),
}

/// The sign-in settings for live mode, from `settings` and the environment.
///
/// # Errors
/// No key, or only some of the API credentials.
pub fn signer_config(settings: &PolymarketSettings) -> Result<SignerConfig, SecretsError> {
    signer_config_from(settings, |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// The address a signer configuration signs with (checksummed), or `None` for a key that does
/// not parse (signing in says why). Shown on the dashboard; the key itself never is.
#[must_use]
pub fn address(config: &SignerConfig) -> Option<String> {
    use polymarket_client_sdk_v2::auth::ExposeSecret as _;
    let key: alloy_signer_local::PrivateKeySigner = config.private_key.expose_secret().trim().parse().ok()?;
    Some(key.address().to_checksum(None))
}

fn signer_config_from(
    settings: &PolymarketSettings,
    var: impl Fn(&str) -> Option<String>,
) -> Result<SignerConfig, SecretsError> {
    let key = var(PRIVATE_KEY_VAR).ok_or(SecretsError::NoKey)?;
    let [k, s, p] = API_KEY_VARS.map(&var);
    let credentials = match (k, s, p) {
        (None, None, None) => None,
        (Some(k), Some(s), Some(p)) => Some((k, SecretString::from(s), SecretString::from(p))),
        (k, s, _) => {
            let missing = API_KEY_VARS[if k.is_none() {
                0
            } else if s.is_none() {
                1
            } else {
                2
            }];
            return Err(SecretsError::PartialCredentials(missing));
        }
    };
    let venue = settings.venue();
    Ok(SignerConfig {
        clob_url: venue.clob_url,
        chain_id: venue.chain_id,
        private_key: SecretString::from(key),
        wallet: venue.wallet,
        funder: venue.funder,
        credentials,
        nonce: None,
        fixed_salt: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_key_is_required_and_credentials_come_all_or_none() {
        let settings = Config::load(None).unwrap().exchange.polymarket;
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
        };
        assert!(matches!(signer_config_from(&settings, env(&[])), Err(SecretsError::NoKey)));
        let only_key = signer_config_from(&settings, env(&[(PRIVATE_KEY_VAR, "0xabc")])).unwrap();
        assert!(only_key.credentials.is_none());
        assert_eq!(address(&only_key), None, "not a key");
        // Anvil's first well-known test key.
        let known = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let signer =
            signer_config_from(&settings, move |n: &str| (n == PRIVATE_KEY_VAR).then(|| known.to_owned()))
                .unwrap();
        assert_eq!(address(&signer).as_deref(), Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert_eq!(only_key.chain_id, 137);
        let partial =
            signer_config_from(&settings, env(&[(PRIVATE_KEY_VAR, "0xabc"), ("POLYMARKET_API_KEY", "k")]));
        assert!(matches!(partial, Err(SecretsError::PartialCredentials("POLYMARKET_API_SECRET"))));
        // Secrets never show in debug output.
        let all = signer_config_from(
            &settings,
            env(&[
                (PRIVATE_KEY_VAR, "0xdeadbeefkey"),
                ("POLYMARKET_API_KEY", "k"),
                ("POLYMARKET_API_SECRET", "topsecret"),
                ("POLYMARKET_API_PASSPHRASE", "phrase"),
            ]),
        )
        .unwrap();
        let shown = format!("{all:?}");
        assert!(
            !shown.contains("deadbeef") && !shown.contains("topsecret") && !shown.contains("phrase"),
            "{shown}"
        );
    }
}
