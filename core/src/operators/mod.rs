//! Operators: the per-task processing chain a topology turns into.
//!
//! The typed [`Stream`](crate::Stream) API records, for every node of the
//! dataflow, a *factory*. When a task starts, its sources call their
//! factories, which call their children's, so each task owns a private,
//! fused chain of [`Processor`]s: plain synchronous code with no locks, one
//! dynamic call per operator per record. Records travel with their timestamp
//! in the task's [`Ctx`].
//!
//! Every stateless operator is a thin call to one generic builder,
//! [`Stream::op`](crate::Stream), whose closure receives the record and the
//! next processor; the files here hold the pieces that are more than that:
//! sources (decoding), sinks (encoding and partitioning), branching and fan-out.

pub(crate) mod aggregate;
pub(crate) mod branch;
pub(crate) mod clock;
pub(crate) mod join;
pub(crate) mod late;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod suppress;
pub(crate) mod window;

use crate::error::{Error, Result};
use crate::record::Batch;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Types that flow through streams: cloneable (for fan-out) and sendable
/// (tasks run on worker threads).
pub trait Data: Clone + Send + 'static {}
impl<T: Clone + Send + 'static> Data for T {}

/// One step of a task's processing chain.
pub(crate) trait Processor<K, V>: Send {
    /// Handles one record; the record's timestamp is `ctx.timestamp`.
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V);
}

/// Builds a node's processor (and, through it, everything downstream) for one task.
pub(crate) type Factory<K, V> =
    Arc<dyn Fn(&mut TaskInit<'_>) -> Result<Box<dyn Processor<K, V>>> + Send + Sync>;

/// The children of a typed node, filled in as the topology is built.
pub(crate) struct NodeCell<K, V> {
    children: Mutex<Vec<Factory<K, V>>>,
}

impl<K, V> std::fmt::Debug for NodeCell<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCell").finish_non_exhaustive()
    }
}

impl<K: Data, V: Data> NodeCell<K, V> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(NodeCell {
            children: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn add_child(&self, f: Factory<K, V>) {
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(f);
    }

    /// Instantiates every child for one task: one child is called directly,
    /// several through a fan-out that clones the record for all but the last.
    pub(crate) fn instantiate(&self, init: &mut TaskInit<'_>) -> Result<Box<dyn Processor<K, V>>> {
        let factories = self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut children = Vec::with_capacity(factories.len());
        for f in &factories {
            children.push(f(init)?);
        }
        Ok(match children.len() {
            0 => Box::new(Discard),
            1 => children
                .pop()
                .ok_or_else(|| Error::Runtime("no child".into()))?,
            _ => Box::new(Fanout { children }),
        })
    }
}

/// The end of a chain nobody consumes.
struct Discard;

impl<K, V> Processor<K, V> for Discard {
    fn process(&mut self, _ctx: &mut Ctx, _key: K, _value: V) {}
}

/// Sends each record to several children.
struct Fanout<K, V> {
    children: Vec<Box<dyn Processor<K, V>>>,
}

impl<K: Data, V: Data> Processor<K, V> for Fanout<K, V> {
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        let (last, rest) = self
            .children
            .split_last_mut()
            .expect("a fan-out has children");
        for child in rest {
            child.process(ctx, key.clone(), value.clone());
        }
        last.process(ctx, key, value);
    }
}

/// A processor shared with the task (which calls it when time passes) or
/// between the inputs of a join.
pub(crate) struct Shared<P: ?Sized>(pub(crate) Arc<Mutex<P>>);

impl<K, V, P: Processor<K, V> + ?Sized> Processor<K, V> for Shared<P> {
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        crate::store::lock(&self.0).process(ctx, key, value);
    }
}

/// Marks the records passing through a node's processor as being in that
/// node (for errors and panics to name it), and restores the caller's
/// node when it returns.
pub(crate) struct Tracked<K, V> {
    pub(crate) node: usize,
    pub(crate) inner: Box<dyn Processor<K, V>>,
}

impl<K, V> Processor<K, V> for Tracked<K, V> {
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        if let Some(n) = ctx.node_records.get_mut(self.node) {
            *n += 1;
        }
        let caller = std::mem::replace(&mut ctx.node, self.node);
        self.inner.process(ctx, key, value);
        ctx.node = caller;
    }
}

/// A generic operator: `body` gets each record and the next processor.
pub(crate) struct Op<B, K2, V2> {
    pub(crate) body: Arc<B>,
    pub(crate) next: Box<dyn Processor<K2, V2>>,
}

impl<K, V, K2, V2, B> Processor<K, V> for Op<B, K2, V2>
where
    B: Fn(&mut Ctx, K, V, &mut dyn Processor<K2, V2>) + Send + Sync,
    K2: Send,
    V2: Send,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        (self.body)(ctx, key, value, &mut *self.next);
    }
}

