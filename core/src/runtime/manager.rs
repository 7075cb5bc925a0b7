//! The task manager: turns group events into tasks that come and go.
//!
//! A task's life: *created* when the group assigns the partitions it
//! reads, *restoring* (on a restore thread, never on a worker, so that a
//! long restore does not stop the worker's other tasks), *running* on a
//! worker, then, when its partitions are revoked, committed and *closed*:
//! its state stays on disk with its checkpoint (*suspended*), so that if
//! it comes back to this instance it restores only what another instance
//! changed meanwhile. A lost task is closed without committing.
//!
//! The manager runs on its own thread: it polls the group member, hands
//! restore jobs to the restore threads, places restored tasks on the
//! least loaded worker, and for a revocation waits until the workers have
//! committed and closed the tasks before it tells the group it is done.
//! It also ends a bounded run, once every task is running and finished.

use super::factory::TaskFactory;
use super::shutdown::Shared;
use super::standby::Standby;
use super::task::{Task, TaskId};
use super::worker::Command;
use crate::error::{Error, Result};
use crate::group::{GroupEvent, Member};
use crate::log::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the manager waits for a restored task before it polls the
/// group again.
const TICK: Duration = Duration::from_millis(5);
/// How often the manager asks the group where standby copies belong.
const STANDBY_REFRESH: Duration = Duration::from_secs(2);

/// A task to create and restore, with the group's positions.
type Job = (TaskId, Arc<BTreeMap<TopicPartition, u64>>);

/// A worker's answer to a revocation (its commit's outcome) or a loss.
enum Reply {
    Committed(Receiver<Result<()>>),
    Dropped(Receiver<()>),
}

/// Where an assigned task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Restoring,
    Worker(usize),
}

/// The task manager of one application instance.
pub(crate) struct Manager {
    factory: Arc<TaskFactory>,
    member: Arc<dyn Member>,
    shared: Arc<Shared>,
    workers: Vec<Sender<Command>>,
    /// Tasks per worker.
    load: Vec<usize>,
    owned: BTreeSet<TopicPartition>,
    tasks: BTreeMap<TaskId, Place>,
    jobs: Option<Sender<Job>>,
    restored: Receiver<(TaskId, Result<Task>)>,
    restorers: Vec<JoinHandle<()>>,
    /// The standby copies, when the application keeps them.
    standby: Option<Standby>,
    /// When the standby copies were last placed.
    standby_placed: Option<Instant>,
}

