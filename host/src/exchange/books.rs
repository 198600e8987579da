//! The books of every watched token, kept current from a venue's market events: what paper
//! fills, the position monitor and the scanner read.

use super::book::{BookSide, OrderBook};
use super::types::{MarketEvent, TokenId};
use crate::fast_hash::FastHashMap;
use rust_decimal::Decimal;

/// What applying one event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied<'e> {
    /// A token's book changed; `top_changed` says whether its best bid or ask moved.
    Book { token: &'e TokenId, top_changed: bool },
    /// A price change for a token without a snapshot yet: take one (`Exchange::book`) before
    /// trusting this token's book.
    NeedsSnapshot(&'e TokenId),
    /// A tick size changed.
    TickSize { token: &'e TokenId, tick_size: Decimal },
    /// A trade or resolution: nothing to apply to the books.
    Nothing,
}

/// Books by token.
#[derive(Debug, Clone, Default)]
pub struct BookSet {
    books: FastHashMap<TokenId, OrderBook>,
    min_size: Decimal,
}

impl BookSet {
    /// An empty set; new books get `min_size` until a snapshot says otherwise.
    #[must_use]
    pub fn new(min_size: Decimal) -> Self {
        Self { books: FastHashMap::default(), min_size }
    }

    /// The book of a token, once a snapshot arrived.
    #[must_use]
    pub fn get(&self, token: &str) -> Option<&OrderBook> {
        self.books.get(token)
    }

    /// Replaces a token's book with a snapshot taken by other means (`Exchange::book`).
    pub fn insert(&mut self, token: TokenId, book: OrderBook) {
        self.books.insert(token, book);
    }

    /// Every book, by token, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&TokenId, &OrderBook)> {
        self.books.iter()
    }

    /// Forgets one token's book (no longer followed).
    pub fn remove(&mut self, token: &str) {
        self.books.remove(token);
    }

    /// Forgets every book, e.g. after a feed gap: all need fresh snapshots.
    pub fn clear(&mut self) {
        self.books.clear();
    }

    /// Applies one event.
    pub fn apply<'e>(&mut self, event: &'e MarketEvent) -> Applied<'e> {
        match event {
            MarketEvent::Book { token, bids, asks, .. } => {
                let replace = |book: &mut OrderBook| {
                    let before = (book.best_bid(), book.best_ask());
                    book.replace(bids, asks);
                    (book.best_bid(), book.best_ask()) != before
                };
                // One lookup for a known token (nearly every event); the token is copied only
                // the first time it is seen.
                let top_changed = match self.books.get_mut(token) {
                    Some(book) => replace(book),
                    None => replace(self.books.entry(token.clone()).or_insert(OrderBook::new(self.min_size))),
                };
                Applied::Book { token, top_changed }
            }
            MarketEvent::PriceChange { token, side, price, size, .. } => {
                let Some(book) = self.books.get_mut(token) else {
                    return Applied::NeedsSnapshot(token);
                };
                let before = match side {
                    BookSide::Bids => book.best_bid(),
                    BookSide::Asks => book.best_ask(),
                };
                book.set(*side, *price, *size);
                let after = match side {
                    BookSide::Bids => book.best_bid(),
                    BookSide::Asks => book.best_ask(),
                };
                Applied::Book { token, top_changed: before != after }
            }
            MarketEvent::TickSize { token, tick_size, .. } => {
                Applied::TickSize { token, tick_size: *tick_size }
            }
            MarketEvent::Trade { .. } | MarketEvent::Resolved { .. } => Applied::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::book::Level;
    use rust_decimal_macros::dec;

    fn snapshot() -> MarketEvent {
        MarketEvent::Book {
            token: "1".into(),
            bids: vec![Level { price: dec!(0.48), size: dec!(10) }],
            asks: vec![Level { price: dec!(0.52), size: dec!(10) }],
            at_ms: 0,
        }
    }

    fn change(side: BookSide, price: Decimal, size: Decimal) -> MarketEvent {
        MarketEvent::PriceChange { token: "1".into(), side, price, size, at_ms: 0 }
    }

    #[test]
    fn changes_before_a_snapshot_ask_for_one_and_then_apply() {
        let mut set = BookSet::new(dec!(5));
        let one: TokenId = "1".into();
        assert_eq!(set.apply(&change(BookSide::Bids, dec!(0.5), dec!(1))), Applied::NeedsSnapshot(&one));
        assert!(set.get("1").is_none(), "nothing applied without a snapshot");
        assert_eq!(set.apply(&snapshot()), Applied::Book { token: &one, top_changed: true });
        assert_eq!(
            set.apply(&change(BookSide::Bids, dec!(0.49), dec!(3))),
            Applied::Book { token: &one, top_changed: true }
        );
        assert_eq!(set.get("1").unwrap().best_bid().unwrap().price, dec!(0.49));
        // A deeper level changing leaves the top alone.
        assert_eq!(
            set.apply(&change(BookSide::Asks, dec!(0.60), dec!(3))),
            Applied::Book { token: &one, top_changed: false }
        );
        // Removing the best ask moves the top.
        assert_eq!(
            set.apply(&change(BookSide::Asks, dec!(0.52), Decimal::ZERO)),
            Applied::Book { token: &one, top_changed: true }
        );
        assert_eq!(set.get("1").unwrap().best_ask().unwrap().price, dec!(0.60));
        set.clear();
        assert_eq!(set.apply(&change(BookSide::Bids, dec!(0.5), dec!(1))), Applied::NeedsSnapshot(&one));
    }

    #[test]
    fn the_simulators_events_keep_a_book_set_equal_to_its_books() {
        use crate::exchange::book::{Amount, FillPolicy, Side};
        use crate::exchange::sim::{SimConfig, Simulator};
        let mut sim = Simulator::new(SimConfig { seed: 2, markets: 10, ..SimConfig::default() });
        let mut set = BookSet::new(dec!(5));
        for m in sim.markets() {
            for o in &m.outcomes {
                set.insert(o.token_id.clone(), sim.book(&o.token_id).unwrap().clone());
            }
        }
        let token = sim.markets()[0].outcomes[0].token_id.clone();
        for i in 0..100 {
            // The bot's own fills thin the book between steps; the next step's events catch up.
            if i % 10 == 0 {
                let _ = sim.execute(&token, Side::Buy, Amount::Usd(dec!(20)), FillPolicy::FillAndKill);
            }
            for e in sim.step(60_000).events {
                set.apply(&e);
            }
        }
        for m in sim.markets() {
            for o in &m.outcomes {
                assert_eq!(set.get(&o.token_id), sim.book(&o.token_id), "{}", o.token_id);
            }
        }
    }
}
