//! When things fail: a leg the venue keeps refusing, a faulting rules plugin or scorer, and
//! journalled orders recovered once after a crash.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_that_keeps_failing_is_retried_then_the_filled_leg_is_unwound_and_recorded() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let venue = sim();
    // Find a good market first, on the plain simulator.
    let market_id = {
        let scout = open(
            Arc::new(venue.clone()),
            &plugins,
            &Store::open(&dir.path().join("scout.redb")).unwrap(),
            sim_clock(&venue),
        )
        .await;
        best(&scout).await
    };
    let market = venue.markets().await.unwrap().into_iter().find(|m| m.id == market_id).unwrap();
    let no_token = market.outcomes[1].token_id.clone();
    // A venue that refuses every order on the NO token, counting the attempts.
    let attempts = Arc::new(AtomicUsize::new(0));
    let refusing = Arc::new(support::hooked::Hooked {
        place: Box::new({
            let (attempts, token) = (Arc::clone(&attempts), no_token.clone());
            move |order| {
                (order.token == token).then(|| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    ExchangeError::Rejected { reason: "not enough balance / allowance".into() }
                })
            }
        }),
        ..support::hooked::Hooked::new(venue.clone())
    });
    let engine = open(refusing.clone(), &plugins, &store, sim_clock(&venue)).await;
    let mut events = engine.subscribe();

    let p = engine.enter(&market_id, None).await.unwrap();
    assert_eq!(p.status, PositionStatus::Unwound, "{p:?}");
    // The first attempt and the two configured retries.
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let reason = p.close_reason.clone().unwrap();
    assert!(
        reason.contains("no side could not be bought") && reason.contains("not enough balance"),
        "{reason}"
    );
    let trades = trades_of(&engine, p.id);
    assert_eq!(trades.len(), 2, "{trades:?}");
    assert_eq!((trades[0].leg, trades[0].action), (Leg::Yes, Action::Buy));
    assert_eq!(
        (trades[1].leg, trades[1].action, trades[1].purpose),
        (Leg::Yes, Action::Sell, Purpose::Unwind)
    );
    assert_eq!(trades[0].shares, trades[1].shares);
    assert_eq!(venue.position(&p.leg(Leg::Yes).token), Decimal::ZERO);
    assert_eq!(venue.position(&no_token), Decimal::ZERO);
    // Never silent: an error event says what happened; the ledger matches the venue.
    let mut told = false;
    while let Ok(e) = events.try_recv() {
        if let EngineEvent::Error { message, .. } = e {
            told |= message.contains("unwind");
        }
    }
    assert!(told);
    assert_eq!(engine.overview().unwrap().available, venue.summary().1);
    assert!(engine.history().unwrap().iter().any(|h| h.id == p.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulting_rules_plugin_leaves_the_built_in_rule_protecting_positions() {
    let (_plugins_dir, plugins) = runtime(&[("zz-rules.wasm", guests::BAD_RULES.bytes)]);
    // The fixture traps on every call in mode 4.
    plugins.set_params(PluginKind::LiquidationRules, "bad-rules", &[("mode".into(), 4.0)]).unwrap();
    let (_dir, _store, venue, engine) = on_sim(&plugins).await;
    let mut events = engine.subscribe();
    let market = best(&engine).await;
    let p = engine.enter(&market, None).await.unwrap();
    let yes = p.leg(Leg::Yes);
    // The YES bid falls 40 % under its entry price.
    let crash = (yes.entry_price() * dec!(0.6)).round_dp(2);
    engine
        .on_market_event(MarketEvent::Book {
            token: yes.token.clone(),
            bids: vec![Level { price: crash, size: dec!(100000) }],
            asks: vec![Level { price: crash + dec!(0.02), size: dec!(100000) }],
            at_ms: venue.now_ms(),
        })
        .await;
    engine.settle().await;
    let after = engine.position(p.id).unwrap().position;
    assert_eq!(after.status, PositionStatus::Liquidated, "{after:?}");
    assert_eq!(after.liquidated, Some(Leg::Yes));
    assert!(after.leg(Leg::No).held() > Decimal::ZERO, "the other side is kept");
    let sold = trades_of(&engine, p.id).into_iter().find(|t| t.action == Action::Sell).unwrap();
    assert_eq!(sold.purpose, Purpose::Liquidation);
    assert!(sold.reason.contains("built-in rule"), "{}", sold.reason);
    match engine.health().unwrap().rules {
        RulesSource::BuiltIn { reason } => assert!(reason.contains("bad-rules"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut shown = false;
    while let Ok(e) = events.try_recv() {
        shown |= matches!(e, EngineEvent::RulesSource { source: RulesSource::BuiltIn { .. } });
    }
    assert!(shown, "the dashboard hears the built-in rule took over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulting_scorer_skips_the_scan_with_a_visible_error_and_the_engine_goes_on() {
    let (_plugins_dir, plugins) = runtime(&[("zz-bad.wasm", guests::BAD_OUTPUT.bytes)]);
    plugins.set_params(PluginKind::Scorer, "bad-output", &[("mode".into(), 1.0)]).unwrap();
    let (_dir, _store, _venue, engine) = on_sim(&plugins).await;
    let mut events = engine.subscribe();
    let _tasks = engine.spawn();
    let scan = engine.scan().await.unwrap();
    let error = scan.error.unwrap();
    assert!(error.contains("outside 1-10"), "{error}");
    // The fault reaches the engine's event stream, from the scanner and from the plugin runtime.
    let mut sources = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sources.len() < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(EngineEvent::Error { source, message, .. })) if message.contains("outside 1-10") => {
                sources.insert(source);
            }
            Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("the fault was not told to subscribers ({sources:?}): {other:?}"),
        }
    }
    assert!(engine.opportunities(0.0).unwrap().is_empty());
    assert!(engine.health().unwrap().last_error.unwrap().1.contains("skipped"));
    // Fixed plugin, next scan works.
    plugins.set_params(PluginKind::Scorer, "bad-output", &[("mode".into(), 0.0)]).unwrap();
    assert_eq!(engine.scan().await.unwrap().error, None);
    assert!(!engine.opportunities(0.0).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journalled_orders_are_recovered_once_after_a_crash() {
    let (_plugins_dir, plugins) = runtime(&[]);
    let (_dir, store, venue, engine) = on_sim(&plugins).await;
    let market = best(&engine).await;
    let p = engine.enter(&market, None).await.unwrap();
    let (yes, no) = (p.leg(Leg::Yes).clone(), p.leg(Leg::No).clone());
    drop(engine);

    // The bot journalled two sells and died: one reached the venue and filled, one never left.
    let intent = |id: &str, leg: Leg, token: &str, shares: Decimal| Intent {
        client_id: id.into(),
        position_id: p.id,
        leg,
        action: Action::Sell,
        purpose: Purpose::Liquidation,
        token: token.into(),
        amount: IntentAmount::Shares(shares),
        fill_and_kill: true,
        created_at_ms: venue.now_ms(),
        reason: "yes best bid fell".into(),
        order_id: None,
        venue_at_ms: None,
        decided_by: None,
    };
    let sent = intent("crash-sent", Leg::Yes, &yes.token, yes.held());
    // The venue gets a grace period to show a trade for an order the dead process sent; this one
    // was journalled longer ago than that.
    let lost = Intent {
        created_at_ms: venue.now_ms() - 11_000,
        ..intent("crash-lost", Leg::No, &no.token, no.held())
    };
    let (s, l) = (sent.clone(), lost.clone());
    store
        .write(move |w| {
            w.put_intent(&s)?;
            w.put_intent(&l)
        })
        .await
        .unwrap();
    let ack = venue
        .place(OrderRequest {
            client_id: "crash-sent".into(),
            token: yes.token.clone(),
            side: Side::Sell,
            kind: OrderKind::Market { amount: Amount::Shares(yes.held()), policy: FillPolicy::FillAndKill },
        })
        .await
        .unwrap();

    // Restart: the sell is found at the venue and recorded once; the other is resolved unfilled.
    for _ in 0..2 {
        let engine = open(Arc::new(venue.clone()), &plugins, &store, sim_clock(&venue)).await;
        assert!(store.read().unwrap().intents().unwrap().is_empty());
        let trades = trades_of(&engine, p.id);
        let recovered: Vec<_> = trades.iter().filter(|t| t.client_id == "crash-sent").collect();
        assert_eq!(recovered.len(), 1, "recorded exactly once: {trades:?}");
        assert_eq!(recovered[0].exchange_trade_ids, ack.trade_ids);
        assert_eq!((recovered[0].shares, recovered[0].notional), (ack.filled_shares, ack.notional));
        assert!(!trades.iter().any(|t| t.client_id == "crash-lost"));
        let now = engine.position(p.id).unwrap().position;
        assert_eq!(now.status, PositionStatus::Liquidated);
        assert_eq!(now.leg(Leg::Yes).held(), Decimal::ZERO);
        assert_eq!(now.leg(Leg::No).held(), no.held());
        let account: Account = store.read().unwrap().config(Account::KEY).unwrap().unwrap();
        assert_eq!(account.cash, venue.summary().1, "the ledger agrees with the venue");
    }
}
