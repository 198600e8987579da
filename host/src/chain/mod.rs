//! On chain through alloy (JSON-RPC): pUSD and POL balances, the approvals trading needs, and
//! redemption of resolved markets so their capital returns to the wallet. Every transaction is
//! journalled signed, before it is sent, and reconciled on start by hash and nonce: a crash
//! repeats nothing and loses nothing.

mod contracts;
mod redeem;

pub use contracts::Addresses;
use contracts::{IConditionalTokens, IErc20, INegRiskAdapter};
pub use redeem::{Due, due};

use crate::store::{ChainTx, ChainTxStatus, Store, StoreError};
use alloy::eips::eip2718::Encodable2718 as _;
use alloy::network::{EthereumWallet, TransactionBuilder as _};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall as _;
use rust_decimal::Decimal;
use std::future::IntoFuture;
use std::time::Duration;

/// What can go wrong on chain, by what the caller must do.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or answered with an error; try again later.
    #[error("chain RPC: {0}")]
    Rpc(String),
    /// The transaction would revert (found before sending) or did (mined): its reason.
    #[error("{what} would not go through: {reason}")]
    Refused { what: String, reason: String },
    /// Configuration or input the bot refuses.
    #[error("{0}")]
    Invalid(String),
    /// No receipt within the wait; the transaction stays journalled and is reconciled later.
    #[error("{what}: sent as {hash}, no receipt after {secs} s yet (it is followed up at the next start)")]
    Pending { what: String, hash: String, secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of a chain call.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

/// Where the chain is and how to talk to it.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    pub rpc_url: String,
    /// 137 (Polygon) or a local chain's id.
    pub chain_id: u64,
    pub addresses: Addresses,
    /// Budget of one RPC call, and attempts in all for calls that change nothing.
    pub timeout: Duration,
    pub attempts: u32,
    /// How long to wait for a receipt, polling every `poll`.
    pub receipt_wait: Duration,
    pub poll: Duration,
    /// Most RPC calls per second (public Polygon endpoints throttle hard).
    pub calls_per_second: u32,
}

impl ChainConfig {
    /// Polygon mainnet at `rpc_url`.
    #[must_use]
    pub fn polygon(rpc_url: &str) -> Self {
        Self {
            rpc_url: rpc_url.to_owned(),
            chain_id: 137,
            addresses: Addresses::POLYGON,
            timeout: Duration::from_secs(10),
            attempts: 4,
            receipt_wait: Duration::from_secs(120),
            poll: Duration::from_secs(2),
            calls_per_second: 10,
        }
    }
}

/// Below this much POL, approvals and redemptions may run out of gas.
pub const LOW_GAS: Decimal = Decimal::from_parts(5, 0, 0, false, 2);

/// The wallet's money on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBalances {
    /// pUSD (6 decimals).
    pub pusd: Decimal,
    /// POL for gas (18 decimals).
    pub pol: Decimal,
}

/// An approval the wallet needs: what it allows, and the call that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub what: String,
    pub to: Address,
    pub data: Bytes,
}

/// The wallet on chain.
pub struct Chain {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    config: ChainConfig,
    store: Store,
    limiter: crate::exchange::polymarket::RateLimiter,
    /// Held from choosing a nonce to the receipt, and while reconciling: one transaction of
    /// this wallet in flight at a time from this process, so two never take the same nonce.
    sending: tokio::sync::Mutex<()>,
    /// Held while deciding what to redeem and redeeming it (the settlement loop and the
    /// dashboard's button), so one market is never redeemed twice.
    redeeming: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("address", &self.address)
            .field("rpc", &self.config.rpc_url)
            .finish_non_exhaustive()
    }
}

/// `units` of a token with `decimals` decimals, exactly.
fn amount(units: U256, decimals: u32) -> Result<Decimal> {
    i128::try_from(units)
        .ok()
        .and_then(|u| Decimal::try_from_i128_with_scale(u, decimals).ok())
        .map(|d| d.normalize())
        .ok_or_else(|| {
            ChainError::Invalid(format!("{units} units with {decimals} decimals do not fit a decimal"))
        })
}

