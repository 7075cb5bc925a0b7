//! The application handle: checks, task creation, threads.

use super::config::{Config, OnDecodeError, OnProcessingError};
use super::counters::{Counters, Stats};
use super::factory::TaskFactory;
use super::manager::Manager;
use super::plan;
use super::shutdown::{self, Shared};
use super::standby::{Standby, StandbyEnv, StoreInfo};
use super::task::Task;
use super::view::AppView;
use super::worker::{self, Globals};
use crate::error::{Error, Result};
use crate::group::{Member, Membership, Solo};
use crate::http::HttpServer;
use crate::log::Log;
use crate::store::json_view::{JsonView, TypedView};
use crate::topology::Topology;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tributary_state::StateBackend;

/// A topology bound to a log, checked and ready to start.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tributary::{App, Config, Topology, codec::{Json, Utf8}};
/// use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
/// let dir = tempfile::tempdir()?;
/// let log = Arc::new(EmbeddedLog::open(dir.path())?);
/// log.create_topic("in", &TopicConfig::new(2))?;
/// log.create_topic("out", &TopicConfig::new(2))?;
/// let mut b = Topology::builder("doubler");
/// b.stream::<String, i64>("in", Utf8, Json).map_values(|v| v * 2).to("out", Utf8, Json);
/// let app = App::new(b.build()?, log, Config::default())?;
/// let running = app.start()?;
/// running.wait_until_caught_up(std::time::Duration::from_secs(10))?;
/// let stats = running.shutdown()?;
/// assert_eq!(stats.records_in, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct App {
    topology: Topology,
    log: Arc<dyn Log>,
    state: Option<Arc<dyn StateBackend>>,
    config: Config,
    group: String,
    partitions: HashMap<String, u32>,
    membership: Option<Arc<dyn Membership>>,
    /// Stores served over HTTP, by name.
    served: BTreeMap<String, Arc<dyn JsonView>>,
}

impl App {
    /// Checks the topology against the log: every input and output topic
    /// must exist (all missing ones are reported together); internal topics
    /// (repartitions, changelogs) and the dead-letter topic are created if
    /// needed. If the topology has state stores, the local state is opened
    /// under `config.state_dir`.
    pub fn new(topology: Topology, log: Arc<dyn Log>, config: Config) -> Result<App> {
        let group = config
            .application_id
            .clone()
            .unwrap_or_else(|| topology.name());
        if let Some(from) = config.replay_from {
            crate::log::validate_name("application", &group)?;
            super::reset_application(
                log.as_ref(),
                &group,
                &topology.source_topics(),
                &config.state_dir,
                from,
            )?;
        }
        let dir = config.state_dir.join(&group);
        let memory = config.backend_memory();
        Self::with_state(topology, log, config, |stores| {
            open_state(&dir, stores, memory)
        })
    }

