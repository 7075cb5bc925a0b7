//! Standby replicas: warm copies of tasks that another instance runs.
//!
//! With [`Config::standby_replicas`](super::Config::standby_replicas) set,
//! an instance asks its group member which partitions it would most likely
//! be given if another member left ([`Member::standby_partitions`]), and
//! keeps a *standby* copy of the state of those partitions' tasks: a thread
//! follows their changelogs and applies them to the local state, as a
//! restore would, and records where it got to. When such a task is then
//! assigned here (a failover), its restore finds the local state a few
//! commits behind the changelog and applies only that tail
//! ([`restore`](crate::store::restore)'s roll forward).
//!
//! A standby copy is always a committed state of its task: the changes a
//! commit appended are applied together with that commit's marker (the
//! input positions and event-time clock it recorded), in one state batch
//! with the new checkpoint. Changes without their marker yet (a commit
//! being appended, or cut off by a crash) wait in memory. Only a copy
//! rebuilt from nothing may load changes early: its checkpoint says
//! [`REBUILDING`] until its first marker, so a task that starts from it
//! rebuilds the partition.
//!
//! A task is never followed while it runs here: the manager stops
//! following it ([`Standby::stop_following`]) before it restores it.
//! A failing follower is dropped with a warning (the task would be
//! restored from its changelog as without standby) and taken up again at
//! the manager's next refresh.
//!
//! [`Member::standby_partitions`]: crate::group::Member::standby_partitions

use super::counters::Counters;
use super::shutdown::Shared;
use crate::error::{Error, Result};
use crate::log::Log;
use crate::store::meta::{
    self, REBUILDING, checkpoint_key, clock_key, encode_positions, positions_key,
};
use crate::task_id::TaskId;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tributary_state::{StateBackend, StateBatch, StoreId};

/// Bytes fetched from one changelog partition per pass.
const FETCH_BYTES: usize = 1 << 20;
/// How long the thread sleeps after a pass that applied nothing.
const IDLE: Duration = Duration::from_millis(50);
/// Changes a copy rebuilt from nothing holds before it loads them without
/// waiting for a marker.
const REBUILD_BATCH_BYTES: usize = 32 << 20;

/// A store of the topology: its name, id in the backend and changelog topic.
#[derive(Debug, Clone)]
pub(crate) struct StoreInfo {
    pub(crate) name: String,
    pub(crate) id: StoreId,
    pub(crate) changelog: String,
}

/// What the standby thread needs to know of the application.
#[derive(Debug)]
pub(crate) struct StandbyEnv {
    pub(crate) log: Arc<dyn Log>,
    pub(crate) state: Arc<dyn StateBackend>,
    /// The stores of each sub-topology.
    pub(crate) stores: Vec<Vec<StoreInfo>>,
    pub(crate) counters: Arc<Counters>,
}

/// The standby copies an instance keeps, and the thread that keeps them.
pub(crate) struct Standby {
    followers: Arc<Mutex<BTreeMap<TaskId, Follower>>>,
    env: Arc<StandbyEnv>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Standby {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standby").finish_non_exhaustive()
    }
}

impl Standby {
    /// Starts the standby thread, following nothing yet; it stops when the
    /// application does.
    pub(crate) fn start(env: StandbyEnv, shared: Arc<Shared>) -> Result<Self> {
        let env = Arc::new(env);
        let followers: Arc<Mutex<BTreeMap<TaskId, Follower>>> = Arc::default();
        let thread = {
            let (env, followers) = (Arc::clone(&env), Arc::clone(&followers));
            std::thread::Builder::new()
                .name("tributary-standby".into())
                .spawn(move || {
                    while !shared.stopping.load(Ordering::Acquire) {
                        if pass(&env, &followers) == 0 {
                            std::thread::sleep(IDLE);
                        }
                    }
                })
                .map_err(|e| Error::io("spawning the standby thread", e))?
        };
        Ok(Standby {
            followers,
            env,
            thread: Some(thread),
        })
    }

    /// True when tasks of sub-topology `sub` have state to keep copies of.
    fn has_state(&self, sub: usize) -> bool {
        self.env.stores.get(sub).is_some_and(|s| !s.is_empty())
    }

    /// Follows exactly those of the tasks `wanted` that have state, from
    /// now on.
    pub(crate) fn follow(&self, wanted: &BTreeSet<TaskId>) {
        let mut followers = lock(&self.followers);
        followers.retain(|id, _| wanted.contains(id));
        for &id in wanted {
            if !self.has_state(id.sub_topology) || followers.contains_key(&id) {
                continue;
            }
            tracing::info!(task = %id, "keeping a standby copy of this task's state");
            followers.insert(id, Follower::new(id, &self.env.stores[id.sub_topology]));
        }
        self.env
            .counters
            .standby_tasks
            .store(followers.len() as u64, Ordering::Relaxed);
    }

