//! Which resolved markets still wait for their redemption, from what the ledger settled: every
//! position closed by a resolution with winning shares, less the markets whose redemption is
//! confirmed on chain.

use super::{Chain, ChainError, Result};
use crate::store::{Action, ChainTxStatus, Store};
use alloy::primitives::{B256, U256};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A resolved market whose shares the wallet should redeem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub condition_id: B256,
    /// The market's question, as the position recorded it.
    pub question: String,
    pub neg_risk: bool,
    /// Shares settled per outcome (YES, NO), in 10^-6 units: what a neg-risk redemption names.
    pub amounts: [U256; 2],
    /// What the ledger booked for them, in pUSD.
    pub payout: Decimal,
}

/// Shares in 10^-6 units (the tokens' precision), rounded down.
fn units(shares: Decimal) -> U256 {
    let micro = (shares * Decimal::from(1_000_000)).trunc();
    u128::try_from(micro).map_or(U256::ZERO, U256::from)
}

/// The resolved markets with winning shares settled in the ledger and no confirmed (or open)
/// redemption in the journal.
///
/// # Errors
/// The store failing.
pub fn due(store: &Store) -> Result<Vec<Due>> {
    let read = store.read()?;
    let handled: Vec<String> = read
        .chain_txs()?
        .into_iter()
        .filter(|t| {
            t.kind == "redeem" && t.status != ChainTxStatus::Reverted && t.status != ChainTxStatus::Dropped
        })
        .filter_map(|t| t.condition_id)
        .collect();
    let mut markets: BTreeMap<String, Due> = BTreeMap::new();
    for p in read.positions()? {
        if p.status.is_open() || handled.iter().any(|c| c.eq_ignore_ascii_case(&p.market_id)) {
            continue;
        }
        let Ok(condition_id) = p.market_id.parse::<B256>() else { continue };
        for t in read.trades_of(p.id)?.into_iter().filter(|t| t.action == Action::Settle) {
            let due = markets.entry(p.market_id.clone()).or_insert_with(|| Due {
                condition_id,
                question: p.question.clone(),
                neg_risk: p.neg_risk,
                amounts: [U256::ZERO; 2],
                payout: Decimal::ZERO,
            });
            let i = t.leg.index();
            due.amounts[i] = due.amounts[i].saturating_add(units(t.shares));
            due.payout += t.notional;
        }
    }
    // Only losing shares: nothing to collect, and the gas would be lost.
    Ok(markets.into_values().filter(|d| d.payout > Decimal::ZERO).collect())
}

impl Chain {
    /// Redeems every market [`due`] whose result is on chain (call [`Chain::reconcile`] first:
    /// a redemption still open in the journal is not due). A redemption that fails is logged and
    /// tried again the next time.
    ///
    /// # Errors
    /// The store failing, or the node unreachable.
    pub async fn redeem_due(&self) -> Result<Vec<crate::store::ChainTx>> {
        let _deciding = self.redeeming.lock().await;
        let mut done = Vec::new();
        for d in due(&self.store)? {
            if !self.is_resolved(d.condition_id).await? {
                tracing::debug!(condition = %d.condition_id, "resolved on Polymarket, not on chain yet");
                continue;
            }
            tracing::info!(condition = %d.condition_id, payout = %d.payout, neg_risk = d.neg_risk, "redeeming");
            match self.redeem(d.condition_id, d.neg_risk.then_some(d.amounts)).await {
                Ok(tx) => done.push(tx),
                Err(e @ (ChainError::Refused { .. } | ChainError::Pending { .. })) => {
                    tracing::warn!(condition = %d.condition_id, error = %e, "redemption not done; tried again later");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

impl Chain {
    /// The markets [`due`] for redemption.
    ///
    /// # Errors
    /// The store failing.
    pub fn due(&self) -> Result<Vec<Due>> {
        due(&self.store)
    }

    /// Redeems one market now (the History page's button): it must be [`due`] and its result
    /// on chain. Transactions the journal holds open are followed up first, so one that a crash
    /// left pending is not sent a second time.
    ///
    /// # Errors
    /// [`ChainError::Invalid`] when the market is not due (unknown, lost, or already redeemed),
    /// [`ChainError::Refused`] when its result is not on chain yet or the redemption reverts,
    /// and as [`Chain::redeem`].
    pub async fn redeem_market(&self, condition_id: &str) -> Result<crate::store::ChainTx> {
        let _deciding = self.redeeming.lock().await;
        let what = format!("redeem {condition_id}");
        let wanted: B256 = condition_id.trim().parse().map_err(|_| {
            ChainError::Invalid(format!("{condition_id:?} is not a condition id (0x and 64 hex digits)"))
        })?;
        self.reconcile().await?;
        let Some(d) = due(&self.store)?.into_iter().find(|d| d.condition_id == wanted) else {
            return Err(ChainError::Invalid(format!(
                "{wanted} has nothing to redeem: no winning shares settled, or its redemption is already done or under way"
            )));
        };
        if !self.is_resolved(d.condition_id).await? {
            return Err(ChainError::Refused {
                what,
                reason: "the market's result is not on chain yet (it follows Polymarket's resolution after the oracle's challenge period)".into(),
            });
        }
        tracing::info!(condition = %d.condition_id, payout = %d.payout, neg_risk = d.neg_risk, "redeeming, as asked");
        self.redeem(d.condition_id, d.neg_risk.then_some(d.amounts)).await
    }
}