    /// Like [`App::new`], with the state backend made by `open_state` (called
    /// only when the topology has stores, with their names).
    pub(crate) fn with_state(
        topology: Topology,
        log: Arc<dyn Log>,
        config: Config,
        open_state: impl FnOnce(&[String]) -> Result<Arc<dyn StateBackend>>,
    ) -> Result<App> {
        config.validate()?;
        let group = config
            .application_id
            .clone()
            .unwrap_or_else(|| topology.name());
        crate::log::validate_name("application", &group)?;
        let mut partitions = HashMap::new();
        let mut problems = Vec::new();
        let external = topology
            .source_topics()
            .into_iter()
            .chain(topology.sink_topics())
            .chain(topology.global_topics());
        for topic in external {
            match log.topic_config(&topic) {
                Ok(c) => {
                    partitions.insert(topic, c.partitions);
                }
                Err(Error::UnknownTopic(t)) => problems.push(format!(
                    "unknown topic '{t}' (create it first, e.g. `tributary topics create {t} --partitions 4`)"
                )),
                Err(e) => return Err(e),
            }
        }
        if !problems.is_empty() {
            problems.sort();
            problems.dedup();
            return Err(Error::Topology(problems));
        }
        let dead_letter = (config.on_decode_error == OnDecodeError::DeadLetter
            || config.on_processing_error == OnProcessingError::DeadLetter)
            .then(|| {
                config
                    .dead_letter_topic
                    .clone()
                    .unwrap_or_else(|| format!("{group}-dlq"))
            });
        let existing_dlq = match &dead_letter {
            Some(t) => match log.topic_config(t) {
                Ok(c) => Some(c.partitions),
                Err(Error::UnknownTopic(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let planned = plan::plan(
            &plan::Shape::of(&topology),
            &partitions,
            &group,
            dead_letter.as_deref().map(|t| (t, existing_dlq)),
        )?;
        for topic in planned {
            let actual = log.ensure_topic(&topic.name, &topic.config())?.partitions;
            if actual != topic.partitions {
                return Err(Error::Topology(vec![format!(
                    "internal topic '{}' has {actual} partitions but needs {}; reset the \
                     application to recreate it",
                    topic.name, topic.partitions
                )]));
            }
            partitions.insert(topic.name, actual);
        }
        let stores = topology.store_names();
        let state = if stores.is_empty() {
            None
        } else {
            let state = open_state(&stores)?;
            write_description(&config.state_dir.join(&group), &topology);
            Some(state)
        };
        let mut config = config;
        if dead_letter.is_some() {
            config.dead_letter_topic = dead_letter;
        }
        Ok(App {
            topology,
            log,
            state,
            config,
            group,
            partitions,
            membership: None,
            served: BTreeMap::new(),
        })
    }

    /// Runs the application as a member of a group that assigns and
    /// revokes partitions while it runs (several instances of it, in this
    /// process or others); by default ([`Solo`]) it owns every partition.
    pub fn with_membership(mut self, membership: Arc<dyn Membership>) -> Self {
        self.membership = Some(membership);
        self
    }

    /// Serves the store `name` over HTTP (when [`Config::http`] is set):
    /// `GET /stores/{name}/{key}` and scans (see [`crate::http`]). `K` and
    /// `V` are the store's key and value types (for window and session
    /// stores, the record key and the aggregate); keys in URLs are JSON,
    /// or bare text for string keys. Fails if the topology has no such
    /// store, or if it holds an operator's own bookkeeping (sliding
    /// windows, join buffers, suppression).
    ///
    /// A store served with the wrong types answers its queries with an
    /// error (rkyv validates every value read), never with wrong data.
    pub fn serve_store<K, V>(mut self, name: &str) -> Result<Self>
    where
        K: crate::codec::RkyvData
            + serde::Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + 'static,
        V: crate::codec::RkyvData + serde::Serialize + 'static,
    {
        let layout = self.topology.store_layout(name).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "serve_store: the topology has no store named '{name}' (its stores: {})",
                self.topology.store_names().join(", ")
            ))
        })?;
        let state = self.state.clone().ok_or_else(|| {
            Error::InvalidConfig(format!("serve_store: no state opened for '{name}'"))
        })?;
        let partitions = self
            .partitions
            .get(&crate::store::changelog_topic(&self.group, name))
            .copied()
            .unwrap_or(1);
        let view = TypedView::<K, V>::new(state, name, partitions, layout)?;
        self.served.insert(name.to_owned(), Arc::new(view));
        Ok(self)
    }

    /// The consumer group (application id).
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The log the application runs on.
    pub fn log(&self) -> &Arc<dyn Log> {
        &self.log
    }

