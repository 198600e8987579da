//! `equilibrage wallet` through the real binary: keystores other tools open, refusals, no secret shown.

use alloy_signer_local::PrivateKeySigner;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");
const PASSWORD_VAR: &str = "EQUILIBRAGE_WALLET_PASSWORD";

const PASSWORD: &str = "correct horse battery staple";
const WRONG_PASSWORD: &str = "Tr0ub4dor&3-not-it";
/// Seven characters: one short of what a new keystore accepts.
const SHORT_PASSWORD: &str = "7ch@rs!";
/// A keystore made by another tool keeps whatever password that tool allowed, however short.
const FOREIGN_PASSWORD: &str = "anvil3";

/// Anvil's first three well-known test keys and their addresses.
const KEY_A: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ADDRESS_A: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const KEY_B: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ADDRESS_B: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const KEY_C: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const ADDRESS_C: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/// Malformed keys: too short, not hex, and 64 hex digits that are no secp256k1 key (too large, zero).
const KEY_TOO_SHORT: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff8";
const KEY_NOT_HEX: &str = "0xgc0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY_OUT_OF_RANGE: &str = "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const KEY_ZERO: &str = "0x0000000000000000000000000000000000000000000000000000000000000000";

const API_KEY: &str = "3f6c1d2e-9a8b-4c7d-b6e5-api-key-id";
const API_SECRET: &str = "c2VjcmV0LWFwaS1zZWNyZXQtdmFsdWU=";
const API_PASSPHRASE: &str = "passphrase-9b8e7d6c5f4a";

/// Everything no command may ever print, compared case-insensitively (hex keys without their
/// 0x, so both spellings are caught).
const SECRETS: [&str; 13] = [
    KEY_A,
    KEY_B,
    KEY_C,
    KEY_TOO_SHORT,
    KEY_NOT_HEX,
    KEY_OUT_OF_RANGE,
    PASSWORD,
    WRONG_PASSWORD,
    SHORT_PASSWORD,
    FOREIGN_PASSWORD,
    API_SECRET,
    API_PASSPHRASE,
    KEY_ZERO,
];

/// A finished command: whether it succeeded and what it printed.
#[derive(Debug)]
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Asserts the command succeeded.
    fn success(self) -> Self {
        assert!(self.ok, "expected success: {self:?}");
        self
    }

    /// Asserts the command failed, and that its error says each of `phrases`.
    fn failure(self, phrases: &[&str]) -> Self {
        assert!(!self.ok, "expected a failure: {self:?}");
        for phrase in phrases {
            assert!(self.stderr.contains(phrase), "{phrase:?} in {}", self.stderr);
        }
        self
    }
}

/// Panics when `text` shows any of `secrets` (compared without 0x and case-insensitively).
fn assert_shows_none(text: &str, secrets: &[&str]) {
    let text = text.to_lowercase();
    for secret in secrets {
        let secret = secret.trim_start_matches("0x").to_lowercase();
        assert!(!text.contains(&secret), "a secret was shown: {secret:?} in {text}");
    }
}

/// The binary with `args` on `data`, in a clean environment; the password variable set to
/// `password` (none: removed).
fn equilibrage(data: &Path, args: &[&str], password: Option<&str>) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).arg("--data-dir").arg(data).env("NO_COLOR", "1").env("RUST_LOG", "trace");
    for var in [
        "EQUILIBRAGE_CONFIG",
        "EQUILIBRAGE_DATA_DIR",
        "EQUILIBRAGE_PLUGIN_DIR",
        "EQUILIBRAGE_LISTEN",
        "EQUILIBRAGE_TOKEN",
        "POLYMARKET_PRIVATE_KEY",
        "POLYMARKET_API_KEY",
        "POLYMARKET_API_SECRET",
        "POLYMARKET_API_PASSPHRASE",
        "RUST_BACKTRACE",
        "RUST_LIB_BACKTRACE",
    ] {
        command.env_remove(var);
    }
    match password {
        Some(p) => command.env(PASSWORD_VAR, p),
        None => command.env_remove(PASSWORD_VAR),
    };
    command
}

