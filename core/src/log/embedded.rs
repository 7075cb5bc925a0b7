//! The embedded log: topics in a local directory.
//!
//! Layout under the root directory:
//!
//! ```text
//! topics/<topic>/topic.json          the TopicConfig
//! topics/<topic>/<partition>/*.log   segment files
//! topics/<topic>/<partition>/acked   offset after the last synced record
//! groups/<group>.json                consumer-group positions
//! staging/                           topics being created
//! ```
//!
//! Any number of processes may open the same directory: each partition has
//! one writer at a time (the first process to append locks the partition's
//! directory), and readers in other processes see new batches as they are
//! written. A topic is created in a hidden staging directory and renamed
//! into place complete, so a failed create leaves nothing behind.

use super::offsets::OffsetStore;
use super::partition::Partition;
use super::topic_file;
use super::{Damage, EmbeddedTopicSettings, Quarantined};
use super::{FsyncPolicy, GroupPositions, LogReader, LogWriter, TopicAdmin};
use super::{TopicConfig, TopicPartition, validate_name};
use crate::error::{Error, IoContext, Result};
use crate::record::{Batch, Record, now_millis};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug)]
struct Topic {
    config: TopicConfig,
    settings: EmbeddedTopicSettings,
    partitions: Vec<RwLock<Partition>>,
}

/// Topics stored in a local directory; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use tributary::Batch;
/// use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
/// let dir = tempfile::tempdir()?;
/// let log = EmbeddedLog::open(dir.path())?;
/// log.create_topic("clicks", &TopicConfig::new(2))?;
/// let mut batch = Batch::new();
/// batch.push(1_000, Some(b"user-1"), Some(b"{\"page\":\"/\"}"), &[]);
/// assert_eq!(log.append("clicks", 0, &batch)?, 0);
/// let mut out = Vec::new();
/// log.fetch("clicks", 0, 0, 1 << 20, &mut out)?;
/// assert_eq!(out[0].value.as_deref(), Some(&b"{\"page\":\"/\"}"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EmbeddedLog {
    root: PathBuf,
    fsync: FsyncPolicy,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    offsets: OffsetStore,
    offsets_lock: Mutex<()>,
}

