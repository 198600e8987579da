//! Tick-to-order latency with 100 open positions (the recorder and shadow rules off and on), and
//! the journal's durable commits.

use super::*;

pub(super) fn latency(dir: &tempfile::TempDir, observed: Observed) {
    let (_plugin_dir, plugins) = default_plugins();
    if observed == Observed::RecorderAndShadow {
        let shadow = plugins.shadow_dir();
        std::fs::create_dir_all(&shadow).expect("shadow dir");
        std::fs::copy(plugins.dir().join("equilibrage.wasm"), shadow.join("equilibrage.wasm"))
            .expect("shadow");
        plugins.load_dir().expect("load the shadow");
        assert!(plugins.has_shadow(PluginKind::LiquidationRules));
    }
    let recording = observed != Observed::Nothing;
    let venue = SimExchange::new(SimConfig { markets: 2_000, ..SimConfig::default() }, Decimal::from(10_000));
    let (probe, mut sells) = Probe::new(venue.clone());
    let rt = runtime();
    let path = dir.path().to_path_buf();
    let rules = plugins.clone();
    // On a worker, as the feed task runs.
    let recordings = path.join("recordings");
    let task = rt.spawn(async move {
        let engine = engine_on(&probe, &plugins, &path).await;
        // The recorder, as `run` starts it, when asked: it sees every tick the engine takes.
        let recorder = recording
            .then(|| Recorder::start(&recordings, "sim", &RecorderConfig::default()).expect("recorder"));
        let shadows = match (&recorder, observed) {
            (Some(r), Observed::RecorderAndShadow) => {
                let runner = ShadowRunner::start(plugins.clone(), path.join("shadows.json"), Some(r.sink()))
                    .expect("shadow runner");
                let _ = engine.set_observer(Arc::clone(&runner) as Arc<dyn Observer>);
                Some(runner)
            }
            (Some(r), _) => {
                let _ = engine.set_observer(r.sink());
                None
            }
            (None, _) => None,
        };
        let markets = probe.venue.markets().await.expect("markets");
        let ticks: HashMap<String, Decimal> = markets.iter().map(|m| (m.id.clone(), m.tick_size)).collect();
        let mut next = 0;
        fill_slots(&engine, &markets, &mut next, OPEN_POSITIONS).await;
        let (mut to_order, mut to_return) = (Vec::new(), Vec::new());
        for _ in 0..LATENCY_SAMPLES {
            assert_eq!(engine.positions().len(), OPEN_POSITIONS);
            let view = engine
                .positions()
                .into_iter()
                .find(|v| v.position.status == PositionStatus::Active)
                .expect("an active position");
            let p = &view.position;
            let yes = p.leg(Leg::Yes);
            let tick = ticks[&p.market_id];
            let bid = ((yes.entry_price() * Decimal::new(6, 1)) / tick).floor().max(Decimal::ONE) * tick;
            let size = Decimal::from(10_000);
            let event = MarketEvent::Book {
                token: yes.token.clone(),
                bids: vec![Level { price: bid, size }],
                asks: vec![Level { price: bid + tick, size }],
                at_ms: engine.now_ms(),
            };
            while sells.try_recv().is_ok() {}

            let start = Instant::now();
            engine.on_market_event(event).await;
            to_return.push(start.elapsed());
            let placed = loop {
                let (at, token) = tokio::time::timeout(Duration::from_secs(10), sells.recv())
                    .await
                    .expect("the liquidation was sent within 10 s")
                    .expect("the probe is alive");
                if token == yes.token {
                    break at;
                }
            };
            to_order.push(placed.duration_since(start));

            engine.settle().await;
            let after = engine.position(p.id).expect("the position");
            assert_eq!(after.position.liquidated, Some(Leg::Yes), "the YES side was liquidated");
            // Make room: close what is left, open another.
            engine.close(p.id).await.expect("close");
            fill_slots(&engine, &markets, &mut next, OPEN_POSITIONS).await;
        }
        // The thread hops on the way, alone: a plugin call goes to the blocking pool and back,
        // a decision goes to a task of its own.
        let (mut blocking, mut pooled, mut spawned) = (Vec::new(), Vec::new(), Vec::new());
        let view = falling_yes();
        for _ in 0..2_000 {
            let start = Instant::now();
            tokio::task::spawn_blocking(|| ()).await.expect("blocking pool");
            blocking.push(start.elapsed());
            let rules = plugins.clone();
            let start = Instant::now();
            tokio::task::spawn_blocking(move || decide(&rules, &view)).await.expect("blocking pool");
            pooled.push(start.elapsed());
            let (tx, rx) = tokio::sync::oneshot::channel();
            let start = Instant::now();
            tokio::spawn(async move { tx.send(Instant::now()) });
            let ran = rx.await.expect("the task ran");
            spawned.push(ran.duration_since(start));
        }
        let shadowed = shadows.map(|runner| {
            runner.settle();
            let report = runner.report();
            let rules = report.rules.unwrap_or_default();
            (rules.checks, rules.id.mean_us(), report.dropped)
        });
        let recorded = recorder.map(|r| {
            let s = r.stats();
            let figures = (s.records.load(Ordering::Relaxed), s.dropped.load(Ordering::Relaxed));
            r.close().expect("close the recording");
            figures
        });
        (to_order, to_return, next, blocking, pooled, spawned, recorded, shadowed)
    });
    let (to_order, to_return, markets_used, blocking, pooled, spawned, recorded, shadowed) =
        rt.block_on(task).expect("latency run");
    let mut recorder = match recorded {
        Some((records, dropped)) => format!("recording on ({records} records, {dropped} dropped)"),
        None => "recording off".to_owned(),
    };
    if let Some((checks, mean_us, dropped)) = shadowed {
        recorder.push_str(&format!(
            ", shadow rules on ({checks} evaluations compared, {mean_us} µs a call, {dropped} calls missed)"
        ));
    }
    println!("latency ({}), store on {}, {recorder}:", dir.path().display(), filesystem(dir.path()));
    println!("  first sample {:.0} µs", us(to_order[0]));
    println!("  tick → sell handed to the venue: {}", summary(to_order));
    println!("  tick → on_market_event returned (decision made, task spawned): {}", summary(to_return));
    println!("  ({OPEN_POSITIONS} positions open throughout; {markets_used} markets entered in all)");
    let view = falling_yes();
    let direct: Vec<Duration> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            decide(&rules, &view);
            start.elapsed()
        })
        .collect();
    println!("  of which the rules plugin, called directly: {}", summary(direct));
    println!("  the rules plugin through the blocking pool, as the engine calls it: {}", summary(pooled));
    println!("  a round trip to the blocking pool (empty closure): {}", summary(blocking));
    println!("  tokio::spawn until the task runs: {}", summary(spawned));
}