/// Runs `command` with `stdin` piped in (empty: no standard input at all), and checks that
/// nothing it printed shows a secret.
fn finish(mut command: Command, stdin: &str) -> Ran {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if stdin.is_empty() { Stdio::null() } else { Stdio::piped() });
    let mut child = command.spawn().unwrap();
    if let Some(mut pipe) = child.stdin.take() {
        // A command refused before it reads may have closed its end already.
        let _ = pipe.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    let ran = Ran {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert_shows_none(&format!("{}\n{}", ran.stdout, ran.stderr), &SECRETS);
    ran
}

/// `equilibrage wallet <args> --data-dir <data>`: the password from the environment (none:
/// the variable removed), `stdin` piped in.
fn wallet(data: &Path, args: &[&str], password: Option<&str>, stdin: &str) -> Ran {
    let mut full = vec!["wallet"];
    full.extend_from_slice(args);
    finish(equilibrage(data, &full, password), stdin)
}

fn key_path(data: &Path) -> PathBuf {
    data.join("wallet").join("key.json")
}

fn credentials_path(data: &Path) -> PathBuf {
    data.join("wallet").join("clob-credentials.json")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The lowercase hex of a signer's key, without 0x.
fn key_hex(signer: &PrivateKeySigner) -> String {
    hex::encode(signer.to_bytes())
}

/// A keystore written by eth-keystore (through alloy) holding `key`, in `dir`.
fn foreign_keystore(dir: &Path, name: &str, key: &str, password: &str) -> PathBuf {
    let bytes = hex::decode(key.trim_start_matches("0x")).unwrap();
    let (signer, _uuid) =
        PrivateKeySigner::encrypt_keystore(dir, &mut rand_08::thread_rng(), bytes, password, Some(name))
            .unwrap();
    assert_eq!(key_hex(&signer), key.trim_start_matches("0x"));
    dir.join(name)
}

/// A data directory holding `key` imported from a light foreign keystore (cheap to unlock, so
/// refusals can be tried many times), locked with `password`.
fn data_with_foreign_wallet(key: &str, address: &str, password: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let file = foreign_keystore(elsewhere.path(), "foreign.json", key, password);
    let out = wallet(data.path(), &["import", "--keystore", path_str(&file)], Some(password), "").success();
    assert!(out.stdout.contains(&format!("imported wallet {address}")), "{out:?}");
    data
}

/// The three lines `wallet api-key` reads: key, secret, passphrase.
fn api_lines() -> String {
    format!("{API_KEY}\n{API_SECRET}\n{API_PASSPHRASE}\n")
}

#[test]
fn new_prints_the_address_keeps_the_key_owner_only_and_never_replaces_it() {
    let data = tempfile::tempdir().unwrap();
    let created = wallet(data.path(), &["new"], Some(PASSWORD), "").success();
    let address = created
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("created wallet "))
        .unwrap_or_else(|| panic!("no address: {created:?}"))
        .trim()
        .to_owned();
    assert!(address.starts_with("0x") && address.len() == 42, "{address}");
    let key = key_path(data.path());
    assert_eq!(mode(&key), 0o600, "key.json is owner-only");
    assert_eq!(mode(&data.path().join("wallet")), 0o700, "the wallet directory is owner-only");
    assert_eq!(std::fs::read_dir(data.path().join("wallet")).unwrap().count(), 1, "no temporary file left");
    let stored = std::fs::read(&key).unwrap();

    let shown = wallet(data.path(), &["address"], None, "").success();
    assert_eq!(shown.stdout.trim(), address, "read without any password");

    let again = wallet(data.path(), &["new"], Some(PASSWORD), "").failure(&[
        "already stored",
        "nothing was changed",
        &address,
    ]);
    assert_eq!(std::fs::read(&key).unwrap(), stored, "the first wallet is untouched");

    // An independent implementation opens it, and the key it holds was never shown.
    let signer = PrivateKeySigner::decrypt_keystore(&key, PASSWORD).unwrap();
    assert_eq!(signer.address().to_checksum(None), address);
    let secret = key_hex(&signer);
    for ran in [&created, &shown, &again] {
        assert_shows_none(&format!("{}{}", ran.stdout, ran.stderr), &[&secret]);
    }
    assert_shows_none(&String::from_utf8(stored).unwrap(), &[&secret]);
}

#[test]
fn import_takes_a_piped_key_and_refuses_bad_keys_short_passwords_and_silent_replacement() {
    let data = tempfile::tempdir().unwrap();
    let wallet_dir = data.path().join("wallet");
    let key = key_path(data.path());

    // Refusals that write nothing at all.
    for (bad, why) in [
        (KEY_TOO_SHORT, "64 hexadecimal digits"),
        (KEY_NOT_HEX, "hexadecimal digits only"),
        (KEY_OUT_OF_RANGE, "not a valid secp256k1 private key"),
        (KEY_ZERO, "not a valid secp256k1 private key"),
    ] {
        wallet(data.path(), &["import"], Some(PASSWORD), &format!("{bad}\n"))
            .failure(&["not a private key", why]);
        assert!(!wallet_dir.exists(), "nothing written for {bad}");
    }
    wallet(data.path(), &["import"], Some(PASSWORD), "\n").failure(&["nothing was entered"]);
    wallet(data.path(), &["import"], Some(SHORT_PASSWORD), &format!("{KEY_A}\n"))
        .failure(&["at least 8 characters"]);
    wallet(data.path(), &["new"], Some(SHORT_PASSWORD), "").failure(&["at least 8 characters"]);
    assert!(!wallet_dir.exists(), "nothing written for a short password");

    let imported = wallet(data.path(), &["import"], Some(PASSWORD), &format!("{KEY_A}\n")).success();
    assert!(imported.stdout.contains(&format!("imported wallet {ADDRESS_A}")), "{imported:?}");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&wallet_dir), 0o700);
    let stored = std::fs::read_to_string(&key).unwrap();
    assert_shows_none(&stored, &[KEY_A]);
    assert_eq!(wallet(data.path(), &["address"], None, "").success().stdout.trim(), ADDRESS_A);

    // Another key over it: refused without --replace (before anything is read), taken with it.
    // The key comes without 0x and in capitals this time.
    let key_b = KEY_B.trim_start_matches("0x").to_uppercase();
    wallet(data.path(), &["import"], Some(PASSWORD), &format!("{key_b}\n")).failure(&[
        "already stored",
        "nothing was changed",
        ADDRESS_A,
        "--replace",
    ]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), stored, "unchanged without --replace");
    let replaced =
        wallet(data.path(), &["import", "--replace"], Some(PASSWORD), &format!("{key_b}\n")).success();
    assert!(replaced.stdout.contains(&format!("imported wallet {ADDRESS_B}")), "{replaced:?}");
    assert_eq!(wallet(data.path(), &["address"], None, "").success().stdout.trim(), ADDRESS_B);
    assert_eq!(mode(&key), 0o600);
    assert_shows_none(&std::fs::read_to_string(&key).unwrap(), &[KEY_A, KEY_B]);
    assert_eq!(std::fs::read_dir(&wallet_dir).unwrap().count(), 1, "no temporary file left");
}

