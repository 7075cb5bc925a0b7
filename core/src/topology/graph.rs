//! The untyped graph behind a topology: node names, edges, sources, sinks.

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
#[derive(Debug, Clone)]
pub(crate) struct SinkDef {
    pub(crate) topic: String,
    pub(crate) node: usize,
    pub(crate) internal: bool,
}

/// A state store, owned by the node that updates it.
#[derive(Debug, Clone)]
pub(crate) struct StoreDef {
    pub(crate) name: String,
    pub(crate) node: usize,
}

/// A join, whose inputs must be co-partitioned.
#[derive(Debug, Clone)]
pub(crate) struct JoinDef {
    pub(crate) name: String,
    pub(crate) node: usize,
}

/// A global table and what keeps it current.
pub(crate) struct GlobalDef {
    pub(crate) topic: String,
    pub(crate) loader: Arc<dyn crate::topology::global::GlobalLoader>,
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
