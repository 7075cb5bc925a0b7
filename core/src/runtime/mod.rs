//! The runtime: running a topology against a log.
//!
//! [`App::new`] checks the topology against the log (every input and
//! output topic must exist; internal topics are created). [`App::start`]
//! joins the application's [group](crate::group) and starts worker threads
//! and a task manager: for the partitions the group assigns, the manager
//! creates one [`task`](TaskId) per sub-topology and partition number,
//! restores its state on a restore thread, and hands it to a worker; for
//! partitions revoked, the worker commits and closes the task (its state
//! stays on disk, so that it restores little if it comes back). Each worker
//! polls its tasks, appends their outputs, and every `commit_interval`
//! syncs the outputs and commits the input positions to the group:
//! at-least-once. A restarted application continues from the last
//! committed positions.
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
pub(crate) mod commit;
mod config;
pub(crate) mod counters;
mod factory;
mod manager;
mod panics;
mod plan;
mod reset;
mod shutdown;
mod standby;
pub(crate) mod task;
mod task_env;
pub(crate) mod view;
pub mod watermarks;
pub(crate) mod worker;

pub use crate::task_id::TaskId;
pub use app::{App, RunningApp};
pub use config::{
    Config, OffsetReset, OnDecodeError, OnProcessingError, Until, dead_letter_headers,
};
pub use counters::Stats;
pub use reset::{ReplayFrom, ResetReport, is_internal_topic, reset_application};
pub(crate) use worker::Globals;
