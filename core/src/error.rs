//! Errors of the `tributary` crate.
//!
//! One enum, [`Error`], covers the log, codecs, topology validation and the
//! runtime. Variants are structured so that callers can branch on them, and
//! every message names what went wrong and where (topic, partition, file,
//! offset).

/// The result type used throughout `tributary`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `tributary`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed; `context` says which.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path involved.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A topic that does not exist was used.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// A partition outside the topic's partition range was used.
    #[error("topic '{topic}' has no partition {partition} (it has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition that was asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A topic was created twice.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// A configuration value is not acceptable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The embedded log's files are damaged or locked by another writer.
    #[error(transparent)]
    Embedded(#[from] crate::log::embedded_error::EmbeddedError),
    /// A fetch asked for an offset the partition does not hold.
    #[error("offset {offset} is out of range for {topic}/{partition} (valid: {start}..={end})")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The first offset still held.
        start: u64,
        /// The next offset to be written.
        end: u64,
    },
    /// A group's position is past the end of a partition: the partition
    /// lost records it had acknowledged, or was recreated. Reading on would
    /// skip the records written next, so it is an error.
    #[error(
        "the position {position} of group '{group}' in {topic}/{partition} is past the \
         partition's end {end}: the log lost records it had acknowledged, or the topic was \
         recreated; records written from now on would be skipped. Reset the group's positions \
         (`tributary groups reset {group} --to earliest`, or Config::replay_from)"
    )]
    PositionPastEnd {
        /// The consumer group (application id).
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The group's position.
        position: u64,
        /// The partition's end offset.
        end: u64,
    },
    /// A record (or a batch of them) is larger than a batch may be.
    #[error(
        "{} too large for {topic}/{partition} ({bytes} bytes, limit {limit})",
        if *.records == 1 { "record".to_string() } else { format!("batch of {} records", .records) }
    )]
    TooLarge {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Records in the batch.
        records: usize,
        /// Its size in bytes.
        bytes: usize,
        /// The largest batch the log takes.
        limit: usize,
    },
    /// A key or value could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] crate::codec::CodecError),
    /// The topology is not valid; every problem found is listed.
    #[error("invalid topology:\n  - {}", .0.join("\n  - "))]
    Topology(Vec<String>),
    /// User code (an operator's function, a codec) panicked, and the
    /// application is configured to stop on it.
    #[error(
        "user code panicked in task {task}, operator '{operator}', {during}: {message}{hint}",
        hint = if .during.starts_with("on record") {
            " (set on_processing_error = dead-letter to send such records to the dead-letter \
             topic and go on)"
        } else {
            ""
        }
    )]
    UserCodePanicked {
        /// The task (`<sub-topology>_<partition>`).
        task: String,
        /// The operator (node name, as in `describe()`).
        operator: String,
        /// What the task was doing: `on record <topic>/<partition>@<offset>`,
        /// or firing timers.
        during: String,
        /// The panic's message and, when known, where it was raised.
        message: String,
    },
    /// A record could not be decoded and the application is configured to stop.
    #[error(
        "cannot decode record {topic}/{partition}@{offset}: {source} \
         (set on_decode_error = dead-letter to route such records to a dead-letter topic)"
    )]
    Decode {
        /// The input topic.
        topic: String,
        /// The input partition.
        partition: u32,
        /// The record's offset.
        offset: u64,
        /// Why decoding failed.
        #[source]
        source: crate::codec::CodecError,
    },
    /// The state backend failed.
    #[error(transparent)]
    State(tributary_state::Error),
    /// A group refused a commit from a member that does not own the
    /// partitions (they were lost to another member).
    #[error(
        "group '{group}' refused the commit of member '{member}': it does not own {}",
        .partitions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Fenced {
        /// The group.
        group: String,
        /// The member whose commit was refused.
        member: String,
        /// The partitions it does not own.
        partitions: Vec<crate::record::TopicPartition>,
    },
    /// A group could not take a commit at this moment: it is rebalancing,
    /// or its coordinator is moving. Not a failure: the runtime keeps the
    /// positions and commits them again with its next commit.
    #[error("group '{group}' cannot take commits now: {reason}")]
    GroupBusy {
        /// The group.
        group: String,
        /// Why, as the group said it.
        reason: String,
    },
    /// A backend other than the embedded log (Kafka) failed; `context` says
    /// what was being done.
    #[error("{context}: {source}")]
    Backend {
        /// What was being done, with the topic or group involved.
        context: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A worker thread panicked or the runtime was stopped abnormally.
    #[error("runtime failure: {0}")]
    Runtime(String),
}

impl Error {
    /// Wraps an I/O error with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds context to I/O results, as `anyhow::Context` does, within this crate.
pub(crate) trait IoContext<T> {
    /// Wraps the error with the context string produced by `f`.
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}
