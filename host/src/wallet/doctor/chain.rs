//! The doctor's on-chain check: the key's pUSD and POL, and (for a plain EOA wallet) the
//! approvals trading needs, read from `[chain] rpc_url`.

use super::{Check, Setup, Status, check};
use crate::chain::{Chain, ChainConfig, LOW_GAS};
use crate::exchange::polymarket::WalletType;

pub(super) const CHAIN: (&str, &str) = ("chain", "On chain (gas and approvals)");

/// The check when the node did not answer.
fn unreachable(e: &dyn std::fmt::Display) -> Check {
    check(
        CHAIN,
        Status::Warn,
        format!("the chain did not answer: {e}"),
        Some("Check `[chain] rpc_url` (a Polygon JSON-RPC URL) and the network.".into()),
    )
}

/// Reads balances and approvals; never sends anything.
pub(super) async fn chain_check(setup: &Setup, config: Option<ChainConfig>, key: &str) -> Check {
    let Some(config) = config else {
        return check(
            CHAIN,
            Status::Skipped,
            "`[chain] rpc_url` is not set: resolved markets are not redeemed automatically".into(),
            Some("Set `[chain] rpc_url` to a Polygon JSON-RPC URL to redeem winnings and check gas and approvals.".into()),
        );
    };
    let Ok(signer) = key.trim().parse::<alloy::signers::local::PrivateKeySigner>() else {
        return check(CHAIN, Status::Fail, "the signing key is not a valid key".into(), None);
    };
    let store = match crate::store::Store::in_memory() {
        Ok(store) => store,
        Err(e) => return unreachable(&e),
    };
    match Chain::connect(config, signer, store) {
        Ok(chain) => chain_check_on(setup, &chain).await,
        Err(e) => unreachable(&e),
    }
}

/// The on-chain check with a wallet already connected (the running bot's).
pub async fn chain_check_on(setup: &Setup, chain: &Chain) -> Check {
    let balances = match chain.balances().await {
        Ok(b) => b,
        Err(e) => return unreachable(&e),
    };
    let holds =
        format!("{} holds {} POL for gas and {} pUSD on chain", chain.address(), balances.pol, balances.pusd);
    if setup.wallet == WalletType::Eoa {
        match chain.missing_approvals().await {
            Ok(missing) if !missing.is_empty() => {
                let list: Vec<String> = missing.iter().map(|a| a.what.clone()).collect();
                return check(
                    CHAIN,
                    Status::Fail,
                    format!("{holds}; {} approvals are missing: {}", missing.len(), list.join("; ")),
                    Some("Run `equilibrage wallet approve` (it shows them and asks before sending).".into()),
                );
            }
            Ok(_) => {}
            Err(e) => return unreachable(&e),
        }
    }
    if balances.pol < LOW_GAS {
        return check(
            CHAIN,
            Status::Warn,
            format!("{holds}: too little to pay for approvals and redemptions"),
            Some(format!("Send some POL to {} for gas.", chain.address())),
        );
    }
    let approvals =
        if setup.wallet == WalletType::Eoa { "; every approval trading needs is in place" } else { "" };
    check(CHAIN, Status::Pass, format!("{holds}{approvals}"), None)
}
