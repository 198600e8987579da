//! The results store: every backtest run with its figures, positions, trades, decisions and
//! quotes, every comparison and every sweep's table, in `<data dir>/lab/results.redb`, so the
//! dashboard and later tools can show them.
//!
//! The file is opened for each operation and closed after it: the running bot's Lab page, a
//! backtest it runs and an `equilibrage backtest` in a terminal all use it, and redb lets one
//! process at a time hold a database open. A caller that finds it held waits (up to
//! [`WAIT_FOR_FILE`]) for the other to finish.

use super::backtest::RunReport;
use super::calibration::Calibration;
use super::sweep::{SweepOutcome, SweepReport};
use super::{LabError, Result};
use crate::store::PricePoint;
use redb::{Database, DatabaseError, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Run id → JSON [`RunReport`] without its positions, trades and decisions.
const RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("runs");
/// Sweep id → JSON [`SweepReport`] (its rows name their runs).
const SWEEPS: TableDefinition<u64, &[u8]> = TableDefinition::new("sweeps");
/// Comparison id → JSON [`Comparison`].
const COMPARISONS: TableDefinition<u64, &[u8]> = TableDefinition::new("comparisons");
/// (run id, position id) → JSON position.
const RUN_POSITIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("run_positions");
/// (run id, trade id) → JSON trade.
const RUN_TRADES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("run_trades");
/// (run id, sequence) → JSON decision.
const RUN_DECISIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("run_decisions");
/// (run id, position id) → JSON list of the position's market quotes over its life.
const RUN_QUOTES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("run_quotes");

/// Run id → JSON [`Calibration`] of its scored candidates.
const RUN_CALIBRATION: TableDefinition<u64, &[u8]> = TableDefinition::new("run_calibration");

/// How long an operation waits for another process (or thread) to let go of the file.
const WAIT_FOR_FILE: Duration = Duration::from_secs(30);

/// Two runs of one comparison, on the same data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub id: u64,
    pub label: String,
    pub a: u64,
    pub b: u64,
}

/// One operation at a time within this process; other processes are waited for.
static IN_PROCESS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Backtest results on disk.
#[derive(Debug, Clone)]
pub struct ResultsStore {
    path: PathBuf,
}

fn io(path: &Path) -> impl Fn(redb::Error) -> LabError + '_ {
    move |e| LabError::Io { path: path.to_owned(), reason: e.to_string() }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: impl FnOnce() -> String) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| LabError::Invalid(format!("results store: {}: {e}", what())))
}

/// A run's rows of one table, decoded, in key order.
fn rows_of<T: serde::de::DeserializeOwned>(
    path: &Path,
    txn: &redb::ReadTransaction,
    table: TableDefinition<(u64, u64), &[u8]>,
    run: u64,
) -> Result<Vec<T>> {
    let err = io(path);
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(err(e.into())),
    };
    let mut out = Vec::new();
    for row in table.range((run, 0)..=(run, u64::MAX)).map_err(|e| err(e.into()))? {
        let (k, v) = row.map_err(|e| err(e.into()))?;
        let (run, n) = k.value();
        out.push(decode(v.value(), || format!("run {run} row {n}"))?);
    }
    Ok(out)
}

/// Every value of a table keyed by id, decoded, oldest first.
fn all_of<T: serde::de::DeserializeOwned>(
    path: &Path,
    txn: &redb::ReadTransaction,
    table: TableDefinition<u64, &[u8]>,
    what: &str,
) -> Result<Vec<T>> {
    let err = io(path);
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(err(e.into())),
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(|e| err(e.into()))? {
        let (k, v) = row.map_err(|e| err(e.into()))?;
        out.push(decode(v.value(), || format!("{what} {}", k.value()))?);
    }
    Ok(out)
}

/// One value of a table keyed by id.
fn one_of<T: serde::de::DeserializeOwned>(
    path: &Path,
    txn: &redb::ReadTransaction,
    table: TableDefinition<u64, &[u8]>,
    id: u64,
    what: &str,
) -> Result<Option<T>> {
    let err = io(path);
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(err(e.into())),
    };
    let Some(v) = table.get(id).map_err(|e| err(e.into()))? else { return Ok(None) };
    decode(v.value(), || format!("{what} {id}")).map(Some)
}

