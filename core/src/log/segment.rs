//! One segment file of a partition: batches appended back to back.
//!
//! A segment is named after the offset of its first record
//! (`00000000000000001234.log`). While open, it keeps a sparse in-memory
//! index of batch positions (one entry every [`INDEX_INTERVAL`] bytes), each
//! entry also remembering the largest timestamp seen before it, so that both
//! "seek to offset" and "seek to timestamp" read only a few kilobytes.

use super::format::{self, BatchHeader, FormatError, HEADER_LEN};
use crate::error::{Error, IoContext, Result};
use crate::record::Record;
use bytes::Bytes;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes between two sparse index entries.
pub(crate) const INDEX_INTERVAL: u64 = 4096;

/// A sparse index entry: a batch boundary.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    /// Base offset of the batch starting at `position`.
    offset: u64,
    /// Byte position of the batch.
    position: u64,
    /// Largest timestamp of all batches before `position` in this segment.
    max_ts_before: i64,
}

/// Records a partition cannot serve: their bytes fail their checksum, do
/// not parse, or are gone. Never truncated away; reading them is an error
/// naming the file, the byte position and the offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The file holding the damaged bytes (or that ends where they are missing).
    pub file: PathBuf,
    /// Byte position of the damage in the file.
    pub position: u64,
    /// First offset affected.
    pub from: u64,
    /// Offset after the last one affected.
    pub to: u64,
    /// What is wrong.
    pub reason: String,
}

impl Damage {
    /// The error a read of the damaged records gets.
    pub fn to_error(&self) -> Error {
        super::corrupt(
            &self.file,
            self.position,
            format!(
                "records {}..{} cannot be served: {}",
                self.from, self.to, self.reason
            ),
        )
    }
}

/// The outcome of scanning a segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Every byte belongs to a valid batch.
    Clean,
    /// Bytes from `position` on do not form a complete, valid batch.
    Invalid {
        /// Start of the first invalid batch.
        position: u64,
        /// Why it is invalid.
        reason: String,
        /// True when the invalid bytes are the file's tail as a torn write
        /// leaves it: a header cut short, or a batch that runs past the
        /// end of the file. A complete batch whose checksum fails is
        /// damage, not a torn write (and does not stop the scan).
        tail: bool,
    },
}

/// An open segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: u64,
    pub(crate) path: PathBuf,
    file: File,
    /// Bytes of valid batches.
    pub(crate) size: u64,
    /// Offset after the last record.
    pub(crate) next_offset: u64,
    /// Largest timestamp of any record (i64::MIN when empty).
    pub(crate) max_timestamp: i64,
    index: Vec<IndexEntry>,
    last_indexed_position: u64,
    /// Compacted topics have gaps between batches' offsets.
    allow_gaps: bool,
    /// Complete batches whose checksum failed when the segment was scanned
    /// (reading them is an error).
    pub(crate) damaged: Vec<Damage>,
}

/// File name of the segment starting at `base_offset`.
pub(crate) fn file_name(base_offset: u64) -> String {
    format!("{base_offset:020}.log")
}

/// Parses a segment file name back into its base offset.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 {
        return None;
    }
    stem.parse().ok()
}

impl Segment {
    /// Creates a new, empty segment file.
    pub(crate) fn create(dir: &Path, base_offset: u64, allow_gaps: bool) -> Result<Segment> {
        let path = dir.join(file_name(base_offset));
        let file = File::options()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
            .ctx(|| format!("creating segment {}", path.display()))?;
        Ok(Segment::empty(path, file, base_offset, allow_gaps))
    }

    fn empty(path: PathBuf, file: File, base_offset: u64, allow_gaps: bool) -> Segment {
        Segment {
            base_offset,
            path,
            file,
            size: 0,
            next_offset: base_offset,
            max_timestamp: i64::MIN,
            index: Vec::new(),
            last_indexed_position: 0,
            allow_gaps,
            damaged: Vec::new(),
        }
    }

    /// Opens an existing segment and indexes it. With `verify`, every batch's
    /// CRC is checked (done for the active segment, where torn writes live);
    /// otherwise only headers are read, and CRCs are checked on every fetch.
    pub(crate) fn open(
        path: PathBuf,
        base_offset: u64,
        writable: bool,
        verify: bool,
        allow_gaps: bool,
    ) -> Result<(Segment, ScanEnd)> {
        let file = File::options()
            .read(true)
            .append(writable)
            .open(&path)
            .ctx(|| format!("opening segment {}", path.display()))?;
        let mut seg = Segment::empty(path, file, base_offset, allow_gaps);
        let end = seg.scan_from(0, verify)?;
        Ok((seg, end))
    }

