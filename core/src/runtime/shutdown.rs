//! Stopping: the shared stop flag, progress of the workers, and signal handling.

use crate::log::TopicPartition;
use crate::task_id::TaskId;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

/// Progress of one worker, read by the controlling thread.
#[derive(Debug, Default)]
pub(crate) struct WorkerStatus {
    /// Loop passes completed so far.
    pub(crate) passes: AtomicU64,
    /// True when the last pass found nothing to process.
    pub(crate) idle: AtomicBool,
    /// In a bounded run: true when every task of the worker is done.
    pub(crate) finished: AtomicBool,
}

/// State shared between the workers, the task manager and the application handle.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Set to ask every worker to commit and stop.
    pub(crate) stopping: AtomicBool,
    pub(crate) workers: Vec<WorkerStatus>,
    /// Set to start a bounded run: the end offset of every input partition.
    pub(crate) drain: Mutex<Option<Arc<HashMap<TopicPartition, u64>>>>,
    /// Tasks assigned but not running yet: restoring, or on their way to
    /// a worker.
    pub(crate) pending: AtomicUsize,
    /// Tasks assigned to this instance: restoring or running.
    pub(crate) assigned: Mutex<BTreeSet<TaskId>>,
}

impl Shared {
    /// The end offsets of a bounded run, once one was asked for.
    pub(crate) fn drain_request(&self) -> Option<Arc<HashMap<TopicPartition, u64>>> {
        self.drain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn new(workers: usize) -> Self {
        Shared {
            stopping: AtomicBool::new(false),
            workers: (0..workers).map(|_| WorkerStatus::default()).collect(),
            drain: Mutex::new(None),
            pending: AtomicUsize::new(0),
            assigned: Mutex::new(BTreeSet::new()),
        }
    }
}

/// Blocks until SIGINT or SIGTERM arrives, or `stop()` turns true (checked
/// every 50 ms).
pub(crate) fn wait_for_signal(mut stop: impl FnMut() -> bool) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = int.recv() => { tracing::info!("SIGINT received; shutting down"); break }
                _ = term.recv() => { tracing::info!("SIGTERM received; shutting down"); break }
                _ = tick.tick() => if stop() { break },
            }
        }
        Ok(())
    })
}
