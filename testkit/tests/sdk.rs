//! The mock driven by the official SDK: Gamma listing, public CLOB data, L1/L2 auth, order
//! placement and matching, cancels, paging, balances, heartbeats, Data API and HTTP faults.

mod common;

use std::time::{Duration, Instant};

use common::{ADDRESS, CONDITION, NO, YES, clob, mock, signer, status_of, u256};
use equilibrage_testkit::{MockMarket, OrderStatus, Side, TradeStatus};
use polymarket_client_sdk_v2::clob::types::request::{
    BalanceAllowanceRequest, CancelMarketOrderRequest, OrderBookSummaryRequest, OrdersRequest, TradesRequest,
    UpdateBalanceAllowanceRequest,
};
use polymarket_client_sdk_v2::clob::types::{
    Amount, AssetType, OrderStatusType, OrderType, Side as SdkSide, TickSize, TradeStatusType, TraderSide,
};
use polymarket_client_sdk_v2::clob::{Client, Config};
use polymarket_client_sdk_v2::types::{Address, B256};
use rust_decimal_macros::dec;

#[tokio::test]
async fn gamma_lists_markets_with_json_string_fields_paging_and_filters() -> anyhow::Result<()> {
    let mock = mock().await;
    let mut closed = MockMarket::binary("502", &format!("0x{}", "22".repeat(32)), "31", "32");
    closed.closed = true;
    mock.add_market(closed);
    let mut up = MockMarket::binary("503", &format!("0x{}", "33".repeat(32)), "41", "42");
    up.outcomes = ["Up".to_owned(), "Down".to_owned()];
    mock.add_market(up);
    let gamma = polymarket_client_sdk_v2::gamma::Client::new(&mock.http_url())?;
    use polymarket_client_sdk_v2::gamma::types::request::MarketsRequest;

    let open = gamma.markets(&MarketsRequest::builder().closed(false).limit(1).build()).await?;
    assert_eq!(open.len(), 1);
    let m = &open[0];
    assert_eq!(m.id, "501");
    assert_eq!(m.condition_id, Some(CONDITION.parse::<B256>()?));
    assert_eq!(m.outcomes.as_deref(), Some(&["Yes".to_owned(), "No".to_owned()][..]));
    assert_eq!(m.clob_token_ids.as_deref(), Some(&[u256(YES), u256(NO)][..]));
    // mid of 0.48/0.52 for Yes; No has an empty book.
    assert_eq!(m.outcome_prices.as_deref(), Some(&[dec!(0.5), dec!(0.5)][..]));
    assert_eq!(m.order_price_min_tick_size, Some(dec!(0.01)));
    assert_eq!(m.order_min_size, Some(dec!(5)));

    let second = gamma.markets(&MarketsRequest::builder().closed(false).limit(1).offset(1).build()).await?;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, "503");
    assert_eq!(second[0].outcomes.as_deref(), Some(&["Up".to_owned(), "Down".to_owned()][..]));

    let closed = gamma.markets(&MarketsRequest::builder().closed(true).build()).await?;
    assert_eq!(closed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["502"]);
    let raw: serde_json::Value =
        reqwest::get(format!("{}/markets?limit=1", mock.http_url())).await?.json().await?;
    assert!(raw[0]["outcomes"].is_string(), "outcomes is a JSON-encoded string: {raw}");
    assert!(raw[0]["liquidityNum"].is_number());
    Ok(())
}

#[tokio::test]
async fn public_clob_data_matches_the_sdk_types() -> anyhow::Result<()> {
    let mock = mock().await;
    mock.set_server_time(Some(1_700_000_000));
    let client = Client::new(&mock.http_url(), Config::default())?;
    assert_eq!(client.server_time().await?, 1_700_000_000);
    assert_eq!(client.version().await?, 2);
    let book = client.order_book(&OrderBookSummaryRequest::builder().token_id(u256(YES)).build()).await?;
    // Best level last, as the CLOB serves it.
    let bids: Vec<_> = book.bids.iter().map(|l| (l.price, l.size)).collect();
    let asks: Vec<_> = book.asks.iter().map(|l| (l.price, l.size)).collect();
    assert_eq!(bids, [(dec!(0.47), dec!(200)), (dec!(0.48), dec!(100))]);
    assert_eq!(asks, [(dec!(0.53), dec!(200)), (dec!(0.52), dec!(100))]);
    assert_eq!(book.tick_size, TickSize::Hundredth);
    assert_eq!(book.min_order_size, dec!(5));
    assert_eq!(client.tick_size(u256(YES)).await?.minimum_tick_size, TickSize::Hundredth);
    assert!(!client.neg_risk(u256(YES)).await?.neg_risk);
    let info = client.clob_market_info(CONDITION).await?;
    assert_eq!(info.tokens.len(), 2);
    assert_eq!(client.market(CONDITION).await?.tokens.len(), 2);

    let err = client
        .order_book(&OrderBookSummaryRequest::builder().token_id(u256("999")).build())
        .await
        .expect_err("unknown token");
    let (status, message) = status_of(&err).expect("status error");
    assert_eq!(status, 404);
    assert!(message.contains("No orderbook exists for the requested token id"), "{message}");
    Ok(())
}

