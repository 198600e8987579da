//! The embedded market simulator: deterministic from a seed, a few hundred binary markets whose
//! fair value follows a random walk with news-driven jumps and drifts to 0 or 1 as resolution
//! nears; books around it; whale trades from a wallet population; resolutions; and market orders
//! filled by walking the book with ticks, minimum sizes and taker fees.
//!
//! Time only moves through [`Simulator::step`], so a test or a replay controls it fully; the
//! real-time and accelerated drivers call `step` on a clock.

mod catalog;
mod exchange;
pub(crate) mod rng;
mod world;

pub use exchange::SimExchange;
pub use world::World;

use super::book::{Amount, BookSide, Fill, FillError, FillPolicy, Level, OrderBook, Side, TakerFee};
use super::types::{Market, MarketEvent, Outcome, TokenId};
use catalog::Question;
use rng::Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use std::collections::HashMap;
use std::sync::Arc;

/// An hour in milliseconds, for the model's floating-point time.
const HOUR_MS_F: f64 = 3_600_000.0;
/// Book depth per side.
const LEVELS: i64 = 8;
/// The same, as an array length.
const LEVELS_USIZE: usize = 8;

/// How the simulator is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    pub markets: usize,
    /// Simulated start time, Unix milliseconds.
    pub start_ms: i64,
    /// Whale wallets in the population.
    pub wallets: usize,
    /// Markets end between 2 hours and this many days after the start.
    pub horizon_days: u32,
    /// Questions of your own for the first simulated markets (demos, tests); the rest come from
    /// the catalogue. Those markets (category `custom`) are made easy to find: liquid, open for
    /// at least a week (or the whole horizon when shorter) and priced near 50/50, so the scanner
    /// keeps and ranks them.
    pub questions: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            markets: 300,
            start_ms: 1_767_225_600_000,
            wallets: 60,
            horizon_days: 60,
            questions: Vec::new(),
        }
    }
}

/// Least book depth per level (shares) of a market with an operator's question: 8 levels of it
/// are well above the scanner's default liquidity floor.
const CUSTOM_MIN_DEPTH: i64 = 1_000;
/// Least life of a market with an operator's question, hours.
const CUSTOM_MIN_HOURS: f64 = 7.0 * 24.0;
/// Log-odds a 50 000 pUSD whale trade moves its market (see `step`).
const WHALE_IMPACT: f64 = 0.15;

/// A large trade by a wallet, as the Data API would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhaleTrade {
    pub wallet: String,
    pub market: String,
    /// 0 = the market's first outcome ("YES"), 1 = the second.
    pub outcome: usize,
    pub side: Side,
    pub price: Decimal,
    pub shares: Decimal,
    pub at_ms: i64,
}

/// A headline about a market's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewsItem {
    pub title: String,
    pub source: String,
    /// The market it is about, where the source knows it (the simulator); empty from feeds.
    pub market: String,
    pub published_ms: i64,
    /// From news feeds (`feeds::news`): the item's summary and link; empty when unknown.
    pub summary: String,
    pub url: String,
}

/// What one step produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutput {
    pub events: Vec<MarketEvent>,
    pub whale_trades: Vec<WhaleTrade>,
    pub news: Vec<NewsItem>,
}

#[derive(Debug, Clone)]
struct SimMarket {
    /// Shared with the listings handed out: changed in place while no listing holds it.
    market: Arc<Market>,
    question: Question,
    /// Fair probability of the first outcome, as log-odds: a model quantity, not money.
    logit: f64,
    /// Volatility of the log-odds per square-root hour.
    vol: f64,
    /// The sizes of the book levels, best first, in shares (a level's depth more each level).
    sizes: [Decimal; LEVELS_USIZE],
    /// The market's price grid, shared by the markets of its tick size.
    grid: Arc<TickGrid>,
    books: [OrderBook; 2],
    /// The best bid and ask (in ticks) the books were last quoted at, while nothing has taken
    /// from them since: a step whose quotes land on the same ticks then leaves them as they are
    /// without rebuilding them to compare (most steps of most markets).
    quoted: Option<(i64, i64)>,
    resolved: Option<usize>,
}