#[test]
fn an_exported_keystore_opens_elsewhere_and_imports_back_only_with_its_password() {
    let data = tempfile::tempdir().unwrap();
    wallet(data.path(), &["import"], Some(PASSWORD), &format!("{KEY_A}\n")).success();
    let stored = std::fs::read_to_string(key_path(data.path())).unwrap();

    // To a file: owner-only, the same keystore, and eth-keystore opens it. No password needed.
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("backup.json");
    let wrote = wallet(data.path(), &["export-keystore", "--out", path_str(&file)], None, "").success();
    assert!(wrote.stdout.contains(&format!("wrote {}", file.display())), "{wrote:?}");
    assert_eq!(mode(&file), 0o600, "the export is owner-only");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stored);
    let signer = PrivateKeySigner::decrypt_keystore(&file, PASSWORD).unwrap();
    assert_eq!(signer.address().to_checksum(None), ADDRESS_A);
    assert_eq!(key_hex(&signer), KEY_A.trim_start_matches("0x"));

    // Never over an existing file.
    wallet(data.path(), &["export-keystore", "--out", path_str(&file)], None, "")
        .failure(&["already exists", "nothing was overwritten"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stored);

    // To standard output: the keystore's JSON and nothing else.
    let printed = wallet(data.path(), &["export-keystore"], None, "").success();
    assert_eq!(printed.stdout.trim_end(), stored.trim_end());
    let json: serde_json::Value = serde_json::from_str(&printed.stdout).unwrap();
    assert_eq!(json["version"], 3);
    assert_eq!(json["address"], ADDRESS_A.trim_start_matches("0x").to_lowercase());

    // Back into a fresh data directory: with its password only, and a wrong one writes nothing.
    let fresh = tempfile::tempdir().unwrap();
    let refused = tempfile::tempdir().unwrap();
    wallet(refused.path(), &["import", "--keystore", path_str(&file)], Some(WRONG_PASSWORD), "")
        .failure(&["wrong password"]);
    assert!(!key_path(refused.path()).exists(), "nothing written with a wrong password");
    let imported =
        wallet(fresh.path(), &["import", "--keystore", path_str(&file)], Some(PASSWORD), "").success();
    assert!(imported.stdout.contains(&format!("imported wallet {ADDRESS_A}")), "{imported:?}");
    assert_eq!(mode(&key_path(fresh.path())), 0o600);
    assert_eq!(wallet(fresh.path(), &["address"], None, "").success().stdout.trim(), ADDRESS_A);
}

