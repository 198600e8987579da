//! Lab jobs the dashboard starts: backtests, comparisons and sweeps, queued and run one at a
//! time on a thread of their own at the lowest priority (the bot's trading comes first), each
//! with its progress; what they produce goes to the results store.

use super::backtest::Backtest;
use super::results::ResultsStore;
use super::sweep::Sweep;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Finished jobs kept in the list (their results stay in the results store regardless).
const KEEP_FINISHED: usize = 50;

/// What a job runs.
#[derive(Debug, Clone)]
pub enum JobSpec {
    /// One run per backtest (several simulator seeds, say).
    Backtests(Vec<Backtest>),
    /// A and B on the same data, per pair.
    Comparisons(Vec<(Backtest, Backtest)>),
    Sweep(Box<Sweep>),
}

impl JobSpec {
    fn kind(&self) -> &'static str {
        match self {
            Self::Backtests(_) => "backtest",
            Self::Comparisons(_) => "comparison",
            Self::Sweep(_) => "sweep",
        }
    }

    fn steps(&self) -> usize {
        match self {
            Self::Backtests(v) => v.len(),
            Self::Comparisons(v) => v.len() * 2,
            Self::Sweep(_) => 1,
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

/// What a job produced, in the results store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum JobResult {
    Run(u64),
    Comparison(u64),
    Sweep(u64),
}

/// A job and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    pub id: u64,
    pub kind: &'static str,
    pub label: String,
    pub state: JobState,
    /// The run in progress (from 1) of `steps`, and its progress in its own units.
    pub step: usize,
    pub steps: usize,
    pub done: u64,
    pub total: u64,
    pub error: Option<String>,
    pub results: Vec<JobResult>,
    /// Wall clock, Unix ms.
    pub submitted_ms: i64,
    pub finished_ms: Option<i64>,
}

impl JobStatus {
    /// Progress over the whole job, percent.
    #[must_use]
    pub fn percent(&self) -> u8 {
        match self.state {
            JobState::Done => 100,
            JobState::Queued | JobState::Failed if self.step == 0 => 0,
            _ => {
                let steps = self.steps.max(1) as u64;
                let within = (self.done.min(self.total) * 100).checked_div(self.total).unwrap_or(0);
                let whole = (self.step.saturating_sub(1) as u64 * 100 + within) / steps;
                u8::try_from(whole.min(100)).unwrap_or(100)
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    jobs: BTreeMap<u64, JobStatus>,
    queue: VecDeque<(u64, JobSpec)>,
    stop: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    results: ResultsStore,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut JobStatus)) {
        if let Some(job) = self.state().jobs.get_mut(&id) {
            f(job);
        }
    }
}

/// The lab's job queue and its worker thread. Dropping it lets the worker finish the job in
/// hand and stop.
#[derive(Debug)]
pub struct Jobs {
    shared: Arc<Shared>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Jobs {
    /// Starts the worker; results go to `results`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(results: ResultsStore) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { next: 1, ..State::default() }),
            wake: Condvar::new(),
            results,
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new().name("lab-jobs".into()).spawn(move || work(&worker))?;
        Ok(Self { shared })
    }

    /// The results store the jobs write to.
    #[must_use]
    pub fn results(&self) -> &ResultsStore {
        &self.shared.results
    }

    /// Queues a job.
    pub fn submit(&self, label: &str, spec: JobSpec) -> JobStatus {
        let mut state = self.shared.state();
        let id = state.next;
        state.next += 1;
        let status = JobStatus {
            id,
            kind: spec.kind(),
            label: label.to_owned(),
            state: JobState::Queued,
            step: 0,
            steps: spec.steps(),
            done: 0,
            total: 0,
            error: None,
            results: Vec::new(),
            submitted_ms: now_ms(),
            finished_ms: None,
        };
        state.jobs.insert(id, status.clone());
        state.queue.push_back((id, spec));
        // Forget the oldest finished jobs beyond what the list keeps.
        let finished: Vec<u64> = state
            .jobs
            .values()
            .filter(|j| matches!(j.state, JobState::Done | JobState::Failed))
            .map(|j| j.id)
            .collect();
        for old in finished.iter().take(finished.len().saturating_sub(KEEP_FINISHED)) {
            state.jobs.remove(old);
        }
        drop(state);
        self.shared.wake.notify_all();
        status
    }

    /// Every job kept, newest first.
    #[must_use]
    pub fn list(&self) -> Vec<JobStatus> {
        self.shared.state().jobs.values().rev().cloned().collect()
    }

    /// One job.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<JobStatus> {
        self.shared.state().jobs.get(&id).cloned()
    }