/// The simulator's whole state.
#[derive(Debug, Clone)]
pub struct Simulator {
    rng: Rng,
    now_ms: i64,
    markets: Vec<SimMarket>,
    wallets: Vec<String>,
    /// Token → (market index, outcome index): a lookup per order and per book request.
    tokens: HashMap<TokenId, (usize, usize)>,
    /// Book events handed back once read ([`Self::recycle`]): the next steps' book events are
    /// written into their token and level buffers instead of new ones.
    spare: Vec<MarketEvent>,
    /// The list a step's events are put in: the last one handed back, emptied, so a step of
    /// hundreds of events does not grow a new list from nothing.
    next_events: Vec<MarketEvent>,
    /// The world this simulator follows instead of drawing its own steps ([`World`]).
    follow: Option<world::Follow>,
}

fn prob(logit: f64) -> f64 {
    1.0 / (1.0 + (-logit).exp())
}

/// `p` (0..1) as a count of ticks on a grid of `per_unit` ticks, kept within [1, per_unit − 1]:
/// `floor(p × per_unit)` of the exact binary value of `p`, in integers (a backtest rebuilds
/// every book on every step; decimal arithmetic here was a tenth of its time). A price that is
/// not finite, or below one tick, is one tick.
fn to_tick(p: f64, per_unit: i64) -> i64 {
    let max = per_unit - 1;
    if !p.is_finite() || p <= 0.0 {
        return 1;
    }
    let bits = p.to_bits();
    let exponent = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let fraction = bits & ((1 << 52) - 1);
    // p = mantissa × 2^shift exactly.
    let (mantissa, shift) =
        if exponent == 0 { (fraction, -1074) } else { (fraction | 1 << 52, exponent - 1075) };
    let product = u128::from(mantissa) * u128::from(per_unit.unsigned_abs());
    let ticks = if shift >= 0 {
        // p ≥ 2^52: far above one.
        u128::MAX
    } else {
        product.checked_shr(shift.unsigned_abs()).unwrap_or(0)
    };
    i64::try_from(ticks).unwrap_or(i64::MAX).clamp(1, max)
}

/// A price `ticks` ticks of `tick` above zero: `ticks × tick` at the tick's scale, as decimal
/// arithmetic would give it.
fn tick_price(ticks: i64, tick: Decimal) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(ticks) * tick.mantissa(), tick.scale())
}

/// Ticks in one price unit: 100 for a tick of 0.01 (the simulator's ticks divide one).
fn ticks_per_unit(tick: Decimal) -> i64 {
    (Decimal::ONE / tick).trunc().to_i64().unwrap_or(100)
}

/// The prices of one tick size, every tick from zero to one: a book rebuilt on every step of
/// every market takes its prices from here instead of making them each time.
#[derive(Debug)]
struct TickGrid {
    tick: Decimal,
    /// Ticks in one price unit (100 for a tick of 0.01), for the books' integer arithmetic.
    per_unit: i64,
    /// `prices[k]` is `k` ticks ([`tick_price`]), for `k` in `0..=per_unit`.
    prices: Box<[Decimal]>,
}

impl TickGrid {
    fn new(tick: Decimal) -> Self {
        let per_unit = ticks_per_unit(tick);
        Self { tick, per_unit, prices: (0..=per_unit).map(|k| tick_price(k, tick)).collect() }
    }

    /// The price `ticks` ticks above zero; `ticks` is within `0..=per_unit` (the books' ticks).
    fn price(&self, ticks: i64) -> Decimal {
        usize::try_from(ticks).ok().and_then(|k| self.prices.get(k)).copied().unwrap_or(Decimal::ZERO)
    }
}

