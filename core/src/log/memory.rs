//! An in-memory [`Log`], for tests and the [`TestDriver`](crate::testing::TestDriver).

use super::{GroupPositions, LogReader, LogWriter, TopicAdmin};
use super::{TopicConfig, TopicPartition, validate_name};
use crate::error::{Error, Result};
use crate::record::{Batch, Record};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    topics: BTreeMap<String, (TopicConfig, Vec<Vec<Record>>)>,
    groups: HashMap<String, BTreeMap<TopicPartition, u64>>,
}

/// Topics held in memory; same semantics as the embedded log, no disk.
#[derive(Debug, Default)]
pub struct MemoryLog {
    state: Mutex<State>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut s)
    }
}

fn partition<'a>(s: &'a mut State, topic: &str, p: u32) -> Result<&'a mut Vec<Record>> {
    let (config, parts) = s
        .topics
        .get_mut(topic)
        .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
    let partitions = config.partitions;
    parts
        .get_mut(p as usize)
        .ok_or_else(|| Error::UnknownPartition {
            topic: topic.to_owned(),
            partition: p,
            partitions,
        })
}

impl TopicAdmin for MemoryLog {
    fn create_topic(&self, name: &str, config: &TopicConfig) -> Result<()> {
        validate_name("topic", name)?;
        config.validate()?;
        self.with(|s| {
            if s.topics.contains_key(name) {
                return Err(Error::TopicExists(name.to_owned()));
            }
            let parts = vec![Vec::new(); config.partitions as usize];
            s.topics.insert(name.to_owned(), (config.clone(), parts));
            Ok(())
        })
    }

    fn topic_config(&self, name: &str) -> Result<TopicConfig> {
        self.with(|s| {
            s.topics
                .get(name)
                .map(|t| t.0.clone())
                .ok_or_else(|| Error::UnknownTopic(name.into()))
        })
    }

    fn list_topics(&self) -> Result<Vec<String>> {
        self.with(|s| Ok(s.topics.keys().cloned().collect()))
    }

    fn delete_topic(&self, name: &str) -> Result<()> {
        self.with(|s| {
            s.topics
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| Error::UnknownTopic(name.into()))
        })
    }
}

impl LogWriter for MemoryLog {
    fn append(&self, topic: &str, p: u32, batch: &Batch) -> Result<u64> {
        self.with(|s| {
            let part = partition(s, topic, p)?;
            let base = part.len() as u64;
            part.extend((base..).zip(batch.iter()).map(|(o, r)| r.to_record(o)));
            Ok(base)
        })
    }

    fn flush(&self, topic: &str, p: u32) -> Result<()> {
        self.with(|s| partition(s, topic, p).map(|_| ()))
    }
}

impl LogReader for MemoryLog {
    fn fetch(
        &self,
        topic: &str,
        p: u32,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> Result<()> {
        self.with(|s| {
            let part = partition(s, topic, p)?;
            let end = part.len() as u64;
            if offset > end {
                return Err(Error::OffsetOutOfRange {
                    topic: topic.to_owned(),
                    partition: p,
                    offset,
                    start: 0,
                    end,
                });
            }
            let mut bytes = 0;
            for r in &part[offset as usize..] {
                if bytes >= max_bytes {
                    break;
                }
                bytes += 16
                    + r.key.as_ref().map_or(0, Bytes::len)
                    + r.value.as_ref().map_or(0, Bytes::len);
                out.push(r.clone());
            }
            Ok(())
        })
    }

    fn offsets(&self, topic: &str, p: u32) -> Result<(u64, u64)> {
        self.with(|s| Ok((0, partition(s, topic, p)?.len() as u64)))
    }

    fn offset_for_timestamp(&self, topic: &str, p: u32, timestamp: i64) -> Result<u64> {
        self.with(|s| {
            let part = partition(s, topic, p)?;
            Ok(part
                .iter()
                .find(|r| r.timestamp >= timestamp)
                .map_or(part.len() as u64, |r| r.offset))
        })
    }
}

impl GroupPositions for MemoryLog {
    fn commit_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        validate_name("group", group)?;
        self.with(|s| {
            let g = s.groups.entry(group.to_owned()).or_default();
            for (tp, o) in offsets {
                g.insert(tp.clone(), *o);
            }
            Ok(())
        })
    }

    fn replace_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        validate_name("group", group)?;
        self.with(|s| {
            s.groups
                .insert(group.to_owned(), offsets.iter().cloned().collect());
            Ok(())
        })
    }

    fn committed_offsets(&self, group: &str) -> Result<BTreeMap<TopicPartition, u64>> {
        self.with(|s| Ok(s.groups.get(group).cloned().unwrap_or_default()))
    }

    fn list_groups(&self) -> Result<Vec<String>> {
        self.with(|s| {
            let mut g: Vec<_> = s.groups.keys().cloned().collect();
            g.sort();
            Ok(g)
        })
    }
}
