//! What an application's tasks are, and making them.
//!
//! A task is one sub-topology for one partition number. [`TaskFactory`]
//! knows every task the topology has, which of them a set of owned input
//! partitions makes up, and creates one (restoring its state) on demand,
//! from any thread.

use super::Config;
use super::alignment::Alignment;
use super::task::{Task, TaskId};
use super::task_env::{Alignments, TaskEnv, TaskSettings};
use crate::error::Result;
use crate::group::Subscription;
use crate::log::{Log, TopicPartition};
use crate::record::millis;
use crate::topology::{SourceSpec, Topology};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tributary_state::StateBackend;

/// Creates an application's tasks.
#[derive(Debug)]
pub(crate) struct TaskFactory {
    pub(crate) env: TaskEnv,
    /// Number of tasks of each sub-topology.
    task_counts: Vec<u32>,
}

impl TaskFactory {
    /// The factory of `topology`'s tasks. `restorers` is how many tasks
    /// may restore at once (they share the write caches' memory).
    pub(crate) fn new(
        topology: &Topology,
        (group, config): (&str, &Config),
        partitions: &HashMap<String, u32>,
        log: Arc<dyn Log>,
        state: Option<Arc<dyn StateBackend>>,
        restorers: usize,
    ) -> Result<Self> {
        let sources: Vec<Vec<SourceSpec>> = (0..topology.sub_topology_count())
            .map(|sub| topology.sources_of(sub))
            .collect();
        let task_counts: Vec<u32> = sources
            .iter()
            .map(|s| {
                let topics: Vec<&str> = s.iter().map(|s| s.topic.as_str()).collect();
                super::plan::task_count(&topics, partitions)
            })
            .collect();
        // Every store partition (one per changelog partition) has a write
        // cache, and each the same share. Restoring tasks may each use the
        // restorers' share of the caches' memory for their batches.
        let caches: u32 = topology
            .store_names()
            .iter()
            .filter_map(|s| partitions.get(&crate::store::changelog_topic(group, s)))
            .sum();
        let settings = TaskSettings {
            app: group.to_owned(),
            offset_reset: config.offset_reset,
            on_decode_error: config.on_decode_error,
            on_processing_error: config.on_processing_error,
            node_names: Arc::new(topology.node_names()),
            dead_letter_topic: config.dead_letter_topic.clone(),
            fetch_max_bytes: config.fetch_max_bytes,
            max_poll_records: config.max_poll_records,
            store_cache_memory: config.write_cache_memory() / caches.max(1) as usize,
            restore_memory: config.write_cache_memory() / restorers.max(1),
            out_of_orderness: millis(config.max_out_of_orderness),
            idle_timeout: millis(config.idle_timeout),
            writers: Arc::new(
                topology
                    .internal_writers()
                    .into_iter()
                    .map(|(topic, sub)| (topic, task_counts.get(sub).copied().unwrap_or(0)))
                    .collect(),
            ),
        };
        let drift = millis(config.max_watermark_drift);
        let alignments: Alignments = Arc::new(
            task_counts
                .iter()
                .enumerate()
                .map(|(sub, &n)| (sub, Arc::new(Alignment::new(n, drift))))
                .collect(),
        );
        let writer = match &state {
            Some(s) => crate::store::meta::writer_id(s.as_ref())?,
            None => String::new(),
        };
        Ok(TaskFactory {
            env: TaskEnv {
                sources,
                partitions: partitions.clone(),
                settings,
                log,
                state,
                alignments,
                counters: Arc::default(),
                writer: writer.into(),
            },
            task_counts,
        })
    }

    /// Every task of the topology, in order.
    pub(crate) fn all(&self) -> Vec<TaskId> {
        self.task_counts
            .iter()
            .enumerate()
            .flat_map(|(sub, &n)| {
                (0..n).map(move |partition| TaskId {
                    sub_topology: sub,
                    partition,
                })
            })
            .collect()
    }

    /// The topics a member subscribes to: every input of every
    /// sub-topology (repartition topics included).
    pub(crate) fn subscriptions(&self) -> Vec<Subscription> {
        let mut topics: Vec<Subscription> = Vec::new();
        for s in self.env.sources.iter().flatten() {
            if !topics.iter().any(|t| t.topic == s.topic) {
                topics.push(Subscription {
                    topic: s.topic.clone(),
                    partitions: self.env.partitions.get(&s.topic).copied().unwrap_or(0),
                });
            }
        }
        topics
    }

    /// The tasks whose inputs are all among `owned`.
    pub(crate) fn owned_tasks(&self, owned: &BTreeSet<TopicPartition>) -> BTreeSet<TaskId> {
        self.all()
            .into_iter()
            .filter(|id| self.inputs(*id).all(|tp| owned.contains(&tp)))
            .collect()
    }

    /// The input partitions of task `id`.
    fn inputs(&self, id: TaskId) -> impl Iterator<Item = TopicPartition> + '_ {
        self.env.sources[id.sub_topology]
            .iter()
            .filter(move |s| {
                self.env
                    .partitions
                    .get(&s.topic)
                    .is_some_and(|&n| id.partition < n)
            })
            .map(move |s| TopicPartition::new(s.topic.clone(), id.partition))
    }

    /// Creates task `id` and restores its state; its inputs start at the
    /// positions its state records, else at the group's `committed` ones,
    /// else as the reset policy says.
    pub(crate) fn create(
        &self,
        id: TaskId,
        committed: &BTreeMap<TopicPartition, u64>,
    ) -> Result<Task> {
        Task::new(id, &self.env, committed)
    }
}
