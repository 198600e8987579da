//! The doctor's test order: a tiny post-only BUY far below the market, found again and cancelled
//! whatever happens to its answer, to learn whether the exchange accepts this wallet's orders.

use super::{
    Check, NETWORK_FIX, Setup, Status, TEST_MARKETS, TEST_ORDER, check, config_name, credentials_fix,
};
use crate::exchange::{Exchange, ExchangeError, Market, OrderKind, OrderRequest, OrderStatus, Side, TokenId};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;

/// The test order: what was posted, to find it again when its answer is lost.
#[derive(Debug, Clone)]
struct Probe {
    token: TokenId,
    price: Decimal,
    shares: Decimal,
    label: String,
}

/// A test order that may be resting. Dropped while armed (a panic, or the caller giving up on
/// the future mid-way), it still cancels the order, in the background: by id when the exchange
/// gave one, else every resting order that matches the probe.
struct Outstanding {
    exchange: Arc<dyn Exchange>,
    probe: Probe,
    order_id: Option<String>,
    armed: bool,
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (exchange, probe, id) = (Arc::clone(&self.exchange), self.probe.clone(), self.order_id.take());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let result = match &id {
                        Some(id) => exchange.cancel(id).await.map(|()| 1),
                        None => sweep(&*exchange, &probe).await,
                    };
                    if let Err(e) = result {
                        tracing::error!(order = ?id, error = %e,
                            "the wallet doctor's test order could not be cancelled: cancel it on Polymarket");
                    }
                });
            }
            Err(_) => tracing::error!(order = ?id,
                "the wallet doctor's test order may be resting: cancel it on Polymarket"),
        }
    }
}

