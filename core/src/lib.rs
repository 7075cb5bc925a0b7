//! # Tributary
//!
//! Typed stream processing over partitioned logs, in the model of Kafka
//! Streams: partitioned topics in, operators with local state, topics out.
//!
//! ## A tour
//!
//! - [`Record`]s live in topic partitions. A [`log::Log`] stores them: the
//!   [`log::EmbeddedLog`] in a local directory (nothing to install), the
//!   [`log::MemoryLog`] in memory, or Kafka (crate `tributary-kafka`).
//! - [`codec`]s turn typed keys and values into bytes: JSON at topic
//!   boundaries, rkyv inside, raw bytes and strings.
//! - A [`Topology`] is built with a typed, fluent API ([`Stream`]) and
//!   checked as a whole by [`TopologyBuilder::build`].
//! - [`App`] runs a topology on a log with worker threads, committing
//!   consumer-group positions (at-least-once); undecodable records go to a
//!   dead-letter topic.
//! - [`testing::TestDriver`] runs a topology in memory, deterministically.
//!
//! ```
//! use std::sync::Arc;
//! use tributary::{App, Config, Topology, codec::{Json, Utf8}};
//! use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
//!
//! #[derive(serde::Serialize, serde::Deserialize, Clone)]
//! struct View { user: String, item: String }
//!
//! let dir = tempfile::tempdir()?;
//! let log = Arc::new(EmbeddedLog::open(dir.path())?);
//! log.create_topic("views", &TopicConfig::new(4))?;
//! log.create_topic("item-views", &TopicConfig::new(4))?;
//!
//! let mut b = Topology::builder("views-by-item");
//! b.stream::<String, View>("views", Utf8, Json)
//!     .filter(|_user, v| !v.item.is_empty())
//!     .map(|_user, v| (v.item.clone(), v.user))
//!     .to("item-views", Utf8, Json);
//! let app = App::new(b.build()?, log, Config::default())?;
//! let running = app.start()?;
//! running.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Feature flags
//!
//! - `rocksdb` (default): durable state in RocksDB for [`App`]. Without it
//!   (`default-features = false`), topologies still build and run in
//!   [`testing::TestDriver`], and [`App`] runs stateless topologies only;
//!   nothing of RocksDB is compiled.
//!
//! ## Declaring pipelines with macros
//!
//! Crate `tributary-macros` offers `pipeline!`, a second front end that
//! expands to this builder, and `#[derive(Event)]` for [`event`] types.

pub mod codec;
pub mod error;
pub mod event;
mod framing;
pub mod group;
pub mod http;
pub mod log;
mod operators;
mod partitioner;
mod record;
pub mod runtime;
pub mod settings;
mod store;
mod task_id;
pub use store::StoreReader;
pub mod testing;
pub mod topology;

pub use error::{Error, Result};
pub use operators::Data;
pub use partitioner::{murmur2, partition_for_key};
pub use record::{Batch, BatchHeaders, BatchRecord, Header, Record, now_millis};
pub use runtime::{App, Config, OnDecodeError, OnProcessingError};
pub use topology::{GroupedStream, Stream, Table, Topology, TopologyBuilder};
