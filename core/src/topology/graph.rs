//! The untyped graph behind a topology: node names, edges, sources, sinks.

use crate::operators::sink::{KeyEncoder, PartitionSlot};
use crate::operators::source::SourceFactory;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// One node of the dataflow, as described to people.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    /// Unique name (given by the user or generated from the kind and a counter).
    pub(crate) name: String,
    /// What the node does: `source`, `map`, `filter`, `sink`, ...
    pub(crate) kind: &'static str,
    /// Upstream nodes (several for `merge`).
    pub(crate) parents: Vec<usize>,
    /// Topic read or written, for sources and sinks.
    pub(crate) topic: Option<String>,
}

/// A topic read by the topology.
pub(crate) struct SourceDef {
    pub(crate) topic: String,
    pub(crate) node: usize,
    pub(crate) internal: bool,
    pub(crate) factory: SourceFactory,
    /// The source's [`ExtractorSlot`](crate::operators::source::ExtractorSlot), typed.
    pub(crate) event_time: Arc<dyn Any + Send + Sync>,
    /// For input topics, their key codec as a [`KeyEncoder`].
    pub(crate) key_encoder: Option<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for SourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceDef")
            .field("topic", &self.topic)
            .field("node", &self.node)
            .field("internal", &self.internal)
            .finish_non_exhaustive()
    }
}

/// A topic written by the topology.
#[derive(Clone)]
pub(crate) struct SinkDef {
    pub(crate) topic: String,
    pub(crate) node: usize,
    pub(crate) internal: bool,
    /// For repartition topics, their [`PartitionSlot`], typed.
    pub(crate) partition_by: Option<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for SinkDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkDef")
            .field("topic", &self.topic)
            .field("node", &self.node)
            .field("internal", &self.internal)
            .finish_non_exhaustive()
    }
}

/// Where the records reaching a node were partitioned by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partitioning {
    /// By the topic of this source (an index into `Graph::sources`).
    Topic(usize),
    /// By this repartition topic's sink (an index into `Graph::sinks`).
    Repartition(usize),
    /// Keys may have changed since (or inputs were merged).
    Unknown,
}

/// A state store, owned by the node that updates it.
#[derive(Debug, Clone)]
pub(crate) struct StoreDef {
    pub(crate) name: String,
    pub(crate) node: usize,
    pub(crate) layout: StoreLayout,
}

/// How a store's entries are laid out, for reading them from outside the
/// operator that owns it (the HTTP state API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreLayout {
    /// One value per key.
    KeyValue,
    /// Time windows of size `size` ms: `(key, bucket)` to the open
    /// windows of the key whose start falls in the bucket.
    TimeWindows { size: i64 },
    /// A key to its sessions.
    Sessions,
    /// An operator's own bookkeeping (sliding windows, join buffers,
    /// suppression), not meant to be read from outside.
    Internal,
}

/// A join, whose inputs must be co-partitioned.
#[derive(Debug, Clone)]
pub(crate) struct JoinDef {
    pub(crate) name: String,
    pub(crate) node: usize,
}

/// Keeps a global table up to date from its topic (the typed loaders are
/// in `global.rs`; the graph keeps them behind this trait).
pub(crate) trait GlobalLoader: Send + Sync {
    /// The topic read.
    fn topic(&self) -> &str;
    /// Applies what was appended since the last call; returns the number
    /// of records applied.
    fn poll(&self, log: &dyn crate::log::Log) -> crate::error::Result<usize>;
}

/// A global table and what keeps it current.
pub(crate) struct GlobalDef {
    pub(crate) topic: String,
    pub(crate) loader: Arc<dyn GlobalLoader>,
}

impl std::fmt::Debug for GlobalDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalDef")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// The graph under construction.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub(crate) name: String,
    pub(crate) nodes: Vec<NodeInfo>,
    pub(crate) sources: Vec<SourceDef>,
    pub(crate) sinks: Vec<SinkDef>,
    pub(crate) stores: Vec<StoreDef>,
    pub(crate) joins: Vec<JoinDef>,
    pub(crate) globals: Vec<GlobalDef>,
    /// Problems found while building, reported together by `build()`.
    pub(crate) errors: Vec<String>,
    pub(crate) sealed: bool,
    counters: HashMap<&'static str, usize>,
    /// Repartition topics partitioned like an input topic they are joined
    /// with: repartition topic -> input topic.
    aligned: HashMap<String, String>,
    /// Windowed aggregation nodes, with how long after a window's end it
    /// closes (its grace, plus the gap for sessions).
    pub(crate) window_closes: HashMap<usize, i64>,
}

impl Graph {
    pub(crate) fn new(name: &str) -> Self {
        Graph {
            name: name.to_owned(),
            ..Graph::default()
        }
    }

    /// Adds a node named `name`, or `<kind>-<n>` when no name is given.
    pub(crate) fn add_node(
        &mut self,
        kind: &'static str,
        name: Option<&str>,
        parents: Vec<usize>,
        topic: Option<String>,
    ) -> usize {
        assert!(
            !self.sealed,
            "a stream of topology '{}' was used after build()",
            self.name
        );
        let name = match name {
            Some(n) => n.to_owned(),
            None => {
                let c = self.counters.entry(kind).or_insert(0);
                *c += 1;
                format!("{kind}-{c}")
            }
        };
        self.nodes.push(NodeInfo {
            name,
            kind,
            parents,
            topic,
        });
        self.nodes.len() - 1
    }

