//! Watermark announcements: how far a task's event time has advanced,
//! written into the repartition topics it writes.
//!
//! A repartition topic's partition interleaves the output of every task of
//! the sub-topology upstream, and those run at different speeds (other
//! threads, other instances, partitions of other sizes). So that a slower
//! writer's records are not taken for late ones, each writer appends, to
//! every partition of every repartition topic it writes, a record saying
//! "my watermark is W" (and whether it is idle) after the records it wrote
//! before reaching W. The reading task's watermark for the partition is the
//! smallest over its writers (see [`Clock`](crate::operators::clock)).
//!
//! An announcement is a record with no key, the header [`HEADER`], and a
//! 13-byte value: the writer's task partition (u32), its watermark (i64,
//! `i64::MAX` once a bounded run has read all of its inputs) and a flags
//! byte (bit 0: idle), little-endian. Tasks announce when their watermark or
//! idleness changes, and again after every commit, so that a reader that
//! starts from a committed position hears from every writer.

use crate::record::Batch;
use crate::record::{Header, Record};

/// Header name that marks a watermark announcement in a repartition topic.
pub const HEADER: &str = "tributary.watermark";

const LEN: usize = 13;
const IDLE: u8 = 1;

/// One writer's announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announcement {
    /// The writing task's partition number.
    pub(crate) writer: u32,
    /// Its watermark.
    pub(crate) watermark: i64,
    /// True when all of its inputs are idle.
    pub(crate) idle: bool,
}

impl Announcement {
    /// Appends the announcement to `batch`, stamped with `timestamp`.
    pub(crate) fn push(&self, batch: &mut Batch, timestamp: i64) {
        let mut value = [0u8; LEN];
        value[..4].copy_from_slice(&self.writer.to_le_bytes());
        value[4..12].copy_from_slice(&self.watermark.to_le_bytes());
        value[12] = if self.idle { IDLE } else { 0 };
        batch.push(
            timestamp,
            None,
            Some(&value[..]),
            &[Header::new(HEADER, &b""[..])],
        );
    }

    /// The announcement `record` carries: `None` for an ordinary record,
    /// `Some(Err(..))` for one marked as an announcement that does not parse.
    pub(crate) fn parse(record: &Record) -> Option<Result<Announcement, String>> {
        record.header(HEADER)?;
        let value = record.value.as_deref().unwrap_or_default();
        let Ok(bytes) = <[u8; LEN]>::try_from(value) else {
            return Some(Err(format!(
                "a watermark announcement of {} bytes (expected {LEN})",
                value.len()
            )));
        };
        let writer = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let mut wm = [0u8; 8];
        wm.copy_from_slice(&bytes[4..12]);
        Some(Ok(Announcement {
            writer,
            watermark: i64::from_le_bytes(wm),
            idle: bytes[12] & IDLE != 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::prelude::*;
    use crate::log::{MemoryLog, TopicConfig};

    #[test]
    fn announcements_round_trip_through_a_log() {
        let log = MemoryLog::new();
        log.ensure_topic("t", &TopicConfig::new(1)).unwrap();
        let mut batch = Batch::new();
        let a = Announcement {
            writer: 3,
            watermark: i64::MAX,
            idle: false,
        };
        let b = Announcement {
            writer: 0,
            watermark: -5,
            idle: true,
        };
        a.push(&mut batch, 10);
        batch.push(11, Some(b"k"), Some(b"v"), &[]);
        b.push(&mut batch, 12);
        log.append("t", 0, &batch).unwrap();
        let mut out = Vec::new();
        log.fetch("t", 0, 0, 1 << 20, &mut out).unwrap();
        let parsed: Vec<_> = out.iter().map(Announcement::parse).collect();
        assert_eq!(parsed, vec![Some(Ok(a)), None, Some(Ok(b))]);
        let bad = Record::new(0, None::<Vec<u8>>, Some(vec![1u8])).with_header(HEADER, "");
        assert!(matches!(Announcement::parse(&bad), Some(Err(_))));
    }
}
