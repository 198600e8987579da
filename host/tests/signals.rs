//! Every signal the host gathers reaches the scorer exactly: on the simulator, with a fixture
//! scorer that echoes its inputs as factors, a market's stored price history (momentum, volume
//! change), its whale trades through the default whale analyzer (activity, net flow, count,
//! concentration) and its news through the default news aggregator (relevance, count,
//! relevance-weighted sentiment) are read back from the opportunity's factor breakdown; the
//! analyzer's whale profiles are kept with the whale records, written again only when they change.

mod support;

use equilibrage::exchange::Side;
use equilibrage::exchange::sim::{NewsItem, SimConfig, SimExchange, WhaleTrade};
use equilibrage::store::{Opportunity, PricePoint, Store, WhaleProfile};
use equilibrage::web_backend::{HostBackend, Venue, WalletInfo};
use equilibrage_plugin_artifacts as guests;
use equilibrage_web::Backend as _;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::HashMap;
use support::runtime;

const HOUR: i64 = 3_600_000;
const WHALE_A: &str = "0x00000000000000000000000000000000000000a1";
const WHALE_B: &str = "0x00000000000000000000000000000000000000b2";

fn echoed(o: &Opportunity) -> HashMap<&str, f32> {
    o.factors.iter().map(|f| (&*f.name, f.value)).collect()
}

/// The whale-analyzer's stored profile of `wallet`.
fn profile_of(store: &Store, wallet: &str) -> WhaleProfile {
    store.read().unwrap().whale(wallet).unwrap().expect("recorded").profile.expect("profiled")
}