#[test]
fn a_keystore_written_by_another_implementation_imports_and_replaces_only_when_asked() {
    let elsewhere = tempfile::tempdir().unwrap();
    let file_c = foreign_keystore(elsewhere.path(), "c.json", KEY_C, FOREIGN_PASSWORD);
    let file_b = foreign_keystore(elsewhere.path(), "b.json", KEY_B, PASSWORD);
    let data = tempfile::tempdir().unwrap();
    let key = key_path(data.path());

    wallet(data.path(), &["import", "--keystore", path_str(&file_c)], Some(WRONG_PASSWORD), "")
        .failure(&["wrong password"]);
    assert!(!key.exists());
    // Its password is shorter than a new keystore's may be: it is the other tool's, and is kept.
    let imported =
        wallet(data.path(), &["import", "--keystore", path_str(&file_c)], Some(FOREIGN_PASSWORD), "")
            .success();
    assert!(imported.stdout.contains(&format!("imported wallet {ADDRESS_C}")), "{imported:?}");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(wallet(data.path(), &["address"], None, "").success().stdout.trim(), ADDRESS_C);
    let stored = std::fs::read(&key).unwrap();

    // Replacing it: never without --replace, never with a password that does not open the file.
    wallet(data.path(), &["import", "--keystore", path_str(&file_b)], Some(PASSWORD), "").failure(&[
        "already stored",
        "nothing was changed",
        ADDRESS_C,
    ]);
    wallet(data.path(), &["import", "--replace", "--keystore", path_str(&file_b)], Some(WRONG_PASSWORD), "")
        .failure(&["wrong password"]);
    assert_eq!(std::fs::read(&key).unwrap(), stored, "the wallet is untouched");
    wallet(data.path(), &["import", "--replace", "--keystore", path_str(&file_b)], Some(PASSWORD), "")
        .success();
    assert_eq!(wallet(data.path(), &["address"], None, "").success().stdout.trim(), ADDRESS_B);
}

#[test]
fn without_a_password_the_variable_is_named_and_nothing_is_written() {
    let data = tempfile::tempdir().unwrap();
    wallet(data.path(), &["new"], None, "").failure(&[PASSWORD_VAR]);
    wallet(data.path(), &["import"], None, &format!("{KEY_A}\n")).failure(&[PASSWORD_VAR]);
    let elsewhere = tempfile::tempdir().unwrap();
    let file = foreign_keystore(elsewhere.path(), "c.json", KEY_C, PASSWORD);
    wallet(data.path(), &["import", "--keystore", path_str(&file)], None, "").failure(&[PASSWORD_VAR]);
    assert!(!data.path().join("wallet").exists(), "nothing written");

    let data = data_with_foreign_wallet(KEY_C, ADDRESS_C, PASSWORD);
    wallet(data.path(), &["api-key"], None, &api_lines()).failure(&[PASSWORD_VAR]);
    assert!(!credentials_path(data.path()).exists());
}