impl Manager {
    /// A manager placing tasks on `workers`, with `restorers` restore threads.
    pub(crate) fn new(
        factory: Arc<TaskFactory>,
        member: Arc<dyn Member>,
        shared: Arc<Shared>,
        workers: Vec<Sender<Command>>,
        (restorers, standby): (usize, Option<Standby>),
    ) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let (done, restored) = mpsc::channel();
        let mut handles = Vec::new();
        for i in 0..restorers.max(1) {
            let (queue, done, factory) = (Arc::clone(&queue), done.clone(), Arc::clone(&factory));
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("tributary-restore-{i}"))
                .spawn(move || restore_loop(&queue, &done, &factory, &shared))
                .map_err(|e| Error::io("spawning a restore thread", e))?;
            handles.push(handle);
        }
        Ok(Manager {
            factory,
            member,
            shared,
            load: vec![0; workers.len()],
            workers,
            owned: BTreeSet::new(),
            tasks: BTreeMap::new(),
            jobs: Some(jobs),
            restored,
            restorers: handles,
            standby,
            standby_placed: None,
        })
    }

    /// Handles the group's waiting events.
    pub(crate) fn poll_group(&mut self) -> Result<()> {
        while let Some(event) = self.member.poll()? {
            let numbers: BTreeSet<u32> = event.partitions().iter().map(|tp| tp.partition).collect();
            tracing::info!(
                writer = %self.factory.env.writer,
                partitions = ?numbers,
                "group: {}",
                match &event {
                    GroupEvent::Assigned(_) => "partitions assigned",
                    GroupEvent::Revoked(_) => "partitions revoked",
                    GroupEvent::Lost(_) => "partitions lost",
                }
            );
            self.factory
                .env
                .counters
                .rebalances
                .fetch_add(1, Ordering::Relaxed);
            match &event {
                GroupEvent::Assigned(tps) => self.assigned(tps)?,
                GroupEvent::Revoked(tps) => self.removed(tps, true)?,
                GroupEvent::Lost(tps) => self.removed(tps, false)?,
            }
            *self
                .shared
                .assigned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                self.tasks.keys().copied().collect();
            self.member.done(&event)?;
        }
        Ok(())
    }

    /// Runs until the application stops; then waits for restores under way.
    pub(crate) fn run(mut self) -> Result<()> {
        let result = (|| -> Result<()> {
            while !self.shared.stopping.load(Ordering::Acquire) {
                self.poll_group()?;
                self.place_standbys();
                match self.restored.recv_timeout(TICK) {
                    Ok((id, task)) => self.place(id, task)?,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
                }
                if self.bounded_run_over() {
                    tracing::info!("bounded run: every task is done");
                    self.shared.stopping.store(true, Ordering::Release);
                }
            }
            Ok(())
        })();
        if let Err(e) = &result {
            tracing::error!(error = %e, "task manager failed; stopping the application");
            self.shared.stopping.store(true, Ordering::Release);
        }
        self.jobs = None;
        for h in std::mem::take(&mut self.restorers) {
            let _ = h.join();
        }
        drop(self.standby.take());
        result
    }

    /// True in a bounded run once the group has settled (a member still
    /// joining has no tasks yet) and every assigned task runs and is done.
    fn bounded_run_over(&self) -> bool {
        self.shared.drain_request().is_some()
            && self.member.settled()
            && self.shared.pending.load(Ordering::SeqCst) == 0
            && self
                .shared
                .workers
                .iter()
                .all(|w| w.finished.load(Ordering::SeqCst))
    }

    /// Creates (and restores) the tasks that the newly owned partitions complete.
    fn assigned(&mut self, tps: &[TopicPartition]) -> Result<()> {
        self.owned.extend(tps.iter().cloned());
        let new: Vec<TaskId> = self
            .factory
            .owned_tasks(&self.owned)
            .into_iter()
            .filter(|id| !self.tasks.contains_key(id))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        if let Some(standby) = &self.standby {
            standby.stop_following(&new);
        }
        // Placed again once the group has settled.
        self.standby_placed = None;
        let committed = Arc::new(self.member.committed()?);
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| Error::Runtime("the task manager has stopped".into()))?;
        for id in new {
            tracing::debug!(task = %id, "task created; restoring");
            self.tasks.insert(id, Place::Restoring);
            self.shared.pending.fetch_add(1, Ordering::SeqCst);
            jobs.send((id, Arc::clone(&committed)))
                .map_err(|_| Error::Runtime("the restore threads have stopped".into()))?;
        }
        Ok(())
    }

    /// Gives up the tasks that no longer have all their partitions:
    /// committed first if `commit` (a revocation), not if lost.
    fn removed(&mut self, tps: &[TopicPartition], commit: bool) -> Result<()> {
        for tp in tps {
            self.owned.remove(tp);
        }
        let keep = self.factory.owned_tasks(&self.owned);
        let gone: Vec<TaskId> = self
            .tasks
            .keys()
            .filter(|id| !keep.contains(id))
            .copied()
            .collect();
        // Tasks still restoring are waited for: they have processed
        // nothing, so closing them commits nothing.
        while gone
            .iter()
            .any(|id| self.tasks.get(id) == Some(&Place::Restoring))
        {
            let (id, task) = self
                .restored
                .recv()
                .map_err(|_| Error::Runtime("the restore threads have stopped".into()))?;
            if gone.contains(&id) {
                self.tasks.remove(&id);
                self.shared.pending.fetch_sub(1, Ordering::SeqCst);
                task?.close();
            } else {
                self.place(id, task)?;
            }
        }
        let mut replies = Vec::new();
        for (w, sender) in self.workers.iter().enumerate() {
            let ids: Vec<TaskId> = gone
                .iter()
                .filter(|id| self.tasks.get(id) == Some(&Place::Worker(w)))
                .copied()
                .collect();
            if ids.is_empty() {
                continue;
            }
            self.load[w] -= ids.len();
            let stopped = || Error::Runtime(format!("worker {w} has stopped"));
            let (command, reply) = if commit {
                let (tx, rx) = mpsc::channel();
                (Command::Revoke(ids, tx), Reply::Committed(rx))
            } else {
                let (tx, rx) = mpsc::channel();
                (Command::Lose(ids, tx), Reply::Dropped(rx))
            };
            if sender.send(command).is_err() {
                // A worker that stopped because the application is
                // stopping has committed its tasks itself.
                if self.shared.stopping.load(Ordering::Acquire) {
                    continue;
                }
                return Err(stopped());
            }
            replies.push((w, reply));
        }
        for (w, reply) in replies {
            let stopped = || Error::Runtime(format!("worker {w} stopped during a rebalance"));
            let gone = match reply {
                Reply::Committed(rx) => match rx.recv() {
                    Ok(committed) => {
                        committed?;
                        false
                    }
                    Err(_) => true,
                },
                Reply::Dropped(rx) => rx.recv().is_err(),
            };
            if gone && !self.shared.stopping.load(Ordering::Acquire) {
                return Err(stopped());
            }
        }
        for id in &gone {
            self.tasks.remove(id);
            tracing::debug!(task = %id, writer = %self.factory.env.writer, committed = commit, "task closed");
        }
        Ok(())
    }

    /// Every [`STANDBY_REFRESH`] (and after a rebalance), once the group
    /// has settled: keeps standby copies of the tasks the member would most
    /// likely be given if another member left, and of no other task.
    fn place_standbys(&mut self) {
        let Some(standby) = &self.standby else { return };
        if self
            .standby_placed
            .is_some_and(|at| at.elapsed() < STANDBY_REFRESH)
            || !self.member.settled()
        {
            return;
        }
        self.standby_placed = Some(Instant::now());
        let partitions = match self.member.standby_partitions() {
            Ok(Some(p)) => p,
            Ok(None) => {
                tracing::debug!("the group cannot say where standby copies belong now");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "asking the group where standby copies belong");
                return;
            }
        };
        let wanted: BTreeSet<TaskId> = self
            .factory
            .owned_tasks(&partitions.into_iter().collect())
            .into_iter()
            .filter(|id| !self.tasks.contains_key(id))
            .collect();
        standby.follow(&wanted);
    }

    /// Hands a restored task to the least loaded worker.
    fn place(&mut self, id: TaskId, task: Result<Task>) -> Result<()> {
        let task = match task {
            Ok(t) => t,
            Err(e) => {
                self.shared.pending.fetch_sub(1, Ordering::SeqCst);
                tracing::error!(task = %id, error = %e, "creating the task failed");
                return Err(e);
            }
        };
        if self.tasks.get(&id) != Some(&Place::Restoring) {
            // Revoked while it restored (handled in `removed`); not expected here.
            self.shared.pending.fetch_sub(1, Ordering::SeqCst);
            task.close();
            return Ok(());
        }
        let (w, _) = self
            .load
            .iter()
            .enumerate()
            .min_by_key(|(_, n)| **n)
            .ok_or_else(|| Error::Runtime("no worker threads".into()))?;
        self.workers[w]
            .send(Command::Add(Box::new(task)))
            .map_err(|_| Error::Runtime(format!("worker {w} has stopped")))?;
        self.load[w] += 1;
        self.tasks.insert(id, Place::Worker(w));
        tracing::debug!(task = %id, worker = w, "task running");
        Ok(())
    }
}

/// A restore thread: creates the tasks it is given, one at a time, until
/// the application stops.
fn restore_loop(
    queue: &Mutex<Receiver<Job>>,
    done: &Sender<(TaskId, Result<Task>)>,
    factory: &TaskFactory,
    shared: &Shared,
) {
    loop {
        let job = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok((id, committed)) = job else { return };
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let task = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            factory.create(id, &committed)
        }))
        .unwrap_or_else(|_| Err(Error::Runtime(format!("creating task {id} panicked"))));
        if done.send((id, task)).is_err() {
            return;
        }
    }
}
