//! A recording as tables: `market_events` (a row per book level, change, trade, tick size and
//! resolution), `listings`, `whales`, `news`, and the decisions.

use super::decisions::Decisions;
use super::table::{Kind, Table, V};
use super::{Exported, book_side, closed, out_dir, side};
use crate::exchange::{BookSide, Level, MarketEvent};
use crate::lab::record::{Record, Timed};
use crate::lab::{Result, recording};
use std::collections::HashMap;
use std::path::Path;

/// Exports a recording (a directory or one segment) into `dir`: `market_events`, `listings`,
/// `whales`, `news`, `decisions` and `candidates`. A recording cut short is exported up to its
/// last whole block, as a replay reads it.
///
/// # Errors
/// A recording that cannot be read (named with the file and offset), or a failed write.
pub fn export_recording(recording: &Path, dir: &Path) -> Result<Vec<Exported>> {
    out_dir(dir)?;
    let mut events = Table::create(
        dir,
        "market_events",
        &[
            ("ts", Kind::Time),
            ("seq", Kind::Int),
            ("kind", Kind::Text),
            ("market_id", Kind::Text),
            ("token", Kind::Text),
            ("side", Kind::Text),
            ("price", Kind::Money),
            ("size", Kind::Money),
            ("event_ts", Kind::Time),
        ],
    )?;
    let mut listings = Table::create(
        dir,
        "listings",
        &[
            ("ts", Kind::Time),
            ("seq", Kind::Int),
            ("kind", Kind::Text),
            ("market_id", Kind::Text),
            ("question", Kind::Text),
            ("slug", Kind::Text),
            ("category", Kind::Text),
            ("end", Kind::Time),
            ("yes_token", Kind::Text),
            ("no_token", Kind::Text),
            ("yes_outcome", Kind::Text),
            ("no_outcome", Kind::Text),
            ("tick_size", Kind::Money),
            ("min_size", Kind::Money),
            ("neg_risk", Kind::Flag),
            ("liquidity", Kind::Money),
            ("volume_24h", Kind::Money),
            ("accepting_orders", Kind::Flag),
            ("fee_rate", Kind::Money),
            ("fee_exponent", Kind::Money),
        ],
    )?;
    let mut whales = Table::create(
        dir,
        "whales",
        &[
            ("ts", Kind::Time),
            ("seq", Kind::Int),
            ("wallet", Kind::Text),
            ("market_id", Kind::Text),
            ("outcome", Kind::Int),
            ("side", Kind::Text),
            ("price", Kind::Money),
            ("shares", Kind::Money),
            ("traded_at", Kind::Time),
        ],
    )?;
    let mut news = Table::create(
        dir,
        "news",
        &[
            ("ts", Kind::Time),
            ("seq", Kind::Int),
            ("published", Kind::Time),
            ("market_id", Kind::Text),
            ("source", Kind::Text),
            ("title", Kind::Text),
            ("summary", Kind::Text),
            ("url", Kind::Text),
        ],
    )?;
    let mut decisions = Decisions::create(dir)?;
    // Market events name a token; the listing gives its market.
    let mut market_of: HashMap<String, String> = HashMap::new();
    let mut seq = 0_u64;
    let levels =
        |events: &mut Table, c: &Cells, side: &str, ls: &mut dyn Iterator<Item = Level>| -> Result<bool> {
            let mut any = false;
            for l in ls {
                any = true;
                events.row(c.with(side, l))?;
            }
            Ok(any)
        };
    recording::read(recording, |Timed { at_ms, record }| {
        seq += 1;
        match record {
            Record::Market(e) => {
                let (kind, token, event_at) = match &e {
                    MarketEvent::Book { token, at_ms, .. } => ("book", token, *at_ms),
                    MarketEvent::PriceChange { token, at_ms, .. } => ("price_change", token, *at_ms),
                    MarketEvent::Trade { token, at_ms, .. } => ("trade", token, *at_ms),
                    MarketEvent::TickSize { token, at_ms, .. } => ("tick_size", token, *at_ms),
                    MarketEvent::Resolved { winning_token, at_ms, .. } => ("resolved", winning_token, *at_ms),
                };
                let market = match &e {
                    MarketEvent::Resolved { market, .. } => Some(market.clone()),
                    _ => market_of.get(token.as_str()).cloned(),
                };
                let c = Cells { at_ms, seq, kind, market, token: token.to_string(), event_at };
                match e {
                    MarketEvent::Book { bids, asks, .. } => {
                        let b = levels(&mut events, &c, "bid", &mut bids.into_iter())?;
                        let a = levels(&mut events, &c, "ask", &mut asks.into_iter())?;
                        if !a && !b {
                            events.row(c.bare(None, None, None))?;
                        }
                    }
                    MarketEvent::PriceChange { side: s, price, size, .. } => {
                        events.row(c.bare(Some(book_side(s)), Some(price), Some(size)))?;
                    }
                    MarketEvent::Trade { side: s, price, size, .. } => {
                        events.row(c.bare(Some(side(s)), Some(price), Some(size)))?;
                    }
                    MarketEvent::TickSize { tick_size, .. } => {
                        events.row(c.bare(None, Some(tick_size), None))?
                    }
                    MarketEvent::Resolved { .. } => events.row(c.bare(None, None, None))?,
                }
            }
            Record::Book { token, book } => {
                let market = market_of.get(token.as_str()).cloned();
                let c = Cells {
                    at_ms,
                    seq,
                    kind: "venue_book",
                    market,
                    token: token.to_string(),
                    event_at: at_ms,
                };
                let b = levels(&mut events, &c, "bid", &mut book.levels(BookSide::Bids))?;
                let a = levels(&mut events, &c, "ask", &mut book.levels(BookSide::Asks))?;
                if !a && !b {
                    events.row(c.bare(None, None, None))?;
                }
            }
            Record::Listed(m) => {
                for o in &m.outcomes {
                    market_of.insert(o.token_id.to_string(), m.id.clone());
                }
                listings.row(vec![
                    V::Time(at_ms),
                    V::int(seq),
                    V::text("listed"),
                    V::text(&m.id),
                    V::text(&m.question),
                    V::text(&m.slug),
                    V::text(&m.category),
                    V::opt(m.end_ms, V::Time),
                    V::text(m.outcomes[0].token_id.to_string()),
                    V::text(m.outcomes[1].token_id.to_string()),
                    V::text(&m.outcomes[0].name),
                    V::text(&m.outcomes[1].name),
                    V::Money(m.tick_size),
                    V::Money(m.min_size),
                    V::Flag(m.neg_risk),
                    V::Money(m.liquidity),
                    V::Money(m.volume_24h),
                    V::Flag(m.accepting_orders),
                    V::Money(m.fee.rate),
                    V::Money(m.fee.exponent),
                ])?;
            }
            Record::Delisted(id) => {
                let mut cells = vec![V::Time(at_ms), V::int(seq), V::text("delisted"), V::Text(id)];
                cells.resize(20, V::Null);
                listings.row(cells)?;
            }
            Record::Whale(w) => whales.row(vec![
                V::Time(at_ms),
                V::int(seq),
                V::Text(w.wallet),
                V::Text(w.market),
                V::int(w.outcome),
                V::text(side(w.side)),
                V::Money(w.price),
                V::Money(w.shares),
                V::Time(w.at_ms),
            ])?,
            Record::News(n) => news.row(vec![
                V::Time(at_ms),
                V::int(seq),
                V::Time(n.published_ms),
                V::Text(n.market),
                V::Text(n.source),
                V::Text(n.title),
                V::Text(n.summary),
                V::Text(n.url),
            ])?,
            Record::Decision(d) => decisions.add(at_ms, seq, &d)?,
            Record::Gap { dropped } => {
                decisions.decision(at_ms, seq, "gap", &[("dropped", V::int(dropped))])?
            }
        }
        Ok(())
    })?;
    let mut tables = vec![events, listings, whales, news];
    tables.extend(decisions.close());
    closed(tables)
}

/// The shared cells of one market event's rows.
struct Cells {
    at_ms: i64,
    seq: u64,
    kind: &'static str,
    market: Option<String>,
    token: String,
    event_at: i64,
}

impl Cells {
    fn bare(
        &self,
        side: Option<&str>,
        price: Option<rust_decimal::Decimal>,
        size: Option<rust_decimal::Decimal>,
    ) -> Vec<V> {
        vec![
            V::Time(self.at_ms),
            V::int(self.seq),
            V::text(self.kind),
            V::opt(self.market.clone(), V::Text),
            V::text(&self.token),
            V::opt(side, V::text),
            V::opt(price, V::Money),
            V::opt(size, V::Money),
            V::Time(self.event_at),
        ]
    }

    fn with(&self, side: &str, l: Level) -> Vec<V> {
        self.bare(Some(side), Some(l.price), Some(l.size))
    }
}
