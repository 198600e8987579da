//! The live Polymarket venue (and paper over its public data) against the mock Polymarket server:
//! known-answer vectors on the bot's own sign-in and order paths, listing, books, the websocket
//! with drops, gaps and duplicates, FOK/FAK/GTC fills, market orders at every tick size, heartbeats, protocol version and tick size changes, cancels, rate classes, reconciliation after a restart,
//! backoff on 429 within the configured rate, settlement failures and malformed answers.

use equilibrage::exchange::paper::PaperExchange;
use equilibrage::exchange::polymarket::{LiveExchange, RateLimits, SignerConfig, UserEvent};
use equilibrage::exchange::{
    Amount, BookSide, Exchange, ExchangeError, FillPolicy, MarketEvent, OrderKind, OrderRequest, OrderStatus,
    Side, TradeStatus,
};
use equilibrage_testkit::{MockMarket, MockPolymarket, Side as MockSide};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use support::{live, live_config, signer};

mod support;

const CONDITION: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";

/// A mock with one binary market, a book on its YES token and 1000 pUSD.
async fn mock() -> MockPolymarket {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("501", CONDITION, YES, NO);
    market.question = "Will the mock fill?".into();
    mock.add_market(market);
    mock.set_book(
        YES,
        &[(dec!(0.48), dec!(100)), (dec!(0.49), dec!(20))],
        &[(dec!(0.52), dec!(25)), (dec!(0.53), dec!(60))],
    );
    mock.set_book(NO, &[(dec!(0.47), dec!(50))], &[(dec!(0.51), dec!(50))]);
    mock.set_balance(dec!(1000));
    mock
}

fn market(client_id: &str, token: &str, side: Side, amount: Amount, policy: FillPolicy) -> OrderRequest {
    OrderRequest {
        client_id: client_id.into(),
        token: token.into(),
        side,
        kind: OrderKind::Market { amount, policy },
    }
}

fn limit(client_id: &str, side: Side, price: Decimal, shares: Decimal) -> OrderRequest {
    OrderRequest {
        client_id: client_id.into(),
        token: YES.into(),
        side,
        kind: OrderKind::Limit { price, shares, post_only: false },
    }
}

/// Waits for an event matching `want`.
async fn event<T: Clone>(rx: &mut tokio::sync::broadcast::Receiver<T>, want: impl Fn(&T) -> bool) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Ok(e) if want(&e) => return e,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("channel closed: {e}"),
            }
        }
    })
    .await
    .expect("event within 10 s")
}

async fn until(what: &str, check: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test]
async fn clob_auth_vectors_pass_through_the_bots_sign_in() {
    let mock = mock().await;
    // Chain 80002, timestamp 10000000, nonce 23.
    mock.set_server_time(Some(10_000_000));
    let amoy = SignerConfig { chain_id: 80002, nonce: Some(23), ..signer(&mock, false) };
    let signed_in = equilibrage::exchange::polymarket::OrderSigner::connect(amoy).await.unwrap();
    // Without configured credentials, sign-in obtains the mock's through L1.
    assert_eq!(signed_in.credentials().api_key, mock.credentials().api_key);
    let l1 = mock.l1_headers();
    assert_eq!(l1[0].timestamp, "10000000");
    assert_eq!(l1[0].nonce, "23");
    assert_eq!(
        l1[0].signature,
        "0xf62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
    );
    // Chain 137, timestamp 100000, nonce 0 (the default).
    mock.set_server_time(Some(100_000));
    let polygon = signer(&mock, false);
    equilibrage::exchange::polymarket::OrderSigner::connect(polygon).await.unwrap();
    let l1 = mock.l1_headers();
    let last = l1.last().unwrap();
    assert_eq!((last.timestamp.as_str(), last.nonce.as_str()), ("100000", "0"));
    assert_eq!(
        last.signature,
        "0xfdfb5abf512e439ea61c8595c18e527e718bf16010acf57cef51d09e15893098275d3c6f73038f36ec0cd0ce55436fca14dc64b11611f4dce896e354207508cc1b"
    );
    assert!(l1.iter().all(|h| h.address.eq_ignore_ascii_case("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")));
}

#[tokio::test]
async fn the_amount_vector_goes_out_in_the_bots_order_body() {
    let mock = mock().await;
    let venue = live(&mock).await;
    // BUY 21.04 @ 0.56, tick 0.01, below the asks so it rests: the body is what we look at.
    mock.set_book(YES, &[(dec!(0.48), dec!(100))], &[(dec!(0.60), dec!(100))]);
    let ack = venue.place(limit("amount-vector", Side::Buy, dec!(0.56), dec!(21.04))).await.unwrap();
    assert_eq!(ack.status, OrderStatus::Live);
    let post = mock.requests().into_iter().find(|r| r.method == "POST" && r.path == "/order").unwrap();
    let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(body["order"]["makerAmount"], "11782400");
    assert_eq!(body["order"]["takerAmount"], "21040000");
    assert_eq!(body["order"]["side"], "BUY");
    assert_eq!(body["orderType"], "GTC");
    assert!(post.headers.contains_key("POLY_SIGNATURE"), "L2-signed: {:?}", post.headers.keys());
}

