//! # Tributary
//!
//! Typed stream processing over partitioned logs. (Tour: see below.)

pub mod codec;
pub mod error;
pub mod log;
mod partitioner;
mod record;

pub use error::{Error, Result};
pub use partitioner::{murmur2, partition_for_key};
pub use record::{Header, Record, now_millis};
