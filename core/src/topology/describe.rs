//! Human-readable topology descriptions, in the style of Kafka Streams.

use super::graph::Graph;
use std::fmt;

/// The shape of a topology: sub-topologies, nodes, their edges and topics.
///
/// Its `Display` lists, per sub-topology, every node with its kind, its
/// topic (for sources and sinks) and its children. Two topologies with the
/// same description have the same nodes, names and edges.
/// [`to_mermaid`](Self::to_mermaid) and [`to_dot`](Self::to_dot) draw it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopologyDescription {
    /// The application name.
    pub name: String,
    /// Sub-topologies in order; each is a list of node lines.
    pub sub_topologies: Vec<Vec<String>>,
    /// Every node, in the order they were added.
    pub nodes: Vec<NodeDescription>,
}

/// One node of a [`TopologyDescription`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeDescription {
    /// The node's unique name.
    pub name: String,
    /// What it does: `source`, `map`, `filter`, `window-count`, `sink`...
    pub kind: String,
    /// The sub-topology it runs in.
    pub sub_topology: usize,
    /// The topic it reads or writes (sources and sinks).
    pub topic: Option<String>,
    /// The names of the nodes it feeds.
    pub children: Vec<String>,
    /// The state stores it updates.
    pub stores: Vec<String>,
}

impl TopologyDescription {
    pub(crate) fn new(g: &Graph, sub_of_node: &[usize]) -> Self {
        let count = sub_of_node.iter().copied().max().map_or(0, |m| m + 1);
        let mut subs = vec![Vec::new(); count];
        let mut nodes = Vec::with_capacity(g.nodes.len());
        for (i, n) in g.nodes.iter().enumerate() {
            let children: Vec<&str> = g
                .nodes
                .iter()
                .filter(|c| c.parents.contains(&i))
                .map(|c| c.name.as_str())
                .collect();
            nodes.push(NodeDescription {
                name: n.name.clone(),
                kind: n.kind.to_owned(),
                sub_topology: sub_of_node[i],
                topic: n.topic.clone(),
                children: children.iter().map(|c| (*c).to_owned()).collect(),
                stores: g
                    .stores
                    .iter()
                    .filter(|s| s.node == i)
                    .map(|s| s.name.clone())
                    .collect(),
            });
            let topic = n
                .topic
                .as_ref()
                .map(|t| format!(" (topic: {t})"))
                .unwrap_or_default();
            let arrows = if children.is_empty() {
                String::new()
            } else {
                format!(" --> {}", children.join(", "))
            };
            subs[sub_of_node[i]].push(format!("{}: {}{topic}{arrows}", n.kind, n.name));
        }
        TopologyDescription {
            name: g.name.clone(),
            sub_topologies: subs,
            nodes,
        }
    }

    /// The topology as a Mermaid flowchart: a box per sub-topology, topics
    /// as stadiums, stores as cylinders.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        let id = |name: &str| format!("n_{}", sanitize(name));
        for (i, _) in self.sub_topologies.iter().enumerate() {
            out.push_str(&format!("  subgraph sub{i}[\"Sub-topology {i}\"]\n"));
            for n in self.nodes.iter().filter(|n| n.sub_topology == i) {
                out.push_str(&format!(
                    "    {}[\"{}<br/>{}\"]\n",
                    id(&n.name),
                    n.name,
                    n.kind
                ));
            }
            out.push_str("  end\n");
        }
        for n in &self.nodes {
            for c in &n.children {
                out.push_str(&format!("  {} --> {}\n", id(&n.name), id(c)));
            }
            if let Some(t) = &n.topic {
                let topic = format!("t_{}", sanitize(t));
                out.push_str(&format!("  {topic}([\"{t}\"])\n"));
                if n.kind == "source" {
                    out.push_str(&format!("  {topic} -.-> {}\n", id(&n.name)));
                } else {
                    out.push_str(&format!("  {} -.-> {topic}\n", id(&n.name)));
                }
            }
            for s in &n.stores {
                let store = format!("s_{}", sanitize(s));
                out.push_str(&format!("  {store}[(\"{s}\")]\n"));
                out.push_str(&format!("  {} --- {store}\n", id(&n.name)));
            }
        }
        out
    }

    /// The topology as a Graphviz digraph: a cluster per sub-topology,
    /// topics as ellipses, stores as cylinders.
    pub fn to_dot(&self) -> String {
        let mut out = format!(
            "digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box];\n",
            self.name
        );
        for (i, _) in self.sub_topologies.iter().enumerate() {
            out.push_str(&format!(
                "  subgraph cluster_{i} {{\n    label=\"Sub-topology {i}\";\n"
            ));
            for n in self.nodes.iter().filter(|n| n.sub_topology == i) {
                out.push_str(&format!(
                    "    \"{}\" [label=\"{}\\n{}\"];\n",
                    n.name, n.name, n.kind
                ));
            }
            out.push_str("  }\n");
        }
        for n in &self.nodes {
            for c in &n.children {
                out.push_str(&format!("  \"{}\" -> \"{c}\";\n", n.name));
            }
            if let Some(t) = &n.topic {
                out.push_str(&format!(
                    "  \"topic:{t}\" [label=\"{t}\", shape=ellipse];\n"
                ));
                if n.kind == "source" {
                    out.push_str(&format!(
                        "  \"topic:{t}\" -> \"{}\" [style=dashed];\n",
                        n.name
                    ));
                } else {
                    out.push_str(&format!(
                        "  \"{}\" -> \"topic:{t}\" [style=dashed];\n",
                        n.name
                    ));
                }
            }
            for s in &n.stores {
                out.push_str(&format!(
                    "  \"store:{s}\" [label=\"{s}\", shape=cylinder];\n"
                ));
                out.push_str(&format!("  \"{}\" -> \"store:{s}\" [dir=none];\n", n.name));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// A name as a Mermaid node id: letters and digits kept, anything else
/// as `_` and its code point in hex (so that distinct names stay distinct).
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push_str(&format!("_{:x}_", c as u32));
        }
    }
    out
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Topology: {}", self.name)?;
        for (i, nodes) in self.sub_topologies.iter().enumerate() {
            writeln!(f, "  Sub-topology {i}")?;
            for n in nodes {
                writeln!(f, "    {n}")?;
            }
        }
        Ok(())
    }
}