/// A position whose YES bid is 40 % below its entry, as the liquidation-rules plugin sees it.
fn falling_yes() -> abi::PositionView {
    let leg = |entry: i64, bid: i64| abi::Leg {
        shares: 40_000_000,
        entry_price: entry,
        best_bid: Some(bid),
        best_ask: Some(bid + 10_000),
    };
    abi::PositionView {
        yes: leg(600_000, 360_000),
        no: leg(410_000, 390_000),
        opened_at: 0,
        liquidated: None,
    }
}

/// One call of the liquidation-rules plugin about [`falling_yes`].
fn decide(plugins: &Plugins, view: &abi::PositionView) {
    let decided = plugins.evaluate_rules(1_767_225_600_000, std::slice::from_ref(view)).expect("rules");
    assert_eq!(decided.decisions.len(), 1, "the YES side is liquidated");
}

/// One durable journal commit, as the engine writes it before sending an order (and the removal
/// that resolves it): what the disk contributes to the tick-to-order latency.
pub(super) fn commit(dir: &tempfile::TempDir) {
    let store = Store::open(&dir.path().join("equilibrage.redb")).expect("open the store");
    let rt = runtime();
    let (puts, removes, reads) = rt.block_on(async move {
        let (mut puts, mut removes, mut reads) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..1_000_u64 {
            let intent = Intent {
                client_id: format!("p{n}-yes-liquidation-1767225600000-{n}"),
                position_id: n,
                leg: Leg::Yes,
                action: Action::Sell,
                purpose: Purpose::Liquidation,
                token: "71321045679252212594626385532706912750332728571942532289631379312455583992563".into(),
                amount: IntentAmount::Shares(Decimal::new(4_166_666, 5)),
                fill_and_kill: true,
                created_at_ms: 1_767_225_600_000,
                reason: "yes best bid 0.36 is 40.0 % below its entry 0.60".into(),
                order_id: None,
                venue_at_ms: None,
                decided_by: None,
            };
            let id = intent.client_id.clone();
            let start = Instant::now();
            store.write(move |w| w.put_intent(&intent)).await.expect("journal");
            puts.push(start.elapsed());
            let start = Instant::now();
            let pending = store.read().and_then(|r| r.intents()).expect("read the journal");
            reads.push(start.elapsed());
            assert_eq!(pending.len(), 1);
            let start = Instant::now();
            store.write(move |w| w.remove_intent(&id)).await.expect("resolve");
            removes.push(start.elapsed());
        }
        (puts, removes, reads)
    });
    println!("journal commit ({}), store on {}:", dir.path().display(), filesystem(dir.path()));
    println!("  put_intent, durable: {}", summary(puts));
    println!("  remove_intent, durable: {}", summary(removes));
    println!("  reading the journal (a read transaction, one intent): {}", summary(reads));
}