#[tokio::test]
async fn l1_authentication_returns_the_mock_credentials_and_records_headers() -> anyhow::Result<()> {
    let mock = mock().await;
    mock.set_server_time(Some(100_000));
    let signer = signer();
    let client = Client::new(&mock.http_url(), Config::builder().use_server_time(true).build())?
        .authentication_builder(&signer)
        .authenticate()
        .await?;
    assert_eq!(client.credentials().key().to_string(), mock.credentials().api_key);
    let l1 = mock.l1_headers();
    assert_eq!(l1.len(), 1, "create succeeded, no derive call: {l1:?}");
    assert_eq!(l1[0].path, "/auth/api-key");
    assert_eq!(l1[0].address.to_lowercase(), ADDRESS);
    assert_eq!(l1[0].timestamp, "100000");
    assert_eq!(l1[0].nonce, "0");
    // Known-answer ClobAuth signature (chain 137, ts 100000, nonce 0).
    assert_eq!(
        l1[0].signature,
        "0xfdfb5abf512e439ea61c8595c18e527e718bf16010acf57cef51d09e15893098275d3c6f73038f36ec0cd0ce55436fca14dc64b11611f4dce896e354207508cc1b"
    );
    // The credentials work for L2 calls.
    let balance = client.balance_allowance(BalanceAllowanceRequest::default()).await?;
    assert_eq!(balance.balance, dec!(1000000000));
    Ok(())
}

