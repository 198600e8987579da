//! The host's side of the dashboard's Lab: stored results read back for the pages, jobs started
//! from the browser, recordings listed, and the live history's positions attributed.

mod form;
mod recordings;
#[cfg(test)]
mod tests;
mod views;

use crate::engine::{Engine, TrendsConfig};
use crate::lab::{Jobs, LabError, ResultsStore, attribute, diff_runs, summarise};
use crate::plugins::{PluginOptions, Plugins};
use equilibrage_web::{
    BackendError, BackendResult, CalibrationView, ComparisonSummary, ComparisonView, JobView, Lab,
    LabJobForm, LabOverview, PluginFileView, PositionDetail, RunView, SweepView, VersionPnlView,
};
use std::path::PathBuf;
use std::sync::Mutex;

/// A position's chart shows its market this long before entry and after its close.
const QUOTES_AROUND_MS: i64 = 3_600_000;
/// The live history attributed on the Lab page: the most recent closed positions.
const LIVE_ATTRIBUTED: usize = 2_000;

/// The lab the dashboard drives.
#[derive(Debug)]
pub struct HostLab {
    jobs: Jobs,
    data_dir: PathBuf,
    /// The bot's plugin options (its plugin directory, compile cache and limits).
    plugins: PluginOptions,
    runtime: Plugins,
    engine: Engine,
    trends: TrendsConfig,
    /// Where recordings are, and the one being written now.
    recordings: PathBuf,
    active_recording: Option<PathBuf>,
    counts: recordings::Counts,
    /// Calibrations of finished recordings: directory → (bytes when read, calibration).
    calibrated: Mutex<std::collections::HashMap<PathBuf, (u64, crate::lab::Calibration)>>,
    /// Plugin directories made for queued jobs, removed once their job is over.
    work: Mutex<Vec<(u64, PathBuf)>>,
}

fn lab_error(e: LabError) -> BackendError {
    match e {
        LabError::Invalid(m) => BackendError::invalid(m),
        other => BackendError::Internal(other.to_string()),
    }
}

impl HostLab {
    /// The lab of the bot whose data directory is `data_dir`, running jobs on a thread of its
    /// own.
    ///
    /// # Errors
    /// The results store cannot be opened, or the thread cannot start.
    pub fn start(
        data_dir: PathBuf,
        plugins: PluginOptions,
        runtime: Plugins,
        engine: Engine,
        trends: TrendsConfig,
        active_recording: Option<PathBuf>,
    ) -> Result<Self, LabError> {
        let results = ResultsStore::open(&data_dir)?;
        let jobs = Jobs::start(results)
            .map_err(|e| LabError::Invalid(format!("starting the lab's job thread: {e}")))?;
        let recordings = data_dir.join("recordings");
        // Plugin directories of jobs a previous run of the bot left behind.
        let _ = std::fs::remove_dir_all(data_dir.join("lab").join("work"));
        Ok(Self {
            jobs,
            data_dir,
            plugins,
            runtime,
            engine,
            trends,
            recordings,
            active_recording,
            counts: recordings::Counts::default(),
            calibrated: Mutex::default(),
            work: Mutex::new(Vec::new()),
        })
    }

    /// The lab's job queue (tests wait on it).
    #[must_use]
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    fn results_store(&self) -> &ResultsStore {
        self.jobs.results()
    }

    /// Removes the plugin directories of jobs that are over.
    fn sweep_work(&self) {
        let mut work = self.work.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        work.retain(|(job, dir)| {
            let live = self.jobs.get(*job).is_some_and(|j| j.finished_ms.is_none());
            if !live {
                let _ = std::fs::remove_dir_all(dir);
            }
            live
        });
    }

    /// Attribution of the live history's most recent closed positions, and their P&L by the
    /// plugin versions that decided them.
    fn live_attribution(&self) -> BackendResult<(crate::lab::AttributionSummary, Vec<VersionPnlView>)> {
        let read = self.engine.store_read().map_err(|e| BackendError::Internal(e.to_string()))?;
        let mut closed: Vec<crate::store::Position> =
            read.positions().map_err(|e| BackendError::Internal(e.to_string()))?;
        closed.retain(|p| !p.status.is_open());
        closed.sort_by_key(|p| std::cmp::Reverse(p.closed_at_ms.unwrap_or(p.opened_at_ms)));
        closed.truncate(LIVE_ATTRIBUTED);
        let mut all = Vec::with_capacity(closed.len());
        let mut by_version: std::collections::BTreeMap<
            (&str, Option<String>),
            (usize, rust_decimal::Decimal),
        > = std::collections::BTreeMap::new();
        for p in &closed {
            let trades = read.trades_of(p.id).map_err(|e| BackendError::Internal(e.to_string()))?;
            let quotes = read
                .prices(&p.market_id, p.opened_at_ms - QUOTES_AROUND_MS, p.opened_at_ms + QUOTES_AROUND_MS)
                .map_err(|e| BackendError::Internal(e.to_string()))?;
            let Some(a) = attribute(p, &trades, &quotes, None) else { continue };
            // The rules version of its first exit by the rules (a sale with a version named).
            let rules = trades
                .iter()
                .find(|t| t.action == crate::store::Action::Sell && t.decided_by.is_some())
                .and_then(|t| t.decided_by.clone());
            for key in [("scorer", p.scorer.clone()), ("liquidation-rules", rules)] {
                let slot = by_version.entry(key).or_default();
                slot.0 += 1;
                slot.1 += a.pnl;
            }
            all.push(a);
        }
        let rows = by_version
            .into_iter()
            .map(|((kind, version), (positions, pnl))| VersionPnlView {
                kind: kind.to_owned(),
                version,
                positions,
                pnl,
            })
            .collect();
        Ok((summarise(&all), rows))
    }
}

