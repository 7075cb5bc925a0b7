//! Per-task counters (the [`Stats`] of each task), kept by the application for every task it has run,
//! so that they survive the task's closing (a revocation, a rebalance).

use crate::log::TopicPartition;
use crate::task_id::TaskId;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One task's counters, updated by the task as it runs.
#[derive(Debug, Default)]
pub(crate) struct TaskCounters {
    /// Input records processed.
    pub(crate) processed: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub(crate) dead_lettered: AtomicU64,
    /// Changelog records applied to restore the task's state.
    pub(crate) restored: AtomicU64,
    /// Changelog records (offsets) still to restore.
    pub(crate) restore_remaining: AtomicU64,
    /// Records dropped as late, per operator.
    late: Mutex<BTreeMap<String, u64>>,
    /// Records written, per output topic (watermark announcements not counted).
    out: Mutex<BTreeMap<String, u64>>,
    /// The input partitions while the task is open on this instance; empty
    /// once it closed.
    inputs: Mutex<Vec<TopicPartition>>,
    /// Records each node of the topology processed, by node index.
    nodes: Mutex<Vec<u64>>,
}

impl TaskCounters {
    /// Adds `n` records written to `topic`.
    pub(crate) fn add_out(&self, topic: &str, n: u64) {
        if n > 0 {
            let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
            match out.get_mut(topic) {
                Some(c) => *c += n,
                None => {
                    out.insert(topic.to_owned(), n);
                }
            }
        }
    }

    /// Adds the records each node processed, and sets `counts` back to 0.
    pub(crate) fn add_node_records(&self, counts: &mut [u64]) {
        if counts.iter().all(|&n| n == 0) {
            return;
        }
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        if nodes.len() < counts.len() {
            nodes.resize(counts.len(), 0);
        }
        for (total, n) in nodes.iter_mut().zip(counts.iter_mut()) {
            *total += std::mem::take(n);
        }
    }

    /// Records each node processed so far, by node index.
    pub(crate) fn node_records(&self) -> Vec<u64> {
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records written so far, per output topic.
    pub(crate) fn records_out(&self) -> BTreeMap<String, u64> {
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the input partitions of the open task (none once closed).
    pub(crate) fn set_inputs(&self, inputs: Vec<TopicPartition>) {
        *self.inputs.lock().unwrap_or_else(PoisonError::into_inner) = inputs;
    }

    /// The input partitions of the task if it is open.
    pub(crate) fn inputs(&self) -> Vec<TopicPartition> {
        self.inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds `n` late records dropped by `operator`.
    pub(crate) fn add_late(&self, operator: &str, n: u64) {
        if n > 0 {
            *self
                .late
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(operator.to_owned())
                .or_default() += n;
        }
    }
}

/// The counters of every task the application has run, and of its commits
/// and rebalances.
#[derive(Debug)]
pub(crate) struct Counters {
    tasks: Mutex<BTreeMap<TaskId, Arc<TaskCounters>>>,
    /// Commits of the workers that had positions to commit.
    pub(crate) commits: AtomicU64,
    /// How long those commits took, in seconds.
    pub(crate) commit_seconds: Histogram,
    /// Commits whose positions the group could not take then
    /// ([`Error::GroupBusy`](crate::Error::GroupBusy)).
    pub(crate) commits_deferred: AtomicU64,
    /// Assignments and revocations the group handed this instance.
    pub(crate) rebalances: AtomicU64,
    /// Changelog records read by standby copies.
    pub(crate) standby_records: AtomicU64,
    /// Tasks this instance keeps a standby copy of, now.
    pub(crate) standby_tasks: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            tasks: Mutex::default(),
            commits: AtomicU64::new(0),
            commit_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16),
            ),
            commits_deferred: AtomicU64::new(0),
            rebalances: AtomicU64::new(0),
            standby_records: AtomicU64::new(0),
            standby_tasks: AtomicU64::new(0),
        }
    }
}

impl Counters {
    /// Every task's counters, as they are now.
    pub(crate) fn tasks(&self) -> Vec<(TaskId, Arc<TaskCounters>)> {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, c)| (*id, Arc::clone(c)))
            .collect()
    }

    /// Task `id`'s counters (created at zero the first time).
    pub(crate) fn of(&self, id: TaskId) -> Arc<TaskCounters> {
        Arc::clone(
            self.tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(id)
                .or_default(),
        )
    }

    /// Input records processed so far, by all tasks.
    pub(crate) fn processed(&self) -> u64 {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|c| c.processed.load(Ordering::Relaxed))
            .sum()
    }

    /// The totals over all tasks.
    pub(crate) fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for s in self.by_task().into_values() {
            total.records_in += s.records_in;
            total.dead_lettered += s.dead_lettered;
            total.restored += s.restored;
            total.late_dropped += s.late_dropped;
            for (op, n) in s.late_by_operator {
                *total.late_by_operator.entry(op).or_default() += n;
            }
        }
        total.standby_records = self.standby_records.load(Ordering::Relaxed);
        total.commits_deferred = self.commits_deferred.load(Ordering::Relaxed);
        total
    }

    /// Each task's counters.
    pub(crate) fn by_task(&self) -> BTreeMap<TaskId, Stats> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks
            .iter()
            .map(|(id, c)| {
                let late_by_operator = c
                    .late
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let stats = Stats {
                    records_in: c.processed.load(Ordering::Relaxed),
                    dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
                    restored: c.restored.load(Ordering::Relaxed),
                    late_dropped: late_by_operator.values().sum(),
                    late_by_operator,
                    standby_records: 0,
                    commits_deferred: 0,
                };
                (*id, stats)
            })
            .collect()
    }
}

/// Counters of an application, or of one of its tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input records processed.
    pub records_in: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Changelog records replayed to restore state at start.
    pub restored: u64,
    /// Records dropped because they arrived after their window (plus grace)
    /// had closed, and no late-record output was declared.
    pub late_dropped: u64,
    /// The same, per operator (window store or join name).
    pub late_by_operator: BTreeMap<String, u64>,
    /// Changelog records read to keep standby copies of other instances'
    /// tasks (whole application only; 0 per task).
    pub standby_records: u64,
    /// Commits whose positions the group could not take then (it was
    /// rebalancing: [`Error::GroupBusy`](crate::Error::GroupBusy)); they
    /// went with a later commit (whole application only; 0 per task).
    pub commits_deferred: u64,
}