#[tokio::test]
async fn wrong_l2_signature_or_key_is_401() -> anyhow::Result<()> {
    let mock = mock().await;
    let good = mock.credentials();
    let signer = signer();
    let wrong_secret = polymarket_client_sdk_v2::auth::Credentials::new(
        good.api_key.parse()?,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
        good.passphrase.clone(),
    );
    let client = Client::new(&mock.http_url(), Config::default())?
        .authentication_builder(&signer)
        .credentials(wrong_secret)
        .authenticate()
        .await?;
    let err = client.balance_allowance(BalanceAllowanceRequest::default()).await.expect_err("bad signature");
    assert_eq!(status_of(&err), Some((401, r#"{"error":"Unauthorized/Invalid api key"}"#.to_owned())));
    let wrong_key = polymarket_client_sdk_v2::auth::Credentials::new(
        "00000000-0000-4000-8000-000000000000".parse()?,
        good.secret.clone(),
        good.passphrase.clone(),
    );
    let client = Client::new(&mock.http_url(), Config::default())?
        .authentication_builder(&signer)
        .credentials(wrong_key)
        .authenticate()
        .await?;
    let err = client.orders(&OrdersRequest::default(), None).await.expect_err("bad key");
    assert_eq!(status_of(&err).map(|s| s.0), Some(401));
    let statuses: Vec<u16> =
        mock.requests().iter().filter(|r| r.path.starts_with("/data/orders")).map(|r| r.status).collect();
    assert_eq!(statuses, [401]);
    Ok(())
}

#[tokio::test]
async fn fok_market_buy_fills_and_consumes_the_book() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let signer = signer();
    let order = client
        .market_order()
        .token_id(u256(YES))
        .side(SdkSide::Buy)
        .amount(Amount::usdc(dec!(26))?)
        .order_type(OrderType::FOK)
        .build()
        .await?;
    let resp = client.post_order(client.sign(&signer, order).await?).await?;
    assert!(resp.success);
    assert_eq!(resp.status, OrderStatusType::Matched);
    assert_eq!((resp.making_amount, resp.taking_amount), (dec!(26), dec!(50)));
    assert_eq!(resp.trade_ids.len(), 1);
    assert_eq!(resp.transaction_hashes.len(), 1);
    assert_eq!(mock.balance(), dec!(974));
    assert_eq!(mock.position(YES), dec!(50));
    let book = client.order_book(&OrderBookSummaryRequest::builder().token_id(u256(YES)).build()).await?;
    assert_eq!(book.asks.last().map(|l| (l.price, l.size)), Some((dec!(0.52), dec!(50))));
    let trades = mock.trades();
    assert_eq!(trades.len(), 1);
    assert_eq!((trades[0].status, trades[0].taker, trades[0].side), (TradeStatus::Matched, true, Side::Buy));
    Ok(())
}

#[tokio::test]
async fn a_market_order_with_more_decimals_than_the_exchange_takes_is_refused() -> anyhow::Result<()> {
    // The SDK sizes a market buy with the tick's decimals plus two: five on a 0.001 tick, where
    // the exchange takes four. The mock refuses it as Polymarket does.
    let mock = mock().await;
    let mut cheap = MockMarket::binary("504", &format!("0x{}", "44".repeat(32)), "51", "52");
    cheap.tick_size = dec!(0.001);
    mock.add_market(cheap);
    mock.set_book("51", &[(dec!(0.012), dec!(500))], &[(dec!(0.013), dec!(1000))]);
    let client = clob(&mock).await;
    let order = client
        .market_order()
        .token_id(u256("51"))
        .side(SdkSide::Buy)
        .amount(Amount::usdc(dec!(1))?)
        .order_type(OrderType::FOK)
        .build()
        .await?;
    // trunc(1 / 0.013, 5) = 76.92307 shares, in micro units.
    assert_eq!(order.order().takerAmount, polymarket_client_sdk_v2::types::U256::from(76_923_070_u64));
    let err = client.post_order(client.sign(&signer(), order).await?).await.expect_err("refused");
    assert_eq!(
        status_of(&err),
        Some((
            400,
            r#"{"error":"invalid amounts, the market buy orders maker amount supports a max accuracy of 2 decimals, taker amount a max of 4 decimals"}"#
                .to_owned()
        ))
    );
    assert!(mock.trades().is_empty());
    assert_eq!(mock.balance(), dec!(1000));
    Ok(())
}

#[tokio::test]
async fn fok_short_of_depth_is_killed_with_the_exchange_error() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let signer = signer();
    let order = client
        .market_order()
        .token_id(u256(YES))
        .side(SdkSide::Buy)
        .amount(Amount::usdc(dec!(50))?)
        .order_type(OrderType::FOK)
        .build()
        .await?;
    // The book thins between building and posting.
    mock.set_level(YES, Side::Sell, dec!(0.52), dec!(10));
    let err = client.post_order(client.sign(&signer, order).await?).await.expect_err("killed");
    assert_eq!(
        status_of(&err),
        Some((
            400,
            r#"{"error":"order couldn't be fully filled. FOK orders are fully filled or killed."}"#
                .to_owned()
        ))
    );
    assert!(mock.trades().is_empty());
    assert_eq!(mock.balance(), dec!(1000));
    Ok(())
}

#[tokio::test]
async fn fak_sell_fills_what_there_is_and_is_killed_on_an_empty_side() -> anyhow::Result<()> {
    let mock = mock().await;
    mock.set_position(YES, dec!(300), dec!(0.40));
    let client = clob(&mock).await;
    let signer = signer();
    let sell = |shares| {
        client
            .market_order()
            .token_id(u256(YES))
            .side(SdkSide::Sell)
            .amount(Amount::shares(shares).expect("shares"))
            .order_type(OrderType::FAK)
            .build()
    };
    let order = sell(dec!(250)).await?; // cutoff 0.47 on the built book
    mock.set_level(YES, Side::Buy, dec!(0.47), dec!(50));
    let resp = client.post_order(client.sign(&signer, order).await?).await?;
    assert_eq!(resp.status, OrderStatusType::Matched);
    assert_eq!((resp.making_amount, resp.taking_amount), (dec!(150), dec!(71.5)));
    assert_eq!(resp.trade_ids.len(), 2);
    assert_eq!(mock.position(YES), dec!(150));
    assert_eq!(mock.balance(), dec!(1071.5));

    mock.set_level(YES, Side::Buy, dec!(0.45), dec!(100));
    let order = sell(dec!(10)).await?;
    mock.set_level(YES, Side::Buy, dec!(0.45), dec!(0));
    let err = client.post_order(client.sign(&signer, order).await?).await.expect_err("no bids");
    let (status, message) = status_of(&err).expect("status");
    assert_eq!(status, 400);
    assert!(message.contains("no orders found to match with FAK order"), "{message}");
    Ok(())
}

#[tokio::test]
async fn gtc_takes_what_crosses_rests_the_rest_and_take_resting_fills_it() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let signer = signer();
    let order = client
        .limit_order()
        .token_id(u256(YES))
        .side(SdkSide::Buy)
        .price(dec!(0.52))
        .size(dec!(150))
        .order_type(OrderType::GTC)
        .build()
        .await?;
    let resp = client.post_order(client.sign(&signer, order).await?).await?;
    assert_eq!(resp.status, OrderStatusType::Live);
    assert_eq!((resp.making_amount, resp.taking_amount), (dec!(52), dec!(100)));
    // The rest (50) now is the best bid; the 0.52 ask is gone.
    let book = client.order_book(&OrderBookSummaryRequest::builder().token_id(u256(YES)).build()).await?;
    assert_eq!(book.bids.last().map(|l| (l.price, l.size)), Some((dec!(0.52), dec!(50))));
    assert_eq!(book.asks.last().map(|l| l.price), Some(dec!(0.53)));

    let open = client.order(&resp.order_id).await?;
    assert_eq!(
        (open.status, open.original_size, open.size_matched),
        (OrderStatusType::Live, dec!(150), dec!(100))
    );
    mock.faults().take_resting(&resp.order_id, dec!(20)).map_err(anyhow::Error::msg)?;
    let open = client.order(&resp.order_id).await?;
    assert_eq!(open.size_matched, dec!(120));
    assert_eq!(open.associate_trades.len(), 2);
    assert_eq!(mock.position(YES), dec!(120));
    assert_eq!(mock.balance(), dec!(1000) - dec!(52) - dec!(10.4));
    let trades = client.trades(&TradesRequest::default(), None).await?;
    assert_eq!(trades.data.len(), 2);
    let maker = trades.data.iter().find(|t| t.trader_side == TraderSide::Maker).expect("maker trade");
    assert_eq!((maker.size, maker.price, maker.side), (dec!(20), dec!(0.52), SdkSide::Sell));
    assert_eq!(maker.maker_orders[0].order_id, resp.order_id);
    assert!(mock.faults().take_resting(&resp.order_id, dec!(31)).is_err(), "only 30 left");
    mock.faults().take_resting(&resp.order_id, dec!(30)).map_err(anyhow::Error::msg)?;
    assert_eq!(client.order(&resp.order_id).await?.status, OrderStatusType::Matched);
    Ok(())
}

