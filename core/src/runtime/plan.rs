//! The internal topics an application needs, planned from its topology and
//! the partition counts of the topics it reads and writes: a pure function,
//! which every backend applies with its own settings
//! ([`App::new`](super::App::new) on the log it is given).
//!
//! - A repartition topic joined with topics of the user's takes their
//!   partition count (co-partitioning); other repartition topics get as
//!   many partitions as the largest input of the sub-topology writing them,
//!   resolved through chains of them to a fixed point.
//! - A changelog has one partition per task of the sub-topology owning its
//!   store, and is compacted.
//! - The dead-letter topic, when records are dead-lettered, has one
//!   partition unless it exists already.
//! - The inputs of every join must have the same partition count.

use crate::error::{Error, Result};
use crate::log::{Cleanup, TopicConfig};
use crate::topology::Topology;
use std::collections::HashMap;

/// What the plan needs to know of a topology.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The input topics of each sub-topology.
    pub(crate) inputs: Vec<Vec<String>>,
    /// Each repartition topic and the sub-topology writing it.
    pub(crate) writers: Vec<(String, usize)>,
    /// Each join, with the topics upstream of each of its sides.
    pub(crate) joins: Vec<(String, Vec<Vec<String>>)>,
    /// Each store and the sub-topology owning it.
    pub(crate) stores: Vec<(String, usize)>,
}

impl Shape {
    /// The shape of `topology`.
    pub(crate) fn of(topology: &Topology) -> Self {
        Shape {
            inputs: (0..topology.sub_topology_count())
                .map(|sub| {
                    topology
                        .sources_of(sub)
                        .into_iter()
                        .map(|s| s.topic)
                        .collect()
                })
                .collect(),
            writers: topology.internal_writers(),
            joins: topology.join_inputs(),
            stores: topology.store_owners(),
        }
    }
}

/// One internal topic to create (or to find with these settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) name: String,
    pub(crate) partitions: u32,
    pub(crate) cleanup: Cleanup,
}

impl Planned {
    /// The topic's settings on a backend with default settings otherwise.
    pub(crate) fn config(&self) -> TopicConfig {
        let mut c = TopicConfig::new(self.partitions);
        c.cleanup = self.cleanup;
        c
    }
}

