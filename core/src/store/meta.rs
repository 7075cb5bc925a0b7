//! What a task's state records besides its entries, in one place: the
//! meta keys of the state backend (checkpoints, input positions, event-time
//! clock, the state directory's writer id) and the *marker* each commit
//! appends to every changelog after the changes.
//!
//! The commit ([`runtime::commit`](crate::runtime)) writes them; the
//! restore ([`restore`](super::restore)) reads them.

use crate::error::{Error, Result};
use crate::log::TopicPartition;
use crate::record::Batch;
use crate::record::{Header, Record};
use crate::task_id::TaskId;
use tributary_state::{StateBackend, StateBatch};

/// Header naming a changelog marker record.
pub(crate) const MARKER_HEADER: &str = "tributary.positions";
/// The key of changelog markers: Kafka refuses records without a key on
/// compacted topics, and compaction keeps the latest marker (markers of
/// earlier versions have no key, and are still read).
pub(crate) const MARKER_KEY: &[u8] = b"\xfftributary.marker";
/// Header of a marker: the writer id of the state directory that wrote it.
pub(crate) const WRITER_HEADER: &str = "tributary.writer";
/// Header of a marker: the task's encoded event-time clock.
pub(crate) const CLOCK_HEADER: &str = "tributary.clock";
/// Meta key of a state directory's writer id.
const WRITER_KEY: &str = "writer-id";
/// Input positions of a task.
pub(crate) type Positions = Vec<(TopicPartition, u64)>;

pub(crate) fn checkpoint_key(store: &str, partition: u32) -> String {
    format!("checkpoint/{store}/{partition}")
}

/// The changelog offset a store partition's local state is at, if it
/// has one.
pub(crate) fn checkpoint(
    backend: &dyn StateBackend,
    store: &str,
    partition: u32,
) -> Result<Option<u64>> {
    Ok(backend
        .meta(&checkpoint_key(store, partition))?
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes))
}

/// The checkpoint of a store partition whose state is being rebuilt from
/// scratch (a standby copy catching up): past any changelog's end, so that
/// a task that starts from it rebuilds the partition.
pub(crate) const REBUILDING: u64 = u64::MAX;

pub(crate) fn positions_key(task: TaskId) -> String {
    format!("positions/{task}")
}

pub(crate) fn encode_positions(p: &Positions) -> Vec<u8> {
    let v: Vec<(&str, u32, u64)> = p
        .iter()
        .map(|(tp, o)| (tp.topic.as_str(), tp.partition, *o))
        .collect();
    serde_json::to_vec(&v).unwrap_or_default()
}

pub(crate) fn decode_positions(bytes: &[u8]) -> Result<Positions> {
    let v: Vec<(String, u32, u64)> = serde_json::from_slice(bytes)
        .map_err(|e| Error::Runtime(format!("unreadable input positions in state: {e}")))?;
    Ok(v.into_iter()
        .map(|(t, p, o)| (TopicPartition::new(t, p), o))
        .collect())
}

/// What a commit records in each changelog after the changes: the task's
/// input positions, its event-time clock and who wrote it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marker<'a> {
    pub(crate) positions: &'a Positions,
    pub(crate) clock: &'a [u8],
    /// The writer id of the state directory (see [`writer_id`]).
    pub(crate) writer: &'a str,
}

impl Marker<'_> {
    /// Appends the marker to a changelog batch.
    pub(crate) fn push(&self, batch: &mut Batch, timestamp: i64) {
        let headers = [
            Header::new(MARKER_HEADER, &b""[..]),
            Header::new(WRITER_HEADER, self.writer.as_bytes().to_vec()),
            Header::new(CLOCK_HEADER, self.clock.to_vec()),
        ];
        batch.push(
            timestamp,
            Some(MARKER_KEY),
            Some(&encode_positions(self.positions)),
            &headers,
        );
    }
}

/// The id that a state directory signs its changelog markers with, made
/// on first use: it tells a task's own interrupted commit from changes
/// another instance made while it owned the task.
pub(crate) fn writer_id(backend: &dyn StateBackend) -> Result<String> {
    if let Some(id) = backend.meta(WRITER_KEY)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    let id = format!("{:016x}", h.finish());
    let mut batch = StateBatch::new();
    batch.meta(WRITER_KEY, id.as_bytes());
    backend.commit(&batch)?;
    Ok(id)
}

/// Meta key of a task's event-time clock.
pub(crate) fn clock_key(task: TaskId) -> String {
    format!("clock/{task}")
}

/// The positions and clock of a changelog marker.
pub(crate) type MarkerContents = (Positions, Option<Vec<u8>>);

/// The contents of `record` if it is a marker.
pub(crate) fn read_marker(record: &Record) -> Option<Result<MarkerContents>> {
    if !is_marker(record) {
        return None;
    }
    let value = record.value.as_deref()?;
    let clock = record.header(CLOCK_HEADER).filter(|c| !c.is_empty());
    Some(decode_positions(value).map(|p| (p, clock.map(|c| c.to_vec()))))
}

/// True when `record` is a changelog marker, not a change.
pub(crate) fn is_marker(record: &Record) -> bool {
    record.header(MARKER_HEADER).is_some() && record.key.as_deref().is_none_or(|k| k == MARKER_KEY)
}

/// True when `record` is a marker written by another state directory than `writer`.
pub(crate) fn marker_of_another(record: &Record, writer: &str) -> bool {
    is_marker(record)
        && record
            .header(WRITER_HEADER)
            .is_some_and(|w| &w[..] != writer.as_bytes())
}
