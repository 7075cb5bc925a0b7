//! Topics: the backend traits, the embedded log and the in-memory log.
//!
//! A topic has N partitions; a partition is an append-only sequence of
//! [`Record`]s with dense offsets from 0. Everything Tributary reads and
//! writes goes through four traits, one per role: [`TopicAdmin`],
//! [`LogReader`], [`LogWriter`] (which appends neutral
//! [`Batch`](crate::Batch)es) and [`GroupPositions`]; [`Log`] is all four.
//! The backends:
//!
//! - [`EmbeddedLog`] (the default) keeps topics in a local directory, as
//!   segment files of CRC-checked record batches (`log/format.rs`), with a torn
//!   tail truncated on open and damage kept and reported, never truncated
//!   or its offsets reused ([`recovery`](self)), quarantine of damaged
//!   ranges, retention by age and size, and one writer per partition across
//!   processes (a lock on the partition's directory);
//! - [`MemoryLog`] keeps them in memory, for the [`TestDriver`](crate::testing::TestDriver);
//! - the Kafka backend (`tributary-kafka`) will implement the same traits.
//!
//! Consumer-group offsets live in the backend too
//! ([`GroupPositions::commit_offsets`]).

// Data read from disk or the wire is never unwrapped here.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod embedded;
pub(crate) mod embedded_error;
mod format;
mod memory;
mod offsets;
mod partition;
mod quarantine;
mod recovery;
mod segment;
mod topic_file;

pub use embedded::{EmbeddedLog, PartitionCheck};
pub use embedded_error::EmbeddedError;
pub use memory::MemoryLog;
pub use quarantine::Quarantined;
pub use segment::Damage;
pub use topic_file::EmbeddedTopicSettings;

use crate::error::{Error, Result};
pub use crate::record::TopicPartition;
use crate::record::{Batch, Record};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What every backend knows of a topic: partitions, cleanup and retention.
///
/// Settings that only one backend has live with it (the embedded log's
/// segment size: [`EmbeddedTopicSettings`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Number of partitions (at least 1).
    pub partitions: u32,
    /// Delete old data whose newest record is older than this (ms).
    #[serde(default)]
    pub retention_ms: Option<i64>,
    /// Delete the oldest data while a partition is larger than this.
    #[serde(default)]
    pub retention_bytes: Option<u64>,
    /// How old data is cleaned up: deleted by retention, or compacted.
    #[serde(default)]
    pub cleanup: Cleanup,
}

/// How a topic's old data is cleaned up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cleanup {
    /// Old data is deleted by retention (time and size).
    #[default]
    Delete,
    /// Old data keeps only the latest record of each key (and the latest
    /// record without a key), as Kafka's `cleanup.policy=compact`; offsets
    /// are kept, so they have gaps. For changelogs.
    Compact,
}

impl TopicConfig {
    /// A topic with `partitions` partitions and default settings (no retention).
    pub fn new(partitions: u32) -> Self {
        TopicConfig {
            partitions,
            retention_ms: None,
            retention_bytes: None,
            cleanup: Cleanup::Delete,
        }
    }

    /// Makes the topic compacted (see [`Cleanup::Compact`]).
    pub fn compacted(mut self) -> Self {
        self.cleanup = Cleanup::Compact;
        self
    }

    /// True for compacted topics.
    pub fn is_compacted(&self) -> bool {
        self.cleanup == Cleanup::Compact
    }

    /// Sets retention by age.
    pub fn retention(mut self, age: Duration) -> Self {
        self.retention_ms = Some(age.as_millis() as i64);
        self
    }

    /// Sets retention by size, per partition.
    pub fn retention_bytes(mut self, bytes: u64) -> Self {
        self.retention_bytes = Some(bytes);
        self
    }

    /// Checks the settings every backend shares (a backend adds its own
    /// limits, such as the embedded log's partition count).
    pub fn validate(&self) -> Result<()> {
        if self.partitions == 0 {
            return Err(Error::InvalidConfig(
                "a topic needs at least 1 partition".into(),
            ));
        }
        if self.retention_ms.is_some_and(|ms| ms <= 0) {
            return Err(Error::InvalidConfig("retention_ms must be positive".into()));
        }
        Ok(())
    }
}

/// When appended data is flushed to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// After every appended batch: nothing acknowledged is lost on power failure.
    Always,
    /// At most this long after an append, and at every commit.
    Interval(Duration),
    /// Never explicitly; the OS writes back. Survives process crashes, not
    /// power failures. The default, as in Kafka (which relies on replication).
    #[default]
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = Error;
    /// Parses `always`, `never` or a duration such as `100ms` or `1s`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            other => parse_duration(other)
                .map(FsyncPolicy::Interval)
                .ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "fsync policy '{other}': expected always, never or a duration like 500ms"
                    ))
                }),
        }
    }
}

/// Parses `250ms`, `5s`, `2m` or `1h`.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

/// The embedded log's error for damaged bytes in `file` at `position`.
pub(crate) fn corrupt(
    file: impl Into<std::path::PathBuf>,
    position: u64,
    reason: impl Into<String>,
) -> Error {
    Error::Embedded(EmbeddedError::Corrupt {
        file: file.into(),
        position,
        reason: reason.into(),
    })
}

/// Checks a topic or group name: 1 to 249 characters of `[A-Za-z0-9._-]`, as Kafka.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    match name_problem(kind, name) {
        None => Ok(()),
        Some(problem) => Err(Error::InvalidConfig(problem)),
    }
}