impl Simulator {
    /// A fresh world from `config`.
    #[must_use]
    pub fn new(config: SimConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let mut questions = catalog::questions(config.markets, &mut rng);
        for (question, own) in questions.iter_mut().zip(&config.questions) {
            question.replace_with_own(own);
        }
        let custom = config.questions.len();
        let wallets = catalog::wallets(config.wallets.max(1), &mut rng);
        let grids: [Arc<TickGrid>; 2] =
            [Arc::new(TickGrid::new(Decimal::new(1, 2))), Arc::new(TickGrid::new(Decimal::new(1, 3)))];
        let markets: Vec<SimMarket> = questions
            .into_iter()
            .enumerate()
            .map(|(i, question)| {
                let id = format!("0x{:064x}", rng.next_u64() ^ (i as u64));
                let token = |n: u64| token_id(n, i).to_string();
                // An operator's question changes what is drawn, never how much: the other
                // markets stay those of the seed.
                let own = i < custom;
                let horizon_h = 24.0 * f64::from(config.horizon_days.max(1));
                let mut hours = rng.range(2.0, horizon_h);
                if own {
                    hours = hours.max(CUSTOM_MIN_HOURS.min(horizon_h));
                }
                #[allow(clippy::cast_possible_truncation, reason = "hours, bounded")]
                let end_ms = config.start_ms + (hours * HOUR_MS_F) as i64;
                let grid = &grids[usize::from(rng.chance(0.2))];
                let tick = grid.tick;
                #[allow(clippy::cast_possible_truncation, reason = "a small share count")]
                let mut depth = rng.range(50.0, 2_000.0) as i64;
                if own {
                    depth = depth.max(CUSTOM_MIN_DEPTH);
                }
                let fee_rate = if rng.chance(0.5) { Decimal::ZERO } else { Decimal::new(2, 2) };
                let market = Market {
                    id,
                    slug: Some(catalog::slug(&question.text))
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| format!("market-{i}")),
                    question: question.text.clone(),
                    category: question.category.to_string(),
                    end_ms: Some(end_ms),
                    outcomes: [
                        Outcome { name: "Yes".into(), token_id: token(0) },
                        Outcome { name: "No".into(), token_id: token(1) },
                    ],
                    tick_size: tick,
                    min_size: Decimal::from(5),
                    neg_risk: false,
                    liquidity: Decimal::from(depth * LEVELS),
                    volume_24h: Decimal::ZERO,
                    accepting_orders: true,
                    fee: TakerFee { rate: fee_rate, exponent: Decimal::ONE },
                };
                let logit = rng.range(-2.0, 2.0);
                let mut m = SimMarket {
                    market: Arc::new(market),
                    question,
                    logit: if own { logit / 8.0 } else { logit },
                    vol: rng.range(0.05, 0.4),
                    sizes: std::array::from_fn(|k| Decimal::from(depth) * Decimal::from(k + 1)),
                    grid: Arc::clone(grid),
                    books: [OrderBook::new(Decimal::from(5)), OrderBook::new(Decimal::from(5))],
                    quoted: None,
                    resolved: None,
                };
                rebuild_books(&mut m);
                m
            })
            .collect();
        let tokens = markets
            .iter()
            .enumerate()
            .flat_map(|(i, m): (usize, &SimMarket)| {
                m.market.outcomes.iter().enumerate().map(move |(o, out)| (out.token_id.clone(), (i, o)))
            })
            .collect();
        Self {
            rng,
            now_ms: config.start_ms,
            markets,
            wallets,
            tokens,
            spare: Vec::new(),
            next_events: Vec::new(),
            follow: None,
        }
    }

    /// Simulated time, Unix milliseconds.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Markets still open.
    #[must_use]
    pub fn markets(&self) -> Vec<Arc<Market>> {
        self.markets.iter().filter(|m| m.resolved.is_none()).map(|m| Arc::clone(&m.market)).collect()
    }

    /// The current book of a token.
    #[must_use]
    pub fn book(&self, token: &str) -> Option<&OrderBook> {
        let (m, o) = self.tokens.get(token)?;
        self.markets.get(*m).map(|m| &m.books[*o])
    }

    /// The market a token belongs to (open or resolved).
    #[must_use]
    pub fn market_of(&self, token: &str) -> Option<&Market> {
        let (m, _) = self.tokens.get(token)?;
        self.markets.get(*m).map(|m| &*m.market)
    }

    /// Removes a fill computed elsewhere (e.g. a limit order's match) from a token's book.
    pub(crate) fn take(&mut self, token: &str, side: Side, fill: &Fill) {
        let Some(&(m, o)) = self.tokens.get(token) else { return };
        if let Some(market) = self.markets.get_mut(m) {
            market.books[o].consume(side, fill);
            market.quoted = None;
            Arc::make_mut(&mut market.market).volume_24h += fill.notional;
            if let Some(f) = &mut self.follow {
                f.took(m);
            }
        }
    }

    /// The winning outcome of a resolved market.
    #[must_use]
    pub fn resolution(&self, market: &str) -> Option<usize> {
        self.markets.iter().find(|m| m.market.id == market).and_then(|m| m.resolved)
    }

    /// Advances time by `dt_ms` and returns what happened, in a deterministic order.
    ///
    /// # Panics
    /// A simulator following a [`World`], stepped by another interval than the world's or past
    /// its end.
    pub fn step(&mut self, dt_ms: i64) -> StepOutput {
        if self.follow.is_some() {
            return self.step_following(dt_ms);
        }
        self.step_model(dt_ms, None)
    }

    /// A step of the model, written to `tape` as well while a [`World`] is drawn.
    fn step_model(&mut self, dt_ms: i64, mut tape: Option<&mut world::Tape>) -> StepOutput {
        self.now_ms += dt_ms.max(0);
        #[allow(clippy::cast_precision_loss, reason = "a time step in hours")]
        let dt_h = dt_ms.max(0) as f64 / HOUR_MS_F;
        let now = self.now_ms;
        let mut out = self.step_output();
        for (i, m) in self.markets.iter_mut().enumerate() {
            if m.resolved.is_some() {
                continue;
            }
            let end = m.market.end_ms.unwrap_or(i64::MAX);
            if now >= end {
                let winner = usize::from(!self.rng.chance(prob(m.logit)));
                if let Some(t) = tape.as_deref_mut() {
                    t.resolved(i, winner);
                }
                m.resolve(winner, now, &mut out);
                continue;
            }
            // Diffusion, then a pull toward the nearer certainty that grows as the end nears.
            #[allow(clippy::cast_precision_loss, reason = "hours to the end")]
            let hours_left = ((end - now) as f64 / HOUR_MS_F).max(0.05);
            m.logit += m.vol * dt_h.sqrt() * self.rng.normal();
            m.logit += m.logit.signum() * 0.5 * dt_h / hours_left;
            // News shocks: about one a day per market.
            if self.rng.chance(dt_h / 24.0) {
                let jump = self.rng.normal() * 1.2;
                m.logit += jump;
                // The headline agrees with the move it comes with.
                let title = m.question.headline(&mut self.rng, jump >= 0.0);
                if let Some(t) = tape.as_deref_mut() {
                    t.news(i, &title);
                }
                m.headline(title, now, &mut out);
            }
            m.logit = m.logit.clamp(-6.0, 6.0);
            let quotes = quote_ticks(m);
            if let Some(t) = tape.as_deref_mut()
                && m.quoted != Some(quotes)
            {
                t.moved(i, quotes);
            }
            if requote(m, quotes) {
                m.books_moved(&mut self.spare, now, &mut out);
            }
            // Whales: a few large trades a day per market, leaning with the recent move.
            if self.rng.chance(dt_h / 8.0) {
                let w = self.rng.below(self.wallets.len());
                let wallet = self.wallets[w].clone();
                let outcome = usize::from(self.rng.chance(1.0 - prob(m.logit)));
                let side = if self.rng.chance(0.8) { Side::Buy } else { Side::Sell };
                let usd = Decimal::from(self.rng.below(45_000) + 5_000);
                let book = &m.books[outcome];
                let price = match side {
                    Side::Buy => book.best_ask(),
                    Side::Sell => book.best_bid(),
                };
                if let Some(level) = price {
                    let trade = WhaleDraw {
                        outcome,
                        side,
                        price: level.price,
                        shares: (usd / level.price).round_dp(2),
                        usd,
                    };
                    if let Some(t) = tape.as_deref_mut() {
                        t.whale(i, w, &trade);
                    }
                    m.whale_trade(wallet, &trade, now, &mut out);
                    // The whale's flow moves the fair value its way (buying YES or selling NO
                    // pushes YES up), shown by the next step's books: whale buys come before
                    // up-moves, as on the real venue. No random draw, so other markets are
                    // unchanged. A 50 000 pUSD trade moves the log-odds by 0.15.
                    let toward_yes = (outcome == 0) == (side == Side::Buy);
                    let impact = rust_decimal::prelude::ToPrimitive::to_f64(&usd).unwrap_or(0.0) / 50_000.0
                        * WHALE_IMPACT;
                    m.logit = (m.logit + if toward_yes { impact } else { -impact }).clamp(-6.0, 6.0);
                }
            }
        }
        out
    }

    /// Takes back the events of a step once they have been read: their book events' buffers
    /// serve the next steps' (at most two books per market are kept), and the emptied list
    /// holds the next step's events.
    pub fn recycle(&mut self, mut events: Vec<MarketEvent>) {
        let most = 2 * self.markets.len();
        for e in events.drain(..) {
            if self.spare.len() >= most {
                break;
            }
            if matches!(e, MarketEvent::Book { .. }) {
                self.spare.push(e);
            }
        }
        if events.capacity() > self.next_events.capacity() {
            self.next_events = events;
        }
    }

    /// An empty step output, its event list the one handed back last.
    fn step_output(&mut self) -> StepOutput {
        StepOutput { events: std::mem::take(&mut self.next_events), ..StepOutput::default() }
    }

    /// Executes a market order against a token's book: walks it with the market's tick, minimum
    /// and fee, removes what was taken, and reports the fill.
    ///
    /// # Errors
    /// An unknown or resolved token, or whatever [`OrderBook::walk`] refuses.
    pub fn execute(
        &mut self,
        token: &str,
        side: Side,
        amount: Amount,
        policy: FillPolicy,
    ) -> Result<Fill, SimError> {
        let index = self.tokens.get(token).map(|(m, _)| *m);
        let m = index
            .and_then(|i| self.markets.get_mut(i))
            .ok_or_else(|| SimError::UnknownToken(token.to_string()))?;
        if m.resolved.is_some() {
            return Err(SimError::Resolved(m.market.id.clone()));
        }
        let i = usize::from(m.market.outcomes[1].token_id == token);
        let fill = m.books[i].walk(side, amount, policy, m.market.fee)?;
        m.books[i].consume(side, &fill);
        m.quoted = None;
        if let (Some(f), Some(index)) = (&mut self.follow, index) {
            f.took(index);
        }
        Arc::make_mut(&mut m.market).volume_24h += fill.notional;
        Ok(fill)
    }
}

