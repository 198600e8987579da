//! The records of a recording and their compact encoding: tokens interned per segment, books
//! kept as deltas against the segment's own copy of every book, times as deltas.

use super::codec::{Dec, DecResult, Enc};
use crate::engine::Decision;
use crate::exchange::sim::{NewsItem, WhaleTrade};
use crate::exchange::{
    BookSet, BookSide, Level, Market, MarketEvent, OrderBook, Outcome, Side, TakerFee, TokenId,
};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// One thing the engine saw or decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A market event, as the engine took it.
    Market(MarketEvent),
    /// A book the venue answered (or, at a segment's start, the book as it stood).
    Book {
        token: TokenId,
        book: OrderBook,
    },
    /// A market of the venue's listing, new or changed since the last listing.
    Listed(Box<Market>),
    /// A market that left the listing.
    Delisted(String),
    /// A whale trade (boxed, as the news item: a record is moved several times on its way to
    /// the engine, and most records are the much smaller market events).
    Whale(Box<WhaleTrade>),
    News(Box<NewsItem>),
    Decision(Box<Decision>),
    /// The recorder fell behind and dropped this many records here (never silently).
    Gap {
        dropped: u64,
    },
}

/// A record and when the engine saw it (its clock, Unix ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub at_ms: i64,
    pub record: Record,
}

mod tag {
    pub(super) const TOKEN: u8 = 1;
    pub(super) const BOOK_DELTA: u8 = 2;
    pub(super) const BOOK: u8 = 3;
    pub(super) const PRICE_CHANGE: u8 = 4;
    pub(super) const TRADE: u8 = 5;
    pub(super) const TICK_SIZE: u8 = 6;
    pub(super) const RESOLVED: u8 = 7;
    pub(super) const LISTED: u8 = 8;
    pub(super) const DELISTED: u8 = 9;
    pub(super) const WHALE: u8 = 10;
    pub(super) const NEWS: u8 = 11;
    pub(super) const DECISION: u8 = 12;
    pub(super) const GAP: u8 = 13;
    /// A whole book as each side of the previous one moved by a price shift (format 2).
    pub(super) const BOOK_SHIFT: u8 = 14;
    /// A listing whose fee exponent is a decimal, not a whole number (format 3); `LISTED`
    /// records of older files still read.
    pub(super) const LISTED_V3: u8 = 15;
}

fn side_byte(s: BookSide) -> u8 {
    match s {
        BookSide::Bids => 0,
        BookSide::Asks => 1,
    }
}

fn trade_side_byte(s: Side) -> u8 {
    match s {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// What the encoder and decoder of one segment keep: interned tokens, and each token's book as
/// the segment has told it so far.
#[derive(Debug, Default)]
struct SegmentState {
    tokens: Vec<TokenId>,
    books: Vec<OrderBook>,
}

/// Encodes records for one segment. What outlives segments (every book and the listing, so a
/// new segment can start with the state of the world) lives in [`World`].
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    ids: HashMap<TokenId, u32>,
    seg: SegmentState,
    last_ms: i64,
    started: bool,
}

/// Everything a segment needs to stand on its own: the last book of every token and the last
/// listing, kept across segments by the recorder.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) books: BookSet,
    pub(crate) listing: std::collections::BTreeMap<String, Market>,
}

impl World {
    /// Takes in what a record says about the world.
    pub(crate) fn note(&mut self, record: &Record) {
        match record {
            Record::Market(e) => {
                self.books.apply(e);
            }
            Record::Book { token, book } => {
                self.books.insert(token.clone(), book.clone());
            }
            Record::Listed(m) => {
                self.listing.insert(m.id.clone(), (**m).clone());
            }
            Record::Delisted(id) => {
                self.listing.remove(id);
            }
            _ => {}
        }
    }

    /// The records a new segment starts with: every listed market, then every book.
    pub(crate) fn opening(&self) -> Vec<Record> {
        let mut out: Vec<Record> =
            self.listing.values().map(|m| Record::Listed(Box::new(m.clone()))).collect();
        let mut books: Vec<(&str, &OrderBook)> = self.books.iter().collect();
        books.sort_by_key(|(t, _)| *t);
        out.extend(books.into_iter().map(|(t, b)| Record::Book { token: t.to_owned(), book: b.clone() }));
        out
    }
}

