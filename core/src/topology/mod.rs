//! Topologies: typed dataflows from topics to topics.
//!
//! Build one with [`Topology::builder`]: declare input topics with
//! [`TopologyBuilder::stream`], chain operators on the returned
//! [`Stream`]s, write results with [`Stream::to`], then call
//! [`TopologyBuilder::build`], which checks the whole graph and reports every
//! problem at once.
//!
//! A topology splits into *sub-topologies* at repartition topics (made by
//! [`Stream::key_by`]): each is run as one task per partition number.
//! [`Topology::describe`] shows them.

mod describe;
pub(crate) mod global;
pub(crate) mod graph;
mod join;
mod process;
mod stream;
mod suppress;
mod table;
mod window;

pub use describe::{NodeDescription, TopologyDescription};
pub use global::GlobalTable;
pub(crate) use graph::GlobalLoader;
pub use join::JoinWindows;
pub use process::{KeyValueStore, Process, ProcessContext, ProcessInit, TimeKind, Timer};
pub use stream::{BranchBuilder, Stream};
pub use table::{GroupedStream, StoreKey, Table};
pub use window::{
    Emit, SessionWindowedStream, SessionWindows, SlidingWindows, TimeWindows, WindowKind, Windowed,
    WindowedStream,
};

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::log::name_problem;
use crate::operators::{Data, NodeCell, source};
use graph::{Graph, SourceDef};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

/// Builds a [`Topology`].
///
/// # Examples
///
/// ```
/// use tributary::{Topology, codec::{Json, Utf8}};
/// let mut b = Topology::builder("shouty");
/// b.stream::<String, String>("words", Utf8, Utf8)
///     .filter(|_k, w| !w.is_empty())
///     .map_values(|w| w.to_uppercase())
///     .to("loud-words", Utf8, Json);
/// let topology = b.build()?;
/// assert_eq!(topology.source_topics(), vec!["words".to_string()]);
/// # Ok::<(), tributary::Error>(())
/// ```
#[derive(Debug)]
pub struct TopologyBuilder {
    pub(crate) graph: Arc<Mutex<Graph>>,
}

pub(crate) fn lock(g: &Mutex<Graph>) -> MutexGuard<'_, Graph> {
    g.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TopologyBuilder {
    /// Declares an input stream read from `topic`, decoded with the codecs.
    pub fn stream<K, V>(
        &mut self,
        topic: &str,
        key_codec: impl Codec<K>,
        value_codec: impl Codec<V>,
    ) -> Stream<K, V>
    where
        K: Data,
        V: Data,
    {
        let cell = NodeCell::new();
        let mut g = lock(&self.graph);
        g.errors.extend(name_problem("topic", topic));
        let duplicate = g.sources.iter().any(|s| s.topic == topic);
        if duplicate {
            g.errors.push(format!(
                "topic '{topic}' is read by two streams; read it once and reuse the stream"
            ));
        }
        let name = format!("source-{topic}");
        let name = (!duplicate).then_some(name.as_str());
        let node = g.add_node("source", name, Vec::new(), Some(topic.to_owned()));
        let slot: source::ExtractorSlot<K, V> = Arc::default();
        let key_encoder = crate::operators::sink::key_encoder::<K, _>(key_codec.clone());
        let factory = source::factory(Arc::clone(&cell), key_codec, value_codec, Arc::clone(&slot));
        g.sources.push(SourceDef {
            topic: topic.to_owned(),
            node,
            internal: false,
            factory,
            event_time: slot,
            key_encoder: Some(key_encoder),
        });
        drop(g);
        Stream::new(Arc::clone(&self.graph), node, cell)
    }

    /// Checks the topology and returns it, or every problem found.
    pub fn build(self) -> Result<Topology> {
        let mut g = lock(&self.graph);
        g.sealed = true;
        let mut errors = std::mem::take(&mut g.errors);
        if g.sources.is_empty() {
            errors.push("the topology reads no topic: declare a stream first".into());
        }
        let mut seen = HashSet::new();
        for n in &g.nodes {
            if !seen.insert(n.name.as_str()) {
                errors.push(format!(
                    "two operators are named '{}'; names must be unique",
                    n.name
                ));
            }
        }
        let mut store_names = HashSet::new();
        for s in &g.stores {
            errors.extend(name_problem("store", &s.name));
            if !store_names.insert(s.name.as_str()) {
                errors.push(format!(
                    "two stores are named '{}'; store names must be unique",
                    s.name
                ));
            }
        }
        for s in &g.sinks {
            if g.sources
                .iter()
                .any(|src| src.topic == s.topic && !src.internal)
            {
                errors.push(format!(
                    "topic '{}' is both read and written by the topology (a loop)",
                    s.topic
                ));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Topology(errors));
        }
        let sub = g.sub_topologies();
        drop(g);
        Ok(Topology {
            graph: self.graph,
            sub_of_node: sub,
        })
    }
}

/// A validated dataflow, ready to run.
#[derive(Debug)]
pub struct Topology {
    graph: Arc<Mutex<Graph>>,
    sub_of_node: Vec<usize>,
}