impl Chain {
    /// A wallet on the chain at `config.rpc_url`, journalling into `store`.
    ///
    /// # Errors
    /// An RPC URL that does not parse.
    pub fn connect(config: ChainConfig, key: PrivateKeySigner, store: Store) -> Result<Self> {
        let url = config
            .rpc_url
            .parse()
            .map_err(|e| ChainError::Invalid(format!("chain rpc_url {:?}: {e}", config.rpc_url)))?;
        let provider = ProviderBuilder::new().connect_http(url).erased();
        let address = key.address();
        let limiter =
            crate::exchange::polymarket::RateLimiter::new(config.calls_per_second, Duration::from_secs(1));
        Ok(Self {
            provider,
            wallet: EthereumWallet::from(key),
            address,
            config,
            store,
            limiter,
            sending: tokio::sync::Mutex::new(()),
            redeeming: tokio::sync::Mutex::new(()),
        })
    }

    /// The wallet's address.
    #[must_use]
    pub fn address(&self) -> Address {
        self.address
    }

    /// Every journalled transaction, newest first.
    ///
    /// # Errors
    /// The store failing.
    pub fn transactions(&self) -> Result<Vec<ChainTx>> {
        let mut txs = self.store.read()?.chain_txs()?;
        txs.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then_with(|| b.nonce.cmp(&a.nonce)));
        Ok(txs)
    }

    /// One RPC call under the rate limit and the timeout, retried with backoff when it may be.
    async fn call<T, E: std::fmt::Display, F: IntoFuture<Output = std::result::Result<T, E>>>(
        &self,
        what: &str,
        f: impl Fn() -> F,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.limiter.acquire().await;
            let error = match tokio::time::timeout(self.config.timeout, f().into_future()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("timed out after {} ms", self.config.timeout.as_millis()),
            };
            if attempt >= self.config.attempts.max(1) {
                return Err(ChainError::Rpc(format!("{what}: {error}")));
            }
            tracing::debug!(what, attempt, %error, "chain call failed; retrying");
            tokio::time::sleep(Duration::from_millis(200) * (1 << attempt.min(5))).await;
        }
    }

    /// A read-only contract call.
    async fn view<C: alloy::sol_types::SolCall>(
        &self,
        what: &str,
        to: Address,
        call: C,
    ) -> Result<C::Return> {
        let request = TransactionRequest::default().with_to(to).with_input(Bytes::from(call.abi_encode()));
        let out = self.call(what, || self.provider.call(request.clone())).await?;
        C::abi_decode_returns(&out).map_err(|e| ChainError::Rpc(format!("{what}: {e}")))
    }

    /// pUSD and POL held by the wallet.
    ///
    /// # Errors
    /// The node unreachable after the retries.
    pub async fn balances(&self) -> Result<ChainBalances> {
        let units = self
            .view(
                "pUSD balance",
                self.config.addresses.collateral,
                IErc20::balanceOfCall { owner: self.address },
            )
            .await?;
        let wei = self.call("POL balance", || self.provider.get_balance(self.address)).await?;
        Ok(ChainBalances { pusd: amount(units, 6)?, pol: amount(wei, 18)? })
    }

    /// Whether a market's result is on chain yet (redemption reverts before).
    ///
    /// # Errors
    /// The node unreachable after the retries.
    pub async fn is_resolved(&self, condition_id: B256) -> Result<bool> {
        let call = IConditionalTokens::payoutDenominatorCall { conditionId: condition_id };
        let den = self.view("payout denominator", self.config.addresses.conditional_tokens, call).await?;
        Ok(!den.is_zero())
    }

    /// Redeems the wallet's shares of a resolved market for pUSD: through the Conditional
    /// Tokens contract, or for a neg-risk market through the NegRiskAdapter with the `amounts`
    /// of each outcome held (in 10^-6 shares). Returns the journalled transaction once mined.
    ///
    /// # Errors
    /// The redemption would revert (market not resolved, nothing held), the node unreachable,
    /// or no receipt within the wait (it stays journalled: [`ChainError::Pending`]).
    pub async fn redeem(&self, condition_id: B256, neg_risk: Option<[U256; 2]>) -> Result<ChainTx> {
        let what = format!("redeem {condition_id}");
        let (to, data): (Address, Bytes) = match neg_risk {
            None => (
                self.config.addresses.conditional_tokens,
                IConditionalTokens::redeemPositionsCall {
                    collateralToken: self.config.addresses.collateral,
                    parentCollectionId: B256::ZERO,
                    conditionId: condition_id,
                    indexSets: vec![U256::from(1), U256::from(2)],
                }
                .abi_encode()
                .into(),
            ),
            Some(amounts) => (
                self.config.addresses.neg_risk_adapter,
                INegRiskAdapter::redeemPositionsCall { conditionId: condition_id, amounts: amounts.to_vec() }
                    .abi_encode()
                    .into(),
            ),
        };
        self.transact("redeem", &what, Some(condition_id.to_string()), to, data).await
    }

    /// The approvals trading needs that the wallet has not given yet: pUSD `approve` and
    /// Conditional Tokens `setApprovalForAll` for both exchanges and the NegRiskAdapter.
    ///
    /// # Errors
    /// The node unreachable after the retries.
    pub async fn missing_approvals(&self) -> Result<Vec<Approval>> {
        let a = self.config.addresses;
        let mut missing = Vec::new();
        for (name, spender) in a.spenders() {
            let allowed = self
                .view("allowance", a.collateral, IErc20::allowanceCall { owner: self.address, spender })
                .await?;
            // Unlimited approvals are what Polymarket's apps give; anything short runs out.
            if allowed < U256::MAX >> 1 {
                missing.push(Approval {
                    what: format!("let {name} {spender} spend the wallet's pUSD"),
                    to: a.collateral,
                    data: IErc20::approveCall { spender, value: U256::MAX }.abi_encode().into(),
                });
            }
            let call = IConditionalTokens::isApprovedForAllCall { owner: self.address, operator: spender };
            if !self.view("conditional-token approval", a.conditional_tokens, call).await? {
                missing.push(Approval {
                    what: format!("let {name} {spender} move the wallet's outcome shares (needed to sell)"),
                    to: a.conditional_tokens,
                    data: IConditionalTokens::setApprovalForAllCall { operator: spender, approved: true }
                        .abi_encode()
                        .into(),
                });
            }
        }
        Ok(missing)
    }

    /// Sends one approval (see [`Chain::missing_approvals`]) and waits for it to be mined.
    ///
    /// # Errors
    /// As [`Chain::redeem`].
    pub async fn approve(&self, approval: &Approval) -> Result<ChainTx> {
        self.transact("approve", &approval.what, None, approval.to, approval.data.clone()).await
    }

    /// Signs a transaction, journals it, sends it and waits for its receipt.
    async fn transact(
        &self,
        kind: &str,
        what: &str,
        condition_id: Option<String>,
        to: Address,
        data: Bytes,
    ) -> Result<ChainTx> {
        let _one_at_a_time = self.sending.lock().await;
        let request = TransactionRequest::default().with_from(self.address).with_to(to).with_input(data);
        // A transaction that would revert is refused before anything is signed.
        let gas = match tokio::time::timeout(self.config.timeout, self.provider.estimate_gas(request.clone()))
            .await
        {
            Ok(Ok(gas)) => gas,
            Ok(Err(e)) => return Err(ChainError::Refused { what: what.to_owned(), reason: e.to_string() }),
            Err(_) => return Err(ChainError::Rpc(format!("{what}: estimating gas timed out"))),
        };
        let gas_price = self.call("gas price", || self.provider.get_gas_price()).await?;
        // A nonce after every transaction still open in the journal (one signed but never sent
        // before a crash holds its nonce until reconciled).
        let pending =
            self.call("nonce", || self.provider.get_transaction_count(self.address).pending()).await?;
        let open = self
            .store
            .read()?
            .chain_txs()?
            .into_iter()
            .filter(|t| t.status.is_open())
            .map(|t| t.nonce + 1)
            .max();
        let nonce = pending.max(open.unwrap_or(0));
        let request = request
            .with_nonce(nonce)
            .with_chain_id(self.config.chain_id)
            .with_gas_limit(gas.saturating_mul(6) / 5)
            .with_max_fee_per_gas(gas_price.saturating_mul(2))
            .with_max_priority_fee_per_gas(gas_price);
        let envelope = request
            .build(&self.wallet)
            .await
            .map_err(|e| ChainError::Invalid(format!("{what}: signing: {e}")))?;
        let now = crate::clock::unix_now_ms();
        let mut tx = ChainTx {
            hash: envelope.tx_hash().to_string(),
            kind: kind.to_owned(),
            what: what.to_owned(),
            condition_id,
            nonce,
            raw: format!("0x{}", alloy::hex::encode(envelope.encoded_2718())),
            status: ChainTxStatus::Signed,
            block: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.journal(&tx).await?;
        tracing::info!(hash = %tx.hash, nonce, %what, "transaction signed and journalled; sending");
        self.broadcast(&mut tx).await?;
        self.settle(&mut tx).await?;
        Ok(tx)
    }

    async fn journal(&self, tx: &ChainTx) -> Result<()> {
        let record = tx.clone();
        Ok(self.store.write(move |w| w.put_chain_tx(&record)).await?)
    }

    /// Sends the journalled bytes; a node that already has them is as good as sent.
    async fn broadcast(&self, tx: &mut ChainTx) -> Result<()> {
        let raw = alloy::hex::decode(&tx.raw)
            .map_err(|e| ChainError::Invalid(format!("journalled transaction {}: {e}", tx.hash)))?;
        match tokio::time::timeout(self.config.timeout, self.provider.send_raw_transaction(&raw)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.to_string().to_lowercase().contains("already") => {}
            // Maybe sent, maybe not: the receipt (or the nonce) will tell.
            Ok(Err(e)) => {
                tracing::warn!(hash = %tx.hash, error = %e, "sending the transaction failed; following it up")
            }
            Err(_) => tracing::warn!(hash = %tx.hash, "sending the transaction timed out; following it up"),
        }
        tx.status = ChainTxStatus::Sent;
        tx.updated_at_ms = crate::clock::unix_now_ms();
        self.journal(tx).await
    }

    /// Waits for the receipt and records the outcome.
    async fn settle(&self, tx: &mut ChainTx) -> Result<()> {
        let hash: B256 =
            tx.hash.parse().map_err(|e| ChainError::Invalid(format!("hash {}: {e}", tx.hash)))?;
        let deadline = tokio::time::Instant::now() + self.config.receipt_wait;
        loop {
            if let Some(receipt) =
                self.call("receipt", || self.provider.get_transaction_receipt(hash)).await?
            {
                tx.status = if receipt.status() { ChainTxStatus::Confirmed } else { ChainTxStatus::Reverted };
                tx.block = receipt.block_number;
                tx.updated_at_ms = crate::clock::unix_now_ms();
                self.journal(tx).await?;
                tracing::info!(hash = %tx.hash, status = ?tx.status, what = %tx.what, "transaction mined");
                return match tx.status {
                    ChainTxStatus::Reverted => Err(ChainError::Refused {
                        what: tx.what.clone(),
                        reason: format!("transaction {} reverted in block {:?}", tx.hash, tx.block),
                    }),
                    _ => Ok(()),
                };
            }
            // The nonce is used: by this transaction (mined between the two reads, so look
            // again) or by another one, and then this one will never be mined.
            let mined = self.call("nonce", || self.provider.get_transaction_count(self.address)).await?;
            if mined > tx.nonce {
                let ours =
                    self.call("receipt", || self.provider.get_transaction_receipt(hash)).await?.is_some();
                if ours {
                    continue;
                }
                tx.status = ChainTxStatus::Dropped;
                tx.updated_at_ms = crate::clock::unix_now_ms();
                self.journal(tx).await?;
                return Err(ChainError::Refused {
                    what: tx.what.clone(),
                    reason: format!("nonce {} was used by another transaction", tx.nonce),
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::Pending {
                    what: tx.what.clone(),
                    hash: tx.hash.clone(),
                    secs: self.config.receipt_wait.as_secs(),
                });
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }

    /// Follows up every transaction the journal holds open (after a crash or a lost receipt):
    /// mined ones are recorded, unsent ones are sent again as they were signed. Returns them as
    /// they now stand.
    ///
    /// # Errors
    /// The node unreachable or the store failing; a transaction still without receipt is left
    /// open for the next time.
    pub async fn reconcile(&self) -> Result<Vec<ChainTx>> {
        let _one_at_a_time = self.sending.lock().await;
        let open: Vec<ChainTx> =
            self.store.read()?.chain_txs()?.into_iter().filter(|t| t.status.is_open()).collect();
        let mut out = Vec::with_capacity(open.len());
        for mut tx in open {
            tracing::info!(hash = %tx.hash, status = ?tx.status, what = %tx.what, "following up a journalled transaction");
            let hash: B256 =
                tx.hash.parse().map_err(|e| ChainError::Invalid(format!("hash {}: {e}", tx.hash)))?;
            let known =
                self.call("transaction", || self.provider.get_transaction_by_hash(hash)).await?.is_some();
            if !known {
                self.broadcast(&mut tx).await?;
            }
            match self.settle(&mut tx).await {
                Ok(()) | Err(ChainError::Refused { .. } | ChainError::Pending { .. }) => out.push(tx),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