    /// Indexes batches from byte `position` (a batch boundary) to the end of
    /// the file, stopping at the first invalid batch.
    pub(crate) fn scan_from(&mut self, mut position: u64, verify: bool) -> Result<ScanEnd> {
        let file_len = self
            .file
            .metadata()
            .ctx(|| format!("reading metadata of {}", self.path.display()))?
            .len();
        let mut header_buf = [0u8; HEADER_LEN];
        let mut batch_buf = Vec::new();
        while position < file_len {
            let invalid = |reason: String, tail: bool| ScanEnd::Invalid {
                position,
                reason,
                tail,
            };
            if file_len - position < HEADER_LEN as u64 {
                return Ok(invalid("incomplete batch header".into(), true));
            }
            self.read_exact_at(&mut header_buf, position)?;
            let header = match BatchHeader::parse(&header_buf) {
                Ok(h) => h,
                Err(e) => return Ok(invalid(e.to_string(), true)),
            };
            let end = position + u64::from(header.len);
            if end > file_len {
                return Ok(invalid(
                    format!(
                        "batch of {} bytes runs past the end of the file",
                        header.len
                    ),
                    true,
                ));
            }
            let misplaced = if self.allow_gaps {
                header.base_offset < self.next_offset
            } else {
                header.base_offset != self.next_offset
            };
            if misplaced {
                return Ok(invalid(
                    format!(
                        "batch base offset {} where {} was expected",
                        header.base_offset, self.next_offset
                    ),
                    false,
                ));
            }
            // A header that does not hold together (a damaged count or
            // last offset) cannot be indexed: its offsets are unknown.
            let count_fits = if self.allow_gaps {
                header.last_offset_delta < format::MAX_BATCH_LEN
            } else {
                u64::from(header.last_offset_delta) + 1 == u64::from(header.count)
            };
            if !count_fits {
                return Ok(invalid(
                    format!(
                        "batch header is damaged: {} records but a last offset delta of {}",
                        header.count, header.last_offset_delta
                    ),
                    false,
                ));
            }
            if verify {
                batch_buf.resize(header.len as usize, 0);
                self.read_exact_at(&mut batch_buf, position)?;
                if let Err(e) = format::verify(&batch_buf) {
                    // A complete batch that fails its checksum: damage. Its
                    // header holds together, so its offsets and length are
                    // known: it stays in place (reading it is an error) and
                    // the scan goes on after it.
                    self.damaged.push(Damage {
                        file: self.path.clone(),
                        position,
                        from: header.base_offset,
                        to: header.next_offset(),
                        reason: e.to_string(),
                    });
                }
            }
            self.note_batch(&header, position);
            position = end;
        }
        Ok(ScanEnd::Clean)
    }

    fn note_batch(&mut self, header: &BatchHeader, position: u64) {
        if self.index.is_empty() || position - self.last_indexed_position >= INDEX_INTERVAL {
            self.index.push(IndexEntry {
                offset: header.base_offset,
                position,
                max_ts_before: self.max_timestamp,
            });
            self.last_indexed_position = position;
        }
        self.size = position + u64::from(header.len);
        self.next_offset = header.next_offset();
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
    }

    /// Appends a batch (its header, then its framed records); the caller
    /// checked its base offset.
    pub(crate) fn append(&mut self, header_bytes: &[u8], records: &[u8]) -> Result<()> {
        use std::io::Write;
        let header = BatchHeader::parse(header_bytes).map_err(|e| {
            super::corrupt(
                &self.path,
                self.size,
                format!("refusing to append an invalid batch: {e}"),
            )
        })?;
        if header.len as usize != header_bytes.len() + records.len() {
            return Err(super::corrupt(
                &self.path,
                self.size,
                "refusing to append a batch whose length does not match its header",
            ));
        }
        // One write of both parts, so that a crash tears at most the tail.
        let parts = [
            std::io::IoSlice::new(header_bytes),
            std::io::IoSlice::new(records),
        ];
        let mut file = &self.file;
        let written = file
            .write_vectored(&parts)
            .ctx(|| format!("appending to {}", self.path.display()))?;
        // A short vectored write (rare) finishes with plain writes.
        let rest = if written < header_bytes.len() {
            file.write_all(&header_bytes[written..])
                .and_then(|()| file.write_all(records))
        } else {
            file.write_all(&records[written - header_bytes.len()..])
        };
        rest.ctx(|| format!("appending to {}", self.path.display()))?;
        let position = self.size;
        self.note_batch(&header, position);
        Ok(())
    }

