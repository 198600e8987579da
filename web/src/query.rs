//! Query strings shared by pages and API: the history filter (`from`, `to`, `market`, `outcome`)
//! and paging, parsed in one place with clear errors.

use crate::error::AppError;
use crate::model::{HistoryFilter, Outcome};
use serde::{Deserialize, Serialize};

/// The history filter as a query string carries it: `from`/`to` as `YYYY-MM-DD` (UTC days, both
/// inclusive) or Unix milliseconds, `market` text, `outcome` `win|loss|even` (empty: all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub market: String,
    #[serde(default)]
    pub outcome: String,
}

const DAY_MS: i64 = 86_400_000;

impl HistoryQuery {
    /// The filter it describes.
    ///
    /// # Errors
    /// A date that is neither `YYYY-MM-DD` nor Unix milliseconds, an unknown outcome, or `from`
    /// after `to` — each message names the field.
    pub fn filter(&self) -> Result<HistoryFilter, AppError> {
        let from_ms = parse_day(&self.from, "from")?;
        let to_ms = parse_day(&self.to, "to")?.map(|(ms, is_day)| if is_day { ms + DAY_MS - 1 } else { ms });
        let from_ms = from_ms.map(|(ms, _)| ms);
        if let (Some(f), Some(t)) = (from_ms, to_ms)
            && f > t
        {
            return Err(AppError::bad_request("`from` is after `to`"));
        }
        let outcome = match self.outcome.trim() {
            "" | "all" => None,
            "win" => Some(Outcome::Win),
            "loss" => Some(Outcome::Loss),
            "even" => Some(Outcome::Even),
            other => {
                return Err(AppError::bad_request(format!(
                    "`outcome` must be win, loss or even, got {other:?}"
                )));
            }
        };
        let market = self.market.trim();
        Ok(HistoryFilter {
            from_ms,
            to_ms,
            market: (!market.is_empty()).then(|| market.chars().take(200).collect()),
            outcome,
        })
    }

    /// The query string that reproduces this filter (for paging links and the CSV export link).
    #[must_use]
    pub fn to_query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .append_pair("market", &self.market)
            .append_pair("outcome", &self.outcome)
            .finish()
    }
}

/// A day `YYYY-MM-DD` as its first millisecond (UTC) and `true`, or Unix ms and `false`.
fn parse_day(text: &str, field: &str) -> Result<Option<(i64, bool)>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some((ms, false)));
    }
    let bad = || {
        AppError::bad_request(format!(
            "`{field}` must be a date YYYY-MM-DD or Unix milliseconds, got {text:?}"
        ))
    };
    let mut parts = text.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(bad());
    }
    Ok(Some((days_from_civil(y, m, d) * DAY_MS, true)))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTC date `YYYY-MM-DD` of Unix milliseconds (for date inputs and CSV).
#[must_use]
pub fn utc_day(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS` UTC of Unix milliseconds.
#[must_use]
pub fn utc_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{} {:02}:{:02}:{:02}", utc_day(ms), secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str, outcome: &str) -> HistoryQuery {
        HistoryQuery { from: from.into(), to: to.into(), market: " Trump ".into(), outcome: outcome.into() }
    }

    #[test]
    fn days_are_utc_and_inclusive() {
        let f = q("2024-02-28", "2024-02-29", "win").filter().unwrap();
        assert_eq!(f.from_ms, Some(1_709_078_400_000));
        assert_eq!(f.to_ms, Some(1_709_251_200_000 - 1), "to covers the whole day");
        assert_eq!(f.market.as_deref(), Some("Trump"));
        assert_eq!(f.outcome, Some(Outcome::Win));
        assert_eq!(utc_day(1_709_164_800_000), "2024-02-29");
        assert_eq!(utc_time(1_709_164_800_000 + 3_723_000), "2024-02-29 01:02:03");
        assert_eq!(utc_day(0), "1970-01-01");
    }

    #[test]
    fn bad_values_name_their_field() {
        for (from, to, outcome, field) in [
            ("2023-02-29", "", "", "from"),
            ("", "yesterday", "", "to"),
            ("", "", "maybe", "outcome"),
            ("2024-03-02", "2024-03-01", "", "after"),
        ] {
            let e = q(from, to, outcome).filter().unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(field), "{}", e.message);
        }
        assert_eq!(HistoryQuery::default().filter().unwrap(), HistoryFilter::default());
    }
}
