//! The store's error type: what went wrong opening, reading or writing the database.

use std::path::PathBuf;

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be created or opened (permissions, another process holds it…).
    #[error("cannot open the database {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// redb failed: I/O, a damaged file, a table of the wrong type.
    #[error("database error: {0}")]
    Database(String),
    /// A stored value that does not decode into its record type.
    #[error("corrupt record in table `{table}` at key {key}: {reason}")]
    Corrupt { table: String, key: String, reason: String },
    /// A value that cannot be stored faithfully (a float that is not finite, say); nothing of the
    /// transaction is written.
    #[error("cannot store the value for table `{table}` at key {key}: {reason}")]
    Invalid { table: String, key: String, reason: String },
    /// The file was written by a newer version of equilibrage; it was left untouched.
    #[error("the database has schema version {found}, newer than the {supported} this build supports")]
    TooNew { found: u32, supported: u32 },
    /// A write closure gave up on purpose; its transaction was rolled back.
    #[error("write aborted: {0}")]
    Aborted(String),
    /// The writer thread is gone, so nothing can be written any more.
    #[error("the store's writer thread has stopped")]
    WriterStopped,
    /// A write closure panicked; its transaction was rolled back and the writer carries on.
    #[error("a write closure panicked; its transaction was rolled back")]
    WritePanicked,
    /// A write was requested from inside a write closure, which would wait on itself forever.
    #[error("a write cannot be started from inside another write")]
    NestedWrite,
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Every redb error type becomes [`StoreError::Database`] with redb's own message.
macro_rules! from_redb {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for StoreError {
            fn from(error: $error) -> Self {
                Self::Database(redb::Error::from(error).to_string())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);

impl From<redb::Error> for StoreError {
    fn from(error: redb::Error) -> Self {
        Self::Database(error.to_string())
    }
}