/// A whale's trade as drawn: `shares` of `outcome` at `price`, `usd` of volume.
#[derive(Debug, Clone)]
struct WhaleDraw {
    outcome: usize,
    side: Side,
    price: Decimal,
    shares: Decimal,
    usd: Decimal,
}

impl SimMarket {
    /// Resolves the market for outcome `winner` at `now`.
    fn resolve(&mut self, winner: usize, now: i64, out: &mut StepOutput) {
        self.resolved = Some(winner);
        out.events.push(MarketEvent::Resolved {
            market: self.market.id.clone(),
            winning_token: self.market.outcomes[winner].token_id.clone(),
            at_ms: now,
        });
    }

    /// A headline about the market at `now`.
    fn headline(&self, title: String, now: i64, out: &mut StepOutput) {
        out.news.push(NewsItem {
            title,
            source: "sim-wire".into(),
            market: self.market.id.clone(),
            published_ms: now,
            summary: String::new(),
            url: String::new(),
        });
    }

    /// Both books, as rebuilt at `now` (into spent events' buffers from `spare`).
    fn books_moved(&self, spare: &mut Vec<MarketEvent>, now: i64, out: &mut StepOutput) {
        for (i, outcome) in self.market.outcomes.iter().enumerate() {
            out.events.push(MarketEvent::book_of(spare, &outcome.token_id, &self.books[i], now));
        }
    }

