//! Human-readable topology descriptions, in the style of Kafka Streams.

use super::graph::Graph;
use std::fmt;

/// The shape of a topology: sub-topologies, nodes, their edges and topics.
///
/// Its `Display` lists, per sub-topology, every node with its kind, its
/// topic (for sources and sinks) and its children. Two topologies with the
/// same description have the same nodes, names and edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription {
    /// The application name.
    pub name: String,
    /// Sub-topologies in order; each is a list of node lines.
    pub sub_topologies: Vec<Vec<String>>,
}

impl TopologyDescription {
    pub(crate) fn new(g: &Graph, sub_of_node: &[usize]) -> Self {
        let count = sub_of_node.iter().copied().max().map_or(0, |m| m + 1);
        let mut subs = vec![Vec::new(); count];
        for (i, n) in g.nodes.iter().enumerate() {
            let children: Vec<&str> = g
                .nodes
                .iter()
                .filter(|c| c.parents.contains(&i))
                .map(|c| c.name.as_str())
                .collect();
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
        }
    }
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
