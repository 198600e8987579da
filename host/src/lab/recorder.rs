//! The recorder: takes what the engine sees and decides (as its [`Observer`]), and writes it on
//! its own thread into segmented, compressed recordings, flushed block by block, within the
//! configured retention. The engine only clones and queues; a full queue drops and counts.

use super::record::{Record, Timed, World};
use super::segment::SegmentWriter;
use super::{LabError, Result, recording};
use crate::engine::{Observer, Seen};
use crate::exchange::Market;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// How the recorder writes (`[lab.recording]`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderConfig {
    /// Record in every mode.
    pub enabled: bool,
    /// A segment is closed and a new one started past this size, MiB (1-4096).
    pub segment_mib: u64,
    /// Blocks are flushed to the file at least this often, ms (10-60000): what a crash can lose.
    pub flush_every_ms: u64,
    /// Segments older than this many days are deleted (1-3650).
    pub retention_days: u32,
    /// The oldest segments go while all recordings exceed this size, GiB (0.001-100000).
    pub retention_gib: f64,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self { enabled: true, segment_mib: 64, flush_every_ms: 1_000, retention_days: 30, retention_gib: 5.0 }
    }
}

impl RecorderConfig {
    /// Every out-of-range key, by name.
    ///
    /// # Errors
    /// A message naming the key and its range.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let mut bad = Vec::new();
        if !(1..=4096).contains(&self.segment_mib) {
            bad.push(format!("lab.recording.segment_mib = {} (1-4096)", self.segment_mib));
        }
        if !(10..=60_000).contains(&self.flush_every_ms) {
            bad.push(format!("lab.recording.flush_every_ms = {} (10-60000)", self.flush_every_ms));
        }
        if !(1..=3650).contains(&self.retention_days) {
            bad.push(format!("lab.recording.retention_days = {} (1-3650)", self.retention_days));
        }
        if !(self.retention_gib.is_finite() && (0.001..=100_000.0).contains(&self.retention_gib)) {
            bad.push(format!("lab.recording.retention_gib = {} (0.001-100000)", self.retention_gib));
        }
        if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) }
    }

    fn retention_bytes(&self) -> u64 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "validated, positive and bounded"
        )]
        let bytes = (self.retention_gib * f64::from(1_u32 << 30)) as u64;
        bytes
    }
}

/// What the recorder has done so far.
#[derive(Debug, Default)]
pub struct RecorderStats {
    pub records: AtomicU64,
    /// Bytes written to segment files.
    pub bytes: AtomicU64,
    /// Records dropped because the recorder fell behind.
    pub dropped: AtomicU64,
    pub segments: AtomicU64,
}

enum Msg {
    Record(Timed),
    Listing(i64, Vec<Arc<Market>>),
    /// Flush now and answer.
    Flush(SyncSender<()>),
    /// Close the segment and end.
    Stop,
}

/// The engine's side of the recorder: clones what it is told and queues it.
#[derive(Debug)]
pub struct RecordSink {
    tx: SyncSender<Msg>,
    stats: Arc<RecorderStats>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl RecordSink {
    fn send(&self, msg: Msg) {
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                crate::metrics::get().recorder_dropped.inc();
            }
        }
    }
}

impl Observer for RecordSink {
    fn seen(&self, at_ms: i64, what: Seen<'_>) {
        let record = match what {
            Seen::Market(e) => Record::Market(e.clone()),
            Seen::Listing(markets) => return self.send(Msg::Listing(at_ms, markets.to_vec())),
            Seen::Book(token, book) => Record::Book { token: token.to_owned(), book: book.clone() },
            Seen::Whale(w) => Record::Whale(Box::new(w.clone())),
            Seen::News(n) => Record::News(Box::new(n.clone())),
            Seen::Decision(d) => Record::Decision(Box::new(d.clone())),
            // What shadows are given: they record their own answers (`lab::shadow`).
            Seen::Scoring(_) | Seen::Rules(_) | Seen::WhaleAnalysis(_) | Seen::NewsMatching(_) => return,
        };
        self.send(Msg::Record(Timed { at_ms, record }));
    }
}

/// A running recorder. Dropping it (or [`Recorder::close`]) flushes and closes the segment.
#[derive(Debug)]
pub struct Recorder {
    sink: Arc<RecordSink>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    dir: PathBuf,
}

/// Records queued at most before the engine's observations are dropped (and counted).
const QUEUE: usize = 1 << 16;
/// A block is flushed once this much is waiting, whatever the time.
const BLOCK_BYTES: usize = 256 << 10;
/// How often the recorder takes what the engine queued.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