/// Plans the internal topics of application `app` of shape `shape`, given
/// the partition count of every topic of the user's it reads or writes
/// (`external`). `dead_letter` names the dead-letter topic and its
/// partition count if it exists already.
pub(crate) fn plan(
    shape: &Shape,
    external: &HashMap<String, u32>,
    app: &str,
    dead_letter: Option<(&str, Option<u32>)>,
) -> Result<Vec<Planned>> {
    let mut partitions = external.clone();
    for (_, sides) in &shape.joins {
        let topics: Vec<&String> = sides.iter().flatten().collect();
        let user = topics
            .iter()
            .filter_map(|t| external.get(*t))
            .max()
            .copied();
        if let Some(n) = user {
            for t in topics {
                if shape.writers.iter().any(|(w, _)| w == t) {
                    partitions.entry(t.clone()).or_insert(n);
                }
            }
        }
    }
    let tasks_of = |partitions: &HashMap<String, u32>, sub: usize| -> Option<u32> {
        let counts: Option<Vec<u32>> = shape.inputs[sub]
            .iter()
            .map(|t| partitions.get(t).copied())
            .collect();
        counts.and_then(|c| c.into_iter().max())
    };
    loop {
        let mut changed = false;
        for (topic, sub) in &shape.writers {
            if !partitions.contains_key(topic)
                && let Some(n) = tasks_of(&partitions, *sub)
            {
                partitions.insert(topic.clone(), n);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut planned = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (topic, _) in &shape.writers {
        let n = *partitions.get(topic).ok_or_else(|| {
            Error::Topology(vec![format!("cannot size internal topic '{topic}'")])
        })?;
        if seen.insert(topic.clone()) {
            planned.push(Planned {
                name: topic.clone(),
                partitions: n,
                cleanup: Cleanup::Delete,
            });
        }
    }
    co_partitioned(&shape.joins, &partitions)?;
    for (store, sub) in &shape.stores {
        let n = task_count(&shape.inputs[*sub], &partitions).max(1);
        planned.push(Planned {
            name: crate::store::changelog_topic(app, store),
            partitions: n,
            cleanup: Cleanup::Compact,
        });
    }
    if let Some((topic, existing)) = dead_letter {
        planned.push(Planned {
            name: topic.to_owned(),
            partitions: existing.unwrap_or(1),
            cleanup: Cleanup::Delete,
        });
    }
    Ok(planned)
}

/// The number of tasks of a sub-topology reading `inputs`: the largest
/// partition count among them (0 when none is known).
pub(crate) fn task_count<T: AsRef<str>>(inputs: &[T], partitions: &HashMap<String, u32>) -> u32 {
    inputs
        .iter()
        .filter_map(|t| partitions.get(t.as_ref()))
        .max()
        .copied()
        .unwrap_or(0)
}

/// Checks that the inputs of every join have the same partition count.
fn co_partitioned(
    joins: &[(String, Vec<Vec<String>>)],
    partitions: &HashMap<String, u32>,
) -> Result<()> {
    let mut problems = Vec::new();
    for (name, sides) in joins {
        let counts: Vec<(&String, u32)> = sides
            .iter()
            .flatten()
            .filter_map(|t| partitions.get(t).map(|n| (t, *n)))
            .collect();
        if counts.windows(2).any(|w| w[0].1 != w[1].1) {
            let list: Vec<String> = counts
                .iter()
                .map(|(t, n)| format!("'{t}' has {n}"))
                .collect();
            problems.push(format!(
                "join '{name}' needs co-partitioned inputs, but {}: give the topics the same \
                 number of partitions, or re-key one side with key_by(...) (its repartition \
                 topic is sized to match), or join a global table instead",
                list.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Topology(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn counts(v: &[(&str, u32)]) -> HashMap<String, u32> {
        v.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn find<'a>(plan: &'a [Planned], name: &str) -> &'a Planned {
        plan.iter().find(|p| p.name == name).unwrap()
    }

    #[test]
    fn repartitions_take_the_largest_input_of_their_writer_through_chains() {
        // in(3) + other(5) -> sub 0 writes r1 -> sub 1 writes r2 -> sub 2.
        let shape = Shape {
            inputs: vec![
                strings(&["in", "other"]),
                strings(&["r1"]),
                strings(&["r2"]),
            ],
            writers: vec![("r2".into(), 1), ("r1".into(), 0)],
            joins: vec![],
            stores: vec![("counts".into(), 2)],
        };
        let plan = plan(&shape, &counts(&[("in", 3), ("other", 5)]), "app", None).unwrap();
        assert_eq!(find(&plan, "r1").partitions, 5);
        assert_eq!(find(&plan, "r2").partitions, 5);
        let changelog = find(&plan, "app-counts-changelog");
        assert_eq!(
            (changelog.partitions, changelog.cleanup),
            (5, Cleanup::Compact)
        );
        assert_eq!(plan.len(), 3);
    }

    #[test]
    fn a_repartition_joined_with_a_user_topic_takes_its_count() {
        // in(8) re-keyed into r, joined with table t(3).
        let shape = Shape {
            inputs: vec![strings(&["in"]), strings(&["r", "t"])],
            writers: vec![("r".into(), 0)],
            joins: vec![("j".into(), vec![strings(&["r"]), strings(&["t"])])],
            stores: vec![("t-store".into(), 1)],
        };
        let plan = plan(&shape, &counts(&[("in", 8), ("t", 3)]), "app", None).unwrap();
        assert_eq!(find(&plan, "r").partitions, 3);
        assert_eq!(find(&plan, "app-t-store-changelog").partitions, 3);
    }

    #[test]
    fn joins_of_user_topics_must_be_co_partitioned() {
        let shape = Shape {
            inputs: vec![strings(&["a", "b"])],
            writers: vec![],
            joins: vec![("j".into(), vec![strings(&["a"]), strings(&["b"])])],
            stores: vec![],
        };
        let err = plan(&shape, &counts(&[("a", 2), ("b", 4)]), "app", None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("join 'j' needs co-partitioned inputs"),
            "{text}"
        );
        assert!(text.contains("'a' has 2, 'b' has 4"), "{text}");
    }

    #[test]
    fn a_repartition_with_no_sized_writer_input_is_an_error() {
        // Two repartition topics that feed each other and nothing else.
        let shape = Shape {
            inputs: vec![strings(&["r2"]), strings(&["r1"])],
            writers: vec![("r1".into(), 0), ("r2".into(), 1)],
            joins: vec![],
            stores: vec![],
        };
        let err = plan(&shape, &HashMap::new(), "app", None).unwrap_err();
        assert!(
            err.to_string().contains("cannot size internal topic"),
            "{err}"
        );
    }

    #[test]
    fn the_dead_letter_topic_keeps_an_existing_count() {
        let shape = Shape {
            inputs: vec![strings(&["in"])],
            ..Shape::default()
        };
        let new = plan(
            &shape,
            &counts(&[("in", 4)]),
            "app",
            Some(("app-dlq", None)),
        )
        .unwrap();
        assert_eq!(find(&new, "app-dlq").partitions, 1);
        let old = plan(
            &shape,
            &counts(&[("in", 4)]),
            "app",
            Some(("app-dlq", Some(6))),
        )
        .unwrap();
        assert_eq!(find(&old, "app-dlq").partitions, 6);
    }
}
