//! Recording segments on disk: a fixed header (format version, venue, time span), then blocks,
//! each zstd-compressed with its length, record count, time span and CRC32, so a segment cut
//! short by a crash reads cleanly up to its last whole block.

use super::codec::{Dec, Enc};
use super::record::{Decisions, Decoder, Encoder, Timed};
use super::{LabError, Result};
use crate::exchange::MarketEvent;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Marks a recording segment.
const MAGIC: &[u8; 8] = b"EQREC\0\r\n";
/// The format this build writes and reads.
pub const FORMAT_VERSION: u16 = 3;
const HEADER_LEN: usize = 64;
const BLOCK_MAGIC: &[u8; 4] = b"EQBK";
const BLOCK_HEADER_LEN: usize = 36;
/// Largest block accepted on reading (a corrupt length must not allocate gigabytes).
const MAX_BLOCK: usize = 64 << 20;
/// Offsets of the header's time span, rewritten as blocks are flushed.
const FIRST_MS_AT: u64 = 36;
const LAST_MS_AT: u64 = 44;
/// zstd level: fast enough to keep up with a busy feed on a spare core.
const ZSTD_LEVEL: i32 = 3;

/// What a segment's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    pub version: u16,
    pub venue: String,
    /// Wall clock when the file was created.
    pub created_ms: i64,
    /// The time span of its records on the engine's clock, as of the last flushed block
    /// (`None` before the first).
    pub span: Option<(i64, i64)>,
    pub number: u32,
}

/// Writes one segment.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    file: File,
    path: PathBuf,
    encoder: Encoder,
    block: Enc,
    block_records: u32,
    block_span: Option<(i64, i64)>,
    span: Option<(i64, i64)>,
    /// Bytes on disk so far.
    pub(crate) bytes: u64,
    /// Records written (flushed or not).
    pub(crate) records: u64,
}

