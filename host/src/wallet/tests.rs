//! The wallet directory end to end: create, import, unlock, export, and every refusal.

use super::keystore::Strength;
use super::*;
use std::os::unix::fs::PermissionsExt as _;

const KNOWN: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KNOWN_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn light(dir: &Path) -> WalletDir {
    WalletDir::in_data_dir(dir).with_strength(Strength::LIGHT)
}

#[test]
fn create_unlock_and_export_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let wallet = light(tmp.path());
    assert!(matches!(wallet.address(), Err(CustodyError::NoWallet { .. })));
    let password = secret("correct horse battery");
    let address = wallet.create(&password).unwrap();
    assert!(address.starts_with("0x") && address.len() == 42);
    assert_eq!(wallet.address().unwrap(), address, "read without the password");
    let unlocked = wallet.unlock(&password).unwrap();
    assert_eq!(unlocked.address, address);
    let text = wallet.export().unwrap();
    assert!(!text.contains(unlocked.key.expose_secret()), "the export is encrypted");
    assert_eq!(std::fs::metadata(wallet.key_path()).unwrap().permissions().mode() & 0o777, 0o600);
    // A second `new` would destroy the first key: refused, and the first key stays.
    assert!(matches!(wallet.create(&password), Err(CustodyError::File(FileError::Exists { .. }))));
    assert_eq!(wallet.unlock(&password).unwrap().address, address);
}

#[test]
fn import_from_a_key_or_a_keystore_file() {
    let tmp = tempfile::tempdir().unwrap();
    let wallet = light(tmp.path());
    let password = secret("correct horse battery");
    for bad in
        ["0xabc", "zz74bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80ac09", &"0".repeat(64)]
    {
        assert!(
            matches!(wallet.import_key(&secret(bad), &password, false), Err(CustodyError::BadKey(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        wallet.import_key(&secret(KNOWN), &secret("short"), false),
        Err(CustodyError::Input(input::InputError::TooShort))
    ));
    assert!(!wallet.has_key(), "nothing written by refused imports");
    assert_eq!(wallet.import_key(&secret(&format!("  {KNOWN}\n")), &password, false).unwrap(), KNOWN_ADDRESS);

    // Another data directory imports the first one's exported keystore with its password.
    let other = light(&tmp.path().join("other"));
    let file = tmp.path().join("exported.json");
    std::fs::write(&file, wallet.export().unwrap()).unwrap();
    assert!(other.import_keystore(&file, &secret("wrong password"), false).is_err());
    assert!(!other.has_key());
    assert_eq!(other.import_keystore(&file, &password, false).unwrap(), KNOWN_ADDRESS);
    assert_eq!(other.unlock(&password).unwrap().address, KNOWN_ADDRESS);
}

#[test]
fn wrong_password_corrupt_file_and_exposed_file_give_clear_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let wallet = light(tmp.path());
    let password = secret("correct horse battery");
    wallet.import_key(&secret(KNOWN), &password, false).unwrap();
    let before = std::fs::read(wallet.key_path()).unwrap();

    let wrong = wallet.unlock(&secret("incorrect horse")).unwrap_err();
    assert!(wrong.to_string().contains("wrong password"), "{wrong}");

    std::fs::set_permissions(wallet.key_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let exposed = wallet.unlock(&password).unwrap_err();
    assert!(exposed.to_string().contains("chmod 600"), "{exposed}");
    assert!(wallet.address().is_err() && wallet.export().is_err());
    std::fs::set_permissions(wallet.key_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(std::fs::read(wallet.key_path()).unwrap(), before, "nothing overwritten");

    let damaged = tmp.path().join("damaged");
    let broken = light(&damaged);
    files::write_secret(&broken.key_path(), "{\"crypto\": 12", false).unwrap();
    let corrupt = broken.unlock(&password).unwrap_err();
    assert!(corrupt.to_string().contains("not a Web3 Secret Storage keystore"), "{corrupt}");
    assert!(matches!(
        broken.import_key(&secret(KNOWN), &password, false),
        Err(CustodyError::File(FileError::Exists { .. }))
    ));
    assert_eq!(std::fs::read_to_string(broken.key_path()).unwrap(), "{\"crypto\": 12");
}

#[test]
fn keystores_move_between_the_bot_and_an_independent_implementation() {
    // eth-keystore (through alloy's local signer) opens what the bot writes…
    let tmp = tempfile::tempdir().unwrap();
    let wallet = light(tmp.path());
    let password = secret("correct horse battery");
    wallet.import_key(&secret(KNOWN), &password, false).unwrap();
    let opened = PrivateKeySigner::decrypt_keystore(wallet.key_path(), "correct horse battery").unwrap();
    assert_eq!(opened.address().to_checksum(None), KNOWN_ADDRESS);

    // …and the bot opens what eth-keystore writes.
    let foreign_dir = tmp.path().join("foreign");
    std::fs::create_dir(&foreign_dir).unwrap();
    let key = hex::decode(KNOWN.trim_start_matches("0x")).unwrap();
    let mut rng = rand_08::thread_rng();
    PrivateKeySigner::encrypt_keystore(&foreign_dir, &mut rng, &key, "their password", Some("k.json"))
        .unwrap();
    let other = light(&tmp.path().join("other"));
    let address =
        other.import_keystore(&foreign_dir.join("k.json"), &secret("their password"), false).unwrap();
    assert_eq!(address, KNOWN_ADDRESS);
    assert_eq!(other.unlock(&secret("their password")).unwrap().key.expose_secret(), &KNOWN[2..]);
}

#[test]
fn notification_secrets_are_stored_encrypted_per_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let wallet = light(tmp.path());
    let password = secret("correct horse battery");
    assert!(wallet.notify_secrets(&password).unwrap().is_empty(), "none before the file");
    let token = "123456:AAH-a-telegram-bot-token-value";
    wallet.store_notify_secret("phone", &secret(token), &password).unwrap();
    wallet.store_notify_secret("hook", &secret("https://hooks.example/abc/def"), &password).unwrap();
    let text = std::fs::read_to_string(wallet.notify_secrets_path()).unwrap();
    assert!(text.contains("\"crypto\"") && !text.contains("AAH-a-telegram"), "a keystore, encrypted: {text}");
    assert_eq!(std::fs::metadata(wallet.notify_secrets_path()).unwrap().permissions().mode() & 0o777, 0o600);
    let all = wallet.notify_secrets(&password).unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["hook", "phone"]);
    assert_eq!(all["phone"].expose_secret(), token);
    // Replacing one keeps the other; a wrong password changes nothing.
    wallet.store_notify_secret("phone", &secret("654321:other"), &password).unwrap();
    assert!(wallet.store_notify_secret("phone", &secret("x"), &secret("wrong password!")).is_err());
    assert!(wallet.notify_secrets(&secret("wrong password!")).is_err());
    let all = wallet.notify_secrets(&password).unwrap();
    assert_eq!(
        (all["phone"].expose_secret(), all["hook"].expose_secret()),
        ("654321:other", "https://hooks.example/abc/def")
    );
}