    /// A whale's trade at `now`: its trade event and report; it adds to the market's volume.
    fn whale_trade(&mut self, wallet: String, trade: &WhaleDraw, now: i64, out: &mut StepOutput) {
        Arc::make_mut(&mut self.market).volume_24h += trade.usd;
        out.events.push(MarketEvent::Trade {
            token: self.market.outcomes[trade.outcome].token_id.clone(),
            side: trade.side,
            price: trade.price,
            size: trade.shares,
            at_ms: now,
        });
        out.whale_trades.push(WhaleTrade {
            wallet,
            market: self.market.id.clone(),
            outcome: trade.outcome,
            side: trade.side,
            price: trade.price,
            shares: trade.shares,
            at_ms: now,
        });
    }
}

/// Why the simulator refused an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no simulated market has token {0}")]
    UnknownToken(String),
    #[error("market {0} has resolved")]
    Resolved(String),
    #[error(transparent)]
    Fill(#[from] FillError),
}

/// A token id that looks like Polymarket's (a large decimal), unique per market and outcome.
fn token_id(outcome: u64, market: usize) -> u128 {
    let mut r = Rng::new(((market as u64) << 1) | outcome);
    (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64())
}

/// Quotes both books around the fair value: the YES book directly, the NO book as its mirror
/// (a NO bid at 1 − p is a YES ask at p), deeper levels a tick apart and larger. Returns whether
/// either book changed: not when the quotes land on the ticks of the last rebuild and nothing
/// took from the books since; certainly when they land elsewhere and nothing took from the books
/// (the best bid or ask is then another price); otherwise, after a fill, the books are compared
/// whole, not just the top (the fill may have thinned a level the new quotes keep).
fn rebuild_books(m: &mut SimMarket) -> bool {
    let quotes = quote_ticks(m);
    requote(m, quotes)
}

