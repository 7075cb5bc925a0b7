//! The [`TestDriver`]: run a topology in memory, deterministically.
//!
//! The driver runs the real tasks of a topology on a [`MemoryLog`], on the
//! calling thread: piping a record into an input topic processes it, and
//! everything it causes (through repartition topics too), before `pipe`
//! returns. There are no threads, no timers and no disk, so tests are exact
//! and repeatable.
//!
//! # Examples
//!
//! ```
//! use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
//! let mut b = Topology::builder("greeter");
//! b.stream::<String, String>("names", Utf8, Utf8)
//!     .map_values(|n| format!("hello, {n}"))
//!     .to("greetings", Utf8, Utf8);
//! let driver = TestDriver::new(b.build()?)?;
//! let names = driver.input("names", Utf8, Utf8);
//! let greetings = driver.output("greetings", Utf8, Utf8);
//! names.pipe("k1".to_string(), "ada".to_string())?;
//! assert_eq!(greetings.read_values()?, vec!["hello, ada".to_string()]);
//! assert!(greetings.read_values()?.is_empty());
//! # Ok::<(), tributary::Error>(())
//! ```

use crate::codec::Codec;
use crate::error::Result;
use crate::log::prelude::*;
use crate::log::{MemoryLog, TopicConfig};
use crate::operators::Data;
use crate::partitioner::partition_for_key;
use crate::record::Batch;
use crate::record::Record;
use crate::runtime::{App, Config};
use crate::topology::Topology;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

struct Inner {
    log: Arc<MemoryLog>,
    member: Arc<dyn crate::group::Member>,
    tasks: Vec<crate::runtime::task::Task>,
    globals: crate::runtime::Globals,
    /// Event time given to records piped without a timestamp.
    clock: i64,
    /// The driver's wall clock, in ms (moved by `advance_wall_clock`).
    wall_clock: i64,
}

impl Inner {
    /// Polls every task until none has anything left to do.
    fn run(&mut self) -> Result<()> {
        loop {
            let mut n = 0;
            for g in self.globals.iter() {
                g.poll(self.log.as_ref())?;
            }
            for t in &mut self.tasks {
                n += t.poll(self.log.as_ref(), self.wall_clock)?;
            }
            // A task waiting for slower siblings (watermark alignment) has
            // work left: those siblings have records, or are idle by now.
            if n == 0 && !self.tasks.iter().any(|t| t.held_back) {
                // Commit as the runtime would, so that state and changelogs
                // are exercised too.
                use crate::runtime::commit::{AtLeastOnce, Committer};
                return AtLeastOnce::default().commit(
                    &mut self.tasks,
                    self.log.as_ref(),
                    self.member.as_ref(),
                );
            }
        }
    }
}

/// Runs a topology in memory; see the [module docs](self).
pub struct TestDriver {
    inner: Rc<RefCell<Inner>>,
    dead_letter_topic: Option<String>,
    app: App,
}

impl std::fmt::Debug for TestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDriver").finish_non_exhaustive()
    }
}

impl TestDriver {
    /// A driver where every input and output topic has one partition.
    pub fn new(topology: Topology) -> Result<Self> {
        Self::with_partitions(topology, 1, Config::default())
    }

    /// A driver whose input and output topics have `partitions` partitions.
    ///
    /// The driver processes everything piped before `pipe` returns, so an
    /// input with nothing left to read is idle at once (`config.idle_timeout`
    /// is taken as zero): the watermark follows the largest event time piped
    /// into any input, less `config.max_out_of_orderness`, like Kafka
    /// Streams' stream time. The wall clock starts at 0 and moves only with
    /// [`advance_wall_clock`](Self::advance_wall_clock).
    pub fn with_partitions(
        topology: Topology,
        partitions: u32,
        mut config: Config,
    ) -> Result<Self> {
        config.idle_timeout = std::time::Duration::ZERO;
        let log = Arc::new(MemoryLog::new());
        for t in topology
            .source_topics()
            .into_iter()
            .chain(topology.sink_topics())
            .chain(topology.global_topics())
        {
            log.ensure_topic(&t, &TopicConfig::new(partitions))?;
        }
        let app = App::with_state(
            topology,
            Arc::clone(&log) as Arc<dyn Log>,
            config,
            |stores| {
                Ok(Arc::new(tributary_state::MemoryState::new(stores))
                    as Arc<dyn tributary_state::StateBackend>)
            },
        )?;
        let dead_letter_topic = app.dead_letter_topic().map(str::to_owned);
        use crate::group::Membership;
        let member =
            crate::group::Solo::new(Arc::clone(&log) as Arc<dyn Log>).join(app.group(), &[])?;
        let globals = app.globals()?;
        let tasks = app.tasks()?;
        Ok(TestDriver {
            inner: Rc::new(RefCell::new(Inner {
                log,
                member,
                tasks,
                globals,
                clock: 0,
                wall_clock: 0,
            })),
            dead_letter_topic,
            app,
        })
    }

