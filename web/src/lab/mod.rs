//! The strategy lab in the dashboard: the Lab page (`/lab`: recordings, results, new backtests,
//! comparisons and sweeps with their progress), a result's pages (A vs B, a sweep's table), a
//! position's detail with its chart and attribution, and the same under `/api/lab`.

mod api;
mod charts;
mod model;
mod pages;
#[cfg(test)]
mod tests;
mod views;

pub use model::*;

use crate::backend::{BackendError, BackendResult};
use crate::{AppState, Backend};
use axum::Router;
use std::sync::Arc;

/// What the lab pages need from the host. Every call may read the disk: the web layer makes
/// them off the async workers.
pub trait Lab: Send + Sync + 'static {
    /// Recordings, results, jobs, and what a new job can choose from.
    fn overview(&self) -> BackendResult<LabOverview>;
    /// The stored runs, comparisons and sweeps, and the jobs: the overview without what is
    /// slower to gather (recordings, plugin files, the live attribution), polled while jobs run.
    fn results(&self) -> BackendResult<LabOverview>;
    /// One stored run.
    fn run(&self, id: u64) -> BackendResult<RunView>;
    /// One stored comparison, with its diff.
    fn comparison(&self, id: u64) -> BackendResult<ComparisonView>;
    /// One stored sweep's table.
    fn sweep(&self, id: u64) -> BackendResult<SweepView>;
    /// A run's score calibration.
    fn calibration(&self, run: u64) -> BackendResult<CalibrationView>;
    /// The score calibration of the bot's own history, from its recordings.
    fn live_calibration(&self) -> BackendResult<CalibrationView>;
    /// A position of a run, or of the live history when `run` is `None`.
    fn position(&self, run: Option<u64>, id: u64) -> BackendResult<PositionDetail>;
    /// Queues a backtest, comparison or sweep; every field is checked first.
    fn start(&self, form: &LabJobForm) -> BackendResult<JobView>;
    /// Adds a candidate plugin file (`NAME.wasm`), checked like any plugin first.
    fn upload_plugin(&self, name: &str, bytes: &[u8]) -> BackendResult<PluginFileView>;
    /// A job's progress.
    fn job(&self, id: u64) -> BackendResult<JobView>;
    /// Every job kept, newest first (cheap: polled every second while one runs).
    fn jobs(&self) -> Vec<JobView>;
}

/// The lab, or why there is none.
fn lab_of<B: Backend>(backend: &B) -> BackendResult<Arc<dyn Lab>> {
    backend.lab().ok_or_else(|| BackendError::Unavailable("the strategy lab is not running".into()))
}

/// Calls the lab off the async workers (its reads go to disk).
async fn call<B, T, F>(backend: &Arc<B>, f: F) -> BackendResult<T>
where
    B: Backend,
    T: Send + 'static,
    F: FnOnce(&dyn Lab) -> BackendResult<T> + Send + 'static,
{
    let lab = lab_of(backend.as_ref())?;
    match tokio::task::spawn_blocking(move || f(lab.as_ref())).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().merge(pages::routes::<B>()).merge(api::routes::<B>())
}
