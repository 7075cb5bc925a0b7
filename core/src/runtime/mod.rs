//! The runtime: running a topology against a log.
//!
//! [`App::new`] checks the topology against the log (every input and
//! output topic must exist; internal topics are created), [`App::start`]
//! creates one [`task`](TaskId) per sub-topology and partition number and
//! spreads the tasks over worker threads. Each worker polls its tasks,
//! appends their outputs, and every `commit_interval` syncs the outputs and
//! commits the input positions to the consumer group: at-least-once. A
//! restarted application continues from the last committed positions.
//!
//! [`App::run_until_signal`] is the usual `main`: it runs until SIGINT or
//! SIGTERM, then commits and stops.

mod app;
mod config;
mod reset;
mod shutdown;
pub(crate) mod task;
pub(crate) mod worker;

pub use app::{App, RunningApp, Stats};
pub(crate) use app::{Globals, millis};
pub use config::{Config, OffsetReset, OnDecodeError, dead_letter_headers};
pub use reset::{ReplayFrom, ResetReport, is_internal_topic, reset_application};
pub use task::TaskId;