#[test]
fn a_damaged_keystore_is_reported_plainly_and_left_alone() {
    let data = data_with_foreign_wallet(KEY_C, ADDRESS_C, FOREIGN_PASSWORD);
    let key = key_path(data.path());
    let good = std::fs::read_to_string(&key).unwrap();

    // Cut in half: not a keystore any more.
    let truncated = &good[..good.len() / 2];
    std::fs::write(&key, truncated).unwrap();
    let damaged = ["key.json", "not a Web3 Secret Storage keystore"];
    wallet(data.path(), &["address"], None, "").failure(&damaged);
    wallet(data.path(), &["api-key"], Some(FOREIGN_PASSWORD), &api_lines()).failure(&damaged);
    wallet(data.path(), &["new"], Some(PASSWORD), "").failure(&["already stored", "nothing was changed"]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), truncated, "left as it was");
    assert!(!credentials_path(data.path()).exists());

    // One ciphertext digit changed: the checksum catches it.
    let json: serde_json::Value = serde_json::from_str(&good).unwrap();
    let ciphertext = json["crypto"]["ciphertext"].as_str().unwrap();
    let flipped = format!("{}{}", if ciphertext.starts_with('0') { "1" } else { "0" }, &ciphertext[1..]);
    let tampered = good.replace(ciphertext, &flipped);
    std::fs::write(&key, &tampered).unwrap();
    wallet(data.path(), &["api-key"], Some(FOREIGN_PASSWORD), &api_lines())
        .failure(&["key.json", "checksum does not match"]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), tampered, "left as it was");
    assert!(!credentials_path(data.path()).exists());
    assert_eq!(mode(&key), 0o600);
}

/// `equilibrage run` with `config`, stopped after `limit` if it has not exited by itself.
fn run_bot(data: &Path, config: &Path, password: &str, limit: Duration) -> (Ran, bool) {
    let mut command =
        equilibrage(data, &["run", "--listen", "127.0.0.1:0", "--config", path_str(config)], Some(password));
    command.env("RUST_LOG", "info").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).unwrap();
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, false);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            break (child.wait().unwrap(), true);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ran = Ran { ok: status.success(), stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() };
    assert_shows_none(&format!("{}\n{}", ran.stdout, ran.stderr), &SECRETS);
    (ran, timed_out)
}

