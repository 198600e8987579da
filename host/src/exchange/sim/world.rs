//! The simulator's world drawn once for several runs of one seed (a sweep's variants, the two
//! runs of a comparison): what each step did to each market, for simulators that trade in it to
//! follow instead of drawing it again. A run's own orders only take from its books (and add to
//! its markets' volume), and it rebuilds a book it took from at the next step, as its own draw
//! would have: a follower's steps are those of a fresh simulator of the seed, bit for bit.

use super::{SimConfig, SimMarket, Simulator, StepOutput, WhaleDraw, requote};
use std::sync::Arc;

/// What one step did to one market.
#[derive(Debug, Clone, Copy)]
struct Change {
    market: u32,
    /// The quotes (best bid and ask, in ticks) the market moved to, when [`MOVED`] is set.
    bid: u16,
    ask: u16,
    /// [`MOVED`], [`NEWS`], [`WHALE`], or [`RESOLVED`] with the winning outcome in the low bit.
    flags: u8,
}

const MOVED: u8 = 1 << 1;
const NEWS: u8 = 1 << 2;
const WHALE: u8 = 1 << 3;
const RESOLVED: u8 = 1 << 4;

/// A whale trade as drawn, the wallet by its index in the population.
#[derive(Debug, Clone)]
struct Whale {
    wallet: u32,
    trade: WhaleDraw,
}

/// The steps of a simulated world without the bot, kept compactly (about 12 bytes for each
/// market whose quotes moved in a step, a few megabytes for a week of 300 markets).
pub struct World {
    config: SimConfig,
    dt_ms: i64,
    /// Step `s` is `changes[bounds[s]..bounds[s + 1]]`, in market order.
    bounds: Vec<usize>,
    changes: Vec<Change>,
    /// Headlines and whale trades in the order the steps drew them.
    headlines: Vec<String>,
    whales: Vec<Whale>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.config.seed)
            .field("markets", &self.config.markets)
            .field("steps", &self.steps())
            .field("dt_ms", &self.dt_ms)
            .field("changes", &self.changes.len())
            .finish_non_exhaustive()
    }
}

/// Where [`Simulator::step_model`] writes what a step did, while a world is drawn.
#[derive(Debug, Default)]
pub(super) struct Tape {
    bounds: Vec<usize>,
    changes: Vec<Change>,
    headlines: Vec<String>,
    whales: Vec<Whale>,
}

impl Tape {
    /// The change of `market` in the current step (markets come in order).
    fn entry(&mut self, market: usize) -> &mut Change {
        let start = self.bounds.last().copied().unwrap_or(0);
        let market = u32::try_from(market).unwrap_or(u32::MAX);
        // A market's first change of the step begins its entry.
        if self.changes[start..].last().is_none_or(|c| c.market != market) {
            self.changes.push(Change { market, bid: 0, ask: 0, flags: 0 });
        }
        let last = self.changes.len() - 1;
        &mut self.changes[last]
    }

    pub(super) fn resolved(&mut self, market: usize, winner: usize) {
        self.entry(market).flags |= RESOLVED | u8::from(winner == 1);
    }

    pub(super) fn news(&mut self, market: usize, headline: &str) {
        self.entry(market).flags |= NEWS;
        self.headlines.push(headline.to_owned());
    }

    /// The market's quotes moved to `(bid, ask)` ticks (at most a thousand ticks to one).
    pub(super) fn moved(&mut self, market: usize, (bid, ask): (i64, i64)) {
        let e = self.entry(market);
        e.flags |= MOVED;
        e.bid = u16::try_from(bid).unwrap_or(u16::MAX);
        e.ask = u16::try_from(ask).unwrap_or(u16::MAX);
    }

    pub(super) fn whale(&mut self, market: usize, wallet: usize, trade: &WhaleDraw) {
        self.entry(market).flags |= WHALE;
        self.whales.push(Whale { wallet: u32::try_from(wallet).unwrap_or(u32::MAX), trade: trade.clone() });
    }

    /// Ends the current step.
    fn close_step(&mut self) {
        self.bounds.push(self.changes.len());
    }
}

impl World {
    /// Draws `steps` steps of `dt_ms` of the world of `config`.
    #[must_use]
    pub fn draw(config: SimConfig, dt_ms: i64, steps: usize) -> Self {
        let mut sim = Simulator::new(config.clone());
        let mut tape = Tape { bounds: vec![0], ..Tape::default() };
        for _ in 0..steps {
            let out = sim.step_model(dt_ms, Some(&mut tape));
            sim.recycle(out.events);
            tape.close_step();
        }
        let Tape { bounds, mut changes, headlines, whales } = tape;
        changes.shrink_to_fit();
        Self { config, dt_ms, bounds, changes, headlines, whales }
    }

