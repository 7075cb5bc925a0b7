//! Group membership: which input partitions an application instance owns,
//! while it runs.
//!
//! Every instance of an application joins the group named after it (the
//! application id) for its input and repartition topics. The group tells
//! each member, through [`Member::poll`], which partitions it gets and
//! which it must give up:
//!
//! - [`GroupEvent::Assigned`]: take these partitions (their tasks are
//!   created, restored and started);
//! - [`GroupEvent::Revoked`]: commit, then give these up (another member
//!   gets them once this one has said it is [`done`](Member::done));
//! - [`GroupEvent::Lost`]: give these up *without* committing: another
//!   member may own them already, and its commits are the ones that count.
//!
//! Offset commits go through the member ([`Member::commit`]), so that a
//! backend can refuse ([`Error::Fenced`](crate::Error::Fenced)) a commit
//! from a member that no longer owns the partitions.
//!
//! Two memberships come with the crate: [`Solo`], the embedded log's (the
//! one member owns every partition from the start: the default), and
//! [`ScriptedGroup`], which assigns and revokes at points a test chooses.
//! The Kafka backend implements the traits over Kafka's group protocol.

mod scripted;
mod solo;

pub use scripted::ScriptedGroup;
pub use solo::Solo;

use crate::error::Result;
use crate::log::TopicPartition;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A change of the partitions a member owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent {
    /// The member now owns these partitions.
    Assigned(Vec<TopicPartition>),
    /// The member must commit, then give these partitions up.
    Revoked(Vec<TopicPartition>),
    /// The member lost these partitions: give them up without committing.
    Lost(Vec<TopicPartition>),
}

impl GroupEvent {
    /// The partitions the event is about.
    pub fn partitions(&self) -> &[TopicPartition] {
        match self {
            GroupEvent::Assigned(p) | GroupEvent::Revoked(p) | GroupEvent::Lost(p) => p,
        }
    }
}

/// What a group needs to know of a subscribed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The topic.
    pub topic: String,
    /// Its number of partitions.
    pub partitions: u32,
}

/// A way of joining groups: the embedded log's [`Solo`], a test's
/// [`ScriptedGroup`], Kafka's group protocol.
pub trait Membership: Send + Sync + std::fmt::Debug {
    /// Joins `group` for `topics`. Partitions arrive as events from the
    /// returned member's [`poll`](Member::poll).
    fn join(&self, group: &str, topics: &[Subscription]) -> Result<Arc<dyn Member>>;
}

/// One member of a group (one application instance).
///
/// All methods take `&self` and may be called from several threads: the
/// runtime polls events on one and commits from its worker threads.
pub trait Member: Send + Sync + std::fmt::Debug {
    /// The next event, if any is waiting (never blocks).
    fn poll(&self) -> Result<Option<GroupEvent>>;

    /// Says that `event` was handled: assigned partitions were taken,
    /// revoked ones committed and given up, lost ones given up.
    fn done(&self, event: &GroupEvent) -> Result<()>;

    /// Stores the group's positions (the next offsets to read) for
    /// partitions this member owns; fails with
    /// [`Error::Fenced`](crate::Error::Fenced) for partitions it does not.
    fn commit(&self, positions: &[(TopicPartition, u64)]) -> Result<()>;

    /// The group's stored positions.
    fn committed(&self) -> Result<BTreeMap<TopicPartition, u64>>;

    /// Leaves the group (the application stopped); its partitions go to
    /// the other members.
    fn leave(&self) {}

    /// The partitions this member would most likely be given if another
    /// member left (beyond those it owns): where standby copies of state
    /// pay off ([`Config::standby_replicas`](crate::Config::standby_replicas)).
    /// `None` when the group cannot tell now (a rebalance is under way);
    /// the default is `Some` of nothing.
    fn standby_partitions(&self) -> Result<Option<Vec<TopicPartition>>> {
        Ok(Some(Vec::new()))
    }

    /// False while the member is joining the group or a rebalance is under
    /// way, or events wait to be polled: more partitions may come. An
    /// application waiting to catch up waits for this too.
    fn settled(&self) -> bool {
        true
    }
}