#[test]
fn a_world_readable_keystore_is_refused_by_the_wallet_and_by_live_mode() {
    let data = data_with_foreign_wallet(KEY_C, ADDRESS_C, PASSWORD);
    let key = key_path(data.path());
    let stored = std::fs::read(&key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let fix = ["can be read by other users", "chmod 600"];
    wallet(data.path(), &["address"], None, "").failure(&fix);
    let export = wallet(data.path(), &["export-keystore"], None, "").failure(&fix);
    assert!(export.stdout.is_empty(), "nothing exported: {export:?}");
    wallet(data.path(), &["api-key"], Some(PASSWORD), &api_lines()).failure(&fix);
    assert!(!credentials_path(data.path()).exists());

    // Live mode stops before it trades (nothing listens at these addresses; none is reached).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("live.toml");
    std::fs::write(
        &config,
        "[exchange]\nmode = \"live\"\n[exchange.polymarket]\nclob_url = \"http://127.0.0.1:9\"\n\
         gamma_url = \"http://127.0.0.1:9\"\nws_url = \"ws://127.0.0.1:9\"\n",
    )
    .unwrap();
    let (bot, timed_out) = run_bot(data.path(), &config, PASSWORD, Duration::from_secs(180));
    assert!(!timed_out, "the bot did not stop by itself: {bot:?}");
    assert!(!bot.ok, "live mode refused to start: {bot:?}");
    for phrase in ["live mode cannot sign in", "chmod 600", "key.json"] {
        assert!(bot.stderr.contains(phrase), "{phrase:?} in {}", bot.stderr);
    }
    for started in ["engine ready", "dashboard: http://", "LIVE trading"] {
        assert!(!bot.stderr.contains(started), "{started:?} in {}", bot.stderr);
    }
    assert_eq!(std::fs::read(&key).unwrap(), stored, "left as it was");
    assert_eq!(mode(&key), 0o644, "not silently changed");
}

#[test]
fn api_key_stores_the_credentials_encrypted_under_the_wallet_password() {
    let data = data_with_foreign_wallet(KEY_C, ADDRESS_C, PASSWORD);
    let credentials = credentials_path(data.path());
    let wallet_key = std::fs::read(key_path(data.path())).unwrap();

    wallet(data.path(), &["api-key"], Some(WRONG_PASSWORD), &api_lines()).failure(&["wrong password"]);
    assert!(!credentials.exists(), "nothing written with a wrong password");
    let two_lines = api_lines().lines().take(2).map(|l| format!("{l}\n")).collect::<String>();
    wallet(data.path(), &["api-key"], Some(PASSWORD), &two_lines).failure(&["nothing was entered"]);
    assert!(!credentials.exists(), "nothing written without a passphrase");

    let stored = wallet(data.path(), &["api-key"], Some(PASSWORD), &api_lines()).success();
    assert!(stored.stdout.contains(&format!("stored CLOB credentials for {ADDRESS_C}")), "{stored:?}");
    assert_eq!(mode(&credentials), 0o600);
    let text = std::fs::read_to_string(&credentials).unwrap();
    assert_shows_none(&text, &[API_KEY, API_SECRET, API_PASSPHRASE]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 3, "a Web3 Secret Storage file: {text}");
    assert_eq!(std::fs::read(key_path(data.path())).unwrap(), wallet_key, "the key is untouched");

    // What was stored is what was typed, under the wallet's password.
    let opened = equilibrage::wallet::WalletDir::in_data_dir(data.path())
        .credentials(&secrecy::SecretString::from(PASSWORD.to_owned()))
        .unwrap()
        .unwrap();
    assert_eq!(opened.key, API_KEY);
    assert_eq!(secrecy::ExposeSecret::expose_secret(&opened.secret), API_SECRET);
    assert_eq!(secrecy::ExposeSecret::expose_secret(&opened.passphrase), API_PASSPHRASE);

    wallet(data.path(), &["api-key"], Some(WRONG_PASSWORD), &api_lines()).failure(&["wrong password"]);
    assert_eq!(std::fs::read_to_string(&credentials).unwrap(), text, "unchanged by a wrong password");
}

// Export: only a sound keystore leaves, and the operator's directories keep their permissions.

#[test]
fn export_keystore_refuses_a_damaged_keystore() {
    let data = data_with_foreign_wallet(KEY_C, ADDRESS_C, FOREIGN_PASSWORD);
    let key = key_path(data.path());
    let good = std::fs::read_to_string(&key).unwrap();
    std::fs::write(&key, &good[..good.len() / 2]).unwrap();
    let printed = wallet(data.path(), &["export-keystore"], None, "")
        .failure(&["key.json", "not a Web3 Secret Storage keystore"]);
    assert!(printed.stdout.is_empty(), "{printed:?}");
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("backup.json");
    wallet(data.path(), &["export-keystore", "--out", path_str(&file)], None, "")
        .failure(&["not a Web3 Secret Storage keystore"]);
    assert!(!file.exists());
}

#[test]
fn export_keystore_leaves_the_target_directory_alone() {
    let data = data_with_foreign_wallet(KEY_C, ADDRESS_C, FOREIGN_PASSWORD);
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = shared.path().join("backup.json");
    wallet(data.path(), &["export-keystore", "--out", path_str(&file)], None, "").success();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(shared.path()), 0o755, "the operator's directory keeps its permissions");
}

#[test]
fn export_keystore_to_a_bare_file_name_writes_in_the_current_directory() {
    let data = data_with_foreign_wallet(KEY_C, ADDRESS_C, FOREIGN_PASSWORD);
    let here = tempfile::tempdir().unwrap();
    let mut command = equilibrage(data.path(), &["wallet", "export-keystore", "--out", "backup.json"], None);
    command.current_dir(here.path());
    finish(command, "").success();
    assert_eq!(mode(&here.path().join("backup.json")), 0o600);
}
