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
//! This crate is the only one that compiles librdkafka: an application that
//! runs only on the embedded log does not depend on it.

mod config;
mod error;
mod group;
mod log;
mod reader;
mod writer;

pub use config::KafkaConfig;
pub use group::KafkaGroups;
pub use log::KafkaLog;
