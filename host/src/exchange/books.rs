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
    books: FastHashMap<TokenKey, OrderBook>,
    min_size: Decimal,
}

/// Bytes of a token id kept inside the map's own slot: Polymarket's are at most 78 digits.
const INLINE: usize = 78;

/// A token id as the book map keeps it: inside its slot, next to the book, when short enough
/// (every venue's), so finding a book compares bytes the lookup reads anyway instead of a copy
/// elsewhere in memory (a cache miss per market event); longer ones on the heap.
#[derive(Clone)]
enum TokenKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Long(Box<str>),
}

impl TokenKey {
    fn new(token: &str) -> Self {
        match u8::try_from(token.len()) {
            Ok(len) if token.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..token.len()].copy_from_slice(token.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Long(token.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Long(s) => s.as_bytes(),
        }
    }

    /// The id (its bytes came from a `&str`).
    fn as_str(&self) -> &str {
        match self {
            Self::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Self::Long(s) => s,
        }
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// Found by its bytes: equal and hashed as the byte slice it holds, as `Borrow` requires.
impl std::borrow::Borrow<[u8]> for TokenKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for TokenKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for TokenKey {}

impl std::hash::Hash for TokenKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
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
        self.books.get(token.as_bytes())
    }

    /// Replaces a token's book with a snapshot taken by other means (`Exchange::book`).
    pub fn insert(&mut self, token: TokenId, book: OrderBook) {
        self.books.insert(TokenKey::new(&token), book);
    }

    /// Every book, by token, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OrderBook)> {
        self.books.iter().map(|(t, b)| (t.as_str(), b))
    }

    /// Forgets one token's book (no longer followed).
    pub fn remove(&mut self, token: &str) {
        self.books.remove(token.as_bytes());
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
                let top_changed = match self.books.get_mut(token.as_bytes()) {
                    Some(book) => replace(book),
                    None => replace(
                        self.books.entry(TokenKey::new(token)).or_insert(OrderBook::new(self.min_size)),
                    ),
                };
                Applied::Book { token, top_changed }
            }
            MarketEvent::PriceChange { token, side, price, size, .. } => {
                let Some(book) = self.books.get_mut(token.as_bytes()) else {
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

    /// Token ids of every length find their books, kept inside the map (up to 78 bytes, a
    /// Polymarket id's most) or on the heap (longer), through every way in and out.
    #[test]
    fn books_are_found_by_token_ids_of_any_length() {
        let tokens: Vec<String> = [1, 39, 77, 78, 79, 200].iter().map(|n| "7".repeat(*n)).collect();
        let mut set = BookSet::new(dec!(5));
        for (i, t) in tokens.iter().enumerate() {
            let mut e = snapshot();
            if let MarketEvent::Book { token, bids, .. } = &mut e {
                token.clone_from(t);
                bids[0].size = Decimal::from(i + 1);
            }
            assert_eq!(set.apply(&e), Applied::Book { token: t, top_changed: true });
        }
        for (i, t) in tokens.iter().enumerate() {
            assert_eq!(
                set.get(t).unwrap().best_bid().unwrap().size,
                Decimal::from(i + 1),
                "{} bytes",
                t.len()
            );
        }
        for n in [78, 79] {
            assert!(set.get(&"8".repeat(n)).is_none(), "another token of {n} bytes");
        }
        let mut listed: Vec<&str> = set.iter().map(|(t, _)| t).collect();
        listed.sort_unstable();
        let mut want: Vec<&str> = tokens.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(listed, want);
        set.remove(&tokens[4]);
        set.insert(tokens[5].clone(), OrderBook::new(dec!(1)));
        assert!(set.get(&tokens[4]).is_none());
        assert!(set.get(&tokens[5]).unwrap().best_bid().is_none(), "replaced by the inserted book");
        assert_eq!(set.get(&tokens[3]).unwrap().best_bid().unwrap().size, dec!(4));
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