impl Encoder {
    fn token(&mut self, e: &mut Enc, token: &str) -> u32 {
        if let Some(i) = self.ids.get(token) {
            return *i;
        }
        let i = u32::try_from(self.seg.tokens.len()).unwrap_or(u32::MAX);
        e.u8(tag::TOKEN);
        e.str(token);
        self.ids.insert(token.to_owned(), i);
        self.seg.tokens.push(token.to_owned());
        self.seg.books.push(OrderBook::new(Decimal::ZERO));
        i
    }

    fn head(&mut self, e: &mut Enc, tag: u8, at_ms: i64) {
        e.u8(tag);
        let prev = if self.started { self.last_ms } else { 0 };
        e.zigzag(at_ms.wrapping_sub(prev));
        self.last_ms = at_ms;
        self.started = true;
    }

    /// Appends one record to `e`.
    pub(crate) fn encode(&mut self, e: &mut Enc, t: &Timed) {
        let at = t.at_ms;
        match &t.record {
            Record::Market(MarketEvent::Book { token, bids, asks, at_ms }) => {
                let i = self.token(e, token);
                let mut next = OrderBook::new(Decimal::ZERO);
                next.replace(bids, asks);
                let book = &mut self.seg.books[i as usize];
                // Two ways to say it, the shorter kept: the levels that changed (a feed's usual
                // whole-book resend), or each side as the previous one moved (a book shifting
                // with the price, levels and sizes kept).
                let mut shifted = Enc::default();
                let fits = [BookSide::Bids, BookSide::Asks]
                    .map(|side| encode_shift(&mut shifted, book, &next, side));
                // A side that moved whole costs the changes list at least two levels (the new
                // best in, the old worst out): with every side moved or untouched, and one moved,
                // the shift is the shorter without writing the other out.
                let shift_wins = fits.contains(&Fit::Moved) && !fits.contains(&Fit::Partial);
                let mut delta = Enc::default();
                if !shift_wins {
                    let changes = diff(book, &next);
                    delta.varint(changes.len() as u64);
                    for (side, l) in changes {
                        delta.u8(side_byte(side));
                        delta.decimal(l.price);
                        delta.decimal(l.size);
                    }
                }
                next.min_size = book.min_size;
                *book = next;
                let (tag, body) = if shift_wins || shifted.buf.len() < delta.buf.len() {
                    (tag::BOOK_SHIFT, shifted)
                } else {
                    (tag::BOOK_DELTA, delta)
                };
                self.head(e, tag, at);
                e.varint(u64::from(i));
                e.zigzag(at_ms.wrapping_sub(at));
                e.buf.extend_from_slice(&body.buf);
            }
            Record::Market(MarketEvent::PriceChange { token, side, price, size, at_ms }) => {
                let i = self.token(e, token);
                self.seg.books[i as usize].set(*side, *price, *size);
                self.head(e, tag::PRICE_CHANGE, at);
                e.varint(u64::from(i));
                e.zigzag(at_ms.wrapping_sub(at));
                e.u8(side_byte(*side));
                e.decimal(*price);
                e.decimal(*size);
            }
            Record::Market(MarketEvent::Trade { token, side, price, size, at_ms }) => {
                let i = self.token(e, token);
                self.head(e, tag::TRADE, at);
                e.varint(u64::from(i));
                e.zigzag(at_ms.wrapping_sub(at));
                e.u8(trade_side_byte(*side));
                e.decimal(*price);
                e.decimal(*size);
            }
            Record::Market(MarketEvent::TickSize { token, tick_size, at_ms }) => {
                let i = self.token(e, token);
                self.head(e, tag::TICK_SIZE, at);
                e.varint(u64::from(i));
                e.zigzag(at_ms.wrapping_sub(at));
                e.decimal(*tick_size);
            }
            Record::Market(MarketEvent::Resolved { market, winning_token, at_ms }) => {
                let i = self.token(e, winning_token);
                self.head(e, tag::RESOLVED, at);
                e.str(market);
                e.varint(u64::from(i));
                e.zigzag(at_ms.wrapping_sub(at));
            }
            Record::Book { token, book } => {
                let i = self.token(e, token);
                self.seg.books[i as usize] = book.clone();
                self.head(e, tag::BOOK, at);
                e.varint(u64::from(i));
                e.decimal(book.min_size);
                for side in [BookSide::Bids, BookSide::Asks] {
                    e.varint(book.levels(side).count() as u64);
                    for l in book.levels(side) {
                        e.decimal(l.price);
                        e.decimal(l.size);
                    }
                }
            }
            Record::Listed(m) => {
                let tokens = [self.token(e, &m.outcomes[0].token_id), self.token(e, &m.outcomes[1].token_id)];
                self.head(e, tag::LISTED_V3, at);
                encode_market(e, m, tokens);
            }
            Record::Delisted(id) => {
                self.head(e, tag::DELISTED, at);
                e.str(id);
            }
            Record::Whale(w) => {
                self.head(e, tag::WHALE, at);
                e.str(&w.wallet);
                e.str(&w.market);
                e.varint(w.outcome as u64);
                e.u8(trade_side_byte(w.side));
                e.decimal(w.price);
                e.decimal(w.shares);
                e.zigzag(w.at_ms.wrapping_sub(at));
            }
            Record::News(n) => {
                self.head(e, tag::NEWS, at);
                e.str(&n.title);
                e.str(&n.source);
                e.str(&n.market);
                e.zigzag(n.published_ms.wrapping_sub(at));
                e.str(&n.summary);
                e.str(&n.url);
            }
            Record::Decision(d) => {
                self.head(e, tag::DECISION, at);
                // Decisions are few and for people and tools: JSON keeps them readable.
                let json = serde_json::to_vec(d).unwrap_or_default();
                e.bytes(&json);
            }
            Record::Gap { dropped } => {
                self.head(e, tag::GAP, at);
                e.varint(*dropped);
            }
        }
    }
}

