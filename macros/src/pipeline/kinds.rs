//! What each operator applies to and gives: the structural type system of
//! `pipeline!`. Rust's types are checked by rustc on the generated code;
//! these are the checks rustc could not phrase in the pipeline's terms.

use proc_macro2::Ident;

/// The kind of value a name or a step denotes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A record stream. `rekeyed` is the operator that changed its keys
    /// without repartitioning (so it is no longer partitioned by key).
    Stream { rekeyed: Option<Ident> },
    /// A stream grouped by key, waiting for an aggregation or windows.
    Grouped,
    /// A grouped stream in windows, waiting for an aggregation.
    Windowed,
    /// A table.
    Table,
    /// A global table (only joined, never transformed).
    Global,
    /// Written to a topic: nothing follows.
    Written,
}

impl Kind {
    /// A stream partitioned by its key.
    pub(crate) const KEYED: Kind = Kind::Stream { rekeyed: None };

    /// How errors name the kind.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Kind::Stream { .. } => "a stream",
            Kind::Grouped => "a grouped stream",
            Kind::Windowed => "a windowed stream",
            Kind::Table => "a table",
            Kind::Global => "a global table",
            Kind::Written => "a stream written to a topic",
        }
    }

    /// The operators that apply to this kind, for error messages.
    fn operators(&self) -> &'static str {
        match self {
            Kind::Stream { .. } => {
                "filter, map, map_values, flat_map, inspect, process, key_by, merge, \
                 join, left_join, outer_join, join_table, left_join_table, join_global, \
                 left_join_global, group_by_key, group_by, branch, to"
            }
            Kind::Grouped => "count, aggregate, reduce, top_k, windowed_by, session_windowed_by",
            Kind::Windowed => "emit, late_records, count, aggregate, reduce",
            Kind::Table => {
                "filter, map_values, materialize, suppress_until_window_closes, \
                 suppress_until_time_limit, join, left_join, outer_join, to_stream, changes, to"
            }
            Kind::Global => "none: a global table is the argument of join_global",
            Kind::Written => "none: `to` ends a flow",
        }
    }
}

/// Operators whose first argument names another input of the pipeline.
pub(crate) fn takes_named_input(op: &str) -> bool {
    matches!(
        op,
        "merge"
            | "join"
            | "left_join"
            | "outer_join"
            | "join_table"
            | "left_join_table"
            | "join_global"
            | "left_join_global"
    )
}

/// What the input named by the first argument of `op` (applied to `on`)
/// must be.
pub(crate) fn named_argument(op: &str, on: &Kind) -> Option<Kind> {
    match (op, on) {
        ("merge" | "join" | "left_join" | "outer_join", Kind::Stream { .. }) => Some(Kind::KEYED),
        ("join" | "left_join" | "outer_join", Kind::Table) => Some(Kind::Table),
        ("join_table" | "left_join_table", _) => Some(Kind::Table),
        ("join_global" | "left_join_global", _) => Some(Kind::Global),
        _ => None,
    }
}

/// Operators whose first argument is a store name.
pub(crate) fn names_store(op: &str) -> bool {
    matches!(
        op,
        "count"
            | "aggregate"
            | "reduce"
            | "top_k"
            | "materialize"
            | "suppress_until_window_closes"
            | "suppress_until_time_limit"
    )
}

/// Operators whose first argument names an internal topic.
pub(crate) fn names_topic(op: &str) -> bool {
    matches!(op, "key_by" | "group_by")
}

/// Operators whose second argument names a join (and its stores).
pub(crate) fn names_join(op: &str, on: &Kind) -> bool {
    matches!(on, Kind::Stream { .. }) && matches!(op, "join" | "left_join" | "outer_join")
}

