//! The strategy lab: recordings of what the engine sees and decides, a replay venue, and
//! backtests that run the same engine on recorded (or simulated) time.

pub(crate) mod attribution;
mod backtest;
mod calibration;
mod codec;
mod diff;
mod driver;
mod export;
mod jobs;
mod live_calibration;
mod metrics;
mod overrides;
mod record;
mod recorder;
pub mod recording;
mod replay;
mod results;
mod segment;
mod shadow;
mod stats;
mod sweep;
#[cfg(test)]
mod tests;

pub use attribution::{Attribution, AttributionSummary, attribute, quote_at, summarise};
pub use backtest::{Backtest, DataSource, RunReport, RunStats, Schedule, TimedDecision};
pub use calibration::{Bucket, Calibration, CalibrationSummary, CandidateOutcome};
pub use diff::{DiffRow, diff_runs};
pub use export::{Exported, export_recording, export_run, export_sweep};
pub use jobs::{JobResult, JobSpec, JobState, JobStatus, Jobs};
pub use live_calibration::calibrate_recording;
pub use metrics::Metrics;
pub use overrides::Overrides;
pub use record::{Record, Timed};
pub use recorder::{RecordSink, Recorder, RecorderConfig, RecorderStats};
pub use replay::ReplayVenue;
pub use results::{Comparison, ResultsStore};
pub use segment::{Ending, FORMAT_VERSION, SegmentHeader, read_header, read_segment};
pub use shadow::{
    EntryDiff, PaperPair, PickTotal, Picker, Picks, RulesDiff, RulesShadow, SAME_ACTIVITY, STAKE,
    ScorerShadow, ShadowIdentity, ShadowReport, ShadowRunner, SideTrack, SignalShadow, Sold, Track,
};
pub use stats::{Estimate, spearman};
pub use sweep::{Axis, Objective, Range, Space, Sweep, SweepOutcome, SweepReport, SweepRow};

use std::path::PathBuf;

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{} is not an equilibrage recording (no recording header)", path.display())]
    NotARecording { path: PathBuf },
    #[error(
        "{} is recording format version {version}; this build reads versions 1 to {supported} (a newer equilibrage wrote it)",
        path.display()
    )]
    UnknownVersion { path: PathBuf, version: u16, supported: u16 },
    #[error("{} is corrupt at byte offset {offset}: {reason}", path.display())]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("{} is cut short at byte offset {offset}: {reason}", path.display())]
    Truncated { path: PathBuf, offset: u64, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("engine: {0}")]
    Engine(#[from] crate::engine::EngineError),
    #[error("storage: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("plugins: {0}")]
    Plugin(#[from] crate::plugins::PluginError),
    /// A panic in the host's own code (a bug), caught so that it ends one job, not the lab.
    #[error("stopped by an internal error (a bug in equilibrage, please report it): {0}")]
    Internal(String),
}

/// Result of a lab operation.
pub type Result<T, E = LabError> = std::result::Result<T, E>;

/// Gives the calling thread (the recorder's, a lab job's) the lowest scheduling priority of a
/// normal thread, so that on a busy machine it works when the trading threads leave a core free,
/// not in their way.
pub(crate) fn yield_to_trading() {
    #[cfg(target_os = "linux")]
    {
        #[allow(unsafe_code, reason = "setpriority(2) is a plain syscall on the calling thread")]
        // SAFETY: no memory is passed; on Linux the nice value is per thread, and `who = 0` with
        // PRIO_PROCESS names the calling thread.
        let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        if done != 0 {
            tracing::debug!("a lab thread runs at normal priority (setpriority refused)");
        }
    }
}