    /// The dead-letter topic, when records are dead-lettered.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        self.config.dead_letter_topic.as_deref()
    }

    /// Reads the committed contents of the store `name`.
    pub fn store<K: crate::codec::RkyvData, V: crate::codec::RkyvData>(
        &self,
        name: &str,
    ) -> Result<crate::StoreReader<K, V>> {
        store_reader(&self.state, &self.partitions, &self.group, name)
    }

    /// The application's global tables, loaded to the end of their topics.
    pub(crate) fn globals(&self) -> Result<Globals> {
        let loaders: Globals = self.topology.global_loaders().into();
        for g in loaders.iter() {
            let started = Instant::now();
            let mut n = 0;
            loop {
                let applied = g.poll(self.log.as_ref())?;
                if applied == 0 {
                    break;
                }
                n += applied;
            }
            tracing::info!(
                topic = g.topic(),
                records = n,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "global table loaded"
            );
        }
        Ok(loaders)
    }

    /// The factory of the application's tasks, for `restorers` restore threads.
    fn factory(&self, restorers: usize) -> Result<TaskFactory> {
        TaskFactory::new(
            &self.topology,
            (&self.group, &self.config),
            &self.partitions,
            Arc::clone(&self.log),
            self.state.clone(),
            restorers,
        )
    }

    /// The standby copies' keeper, when the configuration asks for standby
    /// replicas and the application has state.
    fn standby(&self, counters: &Arc<Counters>, shared: &Arc<Shared>) -> Result<Option<Standby>> {
        let Some(state) = self.state.clone() else {
            return Ok(None);
        };
        if self.config.standby_replicas == 0 {
            return Ok(None);
        }
        let mut stores = vec![Vec::new(); self.topology.sub_topology_count()];
        for (name, sub) in self.topology.store_owners() {
            let id = state
                .store_id(&name)
                .ok_or_else(|| Error::Runtime(format!("state backend has no store '{name}'")))?;
            let changelog = crate::store::changelog_topic(&self.group, &name);
            if let Some(s) = stores.get_mut(sub) {
                s.push(StoreInfo {
                    name,
                    id,
                    changelog,
                });
            }
        }
        let env = StandbyEnv {
            log: Arc::clone(&self.log),
            state,
            stores,
            counters: Arc::clone(counters),
        };
        Standby::start(env, Arc::clone(shared)).map(Some)
    }

    /// Creates every task, positioned at the group's committed offsets,
    /// on the calling thread (for the test driver).
    pub(crate) fn tasks(&self) -> Result<Vec<Task>> {
        let factory = self.factory(1)?;
        let committed = self.log.committed_offsets(&self.group)?;
        factory
            .all()
            .into_iter()
            .map(|id| factory.create(id, &committed))
            .collect()
    }

    /// Starts the application: joins the group, and starts the worker
    /// threads and the task manager, which creates and restores the tasks
    /// of the partitions the group assigns (on restore threads) and hands
    /// them to the workers. Returns at once; tasks may still be restoring
    /// ([`RunningApp::wait_until_restored`]).
    pub fn start(self) -> Result<RunningApp> {
        let globals = self.globals()?;
        let threads = self.config.threads.max(1);
        // Restores run beside the workers, at least two at a time so that
        // a long one does not hold up the others.
        let restorers = threads.max(2);
        let factory = Arc::new(self.factory(restorers)?);
        let counters = Arc::clone(&factory.env.counters);
        let membership = self
            .membership
            .clone()
            .unwrap_or_else(|| Arc::new(Solo::new(Arc::clone(&self.log))));
        let member = membership.join(&self.group, &factory.subscriptions())?;
        let shared = Arc::new(Shared::new(threads));
        let env = Arc::new(worker::Env {
            log: Arc::clone(&self.log),
            member: Arc::clone(&member),
            globals,
            commit_interval: self.config.commit_interval,
            shared: Arc::clone(&shared),
            committer: Box::new(super::commit::AtLeastOnce {
                counters: Arc::clone(&counters),
            }),
        });
        let mut handles = Vec::with_capacity(threads);
        let mut inboxes = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = std::sync::mpsc::channel();
            inboxes.push(tx);
            let env = Arc::clone(&env);
            let handle = std::thread::Builder::new()
                .name(format!("tributary-worker-{i}"))
                .spawn(move || worker::run(i, rx, env))
                .map_err(|e| Error::io("spawning a worker thread", e))?;
            handles.push(handle);
        }
        tracing::info!(app = %self.group, workers = threads, "started");
        let standby = self.standby(&counters, &shared)?;
        let mut manager = Manager::new(
            factory,
            Arc::clone(&member),
            Arc::clone(&shared),
            inboxes,
            (restorers, standby),
        )?;
        // The first assignment is taken before `start` returns, so that
        // its tasks count as pending from the start.
        if let Err(e) = manager.poll_group() {
            shared.stopping.store(true, Ordering::Release);
            return Err(e);
        }
        let manager = std::thread::Builder::new()
            .name("tributary-tasks".into())
            .spawn(move || manager.run())
            .map_err(|e| Error::io("spawning the task manager thread", e))?;
        let view = Arc::new(AppView::new(
            self.group.clone(),
            Arc::clone(&counters),
            Arc::clone(&shared),
            Arc::clone(&member),
            Arc::clone(&self.log),
            self.state.clone(),
            self.topology.describe(),
            self.served.clone(),
        ));
        let http = match self.config.http {
            Some(addr) => {
                match crate::http::instances::ensure_topic(self.log.as_ref(), &self.group)
                    .and_then(|()| HttpServer::start(addr, Arc::clone(&view)))
                {
                    Ok(server) => Some(server),
                    Err(e) => {
                        shared.stopping.store(true, Ordering::Release);
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        Ok(RunningApp {
            http,
            shared,
            handles,
            manager: Some(manager),
            member,
            counters,
            state: self.state.clone(),
            partitions: self.partitions.clone(),
            group: self.group.clone(),
            inputs: self.topology.source_topics(),
            log: Arc::clone(&self.log),
        })
    }

    /// Runs as [`Config::until`] says: until a signal
    /// ([`run_until_signal`](Self::run_until_signal)) or to the end of the
    /// inputs ([`run_to_end`](Self::run_to_end)).
    pub fn run(self) -> Result<Stats> {
        match self.config.until {
            super::Until::Signal => self.run_until_signal(),
            super::Until::End => self.run_to_end(),
        }
    }

    /// A bounded run: processes every input to the end it has now, then
    /// ends event time (every window and session is emitted, every
    /// event-time timer fires), commits and stops. See [`RunningApp::drain`].
    pub fn run_to_end(self) -> Result<Stats> {
        self.start()?.drain()
    }

    /// Runs until SIGINT or SIGTERM (or a worker fails), then commits and stops.
    pub fn run_until_signal(self) -> Result<Stats> {
        let running = self.start()?;
        let shared = Arc::clone(&running.shared);
        let counters = Arc::clone(&running.counters);
        let started = Instant::now();
        let mut last = (Instant::now(), 0u64);
        shutdown::wait_for_signal(|| {
            if last.0.elapsed() >= Duration::from_secs(10) {
                let n = counters.processed();
                let rate = (n - last.1) as f64 / last.0.elapsed().as_secs_f64();
                tracing::info!(
                    records = n,
                    uptime_s = started.elapsed().as_secs(),
                    "processing {rate:.0} records/s"
                );
                last = (Instant::now(), n);
            }
            shared.stopping.load(Ordering::Acquire)
        })
        .map_err(|e| Error::io("waiting for signals", e))?;
        running.shutdown()
    }
}

/// A started application.
#[derive(Debug)]
pub struct RunningApp {
    /// Serves `/metrics` and the rest while the application runs (dropped,
    /// and so stopped, after the workers).
    http: Option<HttpServer>,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<Result<()>>>,
    manager: Option<JoinHandle<Result<()>>>,
    member: Arc<dyn Member>,
    counters: Arc<Counters>,
    state: Option<Arc<dyn StateBackend>>,
    partitions: HashMap<String, u32>,
    group: String,
    /// The input topics (not internal ones), for bounded runs.
    inputs: Vec<String>,
    log: Arc<dyn Log>,
}

fn store_reader<K: crate::codec::RkyvData, V: crate::codec::RkyvData>(
    state: &Option<Arc<dyn StateBackend>>,
    partitions: &HashMap<String, u32>,
    group: &str,
    name: &str,
) -> Result<crate::StoreReader<K, V>> {
    let state = state
        .as_ref()
        .ok_or_else(|| Error::Runtime(format!("no state store named '{name}'")))?;
    let n = partitions
        .get(&crate::store::changelog_topic(group, name))
        .copied()
        .unwrap_or(1);
    crate::StoreReader::new(Arc::clone(state), name, n)
}

impl RunningApp {
    /// Reads the committed contents of the store `name` while the application runs.
    pub fn store<K: crate::codec::RkyvData, V: crate::codec::RkyvData>(
        &self,
        name: &str,
    ) -> Result<crate::StoreReader<K, V>> {
        store_reader(&self.state, &self.partitions, &self.group, name)
    }

    /// Bytes of memory the state backend holds now: RocksDB's block cache,
    /// which its memtables are charged to (see [`Config::state_memory`]).
    pub fn state_memory(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.memory_usage())
    }

    /// The address the HTTP server listens on, when [`Config::http`] is set
    /// (with port 0, the port it was given).
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().map(HttpServer::addr)
    }

    /// Records processed so far, by all tasks.
    pub fn records_in(&self) -> u64 {
        self.counters.processed()
    }

    /// The counters so far (as [`shutdown`](Self::shutdown) returns them at the end).
    pub fn stats(&self) -> Stats {
        self.counters.stats()
    }

    /// The counters of every task this instance has run, running or not.
    pub fn task_stats(&self) -> BTreeMap<super::TaskId, Stats> {
        self.counters.by_task()
    }

    /// The tasks assigned to this instance now, restoring or running (as
    /// of the group's last assignment or revocation).
    pub fn assigned_tasks(&self) -> std::collections::BTreeSet<super::TaskId> {
        self.shared
            .assigned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Tasks assigned to this instance that are not running yet: being
    /// restored, or on their way to a worker.
    pub fn restoring(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }

    /// Waits until every assigned task has restored its state and runs.
    /// Fails on timeout or if the application stopped.
    pub fn wait_until_restored(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.restoring() > 0 {
            if self.is_stopping() {
                return Err(Error::Runtime(
                    "the application stopped before its tasks were restored".into(),
                ));
            }
            if Instant::now() > deadline {
                return Err(Error::Runtime(format!(
                    "tasks still restoring after {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// True once a worker failed or a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    /// Waits until every input, internal topics included, is processed to
    /// its end: the group settled (see [`Member::settled`]), every task
    /// restored and running, all workers idle, with no progress across two
    /// of each worker's passes. Fails on timeout or if the application
    /// stopped.
    pub fn wait_until_caught_up(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let snapshot = || -> (u64, Vec<u64>, bool) {
            let w = &self.shared.workers;
            (
                self.records_in(),
                w.iter().map(|s| s.passes.load(Ordering::Acquire)).collect(),
                self.restoring() == 0
                    && self.shared.pending.load(Ordering::SeqCst) == 0
                    && self.member.settled()
                    && w.iter().all(|s| s.idle.load(Ordering::Acquire)),
            )
        };
        let mut stable_rounds = 0;
        let mut last = snapshot();
        while stable_rounds < 2 {
            if self.is_stopping() {
                return Err(Error::Runtime(
                    "the application stopped before catching up".into(),
                ));
            }
            if Instant::now() > deadline {
                return Err(Error::Runtime(format!("not caught up after {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(25));
            let now = snapshot();
            let all_passed = now.1.iter().zip(&last.1).all(|(a, b)| a >= &(b + 2));
            if !all_passed {
                continue;
            }
            stable_rounds = if now.2 && last.2 && now.0 == last.0 {
                stable_rounds + 1
            } else {
                0
            };
            last = now;
        }
        Ok(())
    }

    /// Ends a bounded run: processes every input topic partition up to the
    /// end offset it has now (records appended later are left for a later
    /// run), repartition topics until every upstream task has announced
    /// its end, then ends event time, so that every open window and
    /// session is emitted and every event-time timer fires; then flushes,
    /// commits and stops. Returns the counters, or the first worker error.
    ///
    /// Like Flink's `stop --drain`, this is for runs that end (replays,
    /// backfills, benchmarks): the committed event time is at its end, so
    /// a later run of the same application takes new records as late (it
    /// warns at start) until the application is reset.
    pub fn drain(self) -> Result<Stats> {
        let mut ends = HashMap::new();
        for topic in &self.inputs {
            let n = self.partitions.get(topic).copied().unwrap_or(0);
            for p in 0..n {
                let (_, end) = self.log.offsets(topic, p)?;
                ends.insert(crate::log::TopicPartition::new(topic.clone(), p), end);
            }
        }
        *self
            .shared
            .drain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(ends));
        tracing::info!(app = %self.group, "bounded run: processing the inputs to their ends");
        self.join()
    }

    /// Asks the workers to stop, waits for them to commit, and returns the
    /// counters, or the first worker error.
    pub fn shutdown(self) -> Result<Stats> {
        self.shared.stopping.store(true, Ordering::Release);
        self.join()
    }

    /// Waits for the workers and the task manager to stop, then leaves
    /// the group; the counters, or the first error.
    fn join(mut self) -> Result<Stats> {
        let mut first_error = None;
        let manager = self.manager.take();
        for h in self.handles.into_iter().chain(manager) {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(Error::Runtime("a runtime thread panicked".into()));
                }
            }
        }
        self.member.leave();
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.counters.stats()),
        }
    }
}

/// Writes the topology's description to `<dir>/topology.json`, for
/// `tributary topology`; a failure is only logged.
fn write_description(dir: &std::path::Path, topology: &Topology) {
    if !dir.is_dir() {
        return;
    }
    let path = dir.join("topology.json");
    let written = serde_json::to_vec_pretty(&topology.describe())
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&path, json));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "could not write the topology description");
    }
}

/// Opens the RocksDB state of an application in `dir`.
#[cfg(feature = "rocksdb")]
fn open_state(
    dir: &std::path::Path,
    stores: &[String],
    memory_budget: usize,
) -> Result<Arc<dyn StateBackend>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let config = tributary_state::StateConfig { memory_budget };
    let state = tributary_state::RocksState::open(dir, stores, config)?;
    Ok(Arc::new(state) as Arc<dyn StateBackend>)
}

/// Without RocksDB there is no durable state: stateful topologies are refused.
#[cfg(not(feature = "rocksdb"))]
fn open_state(
    _dir: &std::path::Path,
    stores: &[String],
    _memory_budget: usize,
) -> Result<Arc<dyn StateBackend>> {
    Err(Error::InvalidConfig(format!(
        "the topology has state stores ({}), but tributary was built without its \
         `rocksdb` feature; enable it to run stateful applications",
        stores.join(", ")
    )))
}