#[tokio::test]
async fn invalid_orders_get_the_exchange_errors() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let signer = signer();
    let limit = |price, size, post_only| {
        client
            .limit_order()
            .token_id(u256(YES))
            .side(SdkSide::Buy)
            .price(price)
            .size(size)
            .order_type(OrderType::GTC)
            .post_only(post_only)
            .build()
    };
    let post = |order| async { client.post_order(client.sign(&signer, order).await?).await };
    let message = |r: polymarket_client_sdk_v2::Result<_>| {
        let err = r.expect_err("rejected");
        let (status, message) = status_of(&err).expect("status");
        assert_eq!(status, 400);
        message
    };

    let m = message(post(limit(dec!(0.45), dec!(2), false).await?).await);
    assert!(m.contains("is invalid. Size (2) lower than the minimum: 5"), "{m}");
    let m = message(post(limit(dec!(0.45), dec!(5000), false).await?).await);
    assert!(m.contains("not enough balance / allowance"), "{m}");
    let m = message(post(limit(dec!(0.53), dec!(10), true).await?).await);
    assert!(m.contains("invalid post-only order: order crosses book"), "{m}");
    // The client thinks the tick is 0.001; the market's is 0.01.
    client.set_tick_size(u256(YES), TickSize::Thousandth);
    let m = message(post(limit(dec!(0.455), dec!(10), false).await?).await);
    assert!(m.contains("is invalid. Price (0.455) breaks minimum tick size rule: 0.01"), "{m}");
    assert!(mock.orders().is_empty());
    Ok(())
}