impl Recorder {
    /// Starts recording into a new recording directory under `root` (`<data dir>/recordings`),
    /// named after the wall-clock time and the venue, after applying the retention to what is
    /// there.
    ///
    /// # Errors
    /// The directory or first segment cannot be created.
    pub fn start(root: &Path, venue: &str, config: &RecorderConfig) -> Result<Self> {
        let now = crate::clock::unix_now_ms();
        recording::enforce_retention(root, config.retention_days, config.retention_bytes(), now, None)?;
        let dir = recording::new_dir(root, venue, now)?;
        let first = SegmentWriter::create(&recording::segment_path(&dir, 1), venue, 1, now)?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let stats = Arc::new(RecorderStats { segments: AtomicU64::new(1), ..RecorderStats::default() });
        let sink = Arc::new(RecordSink { tx, stats: Arc::clone(&stats) });
        let job = Job {
            root: root.to_owned(),
            dir: dir.clone(),
            venue: venue.to_owned(),
            config: config.clone(),
            writer: Some(first),
            world: World::default(),
            stats,
            number: 1,
            last_ms: 0,
            gapped: 0,
        };
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                super::yield_to_trading();
                job.run(&rx)
            })
            .map_err(|e| LabError::Io {
                path: dir.clone(),
                reason: format!("cannot start the recorder: {e}"),
            })?;
        tracing::info!(dir = %dir.display(), "recording");
        Ok(Self { sink, thread: Some(thread), dir })
    }

    /// What the engine is handed ([`crate::engine::Engine::set_observer`]).
    #[must_use]
    pub fn sink(&self) -> Arc<RecordSink> {
        Arc::clone(&self.sink)
    }

    /// The recording's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &RecorderStats {
        &self.sink.stats
    }

    /// Writes everything queued so far to the file (a block), and returns once it is there.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.sink.tx.send(Msg::Flush(tx)).is_ok() {
            self.wake();
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }

    fn wake(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// Stops: flushes, makes the segment durable and waits for the thread.
    ///
    /// # Errors
    /// The recorder's last write failing.
    pub fn close(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        // Whatever the engine still sends after this is dropped and counted.
        if self.sink.tx.send(Msg::Stop).is_err() {
            return Ok(());
        }
        thread.thread().unpark();
        thread.join().unwrap_or_else(|_| Err(LabError::Invalid("the recorder thread panicked".into())))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "closing the recording");
        }
    }
}

/// The recorder thread's state.
struct Job {
    root: PathBuf,
    dir: PathBuf,
    venue: String,
    config: RecorderConfig,
    writer: Option<SegmentWriter>,
    world: World,
    stats: Arc<RecorderStats>,
    number: u32,
    last_ms: i64,
    /// Dropped records already told by a gap record.
    gapped: u64,
}

impl Job {
    fn run(mut self, rx: &Receiver<Msg>) -> Result<()> {
        let every = Duration::from_millis(self.config.flush_every_ms);
        let mut flushed = Instant::now();
        loop {
            // Woken by time, or by the owner (flush, stop), never by the engine: a send to a
            // receiver that is not blocked costs the engine no wake-up on its path.
            std::thread::park_timeout(DRAIN_EVERY.min(every));
            loop {
                match rx.try_recv() {
                    Ok(Msg::Record(t)) => self.push(t),
                    Ok(Msg::Listing(at, markets)) => self.listing(at, &markets),
                    Ok(Msg::Flush(done)) => {
                        self.flush()?;
                        flushed = Instant::now();
                        let _ = done.send(());
                    }
                    Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => {
                        self.flush()?;
                        if let Some(w) = self.writer.take() {
                            w.finish()?;
                        }
                        return Ok(());
                    }
                    Err(TryRecvError::Empty) => break,
                }
                if self.writer.as_ref().is_some_and(|w| w.pending() >= BLOCK_BYTES) {
                    self.flush()?;
                    flushed = Instant::now();
                }
            }
            if self.writer.as_ref().is_some_and(|w| w.pending() > 0) && flushed.elapsed() >= every {
                self.flush()?;
                flushed = Instant::now();
            }
        }
    }

    /// Records what was dropped since the last gap record, once.
    fn gap(&mut self) {
        let total = self.stats.dropped.load(Ordering::Relaxed);
        let dropped = total - self.gapped;
        if dropped > 0 {
            tracing::warn!(dropped, "the recorder fell behind; a gap is recorded");
            self.gapped = total;
            let t = Timed { at_ms: self.last_ms, record: Record::Gap { dropped } };
            if let Some(w) = self.writer.as_mut() {
                w.push(&t);
            }
        }
    }

    fn push(&mut self, t: Timed) {
        self.world.note(&t.record);
        self.last_ms = t.at_ms;
        if let Some(w) = self.writer.as_mut() {
            w.push(&t);
        }
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get().recorder_records.inc();
    }

