//! Hash maps for the hot paths keyed by venue ids (token ids are 77-digit strings): foldhash,
//! several times cheaper than the standard library's SipHash on such keys, still seeded per map.

/// A `HashMap` hashed with foldhash; make one with `default()` or `with_capacity_and_hasher`.
pub(crate) type FastHashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A `HashSet` hashed with foldhash.
pub(crate) type FastHashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
