//! One global budget of failed access-token attempts (a token bucket), shared by `/login` and the API.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Wrong tokens allowed in a row from a full budget. The server usually sees every client as
/// 127.0.0.1, so the budget is global, not per address.
pub(crate) const FAILURE_BURST: u32 = 10;

/// The budget regains one failure this often: 10 guesses a minute at most once the burst is
/// spent, and the longest wait for someone who then types the right token.
pub(crate) const FAILURE_REFILL: Duration = Duration::from_secs(6);

/// Where the limiter reads the time: the monotonic clock, or a test's own.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Refused without checking the token: the budget is spent until `retry_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, rounded up and at least 1: the `Retry-After` value.
    pub(crate) fn secs(self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }

    /// What to tell the client: "too many failed attempts; try again in 6 seconds".
    pub(crate) fn message(self) -> String {
        match self.secs() {
            1 => "too many failed attempts; try again in 1 second".to_owned(),
            n => format!("too many failed attempts; try again in {n} seconds"),
        }
    }
}

/// A token bucket over failures, kept as one instant (the generic cell rate algorithm): when
/// the bucket will be full again. Each failure moves it [`FAILURE_REFILL`] later; an attempt is
/// allowed while one more failure would keep it within [`FAILURE_BURST`] refills of now.
pub(crate) struct FailureLimiter {
    clock: Clock,
    full_at: Mutex<Instant>,
}

impl std::fmt::Debug for FailureLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureLimiter").field("full_at", &self.full_at).finish_non_exhaustive()
    }
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::with_clock(Arc::new(Instant::now))
    }
}

impl FailureLimiter {
    /// A full budget, on `clock`.
    pub(crate) fn with_clock(clock: Clock) -> Self {
        let now = clock();
        Self { clock, full_at: Mutex::new(now) }
    }

    /// Runs `check` unless the budget is spent, and answers its verdict; a `false` spends one
    /// failure, a `true` nothing. `check` runs under the lock (it is one SHA-256), so concurrent
    /// guesses cannot overdraw the budget.
    pub(crate) fn attempt(&self, check: impl FnOnce() -> bool) -> Result<bool, Limited> {
        let now = (self.clock)();
        let mut full_at = self.full_at.lock().unwrap_or_else(PoisonError::into_inner);
        // How far from full the bucket would be after one more failure.
        let owed = full_at.saturating_duration_since(now) + FAILURE_REFILL;
        let capacity = FAILURE_REFILL * FAILURE_BURST;
        if owed > capacity {
            return Err(Limited { retry_after: owed - capacity });
        }
        let ok = check();
        if !ok {
            *full_at = now + owed;
        }
        Ok(ok)
    }
}

/// A clock tests move by hand.
#[cfg(test)]
#[derive(Debug, Clone)]
pub(crate) struct ManualClock(Arc<Mutex<Instant>>);

#[cfg(test)]
impl ManualClock {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub(crate) fn clock(&self) -> Clock {
        let now = Arc::clone(&self.0);
        Arc::new(move || *now.lock().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> (ManualClock, FailureLimiter) {
        let clock = ManualClock::new();
        let limiter = FailureLimiter::with_clock(clock.clock());
        (clock, limiter)
    }

    #[test]
    fn a_burst_of_failures_then_one_per_refill() {
        let (clock, l) = limiter();
        for i in 0..FAILURE_BURST {
            assert_eq!(l.attempt(|| false), Ok(false), "failure {i} is within the burst");
        }
        let mut checked = false;
        let refused = l.attempt(|| {
            checked = true;
            true
        });
        assert_eq!(refused, Err(Limited { retry_after: FAILURE_REFILL }));
        assert!(!checked, "a refused attempt is not even checked");

        clock.advance(FAILURE_REFILL - Duration::from_millis(1));
        assert_eq!(l.attempt(|| true), Err(Limited { retry_after: Duration::from_millis(1) }));
        clock.advance(Duration::from_millis(1));
        assert_eq!(l.attempt(|| false), Ok(false), "one failure regained");
        assert!(l.attempt(|| true).is_err(), "and spent");

        clock.advance(FAILURE_REFILL * FAILURE_BURST);
        for _ in 0..FAILURE_BURST {
            assert_eq!(l.attempt(|| false), Ok(false), "a full burst again after a quiet spell");
        }
        assert!(l.attempt(|| false).is_err());
    }

    #[test]
    fn successes_cost_nothing() {
        let (_, l) = limiter();
        for _ in 0..10 * FAILURE_BURST {
            assert_eq!(l.attempt(|| true), Ok(true));
        }
        for _ in 0..FAILURE_BURST {
            assert_eq!(l.attempt(|| false), Ok(false));
        }
        assert!(l.attempt(|| true).is_err());
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        let limited = |ms| Limited { retry_after: Duration::from_millis(ms) };
        assert_eq!(limited(6000).secs(), 6);
        assert_eq!(limited(5001).secs(), 6);
        assert_eq!(limited(1).secs(), 1);
        assert_eq!(limited(0).secs(), 1);
        assert_eq!(limited(1000).message(), "too many failed attempts; try again in 1 second");
        assert_eq!(limited(5500).message(), "too many failed attempts; try again in 6 seconds");
    }
}
