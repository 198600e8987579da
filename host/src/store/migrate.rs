//! The schema version in the `meta` table and the migrations that bring an older file up to it.
//!
//! Version 1 had every table but `trades_by_position`; version 2 adds that index; version 3
//! adds `market_makers`, the index of whales flagged as market makers.

use std::path::Path;

use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableHandle, WriteTransaction};

use super::codec::{corrupt, decode};
use super::query::TradeOwner;
use super::tables::{self, MARKET_MAKERS, META, TRADES, TRADES_BY_POSITION, WHALES};
use super::{Result, StoreError};

/// The layout this build reads and writes.
pub(crate) const CURRENT: u32 = 3;

/// The key of the version in [`META`].
pub(crate) const VERSION_KEY: &str = "schema_version";

/// A step from version `n` to `n + 1`, at index `n - 1`.
type Migration = fn(&WriteTransaction) -> Result<()>;

const MIGRATIONS: [Migration; 2] = [v1_to_v2, v2_to_v3];

/// The version stored in `meta`, if any.
///
/// # Errors
/// redb failures; [`StoreError::Corrupt`] for a version that does not fit a `u32`.
pub(crate) fn read_version(
    meta: &(impl ReadableTable<&'static str, u64> + TableHandle),
) -> Result<Option<u32>> {
    match meta.get(VERSION_KEY)? {
        Some(v) => u32::try_from(v.value())
            .map(Some)
            .map_err(|_| corrupt(meta.name(), &VERSION_KEY, format!("{} is not a version", v.value()))),
        None => Ok(None),
    }
}

/// Refuses a file written by a newer version before it is opened for writing, which would
/// already touch it. Only a read-only open is attempted here; a file that cannot be opened so
/// (absent, empty, needing recovery) is left to [`run`], which checks again.
///
/// # Errors
/// [`StoreError::TooNew`].
pub(crate) fn refuse_too_new(path: &Path) -> Result<()> {
    if !path.metadata().is_ok_and(|m| m.len() > 0) {
        return Ok(());
    }
    let Ok(db) = ReadOnlyDatabase::open(path) else { return Ok(()) };
    let found = match db.begin_read().map(|txn| txn.open_table(META)) {
        Ok(Ok(meta)) => read_version(&meta).ok().flatten(),
        _ => None,
    };
    match found {
        Some(found) if found > CURRENT => Err(StoreError::TooNew { found, supported: CURRENT }),
        _ => Ok(()),
    }
}

/// Brings the database to [`CURRENT`] in one transaction: stamps a new file, runs the
/// migrations an older one needs, refuses a newer one without writing. Returns the version found.
///
/// # Errors
/// [`StoreError::TooNew`]; [`StoreError::Corrupt`] for a file with tables but no version or a
/// record a migration cannot read; redb failures. Nothing is written when it fails.
pub(crate) fn run(db: &Database) -> Result<Option<u32>> {
    let txn = db.begin_write()?;
    match upgrade(&txn) {
        Ok(found) => {
            txn.commit()?;
            Ok(found)
        }
        Err(error) => {
            if let Err(abort) = txn.abort() {
                tracing::warn!(%abort, "aborting the failed schema upgrade");
            }
            Err(error)
        }
    }
}

/// The work of [`run`], inside its transaction.
fn upgrade(txn: &WriteTransaction) -> Result<Option<u32>> {
    let found = read_version(&txn.open_table(META)?)?;
    match found {
        Some(found) if found > CURRENT => return Err(StoreError::TooNew { found, supported: CURRENT }),
        Some(0) => return Err(corrupt(META.name(), &VERSION_KEY, "version 0")),
        Some(found) => {
            let first =
                usize::try_from(found - 1).map_err(|e| corrupt(META.name(), &VERSION_KEY, e.to_string()))?;
            for (step, migrate) in MIGRATIONS.iter().enumerate().skip(first) {
                tracing::info!(from = step + 1, to = step + 2, "migrating the database schema");
                migrate(txn)?;
            }
        }
        None => {
            if txn.list_tables()?.any(|table| table.name() != META.name()) {
                return Err(corrupt(META.name(), &VERSION_KEY, "missing in a database that has tables"));
            }
        }
    }
    tables::create_all(txn)?;
    if found != Some(CURRENT) {
        txn.open_table(META)?.insert(VERSION_KEY, u64::from(CURRENT))?;
    }
    Ok(found)
}

/// Builds the trades-by-position index from the stored trades.
fn v1_to_v2(txn: &WriteTransaction) -> Result<()> {
    let trades = txn.open_table(TRADES)?;
    let mut index = txn.open_table(TRADES_BY_POSITION)?;
    for entry in trades.iter()? {
        let (id, value) = entry?;
        let owner: TradeOwner = decode(trades.name(), &id.value(), value.value())?;
        index.insert((owner.position_id, id.value()), ())?;
    }
    Ok(())
}

/// A stored whale record's market-maker flag, without decoding its market activity.
#[derive(serde::Deserialize)]
struct MakerFlag {
    #[serde(default)]
    market_maker: bool,
}

/// Builds the market-maker index from the whales' stored flags.
fn v2_to_v3(txn: &WriteTransaction) -> Result<()> {
    let whales = txn.open_table(WHALES)?;
    let mut index = txn.open_table(MARKET_MAKERS)?;
    for entry in whales.iter()? {
        let (address, value) = entry?;
        let flag: MakerFlag = decode(whales.name(), &address.value(), value.value())?;
        if flag.market_maker {
            index.insert(address.value(), ())?;
        }
    }
    Ok(())
}
