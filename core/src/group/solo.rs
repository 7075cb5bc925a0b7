//! The embedded log's membership: one member owns every partition.

use super::{GroupEvent, Member, Membership, Subscription};
use crate::error::Result;
use crate::log::{Log, TopicPartition};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The membership of an application that runs as one instance: its member
/// is assigned every partition of its topics when it joins and keeps them
/// until it stops; positions are stored in the log (the default).
#[derive(Debug, Clone)]
pub struct Solo {
    log: Arc<dyn Log>,
}

impl Solo {
    /// Membership whose positions are stored in `log`.
    pub fn new(log: Arc<dyn Log>) -> Self {
        Solo { log }
    }
}

impl Membership for Solo {
    fn join(&self, group: &str, topics: &[Subscription]) -> Result<Arc<dyn Member>> {
        let all = topics
            .iter()
            .flat_map(|s| (0..s.partitions).map(|p| TopicPartition::new(s.topic.clone(), p)))
            .collect();
        Ok(Arc::new(SoloMember {
            log: Arc::clone(&self.log),
            group: group.to_owned(),
            pending: Mutex::new(Some(GroupEvent::Assigned(all))),
        }))
    }
}

#[derive(Debug)]
struct SoloMember {
    log: Arc<dyn Log>,
    group: String,
    /// The one assignment, until polled.
    pending: Mutex<Option<GroupEvent>>,
}

impl Member for SoloMember {
    fn poll(&self) -> Result<Option<GroupEvent>> {
        Ok(self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take())
    }

    fn done(&self, _event: &GroupEvent) -> Result<()> {
        Ok(())
    }

    fn commit(&self, positions: &[(TopicPartition, u64)]) -> Result<()> {
        self.log.commit_offsets(&self.group, positions)
    }

    fn committed(&self) -> Result<BTreeMap<TopicPartition, u64>> {
        self.log.committed_offsets(&self.group)
    }
}
