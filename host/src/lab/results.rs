//! The results store: every backtest run with its figures, positions, trades and decisions, and
//! every sweep's table, in `<data dir>/lab/results.redb`, so the dashboard and later tools can
//! show them.

use super::backtest::RunReport;
use super::sweep::{SweepOutcome, SweepReport};
use super::{LabError, Result};
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use std::path::{Path, PathBuf};

/// Run id → JSON [`RunReport`] without its positions, trades and decisions.
const RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("runs");
/// Sweep id → JSON [`SweepReport`] (its rows name their runs).
const SWEEPS: TableDefinition<u64, &[u8]> = TableDefinition::new("sweeps");
/// (run id, position id) → JSON position.
const RUN_POSITIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("run_positions");
/// (run id, trade id) → JSON trade.
const RUN_TRADES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("run_trades");
/// (run id, sequence) → JSON decision.
const RUN_DECISIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("run_decisions");

/// A run's rows of one table, decoded, in key order.
fn rows_of<T: serde::de::DeserializeOwned>(
    path: &Path,
    txn: &redb::ReadTransaction,
    table: TableDefinition<(u64, u64), &[u8]>,
    run: u64,
) -> Result<Vec<T>> {
    let err = db_error(path);
    let table = txn.open_table(table).map_err(|e| err(e.into()))?;
    let mut out = Vec::new();
    for row in table.range((run, 0)..=(run, u64::MAX)).map_err(|e| err(e.into()))? {
        let (k, v) = row.map_err(|e| err(e.into()))?;
        let (run, n) = k.value();
        out.push(
            serde_json::from_slice(v.value())
                .map_err(|e| LabError::Invalid(format!("results store: run {run} row {n}: {e}")))?,
        );
    }
    Ok(out)
}

/// Backtest results on disk.
#[derive(Debug)]
pub struct ResultsStore {
    db: Database,
    path: PathBuf,
}

fn db_error(path: &Path) -> impl Fn(redb::Error) -> LabError + '_ {
    move |e| LabError::Io { path: path.to_owned(), reason: e.to_string() }
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

impl ResultsStore {
    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens (or creates) the results store in a data directory.
    ///
    /// # Errors
    /// The file cannot be created or opened.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join("lab").join("results.redb");
        let dir = path.parent().unwrap_or(data_dir);
        std::fs::create_dir_all(dir)
            .map_err(|e| LabError::Io { path: dir.to_owned(), reason: e.to_string() })?;
        let db = Database::create(&path).map_err(|e| db_error(&path)(e.into()))?;
        Ok(Self { db, path })
    }

    /// Stores a run and gives it its id.
    ///
    /// # Errors
    /// redb failures; nothing is stored then.
    pub fn put(&self, report: &mut RunReport) -> Result<u64> {
        let err = db_error(&self.path);
        let txn = self.db.begin_write().map_err(|e| err(e.into()))?;
        let id = self.insert_run(&txn, report)?;
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(id)
    }

    /// Stores a sweep and all its runs in one transaction, giving each its id.
    ///
    /// # Errors
    /// redb failures; nothing is stored then.
    pub fn put_sweep(&self, outcome: &mut SweepOutcome) -> Result<u64> {
        let err = db_error(&self.path);
        let txn = self.db.begin_write().map_err(|e| err(e.into()))?;
        for (row, (train, held)) in outcome.report.rows.iter_mut().zip(&mut outcome.runs) {
            row.train_run = Some(self.insert_run(&txn, train)?);
            if let Some(held) = held {
                row.holdout_run = Some(self.insert_run(&txn, held)?);
            }
        }
        let id = {
            let mut sweeps = txn.open_table(SWEEPS).map_err(|e| err(e.into()))?;
            let id = sweeps.last().map_err(|e| err(e.into()))?.map_or(1, |(k, _)| k.value() + 1);
            outcome.report.id = Some(id);
            sweeps.insert(id, json(&outcome.report).as_slice()).map_err(|e| err(e.into()))?;
            id
        };
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(id)
    }

    /// A stored sweep (its table; the runs are stored runs of their own).
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn sweep(&self, id: u64) -> Result<Option<SweepReport>> {
        let err = db_error(&self.path);
        let txn = self.db.begin_read().map_err(|e| err(e.into()))?;
        let Ok(sweeps) = txn.open_table(SWEEPS) else { return Ok(None) };
        let Some(v) = sweeps.get(id).map_err(|e| err(e.into()))? else { return Ok(None) };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| LabError::Invalid(format!("results store: sweep {id}: {e}")))
    }

    /// Writes a run's rows into an open transaction and gives it its id.
    fn insert_run(&self, txn: &redb::WriteTransaction, report: &mut RunReport) -> Result<u64> {
        let err = db_error(&self.path);
        let mut runs = txn.open_table(RUNS).map_err(|e| err(e.into()))?;
        let id = runs.last().map_err(|e| err(e.into()))?.map_or(1, |(k, _)| k.value() + 1);
        report.id = Some(id);
        let mut head = report.clone();
        head.positions.clear();
        head.trades.clear();
        head.decisions.clear();
        runs.insert(id, json(&head).as_slice()).map_err(|e| err(e.into()))?;
        let mut positions = txn.open_table(RUN_POSITIONS).map_err(|e| err(e.into()))?;
        for pos in &report.positions {
            positions.insert((id, pos.id), json(pos).as_slice()).map_err(|e| err(e.into()))?;
        }
        let mut trades = txn.open_table(RUN_TRADES).map_err(|e| err(e.into()))?;
        for t in &report.trades {
            trades.insert((id, t.id), json(t).as_slice()).map_err(|e| err(e.into()))?;
        }
        let mut decisions = txn.open_table(RUN_DECISIONS).map_err(|e| err(e.into()))?;
        for (i, d) in report.decisions.iter().enumerate() {
            decisions.insert((id, i as u64), json(d).as_slice()).map_err(|e| err(e.into()))?;
        }
        Ok(id)
    }

    /// A stored run, whole.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn get(&self, id: u64) -> Result<Option<RunReport>> {
        let err = db_error(&self.path);
        let txn = self.db.begin_read().map_err(|e| err(e.into()))?;
        let Ok(runs) = txn.open_table(RUNS) else { return Ok(None) };
        let Some(head) = runs.get(id).map_err(|e| err(e.into()))? else { return Ok(None) };
        let mut report: RunReport = serde_json::from_slice(head.value())
            .map_err(|e| LabError::Invalid(format!("results store: run {id}: {e}")))?;
        report.positions = rows_of(&self.path, &txn, RUN_POSITIONS, id)?;
        report.trades = rows_of(&self.path, &txn, RUN_TRADES, id)?;
        report.decisions = rows_of(&self.path, &txn, RUN_DECISIONS, id)?;
        Ok(Some(report))
    }

    /// Every run's summary (no positions, trades or decisions), oldest first.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn list(&self) -> Result<Vec<RunReport>> {
        let err = db_error(&self.path);
        let txn = self.db.begin_read().map_err(|e| err(e.into()))?;
        let Ok(runs) = txn.open_table(RUNS) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in runs.iter().map_err(|e| err(e.into()))? {
            let (k, v) = row.map_err(|e| err(e.into()))?;
            out.push(
                serde_json::from_slice(v.value())
                    .map_err(|e| LabError::Invalid(format!("results store: run {}: {e}", k.value())))?,
            );
        }
        Ok(out)
    }
}
