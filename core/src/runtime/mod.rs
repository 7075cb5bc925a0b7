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
//! SIGTERM, then commits and stops. [`App::run_to_end`] (and
//! [`RunningApp::drain`]) is a bounded run, for replays, backfills and
//! benchmarks: every input is processed to the end it had when asked, event
//! time then ends (every window is emitted), and the application commits
//! and stops. [`App::run`] does either, as [`Config::until`] says.
//!
//! Event time crosses repartition topics with the data: every task that
//! writes one announces its watermark in it ([`watermarks`]), so that a
//! result depends on the input and the lateness settings only, not on
//! thread count, instance count or relative speed.

mod alignment;
mod app;
mod config;
mod panics;
mod reset;
mod shutdown;
pub(crate) mod task;
pub mod watermarks;
pub(crate) mod worker;

pub use app::{App, RunningApp, Stats};
pub(crate) use app::{Globals, millis};
pub use config::{
    Config, OffsetReset, OnDecodeError, OnProcessingError, Until, dead_letter_headers,
};
pub use reset::{ReplayFrom, ResetReport, is_internal_topic, reset_application};
pub use task::TaskId;