    /// Waits until no job is queued or running (tests, and a clean exit).
    pub fn wait_idle(&self) {
        let mut state = self.shared.state();
        while !state.queue.is_empty() || state.jobs.values().any(|j| j.state == JobState::Running) {
            state = self.shared.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        self.shared.state().stop = true;
        self.shared.wake.notify_all();
    }
}

fn work(shared: &Shared) {
    super::yield_to_trading();
    crate::logging::quiet_thread();
    work_with(shared, run);
}

/// The worker's loop, running each job with `run`. A panic in a job (a bug in the host) fails
/// that job with its message; the worker goes on with the next, where it would otherwise have
/// died with the job still shown running and every later job left queued for ever.
fn work_with(shared: &Shared, run: impl Fn(&Shared, u64, &JobSpec) -> super::Result<()>) {
    loop {
        let (id, spec) = {
            let mut state = shared.state();
            loop {
                if state.stop {
                    return;
                }
                if let Some(next) = state.queue.pop_front() {
                    if let Some(j) = state.jobs.get_mut(&next.0) {
                        j.state = JobState::Running;
                    }
                    break next;
                }
                state = shared.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(shared, id, &spec)))
            .unwrap_or_else(|panic| Err(super::LabError::Internal(crate::engine::panic_message(panic))));
        shared.update(id, |j| {
            j.finished_ms = Some(now_ms());
            match outcome {
                Ok(()) => j.state = JobState::Done,
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "lab job failed");
                    j.state = JobState::Failed;
                    j.error = Some(e.to_string());
                }
            }
        });
        shared.wake.notify_all();
    }
}

/// Runs one job, step by step, storing each result as it comes.
fn run(shared: &Shared, id: u64, spec: &JobSpec) -> super::Result<()> {
    let step = |n: usize| shared.update(id, |j| (j.step, j.done, j.total) = (n, 0, 0));
    let progress = |done: u64, total: u64| shared.update(id, |j| (j.done, j.total) = (done, total));
    let add = |r: JobResult| shared.update(id, |j| j.results.push(r));
    match spec {
        JobSpec::Backtests(runs) => {
            for (i, bt) in runs.iter().enumerate() {
                step(i + 1);
                let mut report = bt.run(&progress)?;
                add(JobResult::Run(shared.results.put(&mut report)?));
            }
        }
        JobSpec::Comparisons(pairs) => {
            for (i, (a, b)) in pairs.iter().enumerate() {
                let (a, b) = a.clone().compared_with(b.clone());
                step(2 * i + 1);
                let mut ra = a.run(&progress)?;
                step(2 * i + 2);
                let mut rb = b.run(&progress)?;
                let label = a.label.trim_end_matches(" A").to_owned();
                let c = shared.results.put_comparison(&label, &mut ra, &mut rb)?;
                add(JobResult::Comparison(c.id));
            }
        }
        JobSpec::Sweep(sweep) => {
            step(1);
            let mut outcome = sweep.run(&progress)?;
            add(JobResult::Sweep(shared.results.put_sweep(&mut outcome)?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that panics (a host bug) fails with the panic's message, and the worker goes on:
    /// the next job runs and `wait_idle` returns.
    #[test]
    fn a_job_that_panics_fails_alone_and_the_next_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { next: 1, ..State::default() }),
            wake: Condvar::new(),
            results: ResultsStore::open(dir.path()).unwrap(),
        });
        let worker = Arc::clone(&shared);
        std::thread::spawn(move || {
            work_with(&worker, |_, id, _| if id == 1 { panic!("a bug in job {id}") } else { Ok(()) });
        });
        let jobs = Jobs { shared };
        let (first, second) = (
            jobs.submit("a", JobSpec::Backtests(Vec::new())),
            jobs.submit("b", JobSpec::Backtests(Vec::new())),
        );
        // Without the catch the worker dies and this waits for ever: a minute stands for that.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            jobs.wait_idle();
            let _ = tx.send(jobs);
        });
        let jobs = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the worker went on");
        let first = jobs.get(first.id).unwrap();
        assert_eq!(first.state, JobState::Failed);
        let error = first.error.unwrap();
        assert!(error.contains("internal error") && error.contains("a bug in job 1"), "{error}");
        assert_eq!(jobs.get(second.id).unwrap().state, JobState::Done);
    }

    #[test]
    fn progress_runs_over_the_steps_of_a_job() {
        let mut j = JobStatus {
            id: 1,
            kind: "comparison",
            label: String::new(),
            state: JobState::Queued,
            step: 0,
            steps: 2,
            done: 0,
            total: 0,
            error: None,
            results: Vec::new(),
            submitted_ms: 0,
            finished_ms: None,
        };
        assert_eq!(j.percent(), 0);
        j.state = JobState::Running;
        (j.step, j.done, j.total) = (1, 50, 100);
        assert_eq!(j.percent(), 25);
        (j.step, j.done, j.total) = (2, 100, 100);
        assert_eq!(j.percent(), 100);
        j.state = JobState::Done;
        assert_eq!(j.percent(), 100);
    }
}
