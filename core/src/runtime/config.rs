//! Runtime settings.

use crate::error::{Error, Result};
use std::time::Duration;

/// What to do with a record whose key or value cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnDecodeError {
    /// Write it, bytes intact, to the dead-letter topic with the error in
    /// headers, and go on (the default).
    #[default]
    DeadLetter,
    /// Stop the application with an error naming the record.
    Fail,
}

/// What to do when user code (an operator's function or a codec) panics
/// on a record, as Kafka Streams' processing-exception handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnProcessingError {
    /// Stop the application with an error naming the task, the operator
    /// and the record (the default). The task that failed does not commit,
    /// so the record is processed again on the next start; every other
    /// task commits what it has processed.
    #[default]
    Fail,
    /// Write the input record, bytes intact, to the dead-letter topic with
    /// the panic message, the operator and the task in headers, and go on.
    /// Outputs and state changes the record made before the panic stay.
    /// A panic while timers fire (no input record to blame) still stops
    /// the application.
    DeadLetter,
}

/// Where a group starts reading a partition it has no position for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetReset {
    /// From the first record held (the default).
    #[default]
    Earliest,
    /// From the next record written.
    Latest,
}

/// How long an application runs ([`App::run`](super::App::run)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Until {
    /// Until SIGINT or SIGTERM (the default).
    #[default]
    Signal,
    /// To the end its inputs have when it starts: a bounded run, which
    /// ends event time (every window is emitted), commits and stops. For
    /// replays, backfills and benchmarks; like Flink's `stop --drain`, it
    /// is for runs that end: a later run of the same application finds its
    /// event time ended, and new records late, until it is reset.
    End,
}

impl std::str::FromStr for Until {
    type Err = Error;

    /// Parses an application's `--until` flag: `end` or `signal`.
    ///
    /// ```
    /// use tributary::runtime::Until;
    /// assert_eq!("end".parse::<Until>()?, Until::End);
    /// assert!("tomorrow".parse::<Until>().is_err());
    /// # Ok::<(), tributary::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "end" => Ok(Until::End),
            "signal" => Ok(Until::Signal),
            other => Err(Error::InvalidConfig(format!(
                "until: '{other}' is neither 'end' (a bounded run to the end of the inputs) \
                 nor 'signal' (run until SIGINT/SIGTERM)"
            ))),
        }
    }
}

/// Headers set on dead-lettered records.
pub mod dead_letter_headers {
    /// Why the record could not be decoded, or the panic it caused.
    pub const ERROR: &str = "tributary.error";
    /// The operator that panicked on it (processing errors only).
    pub const OPERATOR: &str = "tributary.operator";
    /// The task that processed it (processing errors only).
    pub const TASK: &str = "tributary.task";
    /// The topic it was read from.
    pub const TOPIC: &str = "tributary.source.topic";
    /// The partition it was read from (decimal).
    pub const PARTITION: &str = "tributary.source.partition";
    /// Its offset there (decimal).
    pub const OFFSET: &str = "tributary.source.offset";
}