fn encode_market(e: &mut Enc, m: &Market, tokens: [u32; 2]) {
    e.str(&m.id);
    e.str(&m.question);
    e.str(&m.slug);
    e.str(&m.category);
    match m.end_ms {
        Some(end) => {
            e.u8(1);
            e.zigzag(end);
        }
        None => e.u8(0),
    }
    for (o, t) in m.outcomes.iter().zip(tokens) {
        e.str(&o.name);
        e.varint(u64::from(t));
    }
    e.decimal(m.tick_size);
    e.decimal(m.min_size);
    e.u8(u8::from(m.neg_risk) | (u8::from(m.accepting_orders) << 1));
    e.decimal(m.liquidity);
    e.decimal(m.volume_24h);
    e.decimal(m.fee.rate);
    e.decimal(m.fee.exponent);
}

/// One side of `next` against the same side of `book`: its number of levels, the price shift
/// of its best level, how many levels from the best are the old ones at the same rank moved by
/// the shift with their sizes unchanged (same digits, same scale), then the other levels whole.
fn encode_shift(e: &mut Enc, book: &OrderBook, next: &OrderBook, side: BookSide) -> Fit {
    let new: Vec<Level> = next.levels(side).collect();
    let old: Vec<Level> = book.levels(side).collect();
    e.varint(new.len() as u64);
    let shift = match (new.first(), old.first()) {
        (Some(n), Some(o)) => n.price - o.price,
        _ => Decimal::ZERO,
    };
    e.decimal(shift);
    let kept = new
        .iter()
        .zip(&old)
        .take_while(|(n, o)| {
            let moved = o.price + shift;
            moved == n.price
                && moved.scale() == n.price.scale()
                && o.size == n.size
                && o.size.scale() == n.size.scale()
        })
        .count();
    e.varint(kept as u64);
    for l in &new[kept..] {
        e.decimal(l.price);
        e.decimal(l.size);
    }
    match (kept == new.len() && kept == old.len(), shift.is_zero()) {
        (true, true) => Fit::Same,
        (true, false) => Fit::Moved,
        (false, _) => Fit::Partial,
    }
}

