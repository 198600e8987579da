//! `equilibrage wallet …`: the keystore (new, import, address, export, API credentials), the
//! doctor, and the on-chain commands (approve, redeem).

use crate::{Common, load_config, open_store};
use anyhow::Context as _;
use clap::Subcommand;
use equilibrage::config::{Config, ExchangeMode};
use equilibrage::wallet::signer;
use equilibrage::wallet::{self, WalletDir, input};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum WalletCommand {
    /// Make a new random key and store it encrypted.
    New,
    /// Store an existing key: typed at a hidden prompt (or piped on standard input), or from a
    /// Web3 keystore file written by another tool (it keeps that file's password).
    Import {
        /// A keystore file (geth, Foundry, MetaMask export…) instead of a raw key.
        #[arg(long, value_name = "FILE")]
        keystore: Option<PathBuf>,
        /// Replace the stored wallet. Without it an existing wallet is never overwritten.
        #[arg(long)]
        replace: bool,
    },
    /// Print the stored wallet's address (no password needed).
    Address,
    /// Write the encrypted keystore for other tools (to standard output, or --out).
    ExportKeystore {
        /// Write here (owner-only) instead of standard output; an existing file is refused.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Store CLOB API credentials (key, secret, passphrase) encrypted with the wallet's
    /// password. Without them, live mode derives credentials from the key on each start.
    ApiKey,
    /// Check live trading's wallet at the exchange: signature type against funder, API key, pUSD
    /// balance and allowances, each with a fix. Exits non-zero when a check fails.
    Doctor {
        /// Also post a tiny post-only BUY far below the market and cancel it at once, to learn
        /// whether the exchange accepts orders from this wallet type.
        #[arg(long)]
        test_order: bool,
    },
    /// Send the on-chain approvals trading needs that the wallet lacks (pUSD and outcome shares,
    /// for both exchanges and the NegRiskAdapter), after showing them and asking. Needs
    /// `[chain] rpc_url`, POL for gas, and the bot stopped (it holds the journal).
    Approve {
        /// Send without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Redeem now the resolved markets whose winnings still sit in outcome shares (what live
    /// mode does every `[chain] redeem_every_secs`), after following up any transaction a crash
    /// left open. Needs `[chain] rpc_url` and the bot stopped.
    Redeem,
}

pub(crate) fn wallet_command(common: &Common, command: WalletCommand) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let wallet = WalletDir::in_data_dir(&config.data.dir);
    let mut out = std::io::stdout().lock();
    match command {
        WalletCommand::New => {
            refuse_existing(&wallet, false)?;
            let password = input::password("New keystore password", true)?;
            let address = wallet.create(&password)?;
            writeln!(out, "created wallet {address}")?;
            writeln!(out, "keystore: {} (encrypted; keep the password safe)", wallet.key_path().display())?;
        }
        WalletCommand::Import { keystore, replace } => {
            refuse_existing(&wallet, replace)?;
            let address = match keystore {
                Some(file) => {
                    let password = input::password("The keystore's password", false)?;
                    wallet.import_keystore(&file, &password, replace)?
                }
                None => {
                    let key = input::secret_line("Private key (hidden)")?;
                    let address = wallet::address_of(&key)?;
                    let password = input::password("New keystore password", true)?;
                    wallet.import_key(&key, &password, replace)?;
                    address
                }
            };
            writeln!(out, "imported wallet {address}")?;
            writeln!(out, "keystore: {}", wallet.key_path().display())?;
        }
        WalletCommand::Address => writeln!(out, "{}", wallet.address()?)?,
        WalletCommand::ExportKeystore { out: file } => {
            let text = wallet.export()?;
            match file {
                Some(file) => {
                    wallet::files::write_secret(&file, &text, false)?;
                    writeln!(out, "wrote {}", file.display())?;
                }
                None => writeln!(out, "{text}")?,
            }
        }
        WalletCommand::ApiKey => {
            let key = input::secret_line("CLOB API key")?;
            let secret = input::secret_line("CLOB API secret (hidden)")?;
            let passphrase = input::secret_line("CLOB API passphrase (hidden)")?;
            let password = input::password("Keystore password", false)?;
            // The password must open the wallet: both files then unlock together.
            let unlocked = wallet.unlock(&password)?;
            let credentials = wallet::ApiCredentials {
                key: secrecy::ExposeSecret::expose_secret(&key).to_owned(),
                secret,
                passphrase,
            };
            wallet.store_credentials(&credentials, &password)?;
            writeln!(out, "stored CLOB credentials for {}", unlocked.address)?;
        }
        WalletCommand::Approve { yes } => approve(&config, &wallet, yes, &mut out)?,
        WalletCommand::Redeem => redeem(&config, &wallet, &mut out)?,
        WalletCommand::Doctor { test_order } => {
            anyhow::ensure!(
                config.exchange.mode == ExchangeMode::Live,
                "the wallet doctor checks live trading: give it the live configuration (exchange.mode = \"live\")"
            );
            let live = signer::live_signer(&config.exchange.polymarket, &wallet, || {
                let password = input::password("Keystore password", false)?;
                equilibrage::logging::register_secret(secrecy::ExposeSecret::expose_secret(&password));
                Ok(password)
            })
            .context("the wallet doctor cannot sign in")?;
            let venue = config.exchange.polymarket.venue();
            let report = tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(
                wallet::doctor::run_live(
                    venue,
                    live.config,
                    test_order,
                    config.chain.chain(config.exchange.polymarket.chain_id),
                ),
            );
            write!(out, "{report}")?;
            anyhow::ensure!(
                report.passed(),
                "the wallet doctor found {} failing check(s)",
                report.failures()
            );
        }
    }
    Ok(())
}

/// Says plainly that a wallet exists before asking for anything.
fn refuse_existing(wallet: &WalletDir, replace: bool) -> anyhow::Result<()> {
    if wallet.has_key() && !replace {
        let address = wallet.address().unwrap_or_else(|_| "unreadable".into());
        anyhow::bail!(
            "a wallet ({address}) is already stored in {}; nothing was changed (use `wallet import --replace` to \
             replace it, after `wallet export-keystore` if you still need it)",
            wallet.key_path().display()
        );
    }
    Ok(())
}

/// The wallet on chain for a command: `[chain]`, the unlocked key, and the data directory's
/// journal (the bot must be stopped: it holds the database).
fn chain_for_command(
    config: &Config,
    wallet: &WalletDir,
    what: &str,
) -> anyhow::Result<equilibrage::chain::Chain> {
    let chain_config = config
        .chain
        .chain(config.exchange.polymarket.chain_id)
        .with_context(|| format!("{what} happen on chain: set [chain] rpc_url to a Polygon JSON-RPC URL"))?;
    let live = signer::live_signer(&config.exchange.polymarket, wallet, || {
        let password = input::password("Keystore password", false)?;
        equilibrage::logging::register_secret(secrecy::ExposeSecret::expose_secret(&password));
        Ok(password)
    })
    .with_context(|| format!("{what} need the wallet's key"))?;
    let signer: alloy::signers::local::PrivateKeySigner =
        secrecy::ExposeSecret::expose_secret(&live.config.private_key)
            .trim()
            .parse()
            .context("the signing key")?;
    let store = open_store(&config.data.dir.join("equilibrage.redb"))
        .context("the journal of transactions (stop the bot first: it holds the database)")?;
    Ok(equilibrage::chain::Chain::connect(chain_config, signer, store)?)
}

/// `equilibrage wallet redeem`: follows up the journal, then redeems what is due.
fn redeem(config: &Config, wallet: &WalletDir, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let chain = chain_for_command(config, wallet, "redemptions")?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        for tx in chain.reconcile().await? {
            writeln!(out, "followed up {} ({}): {:?}", tx.hash, tx.what, tx.status)?;
        }
        let done = chain.redeem_due().await?;
        if done.is_empty() {
            writeln!(out, "nothing to redeem now")?;
        }
        for tx in done {
            writeln!(
                out,
                "{:?} {}: {} (block {})",
                tx.status,
                tx.hash,
                tx.what,
                tx.block.unwrap_or_default()
            )?;
        }
        Ok(())
    })
}

