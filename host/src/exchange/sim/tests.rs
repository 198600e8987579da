use super::*;
use rust_decimal_macros::dec;

fn small(seed: u64) -> Simulator {
    Simulator::new(SimConfig { seed, markets: 40, ..SimConfig::default() })
}

fn run(sim: &mut Simulator, steps: usize, dt_ms: i64) -> Vec<StepOutput> {
    (0..steps).map(|_| sim.step(dt_ms)).collect()
}

#[test]
fn the_same_seed_gives_the_same_world_and_history() {
    let (mut a, mut b, mut c) = (small(7), small(7), small(8));
    assert_eq!(a.markets(), b.markets());
    assert_ne!(a.markets(), c.markets());
    let (ha, hb, hc) = (run(&mut a, 200, 60_000), run(&mut b, 200, 60_000), run(&mut c, 200, 60_000));
    assert_eq!(ha, hb);
    assert_ne!(ha, hc);
    assert!(ha.iter().any(|o| !o.events.is_empty()), "prices moved");
}

#[test]
fn steps_written_into_recycled_events_are_the_steps_of_a_fresh_world() {
    let (mut fresh, mut reused) = (small(7), small(7));
    let mut reused_books = 0;
    for _ in 0..200 {
        let spare = reused.spare.len();
        let (a, b) = (fresh.step(60_000), reused.step(60_000));
        assert_eq!(a, b);
        reused_books += spare - reused.spare.len();
        // A trade (not a book) handed back is not kept; the books are, up to two per market.
        reused.recycle(b.events);
        assert!(reused.spare.iter().all(|e| matches!(e, MarketEvent::Book { .. })));
        assert!(reused.spare.len() <= 80);
    }
    assert!(reused_books > 1_000, "the books' buffers served again: {reused_books}");
}

#[test]
fn markets_are_plausible_distinct_binary_markets() {
    let sim = Simulator::new(SimConfig::default());
    let markets = sim.markets();
    assert_eq!(markets.len(), 300);
    let questions: std::collections::BTreeSet<_> = markets.iter().map(|m| m.question.as_str()).collect();
    assert_eq!(questions.len(), 300, "questions are distinct");
    let categories: std::collections::BTreeSet<_> = markets.iter().map(|m| m.category.as_str()).collect();
    assert!(categories.len() >= 5);
    for m in &markets {
        assert!(m.question.ends_with('?') && !m.slug.is_empty());
        assert_ne!(m.outcomes[0].token_id, m.outcomes[1].token_id);
        assert!(m.outcomes[0].token_id.chars().all(|c| c.is_ascii_digit()));
        assert!(m.end_ms.unwrap() > sim.now_ms());
    }
}

