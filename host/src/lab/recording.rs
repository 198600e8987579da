//! Recordings on disk: one directory per run of the recorder (`<UTC start>-<venue>`) holding
//! numbered segments; listing, reading in order, and retention.

use super::record::{Decisions, Timed};
use super::segment::{self, Ending, SegmentHeader};
use super::{LabError, Result};
use crate::exchange::MarketEvent;
use std::path::{Path, PathBuf};

/// A segment file's extension.
pub const EXTENSION: &str = "eqr";

/// A new, empty recording directory under `root`.
pub(crate) fn new_dir(root: &Path, venue: &str, now_ms: i64) -> Result<PathBuf> {
    let stamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .map_or_else(|| now_ms.to_string(), |t| t.format("%Y%m%dT%H%M%S%.3fZ").to_string());
    let mut dir = root.join(format!("{stamp}-{venue}"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = root.join(format!("{stamp}-{venue}-{n}"));
    }
    std::fs::create_dir_all(&dir).map_err(|e| LabError::Io { path: dir.clone(), reason: e.to_string() })?;
    Ok(dir)
}

pub(crate) fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:06}.{EXTENSION}"))
}

/// The segments of a recording, in order: `path` is a recording directory or one segment.
///
/// # Errors
/// Nothing readable there, or no segment in the directory.
pub fn segments(path: &Path) -> Result<Vec<PathBuf>> {
    let io = |e: std::io::Error| LabError::Io { path: path.to_owned(), reason: e.to_string() };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LabError::Invalid(format!(
            "{} holds no recording segments (*.{EXTENSION})",
            path.display()
        )));
    }
    Ok(files)
}

/// What reading a recording found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSummary {
    pub venue: String,
    pub segments: usize,
    pub records: u64,
    /// Where the recording stops short, when its last block was cut (a killed recorder).
    pub torn: Option<(PathBuf, u64, String)>,
}

/// Reads every record of a recording in order. A last segment cut short is read up to its last
/// whole block (see [`ReadSummary::torn`]); a segment cut short before the last is an error,
/// like any corrupt block.
///
/// # Errors
/// See [`segment::read_segment`]; and segments of different venues.
pub fn read(path: &Path, mut each: impl FnMut(Timed) -> Result<()>) -> Result<ReadSummary> {
    read_with(path, Decisions::Decode, |t, _| each(t))
}

/// As [`read`], with the recorded decisions decoded or stepped over (they count in
/// [`ReadSummary::records`] either way), and `each` handed the list of spent market events
/// ([`segment::read_segment_with`]).
pub(crate) fn read_with(
    path: &Path,
    decisions: Decisions,
    mut each: impl FnMut(Timed, &mut Vec<MarketEvent>) -> Result<()>,
) -> Result<ReadSummary> {
    let files = segments(path)?;
    let mut summary = ReadSummary { venue: String::new(), segments: files.len(), records: 0, torn: None };
    let last = files.len() - 1;
    for (i, file) in files.iter().enumerate() {
        let (header, ending, skipped) = segment::read_segment_with(file, decisions, |t, spent| {
            summary.records += 1;
            each(t, spent)
        })?;
        summary.records += skipped;
        if i == 0 {
            summary.venue = header.venue.clone();
        } else if header.venue != summary.venue {
            return Err(LabError::Invalid(format!(
                "{} records venue {:?}, the recording's first segment {:?}",
                file.display(),
                header.venue,
                summary.venue
            )));
        }
        if let Ending::Torn { offset, reason } = ending {
            if i != last {
                return Err(LabError::Truncated { path: file.clone(), offset, reason });
            }
            summary.torn = Some((file.clone(), offset, reason));
        }
    }
    Ok(summary)
}

/// Headers of a recording's segments.
///
/// # Errors
/// As [`segments`] and [`segment::read_header`].
pub fn headers(path: &Path) -> Result<Vec<(PathBuf, SegmentHeader)>> {
    segments(path)?.into_iter().map(|p| segment::read_header(&p).map(|h| (p, h))).collect()
}

/// Deletes the oldest segments (across every recording under `root`) while they are older than
/// `keep_days` or together larger than `keep_bytes`; `active` is never deleted. Empty recording
/// directories go too.
///
/// # Errors
/// `root` cannot be listed; a segment that cannot be deleted is logged and kept.
pub(crate) fn enforce_retention(
    root: &Path,
    keep_days: u32,
    keep_bytes: u64,
    now_ms: i64,
    active: Option<&Path>,
) -> Result<()> {
    let io = |e: std::io::Error| LabError::Io { path: root.to_owned(), reason: e.to_string() };
    if !root.exists() {
        return Ok(());
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io)?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    // Directory names start with their UTC start time: sorted, they are oldest first.
    dirs.sort();
    let mut all: Vec<(PathBuf, u64, i64)> = Vec::new();
    for dir in &dirs {
        let Ok(files) = segments(dir) else { continue };
        for f in files {
            let Ok(meta) = std::fs::metadata(&f) else { continue };
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            all.push((f, meta.len(), modified));
        }
    }
    let mut total: u64 = all.iter().map(|(_, len, _)| len).sum();
    let cutoff = now_ms - i64::from(keep_days) * 86_400_000;
    for (file, len, modified) in all {
        if active == Some(file.as_path()) {
            continue;
        }
        if total <= keep_bytes && modified >= cutoff {
            continue;
        }
        match std::fs::remove_file(&file) {
            Ok(()) => {
                total = total.saturating_sub(len);
                tracing::info!(file = %file.display(), bytes = len, "recording segment removed (retention)");
            }
            Err(e) => tracing::warn!(file = %file.display(), error = %e, "removing an old recording segment"),
        }
    }
    for dir in dirs {
        if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none()) {
            let _ = std::fs::remove_dir(&dir);
        }
    }
    Ok(())
}
