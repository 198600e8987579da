//! The wallet on chain in the pages: its balances on the Settings page, and on the History page
//! the resolved markets waiting for redemption (each with its Redeem button) and the journal of
//! the transactions the bot sent.

use super::layout::{alert, csrf_field, money, shortened, tx_hash};
use crate::auth::Identity;
use crate::backend::BackendResult;
use crate::model::{ChainTxView, ChainView};
use crate::query::utc_time;
use maud::{Markup, html};

/// Transactions the History page lists.
const TRANSACTIONS: usize = 20;

/// Settings: pUSD and POL on chain, or why they are not shown.
pub(crate) fn balances_panel(chain: &BackendResult<Option<ChainView>>, mode: &str) -> Markup {
    html! {
        section id="on-chain" class="panel" aria-labelledby="on-chain-title" {
            h2 id="on-chain-title" { "On chain" }
            @match chain {
                Err(e) => { (alert(&format!("The wallet on chain is not available: {e}"))) }
                Ok(None) if mode == "live" => {
                    p class="note" {
                        "On-chain settlement is off: set " code { "[chain] rpc_url" }
                        " to a Polygon JSON-RPC URL to redeem resolved markets and see the wallet's pUSD and POL here."
                    }
                }
                Ok(None) => {
                    p class="note" { "Live mode only: in " (mode) " mode nothing is held on chain." }
                }
                Ok(Some(c)) => {
                    dl class="facts" {
                        @if let Some(b) = c.balances {
                            div { dt { "pUSD" } dd id="chain-pusd" { (b.pusd.normalize()) } }
                            // Gas to four decimals; the exact wei are in the API.
                            div { dt { "POL (gas)" } dd id="chain-pol" title=(b.pol.normalize()) { (b.pol.round_dp(4).normalize()) } }
                        }
                        div {
                            dt { "Redemption" }
                            dd {
                                @if c.auto_redeem { "automatic, as results reach the chain" }
                                @else { "by hand, from the History page (" code { "[chain] redeem = false" } ")" }
                            }
                        }
                    }
                    p class="help" { "Held by " span class="mono" { (c.address) } ", the wallet above." }
                    @if let Some(e) = &c.balances_error {
                        p class="error" role="alert" id="chain-error" { "The node did not answer: " (e) }
                    }
                    @if c.low_gas {
                        p class="warn" role="status" id="chain-low-gas" {
                            "Too little POL to pay for approvals and redemptions: send some to " (c.address) "."
                        }
                    }
                }
            }
        }
    }
}

/// History: the markets waiting for redemption and the transactions sent; nothing when
/// on-chain settlement is off.
pub(crate) fn redemptions_section(chain: &BackendResult<Option<ChainView>>, identity: &Identity) -> Markup {
    let chain = match chain {
        Ok(None) => return html! {},
        Ok(Some(chain)) => chain,
        Err(e) => return alert(&format!("The wallet on chain is not available: {e}")),
    };
    html! {
        section id="redemptions" class="redemptions" aria-labelledby="redemptions-title" {
            h2 id="redemptions-title" { "Redemptions" }
            p class="help" {
                "Winning shares pay out only once redeemed on chain; then their pUSD is back in the wallet. "
                @if chain.auto_redeem { "The bot redeems each market as its result reaches the chain; the button does it now." }
                @else { "Automatic redemption is off (" code { "[chain] redeem = false" } "): use the buttons." }
            }
            div class="table-wrap" {
                table id="redemptions-due" {
                    thead { tr {
                        th scope="col" { "Market" } th scope="col" { "Condition" }
                        th scope="col" class="num" { "Payout (pUSD)" } th scope="col" { "" }
                    } }
                    tbody {
                        @for d in &chain.due {
                            tr data-condition-id=(d.condition_id) {
                                td class="question" {
                                    (d.question)
                                    @if d.neg_risk { " " small class="muted" { "(neg-risk)" } }
                                }
                                td { (shortened(&d.condition_id, 10)) }
                                td class="num" { (money(d.payout)) }
                                td {
                                    form class="redeem" method="post" action="/history/redeem" {
                                        (csrf_field(identity))
                                        input type="hidden" name="condition_id" value=(d.condition_id);
                                        button type="submit" { "Redeem" }
                                    }
                                }
                            }
                        }
                        @if chain.due.is_empty() {
                            tr class="empty" { td colspan="4" { "Nothing waits for redemption." } }
                        }
                    }
                }
            }
            h3 { "Transactions sent" }
            (transactions(&chain.transactions))
        }
    }
}