#[tokio::test]
async fn markets_are_listed_across_pages_with_their_json_string_fields() {
    let mock = mock().await;
    for i in 0..4 {
        let cid = format!("0x{:064x}", i + 2);
        let mut m =
            MockMarket::binary(&format!("60{i}"), &cid, &format!("{}", 1000 + i), &format!("{}", 2000 + i));
        if i == 3 {
            // A fee schedule with a fractional exponent: listed, not dropped.
            (m.fee_rate, m.fee_exponent) = (dec!(0.03), dec!(1.5));
        }
        mock.add_market(m);
    }
    let mut cfg = live_config(&mock);
    cfg.page_size = 2;
    let venue = LiveExchange::public(cfg).unwrap();
    let markets = venue.markets().await.unwrap();
    assert_eq!(markets.len(), 5);
    let fractional = markets.iter().find(|m| m.id == format!("0x{:064x}", 5)).unwrap();
    assert_eq!((fractional.fee.rate, fractional.fee.exponent), (dec!(0.03), dec!(1.5)));
    let ours = markets.iter().find(|m| m.id == CONDITION).unwrap();
    assert_eq!(ours.question, "Will the mock fill?");
    assert_eq!((ours.outcomes[0].token_id.as_str(), ours.outcomes[1].token_id.as_str()), (YES, NO));
    assert_eq!(ours.tick_size, dec!(0.01));
    // Keyset pages as documented, each after the cursor the last one gave; no offsets.
    let pages: Vec<_> = mock.requests().into_iter().filter(|r| r.path.starts_with("/markets")).collect();
    assert_eq!(pages.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/markets/keyset"; 3]);
    assert!(
        !pages[0].query.contains("after_cursor") && pages[1].query.contains("after_cursor="),
        "{pages:?}"
    );
    assert!(pages.iter().all(|r| !r.query.contains("offset")), "{pages:?}");
    // Without keys, trading is refused with a reason.
    let e = venue.balance().await.unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
}

#[tokio::test]
async fn a_bad_page_costs_its_own_markets_and_offset_paging_stands_in_when_keyset_is_refused() {
    // Seven markets in pages of two, one of them a Protocol-V2 market.
    let mock = mock().await;
    for i in 0..5 {
        let cid = format!("0x{:064x}", i + 2);
        mock.add_market(MockMarket::binary(
            &format!("60{i}"),
            &cid,
            &format!("{}", 1000 + i),
            &format!("{}", 2000 + i),
        ));
    }
    let mut v2 = MockMarket::binary("699", &format!("0x{:064x}", 99), "3001", "3002");
    v2.version = Some("v2".into());
    mock.add_market(v2);
    let mut cfg = live_config(&mock);
    cfg.page_size = 2;
    cfg.retry.attempts = 1;
    let venue = LiveExchange::public(cfg).unwrap();
    let ids = |markets: &[std::sync::Arc<equilibrage::exchange::Market>]| {
        markets.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    };
    let all = venue.markets().await.unwrap();
    assert_eq!(all.len(), 6, "the Protocol-V2 market is left out: {:?}", ids(&all));
    assert!(all.iter().all(|m| m.outcomes.iter().all(|o| o.token_id != "3001")));
    assert_eq!(venue.health().listing_protocol_v2, 1);

    // The third keyset page fails: the pages before it stand, and the failure is counted.
    mock.faults().fail_path_after("/markets/keyset", 2, 500, "internal error", 1);
    let cut = venue.markets().await.unwrap();
    assert_eq!(ids(&cut), ids(&all)[..4]);
    assert_eq!(venue.health().listing_bad_pages, 1);

    // Keyset refused: offset pages stand in, and a failing one is skipped, not the end.
    mock.faults().fail_next("/markets/keyset", 404, "not found", 1);
    mock.faults().fail_path_after("/markets", 1, 500, "internal error", 1);
    let fallback = venue.markets().await.unwrap();
    let mut expected = ids(&all);
    expected.drain(2..4);
    assert_eq!(ids(&fallback), expected, "the second offset page's two markets are missing");
    assert_eq!(venue.health().listing_bad_pages, 1);
    assert!(mock.requests().iter().any(|r| r.path == "/markets" && r.query.contains("offset=4")));
}

#[tokio::test]
async fn books_stream_and_a_dropped_websocket_comes_back_with_fresh_snapshots() {
    let mock = mock().await;
    let venue = LiveExchange::public(live_config(&mock)).unwrap();
    let mut rx = venue.events();
    let book = venue.book(YES).await.unwrap();
    assert_eq!(book.best_ask().unwrap().price, dec!(0.52));
    // The feed subscribes and gets the snapshot.
    event(&mut rx, |e| matches!(e, MarketEvent::Book { token, .. } if token == YES)).await;
    until("subscription", || mock.market_subscribers(YES) == 1).await;
    mock.set_level(YES, MockSide::Sell, dec!(0.515), dec!(10));
    let change = event(&mut rx, |e| matches!(e, MarketEvent::PriceChange { .. })).await;
    assert!(
        matches!(change, MarketEvent::PriceChange { side: BookSide::Asks, price, .. } if price == dec!(0.515))
    );

    let connects = || equilibrage::metrics::get().venue_ws_connects.with_label_values(&["market"]).get();
    let before = connects();
    mock.faults().drop_ws_connections();
    until("reconnection", || venue.health().feed_connects >= 2 && mock.market_subscribers(YES) == 1).await;
    assert!(connects() > before, "the reconnection is in the metrics");
    // A change made while the link was down arrives as part of a fresh snapshot.
    let snapshot = event(&mut rx, |e| matches!(e, MarketEvent::Book { token, .. } if token == YES)).await;
    let MarketEvent::Book { asks, .. } = snapshot else { unreachable!() };
    assert_eq!(asks.iter().map(|l| l.price).min(), Some(dec!(0.515)));
}

#[tokio::test]
async fn a_thousand_watched_tokens_all_get_updates_across_connections() {
    let mock = MockPolymarket::start().await;
    let token = |i: usize| format!("{}", 100_000 + i);
    for m in 0..500 {
        let (yes, no) = (token(2 * m), token(2 * m + 1));
        mock.add_market(MockMarket::binary(&format!("{m}"), &format!("0x{:064x}", m + 1), &yes, &no));
        for t in [&yes, &no] {
            mock.set_book(t, &[(dec!(0.48), dec!(100))], &[(dec!(0.52), dec!(100))]);
        }
    }
    let venue = LiveExchange::public(live_config(&mock)).unwrap();
    let mut rx = venue.events();
    assert_eq!(venue.markets().await.unwrap().len(), 500);
    // 200 tokens a connection by default: five of them, all up, every token subscribed once.
    until("five connections", || venue.health().feed_links == 5 && venue.health().feed_connected).await;
    until("every token subscribed", || (0..1_000).all(|i| mock.market_subscribers(&token(i)) == 1)).await;
    for i in 0..1_000 {
        mock.set_level(&token(i), MockSide::Sell, dec!(0.51), dec!(7));
    }
    let mut changed = std::collections::HashSet::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while changed.len() < 1_000 {
            match rx.recv().await {
                Ok(MarketEvent::PriceChange { token, price, .. }) if price == dec!(0.51) => {
                    changed.insert(token);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of 1000 tokens got their update", changed.len()));
}

#[tokio::test]
async fn markets_that_leave_the_listing_are_unsubscribed_and_forgotten_unless_held() {
    let mock = MockPolymarket::start().await;
    let token = |i: usize| format!("{}", 200_000 + i);
    let list = |m: usize| {
        let (yes, no) = (token(2 * m), token(2 * m + 1));
        mock.add_market(MockMarket::binary(&format!("{m}"), &format!("0x{:064x}", m + 1), &yes, &no));
        for t in [&yes, &no] {
            mock.set_book(t, &[(dec!(0.48), dec!(100))], &[(dec!(0.52), dec!(100))]);
        }
    };
    let venue = LiveExchange::public(live_config(&mock)).unwrap();
    // Forty listings of ten markets each; every market resolves and leaves the listing after one.
    // The bot holds market 0's YES token, and its sweep says so as the engine's does.
    let held = token(0);
    for round in 0..40 {
        for m in round * 10..round * 10 + 10 {
            list(m);
        }
        if round > 0 {
            for m in (round - 1) * 10..round * 10 {
                mock.resolve(&format!("0x{:064x}", m + 1), &token(2 * m));
            }
        }
        assert_eq!(venue.markets().await.unwrap().len(), 10);
        venue.watch(std::slice::from_ref(&held));
        let health = venue.health();
        // At most three listings' worth of tokens, plus the held one: not 800.
        assert!(health.known_tokens <= 61, "round {round}: {} tokens kept", health.known_tokens);
        assert!(health.feed_tokens <= health.known_tokens, "{health:?}");
        assert_eq!(health.feed_links, 1, "the room of tokens let go is reused");
    }
    until("every token let go is unsubscribed", || (2..700).all(|i| mock.market_subscribers(&token(i)) == 0))
        .await;
    until("the held token and the current listing stay subscribed", || {
        mock.market_subscribers(&held) == 1 && (780..800).all(|i| mock.market_subscribers(&token(i)) == 1)
    })
    .await;
    // The held market is still known to the venue: its book reads and its updates flow.
    let mut rx = venue.events();
    mock.set_level(&held, MockSide::Sell, dec!(0.51), dec!(7));
    event(&mut rx, |e| matches!(e, MarketEvent::PriceChange { token, .. } if *token == held)).await;
}

#[tokio::test]
async fn a_lost_message_is_noticed_and_the_book_resnapshotted_and_duplicates_are_dropped() {
    let mock = mock().await;
    let venue = LiveExchange::public(live_config(&mock)).unwrap();
    let mut rx = venue.events();
    venue.book(YES).await.unwrap();
    event(&mut rx, |e| matches!(e, MarketEvent::Book { .. })).await;
    until("subscription", || mock.market_subscribers(YES) == 1).await;
    // Lost: the best bid moves to 0.50. Then a change whose reported top (0.50) disagrees with ours.
    mock.faults().skip_ws_messages(1);
    mock.set_level(YES, MockSide::Buy, dec!(0.50), dec!(10));
    mock.set_level(YES, MockSide::Buy, dec!(0.47), dec!(5));
    let fixed = event(
        &mut rx,
        |e| matches!(e, MarketEvent::Book { bids, .. } if bids.iter().any(|l| l.price == dec!(0.50))),
    )
    .await;
    assert!(matches!(fixed, MarketEvent::Book { .. }));
    assert!(venue.health().feed_gaps >= 1 && venue.health().feed_snapshots >= 1, "{:?}", venue.health());

    mock.faults().duplicate_ws_messages(true);
    mock.set_level(YES, MockSide::Sell, dec!(0.54), dec!(7));
    event(&mut rx, |e| matches!(e, MarketEvent::PriceChange { price, .. } if *price == dec!(0.54))).await;
    until("a duplicate dropped", || venue.health().feed_duplicates >= 1).await;
}

#[tokio::test]
async fn fok_fak_and_gtc_orders_fill_against_the_book_and_cancel() {
    let mock = mock().await;
    let venue = live(&mock).await;
    venue.markets().await.unwrap();

    // FOK $10 at 0.52: about 19.23 shares, all at the best ask, never more than $10.
    let fok = venue
        .place(market("fok", YES, Side::Buy, Amount::Usd(dec!(10)), FillPolicy::FillOrKill))
        .await
        .unwrap();
    assert_eq!(fok.status, OrderStatus::Matched);
    assert_eq!(fok.notional, fok.filled_shares * dec!(0.52), "{fok:?}");
    assert!(fok.notional <= dec!(10) && fok.notional > dec!(9.99), "{fok:?}");
    // The same client id answers the same, without a second order.
    assert_eq!(
        venue
            .place(market("fok", YES, Side::Buy, Amount::Usd(dec!(10)), FillPolicy::FillOrKill))
            .await
            .unwrap(),
        fok
    );
    assert_eq!(mock.orders().len(), 1);

    // FOK beyond the book: refused before anything is sent.
    let e = venue
        .place(market("fok-big", YES, Side::Buy, Amount::Usd(dec!(500)), FillPolicy::FillOrKill))
        .await
        .unwrap_err();
    assert!(matches!(e, ExchangeError::Rejected { .. }), "{e}");
    assert_eq!(mock.orders().len(), 1);

    // Sell 19 of the shares bought, FAK: the best bid (0.49 × 20) takes them all.
    let fak = venue
        .place(market("fak", YES, Side::Sell, Amount::Shares(dec!(19)), FillPolicy::FillAndKill))
        .await
        .unwrap();
    assert_eq!(fak.filled_shares, dec!(19));
    assert_eq!(fak.notional, dec!(19) * dec!(0.49));

    // GTC below the ask rests; a counterparty takes part of it; cancel takes it off.
    let books = || mock.requests().iter().filter(|r| r.path == "/book").count();
    let books_before = books();
    let gtc = venue.place(limit("gtc", Side::Buy, dec!(0.45), dec!(40))).await.unwrap();
    assert_eq!(gtc.status, OrderStatus::Live);
    assert_eq!(books(), books_before, "a limit order on a listed market needs no book");
    mock.faults().take_resting(&gtc.order_id, dec!(15)).unwrap();
    let open = venue.open_orders().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].order_id.as_str(), open[0].matched_shares), (gtc.order_id.as_str(), dec!(15)));
    venue.cancel(&gtc.order_id).await.unwrap();
    assert!(venue.open_orders().await.unwrap().is_empty());
    let again = venue.cancel(&gtc.order_id).await.unwrap_err();
    assert!(matches!(again, ExchangeError::NotFound(_)), "{again}");

    let balance = venue.balance().await.unwrap();
    assert!(balance.collateral < dec!(1000) && balance.collateral > dec!(980), "{balance:?}");
}

#[tokio::test]
async fn market_orders_at_every_tick_size_go_out_at_the_exchanges_precision_and_fill() {
    let mock = mock().await;
    // One market per tick size, priced where Polymarket uses that tick, at prices that do not
    // divide a dollar amount evenly.
    let cases = [
        (dec!(0.1), dec!(0.6), dec!(0.7)),
        (dec!(0.01), dec!(0.47), dec!(0.53)),
        (dec!(0.001), dec!(0.012), dec!(0.013)),
        (dec!(0.0001), dec!(0.9869), dec!(0.9871)),
    ];
    let token = |i: usize| format!("{}", 9_001 + i);
    for (i, (tick, bid, ask)) in cases.iter().enumerate() {
        let condition = format!("0x{}", format!("{}", 60 + i).repeat(32));
        let mut m = MockMarket::binary(&format!("6{i}"), &condition, &token(i), &format!("{}", 9_101 + i));
        m.tick_size = *tick;
        mock.add_market(m);
        mock.set_book(&token(i), &[(*bid, dec!(5000))], &[(*ask, dec!(5000))]);
    }
    let venue = live(&mock).await;
    venue.markets().await.unwrap();
    for (i, (tick, _, _)) in cases.iter().enumerate() {
        // Sub-cent dust in the amount: whole cents go out.
        let usd = Amount::Usd(dec!(10.379));
        let buy = venue
            .place(market(&format!("buy-{i}"), &token(i), Side::Buy, usd, FillPolicy::FillOrKill))
            .await
            .unwrap_or_else(|e| panic!("buy at tick {tick}: {e}"));
        assert_eq!(buy.status, OrderStatus::Matched, "tick {tick}");
        assert!(buy.notional <= dec!(10.37) && buy.notional > dec!(10.36), "tick {tick}: {buy:?}");
        let shares = Amount::Shares(buy.filled_shares);
        let sell = venue
            .place(market(&format!("sell-{i}"), &token(i), Side::Sell, shares, FillPolicy::FillAndKill))
            .await
            .unwrap_or_else(|e| panic!("sell at tick {tick}: {e}"));
        assert_eq!(sell.status, OrderStatus::Matched, "tick {tick}");
        assert_eq!(sell.filled_shares, buy.filled_shares.trunc_with_scale(2), "tick {tick}");
    }
    // Every order went out with at most 2 decimals on its maker side and 4 on its taker side.
    let posts: Vec<_> =
        mock.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/order").collect();
    assert_eq!(posts.len(), 8);
    for post in posts {
        let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
        let micro = |key: &str| body["order"][key].as_str().unwrap().parse::<u128>().unwrap();
        assert_eq!(micro("makerAmount") % 10_000, 0, "{}", post.body);
        assert_eq!(micro("takerAmount") % 100, 0, "{}", post.body);
    }
}

#[tokio::test]
async fn a_market_buy_of_less_than_a_cent_is_refused_before_anything_is_signed() {
    let mock = mock().await;
    let venue = live(&mock).await;
    venue.markets().await.unwrap();
    let dust = market("dust", YES, Side::Buy, Amount::Usd(dec!(0.009)), FillPolicy::FillAndKill);
    let e = venue.place(dust).await.unwrap_err();
    assert!(matches!(e, ExchangeError::Rejected { .. }) && e.to_string().contains("less than a cent"), "{e}");
    assert!(!mock.requests().iter().any(|r| r.path == "/order"));
}

#[tokio::test]
async fn a_stale_heartbeat_id_is_recovered_and_no_resting_order_is_cancelled() {
    let mock = mock().await;
    mock.set_heartbeat_window(Duration::from_secs(2));
    let mut config = live_config(&mock);
    config.heartbeat = Duration::from_millis(250);
    let venue = LiveExchange::connect(config, signer(&mock, true)).await.unwrap();
    venue.markets().await.unwrap();
    let resting = venue.place(limit("resting", Side::Buy, dec!(0.45), dec!(10))).await.unwrap();
    assert_eq!(resting.status, OrderStatus::Live);
    until("heartbeats", || venue.health().heartbeats_ok >= 2).await;
    // The exchange moves the chain on three times; each time the 400 names the id to use.
    for n in 1..=3 {
        mock.faults().expire_heartbeat_id();
        until("a resync", || venue.health().heartbeat_resyncs >= n).await;
    }
    // The chain moves on again while the stale answer travels: the resend is stale too, and is
    // followed at once (a race the test above can hit under load).
    mock.faults().expire_heartbeat_id_twice();
    until("two resyncs in one beat", || venue.health().heartbeat_resyncs >= 5).await;
    // Beats for longer than the exchange's window since the first stale id.
    let ok = venue.health().heartbeats_ok;
    until("beats past the window", || venue.health().heartbeats_ok >= ok + 10).await;
    assert_eq!(mock.heartbeat_lapses(), 0);
    assert_eq!(venue.health().heartbeat_failures, 0, "{:?}", venue.health());
    let open = venue.open_orders().await.unwrap();
    assert_eq!(open.iter().map(|o| o.order_id.as_str()).collect::<Vec<_>>(), [resting.order_id.as_str()]);
    let refused = mock.requests().iter().filter(|r| r.path == "/v1/heartbeats" && r.status == 400).count();
    assert_eq!(refused, 5);

    // When heartbeats stop, the mock does what the exchange does: the resting order goes.
    drop(venue);
    until("the exchange's deadline", || mock.heartbeat_lapses() == 1).await;
    let order = mock.orders().into_iter().find(|o| o.id == resting.order_id).unwrap();
    assert_eq!(order.status, equilibrage_testkit::OrderStatus::Canceled);
}

#[tokio::test]
async fn after_an_order_version_mismatch_the_order_is_signed_for_the_new_version_and_sent_once_more() {
    let mock = mock().await;
    // Before the exchange's upgrade: the SDK reads version 1 and builds V1 orders.
    mock.set_version(1);
    let venue = live(&mock).await;
    venue.markets().await.unwrap();
    let before = venue.place(limit("v1", Side::Buy, dec!(0.45), dec!(10))).await.unwrap();
    assert_eq!(before.status, OrderStatus::Live);
    // The upgrade: a V1 order is refused as `order_version_mismatch`, and nothing is placed.
    mock.set_version(2);
    let after = venue.place(limit("v2", Side::Buy, dec!(0.44), dec!(10))).await.unwrap();
    assert_eq!(after.status, OrderStatus::Live);
    let posts: Vec<_> =
        mock.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/order").collect();
    assert_eq!(posts.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 400, 200]);
    let body = |i: usize| serde_json::from_str::<serde_json::Value>(&posts[i].body).unwrap();
    assert!(body(1)["order"].get("feeRateBps").is_some(), "built for V1: {}", posts[1].body);
    assert!(body(2)["order"].get("timestamp").is_some(), "re-signed for V2: {}", posts[2].body);
    assert_eq!(mock.orders().len(), 2, "one order each, none twice");
    // A market order goes through too, at the exchange's precision.
    let fok = venue
        .place(market("fok", YES, Side::Buy, Amount::Usd(dec!(5)), FillPolicy::FillOrKill))
        .await
        .unwrap();
    assert_eq!(fok.status, OrderStatus::Matched);
}