fn close(got: f32, want: f32) -> bool {
    (got - want).abs() <= 1e-4 * want.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trends_whales_and_news_reach_the_scorer_as_computed() {
    let (_plugins_dir, plugins) = runtime(&[("zz-echo.wasm", guests::ECHO_FEATURES.bytes)]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    // The simulator's clock stands still unless driven, and only the test brings signals.
    let sim = SimExchange::new(SimConfig { seed: 11, markets: 30, ..SimConfig::default() }, dec!(10000));
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    let now = engine.now_ms();

    assert_eq!(engine.scan().await.unwrap().error, None);
    let first = engine.opportunities(0.0).unwrap();
    let target = first.first().expect("a candidate").clone();
    let names: Vec<&str> = target.factors.iter().map(|f| &*f.name).collect();
    assert_eq!(names.len(), 10, "the echo scorer is the one in use: {names:?}");
    assert!(echoed(&target).values().all(|v| *v == 0.0), "no signal yet: {:?}", target.factors);
    let question = target.question.clone();

    // History, as a store the engine restarts on holds it: the YES mid 0.40 → 0.45 → 0.50 over
    // 20 hours while the 24 h volume doubles.
    let history = [(20, dec!(0.40), dec!(1000)), (10, dec!(0.45), dec!(1500)), (1, dec!(0.50), dec!(2000))];
    let market = target.market_id.clone();
    store
        .write(move |w| {
            for (hours_ago, mid, volume) in history {
                w.put_price(
                    &market,
                    &PricePoint {
                        at_ms: now - hours_ago * HOUR,
                        yes_bid: Some(mid - dec!(0.01)),
                        yes_ask: Some(mid + dec!(0.01)),
                        no_bid: None,
                        no_ask: None,
                        volume_24h: Some(volume),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    // An engine reads a market's history when its scanner first follows it: the history above
    // is one a restarted engine finds.
    drop(engine);
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;

    // Whales: 30,000 pUSD into YES and 10,000 into NO, from two wallets, a minute ago.
    let trade = |wallet: &str, outcome: usize, usd: Decimal| WhaleTrade {
        wallet: wallet.into(),
        market: target.market_id.clone(),
        outcome,
        side: Side::Buy,
        price: dec!(0.5),
        shares: usd * Decimal::TWO,
        at_ms: now - 60_000,
    };
    engine.push_whale_trades([trade(WHALE_A, 0, dec!(30000)), trade(WHALE_B, 1, dec!(10000))]);

    // News: two items naming the whole question, one good for YES ("surges"), one mixed
    // ("rally confirmed despite setback").
    let item = |n: u32, title: String| NewsItem {
        title,
        source: "test".into(),
        market: String::new(),
        published_ms: now,
        summary: String::new(),
        url: format!("https://news.test/{n}"),
    };
    (engine.news_sink())(vec![
        item(1, format!("{question} surges")),
        item(2, format!("{question}: rally confirmed despite setback")),
    ]);

    assert_eq!(engine.scan().await.unwrap().error, None);
    let after = engine.opportunities(0.0).unwrap();
    let o = after.iter().find(|o| o.market_id == target.market_id).expect("still a candidate");
    let f = echoed(o);
    // The news plugin's per-item sentiment (the question's own words count too) is stored with
    // each match; the scorer gets their relevance-weighted mean.
    let stored = store.read().unwrap().news(100).unwrap();
    let mine: Vec<(f32, f32)> = stored
        .iter()
        .flat_map(|n| n.matches.iter().filter(|m| m.market == target.market_id))
        .map(|m| (m.relevance, m.sentiment))
        .collect();
    assert_eq!(mine.len(), 2, "both items matched and stored: {stored:?}");
    assert!(mine[0].1 != mine[1].1, "the items differ in sentiment: {mine:?}");
    let stored_sentiment =
        mine.iter().map(|(r, s)| r * s).sum::<f32>() / mine.iter().map(|(r, _)| r).sum::<f32>();
    let expect = [
        ("history-points", 3.0),
        ("momentum-24h", 0.10),
        ("volume-change-24h", 1.0),
        // 40,000 pUSD of whale volume against the default 50,000 scale.
        ("whale-activity", 0.8),
        ("whale-net-flow-pusd", 20_000.0),
        ("whale-count", 2.0),
        // Shares 3/4 and 1/4: 0.5625 + 0.0625.
        ("whale-concentration", 0.625),
        ("news-relevance", 1.0),
        ("news-count", 2.0),
        ("news-sentiment", stored_sentiment),
    ];
    for (name, want) in expect {
        let got = f[name];
        assert!(close(got, want), "{name}: got {got}, want {want} ({:?})", o.factors);
    }
    // The analyzer's profile of each whale is kept with its record: weight (volume against four
    // times the default 20,000 pUSD whale volume) and signed flow.
    let read = store.read().unwrap();
    let profile = |who: &str| read.whale(who).unwrap().expect("recorded").profile.expect("profiled");
    let (a, b) = (profile(WHALE_A), profile(WHALE_B));
    assert_eq!((a.volume, a.net_yes_flow, a.trades, a.at_ms), (dec!(30000), dec!(30000), 1, now));
    assert_eq!((b.volume, b.net_yes_flow, b.trades), (dec!(10000), dec!(-10000), 1));
    assert!(close(a.weight, 0.375) && close(b.weight, 0.125), "{a:?} {b:?}");
    drop(read);

    // And the API's view of it.
    let backend =
        HostBackend::new(plugins, Venue::Sim(sim.clone()), engine.clone(), WalletInfo::for_mode("sim"));
    let shown = backend.whale(WHALE_A).unwrap().whale;
    assert_eq!(shown.net_yes_flow, Some(dec!(30000)));
    assert!(shown.weight.is_some_and(|w| close(w, 0.375)), "{shown:?}");
    // A market with none of these keeps neutral signals.
    let other = after.iter().find(|o| o.market_id != target.market_id).expect("another candidate");
    assert!(echoed(other).iter().all(|(n, v)| *v == 0.0 || n.starts_with("news")), "{:?}", other.factors);

    // A later scan whose analysis gives the same figures leaves the stored profile as it is,
    // its time included; a trade that changes them has them stored again, at that scan's time.
    sim.advance(60_000);
    assert_eq!(engine.scan().await.unwrap().error, None);
    assert_eq!(profile_of(&store, WHALE_A), a, "the same figures are not written again");
    engine.push_whale_trades([trade(WHALE_A, 0, dec!(10000))]);
    sim.advance(60_000);
    assert_eq!(engine.scan().await.unwrap().error, None);
    let again = profile_of(&store, WHALE_A);
    assert_eq!((again.volume, again.trades, again.at_ms), (dec!(40000), 2, engine.now_ms()));
    assert_eq!(profile_of(&store, WHALE_B), b, "the other wallet's figures did not change");
}
