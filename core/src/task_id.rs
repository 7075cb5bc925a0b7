//! Task identity: which sub-topology, which partition number.
//!
//! Its own module because the runtime, the stores (checkpoint keys) and
//! the counters all name tasks, and none of them should import another
//! for it.

/// Identifies a task: sub-topology and partition number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    /// The sub-topology.
    pub sub_topology: usize,
    /// The partition number.
    pub partition: u32,
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.sub_topology, self.partition)
    }
}
