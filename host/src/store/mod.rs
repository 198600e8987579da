//! Durable storage on redb: typed tables of JSON records, snapshot reads from any thread, and
//! every write serialized through one writer thread, one transaction per closure.

mod codec;
mod error;
mod journal;
mod memory_prices;
mod memory_whales;
mod migrate;
mod packed_point;
mod query;
mod reader;
mod records;
mod tables;
#[cfg(test)]
mod tests;
mod writer;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle, ThreadId};

use redb::{Database, ReadableDatabase};

use journal::JournalCache;
use memory_prices::MemoryPrices;
use memory_whales::MemoryWhales;

pub use error::{Result, StoreError};
pub use reader::{Reader, StoredPluginParams};
pub use records::*;
use writer::LazyTxn;
pub use writer::{Sequence, Writer};

/// The current schema version: what [`Reader::schema_version`] reports once the store is open.
pub const SCHEMA_VERSION: u32 = migrate::CURRENT;

/// A unit of work for the writer thread.
type Job = Box<dyn FnOnce(&Database) + Send>;

/// The bot's database. Cheap to clone; the database closes and the writer thread ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    /// `None` only while dropping, and for a store that writes inline.
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    /// The writer thread; `None` for an in-memory store, which writes on the caller's thread
    /// (redb itself lets one write transaction run at a time).
    writer_id: Option<ThreadId>,
    /// What an in-memory store keeps out of redb; `None` for a file store.
    memory: Option<Arc<InMemory>>,
    /// The order journal as of the last commit ([`Store::journal`]).
    journal: Arc<JournalCache>,
    /// Committed writes that put a trade ([`Store::trade_writes`]).
    trade_writes: Arc<AtomicU64>,
}

/// What an in-memory store keeps out of redb, decoded: its price history (`memory_prices`) and
/// its whale records (`memory_whales`).
#[derive(Debug, Default)]
struct InMemory {
    prices: MemoryPrices,
    whales: MemoryWhales,
}

/// The changes a write makes to an in-memory store's [`InMemory`], applied when it commits.
#[derive(Debug, Default)]
struct Staged {
    prices: Vec<memory_prices::PriceChange>,
    whales: memory_whales::StagedWhales,
}

impl InMemory {
    /// Takes in a committed write's changes.
    fn apply(&self, staged: Staged) {
        self.prices.apply(staged.prices);
        self.whales.apply(staged.whales);
    }
}