    /// Stops following `ids`; once it returns, nothing writes their state
    /// but their tasks.
    pub(crate) fn stop_following(&self, ids: &[TaskId]) {
        let mut followers = lock(&self.followers);
        for id in ids {
            if followers.remove(id).is_some() {
                tracing::info!(task = %id, "standby copy taken over by the task");
            }
        }
        self.env
            .counters
            .standby_tasks
            .store(followers.len() as u64, Ordering::Relaxed);
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One pass over every followed task; returns the changelog records read.
fn pass(env: &StandbyEnv, followers: &Mutex<BTreeMap<TaskId, Follower>>) -> usize {
    let ids: Vec<TaskId> = lock(followers).keys().copied().collect();
    let mut read = 0;
    for id in ids {
        // Held for one step, so that `stop_following` waits for it.
        let mut followers = lock(followers);
        let Some(follower) = followers.get_mut(&id) else {
            continue;
        };
        match follower.step(env) {
            Ok(n) => read += n,
            Err(e) => {
                tracing::warn!(task = %id, error = %e,
                    "standby copy failed; dropped (the task restores from its changelog if it \
                     comes here)");
                followers.remove(&id);
            }
        }
    }
    env.counters
        .standby_records
        .fetch_add(read as u64, Ordering::Relaxed);
    read
}

/// The standby copy of one task.
struct Follower {
    task: TaskId,
    stores: Vec<FollowedStore>,
}

/// Where the copy of one store partition is.
struct FollowedStore {
    info: StoreInfo,
    /// The next changelog offset to read; `None` before the first step.
    next: Option<u64>,
    /// Changes read since the last marker, with their size in bytes.
    pending: Vec<(Bytes, Option<Bytes>)>,
    pending_bytes: usize,
    /// Rebuilding from nothing: no committed state yet.
    rebuilding: bool,
}

impl Follower {
    fn new(task: TaskId, stores: &[StoreInfo]) -> Self {
        Follower {
            task,
            stores: stores
                .iter()
                .map(|info| FollowedStore {
                    info: info.clone(),
                    next: None,
                    pending: Vec::new(),
                    pending_bytes: 0,
                    rebuilding: false,
                })
                .collect(),
        }
    }

    /// Reads and applies what each changelog has next; returns the number
    /// of records read.
    fn step(&mut self, env: &StandbyEnv) -> Result<usize> {
        let mut read = 0;
        let mut records = Vec::new();
        for store in &mut self.stores {
            let p = self.task.partition;
            let next = match store.next {
                Some(n) => n,
                None => store.start(env, p)?,
            };
            records.clear();
            env.log
                .fetch(&store.info.changelog, p, next, FETCH_BYTES, &mut records)?;
            let Some(last) = records.last() else { continue };
            store.next = Some(last.offset + 1);
            read += records.len();
            for r in &records {
                match meta::read_marker(r) {
                    Some(marker) => {
                        let (positions, clock) = marker?;
                        let mut batch = store.take_pending(p);
                        batch.meta(
                            &checkpoint_key(&store.info.name, p),
                            &(r.offset + 1).to_le_bytes(),
                        );
                        batch.meta(&positions_key(self.task), &encode_positions(&positions));
                        if let Some(clock) = clock {
                            batch.meta(&clock_key(self.task), &clock);
                        }
                        env.state.commit(&batch)?;
                        store.rebuilding = false;
                    }
                    None => {
                        if let Some(k) = &r.key {
                            store.pending_bytes += k.len() + r.value.as_ref().map_or(0, Bytes::len);
                            store.pending.push((k.clone(), r.value.clone()));
                        }
                    }
                }
            }
            if store.rebuilding && store.pending_bytes >= REBUILD_BATCH_BYTES {
                env.state.commit(&store.take_pending(p))?;
            }
        }
        Ok(read)
    }
}

impl FollowedStore {
    /// Where following starts: the local checkpoint if it is within the
    /// changelog, else nothing (the partition is dropped and rebuilt).
    fn start(&mut self, env: &StandbyEnv, p: u32) -> Result<u64> {
        let (start, end) = env.log.offsets(&self.info.changelog, p)?;
        let next = match meta::checkpoint(env.state.as_ref(), &self.info.name, p)? {
            Some(c) if c <= end => c,
            _ => {
                env.state.drop_partition(self.info.id, p)?;
                let mut batch = StateBatch::new();
                batch.meta(
                    &checkpoint_key(&self.info.name, p),
                    &REBUILDING.to_le_bytes(),
                );
                env.state.commit(&batch)?;
                self.rebuilding = true;
                start
            }
        };
        self.next = Some(next);
        Ok(next)
    }

    /// The pending changes as a state batch (and none pending after).
    fn take_pending(&mut self, p: u32) -> StateBatch {
        let mut batch = StateBatch::new();
        for (k, v) in self.pending.drain(..) {
            match v {
                Some(v) => batch.put(self.info.id, p, &k, &v),
                None => batch.delete(self.info.id, p, &k),
            }
        }
        self.pending_bytes = 0;
        batch
    }
}