impl EmbeddedLog {
    /// Opens (creating if needed) a log directory with the default fsync policy.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, FsyncPolicy::default())
    }

    /// Opens a log directory with the given fsync policy.
    pub fn open_with(root: impl AsRef<Path>, fsync: FsyncPolicy) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(root.join("topics"))
            .ctx(|| format!("creating log directory {}", root.display()))?;
        Ok(EmbeddedLog {
            offsets: OffsetStore::new(root.join("groups")),
            root,
            fsync,
            topics: RwLock::new(HashMap::new()),
            offsets_lock: Mutex::new(()),
        })
    }

    /// The log's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn topic_dir(&self, name: &str) -> PathBuf {
        self.root.join("topics").join(name)
    }

    /// The open topic, opening it from disk if another process created it.
    fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        if let Some(t) = read(&self.topics).get(name) {
            return Ok(Arc::clone(t));
        }
        validate_name("topic", name)?;
        let dir = self.topic_dir(name);
        let meta = dir.join("topic.json");
        let bytes = match std::fs::read(&meta) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::UnknownTopic(name.to_owned()));
            }
            Err(e) => return Err(Error::io(format!("reading {}", meta.display()), e)),
        };
        let (config, settings) = topic_file::decode(&meta, &bytes)?;
        let mut partitions = Vec::with_capacity(config.partitions as usize);
        for p in 0..config.partitions {
            let dir = dir.join(p.to_string());
            let part = Partition::open(name, p, dir, (config.clone(), settings), self.fsync)?;
            partitions.push(RwLock::new(part));
        }
        let topic = Arc::new(Topic {
            config,
            settings,
            partitions,
        });
        let mut topics = write(&self.topics);
        Ok(Arc::clone(topics.entry(name.to_owned()).or_insert(topic)))
    }

    fn with_partition<T>(
        &self,
        topic: &str,
        partition: u32,
        f: impl FnOnce(&RwLock<Partition>) -> Result<T>,
    ) -> Result<T> {
        let t = self.topic(topic)?;
        let p = t
            .partitions
            .get(partition as usize)
            .ok_or_else(|| Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: t.config.partitions,
            })?;
        f(p)
    }

    /// Deletes sealed segments past retention in every open partition.
    pub fn enforce_retention(&self) -> Result<()> {
        let now = now_millis();
        let topics: Vec<_> = read(&self.topics).values().cloned().collect();
        for t in topics {
            for p in &t.partitions {
                let mut p = write(p);
                if p.is_writer() {
                    p.enforce_retention(now)?;
                }
            }
        }
        Ok(())
    }

    /// Compacts every partition of a compacted topic now (it also happens
    /// whenever a segment rolls). Takes the partitions' writer locks.
    pub fn compact(&self, topic: &str) -> Result<()> {
        let t = self.topic(topic)?;
        if !t.config.is_compacted() {
            return Err(Error::InvalidConfig(format!(
                "topic '{topic}' is not compacted"
            )));
        }
        for p in &t.partitions {
            write(p).compact()?;
        }
        Ok(())
    }

    /// Checks every batch of every partition of every topic (the partitions
    /// open in this process are not disturbed) and reports, per partition,
    /// what it holds, what is damaged and what is quarantined.
    pub fn verify(&self) -> Result<Vec<PartitionCheck>> {
        let mut checks = Vec::new();
        for topic in self.list_topics()? {
            let config = self.topic_config(&topic)?;
            for partition in 0..config.partitions {
                let dir = self.topic_dir(&topic).join(partition.to_string());
                let opened =
                    super::recovery::open_segments(&dir, false, config.is_compacted(), true)?;
                let quarantined = super::quarantine::load(&dir)?;
                let mut damage = opened.all_damage();
                damage.retain(|d| !super::quarantine::covers(&quarantined, d));
                let segments = &opened.segments;
                checks.push(PartitionCheck {
                    topic: topic.clone(),
                    partition,
                    start: segments.first().map_or(0, |s| s.base_offset),
                    end: segments.last().map_or(0, |s| s.next_offset),
                    segments: segments.len(),
                    bytes: segments.iter().map(|s| s.size).sum(),
                    damage,
                    quarantined,
                });
            }
        }
        Ok(checks)
    }

    /// Quarantines every damaged range of a partition: copies the damaged
    /// bytes aside (into the partition's `quarantine/` directory) and lets
    /// readers continue after them; the gap stays visible
    /// ([`quarantined`](Self::quarantined)). Takes the partition's writer
    /// lock: stop the applications that write it first. Returns the ranges
    /// quarantined now.
    pub fn quarantine(&self, topic: &str, partition: u32) -> Result<Vec<Quarantined>> {
        self.with_partition(topic, partition, |p| write(p).quarantine())
    }

    /// The quarantined ranges of a partition, in offset order.
    pub fn quarantined(&self, topic: &str, partition: u32) -> Result<Vec<Quarantined>> {
        self.with_partition(topic, partition, |p| Ok(read(p).quarantined().to_vec()))
    }

    /// Total bytes stored for a partition.
    pub fn partition_size(&self, topic: &str, partition: u32) -> Result<u64> {
        self.with_partition(topic, partition, |p| Ok(read(p).size_bytes()))
    }
}