impl Lab for HostLab {
    fn overview(&self) -> BackendResult<LabOverview> {
        let (live, live_by_version) = self.live_attribution()?;
        Ok(LabOverview {
            recordings: self.recordings(),
            plugin_files: self.plugin_files(),
            base_settings: form::setting_lines(&form::base_settings(&self.engine)),
            live_attribution: views::totals(&live),
            live_by_version,
            ..self.results()?
        })
    }

    fn results(&self) -> BackendResult<LabOverview> {
        let results = self.results_store();
        let mut runs = results.list().map_err(lab_error)?;
        runs.reverse();
        let pnl_of =
            |id: u64| runs.iter().find(|r| r.id == Some(id)).map(|r| r.metrics.pnl).unwrap_or_default();
        let comparisons = results
            .comparisons()
            .map_err(lab_error)?
            .into_iter()
            .map(|c| ComparisonSummary {
                id: c.id,
                label: c.label.clone(),
                a: c.a,
                b: c.b,
                pnl_a: pnl_of(c.a),
                pnl_b: pnl_of(c.b),
                source: runs.iter().find(|r| r.id == Some(c.a)).map(|r| r.source.clone()).unwrap_or_default(),
            })
            .collect();
        let sweeps = results.sweeps().map_err(lab_error)?.iter().map(views::sweep_summary).collect();
        Ok(LabOverview {
            runs: runs.iter().map(views::summary).collect(),
            comparisons,
            sweeps,
            jobs: self.jobs.list().iter().map(views::job).collect(),
            ..LabOverview::default()
        })
    }

    fn run(&self, id: u64) -> BackendResult<RunView> {
        let report = self
            .results_store()
            .get_without_decisions(id)
            .map_err(lab_error)?
            .ok_or_else(|| BackendError::NotFound(format!("no backtest run {id}")))?;
        Ok(views::run(&report))
    }

    fn comparison(&self, id: u64) -> BackendResult<ComparisonView> {
        let results = self.results_store();
        let c = results
            .comparison(id)
            .map_err(lab_error)?
            .ok_or_else(|| BackendError::NotFound(format!("no comparison {id}")))?;
        let get = |run: u64| {
            results
                .get_without_decisions(run)
                .map_err(lab_error)?
                .ok_or_else(|| BackendError::NotFound(format!("comparison {id}: run {run} is gone")))
        };
        let (a, b) = (get(c.a)?, get(c.b)?);
        Ok(ComparisonView {
            id,
            label: c.label,
            diff: diff_runs(&a, &b).into_iter().map(views::diff_row).collect(),
            a: views::run(&a),
            b: views::run(&b),
        })
    }

    fn sweep(&self, id: u64) -> BackendResult<SweepView> {
        let s = self
            .results_store()
            .sweep(id)
            .map_err(lab_error)?
            .ok_or_else(|| BackendError::NotFound(format!("no sweep {id}")))?;
        Ok(views::sweep(&s))
    }

    fn calibration(&self, run: u64) -> BackendResult<CalibrationView> {
        let c = self.results_store().calibration(run).map_err(lab_error)?.ok_or_else(|| {
            BackendError::NotFound(format!("run {run} was not calibrated (the runs of sweeps are not)"))
        })?;
        Ok(views::calibration(Some(run), &c.summarise()))
    }

    fn live_calibration(&self) -> BackendResult<CalibrationView> {
        Ok(views::calibration(None, &self.own_calibration()?.summarise()))
    }

    fn position(&self, run: Option<u64>, id: u64) -> BackendResult<PositionDetail> {
        let missing = || BackendError::NotFound(format!("no position {id}"));
        match run {
            Some(run) => {
                let results = self.results_store();
                let report = results
                    .get_without_decisions(run)
                    .map_err(lab_error)?
                    .ok_or_else(|| BackendError::NotFound(format!("no backtest run {run}")))?;
                let p = report.positions.iter().find(|p| p.id == id).ok_or_else(missing)?;
                let quotes = results.quotes(run, id).map_err(lab_error)?;
                let a = report.attribution.iter().find(|a| a.position_id == id);
                Ok(views::position_detail(Some(run), p, &report.trades, &quotes, a))
            }
            None => {
                let internal = |e: crate::store::StoreError| BackendError::Internal(e.to_string());
                let read = self.engine.store_read().map_err(internal)?;
                let p = read.position(id).map_err(internal)?.ok_or_else(missing)?;
                let trades = read.trades_of(id).map_err(internal)?;
                let end = p.closed_at_ms.unwrap_or_else(|| self.engine.now_ms());
                let quotes = read
                    .prices(&p.market_id, p.opened_at_ms - QUOTES_AROUND_MS, end + QUOTES_AROUND_MS)
                    .map_err(internal)?;
                let a = attribute(&p, &trades, &quotes, None);
                Ok(views::position_detail(None, &p, &trades, &quotes, a.as_ref()))
            }
        }
    }

    fn start(&self, form: &LabJobForm) -> BackendResult<JobView> {
        self.sweep_work();
        let (label, spec, dirs) = self.job_spec(form)?;
        let status = self.jobs.submit(&label, spec);
        self.work
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(dirs.into_iter().map(|d| (status.id, d)));
        Ok(views::job(&status))
    }

    fn upload_plugin(&self, name: &str, bytes: &[u8]) -> BackendResult<PluginFileView> {
        self.upload(name, bytes)
    }

    fn jobs(&self) -> Vec<JobView> {
        self.jobs.list().iter().map(views::job).collect()
    }

    fn job(&self, id: u64) -> BackendResult<JobView> {
        self.jobs
            .get(id)
            .map(|j| views::job(&j))
            .ok_or_else(|| BackendError::NotFound(format!("no job {id}")))
    }
}
