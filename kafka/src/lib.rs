//! Tributary on Apache Kafka (or any Kafka-protocol broker), through
//! librdkafka.
//!
//! [`KafkaLog`] implements the backend traits of
//! [`tributary::log`] (topic administration, reading, writing, group
//! positions) over a cluster; [`KafkaGroups`] implements
//! [`Membership`](tributary::group::Membership) over Kafka's consumer-group
//! protocol, so that every instance of an application joins the group named
//! after it and gets a share of the partitions. Both take a [`KafkaConfig`]:
//! the brokers, and any librdkafka property (TLS, SASL, `client.id`...).
//!
//! # Examples
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use tributary::{App, Config, Topology};
//! # fn run(topology: Topology, config: Config) -> Result<(), Box<dyn std::error::Error>> {
//! use tributary_kafka::{KafkaConfig, KafkaGroups, KafkaLog};
//! let kafka = KafkaConfig::new("broker-1:9092,broker-2:9092")
//!     .properties_file("client.properties".as_ref())?; // TLS, SASL, client.id...
//! let log = Arc::new(KafkaLog::connect(kafka.clone())?);
//! let running = App::new(topology, log, config)?
//!     .with_membership(Arc::new(KafkaGroups::new(kafka)))
//!     .start()?;
//! # Ok(())
//! # }
//! ```
//!
//! This crate is the only one that compiles librdkafka: an application that
//! runs only on the embedded log does not depend on it.

mod config;
mod diagnostics;
mod error;
mod group;
mod log;
mod positions;
mod reader;
mod standby;
mod writer;

pub use config::KafkaConfig;
pub use group::KafkaGroups;
pub use log::KafkaLog;