#[tokio::test]
async fn a_tick_size_change_reaches_the_order_signer() {
    let mock = mock().await;
    let venue = live(&mock).await;
    let mut rx = venue.events();
    venue.markets().await.unwrap();
    until("subscription", || mock.market_subscribers(YES) == 1).await;
    // Listed at 0.01: 0.455 is off the tick, refused before anything is sent.
    let e = venue.place(limit("early", Side::Buy, dec!(0.455), dec!(10))).await.unwrap_err();
    assert!(matches!(e, ExchangeError::Rejected { .. }), "{e}");
    mock.set_tick_size(CONDITION, dec!(0.001));
    event(&mut rx, |e| matches!(e, MarketEvent::TickSize { token, .. } if token == YES)).await;
    let ack = venue.place(limit("fine", Side::Buy, dec!(0.455), dec!(10))).await.unwrap();
    assert_eq!(ack.status, OrderStatus::Live);
    let order = mock.orders().into_iter().find(|o| o.id == ack.order_id).unwrap();
    assert_eq!(order.price, dec!(0.455));
}

#[tokio::test]
async fn a_deposit_shows_in_the_next_balance_read() {
    let mock = mock().await;
    let venue = live(&mock).await;
    assert_eq!(venue.balance().await.unwrap().collateral, dec!(1000));
    // A deposit the exchange's cached read has not seen yet.
    mock.set_balance(dec!(1250));
    assert_eq!(venue.balance().await.unwrap().collateral, dec!(1250));
    let reads: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/balance-allowance"))
        .map(|r| r.path)
        .collect();
    assert_eq!(reads, ["/balance-allowance/update", "/balance-allowance"].repeat(2));
}

