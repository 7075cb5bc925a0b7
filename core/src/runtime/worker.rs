//! Worker threads: each runs a fixed set of tasks in a loop.
//!
//! A worker polls its tasks round-robin; when none had anything to do it
//! backs off (1 ms doubling to 20 ms) so that an idle application costs
//! nothing and a busy one never sleeps. Every `commit_interval`, and when it
//! stops, it commits: outputs synced first, then positions stored.

use super::shutdown::Shared;
use super::task::Task;
use crate::error::Result;
use crate::log::Log;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MAX_BACKOFF: Duration = Duration::from_millis(20);

/// Runs `tasks` until the application stops; commits on the way out.
pub(crate) fn run(
    index: usize,
    mut tasks: Vec<Task>,
    globals: &super::app::Globals,
    log: Arc<dyn Log>,
    group: String,
    commit_interval: Duration,
    shared: Arc<Shared>,
) -> Result<()> {
    let status = &shared.workers[index];
    status
        .restored
        .store(tasks.iter().map(|t| t.restored).sum(), Ordering::Relaxed);
    let mut last_commit = Instant::now();
    let mut backoff = Duration::ZERO;
    let result = (|| -> Result<()> {
        while !shared.stopping.load(Ordering::Acquire) {
            let mut processed = 0;
            for g in globals.iter() {
                g.poll(log.as_ref())?;
            }
            for task in &mut tasks {
                processed += task.poll(log.as_ref(), crate::now_millis())?;
            }
            status
                .processed
                .fetch_add(processed as u64, Ordering::Relaxed);
            status.idle.store(processed == 0, Ordering::Release);
            status.passes.fetch_add(1, Ordering::Release);
            if last_commit.elapsed() >= commit_interval || tasks.iter().any(Task::wants_commit) {
                commit(&mut tasks, log.as_ref(), &group)?;
                last_commit = Instant::now();
            }
            if processed == 0 {
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
    match result {
        Ok(()) => commit(&mut tasks, log.as_ref(), &group),
        Err(e) => {
            tracing::error!(worker = index, error = %e, "worker failed; stopping the application");
            shared.stopping.store(true, Ordering::Release);
            Err(e)
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
