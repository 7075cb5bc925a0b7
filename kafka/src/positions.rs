//! Group positions as Tributary keeps them and as librdkafka takes them.

use crate::error::backend;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use tributary::Result;
use tributary::log::TopicPartition;

/// The positions as a librdkafka partition list, for a commit.
pub(crate) fn to_list(positions: &[(TopicPartition, u64)]) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(positions.len());
    for (tp, o) in positions {
        tpl.add_partition_offset(&tp.topic, tp.partition as i32, Offset::Offset(*o as i64))
            .map_err(|e| backend(format!("committing {tp}"), e))?;
    }
    Ok(tpl)
}

/// The committed positions of a partition list (partitions without one
/// are left out).
pub(crate) fn from_list(tpl: &TopicPartitionList) -> BTreeMap<TopicPartition, u64> {
    tpl.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) if o >= 0 => Some((
                TopicPartition::new(e.topic(), e.partition() as u32),
                o as u64,
            )),
            _ => None,
        })
        .collect()
}
