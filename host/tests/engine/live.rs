//! The engine on the live venue, against the mock Polymarket: a 30 % drop on the feed
//! liquidated, taker fees as the exchange charges them, entries that keep the fees back.

use super::*;

const CONDITION: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";
const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_percent_drop_on_the_live_feed_liquidates_that_side_automatically() {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("601", CONDITION, YES, NO);
    market.question = "Will the engine liquidate?".into();
    mock.add_market(market);
    mock.set_book(YES, &[(dec!(0.49), dec!(500))], &[(dec!(0.51), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.48), dec!(500))], &[(dec!(0.50), dec!(500))]);
    mock.set_balance(dec!(1000));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let _tasks = engine.spawn();

    let p = engine.enter(CONDITION, Some(dec!(100))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active);
    assert_eq!(mock.position(YES), p.leg(Leg::Yes).held());
    assert_eq!(mock.position(NO), p.leg(Leg::No).held());
    // 50 pUSD a side: 98.0392 YES at 0.51 (a market buy's shares carry 4 decimals), 100 NO at 0.50.
    assert_eq!((p.leg(Leg::Yes).held(), p.leg(Leg::No).held()), (dec!(98.0392), dec!(100)));

    // The YES bid falls to 0.35, more than 30 % under 0.51: the feed delivers it, the monitor sells.
    wait_until(10, "the market subscription", || mock.market_subscribers(YES) > 0).await;
    // A price move that decides nothing is still announced, with the new bid (the dashboard's
    // live prices), and nothing is written for it.
    let mut events = engine.subscribe();
    let version = engine.position(p.id).unwrap().position.version;
    mock.set_book(NO, &[(dec!(0.47), dec!(500))], &[(dec!(0.50), dec!(500))]);
    let announced = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(EngineEvent::PositionUpdate { position, bids, pnl, .. }) = events.recv().await
                && position.id == p.id
                && bids[1] == Some(dec!(0.47))
            {
                return (position.version, pnl);
            }
        }
    })
    .await
    .expect("a position update for the price move");
    assert_eq!(announced.0, version, "announced, not written");
    assert_eq!(announced.1.unrealised, engine.position(p.id).unwrap().pnl.unrealised);
    mock.set_book(YES, &[(dec!(0.35), dec!(500))], &[(dec!(0.37), dec!(500))]);
    wait_until(10, "the liquidation", || {
        engine.position(p.id).is_ok_and(|v| v.position.status == PositionStatus::Liquidated)
    })
    .await;
    engine.settle().await;
    let after = engine.position(p.id).unwrap().position;
    assert_eq!(after.liquidated, Some(Leg::Yes));
    assert_eq!(after.leg(Leg::No).held(), dec!(100), "NO is kept");
    // Shares trade in hundredths: 98.03 sold, the 0.0092 of dust the pUSD buy left stays.
    assert_eq!(mock.position(YES), dec!(0.0092));
    assert_eq!(after.leg(Leg::Yes).held(), mock.position(YES));
    let sale = trades_of(&engine, p.id).into_iter().find(|t| t.action == Action::Sell).unwrap();
    assert_eq!(
        (sale.leg, sale.purpose, sale.price, sale.shares),
        (Leg::Yes, Purpose::Liquidation, dec!(0.35), dec!(98.03))
    );
    // The ledger and the exchange agree to the last micro-pUSD.
    assert_eq!(engine.overview().unwrap().available, mock.balance());
    // Settlement: MATCHED until the chain confirms, then CONFIRMED.
    mock.settle_trades();
    engine.sweep().await;
    assert!(
        trades_of(&engine, p.id).iter().all(|t| t.status == equilibrage::store::Settlement::Confirmed),
        "{:?}",
        trades_of(&engine, p.id)
    );
    // Nothing else moved: a NO rise does not trigger anything with stop loss and take profit off.
    mock.set_book(NO, &[(dec!(0.70), dec!(500))], &[(dec!(0.72), dec!(500))]);
    engine.sweep().await;
    engine.settle().await;
    assert_eq!(engine.position(p.id).unwrap().position.status, PositionStatus::Liquidated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taker_fees_on_the_live_venue_are_recorded_as_the_exchange_charges_them() {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("602", CONDITION, YES, NO);
    market.fee_rate = dec!(0.02);
    mock.add_market(market);
    // Two levels a side, so the entry walks into the second with the fee priced per level.
    mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(40)), (dec!(0.46), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(30)), (dec!(0.56), dec!(500))]);
    mock.set_balance(dec!(1000));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    engine
        .update_settings(&SettingsPatch { max_slippage_percent: Some(dec!(5)), ..SettingsPatch::default() })
        .await
        .unwrap();
    let p = engine.enter(CONDITION, Some(dec!(60))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active);
    let closed = engine.close(p.id).await.unwrap();
    assert_eq!(closed.status, PositionStatus::Closed);

    let ours = trades_of(&engine, p.id);
    let theirs = mock.trades();
    assert_eq!(ours.len(), 4);
    for t in &ours {
        let fills: Vec<_> = theirs.iter().filter(|m| t.exchange_trade_ids.contains(&m.id)).collect();
        assert!(!fills.is_empty(), "{t:?}");
        let fee: Decimal = fills.iter().map(|m| m.fee).sum();
        let shares: Decimal = fills.iter().map(|m| m.size).sum();
        assert!(fee > Decimal::ZERO, "a 2 % market charges a fee");
        assert_eq!((t.fee, t.shares), (fee, shares), "recorded as charged: {t:?}");
    }
    let o = engine.overview().unwrap();
    assert_eq!(o.fees, ours.iter().map(|t| t.fee).sum::<Decimal>());
    assert_eq!(o.available, mock.balance(), "cash after fees agrees with the exchange");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_of_all_the_cash_keeps_back_the_taker_fees_so_both_legs_fill() {
    let mock = MockPolymarket::start().await;
    let mut market = MockMarket::binary("603", CONDITION, YES, NO);
    market.fee_rate = dec!(0.02);
    mock.add_market(market);
    mock.set_book(YES, &[(dec!(0.44), dec!(500))], &[(dec!(0.45), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.53), dec!(500))], &[(dec!(0.55), dec!(500))]);
    mock.set_balance(dec!(100));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let all_of_it = SettingsPatch {
        capital_allocation_percent: Some(dec!(100)),
        max_slippage_percent: Some(dec!(5)),
        ..SettingsPatch::default()
    };
    engine.update_settings(&all_of_it).await.unwrap();
    // All the cash as the operator's own amount leaves nothing for the fees: refused, unsent.
    let e = engine.enter(CONDITION, Some(dec!(100))).await.unwrap_err();
    assert!(matches!(e, EngineError::InsufficientCapital { .. }) && e.to_string().contains("fees"), "{e}");
    assert!(mock.orders().is_empty());
    // All the cash as the configured share: the legs shrink until they and their fees fit.
    let p = engine.enter(CONDITION, None).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active, "{p:?}");
    assert!(p.legs.iter().all(|l| l.bought > Decimal::ZERO), "both legs filled: {p:?}");
    assert!(p.capital < dec!(100) && p.capital >= dec!(98.9), "{}", p.capital);
    assert_eq!(mock.orders().len(), 2, "no retries, no unwinding");
    let o = engine.overview().unwrap();
    assert!(mock.balance() >= Decimal::ZERO);
    assert_eq!(o.available, mock.balance(), "cash after fees agrees with the exchange");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_scan_counts_the_protocol_v2_markets_it_leaves_out() {
    let mock = MockPolymarket::start().await;
    mock.add_market(MockMarket::binary("604", CONDITION, YES, NO));
    let mut v2 = MockMarket::binary("605", &format!("0x{:064x}", 5), "77", "78");
    v2.version = Some("v2".into());
    mock.add_market(v2);
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let scan = engine.scan().await.unwrap();
    assert_eq!((scan.listed, scan.protocol_v2, scan.failed_pages), (1, 1, 0), "{scan:?}");
    assert!(
        engine
            .enter("0x0000000000000000000000000000000000000000000000000000000000000005", None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_that_fails_at_settlement_is_undone_in_the_position_and_the_ledger() {
    let mock = MockPolymarket::start().await;
    mock.add_market(MockMarket::binary("603", CONDITION, YES, NO));
    mock.set_book(YES, &[(dec!(0.49), dec!(500))], &[(dec!(0.50), dec!(500))]);
    mock.set_book(NO, &[(dec!(0.49), dec!(500))], &[(dec!(0.50), dec!(500))]);
    mock.set_balance(dec!(1000));
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let engine = open(Arc::new(live(&mock).await), &plugins, &store, Clock::system()).await;
    let mut events = engine.subscribe();
    // The first trade of the entry will fail on chain.
    mock.faults().fail_next_trade();
    let p = engine.enter(CONDITION, Some(dec!(100))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active, "both sides matched");
    mock.settle_trades();
    engine.sweep().await;
    let failed: Vec<TradeRecord> = trades_of(&engine, p.id)
        .into_iter()
        .filter(|t| t.status == equilibrage::store::Settlement::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", trades_of(&engine, p.id));
    let undone = failed[0].leg;
    let after = engine.position(p.id).unwrap().position;
    // The side whose buy failed was never held: the position is one-sided, and watched as such.
    assert_eq!(after.leg(undone).held(), Decimal::ZERO);
    assert_eq!(after.status, PositionStatus::Liquidated);
    assert_eq!(after.liquidated, Some(undone));
    assert_eq!(after.leg(undone.other()).held(), mock.position(&after.leg(undone.other()).token));
    assert_eq!(mock.position(&after.leg(undone).token), Decimal::ZERO);
    assert_eq!(engine.overview().unwrap().available, mock.balance(), "the ledger undid it as the venue did");
    let mut told = false;
    while let Ok(e) = events.try_recv() {
        if let EngineEvent::Error { message, .. } = e {
            told |= message.contains("failed at settlement");
        }
    }
    assert!(told, "the operator hears of it");
    // Once only: another sweep changes nothing.
    engine.sweep().await;
    assert_eq!(engine.overview().unwrap().available, mock.balance());
}