/// How one side of a book compares with the side before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// The same levels.
    Same,
    /// The same levels and sizes, every price moved by one nonzero shift.
    Moved,
    /// Anything else.
    Partial,
}

/// One side as [`encode_shift`] wrote it, from the same side of `book`, and whether every level
/// is one of `book`'s moved exactly by the shift (so the side is in order as `book`'s was: adding
/// one amount to every price keeps their order, and the sizes are `book`'s).
/// The levels go into `levels` (empty; a spent event's, or new).
fn decode_shift(
    d: &mut Dec<'_>,
    book: &OrderBook,
    side: BookSide,
    mut levels: Vec<Level>,
) -> DecResult<(Vec<Level>, bool)> {
    let at = d.pos;
    let n = d.usize()?;
    let shift = d.decimal()?;
    let kept = d.usize()?;
    let old = book.levels(side);
    if kept > n || old.len() < kept {
        return Err(super::codec::DecodeError {
            at,
            what: format!("a book side keeps {kept} of {} earlier levels in {n}", old.len()),
        });
    }
    // Each level takes at least two bytes: a count beyond that is caught below, not allocated.
    levels.reserve(n.min(kept + d.remaining() / 2));
    // Sums at one scale are exact (an overflow is an error): they keep the prices' order.
    // Mixed scales take `Decimal`'s addition, which may round.
    let mut exact = true;
    for o in old.take(kept) {
        let price = shifted(o.price, shift).ok_or_else(|| super::codec::DecodeError {
            at,
            what: format!("a book shift of {shift} overflows"),
        })?;
        exact &= o.price.scale() == shift.scale();
        levels.push(Level { price, size: o.size });
    }
    for _ in kept..n {
        levels.push(Level { price: d.decimal()?, size: d.decimal()? });
    }
    Ok((levels, exact && kept == n))
}

/// `price + shift` exactly as `Decimal`'s addition gives it (digits and scale), which is what
/// the encoder compared: when both share a scale, as a book's prices and their shift do, the
/// sum of their mantissas at that scale, without the general addition's rescaling.
fn shifted(price: Decimal, shift: Decimal) -> Option<Decimal> {
    let (p, s) = (price.unpack(), shift.unpack());
    // A book's price and its shift nearly always: one scale, digits within 64 bits, the price
    // not negative. The sum of the digits, or their difference, in unsigned arithmetic.
    if p.scale == s.scale && p.hi == 0 && s.hi == 0 && !p.negative {
        let (pm, sm) =
            (u64::from(p.lo) | (u64::from(p.mid) << 32), u64::from(s.lo) | (u64::from(s.mid) << 32));
        let sum = match (s.negative, pm >= sm) {
            (false, _) => pm.checked_add(sm).map(|m| (m, false)),
            (true, true) => Some((pm - sm, false)),
            (true, false) => Some((sm - pm, true)),
        };
        if let Some((m, negative)) = sum {
            #[allow(clippy::cast_possible_truncation)] // the two halves of `m`
            return Some(Decimal::from_parts(m as u32, (m >> 32) as u32, 0, negative, p.scale));
        }
    }
    if price.scale() == shift.scale()
        && let Ok(sum) = Decimal::try_from_i128_with_scale(price.mantissa() + shift.mantissa(), price.scale())
    {
        return Some(sum);
    }
    price.checked_add(shift)
}

/// The levels of `next` that differ from `book` (a removed level comes as size 0), bids then
/// asks, best first.
fn diff(book: &OrderBook, next: &OrderBook) -> Vec<(BookSide, Level)> {
    let mut out = Vec::new();
    for side in [BookSide::Bids, BookSide::Asks] {
        let old: Vec<Level> = book.levels(side).collect();
        let new: Vec<Level> = next.levels(side).collect();
        for l in &new {
            let same = old
                .iter()
                .any(|o| o.price == l.price && o.size == l.size && o.size.scale() == l.size.scale());
            if !same {
                out.push((side, *l));
            }
        }
        for o in &old {
            if !new.iter().any(|l| l.price == o.price) {
                out.push((side, Level { price: o.price, size: Decimal::ZERO }));
            }
        }
    }
    out
}

