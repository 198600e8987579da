//! The order journal as of the last commit, kept between reads until a write changes it: the
//! engine asks which positions have an order journalled at every evaluation and sweep, and the
//! journal changes only when an order is sent or settled.

use std::sync::{Arc, Mutex, PoisonError};

use super::{Intent, Result};

/// The intents last read, and how many committed writes have changed the journal.
#[derive(Debug, Default)]
pub(super) struct JournalCache(Mutex<Cached>);

#[derive(Debug, Default)]
struct Cached {
    /// Committed writes that changed the journal, so far.
    changes: u64,
    /// The journal as read since the last of them, if it was.
    intents: Option<Arc<[Intent]>>,
}

impl JournalCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The journal: kept since the last change, or `read` from the database now.
    ///
    /// What `read` finds is kept only if no write changed the journal meanwhile: a read begun
    /// before such a write committed may have seen the journal before it.
    pub(super) fn get(&self, read: impl FnOnce() -> Result<Vec<Intent>>) -> Result<Arc<[Intent]>> {
        let changes = {
            let cached = self.lock();
            if let Some(intents) = &cached.intents {
                return Ok(Arc::clone(intents));
            }
            cached.changes
        };
        let intents: Arc<[Intent]> = read()?.into();
        let mut cached = self.lock();
        if cached.changes == changes {
            cached.intents = Some(Arc::clone(&intents));
        }
        Ok(intents)
    }

    /// A write that changed the journal committed: the next [`get`](Self::get) reads it again.
    pub(super) fn changed(&self) {
        let mut cached = self.lock();
        cached.changes += 1;
        cached.intents = None;
    }
}