    /// A listing: the markets new or changed since the last one, and those gone.
    fn listing(&mut self, at_ms: i64, markets: &[Arc<Market>]) {
        let mut seen = std::collections::HashSet::with_capacity(markets.len());
        for m in markets {
            seen.insert(m.id.as_str());
            if self.world.listing.get(&m.id) != Some(&**m) {
                self.push(Timed { at_ms, record: Record::Listed(Box::new((**m).clone())) });
            }
        }
        let gone: Vec<String> =
            self.world.listing.keys().filter(|id| !seen.contains(id.as_str())).cloned().collect();
        for id in gone {
            self.push(Timed { at_ms, record: Record::Delisted(id) });
        }
    }

    fn flush(&mut self) -> Result<()> {
        self.gap();
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        let before = w.bytes;
        w.flush()?;
        self.stats.bytes.fetch_add(w.bytes - before, Ordering::Relaxed);
        crate::metrics::get().recorder_bytes.inc_by(w.bytes - before);
        if w.bytes >= self.config.segment_mib << 20 {
            self.roll()?;
        }
        Ok(())
    }

    /// Closes the segment and starts the next with the state of the world.
    fn roll(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        self.number += 1;
        let now = crate::clock::unix_now_ms();
        let path = recording::segment_path(&self.dir, self.number);
        let mut w = SegmentWriter::create(&path, &self.venue, self.number, now)?;
        for record in self.world.opening() {
            w.push(&Timed { at_ms: self.last_ms, record });
        }
        let active = w.path().to_owned();
        self.writer = Some(w);
        self.stats.segments.fetch_add(1, Ordering::Relaxed);
        recording::enforce_retention(
            &self.root,
            self.config.retention_days,
            self.config.retention_bytes(),
            now,
            Some(&active),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::sim::{SimConfig, Simulator};

    fn job(root: &Path) -> Job {
        let dir = recording::new_dir(root, "sim", 0).unwrap();
        let writer = SegmentWriter::create(&recording::segment_path(&dir, 1), "sim", 1, 0).unwrap();
        Job {
            root: root.to_owned(),
            dir,
            venue: "sim".into(),
            config: RecorderConfig::default(),
            writer: Some(writer),
            world: World::default(),
            stats: Arc::default(),
            number: 1,
            last_ms: 0,
            gapped: 0,
        }
    }

    fn records(path: &Path) -> Vec<Record> {
        let mut out = Vec::new();
        recording::read(path, |t| {
            out.push(t.record);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn each_drop_is_recorded_once_as_a_gap() {
        let root = tempfile::tempdir().unwrap();
        let mut job = job(root.path());
        job.stats.dropped.store(5, Ordering::Relaxed);
        job.flush().unwrap();
        job.flush().unwrap();
        job.stats.dropped.fetch_add(2, Ordering::Relaxed);
        job.flush().unwrap();
        job.writer.take().unwrap().finish().unwrap();
        let gaps: Vec<u64> = records(&job.dir)
            .into_iter()
            .filter_map(|r| match r {
                Record::Gap { dropped } => Some(dropped),
                _ => None,
            })
            .collect();
        assert_eq!(gaps, [5, 2]);
        assert_eq!(job.stats.dropped.load(Ordering::Relaxed), 7, "the counter keeps the total");
    }

    /// A new segment starts with the listing and every book as they stood, so it can be read,
    /// and replayed, without the segments before it (which retention may have deleted).
    #[test]
    fn a_new_segment_opens_with_the_state_of_the_world() {
        let root = tempfile::tempdir().unwrap();
        let mut job = job(root.path());
        let mut sim = Simulator::new(SimConfig { seed: 5, markets: 3, ..SimConfig::default() });
        let markets: Vec<Arc<Market>> = sim.markets();
        job.listing(sim.now_ms(), &markets);
        // As a scan records them: the venue's books, then the feed's changes.
        for o in markets.iter().flat_map(|m| m.outcomes.iter()) {
            let book = sim.book(&o.token_id).unwrap().clone();
            job.push(Timed { at_ms: sim.now_ms(), record: Record::Book { token: o.token_id.clone(), book } });
        }
        for _ in 0..5 {
            for e in sim.step(60_000).events {
                job.push(Timed { at_ms: sim.now_ms(), record: Record::Market(e) });
            }
        }
        job.flush().unwrap();
        job.roll().unwrap();
        job.writer.take().unwrap().finish().unwrap();
        let second = recording::segment_path(&job.dir, 2);
        let opening = records(&second);
        let listed = opening.iter().filter(|r| matches!(r, Record::Listed(_))).count();
        assert_eq!(listed, 3);
        for m in sim.markets() {
            for o in &m.outcomes {
                let book = opening.iter().find_map(|r| match r {
                    Record::Book { token, book } if *token == o.token_id => Some(book),
                    _ => None,
                });
                let want = sim.book(&o.token_id).unwrap();
                let got = book.expect("every book is in the new segment");
                for side in [crate::exchange::BookSide::Bids, crate::exchange::BookSide::Asks] {
                    assert!(got.levels(side).eq(want.levels(side)), "{}", o.token_id);
                }
            }
        }
    }
}
