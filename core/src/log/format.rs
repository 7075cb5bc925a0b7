//! The on-disk format of record batches.
//!
//! A segment file is a sequence of batches. Each batch is a fixed header
//! followed by its records; all integers are little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | base offset (u64) |
//! | 8..12 | batch length in bytes, header included (u32) |
//! | 12 | format version ([`VERSION`]) |
//! | 13..15 | attributes (u16): bit 4 transactional, bit 5 control (markers) |
//! | 15..19 | CRC32C of every other byte of the batch (header and records) |
//! | 19..23 | last offset delta (u32) |
//! | 23..31 | first timestamp (i64, ms) |
//! | 31..39 | max timestamp (i64, ms) |
//! | 39..47 | producer id (i64, -1 = none) |
//! | 47..49 | producer epoch (i16, -1 = none) |
//! | 49..53 | base sequence (i32, -1 = none) |
//! | 53..57 | record count (u32) |
//!
//! The CRC covers the header too (all of it but the CRC field), so a batch
//! checks itself. The producer fields and the transactional/control bits are
//! the room left for exactly-once: transaction markers are control batches,
//! and read-committed readers will filter on them, without a format change.
//!
//! The records follow the header, framed as `framing.rs` describes (the
//! layout of a [`Batch`](crate::Batch)'s bytes, so that an append writes
//! them as they are).

use crate::record::{Header, Record};
use bytes::Bytes;

/// Version byte of batches written by this code.
pub(super) const VERSION: u8 = 1;
/// Length of a batch header in bytes.
pub(super) const HEADER_LEN: usize = 57;
/// Attribute bit: the batch belongs to a transaction (set by the
/// transactional writer, which is not built yet).
#[allow(dead_code)]
pub(super) const ATTR_TRANSACTIONAL: u16 = 1 << 4;
/// Attribute bit: the batch holds control records (transaction markers).
pub(super) const ATTR_CONTROL: u16 = 1 << 5;
/// Largest batch accepted when reading (guards against a corrupt length).
pub(super) const MAX_BATCH_LEN: u32 = 64 << 20;

const CRC_AT: usize = 15;

/// Why bytes are not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum FormatError {
    /// Fewer bytes than the header or the declared length.
    #[error("truncated batch: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The version byte is unknown.
    #[error("unknown batch format version {0}")]
    BadVersion(u8),
    /// The declared length is impossible.
    #[error("impossible batch length {0}")]
    BadLength(u32),
    /// The checksum does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC of the bytes read.
        computed: u32,
    },
    /// The records inside a batch with a valid checksum do not parse.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

/// The decoded header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Total length of the batch in bytes.
    pub len: u32,
    /// Attribute bits.
    pub attributes: u16,
    /// Stored CRC.
    pub crc: u32,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: u32,
    /// Timestamp of the first record.
    pub first_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Number of records.
    pub count: u32,
}

impl BatchHeader {
    /// Parses a header from the start of `buf`, checking version and length
    /// bounds (not the CRC: see [`verify`]).
    pub(super) fn parse(buf: &[u8]) -> Result<BatchHeader, FormatError> {
        if buf.len() < HEADER_LEN {
            return Err(FormatError::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        let version = buf[12];
        if version != VERSION {
            return Err(FormatError::BadVersion(version));
        }
        let len = u32_at(buf, 8);
        if (len as usize) < HEADER_LEN || len > MAX_BATCH_LEN {
            return Err(FormatError::BadLength(len));
        }
        Ok(BatchHeader {
            base_offset: u64_at(buf, 0),
            len,
            attributes: u16::from_le_bytes([buf[13], buf[14]]),
            crc: u32_at(buf, CRC_AT),
            last_offset_delta: u32_at(buf, 19),
            first_timestamp: u64_at(buf, 23) as i64,
            max_timestamp: u64_at(buf, 31) as i64,
            count: u32_at(buf, 53),
        })
    }

    /// Offset after the last record of the batch.
    pub(super) fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta) + 1
    }

    /// True for control batches (transaction markers), which carry no user records.
    pub(super) fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
}

