//! Score calibration: for scored candidates of a backtest, what followed (the YES mid an hour and
//! a day later, the resolution) and the P&L the equilibrage trade would have made had it been
//! entered then. The trade is simulated during the run against the same books the engine sees:
//! both sides bought by walking the asks (the engine's sizing and fill code), then the built-in
//! rule (the default plugin's behaviour) with the run's settings on every book change, exits
//! walking the bids, resolution paying 1 or 0; what is still held at the end is marked at its
//! best bids after the fee to sell.
//!
//! One candidate per market per [`SAMPLE_EVERY_MS`] gets a trade (and every candidate the run
//! really entered), so a month of 300 markets simulates tens of thousands of trades, not the
//! millions of scored rows; the run's decisions keep every candidate's score and factors.

use super::stats::{Estimate, spearman};
use crate::engine::{Exit, Settings, builtin, cents, mark};
use crate::exchange::{Amount, Applied, BookSet, FillPolicy, Market, MarketEvent, OrderBook, Side, TakerFee};
use crate::store::{Leg, Position, PositionStatus};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A market's candidates get a simulated trade at most this often.
pub const SAMPLE_EVERY_MS: i64 = 3_600_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// A scored candidate and what followed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateOutcome {
    pub at_ms: i64,
    pub market_id: String,
    pub score: f32,
    /// Factor values, in the order of [`Calibration::factors`].
    pub factors: Vec<f32>,
    /// The YES mid then, an hour later and a day later (as the books stood).
    pub mid: Option<Decimal>,
    pub mid_1h: Option<Decimal>,
    pub mid_24h: Option<Decimal>,
    /// The side that won, where the market resolved within the data.
    pub winner: Option<Leg>,
    /// The simulated trade's P&L by the end of the data (what it realised, plus what it still
    /// held marked at the best bids after the fee), and whether it was closed by then; `None`
    /// when the books could not fill the entry.
    pub pnl: Option<Decimal>,
    pub closed: bool,
    /// The position the run entered on this candidate, if it did.
    pub position: Option<u64>,
}

/// A run's calibration data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The scorer's factor names.
    pub factors: Vec<String>,
    pub candidates: Vec<CandidateOutcome>,
}

/// One bucket of the calibration chart: the candidates scored in `[score, score + 1)` (10
/// alone in the last) and their simulated P&L.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub score: u8,
    pub pnl: Option<Estimate>,
}

/// What the Lab shows: P&L per score bucket, and each factor's rank correlation with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSummary {
    pub candidates: usize,
    /// With a simulated trade.
    pub simulated: usize,
    pub buckets: Vec<Bucket>,
    /// The score's own rank correlation with the P&L, then each factor's.
    pub score_correlation: Option<f64>,
    pub factors: Vec<(String, Option<f64>)>,
}

impl Calibration {
    /// Buckets 1 to 10 and the correlations, over the candidates with a simulated trade.
    #[must_use]
    pub fn summarise(&self) -> CalibrationSummary {
        let with: Vec<(&CandidateOutcome, Decimal)> =
            self.candidates.iter().filter_map(|c| c.pnl.map(|p| (c, p))).collect();
        let bucket_of = |s: f32| -> u8 {
            let floor = s.clamp(1.0, 10.0).floor();
            // A score in [1, 10]; its floor fits a u8.
            floor.to_u8().unwrap_or(1)
        };
        let buckets = (1..=10_u8)
            .map(|b| {
                let pnls: Vec<Decimal> =
                    with.iter().filter(|(c, _)| bucket_of(c.score) == b).map(|(_, p)| *p).collect();
                Bucket { score: b, pnl: Estimate::of(&pnls) }
            })
            .collect();
        let pnl: Vec<f64> = with.iter().map(|(_, p)| p.to_f64().unwrap_or(0.0)).collect();
        let scores: Vec<f64> = with.iter().map(|(c, _)| f64::from(c.score)).collect();
        let factors = self
            .factors
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let values: Vec<f64> =
                    with.iter().map(|(c, _)| c.factors.get(i).copied().map_or(f64::NAN, f64::from)).collect();
                let ok = values.iter().all(|v| v.is_finite());
                (name.clone(), if ok { spearman(&values, &pnl) } else { None })
            })
            .collect();
        CalibrationSummary {
            candidates: self.candidates.len(),
            simulated: with.len(),
            buckets,
            score_correlation: spearman(&scores, &pnl),
            factors,
        }
    }
}

