//! Compiled functions kept in memory by Cranelift's cache key, so a rebuilt plugin compiles only
//! the functions that changed (a Python component's 18 MB interpreter is the same in every build).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::CacheStore;

/// Bytes of compiled functions kept, at most. A Python component's functions take 27 MB (31 MB
/// after a rebuild), a Rust plugin's about 0.25 MB (`docs/benchmarks.md`): a generation holds
/// two Python builds.
pub(crate) const BUDGET_BYTES: usize = 128 << 20;

/// Two generations, so the least recently used half goes first without bookkeeping per entry:
/// entries are written to the young one, an old entry read is moved to it, and when the young
/// one reaches half the budget it becomes the old one and the old one is dropped.
#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Vec<u8>, Vec<u8>>,
    young_bytes: usize,
    old: HashMap<Vec<u8>, Vec<u8>>,
    old_bytes: usize,
}

/// The cache an engine compiles through (`Config::enable_incremental_compilation`).
#[derive(Debug)]
pub(crate) struct FunctionCache {
    budget: usize,
    generations: Mutex<Generations>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl FunctionCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            generations: Mutex::new(Generations::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Functions found and not found so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Bytes held (keys and compiled code).
    pub(crate) fn bytes(&self) -> usize {
        let g = self.lock();
        g.young_bytes + g.old_bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps stay consistent whatever a panicking holder was doing: each step is one
        // insert or remove.
        self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Generations {
    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>, budget: usize) {
        let key_len = key.len();
        let size = key_len + value.len();
        if self.young_bytes + size > budget / 2 {
            self.old = std::mem::take(&mut self.young);
            self.old_bytes = std::mem::take(&mut self.young_bytes);
        }
        self.young_bytes += size;
        if let Some(previous) = self.young.insert(key, value) {
            self.young_bytes -= key_len + previous.len();
        }
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let mut g = self.lock();
        let found = if let Some(v) = g.young.get(key) {
            Some(v.clone())
        } else if let Some(v) = g.old.remove(key) {
            g.old_bytes = g.old_bytes.saturating_sub(key.len() + v.len());
            let copy = v.clone();
            g.insert(key.to_vec(), v, self.budget);
            Some(copy)
        } else {
            None
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        if key.len() + value.len() > self.budget / 2 {
            return false;
        }
        self.lock().insert(key.to_vec(), value, self.budget);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_was_read_recently_and_stays_within_its_budget() {
        // Room for two 10-byte entries (key + value) per generation.
        let cache = FunctionCache::new(40);
        assert!(cache.insert(b"a", vec![0; 9]));
        assert!(cache.insert(b"b", vec![1; 9]));
        assert_eq!(cache.get(b"a").as_deref(), Some(&[0; 9][..]));
        // The young generation is full: "a" and "b" become the old one.
        assert!(cache.insert(b"c", vec![2; 9]));
        // Reading "b" brings it back to the young generation, so it outlives the next turn.
        assert_eq!(cache.get(b"b").as_deref(), Some(&[1; 9][..]));
        assert!(cache.insert(b"d", vec![3; 9]));
        assert_eq!(cache.get(b"a"), None, "the least recently used entry went first");
        assert_eq!(cache.get(b"b").as_deref(), Some(&[1; 9][..]));
        assert_eq!(cache.get(b"d").as_deref(), Some(&[3; 9][..]));
        // Larger than a generation: refused rather than emptying the cache for it.
        assert!(!cache.insert(b"e", vec![4; 30]));
        assert_eq!(cache.counts(), (4, 1));
        // "d" and "b" young, "c" old.
        assert_eq!(cache.bytes(), 30);
    }
}
