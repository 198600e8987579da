//! The recordings the Lab lists: each directory's venue, span, segments and size from its
//! headers, and its markets and market events once counted (a count reads the recording whole,
//! so it is kept per recording and size; the one being written is not counted).

use super::HostLab;
use crate::lab::recording;
use crate::lab::{Calibration, Record, Timed, calibrate_recording};
use equilibrage_web::{BackendError, BackendResult, RecordingView};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Recordings larger than this are not counted while a page waits.
const COUNT_AT_MOST_BYTES: u64 = 256 << 20;

/// Counts of finished recordings: directory → (bytes when counted, markets, market events).
#[derive(Debug, Default)]
pub(super) struct Counts(Mutex<HashMap<PathBuf, (u64, u64, u64)>>);

impl Counts {
    fn get(&self, dir: &Path, bytes: u64) -> Option<(u64, u64)> {
        let cached = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(dir).copied();
        if let Some((b, m, e)) = cached
            && b == bytes
        {
            return Some((m, e));
        }
        if bytes > COUNT_AT_MOST_BYTES {
            return None;
        }
        let (mut markets, mut events) = (HashSet::new(), 0_u64);
        let read = recording::read(dir, |t: Timed| {
            match t.record {
                Record::Listed(m) => {
                    markets.insert(m.id);
                }
                Record::Market(_) => events += 1,
                _ => {}
            }
            Ok(())
        });
        if let Err(e) = read {
            tracing::warn!(dir = %dir.display(), error = %e, "recording not counted");
            return None;
        }
        let markets = markets.len() as u64;
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(dir.to_owned(), (bytes, markets, events));
        Some((markets, events))
    }
}

fn size_of(files: &[PathBuf]) -> u64 {
    files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum()
}

impl HostLab {
    /// Every recording under the data directory, newest first.
    pub(super) fn recordings(&self) -> Vec<RecordingView> {
        let Ok(entries) = std::fs::read_dir(&self.recordings) else { return Vec::new() };
        let mut dirs: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        dirs.reverse();
        dirs.into_iter()
            .filter_map(|dir| {
                let headers = recording::headers(&dir).ok()?;
                let files: Vec<PathBuf> = headers.iter().map(|(p, _)| p.clone()).collect();
                let bytes = size_of(&files);
                let active = self.active_recording.as_deref() == Some(dir.as_path());
                let spans: Vec<(i64, i64)> = headers.iter().filter_map(|(_, h)| h.span).collect();
                let counts = if active { None } else { self.counts.get(&dir, bytes) };
                Some(RecordingView {
                    name: dir.file_name()?.to_string_lossy().into_owned(),
                    venue: headers.first().map(|(_, h)| h.venue.clone()).unwrap_or_default(),
                    from_ms: spans.iter().map(|s| s.0).min(),
                    to_ms: spans.iter().map(|s| s.1).max(),
                    segments: headers.len(),
                    bytes,
                    markets: counts.map(|c| c.0),
                    events: counts.map(|c| c.1),
                    active,
                })
            })
            .collect()
    }

    /// The directory of the recording a form names, when it is one of those listed.
    pub(super) fn recording_named(&self, name: &str) -> Option<PathBuf> {
        self.recordings().into_iter().find(|r| r.name == name).map(|r| self.recordings.join(r.name))
    }
}

impl HostLab {
    /// The calibration of the bot's own history: every recording of the current scorer's
    /// factors (the newest recording's), oldest first, through the calibrator with the bot's
    /// settings. A finished recording is read once; the one being written, every time.
    pub(super) fn own_calibration(&self) -> BackendResult<Calibration> {
        let settings = self.engine.settings();
        let mut all: Vec<Calibration> = Vec::new();
        for r in self.recordings().into_iter().rev() {
            let dir = self.recordings.join(&r.name);
            let cached = self
                .calibrated
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&dir)
                .filter(|(bytes, _)| *bytes == r.bytes)
                .map(|(_, c)| c.clone());
            let c = match cached {
                Some(c) => c,
                None => {
                    let c = calibrate_recording(&dir, &settings)
                        .map_err(|e| BackendError::Internal(format!("recording {}: {e}", r.name)))?;
                    if !r.active {
                        self.calibrated
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(dir, (r.bytes, c.clone()));
                    }
                    c
                }
            };
            all.push(c);
        }
        let factors =
            all.iter().rev().find(|c| !c.factors.is_empty()).map(|c| c.factors.clone()).unwrap_or_default();
        let candidates =
            all.into_iter().filter(|c| c.factors == factors).flat_map(|c| c.candidates).collect();
        Ok(Calibration { factors, candidates })
    }
}