/// The next id of a table keyed by id.
fn next_id(path: &Path, table: &redb::Table<'_, u64, &[u8]>) -> Result<u64> {
    Ok(table.last().map_err(|e| io(path)(e.into()))?.map_or(1, |(k, _)| k.value() + 1))
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
        let store = Self { path };
        store.with_db(|_| Ok(()))?;
        Ok(store)
    }

    /// Runs `f` on the open database, waiting for whoever holds it.
    fn with_db<T>(&self, f: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let _one = IN_PROCESS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let db = loop {
            match Database::create(&self.path) {
                Ok(db) => break db,
                Err(DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < WAIT_FOR_FILE => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(LabError::Io {
                        path: self.path.clone(),
                        reason: format!(
                            "held open by another process for over {} s (a backtest or sweep still writing?)",
                            WAIT_FOR_FILE.as_secs()
                        ),
                    });
                }
                Err(e) => return Err(io(&self.path)(e.into())),
            }
        };
        f(&db)
    }

    fn read<T>(&self, f: impl FnOnce(&redb::ReadTransaction) -> Result<T>) -> Result<T> {
        self.with_db(|db| {
            let txn = db.begin_read().map_err(|e| io(&self.path)(e.into()))?;
            f(&txn)
        })
    }

    fn write<T>(&self, f: impl FnOnce(&redb::WriteTransaction) -> Result<T>) -> Result<T> {
        self.with_db(|db| {
            let err = io(&self.path);
            let txn = db.begin_write().map_err(|e| err(e.into()))?;
            let out = f(&txn)?;
            txn.commit().map_err(|e| err(e.into()))?;
            Ok(out)
        })
    }

    /// Stores a run and gives it its id.
    ///
    /// # Errors
    /// redb failures; nothing is stored then.
    pub fn put(&self, report: &mut RunReport) -> Result<u64> {
        self.write(|txn| self.insert_run(txn, report))
    }

    /// Stores two runs on the same data as a comparison, giving each its id.
    ///
    /// # Errors
    /// redb failures; nothing is stored then.
    pub fn put_comparison(&self, label: &str, a: &mut RunReport, b: &mut RunReport) -> Result<Comparison> {
        self.write(|txn| {
            let a = self.insert_run(txn, a)?;
            let b = self.insert_run(txn, b)?;
            let mut table = txn.open_table(COMPARISONS).map_err(|e| io(&self.path)(e.into()))?;
            let c = Comparison { id: next_id(&self.path, &table)?, label: label.to_owned(), a, b };
            table.insert(c.id, json(&c).as_slice()).map_err(|e| io(&self.path)(e.into()))?;
            Ok(c)
        })
    }

    /// Stores a sweep and all its runs in one transaction, giving each its id.
    ///
    /// # Errors
    /// redb failures; nothing is stored then.
    pub fn put_sweep(&self, outcome: &mut SweepOutcome) -> Result<u64> {
        self.write(|txn| {
            let err = io(&self.path);
            for (row, (train, held)) in outcome.report.rows.iter_mut().zip(&mut outcome.runs) {
                row.train_run = Some(self.insert_run(txn, train)?);
                if let Some(held) = held {
                    row.holdout_run = Some(self.insert_run(txn, held)?);
                }
            }
            let mut sweeps = txn.open_table(SWEEPS).map_err(|e| err(e.into()))?;
            let id = next_id(&self.path, &sweeps)?;
            outcome.report.id = Some(id);
            sweeps.insert(id, json(&outcome.report).as_slice()).map_err(|e| err(e.into()))?;
            Ok(id)
        })
    }

    /// Writes a run's rows into an open transaction and gives it its id.
    fn insert_run(&self, txn: &redb::WriteTransaction, report: &mut RunReport) -> Result<u64> {
        let err = io(&self.path);
        let mut runs = txn.open_table(RUNS).map_err(|e| err(e.into()))?;
        let id = next_id(&self.path, &runs)?;
        report.id = Some(id);
        runs.insert(id, json(&head_of(report)).as_slice()).map_err(|e| err(e.into()))?;
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
        let mut quotes = txn.open_table(RUN_QUOTES).map_err(|e| err(e.into()))?;
        for (position, points) in &report.quotes {
            quotes.insert((id, *position), json(points).as_slice()).map_err(|e| err(e.into()))?;
        }
        if let Some(c) = &report.calibration {
            let mut table = txn.open_table(RUN_CALIBRATION).map_err(|e| err(e.into()))?;
            table.insert(id, json(c).as_slice()).map_err(|e| err(e.into()))?;
        }
        Ok(id)
    }

    /// A stored sweep (its table; the runs are stored runs of their own).
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn sweep(&self, id: u64) -> Result<Option<SweepReport>> {
        self.read(|txn| one_of(&self.path, txn, SWEEPS, id, "sweep"))
    }

    /// Every sweep's table, oldest first.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn sweeps(&self) -> Result<Vec<SweepReport>> {
        self.read(|txn| all_of(&self.path, txn, SWEEPS, "sweep"))
    }

    /// A stored comparison.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn comparison(&self, id: u64) -> Result<Option<Comparison>> {
        self.read(|txn| one_of(&self.path, txn, COMPARISONS, id, "comparison"))
    }

    /// Every comparison, oldest first.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn comparisons(&self) -> Result<Vec<Comparison>> {
        self.read(|txn| all_of(&self.path, txn, COMPARISONS, "comparison"))
    }

    /// A stored run, whole (its quotes apart: [`Self::quotes`]).
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn get(&self, id: u64) -> Result<Option<RunReport>> {
        self.read(|txn| {
            let Some(mut report) = one_of::<RunReport>(&self.path, txn, RUNS, id, "run")? else {
                return Ok(None);
            };
            report.positions = rows_of(&self.path, txn, RUN_POSITIONS, id)?;
            report.trades = rows_of(&self.path, txn, RUN_TRADES, id)?;
            report.decisions = rows_of(&self.path, txn, RUN_DECISIONS, id)?;
            Ok(Some(report))
        })
    }

    /// A stored run's figures, positions, trades and attribution, without its decisions.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn get_without_decisions(&self, id: u64) -> Result<Option<RunReport>> {
        self.read(|txn| {
            let Some(mut report) = one_of::<RunReport>(&self.path, txn, RUNS, id, "run")? else {
                return Ok(None);
            };
            report.positions = rows_of(&self.path, txn, RUN_POSITIONS, id)?;
            report.trades = rows_of(&self.path, txn, RUN_TRADES, id)?;
            Ok(Some(report))
        })
    }

    /// A position's market quotes over its life, as the run stored them (empty for runs stored
    /// before quotes were kept).
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn quotes(&self, run: u64, position: u64) -> Result<Vec<PricePoint>> {
        self.read(|txn| {
            let err = io(&self.path);
            let table = match txn.open_table(RUN_QUOTES) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(err(e.into())),
            };
            match table.get((run, position)).map_err(|e| err(e.into()))? {
                Some(v) => decode(v.value(), || format!("run {run} quotes of position {position}")),
                None => Ok(Vec::new()),
            }
        })
    }

    /// A run's calibration data, when it was calibrated.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn calibration(&self, run: u64) -> Result<Option<Calibration>> {
        self.read(|txn| one_of(&self.path, txn, RUN_CALIBRATION, run, "calibration of run"))
    }

    /// Every run's summary (no positions, trades, decisions or attribution rows), oldest first.
    ///
    /// # Errors
    /// redb failures, or a record that does not decode.
    pub fn list(&self) -> Result<Vec<RunReport>> {
        self.read(|txn| {
            let mut runs: Vec<RunReport> = all_of(&self.path, txn, RUNS, "run")?;
            for r in &mut runs {
                r.attribution.clear();
            }
            Ok(runs)
        })
    }
}

/// A run's head row: everything but its rows of positions, trades, decisions and quotes.
fn head_of(report: &RunReport) -> RunReport {
    RunReport {
        positions: Vec::new(),
        trades: Vec::new(),
        decisions: Vec::new(),
        quotes: Vec::new(),
        calibration: None,
        ..report.clone()
    }
}