/// What a task knows while its processors are being created.
#[derive(Debug)]
pub(crate) struct TaskInit<'a> {
    /// The task's partition number.
    pub(crate) partition: u32,
    /// Partition counts of every topic the topology touches.
    pub(crate) partitions: &'a HashMap<String, u32>,
    /// Output topics registered so far, in slot order.
    pub(crate) outputs: Vec<(String, u32)>,
    /// The process's state backend, if the topology has stores.
    pub(crate) state: Option<&'a std::sync::Arc<dyn tributary_state::StateBackend>>,
    /// The task's stores, created by the operators that use them.
    pub(crate) stores: crate::store::Registry,
    /// Operators to call when time passes, with their nodes.
    pub(crate) timers: Vec<(usize, Arc<Mutex<dyn clock::TimeDriven>>)>,
    /// The node whose processor is being created.
    pub(crate) node: usize,
    /// Operators with several inputs, by node, so that each input's
    /// factory finds the one instance of the task.
    pub(crate) shared: HashMap<usize, Arc<dyn std::any::Any + Send + Sync>>,
}

impl TaskInit<'_> {
    /// The task's key-value store `name`, created on first use.
    pub(crate) fn kv_store<K, V>(
        &mut self,
        name: &str,
    ) -> Result<Arc<Mutex<crate::store::KvStore<K, V>>>>
    where
        K: crate::codec::RkyvData + std::hash::Hash + Eq + Clone + Send + 'static,
        V: crate::codec::RkyvData + Send + 'static,
    {
        self.stores.kv(name, self.partition, self.state)
    }

    /// The output slot for `topic`, registering it on first use.
    /// The task's instance of the multi-input operator of node `node`,
    /// made by `make` on first use.
    pub(crate) fn shared<T: Send + 'static>(
        &mut self,
        node: usize,
        make: impl FnOnce(&mut Self) -> Result<Arc<Mutex<T>>>,
    ) -> Result<Arc<Mutex<T>>> {
        if let Some(op) = self.shared.get(&node) {
            return Arc::clone(op)
                .downcast::<Mutex<T>>()
                .map_err(|_| Error::Runtime(format!("operator {node} has two types")));
        }
        let op = make(self)?;
        self.shared.insert(
            node,
            Arc::clone(&op) as Arc<dyn std::any::Any + Send + Sync>,
        );
        Ok(op)
    }

    /// Registers an operator to be called when the watermark moves and on
    /// every poll.
    pub(crate) fn on_time(&mut self, op: Arc<Mutex<dyn clock::TimeDriven>>) {
        self.timers.push((self.node, op));
    }

    pub(crate) fn output(&mut self, topic: &str) -> Result<usize> {
        if let Some(i) = self.outputs.iter().position(|(t, _)| t == topic) {
            return Ok(i);
        }
        let n = *self
            .partitions
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.into()))?;
        self.outputs.push((topic.to_owned(), n));
        Ok(self.outputs.len() - 1)
    }
}

/// Output batches of one topic, one per partition.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) topic: String,
    pub(crate) batches: Vec<Batch>,
    /// Partitions written since the last commit (to sync then).
    pub(crate) dirty: Vec<bool>,
    /// Watermark announcements pushed into every batch since the last
    /// flush (control records, not counted as records out).
    pub(crate) announcements: usize,
}

/// A task's processing context: the current record's metadata and the
/// output batches that sinks fill.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Event time of the record being processed.
    pub(crate) timestamp: i64,
    /// Index of the input the record came from.
    pub(crate) input: usize,
    /// The task's input topics, by index.
    pub(crate) input_topics: Vec<String>,
    /// Offset of the record in its input.
    pub(crate) offset: u64,
    /// The node whose processor the record is in (see [`Tracked`]).
    pub(crate) node: usize,
    /// The task's event-time clock.
    pub(crate) clock: clock::Clock,
    /// Wall-clock time of the current poll, in ms since the epoch.
    pub(crate) now: i64,
    /// Records dropped because they arrived after their window closed.
    pub(crate) late: late::LateRecords,
    pub(crate) outputs: Vec<Output>,
    /// First error raised by a processor (encoding); the task stops on it.
    pub(crate) error: Option<Error>,
    pub(crate) key_buf: Vec<u8>,
    pub(crate) value_buf: Vec<u8>,
    /// Records each node processed since the task last reported them, by
    /// node index (empty: not counted).
    pub(crate) node_records: Vec<u64>,
}

impl Ctx {
    pub(crate) fn new(outputs: &[(String, u32)], clock: clock::Clock) -> Self {
        Ctx {
            timestamp: 0,
            input: 0,
            input_topics: Vec::new(),
            offset: 0,
            node: 0,
            clock,
            now: 0,
            late: late::LateRecords::default(),
            outputs: outputs
                .iter()
                .map(|(t, n)| Output {
                    topic: t.clone(),
                    batches: (0..*n).map(|_| Batch::new()).collect(),
                    dirty: vec![false; *n as usize],
                    announcements: 0,
                })
                .collect(),
            error: None,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            node_records: Vec::new(),
        }
    }

    /// Counts (and reports) the current record as dropped late by `operator`.
    pub(crate) fn drop_late(&mut self, operator: &str) {
        let behind = self.clock.watermark().saturating_sub(self.timestamp);
        let ooo = self.clock.out_of_orderness();
        self.late.dropped(operator, behind, self.now, ooo);
    }

    /// Records the first error; later ones are dropped (the task stops anyway).
    pub(crate) fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}