/// A simulated equilibrage trade, kept as a position so the engine's rule and ledger apply.
#[derive(Debug)]
struct Trade {
    position: Position,
    candidate: usize,
}

/// A market the calibrator follows.
#[derive(Debug, Default)]
struct Followed {
    tokens: [String; 2],
    fee: TakerFee,
    /// Trades the rule may still act on (both sides held, or one with a stop or target on).
    live: Vec<usize>,
    /// Per side, the highest bid at or below which some live trade's rule acts (liquidation or
    /// stop loss), and the lowest at or above which one does (take profit): a book change that
    /// reaches neither is passed over without asking the rule of each trade.
    low: [Option<Decimal>; 2],
    high: [Option<Decimal>; 2],
    last_sampled: Option<i64>,
}

/// Follows a run and simulates its candidates' trades.
#[derive(Debug)]
pub(crate) struct Calibrator {
    settings: Settings,
    books: BookSet,
    markets: HashMap<String, Followed>,
    by_token: HashMap<String, String>,
    trades: Vec<Trade>,
    out: Calibration,
    /// (due, candidate, 1 for +1 h or 24 for +24 h), soonest last.
    probes: Vec<(i64, usize, u8)>,
}

fn mid(book: Option<&OrderBook>) -> Option<Decimal> {
    let b = book?;
    Some((b.best_bid()?.price + b.best_ask()?.price) / Decimal::TWO)
}

impl Calibrator {
    pub(crate) fn new(settings: &Settings) -> Self {
        Self {
            settings: settings.clone(),
            books: BookSet::new(Decimal::ONE),
            markets: HashMap::new(),
            by_token: HashMap::new(),
            trades: Vec::new(),
            out: Calibration::default(),
            probes: Vec::new(),
        }
    }

    /// A book the venue answered (a snapshot the events build on).
    pub(crate) fn snapshot(&mut self, token: &str, book: OrderBook) {
        if self.books.get(token).is_none() {
            self.books.insert(token.to_owned(), book);
        }
    }

    /// A book the venue answered, in place of whatever the events built.
    pub(crate) fn replace_book(&mut self, token: &str, book: OrderBook) {
        self.books.insert(token.to_owned(), book);
    }

    /// Whether the calibrator has a book for `token` (else the driver fetches a snapshot).
    pub(crate) fn has_book(&self, token: &str) -> bool {
        self.books.get(token).is_some()
    }

    /// A market event, before the engine takes it: the books move, due probes are read, and
    /// where a token's best bid or ask moved the rule looks at the market's simulated trades
    /// once, as the monitor does for a held market.
    pub(crate) fn on_event(&mut self, e: &MarketEvent, at_ms: i64) {
        self.on_events(std::slice::from_ref(e), at_ms);
    }

    /// The market events of one moment (a simulator step), before the engine takes them: the
    /// books move, due probes are read as the moment leaves the books, and the rule looks once
    /// at each market whose best bid or ask moved, as the monitor does (`Engine::on_market_events`).
    pub(crate) fn on_events(&mut self, events: &[MarketEvent], at_ms: i64) {
        let mut moved: Vec<String> = Vec::new();
        for e in events {
            if let Some(market) = self.take(e, at_ms)
                && !moved.contains(&market)
            {
                moved.push(market);
            }
        }
        self.probe(at_ms);
        for market in moved {
            self.follow(&market, at_ms);
        }
    }

