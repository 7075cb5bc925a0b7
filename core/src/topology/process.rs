//! The processor API: a user-written operator with named stores, record
//! metadata and timers, for what the DSL does not express.

use super::graph::{StoreDef, StoreLayout};
use super::table::StoreKey;
use super::{Stream, lock};
use crate::codec::RkyvData;
use crate::error::Result;
use crate::operators::clock::TimeDriven;
use crate::operators::{Ctx, Data, Processor, Shared, TaskInit};
use crate::store::StoreHandle;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// A user-written operator; see [`Stream::process`].
///
/// One instance runs per task (partition), on the task's thread.
pub trait Process<K, V>: Send + 'static {
    /// Key type of the records it forwards.
    type Key: Data;
    /// Value type of the records it forwards.
    type Value: Data;

    /// Called once per task before the first record: get store handles here.
    fn init(&mut self, _ctx: &mut ProcessInit<'_, '_>) -> Result<()> {
        Ok(())
    }

    /// Handles one record.
    fn process(&mut self, ctx: &mut ProcessContext<'_, Self::Key, Self::Value>, key: K, value: V);

    /// Called when a timer set with [`ProcessContext::schedule`] fires.
    fn on_timer(&mut self, _ctx: &mut ProcessContext<'_, Self::Key, Self::Value>, _timer: Timer) {}
}

/// Which clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeKind {
    /// Fires when the task's watermark reaches the timer's time.
    EventTime,
    /// Fires when the wall clock reaches the timer's time.
    WallClock,
}

/// A timer that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// The clock it followed.
    pub kind: TimeKind,
    /// The time it was set for, in ms.
    pub at: i64,
    /// The tag given when it was set.
    pub tag: u64,
}

/// What a [`Process`] gets at [`init`](Process::init): its stores.
pub struct ProcessInit<'a, 'b> {
    init: &'a mut TaskInit<'b>,
    stores: &'a [String],
}

impl std::fmt::Debug for ProcessInit<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessInit")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl ProcessInit<'_, '_> {
    /// The task's partition number.
    pub fn partition(&self) -> u32 {
        self.init.partition
    }

    /// The key-value store `name`, which must be one of the stores given
    /// to [`Stream::process`]. It is backed by a changelog and restored
    /// like every store, and committed with the task's positions.
    pub fn kv_store<K2: StoreKey, V2: Data + RkyvData>(
        &mut self,
        name: &str,
    ) -> Result<KeyValueStore<K2, V2>> {
        if !self.stores.iter().any(|s| s == name) {
            return Err(crate::Error::Topology(vec![format!(
                "store '{name}' is not declared by this process() call (declared: {:?})",
                self.stores
            )]));
        }
        Ok(KeyValueStore {
            store: self.init.kv_store(name)?,
        })
    }
}

/// A key-value store used from a [`Process`].
pub struct KeyValueStore<K, V> {
    store: StoreHandle<K, V>,
}

impl<K, V> std::fmt::Debug for KeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStore").finish_non_exhaustive()
    }
}

impl<K: StoreKey, V: Data + RkyvData> KeyValueStore<K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.read(key, |v| v.cloned())
    }

    /// Reads the value of `key` in place, without cloning it: returns what
    /// `f` makes of it (`None` if there is none).
    pub fn read<R>(&self, key: &K, f: impl FnOnce(Option<&V>) -> R) -> Result<R> {
        Ok(f(crate::store::lock(&self.store).get(key)?))
    }

    /// Sets the value of `key`.
    pub fn put(&self, key: &K, value: V) -> Result<()> {
        crate::store::lock(&self.store).put(key, value)
    }

    /// Deletes `key`.
    pub fn delete(&self, key: &K) -> Result<()> {
        self.update(key, |v| *v = None)
    }

    /// Reads and changes the value of `key` in place: `f` gets the value
    /// (`None` if there is none) and may change it, set it, or set it to
    /// `None` to delete the key; its result is returned. The key counts as
    /// changed whatever `f` does, so use [`get`](Self::get) when a record
    /// usually changes nothing. Unlike a [`get`](Self::get) and a
    /// [`put`](Self::put), nothing is cloned, which matters for values that
    /// grow, such as a list a record appends to. The state's memory budget
    /// counts a value at its encoded size as of the last commit, so a value
    /// that grows by megabytes between commits is not yet counted.
    ///
    /// ```
    /// # use tributary::topology::{Process, ProcessContext, KeyValueStore};
    /// /// Collects each key's values until one is `"end"`.
    /// struct Collect(KeyValueStore<String, Vec<String>>);
    ///
    /// impl Process<String, String> for Collect {
    ///     type Key = String;
    ///     type Value = Vec<String>;
    ///     fn process(&mut self, ctx: &mut ProcessContext<'_, String, Vec<String>>, k: String, v: String) {
    ///         let done = self.0.update(&k, |values| {
    ///             if v == "end" {
    ///                 values.take()
    ///             } else {
    ///                 values.get_or_insert_default().push(v);
    ///                 None
    ///             }
    ///         });
    ///         if let Some(values) = done.expect("store") {
    ///             ctx.forward(k, values);
    ///         }
    ///     }
    /// }
    /// ```
    pub fn update<R>(&self, key: &K, f: impl FnOnce(&mut Option<V>) -> R) -> Result<R> {
        Ok(f(crate::store::lock(&self.store).entry(key)?))
    }
}

