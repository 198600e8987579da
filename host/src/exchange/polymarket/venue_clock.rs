//! The venue's clock against this machine's: `GET /time` answers whole seconds, and trades are
//! stamped on it, so matching a trade to an order by time needs the difference.

use super::http::{Http, Request, Route};
use crate::exchange::{ExchangeError, Result};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How often the difference is measured again.
pub(super) const EVERY: Duration = Duration::from_secs(600);
/// The offset's value while it has not been measured.
pub(super) const UNKNOWN: i64 = i64::MIN;

/// The offset as last measured; `None` before the first measurement succeeded.
pub(super) fn known(offset: &AtomicI64) -> Option<i64> {
    Some(offset.load(Ordering::Relaxed)).filter(|ms| *ms != UNKNOWN)
}

/// Measures at once, then every [`EVERY`]; while no measurement has succeeded, again after 1 s,
/// doubling to 30 s, so a venue that was busy at sign-in does not leave the offset unknown for
/// ten minutes.
pub(super) async fn keep_measuring(http: &Http, clob: &str, offset: &AtomicI64) {
    let mut retry = Duration::from_secs(1);
    loop {
        let wait = match measure(http, clob, offset).await {
            Ok(_) => EVERY,
            Err(e) => {
                tracing::warn!(error = %e, "reading the venue's clock");
                if known(offset).is_some() {
                    EVERY
                } else {
                    let wait = retry;
                    retry = (retry * 2).min(Duration::from_secs(30));
                    wait
                }
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// The venue's answer to `GET /time`: Unix seconds, bare or quoted, in a plausible range.
fn parse_seconds(body: &str) -> Result<i64> {
    let text = body.trim().trim_matches('"');
    text.parse::<i64>()
        .ok()
        // 2020 to 2100: anything else is not a clock.
        .filter(|s| (1_577_836_800..4_102_444_800).contains(s))
        .ok_or_else(|| ExchangeError::Malformed {
            reason: format!("GET /time answered {:?}, not Unix seconds", clip(body)),
        })
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Measures the venue's clock minus this machine's, milliseconds, and keeps it in `offset`.
/// The venue's second is taken at its middle, against the middle of the round trip: within
/// about half a second plus half the round trip of the truth.
///
/// # Errors
/// The venue unreachable, or an answer that is not a time.
pub(super) async fn measure(http: &Http, clob: &str, offset: &AtomicI64) -> Result<i64> {
    let before = crate::clock::unix_now_ms();
    let body = http.send(&Request::get(clob, "/time", &[], Route::ClobGeneral), None).await?;
    let after = crate::clock::unix_now_ms();
    let venue_ms = parse_seconds(&body)?.saturating_mul(1_000).saturating_add(500);
    let ms = venue_ms - (before + (after - before) / 2);
    offset.store(ms, Ordering::Relaxed);
    if ms.abs() >= 2_000 {
        tracing::warn!(
            offset_ms = ms,
            "this machine's clock and the venue's differ; trades are matched on the venue's"
        );
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plausible_unix_time_is_a_clock() {
        assert_eq!(parse_seconds("1764849600").unwrap(), 1_764_849_600);
        assert_eq!(parse_seconds(" \"1764849600\"\n").unwrap(), 1_764_849_600);
        for bad in ["", "abc", "1764849600000", "-5", "12", "{\"time\":1}"] {
            assert!(matches!(parse_seconds(bad), Err(ExchangeError::Malformed { .. })), "{bad}");
        }
    }
}