#[tokio::test]
async fn open_orders_and_trades_are_paged_and_cancels_answer_per_id() -> anyhow::Result<()> {
    let mock = mock().await;
    mock.set_page_limit(2);
    let client = clob(&mock).await;
    let signer = signer();
    let mut ids = Vec::new();
    for cents in 40..45 {
        let order = client
            .limit_order()
            .token_id(u256(YES))
            .side(SdkSide::Buy)
            .price(rust_decimal::Decimal::new(cents, 2))
            .size(dec!(10))
            .build()
            .await?;
        ids.push(client.post_order(client.sign(&signer, order).await?).await?.order_id);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = client.orders(&OrdersRequest::default(), cursor).await?;
        assert!(page.data.len() <= 2);
        seen.extend(page.data.into_iter().map(|o| o.id));
        if page.next_cursor == "LTE=" {
            break;
        }
        cursor = Some(page.next_cursor);
    }
    assert_eq!(seen, ids);
    for id in &ids[..3] {
        mock.faults().take_resting(id, dec!(5)).map_err(anyhow::Error::msg)?;
    }
    let first = client.trades(&TradesRequest::default(), None).await?;
    assert_eq!(first.data.len(), 2);
    let second = client.trades(&TradesRequest::default(), Some(first.next_cursor)).await?;
    assert_eq!((second.data.len(), second.next_cursor.as_str()), (1, "LTE="));

    let one = client.cancel_order(&ids[0]).await?;
    assert_eq!(one.canceled, [ids[0].clone()]);
    let two = client.cancel_orders(&[&ids[0], &ids[1]]).await?;
    assert_eq!(two.canceled, [ids[1].clone()]);
    assert_eq!(two.not_canceled.get(&ids[0]).map(String::as_str), Some("already canceled or matched"));
    let other =
        client.cancel_market_orders(&CancelMarketOrderRequest::builder().asset_id(u256(NO)).build()).await?;
    assert!(other.canceled.is_empty());
    let market =
        client.cancel_market_orders(&CancelMarketOrderRequest::builder().asset_id(u256(YES)).build()).await?;
    assert_eq!(market.canceled, ids[2..]);
    assert!(client.cancel_all_orders().await?.canceled.is_empty());
    assert!(mock.orders().iter().all(|o| o.status == OrderStatus::Canceled));
    assert!(client.orders(&OrdersRequest::default(), None).await?.data.is_empty());
    Ok(())
}

#[tokio::test]
async fn failed_trade_settles_to_failed_and_is_reverted() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let signer = signer();
    let buy = || {
        client
            .market_order()
            .token_id(u256(YES))
            .side(SdkSide::Buy)
            .amount(Amount::usdc(dec!(5.2)).expect("usdc"))
            .order_type(OrderType::FOK)
            .build()
    };
    mock.faults().fail_next_trade();
    let failing = client.post_order(client.sign(&signer, buy().await?).await?).await?;
    let fine = client.post_order(client.sign(&signer, buy().await?).await?).await?;
    assert_eq!(mock.balance(), dec!(989.6));
    let status = |id: &str| {
        let id = id.to_owned();
        let client = &client;
        async move {
            let page = client.trades(&TradesRequest::builder().id(id).build(), None).await?;
            anyhow::Ok(page.data.into_iter().map(|t| t.status).collect::<Vec<_>>())
        }
    };
    assert_eq!(status(&failing.trade_ids[0]).await?, [TradeStatusType::Matched]);
    mock.settle_trades();
    assert_eq!(status(&failing.trade_ids[0]).await?, [TradeStatusType::Failed]);
    assert_eq!(status(&fine.trade_ids[0]).await?, [TradeStatusType::Confirmed]);
    assert_eq!(mock.balance(), dec!(994.8));
    assert_eq!(mock.position(YES), dec!(10));
    Ok(())
}

#[tokio::test]
async fn batch_orders_answer_each_order() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let signer = signer();
    let mut signed = Vec::new();
    for (price, size) in [(dec!(0.45), dec!(10)), (dec!(0.45), dec!(1))] {
        let order = client
            .limit_order()
            .token_id(u256(YES))
            .side(SdkSide::Buy)
            .price(price)
            .size(size)
            .build()
            .await?;
        signed.push(client.sign(&signer, order).await?);
    }
    let resps = client.post_orders(signed).await?;
    assert_eq!(resps.iter().map(|r| r.success).collect::<Vec<_>>(), [true, false]);
    assert!(resps[1].error_msg.as_deref().unwrap_or_default().contains("lower than the minimum"));
    Ok(())
}