fn transactions(txs: &[ChainTxView]) -> Markup {
    html! {
        div class="table-wrap" {
            table id="chain-transactions" {
                thead { tr {
                    th scope="col" { "Time (UTC)" } th scope="col" { "What" } th scope="col" { "Status" }
                    th scope="col" class="num" { "Block" } th scope="col" { "Hash" }
                } }
                tbody {
                    @for t in txs.iter().take(TRANSACTIONS) {
                        tr data-hash=(t.hash) {
                            td class="time" { (utc_time(t.created_at_ms)) }
                            td class="reason" title=(t.what) {
                                @match &t.condition_id {
                                    Some(c) => { (t.kind) " " (shortened(c, 10)) }
                                    None => { (t.what) }
                                }
                            }
                            td class={ "status " (t.status) } { (t.status) }
                            td class="num" { @match t.block { Some(b) => { (b) } None => { "—" } } }
                            td { (tx_hash(&t.hash, true)) }
                        }
                    }
                    @if txs.is_empty() {
                        tr class="empty" { td colspan="5" { "No transaction sent yet." } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{Call, DUE, Fake};
    use crate::pages::test_util::{assert_escaped, assert_safe, get, post_form};
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn history_lists_the_markets_due_with_a_redeem_button_and_the_transactions_sent() {
        let fake = Arc::new(Fake::default());
        let (status, _, body) = get(Arc::clone(&fake), "/history").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped(&body);
        for needle in [
            "<section id=\"redemptions\" class=\"redemptions\" aria-labelledby=\"redemptions-title\">",
            &format!("<tr data-condition-id=\"{DUE}\">"),
            "<td class=\"num\">150.25</td>",
            "<form class=\"redeem\" method=\"post\" action=\"/history/redeem\"><input type=\"hidden\" name=\"_csrf\"",
            &format!("<input type=\"hidden\" name=\"condition_id\" value=\"{DUE}\">"),
            "<button type=\"submit\">Redeem</button>",
            "<table id=\"chain-transactions\">",
            "<td class=\"status confirmed\">confirmed</td>",
            "<td class=\"status reverted\">reverted</td>",
            "<td class=\"num\">42</td>",
            "redeem &lt;script&gt;alert(1)&lt;/script&gt;",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        let redemptions = body.find("id=\"redemptions\"").unwrap();
        assert!(
            redemptions < body.find("id=\"history-filter\"").unwrap(),
            "before the filter: it asks for action"
        );
        assert!(fake.calls().is_empty(), "showing the page redeems nothing");
    }

    #[tokio::test]
    async fn without_a_chain_history_has_no_redemptions_and_settings_say_why() {
        let fake = Arc::new(Fake { chain: None, ..Fake::default() });
        let (status, _, body) = get(Arc::clone(&fake), "/history").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("id=\"redemptions\""));
        let (_, _, body) = get(Arc::clone(&fake), "/settings").await;
        assert_safe(&body);
        assert!(
            body.contains("<section id=\"on-chain\" class=\"panel\" aria-labelledby=\"on-chain-title\">")
        );
        assert!(body.contains("Live mode only: in sim mode nothing is held on chain."));
    }

    #[tokio::test]
    async fn settings_show_the_balances_on_chain_and_warn_of_low_gas() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/settings").await;
        assert_eq!(status, StatusCode::OK);
        assert_safe(&body);
        for needle in [
            "<span class=\"mono\">0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266</span>",
            "<dd id=\"chain-pusd\">1234.5</dd>",
            "<dd id=\"chain-pol\" title=\"0.012\">0.012</dd>",
            "automatic, as results reach the chain",
            "<p class=\"warn\" role=\"status\" id=\"chain-low-gas\">Too little POL",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        let on_chain = body.find("id=\"on-chain\"").unwrap();
        assert!(on_chain < body.find("id=\"doctor\"").unwrap(), "next to the wallet, before the check");
    }

    #[tokio::test]
    async fn the_redeem_button_redeems_that_market_or_says_why_not() {
        let fake = Arc::new(Fake::default());
        let (status, headers, _) =
            post_form(Arc::clone(&fake), "/history/redeem", &[("condition_id", DUE)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/history#redemptions");

        let early = "0x2222222222222222222222222222222222222222222222222222222222222222";
        let (status, _, body) =
            post_form(Arc::clone(&fake), "/history/redeem", &[("condition_id", early)]).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_safe(&body);
        assert!(
            body.contains("<p class=\"error\" role=\"alert\">the market's result is not on chain yet</p>")
        );
        assert!(body.contains("id=\"redemptions\""), "the page is shown again");

        let (status, _, body) =
            post_form(Arc::clone(&fake), "/history/redeem", &[("condition_id", " ")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("`condition_id` is missing"));
        assert_eq!(fake.calls(), vec![Call::Redeem(DUE.into()), Call::Redeem(early.into())]);
    }
}