    /// Steps drawn.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// Whether a simulator of `config` stepping `steps` times by `dt_ms` can follow this world.
    #[must_use]
    pub fn covers(&self, config: &SimConfig, dt_ms: i64, steps: usize) -> bool {
        self.config == *config && self.dt_ms == dt_ms && self.steps() >= steps
    }

    fn step(&self, s: usize) -> Option<&[Change]> {
        let (from, to) = (*self.bounds.get(s)?, *self.bounds.get(s + 1)?);
        self.changes.get(from..to)
    }
}

/// A simulator's place in the world it follows.
#[derive(Debug, Clone)]
pub(super) struct Follow {
    world: Arc<World>,
    step: usize,
    headline: usize,
    whale: usize,
    /// Each market's quotes in the world (what a book the bot took from is rebuilt at).
    quotes: Vec<(i64, i64)>,
    /// Markets whose books the bot took from since the last step.
    taken: Vec<usize>,
}

impl Follow {
    pub(super) fn new(world: Arc<World>, markets: &[SimMarket]) -> Self {
        let quotes = markets.iter().map(|m| m.quoted.unwrap_or((0, 0))).collect();
        Self { world, step: 0, headline: 0, whale: 0, quotes, taken: Vec::new() }
    }

    /// The bot took from the books of market `index`: they are rebuilt at the next step.
    pub(super) fn took(&mut self, index: usize) {
        self.taken.push(index);
    }
}

impl Simulator {
    /// A simulator of `world`'s seed that follows it rather than drawing its own steps: the same
    /// steps, and books taken from by orders rebuilt as a fresh simulator would rebuild them.
    #[must_use]
    pub fn following(world: Arc<World>) -> Self {
        let mut sim = Self::new(world.config.clone());
        sim.follow = Some(Follow::new(world, &sim.markets));
        sim
    }

    /// The next step of the world followed: its changes, with the books the bot took from
    /// since the last step rebuilt at the world's quotes.
    ///
    /// # Panics
    /// When stepped by another interval than the world's, or past its last step: the backtest
    /// draws the world for exactly its run ([`World::covers`]).
    pub(super) fn step_following(&mut self, dt_ms: i64) -> StepOutput {
        let mut out = self.step_output();
        let Self { now_ms, markets, wallets, spare, follow, .. } = self;
        let f = follow.as_mut().expect("a following simulator");
        let world = Arc::clone(&f.world);
        assert_eq!(dt_ms, world.dt_ms, "a simulator follows its world at the world's step");
        let changes = world.step(f.step).expect("the world covers every step of the run");
        f.step += 1;
        *now_ms += dt_ms;
        let now = *now_ms;
        f.taken.sort_unstable();
        f.taken.dedup();
        let taken = std::mem::take(&mut f.taken);
        let (mut next_change, mut next_taken) = (0, 0);
        loop {
            // The next market in order that changed, or that the bot took from, or both.
            let changed = changes.get(next_change).map(|ch| index(ch.market));
            let took = taken.get(next_taken).copied();
            let i = match (changed, took) {
                (None, None) => break,
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
            };
            let change = (changed == Some(i)).then(|| &changes[next_change]);
            next_change += usize::from(change.is_some());
            let was_taken = took == Some(i);
            next_taken += usize::from(was_taken);
            let Some(m) = markets.get_mut(i) else { continue };
            if m.resolved.is_some() {
                continue;
            }
            let flags = change.map_or(0, |ch| ch.flags);
            if flags & RESOLVED != 0 {
                m.resolve(usize::from(flags & 1), now, &mut out);
                continue;
            }
            if flags & NEWS != 0 {
                m.headline(world.headlines[f.headline].clone(), now, &mut out);
                f.headline += 1;
            }
            if let Some(ch) = change.filter(|_| flags & MOVED != 0) {
                f.quotes[i] = (i64::from(ch.bid), i64::from(ch.ask));
            }
            if (flags & MOVED != 0 || was_taken) && requote(m, f.quotes[i]) {
                m.books_moved(spare, now, &mut out);
            }
            if flags & WHALE != 0 {
                let w = &world.whales[f.whale];
                f.whale += 1;
                m.whale_trade(wallets[index(w.wallet)].clone(), &w.trade, now, &mut out);
            }
        }
        // The list's buffer serves the next step's takes.
        let mut taken = taken;
        taken.clear();
        f.taken = taken;
        out
    }
}

/// A market or wallet number of the tape as an index.
fn index(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