#[tokio::test]
async fn balance_heartbeats_and_collateral_shapes() -> anyhow::Result<()> {
    let mock = mock().await;
    mock.set_balance(dec!(12.345678));
    mock.set_position(NO, dec!(7), dec!(0.5));
    let client = clob(&mock).await;
    let collateral = client.balance_allowance(BalanceAllowanceRequest::default()).await?;
    assert_eq!(collateral.balance, dec!(12345678));
    assert_eq!(collateral.allowances.len(), 3, "both exchanges and the NegRiskAdapter");
    // A deposit is not in the exchange's cached read until it is told to read the chain again.
    mock.set_balance(dec!(20.345678));
    let cached = client.balance_allowance(BalanceAllowanceRequest::default()).await?;
    assert_eq!(cached.balance, dec!(12345678));
    client.update_balance_allowance(UpdateBalanceAllowanceRequest::default()).await?;
    let fresh = client.balance_allowance(BalanceAllowanceRequest::default()).await?;
    assert_eq!(fresh.balance, dec!(20345678));
    let shares = client
        .balance_allowance(
            BalanceAllowanceRequest::builder().asset_type(AssetType::Conditional).token_id(u256(NO)).build(),
        )
        .await?;
    assert_eq!(shares.balance, dec!(7000000));
    let first = client.post_heartbeat(None).await?;
    let second = client.post_heartbeat(Some(first.heartbeat_id)).await?;
    assert_ne!(first.heartbeat_id, second.heartbeat_id);
    let beats = mock.requests().iter().filter(|r| r.path == "/v1/heartbeats" && r.status == 200).count();
    assert_eq!(beats, 2);
    Ok(())
}

#[tokio::test]
async fn http_faults_are_seen_by_the_client_and_recorded() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = Client::new(&mock.http_url(), Config::default())?;
    let request = OrderBookSummaryRequest::builder().token_id(u256(YES)).build();
    mock.faults().fail_next("/book", 429, "Too Many Requests", 2);
    for _ in 0..2 {
        let err = client.order_book(&request).await.expect_err("throttled");
        assert_eq!(status_of(&err), Some((429, r#"{"error":"Too Many Requests"}"#.to_owned())));
    }
    client.order_book(&request).await?;
    let statuses: Vec<u16> = mock.requests().iter().filter(|r| r.path == "/book").map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);

    mock.faults().fail_next("/time", 503, "Trading is currently disabled", 1);
    assert_eq!(status_of(&client.server_time().await.expect_err("503")).map(|s| s.0), Some(503));

    mock.faults().delay("/time", Duration::from_millis(200));
    let started = Instant::now();
    client.server_time().await?;
    assert!(started.elapsed() >= Duration::from_millis(200));
    Ok(())
}

#[tokio::test]
async fn data_api_trades_and_positions() -> anyhow::Result<()> {
    let mock = mock().await;
    let client = clob(&mock).await;
    let signer = signer();
    let order = client
        .market_order()
        .token_id(u256(YES))
        .side(SdkSide::Buy)
        .amount(Amount::usdc(dec!(10.4))?)
        .order_type(OrderType::FOK)
        .build()
        .await?;
    client.post_order(client.sign(&signer, order).await?).await?;
    let data = polymarket_client_sdk_v2::data::Client::new(&mock.http_url())?;
    use polymarket_client_sdk_v2::data::types::request::{PositionsRequest, TradesRequest as DataTrades};
    let user: Address = ADDRESS.parse()?;
    let trades = data.trades(&DataTrades::builder().user(user).build()).await?;
    assert_eq!(trades.len(), 1);
    assert_eq!((trades[0].size, trades[0].price, trades[0].asset), (dec!(20), dec!(0.52), u256(YES)));
    let positions = data.positions(&PositionsRequest::builder().user(user).build()).await?;
    assert_eq!(positions.len(), 1);
    assert_eq!((positions[0].size, positions[0].avg_price), (dec!(20), dec!(0.52)));
    assert_eq!(positions[0].opposite_asset, u256(NO));
    Ok(())
}
