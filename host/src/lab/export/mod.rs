//! Parquet export of recordings, backtest runs and sweeps, for pandas, polars and DuckDB: one
//! file per table in a directory, money as exact `decimal(38, 12)`, times as UTC timestamps
//! (the schema is in docs/lab.md).

mod decisions;
mod recording;
mod results;
mod table;

pub use recording::export_recording;
pub use results::{export_run, export_sweep};

use super::{LabError, Result};
use crate::exchange::{BookSide, Side};
use std::path::{Path, PathBuf};
use table::Table;

/// A file written, and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub path: PathBuf,
    pub rows: u64,
}

pub(crate) fn out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::Io { path: dir.to_owned(), reason: e.to_string() })
}

pub(crate) fn closed(tables: Vec<Table>) -> Result<Vec<Exported>> {
    tables.into_iter().map(|t| t.close().map(|(path, rows)| Exported { path, rows })).collect()
}

/// An enum's name as it serializes (`"settle"`, `"stop_loss"`).
pub(crate) fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub(crate) const fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

pub(crate) const fn book_side(s: BookSide) -> &'static str {
    match s {
        BookSide::Bids => "bid",
        BookSide::Asks => "ask",
    }
}

#[cfg(test)]
mod tests;
