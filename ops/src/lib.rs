//! Every dataflow operator's metadata, once: what it applies to, what it
//! gives, what it does to keys, and what its arguments name.
//!
//! Two crates read this table: `tributary`'s graph (which node kinds keep
//! their input's keys, for partition alignment of joins) and
//! `tributary-macros` (the structural checks of `pipeline!`). It is a crate
//! of its own because the macros crate cannot depend on `tributary`, which
//! re-exports it. Adding an operator means adding its row here and writing
//! the operator; nothing else lists operators.
//!
//! ```
//! use tributary_ops::{Keys, Shape, find, keeps_keys};
//! let filter = find("filter", Shape::Table).unwrap();
//! assert_eq!((filter.gives, filter.keys), (Shape::Table, Keys::Keep));
//! assert!(keeps_keys("table-filter"));
//! assert!(!keeps_keys("map"));
//! ```

/// What a value of a dataflow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A record stream.
    Stream,
    /// A stream grouped by key, waiting for an aggregation or windows.
    Grouped,
    /// A grouped stream in windows, waiting for an aggregation.
    Windowed,
    /// A table.
    Table,
    /// A global table.
    Global,
    /// Written to a topic: nothing follows.
    Written,
}

/// What an operator does to the keys of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Records keep their input's keys (and its partitioning).
    Keep,
    /// Keys may change, without repartitioning.
    Change,
    /// Records are repartitioned by new keys.
    Repartition,
}

/// What an operator's arguments name, besides closures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Nothing.
    Nothing,
    /// The first argument is a store name.
    Store,
    /// The first argument names an internal (repartition) topic.
    Topic,
    /// The first argument names another input of this shape.
    Input(Shape),
    /// The first argument names another input of this shape, the second a
    /// join (and its stores).
    JoinWith(Shape),
}

/// One operator applied to one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// The builder method (and `pipeline!` step); empty for nodes that the
    /// builder adds by itself.
    pub method: &'static str,
    /// The node kinds it records in the graph.
    pub nodes: &'static [&'static str],
    /// What it applies to.
    pub on: Shape,
    /// What it gives.
    pub gives: Shape,
    /// What it does to keys.
    pub keys: Keys,
    /// True when its input must be partitioned by key (joins, grouping by key).
    pub keyed: bool,
    /// What its arguments name.
    pub names: Names,
    /// False for steps not listed in error messages.
    pub listed: bool,
}

const fn op(method: &'static str, on: Shape, gives: Shape, keys: Keys) -> Operator {
    Operator {
        method,
        nodes: &[],
        on,
        gives,
        keys,
        keyed: false,
        names: Names::Nothing,
        listed: true,
    }
}

impl Operator {
    const fn nodes(mut self, nodes: &'static [&'static str]) -> Self {
        self.nodes = nodes;
        self
    }
    const fn keyed(mut self) -> Self {
        self.keyed = true;
        self
    }
    const fn names(mut self, names: Names) -> Self {
        self.names = names;
        self
    }
    const fn unlisted(mut self) -> Self {
        self.listed = false;
        self
    }
}

use Keys::{Change, Keep, Repartition};
use Shape::{Global, Grouped, Stream, Table, Windowed, Written};