    /// How long after a window's end the windows upstream of `node` close:
    /// the largest such delay over the windowed aggregations it descends
    /// from (through repartition topics too), `None` if there are none.
    pub(crate) fn window_close_delay(&self, node: usize) -> Option<i64> {
        let mut seen = vec![false; self.nodes.len()];
        let mut todo = vec![node];
        let mut delay = None;
        while let Some(n) = todo.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            if let Some(&d) = self.window_closes.get(&n) {
                delay = delay.max(Some(d));
            }
            let info = &self.nodes[n];
            todo.extend(&info.parents);
            if info.kind == "repartition-source" {
                let writers = self
                    .sinks
                    .iter()
                    .filter(|s| Some(&s.topic) == info.topic.as_ref());
                todo.extend(writers.map(|s| s.node));
            }
        }
        delay
    }

    /// Where the records reaching `node` were last partitioned by key.
    fn partitioning(&self, node: usize) -> Partitioning {
        let info = &self.nodes[node];
        match info.kind {
            "source" => self
                .sources
                .iter()
                .position(|s| s.node == node)
                .map_or(Partitioning::Unknown, Partitioning::Topic),
            "repartition-source" => self
                .sinks
                .iter()
                .position(|s| s.internal && Some(&s.topic) == info.topic.as_ref())
                .map_or(Partitioning::Unknown, Partitioning::Repartition),
            "merge" => {
                let mut parts = info.parents.iter().map(|&p| self.partitioning(p));
                let first = parts.next().unwrap_or(Partitioning::Unknown);
                if parts.all(|p| p == first) {
                    first
                } else {
                    Partitioning::Unknown
                }
            }
            // Which kinds keep keys: the operator table.
            kind if tributary_ops::keeps_keys(kind) => info
                .parents
                .first()
                .map_or(Partitioning::Unknown, |&p| self.partitioning(p)),
            _ => Partitioning::Unknown,
        }
    }

    /// Makes the inputs `a` and `b` of a join agree on partitions. When one
    /// side comes from a repartition topic (whose keys are encoded with
    /// rkyv) and the other from an input topic (whose keys are encoded by
    /// its codec), the repartition topic chooses partitions by the key as
    /// the input topic's codec encodes it, so that equal keys meet in the
    /// same task. A repartition topic joined with two different input
    /// topics is an error.
    pub(crate) fn align_partitions<K: 'static>(&mut self, a: usize, b: usize, join: &str) {
        let (source, sink) = match (self.partitioning(a), self.partitioning(b)) {
            (Partitioning::Topic(s), Partitioning::Repartition(r))
            | (Partitioning::Repartition(r), Partitioning::Topic(s)) => (s, r),
            _ => return,
        };
        let topic = self.sources[source].topic.clone();
        let repartition = self.sinks[sink].topic.clone();
        match self.aligned.get(&repartition) {
            Some(t) if *t == topic => return,
            Some(t) => {
                let problem = format!(
                    "join '{join}': repartition topic '{repartition}' is joined with both \
                     '{t}' and '{topic}', which may partition keys differently; re-key one \
                     of them with a key_by() of its own"
                );
                self.errors.push(problem);
                return;
            }
            None => {}
        }
        let encoder = self.sources[source]
            .key_encoder
            .clone()
            .and_then(|e| e.downcast::<KeyEncoder<K>>().ok());
        let slot: Option<PartitionSlot<K>> = self.sinks[sink]
            .partition_by
            .clone()
            .and_then(|s| s.downcast().ok());
        if let (Some(encoder), Some(slot)) = (encoder, slot) {
            let _ = slot.set((*encoder).clone());
            self.aligned.insert(repartition, topic);
        }
    }

    /// The topics read upstream of `node` (sources reached through parents).
    pub(crate) fn upstream_topics(&self, node: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![node];
        let mut seen = vec![false; self.nodes.len()];
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            let info = &self.nodes[n];
            if info.parents.is_empty() {
                out.extend(info.topic.clone());
            }
            stack.extend(&info.parents);
        }
        out.sort();
        out.dedup();
        out
    }

    /// Groups nodes into sub-topologies (connected parts of the graph; a
    /// repartition topic separates its sink from its source). Returns, per
    /// node, its sub-topology number, numbered in order of first source.
    pub(crate) fn sub_topologies(&self) -> Vec<usize> {
        let mut parent: Vec<usize> = (0..self.nodes.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for &q in &n.parents {
                let (a, b) = (find(&mut parent, i), find(&mut parent, q));
                parent[a] = b;
            }
        }
        let mut numbers: HashMap<usize, usize> = HashMap::new();
        for s in &self.sources {
            let root = find(&mut parent, s.node);
            let next = numbers.len();
            numbers.entry(root).or_insert(next);
        }
        (0..self.nodes.len())
            .map(|i| {
                let root = find(&mut parent, i);
                let next = numbers.len();
                *numbers.entry(root).or_insert(next)
            })
            .collect()
    }
}