#[tokio::test]
async fn after_a_crash_a_new_process_reconciles_open_orders_and_trades() {
    let mock = mock().await;
    mock.set_page_limit(1);
    {
        let venue = live(&mock).await;
        venue.place(market("a", YES, Side::Buy, Amount::Usd(dec!(5)), FillPolicy::FillOrKill)).await.unwrap();
        venue.place(limit("b", Side::Buy, dec!(0.40), dec!(10))).await.unwrap();
        venue.place(limit("c", Side::Buy, dec!(0.41), dec!(10))).await.unwrap();
        // The process dies here: nothing in memory survives.
    }
    let venue = live(&mock).await;
    let open = venue.open_orders().await.unwrap();
    assert_eq!(open.len(), 2, "paged one by one: {open:?}");
    let trades = venue.trades(0).await.unwrap();
    assert_eq!(trades.len(), 1);
    assert_eq!(
        (trades[0].side, trades[0].price, trades[0].status),
        (Side::Buy, dec!(0.52), TradeStatus::Matched)
    );
    mock.settle_trades();
    assert_eq!(venue.trades(0).await.unwrap()[0].status, TradeStatus::Confirmed);
}

#[tokio::test]
async fn a_trade_that_fails_at_settlement_is_reported_failed() {
    let mock = mock().await;
    let venue = live(&mock).await;
    mock.faults().fail_next_trade();
    venue
        .place(market("doomed", YES, Side::Buy, Amount::Usd(dec!(5)), FillPolicy::FillOrKill))
        .await
        .unwrap();
    assert_eq!(venue.trades(0).await.unwrap()[0].status, TradeStatus::Matched);
    // The shares are sold on before the buy settles: when the buy fails, the sale fails too, as
    // the shares it sold never existed on chain.
    let bought = venue.trades(0).await.unwrap()[0].shares;
    let shares = (bought * dec!(100)).floor() / dec!(100);
    venue
        .place(market("sold-on", YES, Side::Sell, Amount::Shares(shares), FillPolicy::FillOrKill))
        .await
        .unwrap();
    mock.settle_trades();
    let trades = venue.trades(0).await.unwrap();
    assert_eq!(trades.len(), 2);
    assert!(trades.iter().all(|t| t.status == TradeStatus::Failed), "{trades:?}");
    assert_eq!(mock.balance(), dec!(1000), "both undone");
}