/// Timers set, by time.
#[derive(Debug, Default)]
struct Timers {
    event: BTreeSet<(i64, u64)>,
    wall: BTreeSet<(i64, u64)>,
}

/// What a [`Process`] sees while handling a record or a timer.
pub struct ProcessContext<'a, K, V> {
    ctx: &'a mut Ctx,
    next: &'a mut dyn Processor<K, V>,
    timers: &'a mut Timers,
    partition: u32,
}

impl<K, V> std::fmt::Debug for ProcessContext<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessContext")
            .field("timestamp", &self.ctx.timestamp)
            .finish_non_exhaustive()
    }
}

impl<K, V> ProcessContext<'_, K, V> {
    /// Event time of the record (or of the timer) being handled, in ms.
    pub fn timestamp(&self) -> i64 {
        self.ctx.timestamp
    }

    /// The input topic of the record being handled.
    pub fn topic(&self) -> &str {
        self.ctx
            .input_topics
            .get(self.ctx.input)
            .map_or("", String::as_str)
    }

    /// The partition of the record being handled (the task's partition).
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The offset of the record being handled in its input.
    pub fn offset(&self) -> u64 {
        self.ctx.offset
    }

    /// The task's watermark.
    pub fn watermark(&self) -> i64 {
        self.ctx.clock.watermark()
    }

    /// The wall-clock time of the current poll, in ms since the epoch.
    pub fn wall_clock(&self) -> i64 {
        self.ctx.now
    }

    /// Sends a record downstream with the current timestamp.
    pub fn forward(&mut self, key: K, value: V) {
        self.next.process(self.ctx, key, value);
    }

    /// Sends a record downstream with the timestamp `timestamp`.
    pub fn forward_at(&mut self, key: K, value: V, timestamp: i64) {
        let saved = std::mem::replace(&mut self.ctx.timestamp, timestamp);
        self.next.process(self.ctx, key, value);
        self.ctx.timestamp = saved;
    }

    /// Sets a timer firing [`Process::on_timer`] when `kind`'s clock
    /// reaches `at`; setting the same `(kind, at, tag)` twice fires once.
    /// Timers live in memory: they do not survive a restart.
    pub fn schedule(&mut self, kind: TimeKind, at: i64, tag: u64) {
        match kind {
            TimeKind::EventTime => self.timers.event.insert((at, tag)),
            TimeKind::WallClock => self.timers.wall.insert((at, tag)),
        };
    }
}

/// Runs a [`Process`] in a task.
struct ProcessOp<P: Process<K, V>, K, V> {
    process: P,
    next: Box<dyn Processor<P::Key, P::Value>>,
    timers: Timers,
    partition: u32,
}

impl<P: Process<K, V>, K: Send + 'static, V: Send + 'static> ProcessOp<P, K, V> {
    fn fire(&mut self, ctx: &mut Ctx, kind: TimeKind, now: i64) {
        loop {
            let set = match kind {
                TimeKind::EventTime => &mut self.timers.event,
                TimeKind::WallClock => &mut self.timers.wall,
            };
            let Some(&(at, tag)) = set.first() else { break };
            if at > now {
                break;
            }
            set.remove(&(at, tag));
            let saved = ctx.timestamp;
            if kind == TimeKind::EventTime {
                ctx.timestamp = at;
            }
            let mut pc = ProcessContext {
                ctx,
                next: &mut *self.next,
                timers: &mut self.timers,
                partition: self.partition,
            };
            self.process.on_timer(&mut pc, Timer { kind, at, tag });
            ctx.timestamp = saved;
        }
    }
}

