//! The venue's listing as a scan takes it: one entry per market, and the engine's index of it by
//! condition id, built from the listing's own `Arc`s without copying an id.

use crate::exchange::Market;
use crate::fast_hash::{FastHashMap, FastHashSet};
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The listing with one entry per market, in the order first listed: a venue whose pages
/// overlap may name a market twice, and the later copy (the fresher) stands, as in the cache.
/// Everything after the listing (features, scores, the stored opportunities) can then take the
/// market id as unique. One copy of each market, shared by the cache and the scan.
pub(super) fn one_per_market(listed: Vec<Arc<Market>>) -> Vec<Arc<Market>> {
    // Each id's place in the result, and which copy stands there.
    let mut at: FastHashMap<&str, usize> =
        FastHashMap::with_capacity_and_hasher(listed.len(), foldhash::fast::RandomState::default());
    let mut kept: Vec<usize> = Vec::with_capacity(listed.len());
    for (i, m) in listed.iter().enumerate() {
        match at.get(m.id.as_str()) {
            Some(&place) => kept[place] = i,
            None => {
                at.insert(&m.id, kept.len());
                kept.push(i);
            }
        }
    }
    if kept.len() == listed.len() {
        // Nothing listed twice (nearly always): the listing as it came.
        drop(at);
        return listed;
    }
    kept.into_iter().map(|i| Arc::clone(&listed[i])).collect()
}

/// The last listing, by condition id.
#[derive(Debug, Default)]
pub(super) struct Listed(FastHashSet<ById>);

/// A market found by its condition id.
#[derive(Debug)]
struct ById(Arc<Market>);

impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As its id hashes, so that a lookup by `&str` finds it (`Borrow<str>`).
        self.0.id.as_str().hash(state);
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

impl Listed {
    /// The listing with one entry per market ([`one_per_market`]) and its index, built in one
    /// pass over the ids when no market is listed twice (nearly always).
    pub(super) fn one_per_market(listed: Vec<Arc<Market>>) -> (Vec<Arc<Market>>, Self) {
        let mut index: FastHashSet<ById> =
            FastHashSet::with_capacity_and_hasher(listed.len(), foldhash::fast::RandomState::default());
        let mut twice = false;
        for m in &listed {
            // The later copy stands, as in `one_per_market`.
            twice |= index.replace(ById(Arc::clone(m))).is_some();
        }
        let markets = if twice { one_per_market(listed) } else { listed };
        (markets, Self(index))
    }

    /// The market with condition id `id`.
    pub(super) fn get(&self, id: &str) -> Option<&Arc<Market>> {
        self.0.get(id).map(|m| &m.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::sim::{SimConfig, Simulator};

    fn three() -> [Arc<Market>; 3] {
        let listed = Simulator::new(SimConfig { seed: 3, markets: 3, ..SimConfig::default() }).markets();
        [listed[0].clone(), listed[1].clone(), listed[2].clone()]
    }

    #[test]
    fn a_market_listed_twice_is_kept_once_at_its_first_place_as_its_later_copy() {
        let [a, b, c] = three();
        let relisted = Arc::new(Market { question: "relisted".into(), ..Market::clone(&a) });
        let kept = one_per_market(vec![a.clone(), b.clone(), relisted.clone(), c.clone(), b.clone()]);
        assert_eq!(kept, [relisted, b, c]);
    }

    #[test]
    fn the_index_finds_each_market_by_its_id_and_nothing_else() {
        let [a, b, c] = three();
        let (kept, listed) = Listed::one_per_market(vec![a.clone(), b.clone()]);
        assert!(kept.iter().zip([&a, &b]).all(|(k, m)| Arc::ptr_eq(k, m)), "the listing as it came");
        assert!(Arc::ptr_eq(listed.get(&a.id).unwrap(), &a));
        assert!(Arc::ptr_eq(listed.get(&b.id).unwrap(), &b));
        assert!(listed.get(&c.id).is_none());
        assert!(listed.get("").is_none());
    }

    /// With a market listed twice, the listing is `one_per_market`'s and the index finds the
    /// copy that stands there, the later one.
    #[test]
    fn the_index_of_a_listing_with_a_market_twice_finds_the_copy_that_stands() {
        let [a, b, c] = three();
        let relisted = Arc::new(Market { question: "relisted".into(), ..Market::clone(&a) });
        let listing = vec![a.clone(), b.clone(), relisted.clone(), c.clone(), b.clone()];
        let (kept, listed) = Listed::one_per_market(listing.clone());
        assert_eq!(kept, one_per_market(listing));
        assert_eq!(kept.len(), 3);
        for m in &kept {
            assert!(Arc::ptr_eq(listed.get(&m.id).unwrap(), m), "{}", m.question);
        }
        assert!(Arc::ptr_eq(listed.get(&a.id).unwrap(), &relisted));
    }
}