/// Checks the CRC of a whole batch (`batch.len()` must equal the header's length).
pub(super) fn verify(batch: &[u8]) -> Result<(), FormatError> {
    let header = BatchHeader::parse(batch)?;
    if batch.len() != header.len as usize {
        return Err(FormatError::Truncated {
            need: header.len as usize,
            have: batch.len(),
        });
    }
    let computed = batch_crc(batch);
    if computed != header.crc {
        return Err(FormatError::Crc {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

fn batch_crc(batch: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&batch[..CRC_AT]);
    crc32c::crc32c_append(crc, &batch[CRC_AT + 4..])
}

/// Decodes the records of a verified batch whose offsets are `>= min_offset`,
/// appending them to `out`. Keys, values and header values share `batch`.
pub(super) fn decode_records(
    batch: &Bytes,
    min_offset: u64,
    out: &mut Vec<Record>,
) -> Result<(), FormatError> {
    let header = BatchHeader::parse(batch)?;
    if header.is_control() {
        return Ok(());
    }
    let mut pos = HEADER_LEN;
    for _ in 0..header.count {
        let f = crate::framing::read_record(batch, pos).map_err(FormatError::Malformed)?;
        pos = f.end;
        let offset = header.base_offset + f.offset_delta;
        if offset < min_offset {
            continue;
        }
        let mut headers = Vec::new();
        for (name, value) in crate::framing::headers(batch, f.headers.clone(), f.header_count) {
            let name = std::str::from_utf8(&batch[name])
                .map_err(|_| FormatError::Malformed("header name is not UTF-8"))?
                .to_owned();
            headers.push(Header {
                name,
                value: batch.slice(value),
            });
        }
        out.push(Record {
            offset,
            timestamp: header.first_timestamp.wrapping_add(f.ts_delta),
            key: f.key.map(|k| batch.slice(k)),
            value: f.value.map(|v| batch.slice(v)),
            headers,
        });
    }
    if pos != batch.len() {
        return Err(FormatError::Malformed(
            "trailing bytes after the last record",
        ));
    }
    Ok(())
}

/// The header of `batch` appended at `base_offset`, CRC included (over the
/// header and the batch's framed records, which follow it on disk).
/// Call only on a non-empty batch.
pub(super) fn header_for(batch: &crate::record::Batch, base_offset: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let body = batch.framed();
    write_header(
        &mut h,
        base_offset,
        (HEADER_LEN + body.len()) as u32,
        batch.len() as u32 - 1,
        (batch.first_timestamp(), batch.max_timestamp()),
        batch.len() as u32,
    );
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[..CRC_AT]), &h[CRC_AT + 4..]);
    let crc = crc32c::crc32c_append(crc, body);
    h[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Writes every header field but the CRC.
fn write_header(
    h: &mut [u8],
    base_offset: u64,
    len: u32,
    last_delta: u32,
    (first_timestamp, max_timestamp): (i64, i64),
    count: u32,
) {
    h[0..8].copy_from_slice(&base_offset.to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12] = VERSION;
    h[13..15].copy_from_slice(&0u16.to_le_bytes());
    h[19..23].copy_from_slice(&last_delta.to_le_bytes());
    h[23..31].copy_from_slice(&first_timestamp.to_le_bytes());
    h[31..39].copy_from_slice(&max_timestamp.to_le_bytes());
    h[39..47].copy_from_slice(&(-1i64).to_le_bytes());
    h[47..49].copy_from_slice(&(-1i16).to_le_bytes());
    h[49..53].copy_from_slice(&(-1i32).to_le_bytes());
    h[53..57].copy_from_slice(&count.to_le_bytes());
}

/// Encodes a batch in memory; the log assigns its base offset on append.
/// Private to the embedded log: everything else builds a neutral
/// [`Batch`](crate::Batch), which the log encodes with this on append.
#[derive(Debug, Clone)]
pub(super) struct BatchBuilder {
    buf: Vec<u8>,
    count: u32,
    /// Offset delta of the last record pushed (records of compacted batches
    /// keep their original offsets, so deltas may skip).
    last_delta: u32,
    first_timestamp: i64,
    max_timestamp: i64,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// Creates an empty batch.
    pub(super) fn new() -> Self {
        BatchBuilder {
            buf: vec![0; HEADER_LEN],
            count: 0,
            last_delta: 0,
            first_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// Number of records in the batch.
    pub(super) fn len(&self) -> usize {
        self.count as usize
    }

    /// Removes every record, keeping the allocation.
    pub(super) fn clear(&mut self) {
        self.buf.truncate(HEADER_LEN);
        self.count = 0;
        self.last_delta = 0;
        self.max_timestamp = i64::MIN;
    }

    /// Adds a record; it gets the next offset.
    #[cfg(test)]
    pub(super) fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        let delta = if self.count == 0 {
            0
        } else {
            self.last_delta + 1
        };
        self.push_at(delta, timestamp, key, value, headers);
    }

    /// Adds a record at `offset_delta` from the batch's base offset (used by
    /// compaction, which keeps records' offsets). Deltas must increase.
    pub(super) fn push_at(
        &mut self,
        offset_delta: u32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        debug_assert!(
            self.count == 0 || offset_delta > self.last_delta,
            "offset deltas must increase"
        );
        if self.count == 0 {
            self.first_timestamp = timestamp;
        }
        self.last_delta = offset_delta;
        let ts_delta = timestamp.wrapping_sub(self.first_timestamp);
        crate::framing::put_record(&mut self.buf, ts_delta, offset_delta, key, value, headers);
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    /// Writes the header for `base_offset`, computes the CRC and returns the
    /// finished bytes. Call only on a non-empty batch.
    pub(super) fn finish(&mut self, base_offset: u64) -> &[u8] {
        let len = self.buf.len() as u32;
        write_header(
            &mut self.buf[..HEADER_LEN],
            base_offset,
            len,
            self.last_delta,
            (self.first_timestamp, self.max_timestamp),
            self.count,
        );
        let crc = batch_crc(&self.buf);
        self.buf[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        &self.buf
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = BatchBuilder::new();
        b.push(
            1_000,
            Some(b"key"),
            Some(b"value"),
            &[Header::new("h", &b"x"[..])],
        );
        b.push(990, None, None, &[]);
        b.push(-5, Some(b""), Some(&[7u8; 300]), &[]);
        b.finish(42).to_vec()
    }

    #[test]
    fn batch_round_trip() {
        let bytes = Bytes::from(sample());
        verify(&bytes).unwrap();
        let h = BatchHeader::parse(&bytes).unwrap();
        assert_eq!((h.base_offset, h.count, h.next_offset()), (42, 3, 45));
        assert_eq!(h.max_timestamp, 1_000);
        let mut out = Vec::new();
        decode_records(&bytes, 0, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].offset, 42);
        assert_eq!(out[0].key.as_deref(), Some(&b"key"[..]));
        assert_eq!(out[0].header("h").map(|v| v.to_vec()), Some(b"x".to_vec()));
        assert_eq!(
            (out[1].timestamp, out[1].key.clone(), out[1].value.clone()),
            (990, None, None)
        );
        assert_eq!(out[2].timestamp, -5);
        assert_eq!(out[2].value.as_ref().map(|v| v.len()), Some(300));
        let mut tail = Vec::new();
        decode_records(&bytes, 44, &mut tail).unwrap();
        assert_eq!(tail.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![44]);
    }

    #[test]
    fn flipping_any_byte_is_detected() {
        let good = sample();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            assert!(verify(&bad).is_err(), "flip at byte {i} went unnoticed");
        }
    }
}

/// The decoders read bytes from disk: on arbitrary bytes and on valid
/// batches with bytes changed (the checksum bypassed), none may panic or
/// allocate without bound. A bounded number of cases per run
/// (`PROPTEST_CASES` raises it).
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// A record's key, value and headers.
    type Rec = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Vec<u8>)>);

    /// A valid batch of a few records, to mutate.
    fn batch(records: &[Rec]) -> Vec<u8> {
        let mut b = BatchBuilder::new();
        for (i, (k, v, h)) in records.iter().enumerate() {
            let headers: Vec<Header> = h
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.clone()))
                .collect();
            b.push(i as i64 * 3, k.as_deref(), v.as_deref(), &headers);
        }
        b.finish(7).to_vec()
    }

    fn decode_all(bytes: &[u8]) {
        let _ = BatchHeader::parse(bytes);
        let _ = verify(bytes);
        let mut out = Vec::new();
        let _ = decode_records(&Bytes::copy_from_slice(bytes), 0, &mut out);
        // What decodes is bounded by the input: every record takes bytes.
        assert!(out.len() <= bytes.len());
    }

    fn record() -> impl Strategy<Value = Rec> {
        (
            prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
            prop::collection::vec(
                ("[a-z]{0,6}", prop::collection::vec(any::<u8>(), 0..8)),
                0..3,
            ),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn the_batch_decoder_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            decode_all(&bytes);
        }

        /// Valid batches with bytes changed, inserted or cut: the decoder (called
        /// without the checksum check that normally guards it) never panics,
        /// and the checksum catches every change.
        #[test]
        fn the_batch_decoder_survives_damaged_batches(
            records in prop::collection::vec(record(), 1..6),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        ) {
            let good = batch(&records);
            let mut bytes = good.clone();
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => bytes.truncate(i),
                }
            }
            decode_all(&bytes);
            if bytes != good && bytes.len() == good.len() {
                prop_assert!(verify(&bytes).is_err(), "a changed batch passed its checksum");
            }
        }
    }
}