/// A venue that has not listed its markets yet (a restart whose first listing failed, a market
/// no longer listed) still prices and records fees at the market's schedule: the market is
/// looked up by token. Before, its fee was taken as zero.
#[tokio::test]
async fn fees_follow_the_markets_schedule_even_before_any_listing() {
    let mock = MockPolymarket::start().await;
    let mut m = MockMarket::binary("502", CONDITION, YES, NO);
    m.fee_rate = dec!(0.02);
    mock.add_market(m);
    mock.set_book(YES, &[(dec!(0.48), dec!(100))], &[(dec!(0.52), dec!(100))]);
    mock.set_balance(dec!(1000));
    // The venue's clock 5 s behind: its trades are still found right after the fill.
    mock.set_clock_skew(-5);
    let venue = live(&mock).await;
    let ack = venue
        .place(market("fee-1", YES, Side::Buy, Amount::Usd(dec!(10)), FillPolicy::FillOrKill))
        .await
        .unwrap();
    let charged: Decimal = mock.trades().iter().map(|t| t.fee).sum();
    assert!(charged > Decimal::ZERO, "the venue charges this market's taker fee");
    assert_eq!(ack.status, OrderStatus::Matched);
    assert_eq!(ack.fee, charged, "the answer's fee is the venue's");
    // As after a restart: a new process reads the trade before any listing.
    let fresh = live(&mock).await;
    let fees: Decimal = fresh.trades(0).await.unwrap().iter().map(|t| t.fee).sum();
    assert_eq!(fees, charged, "the trade's fee is the venue's");

    // The trade list does not answer while an order fills: no fee is guessed. The answer says
    // the fills come later, with the order's id to reconcile them by.
    mock.faults().fail_for("/data/trades", 503, "Trading is currently disabled", Duration::from_secs(2));
    let ack = venue
        .place(market("fee-2", YES, Side::Buy, Amount::Usd(dec!(10)), FillPolicy::FillOrKill))
        .await
        .unwrap();
    assert_eq!(mock.trades().len(), 2, "it filled");
    assert_eq!(
        (ack.status, ack.filled_shares, ack.fee),
        (OrderStatus::Delayed, Decimal::ZERO, Decimal::ZERO)
    );
    assert_eq!(ack.order_id, mock.trades()[1].order_id);
}

