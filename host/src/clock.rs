//! Wall-clock time as the bot records it: Unix milliseconds.

/// Now, Unix milliseconds (0 before 1970, saturating far in the future).
#[must_use]
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
