//! Exchange errors, classified by what the caller must do next.

use std::time::Duration;

/// Why a venue call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// Try again later (429, 425, 5xx, a timeout before anything was sent).
    #[error("temporarily unavailable: {reason}")]
    Retryable { reason: String, retry_after: Option<Duration> },
    /// The venue said no; retrying the same request will not help.
    #[error("rejected by the exchange: {reason}")]
    Rejected { reason: String },
    /// The request may or may not have taken effect (a timeout or a dropped connection after it
    /// was sent). Never resubmit blindly: reconcile with open orders and trades first.
    #[error("outcome unknown, reconcile before retrying: {reason}")]
    OutcomeUnknown { reason: String },
    /// The venue answered something we cannot understand; nothing was changed on our side.
    #[error("malformed response from the exchange: {reason}")]
    Malformed { reason: String },
    #[error("not found: {0}")]
    NotFound(String),
}

impl ExchangeError {
    /// Whether the same call may simply be made again (after a backoff).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    /// Whether the caller must reconcile with the venue before doing anything else.
    #[must_use]
    pub fn needs_reconciliation(&self) -> bool {
        matches!(self, Self::OutcomeUnknown { .. })
    }
}

/// Result of a venue call.
pub type Result<T, E = ExchangeError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_says_what_to_do() {
        let retry = ExchangeError::Retryable { reason: "429".into(), retry_after: None };
        let unknown = ExchangeError::OutcomeUnknown { reason: "timeout after send".into() };
        let rejected = ExchangeError::Rejected { reason: "not enough balance / allowance".into() };
        assert!(retry.is_retryable() && !retry.needs_reconciliation());
        assert!(!unknown.is_retryable() && unknown.needs_reconciliation());
        assert!(!rejected.is_retryable() && !rejected.needs_reconciliation());
        assert!(rejected.to_string().contains("not enough balance"));
    }
}