/// What `op` applied to `on` gives, or why it does not apply. `arg` is the
/// kind of the named argument, for operators that take one.
pub(crate) fn apply(op: &Ident, on: &Kind, arg: Option<&Kind>) -> Result<Kind, String> {
    let name = op.to_string();
    let keyed_input = |what: &str| match on {
        Kind::Stream {
            rekeyed: Some(by), ..
        } => Err(format!(
            "`{name}` needs {what} partitioned by its key, but this stream's keys were \
             changed by `{by}` without repartitioning; use `key_by(\"name\", |k, v| ...)` \
             instead, which repartitions"
        )),
        _ => Ok(()),
    };
    let keyed_arg = || match arg {
        Some(Kind::Stream {
            rekeyed: Some(by), ..
        }) => Err(format!(
            "`{name}` needs both streams partitioned by key, but the other stream's keys \
             were changed by `{by}` without repartitioning; use `key_by(\"name\", |k, v| ...)` \
             to repartition it"
        )),
        _ => Ok(()),
    };
    let out = match (name.as_str(), on) {
        ("filter" | "map_values" | "inspect" | "process" | "named", Kind::Stream { .. }) => {
            on.clone()
        }
        ("map" | "flat_map", Kind::Stream { .. }) => Kind::Stream {
            rekeyed: Some(op.clone()),
        },
        ("key_by", Kind::Stream { .. }) => Kind::KEYED,
        ("merge", Kind::Stream { rekeyed }) => match arg {
            Some(Kind::Stream { rekeyed: other }) => Kind::Stream {
                rekeyed: rekeyed.clone().or_else(|| other.clone()),
            },
            _ => on.clone(),
        },
        ("join" | "left_join" | "outer_join", Kind::Stream { .. }) => {
            keyed_input("a stream")?;
            keyed_arg()?;
            Kind::KEYED
        }
        ("join_table" | "left_join_table", Kind::Stream { .. }) => {
            keyed_input("a stream")?;
            Kind::KEYED
        }
        ("join_global" | "left_join_global", Kind::Stream { .. }) => on.clone(),
        ("group_by_key", Kind::Stream { .. }) => {
            keyed_input("a stream")?;
            Kind::Grouped
        }
        ("group_by", Kind::Stream { .. }) => Kind::Grouped,
        ("to", Kind::Stream { .. } | Kind::Table) => Kind::Written,
        ("count" | "aggregate" | "reduce" | "top_k", Kind::Grouped) => Kind::Table,
        ("windowed_by" | "session_windowed_by", Kind::Grouped) => Kind::Windowed,
        ("emit", Kind::Windowed) => Kind::Windowed,
        ("late_records", Kind::Windowed) => Kind::KEYED,
        ("count" | "aggregate" | "reduce", Kind::Windowed) => Kind::Table,
        (
            "filter"
            | "map_values"
            | "materialize"
            | "suppress_until_window_closes"
            | "suppress_until_time_limit",
            Kind::Table,
        ) => Kind::Table,
        ("join" | "left_join" | "outer_join", Kind::Table) => Kind::Table,
        ("to_stream" | "changes", Kind::Table) => Kind::KEYED,
        (
            "count" | "aggregate" | "reduce" | "top_k" | "windowed_by" | "session_windowed_by",
            Kind::Stream { .. },
        ) => {
            return Err(format!(
                "`{name}` needs a grouped stream: add `group_by_key()` or \
                 `group_by(\"name\", |k, v| ...)` before it"
            ));
        }
        ("event_time", _) => {
            return Err(
                "`event_time` is part of a stream's declaration: \
                 `stream NAME: K => V from \"topic\" (key codec, value codec) event_time(|k, v| ...);`"
                    .to_string(),
            );
        }
        ("branch", _) => {
            return Err("`branch` takes arms in braces and ends the flow: \
                 `-> branch { |k, v| ... => first, _ => rest };`"
                .to_string());
        }
        _ => {
            return Err(format!(
                "`{name}` does not apply to {}; operators that do: {}",
                on.describe(),
                on.operators()
            ));
        }
    };
    Ok(out)
}
