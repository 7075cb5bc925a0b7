//! Worker threads: each runs the tasks the [task manager](super::manager)
//! gives it, in a loop, until the application stops.
//!
//! A worker polls its tasks round-robin; when none had anything to do it
//! backs off (1 ms doubling to 20 ms) so that an idle application costs
//! nothing and a busy one never sleeps. Every `commit_interval`, and when it
//! stops, it commits ([`commit`](super::commit)). Between passes it takes the manager's
//! [`Command`]s: a restored task to run, tasks to commit and give up (a
//! revocation), tasks to drop without committing (lost).
//!
//! When a task fails (an error, or a panic in user code that the
//! application is configured to stop on), the worker commits its other
//! tasks, and the failed one too if it failed before processing anything
//! of the records it fetched (a damaged input: it commits up to the
//! damage), but not if it failed part-way through a record (its next start
//! processes that record again); then it stops the application. A worker thread that panics
//! outside user code stops the application too, logged at error level.

use super::commit::Committer;
use super::shutdown::Shared;
use super::task::{Task, TaskId};
use crate::error::{Error, Result};
use crate::group::Member;
use crate::log::{Log, TopicPartition};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

const MAX_BACKOFF: Duration = Duration::from_millis(20);

/// The loaders of an application's global tables (every worker keeps them current).
pub(crate) type Globals = Arc<[Arc<dyn crate::topology::GlobalLoader>]>;

/// What the task manager asks of a worker.
pub(crate) enum Command {
    /// Run this task (created and restored).
    Add(Box<Task>),
    /// Commit these tasks and close them; reply when done.
    Revoke(Vec<TaskId>, Sender<Result<()>>),
    /// Close these tasks without committing; reply when done.
    Lose(Vec<TaskId>, Sender<()>),
}

/// What every worker of an application shares.
pub(crate) struct Env {
    pub(crate) log: Arc<dyn Log>,
    pub(crate) member: Arc<dyn Member>,
    pub(crate) globals: Globals,
    pub(crate) commit_interval: Duration,
    pub(crate) shared: Arc<Shared>,
    pub(crate) committer: Box<dyn Committer>,
}

/// Runs the tasks it is given until the application stops; commits on
/// the way out.
pub(crate) fn run(index: usize, inbox: Receiver<Command>, env: Arc<Env>) -> Result<()> {
    let shared = &env.shared;
    let _stop_on_panic = StopOnPanic {
        worker: index,
        shared: Arc::clone(shared),
    };
    tracing::info!(worker = index, "starting worker");
    let status = &shared.workers[index];
    let log = env.log.as_ref();
    let member = env.member.as_ref();
    let mut tasks: Vec<Task> = Vec::new();
    let mut last_commit = Instant::now();
    let mut backoff = Duration::ZERO;
    let mut draining: Option<Arc<HashMap<TopicPartition, u64>>> = None;
    let mut failed = None;
    let result = (|| -> Result<()> {
        while !shared.stopping.load(Ordering::Acquire) {
            while let Ok(command) = inbox.try_recv() {
                status.finished.store(false, Ordering::SeqCst);
                match command {
                    Command::Add(mut task) => {
                        if let Some(ends) = &draining {
                            task.drain_to(ends);
                        }
                        tasks.push(*task);
                        shared.pending.fetch_sub(1, Ordering::SeqCst);
                    }
                    Command::Revoke(ids, reply) => {
                        let mut mine = take(&mut tasks, &ids);
                        let committed = env.committer.commit(&mut mine, log, member);
                        mine.into_iter().for_each(Task::close);
                        let outcome = committed.as_ref().map(|_| ()).map_err(|e| {
                            Error::Runtime(format!("worker {index}: committing revoked tasks: {e}"))
                        });
                        let _ = reply.send(outcome);
                        committed?;
                    }
                    Command::Lose(ids, reply) => {
                        take(&mut tasks, &ids).into_iter().for_each(Task::close);
                        let _ = reply.send(());
                    }
                }
            }
            if draining.is_none()
                && let Some(ends) = shared.drain_request()
            {
                for task in &mut tasks {
                    task.drain_to(&ends);
                }
                draining = Some(ends);
            }
            let mut work = 0;
            for g in env.globals.iter() {
                g.poll(log)?;
            }
            for (i, task) in tasks.iter_mut().enumerate() {
                let span = task.span.clone();
                let _entered = span.enter();
                match task.poll(log, crate::now_millis()) {
                    Ok(n) => work += n,
                    Err(e) => {
                        failed = Some(i);
                        return Err(e);
                    }
                }
            }
            // A task waiting for slower siblings (watermark alignment) has
            // records left: the worker is not idle.
            let waiting = tasks.iter().any(|t| t.held_back);
            status.idle.store(work == 0 && !waiting, Ordering::Release);
            status.passes.fetch_add(1, Ordering::Release);
            if draining.is_some() {
                status
                    .finished
                    .store(tasks.iter().all(Task::finished), Ordering::SeqCst);
            }
            if last_commit.elapsed() >= env.commit_interval || tasks.iter().any(Task::wants_commit)
            {
                env.committer.commit(&mut tasks, log, member)?;
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
    let outcome = match result {
        Ok(()) => env.committer.commit(&mut tasks, log, member),
        Err(e) => {
            shared.stopping.store(true, Ordering::Release);
            let task = failed.map(|i| tasks[i].id.to_string());
            if let Some(i) = failed
                && tasks[i].broken
            {
                tasks.remove(i).close();
            }
            tracing::error!(
                worker = index, task, error = %e,
                "task failed; stopping the application (its other tasks commit first)"
            );
            if failed.is_some()
                && let Err(c) = env.committer.commit(&mut tasks, log, member)
            {
                tracing::error!(worker = index, error = %c, "committing the other tasks failed");
            }
            Err(e)
        }
    };
    tasks.into_iter().for_each(Task::close);
    outcome
}

/// Takes the tasks `ids` out of `tasks`.
fn take(tasks: &mut Vec<Task>, ids: &[TaskId]) -> Vec<Task> {
    let (taken, kept) = std::mem::take(tasks)
        .into_iter()
        .partition(|t| ids.contains(&t.id));
    *tasks = kept;
    taken
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