impl<P: Process<K, V>, K: Send + 'static, V: Send + 'static> Processor<K, V>
    for ProcessOp<P, K, V>
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        let mut pc = ProcessContext {
            ctx,
            next: &mut *self.next,
            timers: &mut self.timers,
            partition: self.partition,
        };
        self.process.process(&mut pc, key, value);
    }
}

impl<P: Process<K, V>, K: Send + 'static, V: Send + 'static> TimeDriven for ProcessOp<P, K, V> {
    fn on_watermark(&mut self, ctx: &mut Ctx) {
        let wm = ctx.clock.watermark();
        self.fire(ctx, TimeKind::EventTime, wm);
    }

    fn on_wall_clock(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        self.fire(ctx, TimeKind::WallClock, now);
    }
}

impl<K: Data, V: Data> Stream<K, V> {
    /// Runs a user-written operator on each record: `make` creates one
    /// instance per task; `stores` names the key-value stores it may open
    /// (in [`Process::init`]). It can forward any number of records, read
    /// the record's topic, partition and offset, and set timers on event
    /// time or wall-clock time.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// use tributary::topology::{KeyValueStore, Process, ProcessContext, ProcessInit, TimeKind, Timer};
    ///
    /// /// Emits each key's first value, once, 10 ms (event time) after it arrived.
    /// #[derive(Default)]
    /// struct FirstSeen { seen: Option<KeyValueStore<String, String>> }
    ///
    /// impl Process<String, String> for FirstSeen {
    ///     type Key = String;
    ///     type Value = String;
    ///     fn init(&mut self, ctx: &mut ProcessInit<'_, '_>) -> tributary::Result<()> {
    ///         self.seen = Some(ctx.kv_store("first-seen")?);
    ///         Ok(())
    ///     }
    ///     fn process(&mut self, ctx: &mut ProcessContext<'_, String, String>, key: String, value: String) {
    ///         let seen = self.seen.as_ref().unwrap();
    ///         if seen.get(&key).unwrap().is_none() {
    ///             seen.put(&key, value.clone()).unwrap();
    ///             ctx.forward(key, format!("{value} from {}@{}", ctx.topic(), ctx.offset()));
    ///             ctx.schedule(TimeKind::EventTime, ctx.timestamp() + 10, 0);
    ///         }
    ///     }
    ///     fn on_timer(&mut self, ctx: &mut ProcessContext<'_, String, String>, timer: Timer) {
    ///         ctx.forward("timer".to_string(), format!("fired at {}", timer.at));
    ///     }
    /// }
    ///
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("in", Utf8, Utf8)
    ///     .process("first-seen", &["first-seen"], FirstSeen::default)
    ///     .to("out", Utf8, Utf8);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let input = driver.input("in", Utf8, Utf8);
    /// input.pipe_at("a".to_string(), "x".to_string(), 100)?;
    /// input.pipe_at("a".to_string(), "y".to_string(), 105)?;
    /// input.pipe_at("b".to_string(), "z".to_string(), 120)?;
    /// let out: Vec<String> = driver.output("out", Utf8, Utf8).read_values()?;
    /// assert_eq!(out, vec!["x from in@0", "z from in@2", "fired at 110"]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn process<P: Process<K, V>>(
        &self,
        name: &str,
        stores: &[&str],
        make: impl Fn() -> P + Send + Sync + 'static,
    ) -> Stream<P::Key, P::Value> {
        let declared: Vec<String> = stores.iter().map(|s| s.to_string()).collect();
        let out = self.child("process", vec![self.node], None, move |init, next| {
            let mut process = make();
            process.init(&mut ProcessInit {
                init,
                stores: &declared,
            })?;
            let op = Arc::new(Mutex::new(ProcessOp {
                process,
                next,
                timers: Timers::default(),
                partition: init.partition,
            }));
            init.on_time(Arc::clone(&op) as Arc<Mutex<dyn TimeDriven>>);
            Ok(Box::new(Shared(op)) as Box<dyn Processor<K, V>>)
        });
        let mut g = lock(&self.graph);
        g.nodes[out.node].name = name.to_owned();
        for s in stores {
            g.stores.push(StoreDef {
                name: (*s).to_owned(),
                node: out.node,
                layout: StoreLayout::KeyValue,
            });
        }
        drop(g);
        out
    }
}
