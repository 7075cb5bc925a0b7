//! What every task of an application is made from: the sources of each
//! sub-topology, the topics' partition counts, the settings, the log and
//! the state (see [`TaskFactory`](super::factory::TaskFactory)).

use super::alignment::Alignment;
use super::config::{OffsetReset, OnDecodeError, OnProcessingError};
use super::counters::Counters;
use crate::log::Log;
use crate::topology::SourceSpec;
use std::collections::HashMap;
use std::sync::Arc;
use tributary_state::StateBackend;

/// What [`Task::new`](super::task::Task::new) builds a task from.
#[derive(Debug)]
pub(crate) struct TaskEnv {
    /// The sources of each sub-topology.
    pub(crate) sources: Vec<Vec<SourceSpec>>,
    /// The partition count of every topic the application uses.
    pub(crate) partitions: HashMap<String, u32>,
    pub(crate) settings: TaskSettings,
    pub(crate) log: Arc<dyn Log>,
    pub(crate) state: Option<Arc<dyn StateBackend>>,
    pub(crate) alignments: Alignments,
    pub(crate) counters: Arc<Counters>,
    /// The state directory's writer id, which signs changelog markers.
    pub(crate) writer: Arc<str>,
}

/// Settings shared by all tasks of an application.
#[derive(Debug, Clone)]
pub(crate) struct TaskSettings {
    /// The application id (prefix of changelog topics).
    pub(crate) app: String,
    pub(crate) offset_reset: OffsetReset,
    pub(crate) on_decode_error: OnDecodeError,
    pub(crate) on_processing_error: OnProcessingError,
    /// Every node's name, by node index (errors name the operator).
    pub(crate) node_names: Arc<Vec<String>>,
    pub(crate) dead_letter_topic: Option<String>,
    pub(crate) fetch_max_bytes: usize,
    pub(crate) max_poll_records: usize,
    /// Memory budget of the write cache of each of the task's stores.
    pub(crate) store_cache_memory: usize,
    /// Memory for a batch of changes while a store is restored.
    pub(crate) restore_memory: usize,
    /// Allowed lateness of records behind the largest event time, in ms.
    pub(crate) out_of_orderness: i64,
    /// An input with nothing to read for this long (ms) stops holding the
    /// watermark back.
    pub(crate) idle_timeout: i64,
    /// Repartition topics (of every sub-topology), with the number of
    /// tasks that write into each: their readers' watermarks come from
    /// those tasks' announcements, and a task announces its own into those
    /// it writes.
    pub(crate) writers: Arc<HashMap<String, u32>>,
}

/// Where a task publishes its watermark for its siblings (see [`Alignment`]).
pub(crate) type Alignments = Arc<HashMap<usize, Arc<Alignment>>>;