/// What [`EmbeddedLog::verify`] found in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCheck {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// First offset held.
    pub start: u64,
    /// Offset after the last record held in a segment.
    pub end: u64,
    /// Segment files.
    pub segments: usize,
    /// Bytes of valid batches.
    pub bytes: u64,
    /// Damaged ranges not quarantined: readers stop at them with an error.
    pub damage: Vec<Damage>,
    /// Damaged ranges set aside: readers continue after them.
    pub quarantined: Vec<Quarantined>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EmbeddedLog {
    /// Creates a topic with settings only the embedded log has (see
    /// [`TopicAdmin::create_topic`] for the defaults).
    pub fn create_topic_with(
        &self,
        name: &str,
        config: &TopicConfig,
        settings: &EmbeddedTopicSettings,
    ) -> Result<()> {
        validate_name("topic", name)?;
        settings.validate(config)?;
        let dir = self.topic_dir(name);
        if dir.join("topic.json").exists() {
            return Err(Error::TopicExists(name.to_owned()));
        }
        let staging_root = self.root.join("staging");
        std::fs::create_dir_all(&staging_root)
            .ctx(|| format!("creating {}", staging_root.display()))?;
        let staging = staging_root.join(format!("{name}-{}-{}", std::process::id(), now_millis()));
        let made = topic_file::stage(&staging, config, settings).and_then(|()| {
            match std::fs::rename(&staging, &dir) {
                Ok(()) => Ok(()),
                // A directory without a configuration is what a failed
                // create of an earlier version left: not a topic; replaced.
                Err(_) if dir.is_dir() && !dir.join("topic.json").exists() => {
                    tracing::warn!(dir = %dir.display(), "replacing an incomplete topic directory");
                    std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))?;
                    std::fs::rename(&staging, &dir).ctx(|| format!("creating {}", dir.display()))
                }
                Err(_) if dir.join("topic.json").exists() => {
                    Err(Error::TopicExists(name.to_owned()))
                }
                Err(e) => Err(Error::io(format!("creating {}", dir.display()), e)),
            }
        });
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        made
    }

    /// A topic's settings that only the embedded log has.
    pub fn topic_settings(&self, name: &str) -> Result<EmbeddedTopicSettings> {
        Ok(self.topic(name)?.settings)
    }
}

impl TopicAdmin for EmbeddedLog {
    /// Creates a topic with the default [`EmbeddedTopicSettings`].
    fn create_topic(&self, name: &str, config: &TopicConfig) -> Result<()> {
        self.create_topic_with(name, config, &EmbeddedTopicSettings::default())
    }

    fn topic_config(&self, name: &str) -> Result<TopicConfig> {
        Ok(self.topic(name)?.config.clone())
    }

    fn list_topics(&self) -> Result<Vec<String>> {
        let dir = self.root.join("topics");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).ctx(|| format!("listing {}", dir.display()))? {
            let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
            if entry.path().join("topic.json").exists()
                && let Some(n) = entry.file_name().to_str()
            {
                names.push(n.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn delete_topic(&self, name: &str) -> Result<()> {
        self.topic(name)?;
        write(&self.topics).remove(name);
        let dir = self.topic_dir(name);
        std::fs::remove_dir_all(&dir).ctx(|| format!("deleting {}", dir.display()))
    }
}

impl LogWriter for EmbeddedLog {
    fn append(&self, topic: &str, partition: u32, batch: &Batch) -> Result<u64> {
        self.with_partition(topic, partition, |p| write(p).append(batch))
    }

    fn flush(&self, topic: &str, partition: u32) -> Result<()> {
        self.with_partition(topic, partition, |p| write(p).sync())
    }
}

impl LogReader for EmbeddedLog {
    fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> Result<()> {
        self.with_partition(topic, partition, |p| {
            {
                let part = read(p);
                if offset < part.end_offset() || part.is_writer() {
                    return part.fetch(offset, max_bytes, out);
                }
            }
            // At the end: look for what another process wrote meanwhile.
            let mut part = write(p);
            part.refresh()?;
            part.fetch(offset, max_bytes, out)
        })
    }

    fn offsets(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        self.with_partition(topic, partition, |p| {
            let mut part = write(p);
            part.refresh()?;
            Ok((part.start_offset(), part.end_offset()))
        })
    }

    fn offset_for_timestamp(&self, topic: &str, partition: u32, timestamp: i64) -> Result<u64> {
        self.with_partition(topic, partition, |p| {
            let mut part = write(p);
            part.refresh()?;
            part.offset_for_timestamp(timestamp)
        })
    }

    fn quarantined_records(&self, topic: &str, partition: u32) -> Result<u64> {
        Ok(self
            .quarantined(topic, partition)?
            .iter()
            .map(|q| q.to - q.from)
            .sum())
    }
}

impl GroupPositions for EmbeddedLog {
    fn commit_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        validate_name("group", group)?;
        let _guard = self
            .offsets_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.offsets.merge(group, offsets)
    }

    fn replace_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        validate_name("group", group)?;
        let _guard = self
            .offsets_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.offsets
            .store(group, &offsets.iter().cloned().collect())
    }

    fn committed_offsets(&self, group: &str) -> Result<BTreeMap<TopicPartition, u64>> {
        validate_name("group", group)?;
        self.offsets.load(group)
    }

    fn list_groups(&self) -> Result<Vec<String>> {
        self.offsets.list()
    }
}