#[tokio::test]
async fn a_429_storm_is_backed_off_without_exceeding_the_configured_rate() {
    let mock = mock().await;
    let mut cfg = live_config(&mock);
    cfg.limits = RateLimits { window: Duration::from_secs(1), book: 3, ..RateLimits::default() };
    cfg.retry.attempts = 6;
    let venue = LiveExchange::public(cfg).unwrap();
    // The process's metrics count the requests and the waits (other tests add to them too).
    let metrics = equilibrage::metrics::get();
    let throttled = || metrics.venue_requests.with_label_values(&["book", "429"]).get();
    let answered = || metrics.venue_requests.with_label_values(&["book", "200"]).get();
    let waits = || metrics.venue_limiter_waits.with_label_values(&["book"]).get();
    let before = (throttled(), answered(), waits());
    mock.faults().fail_next("/book", 429, "Too Many Requests", 4);
    let book = venue.book(YES).await.unwrap();
    assert_eq!(book.best_bid().unwrap().price, dec!(0.49));
    for _ in 0..4 {
        venue.book(NO).await.unwrap();
    }
    let books: Vec<_> = mock.requests().into_iter().filter(|r| r.path == "/book").collect();
    assert_eq!(books.iter().filter(|r| r.status == 429).count(), 4);
    assert_eq!(books.len(), 9);
    // Arrival times carry some network jitter next to the client's send times: allow 50 ms of it.
    for r in &books {
        let window = Duration::from_millis(450);
        let in_window = books.iter().filter(|s| s.at >= r.at && s.at < r.at + window).count();
        assert!(in_window <= 3, "{in_window} requests within 450 ms");
    }
    let spread = books.last().unwrap().at - books[0].at;
    assert!(
        spread >= Duration::from_millis(1_000),
        "9 requests at 3 per 500 ms take at least 1 s: {spread:?}"
    );
    assert!(throttled() >= before.0 + 4, "429s counted: {} → {}", before.0, throttled());
    assert!(answered() >= before.1 + 5, "200s counted: {} → {}", before.1, answered());
    assert!(waits() > before.2, "rate-limiter waits counted: {} → {}", before.2, waits());
    // Retries run out: the caller is told to come back later.
    mock.faults().fail_next("/book", 503, "upstream", 10);
    let e = venue.book(YES).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[tokio::test]
async fn every_rate_class_is_respected_under_a_429_storm() {
    let mock = mock().await;
    // Polymarket's classes, scaled to one second. The mock measures 800 ms, so the jitter between
    // when the bot sends and when the mock sees a request cannot make a kept pace look broken.
    let (window, seen_over) = (Duration::from_secs(1), Duration::from_millis(800));
    mock.set_rate_class(&["/data/orders", "/data/trades"], 4, seen_over);
    mock.set_rate_class(&["/balance-allowance", "/balance-allowance/update"], 3, seen_over);
    mock.set_rate_class(&["/book"], 5, seen_over);
    mock.set_rate_class(&["/order"], 3, seen_over);
    let mut cfg = live_config(&mock);
    cfg.limits = RateLimits {
        window,
        data_orders: 4,
        balance_allowance: 3,
        book: 5,
        post_order: 3,
        ..RateLimits::default()
    };
    cfg.retry.attempts = 8;
    let venue = LiveExchange::connect(cfg, signer(&mock, true)).await.unwrap();
    venue.markets().await.unwrap();
    // A storm on top: the exchange throttles the next two requests of every class whatever
    // their pace.
    for class in ["/data/orders", "/data/trades", "/balance-allowance", "/book", "/order"] {
        mock.faults().fail_next(class, 429, "Too Many Requests", 2);
    }
    let reads = (0..6).map(|_| async { venue.open_orders().await.map(drop) });
    let trades = (0..6).map(|_| async { venue.trades(0).await.map(drop) });
    let balances = (0..4).map(|_| async { venue.balance().await.map(drop) });
    let books = (0..8).map(|_| async { venue.book(YES).await.map(drop) });
    let orders =
        (0..4).map(|i| {
            let venue = &venue;
            async move {
                venue.place(limit(&format!("paced-{i}"), Side::Buy, dec!(0.40), dec!(10))).await.map(drop)
            }
        });
    let (reads, trades, balances, books, orders) = tokio::join!(
        futures_util::future::join_all(reads),
        futures_util::future::join_all(trades),
        futures_util::future::join_all(balances),
        futures_util::future::join_all(books),
        futures_util::future::join_all(orders),
    );
    for r in reads.into_iter().chain(trades).chain(balances).chain(books).chain(orders) {
        r.unwrap();
    }
    let stormed = mock.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(stormed, 10, "the injected storm, retried");
    assert_eq!(mock.throttled(), 0, "the bot kept within every class");
    assert_eq!(mock.orders().len(), 4);
}

#[tokio::test]
async fn an_order_answer_lost_to_a_server_error_is_outcome_unknown_and_not_resent() {
    let mock = mock().await;
    let venue = live(&mock).await;
    mock.faults().fail_next("/order", 500, "Internal server error", 1);
    let e = venue.place(limit("unsure", Side::Buy, dec!(0.40), dec!(10))).await.unwrap_err();
    assert!(e.needs_reconciliation(), "{e}");
    let posts = mock.requests().iter().filter(|r| r.method == "POST" && r.path == "/order").count();
    assert_eq!(posts, 1, "never resent blindly");
    // A refusal is a refusal, with the exchange's words.
    let e = venue.place(limit("tiny", Side::Buy, dec!(0.40), dec!(1))).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected { reason } if reason.contains("lower than the minimum")),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_answers_are_clear_errors_and_change_nothing() {
    let mock = mock().await;
    let venue = live(&mock).await;
    // A 200 whose body is not a book.
    mock.faults().fail_next("/book", 200, "surprise", 1);
    let e = venue.book(YES).await.unwrap_err();
    assert!(matches!(e, ExchangeError::Malformed { .. }), "{e}");
    // The same on the way to an order: nothing is signed or sent.
    mock.faults().fail_next("/book", 200, "surprise", 1);
    let e = venue
        .place(market("m", YES, Side::Buy, Amount::Usd(dec!(5)), FillPolicy::FillOrKill))
        .await
        .unwrap_err();
    assert!(matches!(e, ExchangeError::Malformed { .. }), "{e}");
    assert!(mock.orders().is_empty());
    assert_eq!(mock.balance(), dec!(1000));
    // And the client id is free for a real attempt.
    let ack =
        venue.place(market("m", YES, Side::Buy, Amount::Usd(dec!(5)), FillPolicy::FillOrKill)).await.unwrap();
    assert_eq!(ack.status, OrderStatus::Matched);
}

#[tokio::test]
async fn paper_fills_walk_the_live_book_without_keys() {
    let mock = mock().await;
    let data = LiveExchange::public(live_config(&mock)).unwrap();
    let paper = PaperExchange::new(Arc::new(data), dec!(100));
    paper.markets().await.unwrap();
    // $20 takes the 25 shares at 0.52 ($13), then the $7 left buy 13.20 shares at 0.53 (lots of
    // 0.01 share): $6.996.
    let ack = paper
        .place(market("p", YES, Side::Buy, Amount::Usd(dec!(20)), FillPolicy::FillOrKill))
        .await
        .unwrap();
    assert_eq!((ack.filled_shares, ack.notional), (dec!(38.20), dec!(19.996)));
    assert_eq!(paper.balance().await.unwrap().collateral, dec!(80.004));
    assert!(mock.orders().is_empty(), "paper never sends an order");
    assert_eq!(paper.name(), "paper");
}

#[tokio::test]
async fn the_user_channel_follows_trades_to_settlement_and_says_when_it_reconnected() {
    let mock = mock().await;
    let venue = live(&mock).await;
    let mut rx = venue.user_events();
    until("user channel", || mock.user_subscribers() == 1).await;
    let ack =
        venue.place(market("u", YES, Side::Buy, Amount::Usd(dec!(5)), FillPolicy::FillOrKill)).await.unwrap();
    let matched =
        event(&mut rx, |e| matches!(e, UserEvent::Trade(t) if t.status == TradeStatus::Matched)).await;
    let UserEvent::Trade(trade) = matched else { unreachable!() };
    assert_eq!((trade.order_id.as_str(), trade.side), (ack.order_id.as_str(), Side::Buy));
    mock.settle_trades();
    event(&mut rx, |e| matches!(e, UserEvent::Trade(t) if t.status == TradeStatus::Confirmed)).await;

    mock.faults().drop_ws_connections();
    event(&mut rx, |e| matches!(e, UserEvent::Reconnected)).await;
    assert!(venue.health().user_connects >= 2);
}