/// Settings of a running application. `Config::default()` runs anything.
#[derive(Debug, Clone)]
pub struct Config {
    /// Consumer group and prefix of internal topics; defaults to the topology name.
    pub application_id: Option<String>,
    /// Worker threads; defaults to the number of cores.
    pub threads: usize,
    /// How often positions are committed (outputs are synced first).
    pub commit_interval: Duration,
    /// Policy for undecodable records.
    pub on_decode_error: OnDecodeError,
    /// Policy for panics in user code.
    pub on_processing_error: OnProcessingError,
    /// Dead-letter topic; defaults to `<application>-dlq`.
    pub dead_letter_topic: Option<String>,
    /// Start position of partitions without a committed position.
    pub offset_reset: OffsetReset,
    /// Bytes fetched per input partition per poll.
    pub fetch_max_bytes: usize,
    /// Records a task processes before it flushes its outputs.
    pub max_poll_records: usize,
    /// Directory of local state; the application's state goes in
    /// `<state_dir>/<application>` (default `tributary-state`).
    pub state_dir: std::path::PathBuf,
    /// Reset the application before starting, to replay its inputs from
    /// here with empty state (see [`reset_application`](super::reset_application)).
    pub replay_from: Option<super::ReplayFrom>,
    /// Memory for the state of the whole process, in bytes (default
    /// 256 MiB), however many stores and partitions it has: a quarter for
    /// RocksDB (its block cache, with index and filter blocks and the
    /// memtables charged to it), a quarter for the tasks' write caches
    /// (shared equally among store partitions), and half left for what
    /// RocksDB does not account for (building filters and tables during
    /// flushes and compactions, iterators), commit batches, decoded input
    /// records, and memory the allocator holds between its returns to the
    /// system. With 10M keys held, the whole process peaks within it
    /// (`benches/README.md`).
    pub state_memory: usize,
    /// How far behind the largest event time seen a record may arrive and
    /// still count as on time: the watermark trails the inputs by this
    /// much (default 0, as Kafka Streams' stream time).
    pub max_out_of_orderness: Duration,
    /// An input partition with nothing to read for this long stops holding
    /// the watermark back until records arrive on it again (default 1 s).
    pub idle_timeout: Duration,
    /// How far ahead in event time a task that writes a repartition topic
    /// may run of the slowest of its sibling tasks (default 10 s); a task
    /// further ahead pauses until the others catch up, so that under a
    /// backlog the state downstream (windows held open, join buffers) stays
    /// bounded. `Duration::MAX` turns this off.
    pub max_watermark_drift: Duration,
    /// How long [`App::run`](super::App::run) runs: until a signal (the
    /// default) or to the end of the inputs (`--until end`).
    pub until: Until,
    /// Where the application serves `/metrics`, `/health/*`, `/stores/*`
    /// and its status page (see [`crate::http`]); `None` (the default)
    /// serves nothing. Port 0 takes a free port
    /// ([`RunningApp::http_addr`](super::RunningApp::http_addr) tells which).
    pub http: Option<std::net::SocketAddr>,
    /// Standby replicas per task, as Kafka Streams' `num.standby.replicas`:
    /// 0 (the default) or 1. With 1, each instance keeps warm copies of the
    /// state of the tasks it would be given if another instance left (as
    /// its group member predicts, see
    /// [`Member::standby_partitions`](crate::group::Member::standby_partitions)),
    /// by following their changelogs, so that a failover restores only
    /// the last commits (see the runtime's `standby` module).
    pub standby_replicas: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            application_id: None,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            commit_interval: Duration::from_secs(1),
            on_decode_error: OnDecodeError::default(),
            on_processing_error: OnProcessingError::default(),
            dead_letter_topic: None,
            offset_reset: OffsetReset::default(),
            fetch_max_bytes: 1 << 20,
            max_poll_records: 10_000,
            state_dir: std::path::PathBuf::from("tributary-state"),
            replay_from: None,
            state_memory: 256 << 20,
            max_out_of_orderness: Duration::ZERO,
            idle_timeout: Duration::from_secs(1),
            max_watermark_drift: Duration::from_secs(10),
            until: Until::Signal,
            http: None,
            standby_replicas: 0,
        }
    }
}

impl Config {
    /// RocksDB's share of [`state_memory`](Self::state_memory).
    pub(crate) fn backend_memory(&self) -> usize {
        self.state_memory / 4
    }

    /// The write caches' share of [`state_memory`](Self::state_memory).
    pub(crate) fn write_cache_memory(&self) -> usize {
        self.state_memory / 4
    }

    /// Checks the settings, naming every bad one.
    pub fn validate(&self) -> Result<()> {
        let problems: Vec<String> = self
            .problems()
            .into_iter()
            .map(|(key, problem)| format!("{key} {problem}"))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidConfig(problems.join("; ")))
        }
    }

    /// Every bad setting: its key, and what is wrong with its value.
    pub(crate) fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let checks = [
            ("threads", self.threads == 0, "must be at least 1"),
            (
                "commit_interval",
                self.commit_interval.is_zero(),
                "must be positive",
            ),
            (
                "fetch_max_bytes",
                self.fetch_max_bytes < 1024,
                "must be at least 1024",
            ),
            (
                "state_memory",
                self.state_memory < (8 << 20),
                "must be at least 8 MiB",
            ),
            (
                "max_poll_records",
                self.max_poll_records == 0,
                "must be at least 1",
            ),
            (
                "standby_replicas",
                self.standby_replicas > 1,
                "must be 0 or 1 (standby copies are placed where a single instance's \
                 departure would move tasks)",
            ),
        ];
        checks
            .into_iter()
            .filter(|(_, bad, _)| *bad)
            .map(|(key, _, problem)| (key, problem))
            .collect()
    }
}