/// The best bid and ask, in ticks, the model quotes a market at: both sides always quoted, at
/// least a tick apart, inside [tick, 1 − tick].
fn quote_ticks(m: &SimMarket) -> (i64, i64) {
    let per_unit = m.grid.per_unit;
    let p = prob(m.logit);
    let half_spread = 0.01_f64.max(0.02 * p * (1.0 - p));
    let best_ask = (to_tick(p + half_spread, per_unit) + 1).min(per_unit - 1);
    let best_bid = to_tick(p - half_spread, per_unit).min(best_ask - 1);
    (best_bid, best_ask)
}

/// Rebuilds a market's books at `(best_bid, best_ask)` ticks ([`rebuild_books`]).
fn requote(m: &mut SimMarket, (best_bid, best_ask): (i64, i64)) -> bool {
    let grid = &*m.grid;
    let per_unit = grid.per_unit;
    if m.quoted == Some((best_bid, best_ask)) {
        return false;
    }
    // Still the last quotes (nothing took from them), which these differ from at the top.
    let moved = m.quoted.is_some();
    m.quoted = Some((best_bid, best_ask));
    // The NO book mirrors the YES book: a NO bid at 1 − p for each YES ask at p, and the
    // other way round, priced in ticks as `1 − p` is (the simulator's ticks divide one).
    let empty = Level { price: Decimal::ZERO, size: Decimal::ZERO };
    let (mut bids, mut asks, mut no_bids, mut no_asks) =
        ([empty; LEVELS_USIZE], [empty; LEVELS_USIZE], [empty; LEVELS_USIZE], [empty; LEVELS_USIZE]);
    let (mut n_bids, mut n_asks) = (0, 0);
    for (k, &size) in (0..LEVELS).zip(&m.sizes) {
        let (bid, ask) = (best_bid - k, best_ask + k);
        if bid >= 1 {
            bids[n_bids] = Level { price: grid.price(bid), size };
            no_asks[n_bids] = Level { price: grid.price(per_unit - bid), size };
            n_bids += 1;
        }
        if ask < per_unit {
            asks[n_asks] = Level { price: grid.price(ask), size };
            no_bids[n_asks] = Level { price: grid.price(per_unit - ask), size };
            n_asks += 1;
        }
    }
    let (bids, asks) = (&bids[..n_bids], &asks[..n_asks]);
    let (no_bids, no_asks) = (&no_bids[..n_asks], &no_asks[..n_bids]);
    let (yes, no) = (&m.books[0], &m.books[1]);
    let same = !moved
        && yes.levels(BookSide::Bids).eq(bids.iter().copied())
        && yes.levels(BookSide::Asks).eq(asks.iter().copied())
        && no.levels(BookSide::Bids).eq(no_bids.iter().copied())
        && no.levels(BookSide::Asks).eq(no_asks.iter().copied());
    if same {
        return false;
    }
    // Built best first at distinct ticks, every size positive (depth ≥ 50 shares a level).
    m.books[0].replace_ordered(bids, asks);
    m.books[1].replace_ordered(no_bids, no_asks);
    true
}

#[cfg(test)]
mod tests;