#[test]
fn questions_of_your_own_go_to_the_first_markets_which_the_scanner_keeps() {
    let own = vec!["<script>window.__xss=1</script> Will it rain?".to_string(), "Will it snow?".to_string()];
    let config = SimConfig { seed: 5, markets: 50, horizon_days: 30, ..SimConfig::default() };
    let plain = Simulator::new(config.clone()).markets();
    let sim = Simulator::new(SimConfig { questions: own.clone(), ..config });
    let markets = sim.markets();
    assert_eq!(markets.len(), 50);
    for (m, q) in markets.iter().zip(&own) {
        assert_eq!(&m.question, q);
        assert_eq!(m.category, "custom");
        assert!(!m.slug.is_empty() && m.slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert!(m.liquidity >= Decimal::from(8_000), "liquid: {}", m.liquidity);
        assert!(m.end_ms.unwrap() - sim.now_ms() >= 7 * 86_400_000, "open for a week");
        let yes = sim.book(&m.outcomes[0].token_id).unwrap().best_bid().unwrap().price;
        assert!(yes > Decimal::new(3, 1) && yes < Decimal::new(7, 1), "near 50/50: {yes}");
    }
    // The other markets are the seed's, unchanged.
    assert_eq!(markets[2..], plain[2..]);
}

#[test]
fn books_are_on_the_tick_grid_uncrossed_and_the_no_book_mirrors_the_yes_book() {
    let mut sim = small(3);
    run(&mut sim, 100, 5 * 60_000);
    for m in sim.markets() {
        let tick = m.tick_size;
        let yes = sim.book(&m.outcomes[0].token_id).unwrap();
        let no = sim.book(&m.outcomes[1].token_id).unwrap();
        let (bid, ask) = (yes.best_bid().unwrap().price, yes.best_ask().unwrap().price);
        assert!(bid < ask && bid >= tick && ask <= Decimal::ONE - tick, "{bid} {ask}");
        assert!((bid / tick).fract().is_zero() && (ask / tick).fract().is_zero());
        // Every level, digits and scale: a NO bid at 1 − p for each YES ask at p, and back.
        let mirrored = |side| {
            yes.levels(side)
                .map(|l| ((Decimal::ONE - l.price).serialize(), l.size.serialize()))
                .collect::<Vec<_>>()
        };
        let exact =
            |side| no.levels(side).map(|l| (l.price.serialize(), l.size.serialize())).collect::<Vec<_>>();
        assert_eq!(exact(BookSide::Bids), mirrored(BookSide::Asks));
        assert_eq!(exact(BookSide::Asks), mirrored(BookSide::Bids));
    }
}

#[test]
fn a_simulated_day_brings_whale_trades_news_and_resolutions() {
    let mut sim =
        Simulator::new(SimConfig { seed: 11, markets: 60, horizon_days: 2, ..SimConfig::default() });
    let day = run(&mut sim, 24 * 12, 5 * 60_000);
    let whales: usize = day.iter().map(|o| o.whale_trades.len()).sum();
    let news: usize = day.iter().map(|o| o.news.len()).sum();
    let resolved: Vec<_> = day
        .iter()
        .flat_map(|o| &o.events)
        .filter_map(|e| match e {
            MarketEvent::Resolved { market, winning_token, .. } => {
                let m = sim.markets.iter().find(|m| &m.market.id == market).unwrap();
                let winner = m.market.outcomes.iter().position(|o| &o.token_id == winning_token).unwrap();
                Some((market.clone(), winner))
            }
            _ => None,
        })
        .collect();
    // About three whale trades and one news item per market per day.
    assert!(whales > 60, "{whales} whale trades");
    assert!(news > 20, "{news} news items");
    assert!(!resolved.is_empty(), "markets ending within the day resolved");
    for (market, winner) in &resolved {
        assert_eq!(sim.resolution(market), Some(*winner));
        assert!(sim.markets().iter().all(|m| &m.id != market), "resolved markets leave the list");
    }
    let w = &day.iter().flat_map(|o| &o.whale_trades).next().unwrap();
    assert!(w.shares * w.price >= dec!(4_900), "whale-sized: {}", w.shares * w.price);
}

#[test]
fn market_orders_walk_the_simulated_book_and_take_liquidity() {
    let mut sim = small(5);
    let m = sim.markets()[0].clone();
    let token = m.outcomes[0].token_id.clone();
    let before = sim.book(&token).unwrap().clone();
    let best = before.best_ask().unwrap();
    let expected = before.walk(Side::Buy, Amount::Usd(dec!(25)), FillPolicy::FillOrKill, m.fee).unwrap();
    let fill = sim.execute(&token, Side::Buy, Amount::Usd(dec!(25)), FillPolicy::FillOrKill).unwrap();
    assert_eq!(fill, expected);
    let after = sim.book(&token).unwrap();
    assert_eq!(after.best_ask().unwrap().size, best.size - fill.shares);
    assert_eq!(
        sim.execute("nope", Side::Buy, Amount::Usd(dec!(5)), FillPolicy::FillOrKill),
        Err(SimError::UnknownToken("nope".into()))
    );
    assert!(matches!(
        sim.execute(&token, Side::Sell, Amount::Shares(dec!(1)), FillPolicy::FillOrKill),
        Err(SimError::Fill(FillError::BelowMinimum { .. }))
    ));
}

#[test]
fn a_listing_handed_out_shares_the_markets_and_keeps_what_they_were() {
    let mut sim = small(5);
    let listed = sim.markets();
    let token = listed[0].outcomes[0].token_id.clone();
    let fill = sim.execute(&token, Side::Buy, Amount::Usd(dec!(25)), FillPolicy::FillOrKill).unwrap();
    let relisted = sim.markets();
    // The traded market's volume moved in the new listing only; the others were not copied.
    assert_eq!(relisted[0].volume_24h, listed[0].volume_24h + fill.notional);
    assert_eq!(
        Market::clone(&relisted[0]),
        Market { volume_24h: relisted[0].volume_24h, ..Market::clone(&listed[0]) }
    );
    assert!(!Arc::ptr_eq(&relisted[0], &listed[0]));
    assert!(listed.iter().zip(&relisted).skip(1).all(|(a, b)| Arc::ptr_eq(a, b)));
    // Nothing holds the traded market's old copy any more: the next trade changes it in place.
    drop(listed);
    let held = Arc::as_ptr(&relisted[0]);
    drop(relisted);
    sim.execute(&token, Side::Buy, Amount::Usd(dec!(25)), FillPolicy::FillOrKill).unwrap();
    assert_eq!(Arc::as_ptr(&sim.markets()[0]), held);
}

#[test]
fn a_book_a_fill_thinned_is_quoted_again_at_the_next_step_even_on_the_same_ticks() {
    let mut sim = small(5);
    let m = sim.markets()[0].clone();
    let token = m.outcomes[0].token_id.clone();
    let full = sim.book(&token).unwrap().clone();
    // A step of no time moves nothing: the books stand, and no book is published.
    let still = sim.step(0);
    assert!(still.events.iter().all(|e| !matches!(e, MarketEvent::Book { .. })), "{:?}", still.events);
    sim.execute(&token, Side::Buy, Amount::Usd(dec!(25)), FillPolicy::FillOrKill).unwrap();
    assert_ne!(sim.book(&token).unwrap(), &full);
    // The quotes land on the same ticks, yet the thinned level is restored and published.
    let next = sim.step(0);
    assert_eq!(sim.book(&token).unwrap(), &full);
    assert!(
        next.events.iter().any(|e| matches!(e, MarketEvent::Book { token: t, .. } if *t == token)),
        "{:?}",
        next.events
    );
}

#[tokio::test]
async fn a_restarted_world_takes_over_the_bot_s_holdings_with_fresh_ids() {
    use crate::exchange::{Exchange as _, FillPolicy, OrderKind, OrderRequest};
    let venue = super::SimExchange::new(SimConfig { seed: 3, markets: 5, ..SimConfig::default() }, dec!(100));
    let token = venue.markets().await.unwrap()[0].outcomes[0].token_id.clone();
    venue.restore_holdings(&[(token.clone(), dec!(40))]);
    assert_eq!(venue.position(&token), dec!(40));
    let sell = OrderRequest {
        client_id: "after-restart".into(),
        token: token.clone(),
        side: Side::Sell,
        kind: OrderKind::Market { amount: Amount::Shares(dec!(40)), policy: FillPolicy::FillAndKill },
    };
    let ack = venue.place(sell).await.unwrap();
    assert!(ack.filled_shares > Decimal::ZERO);
    assert_eq!(venue.position(&token), dec!(40) - ack.filled_shares);
    assert_eq!(venue.summary().1, dec!(100) + ack.notional - ack.fee);
    let n: u64 = ack.order_id.rsplit('-').next().unwrap().parse().unwrap();
    assert!(n > 1_000_000_000_000_000, "ids continue from the world's clock: {}", ack.order_id);
}

#[test]
fn news_headlines_agree_with_the_moves_they_come_with() {
    // Words of the catalogue's good-for-YES and bad-for-YES headlines.
    const GOOD: &[&str] =
        &["surges", "rallies", "approves", "streak", "confirms", "raise", "approved", "grows for", "gains"];
    const BAD: &[&str] =
        &["trails", "rejects", "falls", "injury", "delayed", "drop", "delays", "doubts", "setback"];
    let mut sim = Simulator::new(SimConfig {
        seed: 3,
        markets: 200,
        questions: vec!["Will it rain in Paris tomorrow?".into()],
        ..SimConfig::default()
    });
    let (mut agree, mut disagree) = (0, 0);
    for _ in 0..24 * 60 {
        let before: HashMap<String, f64> =
            sim.markets.iter().map(|m| (m.market.id.clone(), m.logit)).collect();
        let out = sim.step(60_000);
        for n in &out.news {
            let m = sim.markets.iter().find(|m| m.market.id == n.market).unwrap();
            let moved = m.logit - before[&n.market];
            let lower = n.title.to_lowercase();
            let good = GOOD.iter().any(|w| lower.contains(w));
            let bad = BAD.iter().any(|w| lower.contains(w));
            assert!(good != bad, "every headline has a tone: {}", n.title);
            if moved.abs() > 1e-9 {
                if (moved > 0.0) == good { agree += 1 } else { disagree += 1 }
            }
        }
    }
    // A minute's diffusion can outweigh a tiny jump now and then; the news jump dominates.
    assert!(agree > 100 && disagree * 20 < agree, "{agree} agree, {disagree} disagree");
}

/// The integer tick grid gives what decimal arithmetic on the float's exact value gives
/// (`floor(p × ticks per unit)`, clamped to the grid), at the tick's scale.
#[test]
fn integer_ticks_equal_the_decimal_formula() {
    fn decimal_tick(p: f64, tick: Decimal) -> Decimal {
        let per_unit = Decimal::ONE / tick;
        let ticks = Decimal::from_f64_retain(p).unwrap_or(Decimal::ZERO) * per_unit;
        ticks.floor().clamp(Decimal::ONE, per_unit - Decimal::ONE) * tick
    }
    let mut rng = Rng::new(11);
    let mut values: Vec<f64> = (0..200_000).map(|_| rng.range(-0.05, 1.05)).collect();
    // Exact grid points, their neighbours and the edges.
    for k in 0..=1_000_i32 {
        let p = f64::from(k) / 1_000.0;
        values.extend([p, p.next_up(), p.next_down()]);
    }
    values.extend([
        0.0,
        -0.0,
        1.0,
        2.0,
        1e20,
        f64::MIN_POSITIVE,
        5e-324,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ]);
    for tick in [dec!(0.01), dec!(0.001)] {
        let per_unit = ticks_per_unit(tick);
        let grid = TickGrid::new(tick);
        assert_eq!(grid.per_unit, per_unit);
        for p in &values {
            let want = decimal_tick(*p, tick);
            let ticks = to_tick(*p, per_unit);
            let got = tick_price(ticks, tick);
            assert_eq!(got, want, "p = {p:e}, tick {tick}");
            assert_eq!(got.scale(), want.scale(), "p = {p:e}, tick {tick}");
            // The books take their prices from the grid: the same decimal, scale included.
            let from_grid = grid.price(ticks);
            assert_eq!((from_grid, from_grid.scale()), (got, got.scale()), "p = {p:e}, tick {tick}");
        }
        // Beyond what a decimal holds the formula read zero; the grid's top is the honest answer.
        assert_eq!(to_tick(1e300, per_unit), per_unit - 1);
    }
}

/// A simulator following a world drawn beforehand steps as a fresh simulator of the seed does,
/// bit for bit, while orders (market orders, and limit orders' matches) take from its books
/// between steps and add to its markets' volume: a book taken from is rebuilt at the next step
/// at the world's quotes, as the fresh one rebuilds it; every market resolves on the way.
#[test]
fn a_simulator_following_a_drawn_world_steps_as_a_fresh_one_trading_the_same() {
    let config = SimConfig { seed: 9, markets: 40, horizon_days: 1, ..SimConfig::default() };
    let steps = 1_500;
    let world = Arc::new(World::draw(config.clone(), 60_000, steps));
    assert!(world.covers(&config, 60_000, steps) && !world.covers(&config, 30_000, steps));
    let (mut fresh, mut follower) = (Simulator::new(config), Simulator::following(world));
    assert!(follower.follow.is_some() && fresh.follow.is_none());
    let mut orders = Rng::new(3);
    let (mut traded, mut events, mut whales, mut news) = (0, 0, 0, 0);
    for s in 0..steps {
        let open = fresh.markets();
        if s % 2 == 0 && !open.is_empty() {
            let market = orders.pick(&open);
            let token = market.outcomes[orders.below(2)].token_id.clone();
            let (side, amount) = if orders.chance(0.5) {
                (Side::Buy, Amount::Usd(Decimal::from(orders.below(30_000) + 10)))
            } else {
                (Side::Sell, Amount::Shares(Decimal::from(orders.below(3_000) + 5)))
            };
            if orders.chance(0.5) {
                let a = fresh.execute(&token, side, amount, FillPolicy::FillAndKill);
                assert_eq!(a, follower.execute(&token, side, amount, FillPolicy::FillAndKill));
                traded += usize::from(a.is_ok());
            } else if let Ok(fill) =
                fresh.book(&token).unwrap().walk(side, amount, FillPolicy::FillAndKill, market.fee)
            {
                fresh.take(&token, side, &fill);
                follower.take(&token, side, &fill);
                traded += 1;
            }
        }
        let (a, b) = (fresh.step(60_000), follower.step(60_000));
        assert_eq!(a, b, "step {s}");
        (events, whales, news) =
            (events + a.events.len(), whales + a.whale_trades.len(), news + a.news.len());
        fresh.recycle(a.events);
        follower.recycle(b.events);
    }
    assert!(fresh.markets().is_empty() && follower.markets().is_empty(), "every market resolved");
    for (a, b) in fresh.markets.iter().zip(&follower.markets) {
        assert_eq!((&a.market, a.resolved), (&b.market, b.resolved));
        assert_eq!(
            a.books[0].levels(BookSide::Bids).collect::<Vec<_>>(),
            b.books[0].levels(BookSide::Bids).collect::<Vec<_>>()
        );
    }
    assert!(traded > 300 && events > 10_000 && whales > 50 && news > 10, "{traded} {events} {whales} {news}");
}
