//! The typed [`Stream`] and its stateless operators.

use super::graph::{Graph, SinkDef, SourceDef};
use super::lock;
use crate::codec::{Codec, Rkyv, RkyvData};
use crate::operators::branch::{Branch, Predicate};
use crate::operators::sink::{PartitionSlot, Sink};
use crate::operators::{Ctx, Data, Factory, NodeCell, Op, Processor, TaskInit, Tracked, source};
use std::sync::{Arc, Mutex};

/// A typed stream of keyed records inside a topology under construction.
///
/// Operators take `&self`, so a stream can feed several downstream
/// operators (each gets every record). Closures are plain Rust; they run on
/// the task's thread and must be `Send + Sync + 'static`.
pub struct Stream<K, V> {
    pub(crate) graph: Arc<Mutex<Graph>>,
    pub(crate) node: usize,
    cell: Arc<NodeCell<K, V>>,
}

impl<K, V> Clone for Stream<K, V> {
    fn clone(&self) -> Self {
        Stream {
            graph: Arc::clone(&self.graph),
            node: self.node,
            cell: Arc::clone(&self.cell),
        }
    }
}

impl<K, V> std::fmt::Debug for Stream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = lock(&self.graph);
        f.debug_struct("Stream")
            .field("node", &g.nodes[self.node].name)
            .finish()
    }
}

impl<K: Data, V: Data> Stream<K, V> {
    pub(crate) fn new(graph: Arc<Mutex<Graph>>, node: usize, cell: Arc<NodeCell<K, V>>) -> Self {
        Stream { graph, node, cell }
    }

    /// Adds a node below this one; `make` builds the node's processor for a
    /// task, given the processor of the node's own children.
    pub(crate) fn child<K2: Data, V2: Data>(
        &self,
        kind: &'static str,
        parents: Vec<usize>,
        topic: Option<String>,
        make: impl Fn(
            &mut TaskInit<'_>,
            Box<dyn Processor<K2, V2>>,
        ) -> crate::Result<Box<dyn Processor<K, V>>>
        + Send
        + Sync
        + 'static,
    ) -> Stream<K2, V2> {
        let node = lock(&self.graph).add_node(kind, None, parents, topic);
        let cell = NodeCell::<K2, V2>::new();
        let below = Arc::clone(&cell);
        let factory: Factory<K, V> = Arc::new(move |init| {
            let next = below.instantiate(init)?;
            init.node = node;
            let inner = make(init, next)?;
            Ok(Box::new(Tracked { node, inner }) as Box<dyn Processor<K, V>>)
        });
        self.cell.add_child(factory);
        Stream::new(Arc::clone(&self.graph), node, cell)
    }