/// Whether a reader wants the engine's recorded decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Decisions {
    /// Decoded and handed over with the other records.
    #[default]
    Decode,
    /// Stepped over, undecoded: a replay on its own schedule never looks at them, and a scan's
    /// decision (every candidate with its factors, as JSON) costs more to decode than the
    /// market events around it. The block's checksum still covers their bytes.
    Skip,
}

/// Decodes the records of one segment, in order.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    seg: SegmentState,
    last_ms: i64,
    started: bool,
    decisions: Decisions,
    /// Decisions stepped over so far ([`Decisions::Skip`]).
    pub(crate) skipped: u64,
    /// Market events their reader is done with, whose buffers (the token's, the levels')
    /// the next events are written into: a replay then allocates nothing per event.
    pub(crate) spent: Vec<MarketEvent>,
}

impl Decoder {
    pub(crate) fn new(decisions: Decisions) -> Self {
        Self { decisions, ..Self::default() }
    }

    /// A spent event's buffers for the next event, `token`'s id written in
    /// ([`MarketEvent::reuse`]).
    fn buffers(&mut self, token: usize) -> (String, Vec<Level>, Vec<Level>) {
        MarketEvent::reuse(&mut self.spent, &self.seg.tokens[token])
    }

    /// `token`'s id, in a spent event's buffer when there is one.
    fn token_id(&mut self, token: usize) -> String {
        self.buffers(token).0
    }

    fn token(&self, d: &mut Dec<'_>) -> DecResult<u32> {
        let at = d.pos;
        let i = d.varint()?;
        match u32::try_from(i) {
            Ok(i) if (i as usize) < self.seg.tokens.len() => Ok(i),
            _ => Err(super::codec::DecodeError { at, what: format!("token #{i} was never defined") }),
        }
    }

    /// A market event's token and its own time, stored as a delta from the record's.
    fn token_at(&self, d: &mut Dec<'_>, at: i64) -> DecResult<(usize, i64)> {
        let i = self.token(d)? as usize;
        Ok((i, at.wrapping_add(d.zigzag()?)))
    }

    fn time(&mut self, d: &mut Dec<'_>) -> DecResult<i64> {
        let dt = d.zigzag()?;
        let prev = if self.started { self.last_ms } else { 0 };
        self.last_ms = prev.wrapping_add(dt);
        self.started = true;
        Ok(self.last_ms)
    }

    fn side(d: &mut Dec<'_>) -> DecResult<BookSide> {
        match d.u8()? {
            0 => Ok(BookSide::Bids),
            1 => Ok(BookSide::Asks),
            b => d.fail(format!("book side {b}")),
        }
    }

    fn trade_side(d: &mut Dec<'_>) -> DecResult<Side> {
        match d.u8()? {
            0 => Ok(Side::Buy),
            1 => Ok(Side::Sell),
            b => d.fail(format!("trade side {b}")),
        }
    }

