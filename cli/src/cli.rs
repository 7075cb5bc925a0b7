//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Tributary: topics, records and consumer groups of an embedded log or a
/// Kafka cluster.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, about)]
pub(crate) struct Cli {
    /// Directory of the embedded log.
    #[arg(
        long,
        global = true,
        env = "TRIBUTARY_DIR",
        default_value = "tributary-data"
    )]
    pub(crate) dir: PathBuf,
    /// Work on a Kafka cluster instead of the embedded log: its bootstrap
    /// brokers, HOST:PORT[,HOST:PORT...].
    #[arg(long, global = true, env = "TRIBUTARY_BROKERS")]
    pub(crate) brokers: Option<String>,
    /// A file of librdkafka properties (key=value lines) for --brokers:
    /// TLS, SASL, client.id...
    #[arg(long, global = true, requires = "brokers")]
    pub(crate) kafka_properties: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Append JSON lines (from stdin or a file) to a topic.
    Produce(ProduceArgs),
    /// Print a topic's records as JSON lines.
    Consume(ConsumeArgs),
    /// List, describe and reset consumer groups.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Inspect a stopped application's local state.
    #[command(subcommand)]
    State(StateCommand),
    /// Check the log's segments for damage, and set damaged ranges aside.
    #[command(subcommand)]
    Log(LogCommand),
    /// Draw an application's topology (the diagram of its status page) as
    /// Mermaid, Graphviz DOT or text.
    Topology(TopologyArgs),
}

/// `tributary topology`.
#[derive(Debug, Args)]
pub(crate) struct TopologyArgs {
    /// A topology description as JSON: saved from a running application's
    /// `GET /topology`, or the `topology.json` a stateful application
    /// writes in its state directory (the default, with --app).
    #[arg(long, conflicts_with = "app")]
    pub(crate) file: Option<std::path::PathBuf>,
    /// The application whose `<state-dir>/<app>/topology.json` to read.
    #[arg(long)]
    pub(crate) app: Option<String>,
    /// The applications' state directory.
    #[arg(long, default_value = "tributary-data/state")]
    pub(crate) state_dir: std::path::PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagramFormat::Mermaid)]
    pub(crate) format: DiagramFormat,
}

/// How `tributary topology` draws.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum DiagramFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
    /// The text of `Topology::describe()`.
    Text,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
    /// Check every batch of every partition; exit code 1 if any damage is
    /// not quarantined.
    Verify,
    /// Copy a partition's damaged ranges aside and let readers continue
    /// after them (stop the applications that write the topic first).
    Quarantine {
        /// Topic.
        topic: String,
        /// Partition (default: every partition of the topic).
        #[arg(long)]
        partition: Option<u32>,
    },
}

/// How keys of a store are encoded (stores keep rkyv-encoded keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyType {
    /// A `String` key.
    String,
    /// A `u64` key.
    U64,
    /// An `i64` key.
    I64,
    /// Raw bytes, written in hex.
    Hex,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// List an application's stores.
    List {
        /// Application id.
        #[arg(long)]
        app: String,
        /// State directory the application was run with.
        #[arg(long, default_value = "tributary-state")]
        state_dir: PathBuf,
    },
    /// Print one key's value.
    Get {
        /// Application id.
        #[arg(long)]
        app: String,
        /// Store name.
        #[arg(long)]
        store: String,
        /// The key.
        key: String,
        /// Type of the store's keys.
        #[arg(long, value_enum, default_value_t = KeyType::String)]
        key_type: KeyType,
        /// Number of task partitions to look in.
        #[arg(long, default_value_t = 64)]
        partitions: u32,
        /// State directory the application was run with.
        #[arg(long, default_value = "tributary-state")]
        state_dir: PathBuf,
    },
    /// Print a store's entries.
    Scan {
        /// Application id.
        #[arg(long)]
        app: String,
        /// Store name.
        #[arg(long)]
        store: String,
        /// Type of the store's keys.
        #[arg(long, value_enum, default_value_t = KeyType::String)]
        key_type: KeyType,
        /// Number of task partitions to look in.
        #[arg(long, default_value_t = 64)]
        partitions: u32,
        /// Stop after this many entries.
        #[arg(long)]
        max: Option<u64>,
        /// State directory the application was run with.
        #[arg(long, default_value = "tributary-state")]
        state_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Number of partitions.
        #[arg(long, short, default_value_t = 1)]
        partitions: u32,
        /// Segment size in bytes.
        #[arg(long)]
        segment_bytes: Option<u64>,
        /// Delete data older than this (e.g. 7d, 12h).
        #[arg(long, value_parser = humantime::parse_duration)]
        retention: Option<std::time::Duration>,
        /// Keep at most this many bytes per partition.
        #[arg(long)]
        retention_bytes: Option<u64>,
    },
    /// List topics.
    List,
    /// Show a topic's settings and partitions.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
    },
}

/// How the key of a produced record is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyFormat {
    /// A JSON string's text as is; other JSON values as JSON text.
    String,
    /// JSON text (strings keep their quotes).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// Topic to append to.
    pub(crate) topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long, short)]
    pub(crate) file: Option<PathBuf>,
    /// Take the key from this field of each JSON value.
    #[arg(long, conflicts_with = "key")]
    pub(crate) key_field: Option<String>,
    /// Use this key for every record.
    #[arg(long)]
    pub(crate) key: Option<String>,
    /// Encoding of keys taken from a field.
    #[arg(long, value_enum, default_value_t = KeyFormat::String)]
    pub(crate) key_format: KeyFormat,
    /// Take the timestamp from this field (milliseconds or RFC 3339).
    #[arg(long, conflicts_with = "timestamp")]
    pub(crate) timestamp_field: Option<String>,
    /// Use this timestamp (milliseconds or RFC 3339) for every record.
    #[arg(long)]
    pub(crate) timestamp: Option<String>,
    /// Write to this partition instead of partitioning by key.
    #[arg(long)]
    pub(crate) partition: Option<u32>,
    /// Do not check that lines are JSON or UTF-8 (append them as bytes).
    #[arg(long)]
    pub(crate) raw: bool,
    /// Skip invalid lines (counted and reported; the exit code is 1 if any
    /// were skipped, unless --allow-skipped) instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// With --skip-invalid: exit 0 even if lines were skipped.
    #[arg(long, requires = "skip_invalid")]
    pub(crate) allow_skipped: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// Topic to read.
    pub(crate) topic: String,
    /// Where to start: earliest, latest, an offset, or an RFC 3339 time.
    #[arg(long, default_value = "earliest")]
    pub(crate) from: String,
    /// Read only this partition.
    #[arg(long)]
    pub(crate) partition: Option<u32>,
    /// Keep waiting for new records.
    #[arg(long)]
    pub(crate) follow: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub(crate) max: Option<u64>,
    /// Print only values, one per line.
    #[arg(long)]
    pub(crate) values: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List consumer groups.
    List,
    /// Show a group's positions and lag per partition.
    Describe {
        /// Group (application id).
        group: String,
    },
    /// Move a group's positions (stop the application first), e.g. to replay.
    Reset {
        /// Group (application id).
        group: String,
        /// Target: earliest, latest, an offset, or an RFC 3339 time.
        #[arg(long)]
        to: String,
        /// Topics to reset (default: every topic the group has positions for).
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// Also delete the application's internal topics and local state, to
        /// replay its inputs from the target with empty state.
        #[arg(long)]
        reset_state: bool,
        /// State directory the application runs with (for --reset-state).
        #[arg(long, default_value = "tributary-state")]
        state_dir: PathBuf,
    },
}