    /// Adds an operator with two inputs, this stream and `other`. Each task
    /// makes one instance with `make` (given the processor of the node's
    /// children); `left` and `right` wrap it as each input's processor.
    pub(crate) fn binary<V2: Data, K3: Data, V3: Data, T: Send + 'static>(
        &self,
        other: &Stream<K, V2>,
        kind: &'static str,
        make: impl Fn(&mut TaskInit<'_>, Box<dyn Processor<K3, V3>>) -> crate::Result<Arc<Mutex<T>>>
        + Send
        + Sync
        + 'static,
        left: impl Fn(Arc<Mutex<T>>) -> Box<dyn Processor<K, V>> + Send + Sync + 'static,
        right: impl Fn(Arc<Mutex<T>>) -> Box<dyn Processor<K, V2>> + Send + Sync + 'static,
    ) -> Stream<K3, V3> {
        let node = lock(&self.graph).add_node(kind, None, vec![self.node, other.node], None);
        let cell = NodeCell::<K3, V3>::new();
        let make = Arc::new(make);
        let instance = {
            let (cell, make) = (Arc::clone(&cell), Arc::clone(&make));
            move |init: &mut TaskInit<'_>| {
                init.shared(node, |init| {
                    let next = cell.instantiate(init)?;
                    init.node = node;
                    make(init, next)
                })
            }
        };
        let instance = Arc::new(instance);
        let i = Arc::clone(&instance);
        self.cell.add_child(Arc::new(move |init| {
            let inner = left(i(init)?);
            Ok(Box::new(Tracked { node, inner }) as Box<dyn Processor<K, V>>)
        }));
        other.cell.add_child(Arc::new(move |init| {
            let inner = right(instance(init)?);
            Ok(Box::new(Tracked { node, inner }) as Box<dyn Processor<K, V2>>)
        }));
        Stream::new(Arc::clone(&self.graph), node, cell)
    }

    /// The one generic operator all stateless operators are made of: `body`
    /// gets each record and the next processor, and may emit any number of
    /// records to it.
    pub(crate) fn op<K2: Data, V2: Data, B>(&self, kind: &'static str, body: B) -> Stream<K2, V2>
    where
        B: Fn(&mut Ctx, K, V, &mut dyn Processor<K2, V2>) + Send + Sync + 'static,
    {
        let body = Arc::new(body);
        self.child(kind, vec![self.node], None, move |_init, next| {
            Ok(Box::new(Op {
                body: Arc::clone(&body),
                next,
            }))
        })
    }

    /// Renames the operator that produces this stream (names show in
    /// [`describe`](super::Topology::describe) and must be unique).
    pub fn named(self, name: &str) -> Self {
        lock(&self.graph).nodes[self.node].name = name.to_owned();
        self
    }

    /// Takes the event time of this source's records from their key and
    /// value (in ms since the epoch) instead of the log's record timestamp.
    /// Windows, joins and watermarks then run on it, and records written
    /// downstream carry it. Call it on a stream returned by
    /// [`TopologyBuilder::stream`](super::TopologyBuilder::stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, (String, i64)>("clicks", Utf8, Json)
    ///     .event_time(|_user, (_page, at)| *at)
    ///     .to("stamped", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("clicks", Utf8, Json).pipe_at("ann".to_string(), ("/".to_string(), 42i64), 7)?;
    /// let out = driver.output::<String, (String, i64), _, _>("stamped", Utf8, Json).read_records()?;
    /// assert_eq!(out[0].timestamp, 42);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn event_time(self, f: impl Fn(&K, &V) -> i64 + Send + Sync + 'static) -> Self {
        let mut g = lock(&self.graph);
        let slot = g
            .sources
            .iter()
            .find(|s| s.node == self.node)
            .and_then(|s| {
                Arc::clone(&s.event_time)
                    .downcast::<std::sync::OnceLock<source::Extractor<K, V>>>()
                    .ok()
            });
        let name = g.nodes[self.node].name.clone();
        match slot {
            Some(slot) if slot.set(Arc::new(f)).is_ok() => {}
            Some(_) => g
                .errors
                .push(format!("event_time() is called twice on '{name}'")),
            None => g.errors.push(format!(
                "event_time() must be called on a source stream, not on '{name}'"
            )),
        }
        drop(g);
        self
    }

    /// Transforms each record's key and value.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, u32>("in", Utf8, Json)
    ///     .map(|k, v| (k.to_uppercase(), v * 10))
    ///     .to("out", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("in", Utf8, Json).pipe("a".to_string(), 4u32)?;
    /// assert_eq!(driver.output("out", Utf8, Json).read_key_values()?, vec![("A".to_string(), 40u32)]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn map<K2: Data, V2: Data>(
        &self,
        f: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> Stream<K2, V2> {
        self.op("map", move |ctx, k, v, next| {
            let (k2, v2) = f(k, v);
            next.process(ctx, k2, v2);
        })
    }

    /// Transforms each record's value; the key (and so the partition) stays.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("in", Utf8, Utf8).map_values(|v| v.len()).to("out", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("in", Utf8, Utf8).pipe("k".to_string(), "four".to_string())?;
    /// assert_eq!(driver.output::<String, usize, _, _>("out", Utf8, Json).read_values()?, vec![4]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn map_values<V2: Data>(
        &self,
        f: impl Fn(V) -> V2 + Send + Sync + 'static,
    ) -> Stream<K, V2> {
        self.op("map-values", move |ctx, k, v, next| {
            next.process(ctx, k, f(v))
        })
    }

    /// Keeps the records for which `f` is true.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, i64>("in", Utf8, Json).filter(|_k, v| *v > 0).to("out", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let input = driver.input("in", Utf8, Json);
    /// for v in [3i64, -1, 7] {
    ///     input.pipe("k".to_string(), v)?;
    /// }
    /// assert_eq!(driver.output::<String, i64, _, _>("out", Utf8, Json).read_values()?, vec![3, 7]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn filter(&self, f: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Stream<K, V> {
        self.op("filter", move |ctx, k, v, next| {
            if f(&k, &v) {
                next.process(ctx, k, v);
            }
        })
    }

    /// Turns each record into zero or more records.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("lines", Utf8, Utf8)
    ///     .flat_map(|_k, line| line.split_whitespace().map(|w| (w.to_string(), 1u32)).collect::<Vec<_>>())
    ///     .to("words", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("lines", Utf8, Utf8).pipe("l1".to_string(), "to be".to_string())?;
    /// let words: Vec<(String, u32)> = driver.output("words", Utf8, Json).read_key_values()?;
    /// assert_eq!(words, vec![("to".to_string(), 1), ("be".to_string(), 1)]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn flat_map<K2: Data, V2: Data, I>(
        &self,
        f: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> Stream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)>,
    {
        self.op("flat-map", move |ctx, k, v, next| {
            for (k2, v2) in f(k, v) {
                next.process(ctx, k2, v2);
            }
        })
    }

    /// Calls `f` on each record and passes it on unchanged (for logging,
    /// metrics, debugging).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&seen);
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, u8>("in", Utf8, Json)
    ///     .inspect(move |_k, _v| { counter.fetch_add(1, Ordering::Relaxed); });
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("in", Utf8, Json).pipe("k".to_string(), 1u8)?;
    /// assert_eq!(seen.load(Ordering::Relaxed), 1);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn inspect(&self, f: impl Fn(&K, &V) + Send + Sync + 'static) -> Stream<K, V> {
        self.op("inspect", move |ctx, k, v, next| {
            f(&k, &v);
            next.process(ctx, k, v);
        })
    }

    /// Gives each record a new key and sends the stream through an internal
    /// repartition topic, `<application>-<name>-repartition`, so that
    /// downstream, all records with the same new key are in the same task.
    /// Keys and values travel rkyv-encoded; `name` must be stable across
    /// versions of the application (it names the topic).
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("shop");
    /// b.stream::<String, (String, u32)>("orders", Utf8, Json)
    ///     .key_by("by-item", |_user, (item, _qty)| item.clone())
    ///     .to("orders-by-item", Utf8, Json);
    /// let topology = b.build()?;
    /// assert_eq!(topology.internal_topics(), vec!["shop-by-item-repartition".to_string()]);
    /// let driver = TestDriver::new(topology)?;
    /// driver.input("orders", Utf8, Json).pipe("ann".to_string(), ("pen".to_string(), 2u32))?;
    /// let out: Vec<(String, (String, u32))> = driver.output("orders-by-item", Utf8, Json).read_key_values()?;
    /// assert_eq!(out, vec![("pen".to_string(), ("pen".to_string(), 2))]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn key_by<K2>(
        &self,
        name: &str,
        f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> Stream<K2, V>
    where
        K2: Data + RkyvData,
        V: RkyvData,
    {
        let app = lock(&self.graph).name.clone();
        let topic = format!("{app}-{name}-repartition");
        let keyed = self.op("key-by", move |ctx, k, v, next| {
            let k2 = f(&k, &v);
            next.process(ctx, k2, v);
        });
        keyed.write(&topic, Rkyv, Rkyv, true, "repartition-sink");
        let cell = NodeCell::new();
        let mut g = lock(&self.graph);
        let node = g.add_node("repartition-source", None, Vec::new(), Some(topic.clone()));
        let slot: source::ExtractorSlot<K2, V> = Arc::default();
        let factory = source::factory(Arc::clone(&cell), Rkyv, Rkyv, Arc::clone(&slot));
        g.sources.push(SourceDef {
            topic,
            node,
            internal: true,
            factory,
            event_time: slot,
            key_encoder: None,
        });
        drop(g);
        Stream::new(Arc::clone(&self.graph), node, cell)
    }

    /// Combines this stream with `other`: the result has the records of both.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// let web = b.stream::<String, u32>("web", Utf8, Json);
    /// let app = b.stream::<String, u32>("mobile", Utf8, Json);
    /// web.merge(&app).to("all", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("web", Utf8, Json).pipe("a".to_string(), 1u32)?;
    /// driver.input("mobile", Utf8, Json).pipe("b".to_string(), 2u32)?;
    /// assert_eq!(driver.output::<String, u32, _, _>("all", Utf8, Json).read_values()?, vec![1, 2]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn merge(&self, other: &Stream<K, V>) -> Stream<K, V> {
        let merged = self.child("merge", vec![self.node, other.node], None, |_init, next| {
            Ok(next)
        });
        let cell = Arc::clone(&merged.cell);
        other
            .cell
            .add_child(Arc::new(move |init| cell.instantiate(init)));
        merged
    }

    /// Splits the stream: each record goes to the first branch whose
    /// predicate holds, and is dropped if none does (add a catch-all
    /// branch with [`BranchBuilder::otherwise`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// let [big, small] = b
    ///     .stream::<String, u32>("amounts", Utf8, Json)
    ///     .branch()
    ///     .on(|_k, v| *v >= 100)
    ///     .otherwise()
    ///     .build();
    /// big.to("big", Utf8, Json);
    /// small.to("small", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let input = driver.input("amounts", Utf8, Json);
    /// for v in [5u32, 500, 50] {
    ///     input.pipe("k".to_string(), v)?;
    /// }
    /// assert_eq!(driver.output::<String, u32, _, _>("big", Utf8, Json).read_values()?, vec![500]);
    /// assert_eq!(driver.output::<String, u32, _, _>("small", Utf8, Json).read_values()?, vec![5, 50]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn branch(&self) -> BranchBuilder<K, V> {
        BranchBuilder {
            stream: self.clone(),
            predicates: Vec::new(),
        }
    }

    /// Writes the stream to `topic`, partitioned by key with Kafka's default
    /// partitioner (records without a key are spread round-robin).
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, u32>("in", Utf8, Json).to("out", Utf8, Json);
    /// assert_eq!(b.build()?.sink_topics(), vec!["out".to_string()]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn to(&self, topic: &str, key_codec: impl Codec<K>, value_codec: impl Codec<V>) {
        self.write(topic, key_codec, value_codec, false, "sink");
    }

    fn write<KC: Codec<K>, VC: Codec<V>>(
        &self,
        topic: &str,
        key_codec: KC,
        value_codec: VC,
        internal: bool,
        kind: &'static str,
    ) {
        let mut g = lock(&self.graph);
        g.errors.extend(crate::log::name_problem("topic", topic));
        let node = g.add_node(kind, None, vec![self.node], Some(topic.to_owned()));
        let partition_by: Option<PartitionSlot<K>> = internal.then(PartitionSlot::default);
        g.sinks.push(SinkDef {
            topic: topic.to_owned(),
            node,
            internal,
            partition_by: partition_by
                .clone()
                .map(|slot| slot as Arc<dyn std::any::Any + Send + Sync>),
        });
        drop(g);
        let topic = topic.to_owned();
        self.cell.add_child(Arc::new(move |init| {
            let inner = Box::new(Sink {
                slot: init.output(&topic)?,
                key_codec: key_codec.clone(),
                value_codec: value_codec.clone(),
                next_unkeyed: init.partition,
                partition_by: partition_by.clone(),
                scratch: Vec::new(),
            });
            Ok(Box::new(Tracked { node, inner }) as Box<dyn Processor<K, V>>)
        }));
    }
}