thread_local! {
    /// Set while an inline write runs on this thread: a write from inside it is nested.
    static IN_INLINE_WRITE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// The database's page cache.
const CACHE_BYTES: usize = 16 << 20;

impl Store {
    /// Opens or creates the database file (creating parent dirs), checks the schema version and
    /// runs migrations, and starts the single writer thread.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the directory or file cannot be created or opened (another process
    /// holding it, say); [`StoreError::TooNew`] for a file from a newer version, left untouched;
    /// [`StoreError::Corrupt`] or [`StoreError::Database`] if a migration fails, nothing changed.
    pub fn open(path: &Path) -> Result<Self> {
        let open_error = |reason: String| StoreError::Open { path: path.to_owned(), reason };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.to_string()))?;
        }
        migrate::refuse_too_new(path)?;
        // redb caches up to 1 GiB by default; the bot's working set is positions, the journal and
        // the last scan, and the memory budget is the whole process's (docs/benchmarks.md).
        let db = Arc::new(
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(path)
                .map_err(|e| open_error(redb::Error::from(e).to_string()))?,
        );
        if let Some(found) = migrate::run(&db)?.filter(|v| *v != migrate::CURRENT) {
            tracing::info!(path = %path.display(), from = found, to = migrate::CURRENT, "database migrated");
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let writer_db = Arc::clone(&db);
        let journal = Arc::new(JournalCache::default());
        let trade_writes = Arc::new(AtomicU64::new(0));
        let writer = thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                for job in queue {
                    job(&writer_db);
                }
            })
            .map_err(|e| open_error(format!("cannot start the writer thread: {e}")))?;
        let writer_id = writer.thread().id();
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path: path.to_owned(),
                jobs: Some(jobs),
                writer: Some(writer),
                writer_id: Some(writer_id),
                memory: None,
                journal,
                trade_writes,
            }),
        })
    }

    /// A store in memory that writes on the caller's thread: a backtest's, where nothing must
    /// outlive the run, no write may wait on another thread (a replay must not depend on when
    /// a thread wakes), and durability would only cost time. Its price history is kept in
    /// chunks by market rather than in redb (`memory_prices`): a scan records hundreds of points,
    /// and a B-tree copies a page per market for them at every commit. Its whale records are
    /// kept decoded (`memory_whales`): a scan's whale trades rewrite records that grow with
    /// every market a wallet trades.
    ///
    /// # Errors
    /// redb failures creating the tables.
    pub fn in_memory() -> Result<Self> {
        Self::in_memory_with(InMemory::default())
    }

    /// A store in memory as [`Store::in_memory`], whose price history keeps each market's
    /// newest point only until the market has a position, and its whole history from then on:
    /// a sweep's variants', whose engines never read their history back (`engine::trends`) and
    /// whose reports read only each position's quotes at its entry and liquidation, which such a
    /// history gives as the whole one does (`memory_prices::MemoryPrices::lean`).
    ///
    /// # Errors
    /// redb failures creating the tables.
    pub fn in_memory_lean() -> Result<Self> {
        Self::in_memory_with(InMemory { prices: MemoryPrices::lean(), whales: MemoryWhales::default() })
    }

    fn in_memory_with(memory: InMemory) -> Result<Self> {
        let db = Arc::new(
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(|e| StoreError::Open {
                    path: PathBuf::from(":memory:"),
                    reason: redb::Error::from(e).to_string(),
                })?,
        );
        migrate::run(&db)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path: PathBuf::from(":memory:"),
                jobs: None,
                writer: None,
                writer_id: None,
                memory: Some(Arc::new(memory)),
                journal: Arc::default(),
                trade_writes: Arc::default(),
            }),
        })
    }

    /// Whether the store lives in memory only (a backtest's): nothing written outlives the run.
    #[must_use]
    pub fn is_in_memory(&self) -> bool {
        self.inner.writer_id.is_none()
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A consistent snapshot; never blocks and is never blocked by the writer (redb MVCC).
    ///
    /// # Errors
    /// redb failures starting a read transaction.
    pub fn read(&self) -> Result<Reader> {
        Ok(Reader::new(self.inner.db.begin_read()?, self.inner.memory.clone()))
    }

    /// The orders journalled and not yet settled, as [`Reader::intents`] gives them as of the
    /// last committed write. Read from the database only after a write changed the journal
    /// (the engine asks at every evaluation; the journal changes when an order is sent or
    /// settled).
    ///
    /// # Errors
    /// As [`Reader::intents`].
    pub fn journal(&self) -> Result<Arc<[Intent]>> {
        self.inner.journal.get(|| self.read()?.intents())
    }

    /// How many committed writes have put a trade since the store was opened: a reader that
    /// found nothing left to do with the trades need not read them again while this stays the
    /// same. Taken before reading, it errs on the side of reading again.
    #[must_use]
    pub fn trade_writes(&self) -> u64 {
        self.inner.trade_writes.load(Ordering::Acquire)
    }

    /// Runs `f` on the writer thread inside ONE write transaction and commits it durably before
    /// returning; if `f` returns Err the transaction is aborted and nothing is written.
    ///
    /// Dropping the future does not cancel the write: once submitted, it runs and commits.
    ///
    /// # Errors
    /// Whatever `f` returned; redb failures committing; [`StoreError::WritePanicked`] if `f`
    /// panicked; [`StoreError::NestedWrite`] if called from inside a write closure;
    /// [`StoreError::WriterStopped`] if the writer thread is gone.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: for<'a> FnOnce(&mut Writer<'a>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if self.inner.writer_id.is_none() {
            return self.write_inline(f);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(f, move |result| {
            // The caller may have stopped waiting; the write stands regardless.
            let _ = reply.send(result);
        })?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// The same for synchronous callers (must not be called from inside a tokio runtime worker).
    ///
    /// # Errors
    /// As [`Store::write`].
    pub fn write_blocking<R, F>(&self, f: F) -> Result<R>
    where
        F: for<'a> FnOnce(&mut Writer<'a>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if self.inner.writer_id.is_none() {
            return self.write_inline(f);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit(f, move |result| {
            let _ = reply.send(result);
        })?;
        answer.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// Runs `f` now, on this thread (in-memory stores).
    fn write_inline<R, F>(&self, f: F) -> Result<R>
    where
        F: for<'a> FnOnce(&mut Writer<'a>) -> Result<R>,
    {
        if IN_INLINE_WRITE.with(std::cell::Cell::get) {
            return Err(StoreError::NestedWrite);
        }
        IN_INLINE_WRITE.with(|w| w.set(true));
        // Inline writes are the in-memory store's: nothing outlives the process, so a commit
        // need not be made durable.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let inner = &*self.inner;
            let kept = Kept { journal: &inner.journal, trade_writes: &inner.trade_writes };
            transact(&inner.db, redb::Durability::None, inner.memory.as_deref(), kept, f)
        }))
        .unwrap_or(Err(StoreError::WritePanicked));
        IN_INLINE_WRITE.with(|w| w.set(false));
        result
    }

    /// Queues `f` for the writer thread; `reply` receives its outcome.
    fn submit<R, F>(&self, f: F, reply: impl FnOnce(Result<R>) + Send + 'static) -> Result<()>
    where
        F: for<'a> FnOnce(&mut Writer<'a>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if Some(thread::current().id()) == self.inner.writer_id {
            return Err(StoreError::NestedWrite);
        }
        let (journal, trade_writes) = (Arc::clone(&self.inner.journal), Arc::clone(&self.inner.trade_writes));
        let job: Job = Box::new(move |db| {
            // A panicking closure must not take the writer thread, and every later write, with it.
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                let kept = Kept { journal: &journal, trade_writes: &trade_writes };
                transact(db, redb::Durability::Immediate, None, kept, f)
            }))
            .unwrap_or(Err(StoreError::WritePanicked));
            reply(result);
        });
        let jobs = self.inner.jobs.as_ref().ok_or(StoreError::WriterStopped)?;
        jobs.send(job).map_err(|_| StoreError::WriterStopped)
    }
}