    /// The next record, or `None` at the end of `d`.
    pub(crate) fn next(&mut self, d: &mut Dec<'_>) -> DecResult<Option<Timed>> {
        loop {
            if d.is_empty() {
                return Ok(None);
            }
            let tag_at = d.pos;
            let t = d.u8()?;
            if t == tag::TOKEN {
                let token = d.string()?;
                self.seg.tokens.push(token);
                self.seg.books.push(OrderBook::new(Decimal::ZERO));
                continue;
            }
            let at = self.time(d)?;
            let record = match t {
                tag::BOOK_DELTA => {
                    let (i, at_ms) = self.token_at(d, at)?;
                    let n = d.usize()?;
                    let book = &mut self.seg.books[i];
                    for _ in 0..n {
                        let side = Self::side(d)?;
                        let (price, size) = (d.decimal()?, d.decimal()?);
                        book.set(side, price, size);
                    }
                    let (spent, tokens, books) = (&mut self.spent, &self.seg.tokens, &self.seg.books);
                    Record::Market(MarketEvent::book_of(spent, &tokens[i], &books[i], at_ms))
                }
                tag::BOOK_SHIFT => {
                    let (i, at_ms) = self.token_at(d, at)?;
                    let (token, bids, asks) = self.buffers(i);
                    let (bids, moved_bids) = decode_shift(d, &self.seg.books[i], BookSide::Bids, bids)?;
                    let (asks, moved_asks) = decode_shift(d, &self.seg.books[i], BookSide::Asks, asks)?;
                    if moved_bids && moved_asks {
                        // Every level the book's own, moved by one shift: still in order.
                        self.seg.books[i].replace_ordered(&bids, &asks);
                    } else {
                        self.seg.books[i].replace(&bids, &asks);
                    }
                    // The sides as written: the encoder's book, best first, so the event takes
                    // them as they are (a book takes an event's levels in any order anyway).
                    Record::Market(MarketEvent::Book { token, bids, asks, at_ms })
                }
                tag::PRICE_CHANGE => {
                    let (i, at_ms) = self.token_at(d, at)?;
                    let side = Self::side(d)?;
                    let (price, size) = (d.decimal()?, d.decimal()?);
                    self.seg.books[i].set(side, price, size);
                    Record::Market(MarketEvent::PriceChange {
                        token: self.token_id(i),
                        side,
                        price,
                        size,
                        at_ms,
                    })
                }
                tag::TRADE => {
                    let (i, at_ms) = self.token_at(d, at)?;
                    let side = Self::trade_side(d)?;
                    let (price, size) = (d.decimal()?, d.decimal()?);
                    Record::Market(MarketEvent::Trade { token: self.token_id(i), side, price, size, at_ms })
                }
                tag::TICK_SIZE => {
                    let (i, at_ms) = self.token_at(d, at)?;
                    let tick_size = d.decimal()?;
                    Record::Market(MarketEvent::TickSize { token: self.token_id(i), tick_size, at_ms })
                }
                tag::RESOLVED => {
                    let market = d.string()?;
                    let (i, at_ms) = self.token_at(d, at)?;
                    Record::Market(MarketEvent::Resolved { market, winning_token: self.token_id(i), at_ms })
                }
                tag::BOOK => {
                    let i = self.token(d)? as usize;
                    let mut book = OrderBook::new(d.decimal()?);
                    let mut sides = [Vec::new(), Vec::new()];
                    for levels in &mut sides {
                        let n = d.usize()?;
                        for _ in 0..n {
                            levels.push(Level { price: d.decimal()?, size: d.decimal()? });
                        }
                    }
                    book.replace(&sides[0], &sides[1]);
                    self.seg.books[i] = book.clone();
                    Record::Book { token: self.seg.tokens[i].clone(), book }
                }
                tag::LISTED => Record::Listed(Box::new(self.market(d, false)?)),
                tag::LISTED_V3 => Record::Listed(Box::new(self.market(d, true)?)),
                tag::DELISTED => Record::Delisted(d.string()?),
                tag::WHALE => Record::Whale(Box::new(WhaleTrade {
                    wallet: d.string()?,
                    market: d.string()?,
                    outcome: d.usize()?,
                    side: Self::trade_side(d)?,
                    price: d.decimal()?,
                    shares: d.decimal()?,
                    at_ms: at.wrapping_add(d.zigzag()?),
                })),
                tag::NEWS => Record::News(Box::new(NewsItem {
                    title: d.string()?,
                    source: d.string()?,
                    market: d.string()?,
                    published_ms: at.wrapping_add(d.zigzag()?),
                    summary: d.string()?,
                    url: d.string()?,
                })),
                tag::DECISION if self.decisions == Decisions::Skip => {
                    d.bytes()?;
                    self.skipped += 1;
                    continue;
                }
                tag::DECISION => {
                    let at_json = d.pos;
                    let json = d.bytes()?;
                    let decision: Decision = serde_json::from_slice(json).map_err(|e| {
                        super::codec::DecodeError { at: at_json, what: format!("decision: {e}") }
                    })?;
                    Record::Decision(Box::new(decision))
                }
                tag::GAP => Record::Gap { dropped: d.varint()? },
                other => {
                    return Err(super::codec::DecodeError {
                        at: tag_at,
                        what: format!("unknown record type {other}"),
                    });
                }
            };
            return Ok(Some(Timed { at_ms: at, record }));
        }
    }

