//! Where a member's standby copies belong: the partitions the `range`
//! assignor would give it if one other member left the group.
//!
//! librdkafka's `range` assignor (which [`KafkaGroups`](crate::KafkaGroups)
//! uses) sorts a topic's members by member id and gives each a contiguous
//! range of its partitions, the first `partitions % members` one more. So
//! every member can work out, from the group's member list alone, what a
//! failover would give it: the union, over each other member leaving, of
//! what it would then be assigned beyond what it owns now. Each partition
//! of a leaving member lands on exactly one survivor, so with one instance
//! lost, every moved task finds a warm copy; the partitions that `range`
//! shifts between survivors are covered the same way.
//!
//! Limits: a member that joins (scale-out) is not predicted (its first
//! tasks restore from their changelogs), nor are two members leaving at
//! once; static members (`group.instance.id`) are sorted by instance id by
//! librdkafka, which this does not model.

use std::collections::BTreeSet;
use std::ops::Range;
use tributary::group::Subscription;
use tributary::log::TopicPartition;

/// The partitions the `range` assignor gives the member at `index` (in
/// member-id order) of `members` members, of a topic of `partitions`.
pub(crate) fn range(partitions: u32, members: usize, index: usize) -> Range<u32> {
    let (members, index) = (members.max(1) as u32, index as u32);
    let per = partitions / members;
    let extra = partitions % members;
    let start = per * index + index.min(extra);
    let len = per + u32::from(index < extra);
    start..(start + len).min(partitions)
}

/// What member `me` would be assigned, beyond what it would keep anyway,
/// if any one other of `members` left.
pub(crate) fn if_one_left(
    members: &[String],
    me: &str,
    topics: &[Subscription],
) -> BTreeSet<TopicPartition> {
    let mut sorted: Vec<&str> = members.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = BTreeSet::new();
    let Some(now) = sorted.iter().position(|m| *m == me) else {
        return out;
    };
    for leaving in sorted.iter().filter(|m| **m != me) {
        let rest: Vec<&str> = sorted.iter().copied().filter(|m| m != leaving).collect();
        let Some(then) = rest.iter().position(|m| *m == me) else {
            continue;
        };
        for t in topics {
            let owned = range(t.partitions, sorted.len(), now);
            for p in range(t.partitions, rest.len(), then) {
                if !owned.contains(&p) {
                    out.insert(TopicPartition::new(t.topic.clone(), p));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Vec<Subscription> {
        vec![Subscription {
            topic: "in".into(),
            partitions: 6,
        }]
    }

    fn numbers(s: &BTreeSet<TopicPartition>) -> Vec<u32> {
        s.iter().map(|tp| tp.partition).collect()
    }

    #[test]
    fn ranges_are_contiguous_and_the_first_members_get_the_extra() {
        assert_eq!(range(6, 3, 0), 0..2);
        assert_eq!(range(6, 3, 2), 4..6);
        assert_eq!(range(7, 3, 0), 0..3);
        assert_eq!(range(7, 3, 1), 3..5);
        assert_eq!(range(7, 3, 2), 5..7);
        assert_eq!(range(2, 3, 2), 2..2);
    }

    #[test]
    fn every_partition_has_a_copy_where_a_single_failure_moves_it() {
        let members: Vec<String> = ["m-a", "m-b", "m-c"].map(String::from).to_vec();
        // a: 0,1  b: 2,3  c: 4,5. c leaving: a 0-2, b 3-5; b leaving: a 0-2,
        // c 3-5; a leaving: b 0-2, c 3-5.
        assert_eq!(numbers(&if_one_left(&members, "m-a", &topics())), vec![2]);
        assert_eq!(
            numbers(&if_one_left(&members, "m-b", &topics())),
            vec![0, 1, 4, 5]
        );
        assert_eq!(numbers(&if_one_left(&members, "m-c", &topics())), vec![3]);
        // Member ids sort as bytes, whatever order the group lists them in.
        let shuffled: Vec<String> = ["m-c", "m-a", "m-b"].map(String::from).to_vec();
        assert_eq!(numbers(&if_one_left(&shuffled, "m-a", &topics())), vec![2]);
    }

    #[test]
    fn two_members_copy_each_other_and_an_unknown_member_copies_nothing() {
        let members: Vec<String> = ["x", "y"].map(String::from).to_vec();
        assert_eq!(
            numbers(&if_one_left(&members, "x", &topics())),
            vec![3, 4, 5]
        );
        assert!(if_one_left(&members, "z", &topics()).is_empty());
        assert!(if_one_left(&["x".to_owned()], "x", &topics()).is_empty());
    }
}