impl SegmentWriter {
    /// Creates the file (never overwriting one) and writes its header.
    pub(crate) fn create(path: &Path, venue: &str, number: u32, created_ms: i64) -> Result<Self> {
        let io = |e: std::io::Error| LabError::Io { path: path.to_owned(), reason: e.to_string() };
        let mut file = OpenOptions::new().write(true).create_new(true).open(path).map_err(io)?;
        let mut header = [0_u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let v = venue.as_bytes();
        let n = v.len().min(16);
        header[12..12 + n].copy_from_slice(&v[..n]);
        header[28..36].copy_from_slice(&created_ms.to_le_bytes());
        header[36..44].copy_from_slice(&i64::MIN.to_le_bytes());
        header[44..52].copy_from_slice(&i64::MIN.to_le_bytes());
        header[52..56].copy_from_slice(&number.to_le_bytes());
        file.write_all(&header).map_err(io)?;
        Ok(Self {
            file,
            path: path.to_owned(),
            encoder: Encoder::default(),
            block: Enc::default(),
            block_records: 0,
            block_span: None,
            span: None,
            bytes: HEADER_LEN as u64,
            records: 0,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Encodes a record into the open block.
    pub(crate) fn push(&mut self, t: &Timed) {
        self.encoder.encode(&mut self.block, t);
        self.block_records += 1;
        self.records += 1;
        let (lo, hi) = self.block_span.unwrap_or((t.at_ms, t.at_ms));
        self.block_span = Some((lo.min(t.at_ms), hi.max(t.at_ms)));
    }

    /// Bytes waiting in the open block.
    pub(crate) fn pending(&self) -> usize {
        self.block.buf.len()
    }

    /// Compresses and appends the open block in one write, then updates the header's span.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let Some((first, last)) = self.block_span else { return Ok(()) };
        let io = |e: std::io::Error| LabError::Io { path: self.path.clone(), reason: e.to_string() };
        let compressed = zstd::bulk::compress(&self.block.buf, ZSTD_LEVEL).map_err(io)?;
        let mut out = Vec::with_capacity(BLOCK_HEADER_LEN + compressed.len());
        out.extend_from_slice(BLOCK_MAGIC);
        out.extend_from_slice(&u32::try_from(compressed.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.block.buf.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&self.block_records.to_le_bytes());
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&last.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
        out.extend_from_slice(&compressed);
        self.file.write_all(&out).map_err(io)?;
        self.bytes += out.len() as u64;
        let (lo, hi) = self.span.map_or((first, last), |(lo, hi)| (lo.min(first), hi.max(last)));
        self.span = Some((lo, hi));
        self.file.write_all_at(&lo.to_le_bytes(), FIRST_MS_AT).map_err(io)?;
        self.file.write_all_at(&hi.to_le_bytes(), LAST_MS_AT).map_err(io)?;
        self.block.buf.clear();
        self.block_records = 0;
        self.block_span = None;
        Ok(())
    }

    /// Flushes and makes the file durable.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.file.sync_all().map_err(|e| LabError::Io { path: self.path.clone(), reason: e.to_string() })
    }
}

/// Reads a segment's header.
///
/// # Errors
/// The file cannot be read, is not a recording, or is of a format version this build does not
/// read.
pub fn read_header(path: &Path) -> Result<SegmentHeader> {
    let mut f =
        File::open(path).map_err(|e| LabError::Io { path: path.to_owned(), reason: e.to_string() })?;
    let mut header = [0_u8; HEADER_LEN];
    let n = std::io::Read::read(&mut f, &mut header)
        .map_err(|e| LabError::Io { path: path.to_owned(), reason: e.to_string() })?;
    parse_header(path, &header[..n])
}

fn le_i64(b: &[u8]) -> i64 {
    let mut a = [0_u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0_u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn parse_header(path: &Path, b: &[u8]) -> Result<SegmentHeader> {
    if b.len() < 8 || &b[..8] != MAGIC {
        return Err(LabError::NotARecording { path: path.to_owned() });
    }
    if b.len() < HEADER_LEN {
        return Err(LabError::Truncated {
            path: path.to_owned(),
            offset: b.len() as u64,
            reason: format!("the header needs {HEADER_LEN} bytes, the file has {}", b.len()),
        });
    }
    let version = u16::from_le_bytes([b[8], b[9]]);
    // Versions 2 and 3 each added a record kind (a book as the previous one shifted; a listing
    // with a decimal fee exponent): older versions read as they are.
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(LabError::UnknownVersion { path: path.to_owned(), version, supported: FORMAT_VERSION });
    }
    let venue = String::from_utf8_lossy(&b[12..28]).trim_end_matches('\0').to_owned();
    let (first, last) = (le_i64(&b[36..44]), le_i64(&b[44..52]));
    Ok(SegmentHeader {
        version,
        venue,
        created_ms: le_i64(&b[28..36]),
        span: (first != i64::MIN && last != i64::MIN).then_some((first, last)),
        number: le_u32(&b[52..56]),
    })
}

/// How a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// After its last block.
    Clean,
    /// With a block cut short (the recorder was killed mid-write): everything before `offset`
    /// was read.
    Torn { offset: u64, reason: String },
}

/// Reads a whole segment: its header, and its records in order, handed to `each`. Stops with
/// an error at the first corrupt block (CRC, framing, a record that does not decode), naming
/// the file and the offset. A last block cut short is not an error: it is how a killed
/// recorder leaves a file, and [`Ending::Torn`] says where the readable part ends.
///
/// # Errors
/// See above; and whatever `each` returns.
pub fn read_segment(
    path: &Path,
    mut each: impl FnMut(Timed) -> Result<()>,
) -> Result<(SegmentHeader, Ending)> {
    read_segment_with(path, Decisions::Decode, |t, _| each(t)).map(|(header, ending, _)| (header, ending))
}

/// As [`read_segment`], with the decisions decoded or stepped over; also returns how many
/// decisions were stepped over. `each` is also handed the decoder's list of spent market events:
/// an event put there when its reader is done with it lends its buffers to a later one.
pub(crate) fn read_segment_with(
    path: &Path,
    decisions: Decisions,
    mut each: impl FnMut(Timed, &mut Vec<MarketEvent>) -> Result<()>,
) -> Result<(SegmentHeader, Ending, u64)> {
    let bytes =
        std::fs::read(path).map_err(|e| LabError::Io { path: path.to_owned(), reason: e.to_string() })?;
    let header = parse_header(path, &bytes)?;
    let mut decoder = Decoder::new(decisions);
    let mut at = HEADER_LEN;
    let corrupt = |offset: usize, reason: String| LabError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason,
    };
    let mut raw = Vec::new();
    let mut unpack = zstd::bulk::Decompressor::new()
        .map_err(|e| LabError::Io { path: path.to_owned(), reason: e.to_string() })?;
    while at < bytes.len() {
        let left = bytes.len() - at;
        if left < BLOCK_HEADER_LEN {
            let reason = format!("block header of {left} of {BLOCK_HEADER_LEN} bytes");
            return Ok((header, Ending::Torn { offset: at as u64, reason }, decoder.skipped));
        }
        let h = &bytes[at..at + BLOCK_HEADER_LEN];
        if &h[..4] != BLOCK_MAGIC {
            return Err(corrupt(at, "no block starts here".into()));
        }
        let (clen, rlen, count) = (le_u32(&h[4..]) as usize, le_u32(&h[8..]) as usize, le_u32(&h[12..]));
        if clen > MAX_BLOCK || rlen > MAX_BLOCK {
            return Err(corrupt(
                at,
                format!("block of {clen} compressed / {rlen} raw bytes is beyond the limit"),
            ));
        }
        let body = at + BLOCK_HEADER_LEN;
        if bytes.len() - body < clen {
            let reason = format!("block of {clen} bytes, {} present", bytes.len() - body);
            return Ok((header, Ending::Torn { offset: at as u64, reason }, decoder.skipped));
        }
        let compressed = &bytes[body..body + clen];
        if crc32fast::hash(compressed) != le_u32(&h[32..]) {
            return Err(corrupt(at, "checksum mismatch".into()));
        }
        // One frame straight into the buffer, by one decompression context for the segment: a
        // frame larger than the block announces does not fit, and is an error.
        raw.clear();
        raw.reserve(rlen);
        unpack
            .decompress_to_buffer(compressed, &mut raw)
            .map_err(|e| corrupt(at, format!("decompressing: {e}")))?;
        if raw.len() != rlen {
            return Err(corrupt(at, format!("{} bytes decompressed, {rlen} announced", raw.len())));
        }
        let mut d = Dec::new(&raw);
        let mut n = 0_u32;
        let skipped_before = decoder.skipped;
        loop {
            match decoder.next(&mut d) {
                Ok(Some(t)) => {
                    n += 1;
                    each(t, &mut decoder.spent)?;
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(corrupt(at, format!("record at byte {} of the block: {}", e.at, e.what)));
                }
            }
        }
        // Stepped-over decisions are records of the block too.
        let n = u64::from(n) + (decoder.skipped - skipped_before);
        if n != u64::from(count) {
            return Err(corrupt(at, format!("{n} records decoded, {count} announced")));
        }
        at = body + clen;
    }
    Ok((header, Ending::Clean, decoder.skipped))
}