/// Cancels every resting order that looks like the probe; answers how many.
async fn sweep(exchange: &dyn Exchange, probe: &Probe) -> Result<usize, ExchangeError> {
    let mut cancelled = 0;
    for o in exchange.open_orders().await? {
        if o.token == probe.token
            && o.side == Side::Buy
            && o.price == probe.price
            && o.original_shares == probe.shares
        {
            exchange.cancel(&o.order_id).await?;
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

/// Cancels, trying once more after a pause when the first attempt does not get through (the
/// HTTP layer has retried already).
async fn cancel_firmly(exchange: &dyn Exchange, order_id: &str) -> Result<(), ExchangeError> {
    match exchange.cancel(order_id).await {
        Err(e) if !matches!(e, ExchangeError::NotFound(_)) => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            exchange.cancel(order_id).await
        }
        other => other,
    }
}

/// A liquid market accepting orders, and an outcome token whose book a BUY at the lowest tick
/// does not cross: the probe to post.
async fn pick_probe(exchange: &dyn Exchange) -> Result<Option<Probe>, ExchangeError> {
    let mut markets: Vec<std::sync::Arc<Market>> = exchange
        .markets()
        .await?
        .into_iter()
        .filter(|m| m.accepting_orders && m.tick_size > Decimal::ZERO)
        .collect();
    markets.sort_by(|a, b| b.liquidity.cmp(&a.liquidity).then_with(|| b.volume_24h.cmp(&a.volume_24h)));
    for m in markets.iter().take(TEST_MARKETS) {
        for outcome in &m.outcomes {
            let Ok(book) = exchange.book(&outcome.token_id).await else { continue };
            let (bid, ask) = (book.best_bid(), book.best_ask());
            let empty = bid.is_none() && ask.is_none();
            if empty || ask.is_some_and(|a| a.price <= m.tick_size) {
                continue;
            }
            let mut shares = m
                .min_size
                .max(book.min_size)
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero);
            if shares <= Decimal::ZERO {
                shares = Decimal::from(5);
            }
            return Ok(Some(Probe {
                token: outcome.token_id.clone(),
                price: m.tick_size.normalize(),
                shares: shares.normalize(),
                label: format!("“{}” ({})", m.question, outcome.name),
            }));
        }
    }
    Ok(None)
}

/// The fix for an order the exchange refused.
pub(super) fn order_refusal(setup: &Setup, reason: &str) -> (Status, String) {
    let kind = config_name(setup.wallet);
    if reason.contains("deposit wallet") {
        return (
            Status::Fail,
            "This account must trade through its Polymarket deposit wallet: set `[exchange.polymarket] \
             signature_type = \"deposit\"` and `funder` = the deposit wallet's address (Polymarket → Deposit \
             shows it), then run the doctor again."
                .into(),
        );
    }
    if reason.contains("not enough balance") || reason.contains("allowance") {
        return (
            Status::Fail,
            format!(
                "The exchange sees too little pUSD, or no approval, for this wallet. Deposit pUSD and enable \
                 trading in Polymarket's UI; and check that signature_type ({kind}) and funder name the wallet \
                 that holds the money (see the balance and allowance checks)."
            ),
        );
    }
    if reason.contains("crosses book") {
        return (
            Status::Warn,
            "The book moved under the test order (it would have traded at once, so post-only refused it). The \
             exchange did accept this wallet's signature: run the doctor again to make sure."
                .into(),
        );
    }
    if reason.contains("signature") || reason.contains("signer") || reason.contains("maker") {
        return (
            Status::Fail,
            format!(
                "The exchange does not accept orders signed this way: check that signature_type ({kind}) is \
                 your account's wallet type and funder its address (see the first check)."
            ),
        );
    }
    if reason.contains("owner") || reason.contains("401") || reason.contains("api key") {
        return (Status::Fail, credentials_fix(setup));
    }
    if reason.contains("order_version_mismatch") {
        return (Status::Fail, "The exchange moved to another order version: upgrade equilibrage.".into());
    }
    (
        Status::Fail,
        "The exchange refused the order: see \"What can go wrong\" in docs/operations.md for its message."
            .into(),
    )
}

/// Check (d): a tiny post-only BUY far below the market, cancelled at once.
pub(super) async fn test_order_check(setup: &Setup, exchange: Arc<dyn Exchange>) -> Check {
    let probe = match pick_probe(&*exchange).await {
        Ok(Some(probe)) => probe,
        Ok(None) => {
            return check(
                TEST_ORDER,
                Status::Warn,
                "no market accepting orders with a book the test order would not cross was found; nothing was \
                 posted"
                    .into(),
                Some("Run the doctor again later.".into()),
            );
        }
        Err(e) => {
            return check(
                TEST_ORDER,
                Status::Fail,
                format!("listing markets for the test order failed: {e}"),
                Some(NETWORK_FIX.into()),
            );
        }
    };
    let what = format!(
        "a post-only BUY of {} shares at {} ({} pUSD at most) on {}",
        probe.shares,
        probe.price,
        (probe.shares * probe.price).normalize(),
        probe.label
    );
    let order = OrderRequest {
        client_id: format!("doctor-{}", crate::clock::unix_now_ms()),
        token: probe.token.clone(),
        side: Side::Buy,
        kind: OrderKind::Limit { price: probe.price, shares: probe.shares, post_only: true },
    };
    let mut outstanding = Outstanding { exchange: Arc::clone(&exchange), probe, order_id: None, armed: true };
    let placed = exchange.place(order).await;
    let ack = match placed {
        Ok(ack) => ack,
        Err(ExchangeError::OutcomeUnknown { reason }) => {
            // The order may rest: find it and cancel it now.
            let swept = sweep(&*exchange, &outstanding.probe).await;
            outstanding.armed = swept.is_err();
            return match swept {
                Ok(n) => check(
                    TEST_ORDER,
                    Status::Warn,
                    format!(
                        "the exchange's answer to {what} was lost ({reason}); {n} matching order(s) were found \
                         resting and cancelled"
                    ),
                    Some("Run the doctor again: the exchange or the network had a hiccup.".into()),
                ),
                Err(e) => check(
                    TEST_ORDER,
                    Status::Fail,
                    format!(
                        "the exchange's answer to {what} was lost ({reason}), and looking for it failed: {e}"
                    ),
                    Some(format!(
                        "Check your open orders on Polymarket and cancel a BUY of {} shares at {} if there is \
                         one; it can only trade if someone sells that low.",
                        outstanding.probe.shares, outstanding.probe.price
                    )),
                ),
            };
        }
        Err(e) => {
            // Refused: nothing rests.
            outstanding.armed = false;
            let reason = e.to_string();
            let (status, fix) = match &e {
                ExchangeError::Retryable { .. } => (Status::Fail, NETWORK_FIX.to_owned()),
                _ => order_refusal(setup, &reason),
            };
            return check(TEST_ORDER, status, format!("the exchange refused {what}: {reason}"), Some(fix));
        }
    };
    outstanding.order_id = Some(ack.order_id.clone());
    let id = ack.order_id.clone();
    match ack.status {
        OrderStatus::Live | OrderStatus::Delayed => match cancel_firmly(&*exchange, &id).await {
            Ok(()) => {
                outstanding.armed = false;
                check(
                    TEST_ORDER,
                    Status::Pass,
                    format!("the exchange accepted {what} as order {id}, and it was cancelled at once"),
                    None,
                )
            }
            Err(ExchangeError::NotFound(reason)) => {
                outstanding.armed = false;
                check(
                    TEST_ORDER,
                    Status::Warn,
                    format!("the exchange accepted {what} as order {id}, but cancelling it said: {reason}"),
                    Some(format!("Check the order {id} on Polymarket: it may have traded.")),
                )
            }
            Err(e) => check(
                TEST_ORDER,
                Status::Fail,
                format!("the exchange accepted {what} as order {id}, but cancelling it failed: {e}"),
                Some(format!(
                    "Cancel order {id} on Polymarket if it is still open: it rests at the lowest price, so it \
                     can only trade if someone sells that low."
                )),
            ),
        },
        OrderStatus::Matched => {
            outstanding.armed = false;
            check(
                TEST_ORDER,
                Status::Warn,
                format!(
                    "the exchange accepted {what} as order {id}, and it traded at once: {} shares for {} pUSD",
                    ack.filled_shares, ack.notional
                ),
                Some("The shares are yours: sell them on Polymarket if you do not want them.".into()),
            )
        }
        OrderStatus::Unmatched | OrderStatus::Cancelled => {
            outstanding.armed = false;
            check(
                TEST_ORDER,
                Status::Pass,
                format!("the exchange accepted {what} as order {id}; nothing rests"),
                None,
            )
        }
    }
}
