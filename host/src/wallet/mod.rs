//! Custody of the trading wallet: the encrypted keystore and CLOB credentials in the data
//! directory, how live mode unlocks them, and the wallet doctor. Plugins never see any of it.

pub mod doctor;
pub mod files;
pub mod input;
pub mod keystore;
pub mod signer;

use alloy_signer_local::PrivateKeySigner;
use files::FileError;
use keystore::{Keystore, KeystoreError, Strength};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why a wallet operation failed. Never carries a key, a password or a secret.
#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error("no wallet in {dir}: create one with `equilibrage wallet new` or `equilibrage wallet import`")]
    NoWallet { dir: PathBuf },
    #[error("not a private key: {0}")]
    BadKey(&'static str),
    #[error("{path}: {source}")]
    Keystore {
        path: PathBuf,
        #[source]
        source: KeystoreError,
    },
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Input(#[from] input::InputError),
    #[error("the stored CLOB credentials are damaged: {0}")]
    BadCredentials(String),
}

/// CLOB API credentials (L2): the key is an identifier, the secret and passphrase are secrets.
#[derive(Debug, Clone)]
pub struct ApiCredentials {
    pub key: String,
    pub secret: SecretString,
    pub passphrase: SecretString,
}

/// The plaintext of the credentials keystore; lives only while it is encrypted or decrypted.
#[derive(Serialize, Deserialize)]
struct CredentialsPlain {
    key: String,
    secret: String,
    passphrase: String,
}

/// A key unlocked from the keystore.
#[derive(Debug)]
pub struct Unlocked {
    /// The key as hex, for the exchange's signer.
    pub key: SecretString,
    /// Checksummed.
    pub address: String,
}

/// The wallet directory: `<data dir>/wallet`, owner-only, holding `key.json` (the signing key)
/// and `clob-credentials.json` (the API credentials), both Web3 Secret Storage files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletDir {
    dir: PathBuf,
    strength: Strength,
}

