//! The wallet on chain as the dashboard shows it: balances, markets due for redemption and the
//! journal of the transactions the bot sent.

use rust_decimal::Decimal;
use serde::Serialize;

/// The wallet on chain (live mode with `[chain] rpc_url`): the Settings page's balances, the
/// History page's redemptions, and `GET /api/wallet/chain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainView {
    pub address: String,
    /// pUSD and POL, when the node answered in time.
    pub balances: Option<ChainBalancesView>,
    /// Why the balances are missing.
    pub balances_error: Option<String>,
    /// Too little POL to pay for approvals and redemptions.
    pub low_gas: bool,
    /// Resolved markets are redeemed automatically (`[chain] redeem`).
    pub auto_redeem: bool,
    /// Resolved markets whose winning shares wait for redemption.
    pub due: Vec<RedemptionView>,
    /// The transactions the bot sent, newest first (at most 50).
    pub transactions: Vec<ChainTxView>,
}

/// What the wallet holds on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChainBalancesView {
    pub pusd: Decimal,
    /// For gas.
    pub pol: Decimal,
}

/// A resolved market whose winning shares wait for redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedemptionView {
    pub condition_id: String,
    pub question: String,
    pub neg_risk: bool,
    /// What the ledger booked for the winning shares, in pUSD.
    pub payout: Decimal,
}

/// A transaction the bot signed, journalled before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainTxView {
    pub hash: String,
    /// `redeem` or `approve`.
    pub kind: String,
    pub what: String,
    pub condition_id: Option<String>,
    pub nonce: u64,
    /// `signed`, `sent`, `confirmed`, `reverted` or `dropped`.
    pub status: String,
    pub block: Option<u64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}
