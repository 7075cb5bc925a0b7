//! Committing: the one place where the commit sequence lives.
//!
//! At-least-once ([`AtLeastOnce`]), for each task of a worker:
//!
//! 1. every output partition written since the last commit is synced;
//! 2. for each store, the changes in its write cache are appended to its
//!    changelog, followed by a marker (input positions, event-time clock,
//!    writer id: [`meta`](crate::store::meta)), and synced;
//! 3. one atomic state batch holds the changes, each store's changelog
//!    checkpoint, the input positions and the clock, so that local state
//!    and positions never disagree;
//!
//! then the moved input positions of all the tasks go to the group in one
//! commit, through the member (which may refuse partitions it lost: their
//! tasks are dropped; or say that the group is busy rebalancing: the
//! positions then go with the next commit). A restart finds the state and
//! positions of the last commit; what was processed after it is processed
//! again.
//!
//! Exactly-once (Kafka transactions, transaction markers in the embedded
//! log) is a second implementation of [`Committer`].

use super::counters::Counters;
use super::task::{CommitView, Task};
use crate::error::{Error, Result};
use crate::group::Member;
use crate::log::Log;
use crate::store::meta::{Marker, checkpoint_key, clock_key, encode_positions, positions_key};
use crate::store::{changelog_topic, lock};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tributary_state::{StateBackend, StateBatch};

/// How a worker's tasks commit.
pub(crate) trait Committer: Send + Sync {
    /// Commits `tasks` (see the module docs). Tasks whose partitions the
    /// group says were lost are removed from `tasks` and closed.
    fn commit(&self, tasks: &mut Vec<Task>, log: &dyn Log, member: &dyn Member) -> Result<()>;
}

/// The at-least-once commit; see the module docs. Counts the commits that
/// had positions to commit, and times them.
#[derive(Debug, Clone, Default)]
pub(crate) struct AtLeastOnce {
    pub(crate) counters: Arc<Counters>,
}

impl Committer for AtLeastOnce {
    fn commit(&self, tasks: &mut Vec<Task>, log: &dyn Log, member: &dyn Member) -> Result<()> {
        let started = std::time::Instant::now();
        let committed = self.commit_positions(tasks, log, member)?;
        if committed {
            self.counters.commits.fetch_add(1, Ordering::Relaxed);
            self.counters
                .commit_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

impl AtLeastOnce {
    /// The commit; false if there were no positions to commit, or the
    /// group could not take them now.
    fn commit_positions(
        &self,
        tasks: &mut Vec<Task>,
        log: &dyn Log,
        member: &dyn Member,
    ) -> Result<bool> {
        let mut positions = Vec::new();
        for t in tasks.iter_mut() {
            let mut view = t.commit_view();
            sync_outputs(&mut view, log)?;
            if let Some(state) = view.state
                && !view.stores.is_empty()
                && (view.moved || view.stores.iter().any(|s| lock(&s.store).dirty() > 0))
            {
                commit_state(&mut view, log, state)?;
            }
            positions.extend(t.uncommitted());
        }
        if positions.is_empty() {
            return Ok(false);
        }
        let mut taken = member.commit(&positions);
        if let Err(Error::Fenced { partitions, .. }) = &taken {
            let (gone, kept): (Vec<Task>, Vec<Task>) = std::mem::take(tasks)
                .into_iter()
                .partition(|t| partitions.iter().any(|tp| t.reads(tp)));
            *tasks = kept;
            let ids: Vec<String> = gone.iter().map(|t| t.id.to_string()).collect();
            tracing::warn!(
                tasks = ?ids,
                "the group refused to commit partitions that another member owns now; \
                 dropping their tasks (what they did since their last commit is redone there)"
            );
            gone.into_iter().for_each(Task::close);
            positions.retain(|(tp, _)| tasks.iter().any(|t| t.reads(tp)));
            taken = if positions.is_empty() {
                Ok(())
            } else {
                member.commit(&positions)
            };
        }
        match taken {
            Ok(()) => {
                tasks.iter_mut().for_each(Task::mark_committed);
                tracing::debug!(partitions = positions.len(), "committed positions");
                Ok(true)
            }
            // The positions stay uncommitted, and go with the next commit.
            Err(e @ Error::GroupBusy { .. }) => {
                self.counters
                    .commits_deferred
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    error = %e,
                    partitions = positions.len(),
                    "positions not committed to the group; trying again at the next commit \
                     (stateful tasks' changelogs and state have them already)"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// Step 1: syncs the output partitions written since the last commit.
fn sync_outputs(view: &mut CommitView<'_>, log: &dyn Log) -> Result<()> {
    for out in view.outputs.iter_mut() {
        for (p, dirty) in out.dirty.iter_mut().enumerate() {
            if *dirty {
                log.flush(&out.topic, p as u32)?;
                *dirty = false;
            }
        }
    }
    Ok(())
}

/// Steps 2 and 3: changelogs with their markers, then one state batch.
fn commit_state(view: &mut CommitView<'_>, log: &dyn Log, state: &dyn StateBackend) -> Result<()> {
    let p = view.id.partition;
    let mut batch = StateBatch::new();
    for s in view.stores {
        view.changelog.clear();
        lock(&s.store).flush(&mut batch, view.changelog, view.timestamp)?;
        Marker {
            positions: &view.positions,
            clock: &view.clock,
            writer: view.writer,
        }
        .push(view.changelog, view.timestamp);
        let topic = changelog_topic(view.app, &s.name);
        let base = log.append(&topic, p, view.changelog)?;
        log.flush(&topic, p)?;
        let end = base + view.changelog.len() as u64;
        batch.meta(&checkpoint_key(&s.name, p), &end.to_le_bytes());
    }
    batch.meta(&positions_key(view.id), &encode_positions(&view.positions));
    batch.meta(&clock_key(view.id), &view.clock);
    state.commit(&batch)?;
    Ok(())
}