/// What the store keeps of its tables between writes, which a committed write updates: the
/// journal's cache and the count of writes that put a trade.
#[derive(Clone, Copy)]
struct Kept<'a> {
    journal: &'a JournalCache,
    trade_writes: &'a AtomicU64,
}

/// Runs `f` in a new write transaction: commits with `durability` on `Ok` (`Immediate` for
/// the file, `None` for the in-memory store), aborts on `Err`. An in-memory store's price
/// history and whale records take the write's changes once the rest has committed, and so do
/// what the store keeps of its tables ([`Kept`]). The database's transaction begins when `f`
/// first opens a table: a write that opens none commits nothing to the database.
fn transact<R>(
    db: &Database,
    durability: redb::Durability,
    memory: Option<&InMemory>,
    kept: Kept<'_>,
    f: impl for<'a> FnOnce(&mut Writer<'a>) -> Result<R>,
) -> Result<R> {
    let txn = LazyTxn::new(db, durability);
    let mut writer = Writer::new(&txn, memory);
    let outcome = f(&mut writer);
    let staged = writer.take_staged();
    let (journal_changed, trades_changed) = (writer.changed_journal(), writer.changed_trades());
    drop(writer);
    match (outcome, txn.begun()) {
        (Ok(value), txn) => {
            if let Some(txn) = txn {
                let committed = txn.commit();
                // Told even after a failed commit: what it left is the database's to say.
                if journal_changed {
                    kept.journal.changed();
                }
                if trades_changed {
                    kept.trade_writes.fetch_add(1, Ordering::AcqRel);
                }
                committed?;
            }
            if let Some(memory) = memory {
                memory.apply(staged);
            }
            Ok(value)
        }
        (Err(error), txn) => {
            if let Some(Err(abort)) = txn.map(redb::WriteTransaction::abort) {
                tracing::warn!(%abort, "aborting a failed write");
            }
            Err(error)
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the writer loop once the queued jobs are done; waiting for it
        // releases the file, so the store can be reopened at once. The last clone may be dropped
        // by a job on the writer thread itself, which must not wait for itself.
        self.jobs = None;
        if let Some(writer) = self.writer.take()
            && writer.thread().id() != thread::current().id()
            && writer.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}
