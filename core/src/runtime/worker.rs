//! Worker threads: each runs a fixed set of tasks in a loop, until the
//! application stops or, in a bounded run, until all its tasks are done.
//!
//! A worker polls its tasks round-robin; when none had anything to do it
//! backs off (1 ms doubling to 20 ms) so that an idle application costs
//! nothing and a busy one never sleeps. Every `commit_interval`, and when it
//! stops, it commits: outputs synced first, then positions stored.
//!
//! When a task fails (an error, or a panic in user code that the
//! application is configured to stop on), the worker commits its other
//! tasks, and the failed one too if it failed before processing anything
//! of the records it fetched (a damaged input: it commits up to the
//! damage), but not if it failed part-way through a record (its next start
//! processes that record again); then it stops the application. A worker thread that panics
//! outside user code stops the application too, logged at error level.

use super::shutdown::Shared;
use super::task::Task;
use crate::error::Result;
use crate::log::Log;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MAX_BACKOFF: Duration = Duration::from_millis(20);

/// Runs `tasks` until the application stops (or a bounded run is over for
/// all of them); commits on the way out.
pub(crate) fn run(
    index: usize,
    mut tasks: Vec<Task>,
    globals: &super::app::Globals,
    log: Arc<dyn Log>,
    group: String,
    commit_interval: Duration,
    shared: Arc<Shared>,
) -> Result<()> {
    let _stop_on_panic = StopOnPanic {
        worker: index,
        shared: Arc::clone(&shared),
    };
    let status = &shared.workers[index];
    status
        .restored
        .store(tasks.iter().map(|t| t.restored).sum(), Ordering::Relaxed);
    let mut last_commit = Instant::now();
    let mut backoff = Duration::ZERO;
    let mut draining = false;
    let mut failed = None;
    let result = (|| -> Result<()> {
        while !shared.stopping.load(Ordering::Acquire) {
            if !draining && let Some(ends) = shared.drain_request() {
                for task in &mut tasks {
                    task.drain_to(&ends);
                }
                draining = true;
            }
            let mut work = 0;
            for g in globals.iter() {
                g.poll(log.as_ref())?;
            }
            let before: u64 = tasks.iter().map(|t| t.records_in).sum();
            for (i, task) in tasks.iter_mut().enumerate() {
                match task.poll(log.as_ref(), crate::now_millis()) {
                    Ok(n) => work += n,
                    Err(e) => {
                        failed = Some(i);
                        return Err(e);
                    }
                }
            }
            let after: u64 = tasks.iter().map(|t| t.records_in).sum();
            status
                .processed
                .fetch_add(after - before, Ordering::Relaxed);
            status.idle.store(work == 0, Ordering::Release);
            status.passes.fetch_add(1, Ordering::Release);
            if draining && tasks.iter().all(Task::finished) {
                break;
            }
            if last_commit.elapsed() >= commit_interval || tasks.iter().any(Task::wants_commit) {
                commit(&mut tasks, log.as_ref(), &group)?;
                last_commit = Instant::now();
            }
            if work == 0 {
                backoff = (backoff * 2).clamp(Duration::from_millis(1), MAX_BACKOFF);
                std::thread::sleep(backoff);
            } else {
                backoff = Duration::ZERO;
            }
        }
        Ok(())
    })();
    let dead = tasks.iter().map(|t| t.dead_lettered).sum::<u64>();
    status.dead_lettered.store(dead, Ordering::Relaxed);
    let late = tasks.iter().map(Task::late_dropped).sum::<u64>();
    status.late_dropped.store(late, Ordering::Relaxed);
    {
        let mut by_op = status
            .late_by_operator
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for task in &mut tasks {
            task.report_late();
            for (op, n) in task.late_by_operator() {
                *by_op.entry(op.to_owned()).or_default() += n;
            }
        }
    }
    match result {
        Ok(()) => commit(&mut tasks, log.as_ref(), &group),
        Err(e) => {
            shared.stopping.store(true, Ordering::Release);
            let task = failed.map(|i| tasks[i].id.to_string());
            if let Some(i) = failed
                && tasks[i].broken
            {
                tasks.remove(i);
            }
            tracing::error!(
                worker = index, task, error = %e,
                "task failed; stopping the application (its other tasks commit first)"
            );
            if failed.is_some()
                && let Err(c) = commit(&mut tasks, log.as_ref(), &group)
            {
                tracing::error!(worker = index, error = %c, "committing the other tasks failed");
            }
            Err(e)
        }
    }
}

/// Stops the application if the worker thread unwinds from a panic that
/// was not caught around user code (a bug of ours): logged, and the other
/// workers commit and stop instead of running on while this one's
/// partitions stall.
struct StopOnPanic {
    worker: usize,
    shared: Arc<Shared>,
}

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                worker = self.worker,
                "worker thread panicked; stopping the application"
            );
            self.shared.stopping.store(true, Ordering::Release);
        }
    }
}

/// Syncs every task's outputs, then stores their positions.
pub(crate) fn commit(tasks: &mut [Task], log: &dyn Log, group: &str) -> Result<()> {
    let mut positions = Vec::new();
    for t in tasks.iter_mut() {
        positions.extend(t.prepare_commit(log)?);
    }
    if !positions.is_empty() {
        log.commit_offsets(group, &positions)?;
        tracing::debug!(group, partitions = positions.len(), "committed positions");
    }
    Ok(())
}