/// Declares the branches of [`Stream::branch`], in order.
pub struct BranchBuilder<K, V> {
    stream: Stream<K, V>,
    predicates: Vec<Predicate<K, V>>,
}

impl<K, V> std::fmt::Debug for BranchBuilder<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BranchBuilder")
            .field("branches", &self.predicates.len())
            .finish()
    }
}

impl<K: Data, V: Data> BranchBuilder<K, V> {
    /// Adds a branch taking the records for which `f` holds (and no earlier
    /// branch's predicate did).
    pub fn on(mut self, f: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.predicates.push(Arc::new(f));
        self
    }

    /// Adds a branch taking every record no earlier branch took.
    pub fn otherwise(self) -> Self {
        self.on(|_, _| true)
    }

    /// Returns the branches' streams, in the order they were declared.
    ///
    /// # Panics
    ///
    /// Panics if `N` differs from the number of branches declared.
    pub fn build<const N: usize>(self) -> [Stream<K, V>; N] {
        assert_eq!(
            N,
            self.predicates.len(),
            "branch(): {N} streams asked for, but {} branches declared",
            self.predicates.len()
        );
        let s = &self.stream;
        let branch_node = lock(&s.graph).add_node("branch", None, vec![s.node], None);
        let cells: Vec<Arc<NodeCell<K, V>>> = (0..N).map(|_| NodeCell::new()).collect();
        let streams: Vec<Stream<K, V>> = cells
            .iter()
            .map(|c| {
                let node = lock(&s.graph).add_node("branch-arm", None, vec![branch_node], None);
                Stream::new(Arc::clone(&s.graph), node, Arc::clone(c))
            })
            .collect();
        let arms: Vec<usize> = streams.iter().map(|s| s.node).collect();
        let predicates = self.predicates;
        s.cell.add_child(Arc::new(move |init| {
            let mut branches = Vec::with_capacity(cells.len());
            for ((p, c), &node) in predicates.iter().zip(&cells).zip(&arms) {
                let inner = c.instantiate(init)?;
                let arm = Box::new(Tracked { node, inner }) as Box<dyn Processor<K, V>>;
                branches.push((Arc::clone(p), arm));
            }
            let inner = Box::new(Branch { branches }) as Box<dyn Processor<K, V>>;
            Ok(Box::new(Tracked {
                node: branch_node,
                inner,
            }) as Box<dyn Processor<K, V>>)
        }));
        match streams.try_into() {
            Ok(a) => a,
            Err(_) => unreachable!("length checked above"),
        }
    }
}