    /// A typed handle to pipe records into `topic`.
    pub fn input<K, V, KC, VC>(
        &self,
        topic: &str,
        key_codec: KC,
        value_codec: VC,
    ) -> TestInput<K, V, KC, VC>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        TestInput {
            inner: Rc::clone(&self.inner),
            topic: topic.to_owned(),
            key_codec,
            value_codec,
            _types: PhantomData,
        }
    }

    /// A typed handle to read what was written to `topic`.
    pub fn output<K, V, KC, VC>(
        &self,
        topic: &str,
        key_codec: KC,
        value_codec: VC,
    ) -> TestOutput<K, V, KC, VC>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        TestOutput {
            inner: Rc::clone(&self.inner),
            topic: topic.to_owned(),
            key_codec,
            value_codec,
            positions: RefCell::new(Vec::new()),
            _types: PhantomData,
        }
    }

    /// The contents of the store `name` (the driver commits after every
    /// piped record, so they are always current).
    pub fn store<K: crate::codec::RkyvData, V: crate::codec::RkyvData>(
        &self,
        name: &str,
    ) -> Result<crate::StoreReader<K, V>> {
        self.app.store(name)
    }

    /// Moves the driver's wall clock forward by `by` and processes what
    /// that causes (wall-clock timers of [`Stream::process`](crate::Stream::process)).
    pub fn advance_wall_clock(&self, by: std::time::Duration) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.wall_clock += crate::record::millis(by);
        inner.run()
    }

    /// Records dropped so far because they arrived after their window closed.
    pub fn late_dropped(&self) -> u64 {
        self.inner
            .borrow()
            .tasks
            .iter()
            .map(crate::runtime::task::Task::late_dropped)
            .sum()
    }

    /// Records dropped so far as late, per operator (window store or join name).
    pub fn late_by_operator(&self) -> std::collections::BTreeMap<String, u64> {
        let mut all = std::collections::BTreeMap::new();
        for t in &self.inner.borrow().tasks {
            for (op, n) in t.late_by_operator() {
                *all.entry(op.to_owned()).or_default() += n;
            }
        }
        all
    }

    /// The dead-letter topic's name, if records are dead-lettered.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        self.dead_letter_topic.as_deref()
    }

    /// Appends a raw record (e.g. malformed bytes) to `topic` and processes it.
    pub fn pipe_raw(&self, topic: &str, partition: u32, record: &Record) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let mut batch = Batch::new();
        batch.push_record(record);
        inner.log.append(topic, partition, &batch)?;
        inner.run()
    }

    /// Every record of every partition of `topic`, in partition then offset order.
    pub fn read_raw(&self, topic: &str) -> Result<Vec<Record>> {
        let inner = self.inner.borrow();
        let n = inner.log.topic_config(topic)?.partitions;
        let mut out = Vec::new();
        for p in 0..n {
            inner.log.fetch(topic, p, 0, usize::MAX, &mut out)?;
        }
        Ok(out)
    }
}

/// Pipes typed records into an input topic of a [`TestDriver`].
pub struct TestInput<K, V, KC, VC> {
    inner: Rc<RefCell<Inner>>,
    topic: String,
    key_codec: KC,
    value_codec: VC,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, KC, VC> std::fmt::Debug for TestInput<K, V, KC, VC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestInput")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl<K: Data, V: Data, KC: Codec<K>, VC: Codec<V>> TestInput<K, V, KC, VC> {
    /// Pipes a record timestamped one millisecond after the previous one.
    pub fn pipe(&self, key: K, value: V) -> Result<()> {
        let ts = self.inner.borrow().clock + 1;
        self.pipe_at(key, value, ts)
    }

    /// Pipes a record with the given event time and processes it (and all it causes).
    pub fn pipe_at(&self, key: K, value: V, timestamp: i64) -> Result<()> {
        let mut k = Vec::new();
        let mut v = Vec::new();
        let has_key = self.key_codec.encode_opt(&key, &mut k)?;
        let has_value = self.value_codec.encode_opt(&value, &mut v)?;
        let mut inner = self.inner.borrow_mut();
        inner.clock = inner.clock.max(timestamp);
        let n = inner.log.topic_config(&self.topic)?.partitions;
        let p = if has_key { partition_for_key(&k, n) } else { 0 };
        let mut batch = Batch::new();
        batch.push(
            timestamp,
            has_key.then_some(&k[..]),
            has_value.then_some(&v[..]),
            &[],
        );
        inner.log.append(&self.topic, p, &batch)?;
        inner.run()
    }
}

/// A record read from an output topic of a [`TestDriver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// The event time.
    pub timestamp: i64,
    /// The partition it was written to.
    pub partition: u32,
}

/// Reads typed records from an output topic of a [`TestDriver`]; each read
/// returns what was written since the previous read.
pub struct TestOutput<K, V, KC, VC> {
    inner: Rc<RefCell<Inner>>,
    topic: String,
    key_codec: KC,
    value_codec: VC,
    positions: RefCell<Vec<u64>>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V, KC, VC> std::fmt::Debug for TestOutput<K, V, KC, VC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestOutput")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl<K: Data, V: Data, KC: Codec<K>, VC: Codec<V>> TestOutput<K, V, KC, VC> {
    /// New records, partition by partition, in offset order.
    pub fn read_records(&self) -> Result<Vec<TestRecord<K, V>>> {
        let inner = self.inner.borrow();
        let n = inner.log.topic_config(&self.topic)?.partitions as usize;
        let mut positions = self.positions.borrow_mut();
        positions.resize(n, 0);
        let mut out = Vec::new();
        for (p, pos) in positions.iter_mut().enumerate() {
            let mut raw = Vec::new();
            inner
                .log
                .fetch(&self.topic, p as u32, *pos, usize::MAX, &mut raw)?;
            for r in raw {
                *pos = r.offset + 1;
                out.push(TestRecord {
                    key: self.key_codec.decode_opt(r.key.as_deref())?,
                    value: self.value_codec.decode_opt(r.value.as_deref())?,
                    timestamp: r.timestamp,
                    partition: p as u32,
                });
            }
        }
        Ok(out)
    }

    /// New records as key-value pairs.
    pub fn read_key_values(&self) -> Result<Vec<(K, V)>> {
        Ok(self
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect())
    }

    /// New records' values.
    pub fn read_values(&self) -> Result<Vec<V>> {
        Ok(self.read_records()?.into_iter().map(|r| r.value).collect())
    }
}