    /// Takes one event: a resolution settles its trades; a book moves, and the market whose top
    /// of book it moved is returned.
    fn take(&mut self, e: &MarketEvent, at_ms: i64) -> Option<String> {
        if let MarketEvent::Resolved { market, winning_token, .. } = e {
            self.probe(at_ms);
            self.resolve(market, winning_token, at_ms);
            return None;
        }
        match self.books.apply(e) {
            Applied::Book { token, top_changed: true } => self.by_token.get(token).cloned(),
            _ => None,
        }
    }

    /// A safety sweep: the rule looks at every live trade once, as the engine's sweep does.
    pub(crate) fn sweep(&mut self, at_ms: i64) {
        let markets: Vec<String> =
            self.markets.iter().filter(|(_, f)| !f.live.is_empty()).map(|(m, _)| m.clone()).collect();
        for m in markets {
            self.follow(&m, at_ms);
        }
    }

    fn bids(&self, tokens: &[String; 2]) -> [Option<Decimal>; 2] {
        [0, 1].map(|i| self.books.get(&tokens[i]).and_then(|b| b.best_bid()).map(|l| l.price))
    }

    /// The rule's decision on each of the market's live trades, acted on.
    fn follow(&mut self, market: &str, at_ms: i64) {
        let Some(f) = self.markets.get(market) else { return };
        if f.live.is_empty() {
            return;
        }
        let bids = self.bids(&f.tokens);
        let reached = (0..2).any(|k| {
            bids[k].is_some_and(|b| f.low[k].is_some_and(|l| b <= l) || f.high[k].is_some_and(|h| b >= h))
        });
        if !reached {
            return;
        }
        let (tokens, fee, live) = (f.tokens.clone(), f.fee, f.live.clone());
        let mut still = Vec::with_capacity(live.len());
        for i in live {
            let bids = self.bids(&tokens);
            if let Some((exit, _)) = builtin(&self.settings, &self.trades[i].position, bids) {
                let legs = match exit {
                    Exit::Liquidate(l) | Exit::StopLoss(l) | Exit::TakeProfit(l) => vec![l],
                    Exit::CloseAll => Leg::BOTH.to_vec(),
                };
                for l in legs {
                    self.sell(i, l, &tokens, fee, at_ms);
                }
            }
            if self.rule_may_act(i) {
                still.push(i);
            }
        }
        self.set_live(market, still);
    }

    /// Where a trade's rule acts, per side: (at or below, at or above), the same thresholds the
    /// built-in rule compares with.
    fn thresholds(&self, i: usize) -> [(Option<Decimal>, Option<Decimal>); 2] {
        let p = &self.trades[i].position;
        let held: Vec<Leg> = Leg::BOTH.into_iter().filter(|l| p.leg(*l).is_held()).collect();
        let entry = |l: Leg| Some(p.leg(l).entry_price()).filter(|e| *e > Decimal::ZERO);
        let mut out = [(None, None); 2];
        if held.len() == 2 {
            let drop = self.settings.liquidation_drop();
            for l in Leg::BOTH {
                out[l.index()].0 = entry(l).map(|e| e * (Decimal::ONE - drop));
            }
        } else if let [l] = held[..] {
            let (sl, tp) = (self.settings.stop_loss(), self.settings.take_profit());
            if sl > Decimal::ZERO {
                out[l.index()].0 = entry(l).map(|e| e * (Decimal::ONE - sl));
            }
            if tp > Decimal::ZERO {
                out[l.index()].1 = entry(l).map(|e| e * (Decimal::ONE + tp));
            }
        }
        out
    }