impl WalletDir {
    /// The wallet directory of `data_dir`, encrypting at [`Strength::STANDARD`].
    #[must_use]
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("wallet"), strength: Strength::STANDARD }
    }

    /// The same directory encrypting new files at `strength` (tests use the light setting).
    #[must_use]
    pub fn with_strength(mut self, strength: Strength) -> Self {
        self.strength = strength;
        self
    }

    /// The keystore holding the signing key.
    #[must_use]
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.json")
    }

    /// The keystore holding the CLOB API credentials.
    #[must_use]
    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join("clob-credentials.json")
    }

    /// A signing key is stored.
    #[must_use]
    pub fn has_key(&self) -> bool {
        self.key_path().exists()
    }

    /// Makes a new random key, stores it encrypted under `password`, and returns its address.
    ///
    /// # Errors
    /// A key is already stored (it stays), or the file cannot be written.
    pub fn create(&self, password: &SecretString) -> Result<String, CustodyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        loop {
            getrandom::fill(&mut bytes[..])
                .map_err(|_| CustodyError::BadKey("the system's random source failed"))?;
            // Nearly every 32-byte string is a valid secp256k1 key; draw again if not.
            if PrivateKeySigner::from_slice(&bytes[..]).is_ok() {
                break;
            }
        }
        self.store_key(&bytes[..], password, false)
    }

    /// Stores `key` (hex, with or without 0x) encrypted under `password`, and returns its
    /// address. Unless `replace`, an existing keystore is an error and stays.
    ///
    /// # Errors
    /// Not a key, a keystore exists, or the file cannot be written.
    pub fn import_key(
        &self,
        key: &SecretString,
        password: &SecretString,
        replace: bool,
    ) -> Result<String, CustodyError> {
        let bytes = parse_key(key)?;
        self.store_key(&bytes[..], password, replace)
    }

    /// Copies an existing keystore file (from geth, Foundry, MetaMask's export…) after checking
    /// that `password` opens it; it keeps that password.
    ///
    /// # Errors
    /// The file does not open with `password` or holds no key; a keystore exists already.
    pub fn import_keystore(
        &self,
        file: &Path,
        password: &SecretString,
        replace: bool,
    ) -> Result<String, CustodyError> {
        let text = std::fs::read_to_string(file)
            .map_err(|source| FileError::Io { path: file.to_path_buf(), source })?;
        let mut keystore = Keystore::parse(&text).map_err(keystore_error(file))?;
        let secret = keystore.decrypt(password.expose_secret().as_bytes()).map_err(keystore_error(file))?;
        let signer = PrivateKeySigner::from_slice(keystore::bytes(&secret))
            .map_err(|_| CustodyError::BadKey("the keystore does not hold a secp256k1 key"))?;
        keystore.address = Some(hex::encode(signer.address()));
        files::private_dir(&self.dir)?;
        files::write_secret(&self.key_path(), &keystore.to_json(), replace)?;
        Ok(signer.address().to_checksum(None))
    }

    /// The stored key's address, read without the password.
    ///
    /// # Errors
    /// No keystore, an exposed or damaged one.
    pub fn address(&self) -> Result<String, CustodyError> {
        let path = self.key_path();
        let keystore = self.read(&path)?;
        let address = keystore.address.as_deref().unwrap_or_default();
        let parsed: alloy_primitives::Address = format!("0x{}", address.trim_start_matches("0x"))
            .parse()
            .map_err(|_| keystore_error(&path)(KeystoreError::Corrupt("no valid address field".into())))?;
        Ok(parsed.to_checksum(None))
    }

    /// The keystore file's text, to copy elsewhere (it stays encrypted).
    ///
    /// # Errors
    /// No keystore, or an exposed one.
    pub fn export(&self) -> Result<String, CustodyError> {
        let path = self.key_path();
        if !path.exists() {
            return Err(CustodyError::NoWallet { dir: self.dir.clone() });
        }
        let text = files::read_secret(&path)?;
        // Only a keystore that parses is handed on: a damaged one would fail later, elsewhere.
        Keystore::parse(&text).map_err(keystore_error(&path))?;
        Ok(text)
    }

    /// Decrypts the signing key.
    ///
    /// # Errors
    /// No keystore; the file is readable by others, damaged, or the password is wrong.
    pub fn unlock(&self, password: &SecretString) -> Result<Unlocked, CustodyError> {
        let path = self.key_path();
        let keystore = self.read(&path)?;
        let secret = keystore.decrypt(password.expose_secret().as_bytes()).map_err(keystore_error(&path))?;
        let signer = PrivateKeySigner::from_slice(keystore::bytes(&secret))
            .map_err(|_| CustodyError::BadKey("the keystore does not hold a secp256k1 key"))?;
        let key = SecretString::from(hex::encode(keystore::bytes(&secret)));
        Ok(Unlocked { key, address: signer.address().to_checksum(None) })
    }

    /// Stores CLOB credentials encrypted under `password` (replacing earlier ones).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn store_credentials(
        &self,
        credentials: &ApiCredentials,
        password: &SecretString,
    ) -> Result<(), CustodyError> {
        let plain = CredentialsPlain {
            key: credentials.key.clone(),
            secret: credentials.secret.expose_secret().to_owned(),
            passphrase: credentials.passphrase.expose_secret().to_owned(),
        };
        let json = Zeroizing::new(serde_json::to_vec(&plain).unwrap_or_default());
        drop(Zeroizing::new(plain.secret));
        drop(Zeroizing::new(plain.passphrase));
        let path = self.credentials_path();
        let keystore = Keystore::encrypt(&json, password.expose_secret().as_bytes(), self.strength, None)
            .map_err(keystore_error(&path))?;
        files::private_dir(&self.dir)?;
        files::write_secret(&path, &keystore.to_json(), true)?;
        Ok(())
    }

    /// Where notification channels' secrets are kept: a Web3 Secret Storage file encrypted
    /// with the wallet's password, holding `{"channel name": "secret"}`.
    #[must_use]
    pub fn notify_secrets_path(&self) -> PathBuf {
        self.dir.join("notify-secrets.json")
    }

    /// Stores `secret` (a bot token, a webhook URL…) for the notification channel `channel`,
    /// encrypted with `password`, next to the secrets already stored (which `password` must
    /// open).
    ///
    /// # Errors
    /// The existing file does not open with `password`, a new file's password is too weak, or
    /// the file cannot be written.
    pub fn store_notify_secret(
        &self,
        channel: &str,
        secret: &SecretString,
        password: &SecretString,
    ) -> Result<(), CustodyError> {
        let path = self.notify_secrets_path();
        if !path.exists() {
            input::check_new_password(password, true)?;
        }
        let mut all: std::collections::BTreeMap<String, String> = self
            .notify_secrets(password)?
            .into_iter()
            .map(|(k, v)| (k, v.expose_secret().to_owned()))
            .collect();
        all.insert(channel.to_owned(), secret.expose_secret().to_owned());
        let json = Zeroizing::new(serde_json::to_vec(&all).unwrap_or_default());
        for (_, v) in std::mem::take(&mut all) {
            drop(Zeroizing::new(v));
        }
        let keystore = Keystore::encrypt(&json, password.expose_secret().as_bytes(), self.strength, None)
            .map_err(keystore_error(&path))?;
        files::private_dir(&self.dir)?;
        files::write_secret(&path, &keystore.to_json(), true)?;
        Ok(())
    }

    /// The notification secrets stored, by channel name (none without the file).
    ///
    /// # Errors
    /// The file is exposed, damaged, or does not open with `password`.
    pub fn notify_secrets(
        &self,
        password: &SecretString,
    ) -> Result<std::collections::BTreeMap<String, SecretString>, CustodyError> {
        let path = self.notify_secrets_path();
        if !path.exists() {
            return Ok(std::collections::BTreeMap::new());
        }
        let keystore = self.read(&path)?;
        let plain = keystore.decrypt(password.expose_secret().as_bytes()).map_err(keystore_error(&path))?;
        let all: std::collections::BTreeMap<String, String> = serde_json::from_slice(keystore::bytes(&plain))
            .map_err(|e| CustodyError::BadCredentials(format!("{}: {e}", path.display())))?;
        Ok(all.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect())
    }

    /// The stored CLOB credentials, when there are any.
    ///
    /// # Errors
    /// The file is exposed, damaged, or does not open with `password`.
    pub fn credentials(&self, password: &SecretString) -> Result<Option<ApiCredentials>, CustodyError> {
        let path = self.credentials_path();
        if !path.exists() {
            return Ok(None);
        }
        let keystore = self.read(&path)?;
        let secret = keystore.decrypt(password.expose_secret().as_bytes()).map_err(keystore_error(&path))?;
        let plain: CredentialsPlain = serde_json::from_slice(keystore::bytes(&secret))
            .map_err(|e| CustodyError::BadCredentials(e.to_string()))?;
        Ok(Some(ApiCredentials {
            key: plain.key,
            secret: SecretString::from(plain.secret),
            passphrase: SecretString::from(plain.passphrase),
        }))
    }

    fn store_key(
        &self,
        bytes: &[u8],
        password: &SecretString,
        replace: bool,
    ) -> Result<String, CustodyError> {
        input::check_new_password(password, true)?;
        let path = self.key_path();
        if !replace && path.exists() {
            return Err(FileError::Exists { path }.into());
        }
        let signer = PrivateKeySigner::from_slice(bytes)
            .map_err(|_| CustodyError::BadKey("not a valid secp256k1 private key"))?;
        let address = Some(hex::encode(signer.address()));
        let keystore = Keystore::encrypt(bytes, password.expose_secret().as_bytes(), self.strength, address)
            .map_err(keystore_error(&path))?;
        files::private_dir(&self.dir)?;
        files::write_secret(&path, &keystore.to_json(), replace)?;
        Ok(signer.address().to_checksum(None))
    }

    fn read(&self, path: &Path) -> Result<Keystore, CustodyError> {
        if !path.exists() {
            return Err(CustodyError::NoWallet { dir: self.dir.clone() });
        }
        let text = files::read_secret(path)?;
        Keystore::parse(&text).map_err(keystore_error(path))
    }
}

fn keystore_error(path: &Path) -> impl FnOnce(KeystoreError) -> CustodyError + '_ {
    move |source| CustodyError::Keystore { path: path.to_path_buf(), source }
}

/// A private key typed or pasted: 64 hex digits, with or without 0x.
fn parse_key(key: &SecretString) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    let text = key.expose_secret().trim();
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.len() != 64 {
        return Err(CustodyError::BadKey("a private key is 64 hexadecimal digits, optionally prefixed 0x"));
    }
    let bytes = Zeroizing::new(
        hex::decode(digits).map_err(|_| CustodyError::BadKey("a private key is hexadecimal digits only"))?,
    );
    Ok(bytes)
}

/// The address of a private key given as hex, checksummed.
///
/// # Errors
/// Not a valid key.
pub fn address_of(key: &SecretString) -> Result<String, CustodyError> {
    let bytes = parse_key(key)?;
    let signer = PrivateKeySigner::from_slice(&bytes[..])
        .map_err(|_| CustodyError::BadKey("not a valid secp256k1 private key"))?;
    Ok(signer.address().to_checksum(None))
}

#[cfg(test)]
mod tests;