    /// A listed market; `decimal_exponent` for format 3, a whole-number exponent before.
    fn market(&self, d: &mut Dec<'_>, decimal_exponent: bool) -> DecResult<Market> {
        let id = d.string()?;
        let question = d.string()?;
        let slug = d.string()?;
        let category = d.string()?;
        let end_ms = match d.u8()? {
            0 => None,
            _ => Some(d.zigzag()?),
        };
        let mut outcome = || -> DecResult<Outcome> {
            let name = d.string()?;
            let i = self.token(d)? as usize;
            Ok(Outcome { name, token_id: self.seg.tokens[i].clone() })
        };
        let outcomes = [outcome()?, outcome()?];
        let tick_size = d.decimal()?;
        let min_size = d.decimal()?;
        let flags = d.u8()?;
        let liquidity = d.decimal()?;
        let volume_24h = d.decimal()?;
        let rate = d.decimal()?;
        let exponent = if decimal_exponent {
            d.decimal()?
        } else {
            Decimal::from(u32::try_from(d.varint()?).or_else(|_| d.fail("fee exponent out of range"))?)
        };
        Ok(Market {
            id,
            question,
            slug,
            category,
            end_ms,
            outcomes,
            tick_size,
            min_size,
            neg_risk: flags & 1 != 0,
            liquidity,
            volume_24h,
            accepting_orders: flags & 2 != 0,
            fee: TakerFee { rate, exponent },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Outcome;
    use rust_decimal_macros::dec;

    fn market(exponent: Decimal) -> Market {
        let outcome = |name: &str, token_id: &str| Outcome { name: name.into(), token_id: token_id.into() };
        Market {
            id: "0xabc".into(),
            question: "Will it?".into(),
            slug: "will-it".into(),
            category: "Sports".into(),
            end_ms: Some(1_800_000_000_000),
            outcomes: [outcome("Yes", "11"), outcome("No", "22")],
            tick_size: dec!(0.001),
            min_size: dec!(5),
            neg_risk: false,
            liquidity: dec!(1234.5),
            volume_24h: dec!(99),
            accepting_orders: true,
            fee: TakerFee { rate: dec!(0.03), exponent },
        }
    }

    fn encoded(m: &Market) -> Vec<u8> {
        let mut e = Enc::default();
        Encoder::default().encode(&mut e, &Timed { at_ms: 5, record: Record::Listed(Box::new(m.clone())) });
        e.buf
    }

    fn decoded(bytes: &[u8]) -> Market {
        match Decoder::default().next(&mut Dec::new(bytes)).unwrap().unwrap().record {
            Record::Listed(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    /// A shifted price is `Decimal`'s sum to the digit, scale and sign, on the fast paths (one
    /// scale, within 64 bits or not) and off them (mixed scales, a sum beyond 96 bits).
    #[test]
    fn a_shifted_price_is_the_decimal_sum_bit_for_bit() {
        let big = Decimal::from_i128_with_scale(79_228_162_514_264_337_593_543_950_335, 1);
        // Digits at the edge of 64 bits: sums that overflow them leave the unsigned path.
        let wide = Decimal::from_i128_with_scale(i128::from(u64::MAX), 2);
        let half = Decimal::from_i128_with_scale(i128::from(u64::MAX / 2 + 1), 2);
        let values = [
            wide,
            -wide,
            half,
            -half,
            dec!(0.55),
            dec!(0.01),
            dec!(-0.01),
            dec!(-0.55),
            dec!(0.001),
            dec!(0.550),
            dec!(0),
            dec!(0.00),
            dec!(-0.00),
            dec!(1),
            big,
            -big,
        ];
        for price in values {
            for shift in values {
                let want = price.checked_add(shift).map(|d| d.serialize());
                assert_eq!(shifted(price, shift).map(|d| d.serialize()), want, "{price} + {shift}");
            }
        }
    }

    /// Every kind of market event decodes the same into a spent event's buffers (whatever they
    /// held: another token's id, other levels) as into new ones.
    #[test]
    fn market_events_decoded_into_spent_events_are_those_decoded_afresh() {
        // A book event of `(price, size)` levels.
        let book = |token: &str, bids: &[(Decimal, Decimal)], asks: &[(Decimal, Decimal)], at_ms| {
            let side = |levels: &[(Decimal, Decimal)]| {
                levels.iter().map(|&(price, size)| Level { price, size }).collect()
            };
            MarketEvent::Book { token: token.into(), bids: side(bids), asks: side(asks), at_ms }
        };
        let (a, b) = ("71321045679252212594626385532706912750332728571942532289631379312455583992563", "12");
        // The encoder writes the first and third as changed levels, the second as one shift.
        let events = [
            book(a, &[(dec!(0.40), dec!(100)), (dec!(0.39), dec!(50))], &[(dec!(0.42), dec!(80))], 1),
            book(a, &[(dec!(0.41), dec!(100)), (dec!(0.40), dec!(50))], &[(dec!(0.43), dec!(80))], 2),
            book(
                a,
                &[(dec!(0.41), dec!(90)), (dec!(0.40), dec!(50))],
                &[(dec!(0.43), dec!(80)), (dec!(0.44), dec!(7))],
                3,
            ),
            MarketEvent::PriceChange {
                token: b.into(),
                side: BookSide::Bids,
                price: dec!(0.2),
                size: dec!(5),
                at_ms: 4,
            },
            MarketEvent::Trade {
                token: a.into(),
                side: Side::Buy,
                price: dec!(0.43),
                size: dec!(3),
                at_ms: 5,
            },
            MarketEvent::TickSize { token: b.into(), tick_size: dec!(0.001), at_ms: 6 },
            book(b, &[], &[(dec!(0.8), dec!(10))], 7),
            book(b, &[], &[], 8),
            MarketEvent::Resolved { market: "0xabc".into(), winning_token: b.into(), at_ms: 9 },
        ];
        let mut e = Enc::default();
        let mut encoder = Encoder::default();
        for (i, ev) in events.iter().enumerate() {
            let at_ms = i64::try_from(i).unwrap();
            encoder.encode(&mut e, &Timed { at_ms, record: Record::Market(ev.clone()) });
        }
        let decode = |spend: bool| {
            // Spent events with buffers of their own, used before any the decoding gives back.
            let spent = vec![
                book(
                    "a much longer id than any of the test's",
                    &[(dec!(0.1), dec!(1)); 9],
                    &[(dec!(0.9), dec!(2))],
                    0,
                ),
                MarketEvent::Trade {
                    token: "x".into(),
                    side: Side::Sell,
                    price: dec!(0.5),
                    size: dec!(1),
                    at_ms: 0,
                },
            ];
            let mut decoder = Decoder { spent, ..Decoder::default() };
            let mut d = Dec::new(&e.buf);
            let mut out = Vec::new();
            while let Some(t) = decoder.next(&mut d).unwrap() {
                let Record::Market(ev) = t.record else { panic!("{t:?}") };
                out.push(ev.clone());
                if spend {
                    decoder.spent.push(ev);
                }
            }
            out
        };
        let fresh = decode(false);
        assert_eq!(fresh, events.to_vec(), "as encoded");
        assert_eq!(decode(true), fresh);
    }

    #[test]
    fn a_fractional_fee_exponent_reads_back_and_older_files_whole_exponents_still_read() {
        let fractional = market(dec!(1.5));
        assert_eq!(decoded(&encoded(&fractional)), fractional);

        // A file of format 2 or older: the listing under its old tag, the exponent a varint.
        let whole = market(Decimal::TWO);
        let mut old = encoded(&whole);
        let mut exponent = Enc::default();
        exponent.decimal(Decimal::TWO);
        old.truncate(old.len() - exponent.buf.len());
        old.push(2);
        // The two token records come first: a tag, a length and the id each.
        let tag_at: usize = whole.outcomes.iter().map(|o| 2 + o.token_id.len()).sum();
        assert_eq!(old[tag_at], tag::LISTED_V3);
        old[tag_at] = tag::LISTED;
        assert_eq!(decoded(&old), whole);
    }
}
