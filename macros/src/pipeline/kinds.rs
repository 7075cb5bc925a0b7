//! What each operator applies to and gives: the structural type system of
//! `pipeline!`. Rust's types are checked by rustc on the generated code;
//! these are the checks rustc could not phrase in the pipeline's terms.

use proc_macro2::Ident;
use tributary_ops::{Keys, Names, Operator, Shape};

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

    /// The shape of the operator table this kind is.
    fn shape(&self) -> Shape {
        match self {
            Kind::Stream { .. } => Shape::Stream,
            Kind::Grouped => Shape::Grouped,
            Kind::Windowed => Shape::Windowed,
            Kind::Table => Shape::Table,
            Kind::Global => Shape::Global,
            Kind::Written => Shape::Written,
        }
    }

    /// The kind a shape of the operator table gives (streams keyed).
    fn of(shape: Shape) -> Kind {
        match shape {
            Shape::Stream => Kind::KEYED,
            Shape::Grouped => Kind::Grouped,
            Shape::Windowed => Kind::Windowed,
            Shape::Table => Kind::Table,
            Shape::Global => Kind::Global,
            Shape::Written => Kind::Written,
        }
    }

    /// The operators that apply to this kind, for error messages.
    fn operators(&self) -> String {
        match self {
            Kind::Global => "none: a global table is the argument of join_global".into(),
            Kind::Written => "none: `to` ends a flow".into(),
            other => tributary_ops::methods_on(other.shape()).join(", "),
        }
    }
}

/// Rows of the operator table for `op`, whatever they apply to.
fn rows(op: &str) -> impl Iterator<Item = &'static Operator> + '_ {
    tributary_ops::OPERATORS
        .iter()
        .filter(move |o| o.method == op)
}

/// Operators whose first argument names another input of the pipeline.
pub(crate) fn takes_named_input(op: &str) -> bool {
    rows(op).any(|o| matches!(o.names, Names::Input(_) | Names::JoinWith(_)))
}

/// What the input named by the first argument of `op` (applied to `on`)
/// must be.
pub(crate) fn named_argument(op: &str, on: &Kind) -> Option<Kind> {
    match tributary_ops::find(op, on.shape())?.names {
        Names::Input(shape) | Names::JoinWith(shape) => Some(Kind::of(shape)),
        _ => None,
    }
}

/// Operators whose first argument is a store name.
pub(crate) fn names_store(op: &str) -> bool {
    rows(op).any(|o| o.names == Names::Store)
}

/// Operators whose first argument names an internal topic.
pub(crate) fn names_topic(op: &str) -> bool {
    rows(op).any(|o| o.names == Names::Topic)
}

/// Operators whose second argument names a join (and its stores).
pub(crate) fn names_join(op: &str, on: &Kind) -> bool {
    tributary_ops::find(op, on.shape()).is_some_and(|o| matches!(o.names, Names::JoinWith(_)))
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
    match (name.as_str(), on) {
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
        _ => {}
    }
    let Some(row) = tributary_ops::find(&name, on.shape()) else {
        return Err(format!(
            "`{name}` does not apply to {}; operators that do: {}",
            on.describe(),
            on.operators()
        ));
    };
    if row.keyed {
        keyed_input("a stream")?;
        if matches!(
            row.names,
            Names::Input(Shape::Stream) | Names::JoinWith(Shape::Stream)
        ) {
            keyed_arg()?;
        }
    }
    let out = match (row.keys, row.gives) {
        // Merged streams are as keyed as the least keyed of them.
        _ if name == "merge" => match (on, arg) {
            (Kind::Stream { rekeyed }, Some(Kind::Stream { rekeyed: other })) => Kind::Stream {
                rekeyed: rekeyed.clone().or_else(|| other.clone()),
            },
            _ => on.clone(),
        },
        (Keys::Change, Shape::Stream) => Kind::Stream {
            rekeyed: Some(op.clone()),
        },
        // Keys kept and the shape too: a stream stays as keyed as it was
        // (joins re-establish keyed partitioning: they needed it).
        (Keys::Keep, gives) if gives == on.shape() && !row.keyed => on.clone(),
        (_, gives) => Kind::of(gives),
    };
    Ok(out)
}
