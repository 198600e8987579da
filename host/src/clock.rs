//! Wall-clock time as the bot records it: Unix milliseconds.

/// Now, Unix milliseconds (0 before 1970, saturating far in the future).
#[must_use]
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DD` (UTC) of Unix milliseconds.
#[must_use]
pub fn utc_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |d| d.format("%Y-%m-%d").to_string())
}