/// `equilibrage wallet approve`: lists the missing approvals, asks, sends them one by one.
fn approve(
    config: &Config,
    wallet: &WalletDir,
    yes: bool,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let chain = chain_for_command(config, wallet, "approvals")?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        for tx in chain.reconcile().await? {
            writeln!(out, "followed up {} ({}): {:?}", tx.hash, tx.what, tx.status)?;
        }
        let missing = chain.missing_approvals().await?;
        if missing.is_empty() {
            writeln!(out, "{}: every approval trading needs is in place", chain.address())?;
            return Ok(());
        }
        let balances = chain.balances().await?;
        writeln!(
            out,
            "{} approvals missing for {} ({} POL for gas):",
            missing.len(),
            chain.address(),
            balances.pol
        )?;
        for a in &missing {
            writeln!(out, "  - {} (transaction to {})", a.what, a.to)?;
        }
        if !yes {
            anyhow::ensure!(
                std::io::stdin().is_terminal(),
                "not asking without a terminal: pass --yes to send them"
            );
            write!(out, "Send these {} transactions? [y/N] ", missing.len())?;
            out.flush()?;
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                writeln!(out, "nothing sent")?;
                return Ok(());
            }
        }
        for a in &missing {
            let tx = chain.approve(a).await?;
            writeln!(
                out,
                "  {:?} {}: {} (block {})",
                tx.status,
                tx.hash,
                a.what,
                tx.block.unwrap_or_default()
            )?;
        }
        writeln!(out, "done: run `equilibrage wallet doctor` to see the allowances at the exchange")?;
        Ok(())
    })
}