/// What the runtime needs to know about one source.
#[derive(Clone)]
pub(crate) struct SourceSpec {
    pub(crate) topic: String,
    /// The source's node.
    pub(crate) node: usize,
    pub(crate) factory: source::SourceFactory,
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSpec")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Topology {
    /// Starts building a topology for the application `name`. The name
    /// prefixes internal topics and is the default consumer group.
    pub fn builder(name: &str) -> TopologyBuilder {
        let graph = Arc::new(Mutex::new(Graph::new(name)));
        lock(&graph)
            .errors
            .extend(name_problem("application", name));
        TopologyBuilder { graph }
    }

    /// The application name.
    pub fn name(&self) -> String {
        lock(&self.graph).name.clone()
    }

    /// Input topics that are not internal, in declaration order.
    pub fn source_topics(&self) -> Vec<String> {
        lock(&self.graph)
            .sources
            .iter()
            .filter(|s| !s.internal)
            .map(|s| s.topic.clone())
            .collect()
    }

    /// Output topics that are not internal, in declaration order, without repeats.
    pub fn sink_topics(&self) -> Vec<String> {
        let g = lock(&self.graph);
        let mut out: Vec<String> = Vec::new();
        for s in g.sinks.iter().filter(|s| !s.internal) {
            if !out.contains(&s.topic) {
                out.push(s.topic.clone());
            }
        }
        out
    }

    /// Internal (repartition) topics, in declaration order.
    pub fn internal_topics(&self) -> Vec<String> {
        lock(&self.graph)
            .sources
            .iter()
            .filter(|s| s.internal)
            .map(|s| s.topic.clone())
            .collect()
    }

    /// Number of sub-topologies.
    pub fn sub_topology_count(&self) -> usize {
        let g = lock(&self.graph);
        g.sources
            .iter()
            .map(|s| self.sub_of_node[s.node])
            .max()
            .map_or(0, |m| m + 1)
    }

    /// How the store `name` lays its entries out, if the topology has it.
    pub(crate) fn store_layout(&self, name: &str) -> Option<graph::StoreLayout> {
        lock(&self.graph)
            .stores
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.layout)
    }

    /// Every node's name (as `describe()` shows it), by node index.
    pub(crate) fn node_names(&self) -> Vec<String> {
        lock(&self.graph)
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// The sources of sub-topology `i`.
    pub(crate) fn sources_of(&self, i: usize) -> Vec<SourceSpec> {
        lock(&self.graph)
            .sources
            .iter()
            .filter(|s| self.sub_of_node[s.node] == i)
            .map(|s| SourceSpec {
                topic: s.topic.clone(),
                node: s.node,
                factory: Arc::clone(&s.factory),
            })
            .collect()
    }

    /// For each internal topic, the sub-topology that writes it.
    pub(crate) fn internal_writers(&self) -> Vec<(String, usize)> {
        lock(&self.graph)
            .sinks
            .iter()
            .filter(|s| s.internal)
            .map(|s| (s.topic.clone(), self.sub_of_node[s.node]))
            .collect()
    }

    /// Topics read as global tables, in declaration order.
    pub fn global_topics(&self) -> Vec<String> {
        lock(&self.graph)
            .globals
            .iter()
            .map(|g| g.topic.clone())
            .collect()
    }

    /// What keeps each global table current.
    pub(crate) fn global_loaders(&self) -> Vec<Arc<dyn graph::GlobalLoader>> {
        lock(&self.graph)
            .globals
            .iter()
            .map(|g| Arc::clone(&g.loader))
            .collect()
    }

    /// Each join's name and the topics read upstream of each of its inputs.
    pub(crate) fn join_inputs(&self) -> Vec<(String, Vec<Vec<String>>)> {
        let g = lock(&self.graph);
        g.joins
            .iter()
            .map(|j| {
                let sides = g.nodes[j.node]
                    .parents
                    .iter()
                    .map(|&p| g.upstream_topics(p))
                    .collect();
                (j.name.clone(), sides)
            })
            .collect()
    }

    /// Names of every state store, in declaration order.
    pub fn store_names(&self) -> Vec<String> {
        lock(&self.graph)
            .stores
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// For each store, the sub-topology that owns it.
    pub(crate) fn store_owners(&self) -> Vec<(String, usize)> {
        lock(&self.graph)
            .stores
            .iter()
            .map(|s| (s.name.clone(), self.sub_of_node[s.node]))
            .collect()
    }

    /// A readable description: sub-topologies, their nodes and topics.
    pub fn describe(&self) -> TopologyDescription {
        TopologyDescription::new(&lock(&self.graph), &self.sub_of_node)
    }
}

/// What `pipeline!` (crate `tributary-macros`) evaluates to when it has
/// reported compile errors: gives the expansion its type, so that rustc
/// adds no errors of its own to the macro's.
#[doc(hidden)]
pub fn invalid_pipeline() -> Result<Topology> {
    Err(Error::Topology(vec![
        "the pipeline has compile errors".to_string(),
    ]))
}