    /// Flushes written data to stable storage.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .ctx(|| format!("syncing {}", self.path.display()))
    }

    /// Cuts the file at `position` (a batch boundary) and syncs it.
    pub(crate) fn truncate(&mut self, position: u64) -> Result<()> {
        self.file
            .set_len(position)
            .ctx(|| format!("truncating {} to {position} bytes", self.path.display()))?;
        self.sync()
    }

    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, position)
            .ctx(|| format!("reading {} at byte {position}", self.path.display()))
    }

    fn corrupt(&self, position: u64, e: FormatError) -> Error {
        super::corrupt(&self.path, position, e.to_string())
    }

    /// The error for the batch at `position` failing its checksum.
    fn damaged_batch(&self, position: u64, h: &BatchHeader, e: FormatError) -> Error {
        Damage {
            file: self.path.clone(),
            position,
            from: h.base_offset,
            to: h.next_offset(),
            reason: e.to_string(),
        }
        .to_error()
    }

    /// Index entry to start reading from to find `offset`.
    fn entry_for_offset(&self, offset: u64) -> Option<IndexEntry> {
        // Before the first batch (a compacted segment may start with a gap
        // of removed records), reading starts at the first batch.
        let i = self.index.partition_point(|e| e.offset <= offset);
        self.index.get(i.saturating_sub(1)).copied()
    }

    /// Reads records with offsets `>= offset`, whole batches, until about
    /// `max_bytes` were read (at least one batch). Every batch's CRC is
    /// checked: a batch that fails it is an error when it is the first one
    /// read, and otherwise ends the read before it (the next read starting
    /// there gets the error). Batches within the `skip` ranges (quarantined
    /// damage) are passed over unread.
    pub(crate) fn read(
        &self,
        offset: u64,
        max_bytes: usize,
        skip: &[(u64, u64)],
        out: &mut Vec<Record>,
    ) -> Result<()> {
        let skipped = |h: &BatchHeader| {
            skip.iter()
                .any(|&(from, to)| from <= h.base_offset && h.next_offset() <= to)
        };
        let Some(entry) = self.entry_for_offset(offset.max(self.base_offset)) else {
            return Ok(());
        };
        let mut position = entry.position;
        // Skip whole batches before `offset` by their headers alone.
        let mut header_buf = [0u8; HEADER_LEN];
        while position < self.size {
            self.read_exact_at(&mut header_buf, position)?;
            let h = BatchHeader::parse(&header_buf).map_err(|e| self.corrupt(position, e))?;
            if h.next_offset() > offset && !skipped(&h) {
                break;
            }
            position += u64::from(h.len);
        }
        if position >= self.size {
            return Ok(());
        }
        let want = (self.size - position).min(max_bytes.max(HEADER_LEN) as u64) as usize;
        let mut buf = vec![0u8; want];
        self.read_exact_at(&mut buf, position)?;
        // Make sure the chunk ends on a batch boundary: extend to hold the
        // first batch whole, and drop a partial batch at the end.
        let first = BatchHeader::parse(&buf).map_err(|e| self.corrupt(position, e))?;
        if (first.len as usize) > buf.len() {
            let more = first.len as usize - buf.len();
            let old = buf.len();
            buf.resize(first.len as usize, 0);
            self.read_exact_at(&mut buf[old..old + more], position + old as u64)?;
        }
        let chunk = Bytes::from(buf);
        let before = out.len();
        let mut at = 0usize;
        while at + HEADER_LEN <= chunk.len() {
            let h = match BatchHeader::parse(&chunk[at..]) {
                Ok(h) => h,
                Err(_) if out.len() > before => break,
                Err(e) => return Err(self.corrupt(position + at as u64, e)),
            };
            let end = at + h.len as usize;
            if end > chunk.len() {
                break;
            }
            if skipped(&h) {
                at = end;
                continue;
            }
            let batch = chunk.slice(at..end);
            let batch_start = out.len();
            let decoded =
                format::verify(&batch).and_then(|()| format::decode_records(&batch, offset, out));
            if let Err(e) = decoded {
                out.truncate(batch_start);
                if batch_start > before {
                    break;
                }
                return Err(self.damaged_batch(position + at as u64, &h, e));
            }
            at = end;
        }
        Ok(())
    }

    /// The first offset whose record timestamp is `>= timestamp`, if any.
    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        // Every batch before an entry whose max_ts_before < timestamp is too old.
        let i = self.index.partition_point(|e| e.max_ts_before < timestamp);
        let mut position = i.checked_sub(1).map_or(0, |i| self.index[i].position);
        let mut header_buf = [0u8; HEADER_LEN];
        while position < self.size {
            self.read_exact_at(&mut header_buf, position)?;
            let h = BatchHeader::parse(&header_buf).map_err(|e| self.corrupt(position, e))?;
            if h.max_timestamp >= timestamp {
                let mut buf = vec![0u8; h.len as usize];
                self.read_exact_at(&mut buf, position)?;
                let batch = Bytes::from(buf);
                format::verify(&batch).map_err(|e| self.damaged_batch(position, &h, e))?;
                let mut records = Vec::new();
                format::decode_records(&batch, 0, &mut records)
                    .map_err(|e| self.corrupt(position, e))?;
                if let Some(r) = records.iter().find(|r| r.timestamp >= timestamp) {
                    return Ok(Some(r.offset));
                }
            }
            position += u64::from(h.len);
        }
        Ok(None)
    }
}