/// Every operator, in the order error messages list them per shape.
pub const OPERATORS: &[Operator] = &[
    // Streams.
    op("filter", Stream, Stream, Keep).nodes(&["filter"]),
    op("map", Stream, Stream, Change).nodes(&["map"]),
    op("map_values", Stream, Stream, Keep).nodes(&["map-values"]),
    op("flat_map", Stream, Stream, Change).nodes(&["flat-map"]),
    op("inspect", Stream, Stream, Keep).nodes(&["inspect"]),
    op("process", Stream, Stream, Keep).nodes(&["process"]),
    op("key_by", Stream, Stream, Repartition)
        .nodes(&["key-by", "repartition-sink", "repartition-source"])
        .names(Names::Topic),
    op("merge", Stream, Stream, Keep)
        .nodes(&["merge"])
        .names(Names::Input(Stream)),
    op("join", Stream, Stream, Keep)
        .nodes(&["join"])
        .keyed()
        .names(Names::JoinWith(Stream)),
    op("left_join", Stream, Stream, Keep)
        .nodes(&["left-join"])
        .keyed()
        .names(Names::JoinWith(Stream)),
    op("outer_join", Stream, Stream, Keep)
        .nodes(&["outer-join"])
        .keyed()
        .names(Names::JoinWith(Stream)),
    op("join_table", Stream, Stream, Keep)
        .nodes(&["join-table"])
        .keyed()
        .names(Names::Input(Table)),
    op("left_join_table", Stream, Stream, Keep)
        .nodes(&["left-join-table"])
        .keyed()
        .names(Names::Input(Table)),
    op("join_global", Stream, Stream, Keep)
        .nodes(&["join-global"])
        .names(Names::Input(Global)),
    op("left_join_global", Stream, Stream, Keep)
        .nodes(&["left-join-global"])
        .names(Names::Input(Global)),
    op("group_by_key", Stream, Grouped, Keep).keyed(),
    op("group_by", Stream, Grouped, Repartition)
        .nodes(&["key-by", "repartition-sink", "repartition-source"])
        .names(Names::Topic),
    // Its arms are streams; in `pipeline!` it ends the flow (arms name flows).
    op("branch", Stream, Stream, Keep).nodes(&["branch", "branch-arm"]),
    op("to", Stream, Written, Keep).nodes(&["sink"]),
    op("named", Stream, Stream, Keep).unlisted(),
    // Grouped streams.
    op("count", Grouped, Table, Keep)
        .nodes(&["count"])
        .names(Names::Store),
    op("aggregate", Grouped, Table, Keep)
        .nodes(&["aggregate"])
        .names(Names::Store),
    op("reduce", Grouped, Table, Keep)
        .nodes(&["reduce"])
        .names(Names::Store),
    op("top_k", Grouped, Table, Keep)
        .nodes(&["top-k"])
        .names(Names::Store),
    op("windowed_by", Grouped, Windowed, Keep),
    op("session_windowed_by", Grouped, Windowed, Keep),
    // Windowed streams (their results are keyed by window: new keys).
    op("emit", Windowed, Windowed, Keep),
    op("late_records", Windowed, Stream, Keep).nodes(&["late-records"]),
    op("count", Windowed, Table, Change)
        .nodes(&["window-count", "session-count"])
        .names(Names::Store),
    op("aggregate", Windowed, Table, Change)
        .nodes(&["window-aggregate", "session-aggregate"])
        .names(Names::Store),
    op("reduce", Windowed, Table, Change)
        .nodes(&["window-reduce", "session-reduce"])
        .names(Names::Store),
    // Tables.
    op("filter", Table, Table, Keep).nodes(&["table-filter"]),
    op("map_values", Table, Table, Keep).nodes(&["table-map-values"]),
    op("materialize", Table, Table, Keep)
        .nodes(&["materialize"])
        .names(Names::Store),
    op("suppress_until_window_closes", Table, Table, Keep)
        .nodes(&["suppress"])
        .names(Names::Store),
    op("suppress_until_time_limit", Table, Table, Keep)
        .nodes(&["suppress"])
        .names(Names::Store),
    op("join", Table, Table, Keep)
        .nodes(&["table-join"])
        .names(Names::Input(Table)),
    op("left_join", Table, Table, Keep)
        .nodes(&["table-left-join"])
        .names(Names::Input(Table)),
    op("outer_join", Table, Table, Keep)
        .nodes(&["table-outer-join"])
        .names(Names::Input(Table)),
    op("to_stream", Table, Stream, Keep).nodes(&["to-stream"]),
    op("changes", Table, Stream, Keep).nodes(&["to-stream"]),
    op("to", Table, Written, Keep).nodes(&["sink"]),
    // Nodes the builder adds by itself.
    op("", Table, Table, Keep)
        .nodes(&["table-source"])
        .unlisted(),
];

/// The row of `method` applied to `on`, if it applies.
pub fn find(method: &str, on: Shape) -> Option<&'static Operator> {
    OPERATORS
        .iter()
        .find(|o| !o.method.is_empty() && o.method == method && o.on == on)
}

/// True when the records leaving a node of kind `node` keep the keys of
/// its (first) input, so that it is partitioned as that input.
pub fn keeps_keys(node: &str) -> bool {
    OPERATORS
        .iter()
        .any(|o| o.keys == Keep && o.gives != Shape::Written && o.nodes.contains(&node))
}

/// The operators that apply to `on`, as error messages list them.
pub fn methods_on(on: Shape) -> Vec<&'static str> {
    OPERATORS
        .iter()
        .filter(|o| o.on == on && o.listed && !o.method.is_empty())
        .map(|o| o.method)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_applies_to_a_shape_once() {
        for (i, a) in OPERATORS.iter().enumerate() {
            for b in &OPERATORS[i + 1..] {
                assert!(
                    a.method.is_empty() || a.method != b.method || a.on != b.on,
                    "{} on {:?} twice",
                    a.method,
                    a.on
                );
            }
        }
    }

    #[test]
    fn the_key_keeping_nodes_are_those_the_graph_aligns_through() {
        // The list the graph held before this table (its partition
        // alignment follows these nodes to the topic that partitioned them).
        let expected = [
            "filter",
            "map-values",
            "inspect",
            "process",
            "join-global",
            "left-join-global",
            "join-table",
            "left-join-table",
            "join",
            "left-join",
            "outer-join",
            "branch",
            "branch-arm",
            "late-records",
            "table-source",
            "table-filter",
            "table-map-values",
            "table-join",
            "table-left-join",
            "table-outer-join",
            "materialize",
            "to-stream",
            "count",
            "aggregate",
            "reduce",
            "top-k",
            "suppress",
        ];
        for node in expected {
            assert!(keeps_keys(node), "{node}");
        }
        for node in [
            "map",
            "flat-map",
            "key-by",
            "window-count",
            "session-reduce",
            "sink",
        ] {
            assert!(!keeps_keys(node), "{node}");
        }
    }
}