    /// Sets a market's live trades and the bids that may make their rule act.
    fn set_live(&mut self, market: &str, live: Vec<usize>) {
        let (mut low, mut high) = ([None::<Decimal>; 2], [None::<Decimal>; 2]);
        for &i in &live {
            for (k, (l, h)) in self.thresholds(i).into_iter().enumerate() {
                low[k] = low[k].max(l);
                high[k] = match (high[k], h) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        if let Some(f) = self.markets.get_mut(market) {
            (f.live, f.low, f.high) = (live, low, high);
        }
    }

    fn rule_may_act(&self, i: usize) -> bool {
        let p = &self.trades[i].position;
        let held = Leg::BOTH.iter().filter(|l| p.leg(**l).is_held()).count();
        held == 2
            || (held == 1
                && (self.settings.stop_loss() > Decimal::ZERO || self.settings.take_profit() > Decimal::ZERO))
    }

    /// Sells what a trade holds of one side, walking the bids; false when nothing could be sold.
    fn sell(&mut self, i: usize, leg: Leg, tokens: &[String; 2], fee: TakerFee, at_ms: i64) -> bool {
        let shares = self.trades[i].position.leg(leg).sellable();
        let Some(book) = self.books.get(&tokens[leg.index()]) else { return false };
        if shares <= Decimal::ZERO {
            return false;
        }
        let mut book = book.clone();
        book.min_size = Decimal::ZERO;
        let Ok(fill) = book.walk(Side::Sell, Amount::Shares(shares), FillPolicy::FillAndKill, fee) else {
            return false;
        };
        let p = &mut self.trades[i].position;
        let s = p.leg_mut(leg);
        s.sold += fill.shares;
        s.proceeds += fill.notional;
        s.fees += fill.fee;
        if p.liquidated.is_none() && Leg::BOTH.iter().all(|l| p.leg(*l).bought > Decimal::ZERO) {
            p.liquidated = Some(leg);
            p.liquidated_at_ms = Some(at_ms);
        }
        if Leg::BOTH.iter().all(|l| !p.leg(*l).is_held()) {
            p.status = PositionStatus::Closed;
            p.closed_at_ms = Some(at_ms);
        }
        true
    }

    /// A market resolved: every trade of it is paid, and its candidates learn the winner.
    fn resolve(&mut self, market: &str, winning_token: &str, at_ms: i64) {
        let Some(f) = self.markets.get_mut(market) else { return };
        f.live.clear();
        let winner = if f.tokens[0] == winning_token {
            Leg::Yes
        } else if f.tokens[1] == winning_token {
            Leg::No
        } else {
            return;
        };
        for t in self.trades.iter_mut().filter(|t| t.position.market_id == market) {
            let p = &mut t.position;
            for leg in Leg::BOTH {
                let s = p.leg_mut(leg);
                let held = s.held().max(Decimal::ZERO);
                s.sold += held;
                if leg == winner {
                    s.proceeds += held;
                }
            }
            if p.status.is_open() {
                p.status = PositionStatus::Closed;
                p.closed_at_ms = Some(at_ms);
            }
            self.out.candidates[t.candidate].winner = Some(winner);
        }
        for c in self.out.candidates.iter_mut().filter(|c| c.market_id == market) {
            c.winner = Some(winner);
        }
    }

    /// Reads the mids of probes that came due.
    fn probe(&mut self, now_ms: i64) {
        while let Some(&(due, c, which)) = self.probes.last() {
            if due > now_ms {
                break;
            }
            self.probes.pop();
            let token = self.markets.get(&self.out.candidates[c].market_id).map(|f| f.tokens[0].clone());
            let m = token.and_then(|t| mid(self.books.get(&t)));
            let cand = &mut self.out.candidates[c];
            if which == 1 {
                cand.mid_1h = m;
            } else {
                cand.mid_24h = m;
            }
        }
    }

    /// A scan's candidates (best first, `factors` named), with the positions it entered
    /// (market → (position, capital)) and the capital an entry would have had otherwise.
    pub(crate) fn after_scan(
        &mut self,
        at_ms: i64,
        factors: &[String],
        candidates: &[crate::engine::Scored],
        entered: &HashMap<String, (u64, Decimal)>,
        capital: Decimal,
        listing: &[std::sync::Arc<Market>],
    ) {
        if self.out.factors.is_empty() {
            self.out.factors = factors.to_vec();
        }
        let by_id: HashMap<&str, &Market> = listing.iter().map(|m| (m.id.as_str(), &**m)).collect();
        for c in candidates {
            let Some(m) = by_id.get(&*c.market_id) else { continue };
            let entry = entered.get(&*c.market_id).copied();
            let f = self.markets.entry(c.market_id.to_string()).or_insert_with(|| Followed {
                tokens: [m.outcomes[0].token_id.clone(), m.outcomes[1].token_id.clone()],
                fee: m.fee,
                ..Followed::default()
            });
            for t in &f.tokens {
                self.by_token.insert(t.clone(), c.market_id.to_string());
            }
            let due = f.last_sampled.is_none_or(|t| at_ms - t >= SAMPLE_EVERY_MS);
            if !due && entry.is_none() {
                continue;
            }
            f.last_sampled = Some(at_ms);
            let (tokens, fee) = (f.tokens.clone(), f.fee);
            let index = self.out.candidates.len();
            self.out.candidates.push(CandidateOutcome {
                at_ms,
                market_id: c.market_id.to_string(),
                score: c.score,
                factors: c.factors.clone(),
                mid: mid(self.books.get(&tokens[0])),
                mid_1h: None,
                mid_24h: None,
                winner: None,
                pnl: None,
                closed: false,
                position: entry.map(|e| e.0),
            });
            self.probes.push((at_ms + HOUR_MS, index, 1));
            self.probes.push((at_ms + DAY_MS, index, 24));
            let capital = entry.map_or(capital, |e| e.1);
            self.open(index, m, &tokens, fee, capital, at_ms);
        }
        self.probes.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    }

    /// Enters a simulated trade as the trader would: each side's half bought by walking its asks,
    /// fill-or-kill.
    fn open(
        &mut self,
        candidate: usize,
        m: &Market,
        tokens: &[String; 2],
        fee: TakerFee,
        capital: Decimal,
        at_ms: i64,
    ) {
        let half = cents(capital / Decimal::TWO);
        if half <= Decimal::ZERO {
            return;
        }
        let mut p = Position {
            id: candidate as u64,
            market_id: m.id.clone(),
            question: String::new(),
            opened_at_ms: at_ms,
            capital: half * Decimal::TWO,
            legs: Default::default(),
            status: PositionStatus::Active,
            liquidated: None,
            liquidated_at_ms: None,
            closed_at_ms: None,
            close_reason: None,
            closing: None,
            score: None,
            scorer: None,
            fee_rate: fee.rate,
            fee_exponent: fee.exponent,
            neg_risk: false,
            updated_at_ms: at_ms,
            version: 0,
        };
        for leg in Leg::BOTH {
            let Some(book) = self.books.get(&tokens[leg.index()]) else { return };
            let Ok(fill) = book.walk(Side::Buy, Amount::Usd(half), FillPolicy::FillOrKill, fee) else {
                return;
            };
            let s = p.leg_mut(leg);
            s.token = tokens[leg.index()].clone();
            s.bought = fill.shares;
            s.cost = fill.notional;
            s.fees = fill.fee;
        }
        let i = self.trades.len();
        self.trades.push(Trade { position: p, candidate });
        if self.rule_may_act(i)
            && let Some(f) = self.markets.get(&m.id)
        {
            let mut live = f.live.clone();
            live.push(i);
            self.set_live(&m.id, live);
        }
    }

    /// The calibration: each trade's P&L by the end of the data.
    pub(crate) fn finish(mut self) -> Calibration {
        for t in &self.trades {
            let p = &t.position;
            let tokens = [p.legs[0].token.clone(), p.legs[1].token.clone()];
            let bids = self.bids(&tokens);
            let pnl = mark(p, bids);
            let c = &mut self.out.candidates[t.candidate];
            c.closed = !p.status.is_open();
            c.pnl = Some(if c.closed { pnl.realised } else { pnl.total });
        }
        self.out
    }
}
