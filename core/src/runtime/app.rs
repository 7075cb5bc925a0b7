//! The application handle: checks, task creation, threads.

use super::config::{Config, OnDecodeError, OnProcessingError};
use super::shutdown::{self, Shared};
use super::task::{Task, TaskId, TaskSettings};
use super::worker;
use crate::error::{Error, Result};
use crate::log::{Log, TopicConfig};
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
/// use tributary::log::{EmbeddedLog, Log, TopicConfig};
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
}

/// The loaders of an application's global tables.
pub(crate) type Globals = Arc<[Arc<dyn crate::topology::global::GlobalLoader>]>;

/// Counters of a stopped application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input records processed.
    pub records_in: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Changelog records replayed to restore state at start.
    pub restored: u64,
    /// Records dropped because they arrived after their window (plus grace)
    /// had closed, and no late-record output was declared.
    pub late_dropped: u64,
    /// The same, per operator (window store or join name).
    pub late_by_operator: BTreeMap<String, u64>,
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
        // A repartition topic joined with topics of the user's takes their
        // partition count (co-partitioning); other internal topics get as
        // many partitions as the largest input of the sub-topology writing
        // them, resolved through chains of them to a fixed point.
        let writers = topology.internal_writers();
        let joins = topology.join_inputs();
        for (_, sides) in &joins {
            let topics: Vec<&String> = sides.iter().flatten().collect();
            let user = topics
                .iter()
                .filter_map(|t| partitions.get(*t))
                .max()
                .copied();
            if let Some(n) = user {
                for t in topics {
                    if writers.iter().any(|(w, _)| w == t) {
                        partitions.entry(t.clone()).or_insert(n);
                    }
                }
            }
        }
        loop {
            let mut changed = false;
            for (topic, sub) in &writers {
                if partitions.contains_key(topic) {
                    continue;
                }
                let sources = topology.sources_of(*sub);
                let counts: Option<Vec<u32>> = sources
                    .iter()
                    .map(|s| partitions.get(&s.topic).copied())
                    .collect();
                if let Some(n) = counts.and_then(|c| c.into_iter().max()) {
                    partitions.insert(topic.clone(), n);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for (topic, _) in &writers {
            let n = *partitions.get(topic).ok_or_else(|| {
                Error::Topology(vec![format!("cannot size internal topic '{topic}'")])
            })?;
            let actual = log.ensure_topic(topic, &TopicConfig::new(n))?.partitions;
            if actual != n {
                return Err(Error::Topology(vec![format!(
                    "internal topic '{topic}' has {actual} partitions but needs {n}; \
                     reset the application to recreate it"
                )]));
            }
        }
        co_partitioned(&joins, &partitions)?;
        // Changelogs have one partition per task of the sub-topology owning the store.
        for (store, sub) in topology.store_owners() {
            let n = topology
                .sources_of(sub)
                .iter()
                .filter_map(|s| partitions.get(&s.topic))
                .max()
                .copied()
                .unwrap_or(1);
            let topic = crate::store::changelog_topic(&group, &store);
            let actual = log
                .ensure_topic(&topic, &TopicConfig::new(n).compacted())?
                .partitions;
            if actual != n {
                return Err(Error::Topology(vec![format!(
                    "changelog topic '{topic}' has {actual} partitions but needs {n}"
                )]));
            }
            partitions.insert(topic, n);
        }
        let stores = topology.store_names();
        let state = if stores.is_empty() {
            None
        } else {
            Some(open_state(&stores)?)
        };
        let mut config = config;
        if config.on_decode_error == OnDecodeError::DeadLetter
            || config.on_processing_error == OnProcessingError::DeadLetter
        {
            let dlq = config
                .dead_letter_topic
                .clone()
                .unwrap_or_else(|| format!("{group}-dlq"));
            let n = log.ensure_topic(&dlq, &TopicConfig::new(1))?.partitions;
            partitions.insert(dlq.clone(), n);
            config.dead_letter_topic = Some(dlq);
        }
        Ok(App {
            topology,
            log,
            state,
            config,
            group,
            partitions,
        })
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

    /// Creates every task, positioned at its committed offsets.
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

    pub(crate) fn tasks(&self) -> Result<Vec<Task>> {
        let committed = self.log.committed_offsets(&self.group)?;
        let mut ids = Vec::new();
        let mut task_counts = Vec::new();
        for sub in 0..self.topology.sub_topology_count() {
            let sources = self.topology.sources_of(sub);
            let n = sources
                .iter()
                .filter_map(|s| self.partitions.get(&s.topic))
                .max()
                .copied();
            task_counts.push(n.unwrap_or(0));
            for partition in 0..n.unwrap_or(0) {
                ids.push((
                    TaskId {
                        sub_topology: sub,
                        partition,
                    },
                    sources.clone(),
                ));
            }
        }
        // Tasks are created (and their state restored) on `threads` threads.
        let threads = self.config.threads.clamp(1, ids.len().max(1));
        // Every store partition (one per changelog partition) has a write
        // cache, and each the same share. Restores happen before any write
        // cache fills: each restoring thread may use the threads' share of
        // the caches' memory for its batches.
        let caches: u32 = self
            .topology
            .store_names()
            .iter()
            .filter_map(|s| {
                let changelog = crate::store::changelog_topic(&self.group, s);
                self.partitions.get(&changelog)
            })
            .sum();
        let settings = TaskSettings {
            app: self.group.clone(),
            offset_reset: self.config.offset_reset,
            on_decode_error: self.config.on_decode_error,
            on_processing_error: self.config.on_processing_error,
            node_names: Arc::new(self.topology.node_names()),
            dead_letter_topic: self.config.dead_letter_topic.clone(),
            fetch_max_bytes: self.config.fetch_max_bytes,
            max_poll_records: self.config.max_poll_records,
            store_cache_memory: self.config.write_cache_memory() / caches.max(1) as usize,
            restore_memory: self.config.write_cache_memory() / threads,
            out_of_orderness: millis(self.config.max_out_of_orderness),
            idle_timeout: millis(self.config.idle_timeout),
            writers: Arc::new(
                self.topology
                    .internal_writers()
                    .into_iter()
                    .map(|(topic, sub)| (topic, task_counts.get(sub).copied().unwrap_or(0)))
                    .collect(),
            ),
        };
        let drift = millis(self.config.max_watermark_drift);
        let alignments: super::task::Alignments = Arc::new(
            task_counts
                .iter()
                .enumerate()
                .map(|(sub, &n)| (sub, Arc::new(super::alignment::Alignment::new(n, drift))))
                .collect(),
        );
        let create = |(id, sources): &(TaskId, Vec<crate::topology::SourceSpec>)| {
            Task::new(
                *id,
                sources,
                &self.partitions,
                settings.clone(),
                &committed,
                self.log.as_ref(),
                self.state.as_ref(),
                &alignments,
            )
        };
        let chunks: Vec<Result<Vec<Task>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let mine: Vec<_> = ids.iter().skip(t).step_by(threads).collect();
                    scope.spawn(move || mine.into_iter().map(create).collect::<Result<Vec<Task>>>())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Runtime("task creation panicked".into())))
                })
                .collect()
        });
        let mut tasks = Vec::with_capacity(ids.len());
        for chunk in chunks {
            tasks.extend(chunk?);
        }
        tasks.sort_by_key(|t| t.id);
        Ok(tasks)
    }

    /// Starts the worker threads.
    pub fn start(self) -> Result<RunningApp> {
        let globals = self.globals()?;
        let tasks = self.tasks()?;
        let threads = self.config.threads.min(tasks.len().max(1));
        let mut per_worker: Vec<Vec<Task>> = (0..threads).map(|_| Vec::new()).collect();
        // Deal partitions out so that each worker gets a share of each sub-topology.
        for (i, t) in tasks.into_iter().enumerate() {
            per_worker[i % threads].push(t);
        }
        let shared = Arc::new(Shared::new(threads));
        let mut handles = Vec::with_capacity(threads);
        for (i, tasks) in per_worker.into_iter().enumerate() {
            let ids: Vec<String> = tasks.iter().map(|t| t.id.to_string()).collect();
            tracing::info!(worker = i, tasks = ?ids, "starting worker");
            let (log, group, shared) = (
                Arc::clone(&self.log),
                self.group.clone(),
                Arc::clone(&shared),
            );
            let interval = self.config.commit_interval;
            let globals = Arc::clone(&globals);
            let handle = std::thread::Builder::new()
                .name(format!("tributary-worker-{i}"))
                .spawn(move || worker::run(i, tasks, &globals, log, group, interval, shared))
                .map_err(|e| Error::io("spawning a worker thread", e))?;
            handles.push(handle);
        }
        Ok(RunningApp {
            shared,
            handles,
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
        let started = Instant::now();
        let mut last = (Instant::now(), 0u64);
        shutdown::wait_for_signal(|| {
            if last.0.elapsed() >= Duration::from_secs(10) {
                let n: u64 = shared
                    .workers
                    .iter()
                    .map(|w| w.processed.load(Ordering::Relaxed))
                    .sum();
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
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<Result<()>>>,
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

    /// Records processed so far, over all workers.
    pub fn records_in(&self) -> u64 {
        self.shared
            .workers
            .iter()
            .map(|w| w.processed.load(Ordering::Relaxed))
            .sum()
    }

    /// True once a worker failed or a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    /// Waits until every input, internal topics included, is processed to
    /// its end: all workers idle, with no progress across two of each
    /// worker's passes. Fails on timeout or if the application stopped.
    pub fn wait_until_caught_up(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let snapshot = || -> (u64, Vec<u64>, bool) {
            let w = &self.shared.workers;
            (
                self.records_in(),
                w.iter().map(|s| s.passes.load(Ordering::Acquire)).collect(),
                w.iter().all(|s| s.idle.load(Ordering::Acquire)),
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

    /// Waits for the workers to stop; their counters, or the first error.
    fn join(self) -> Result<Stats> {
        let mut first_error = None;
        for h in self.handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(Error::Runtime("a worker thread panicked".into()));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(Stats {
            records_in: self
                .shared
                .workers
                .iter()
                .map(|w| w.processed.load(Ordering::Relaxed))
                .sum(),
            dead_lettered: self
                .shared
                .workers
                .iter()
                .map(|w| w.dead_lettered.load(Ordering::Relaxed))
                .sum(),
            restored: self
                .shared
                .workers
                .iter()
                .map(|w| w.restored.load(Ordering::Relaxed))
                .sum(),
            late_dropped: self
                .shared
                .workers
                .iter()
                .map(|w| w.late_dropped.load(Ordering::Relaxed))
                .sum(),
            late_by_operator: {
                let mut all = BTreeMap::new();
                for w in &self.shared.workers {
                    let mine = w
                        .late_by_operator
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    for (op, n) in mine.iter() {
                        *all.entry(op.clone()).or_default() += n;
                    }
                }
                all
            },
        })
    }
}

/// Checks that the inputs of every join have the same partition count.
fn co_partitioned(
    joins: &[(String, Vec<Vec<String>>)],
    partitions: &HashMap<String, u32>,
) -> Result<()> {
    let mut problems = Vec::new();
    for (name, sides) in joins {
        let counts: Vec<(&String, u32)> = sides
            .iter()
            .flatten()
            .filter_map(|t| partitions.get(t).map(|n| (t, *n)))
            .collect();
        if counts.windows(2).any(|w| w[0].1 != w[1].1) {
            let list: Vec<String> = counts
                .iter()
                .map(|(t, n)| format!("'{t}' has {n}"))
                .collect();
            problems.push(format!(
                "join '{name}' needs co-partitioned inputs, but {}: give the topics the same \
                 number of partitions, or re-key one side with key_by(...) (its repartition \
                 topic is sized to match), or join a global table instead",
                list.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Topology(problems))
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