/// What is wrong with a name, if anything (see [`validate_name`]).
pub(crate) fn name_problem(kind: &str, name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (!ok).then(|| {
        format!(
            "invalid {kind} name '{name}': use 1 to 249 characters among letters, digits, '.', '_' and '-'"
        )
    })
}

/// Topic administration: create, describe, list and delete topics.
pub trait TopicAdmin: Send + Sync + std::fmt::Debug {
    /// Creates a topic; fails if it exists or the configuration is invalid.
    fn create_topic(&self, name: &str, config: &TopicConfig) -> Result<()>;

    /// The configuration of an existing topic.
    fn topic_config(&self, name: &str) -> Result<TopicConfig>;

    /// Names of all topics, sorted.
    fn list_topics(&self) -> Result<Vec<String>>;

    /// Deletes a topic and its data.
    fn delete_topic(&self, name: &str) -> Result<()>;

    /// Creates the topic if it does not exist; returns its configuration.
    fn ensure_topic(&self, name: &str, config: &TopicConfig) -> Result<TopicConfig> {
        match self.topic_config(name) {
            Ok(c) => Ok(c),
            Err(Error::UnknownTopic(_)) => match self.create_topic(name, config) {
                Ok(()) | Err(Error::TopicExists(_)) => self.topic_config(name),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}

/// Reading partitions: fetch records, offsets, seek by time.
pub trait LogReader: Send + Sync + std::fmt::Debug {
    /// Appends records from `offset` on to `out`, about `max_bytes` of them
    /// (at least one batch when any is there). Nothing is appended when the
    /// partition has nothing at or after `offset`.
    fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> Result<()>;

    /// The first offset held and the offset the next record will get.
    fn offsets(&self, topic: &str, partition: u32) -> Result<(u64, u64)>;

    /// The first offset whose timestamp is `>= timestamp`, or the end offset.
    fn offset_for_timestamp(&self, topic: &str, partition: u32, timestamp: i64) -> Result<u64>;

    /// Records of a partition that readers skip because they were set
    /// aside as damaged (the embedded log's quarantine, `tributary log
    /// quarantine`); 0 for backends without one.
    fn quarantined_records(&self, _topic: &str, _partition: u32) -> Result<u64> {
        Ok(0)
    }
}

/// Writing partitions: append [`Batch`]es and make them durable.
///
/// Appends are at-least-once: a batch appended before a crash and not yet
/// committed is appended again after the restart. A transactional writer
/// (exactly-once: Kafka transactions, transaction markers in the embedded
/// log, whose batch format keeps room for them) will be a second trait over
/// this one, used by a second implementation of the runtime's commit
/// sequence (`runtime/commit.rs`).
pub trait LogWriter: Send + Sync + std::fmt::Debug {
    /// Appends a batch to a partition; returns the offset of its first
    /// record, so it waits until the backend has assigned it (a round trip
    /// to a broker). Where the offset is not needed, [`send`](Self::send).
    fn append(&self, topic: &str, partition: u32, batch: &Batch) -> Result<u64>;

    /// Appends a batch without waiting for its offsets: the records are
    /// durable once [`flush`](Self::flush) returns, and an error may be
    /// reported by a later call or by `flush`. The embedded log appends at
    /// once.
    fn send(&self, topic: &str, partition: u32, batch: &Batch) -> Result<()> {
        self.append(topic, partition, batch).map(drop)
    }

    /// Makes everything appended to the partition durable (per the backend's
    /// durability settings) before returning: called before a commit.
    fn flush(&self, topic: &str, partition: u32) -> Result<()>;
}

/// Where consumer groups' positions (the next offsets to read) are stored.
///
/// The runtime commits through a group [`Member`](crate::group::Member),
/// which can fence a member that left the group; these methods are the
/// storage underneath, and what `tributary groups` reads and resets.
pub trait GroupPositions: Send + Sync + std::fmt::Debug {
    /// Stores a consumer group's positions.
    fn commit_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()>;

    /// A consumer group's stored positions.
    fn committed_offsets(&self, group: &str) -> Result<BTreeMap<TopicPartition, u64>>;

    /// Replaces a group's positions for the given partitions, keeping the others.
    fn reset_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.commit_offsets(group, offsets)
    }

    /// Replaces all of a group's positions with `offsets` (others are forgotten).
    fn replace_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()>;

    /// Names of the groups with stored positions, sorted.
    fn list_groups(&self) -> Result<Vec<String>>;
}

/// A whole backend: every role at once. What an application runs on.
///
/// Implemented for every type that implements the four role traits; code
/// that needs one role takes that trait (`&dyn LogReader`, ...). Bring the
/// roles' methods into scope with `use tributary::log::prelude::*`.
pub trait Log: TopicAdmin + LogReader + LogWriter + GroupPositions + 'static {}

impl<T: TopicAdmin + LogReader + LogWriter + GroupPositions + 'static> Log for T {}

/// The backend traits, to bring their methods into scope.
pub mod prelude {
    pub use super::{GroupPositions, Log, LogReader, LogWriter, TopicAdmin};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("topic", "orders-v1.x_y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(250)] {
            assert!(validate_name("topic", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fsync_policy_parses() {
        assert_eq!(
            "always".parse::<FsyncPolicy>().unwrap(),
            FsyncPolicy::Always
        );
        assert_eq!(
            "250ms".parse::<FsyncPolicy>().unwrap(),
            FsyncPolicy::Interval(Duration::from_millis(250))
        );
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }
}
