//! Which tokens the live venue still follows: listed lately, held or read by the engine. The
//! feed's subscriptions and the venue's market and tick-size maps follow this set, so they track
//! the listing instead of growing with every market ever seen.

use crate::exchange::types::TokenId;
use std::collections::{HashMap, HashSet};

/// Listings a token may miss (not listed, not held, not read) before it is let go.
pub(super) const KEPT_LISTINGS: u64 = 3;

/// The listing each token was last wanted in.
#[derive(Debug, Default)]
pub(super) struct Interest {
    listing: u64,
    last: HashMap<TokenId, u64>,
}

impl Interest {
    /// The tokens are wanted now (listed, held, or their book was read).
    pub(super) fn mark<'a>(&mut self, tokens: impl IntoIterator<Item = &'a TokenId>) {
        for token in tokens {
            match self.last.get_mut(token) {
                Some(at) => *at = self.listing,
                None => {
                    self.last.insert(token.clone(), self.listing);
                }
            }
        }
    }

    /// A new listing came in with `listed`: returns the tokens wanted in none of the last
    /// [`KEPT_LISTINGS`] listings, which are forgotten.
    pub(super) fn next_listing<'a>(
        &mut self,
        listed: impl IntoIterator<Item = &'a TokenId>,
    ) -> HashSet<TokenId> {
        self.listing += 1;
        self.mark(listed);
        let oldest = self.listing.saturating_sub(KEPT_LISTINGS);
        let gone: HashSet<TokenId> =
            self.last.iter().filter(|(_, at)| **at <= oldest).map(|(t, _)| t.clone()).collect();
        self.last.retain(|t, _| !gone.contains(t));
        gone
    }

    /// Whether a token is followed.
    pub(super) fn follows(&self, token: &str) -> bool {
        self.last.contains_key(token)
    }

    pub(super) fn len(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(names: &[&str]) -> Vec<TokenId> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_token_is_let_go_after_missing_three_listings_unless_held_or_read_meanwhile() {
        let mut interest = Interest::default();
        assert!(interest.next_listing(&tokens(&["a", "b", "c"])).is_empty());
        // "a" falls out of the listing; "b" too, but the engine holds it.
        for _ in 0..2 {
            interest.mark(&tokens(&["b"]));
            assert!(interest.next_listing(&tokens(&["c"])).is_empty());
        }
        interest.mark(&tokens(&["b"]));
        let gone = interest.next_listing(&tokens(&["c"]));
        assert_eq!(gone, HashSet::from(["a".to_owned()]));
        assert!(!interest.follows("a") && interest.follows("b") && interest.follows("c"));
        assert_eq!(interest.len(), 2);
        // A token read again is followed again.
        interest.mark(&tokens(&["a"]));
        assert!(interest.follows("a"));
    }

    #[test]
    fn churning_listings_keep_the_set_at_a_few_listings_worth() {
        let mut interest = Interest::default();
        for round in 0..1_000_u32 {
            let listed: Vec<TokenId> = (0..100).map(|i| format!("{round}-{i}")).collect();
            interest.next_listing(&listed);
            assert!(interest.len() <= 100 * usize::try_from(KEPT_LISTINGS).unwrap());
        }
    }
}
