//! A group whose assignments a test script decides.

use super::{GroupEvent, Member, Membership, Subscription};
use crate::error::{Error, Result};
use crate::log::{Log, TopicPartition};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a script step waits for a member to handle its event.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// A group for tests: several application instances (in one process) are
/// members, and the test moves partitions between them at the points it
/// chooses, cleanly ([`revoke`](Self::revoke)) or not ([`lose`](Self::lose)).
/// Positions are stored in the log; a commit for a partition the member
/// does not own is [fenced](crate::Error::Fenced).
///
/// Partitions are given by number: partition `p` of every topic the member
/// subscribed to, so that co-partitioned inputs move together, as Kafka
/// Streams' assignor keeps them. A member's
/// [standby partitions](Member::standby_partitions) are those the other
/// members own.
///
/// ```
/// use std::sync::Arc;
/// use tributary::{App, Config, Topology, codec::{Json, Utf8}};
/// use tributary::group::ScriptedGroup;
/// use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
/// let dir = tempfile::tempdir()?;
/// let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir.path())?);
/// log.create_topic("in", &TopicConfig::new(2))?;
/// log.create_topic("out", &TopicConfig::new(2))?;
/// let mut b = Topology::builder("doubler");
/// b.stream::<String, i64>("in", Utf8, Json).map_values(|v| v * 2).to("out", Utf8, Json);
/// let group = ScriptedGroup::new(Arc::clone(&log));
/// let app = App::new(b.build()?, log, Config::default())?
///     .with_membership(group.membership("a"));
/// let running = app.start()?;
/// group.assign("a", &[0, 1])?;   // returns once the tasks run
/// group.revoke("a", &[1])?;      // returns once partition 1 is committed and given up
/// assert_eq!(group.owned("a"), vec![0]);
/// running.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ScriptedGroup {
    log: Arc<dyn Log>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    members: HashMap<String, MemberState>,
}

#[derive(Debug, Default)]
struct MemberState {
    group: String,
    topics: Vec<Subscription>,
    joined: bool,
    /// Partitions the member owns (revoked ones until it is done with them).
    owned: BTreeSet<TopicPartition>,
    /// Events not polled yet.
    queue: VecDeque<GroupEvent>,
    /// Events sent, and events the member said it handled.
    sent: u64,
    handled: u64,
    /// Commits still to refuse as a rebalancing group does.
    busy: u32,
}

impl ScriptedGroup {
    /// A group whose positions are stored in `log`.
    pub fn new(log: Arc<dyn Log>) -> Arc<Self> {
        Arc::new(ScriptedGroup {
            log,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    /// The membership of the member named `name`, to give to
    /// [`App::with_membership`](crate::App::with_membership).
    pub fn membership(self: &Arc<Self>, name: &str) -> Arc<dyn Membership> {
        Arc::new(ScriptedMembership {
            group: Arc::clone(self),
            name: name.to_owned(),
        })
    }

    /// Gives partitions `partitions` of every topic to `member`; returns
    /// once the member has taken them (its tasks are created; they may
    /// still be restoring).
    pub fn assign(&self, member: &str, partitions: &[u32]) -> Result<()> {
        self.step(member, partitions, GroupEvent::Assigned)
    }

    /// Takes partitions away from `member` cleanly: returns once it has
    /// committed and given them up.
    pub fn revoke(&self, member: &str, partitions: &[u32]) -> Result<()> {
        self.step(member, partitions, GroupEvent::Revoked)
    }

    /// Takes partitions away from `member` as a failure would (its session
    /// expired): its ownership ends at once, so any later commit of them
    /// is fenced; returns once it has dropped them without committing.
    pub fn lose(&self, member: &str, partitions: &[u32]) -> Result<()> {
        self.step(member, partitions, GroupEvent::Lost)
    }

    /// Makes the group refuse `member`'s next `commits` commits with
    /// [`Error::GroupBusy`](crate::Error::GroupBusy), as a Kafka group does
    /// while it rebalances.
    pub fn refuse_commits(&self, member: &str, commits: u32) {
        self.lock()
            .members
            .entry(member.to_owned())
            .or_default()
            .busy = commits;
    }

    /// How many of the commits [`refuse_commits`](Self::refuse_commits)
    /// asked for are still to be refused.
    pub fn commits_to_refuse(&self, member: &str) -> u32 {
        self.lock().members.get(member).map_or(0, |m| m.busy)
    }

    /// The partition numbers `member` owns.
    pub fn owned(&self, member: &str) -> Vec<u32> {
        let state = self.lock();
        let numbers: BTreeSet<u32> = state
            .members
            .get(member)
            .map(|m| m.owned.iter().map(|tp| tp.partition).collect())
            .unwrap_or_default();
        numbers.into_iter().collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `member` joined, sends it the event, and waits until it
    /// handled it.
    fn step(
        &self,
        member: &str,
        partitions: &[u32],
        event: fn(Vec<TopicPartition>) -> GroupEvent,
    ) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut state = self.lock();
        while !state.members.get(member).is_some_and(|m| m.joined) {
            state = self.wait(state, deadline, member, "to join")?;
        }
        let m = state
            .members
            .get_mut(member)
            .ok_or_else(|| Error::Runtime(format!("no member {member}")))?;
        let tps: Vec<TopicPartition> = m
            .topics
            .iter()
            .flat_map(|s| {
                partitions
                    .iter()
                    .filter(|&&p| p < s.partitions)
                    .map(|&p| TopicPartition::new(s.topic.clone(), p))
            })
            .collect();
        let event = event(tps);
        match &event {
            GroupEvent::Assigned(tps) => m.owned.extend(tps.iter().cloned()),
            GroupEvent::Lost(tps) => tps.iter().for_each(|tp| {
                m.owned.remove(tp);
            }),
            GroupEvent::Revoked(_) => {}
        }
        m.queue.push_back(event);
        m.sent += 1;
        let sent = m.sent;
        while state.members.get(member).is_some_and(|m| m.handled < sent) {
            state = self.wait(state, deadline, member, "to handle its event")?;
        }
        Ok(())
    }

    fn wait<'a>(
        &self,
        state: MutexGuard<'a, State>,
        deadline: Instant,
        member: &str,
        what: &str,
    ) -> Result<MutexGuard<'a, State>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Runtime(format!(
                "scripted group: member '{member}' took longer than {STEP_TIMEOUT:?} {what}"
            )));
        }
        Ok(self
            .changed
            .wait_timeout(state, left)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0)
    }
}

#[derive(Debug)]
struct ScriptedMembership {
    group: Arc<ScriptedGroup>,
    name: String,
}

impl Membership for ScriptedMembership {
    fn join(&self, group: &str, topics: &[Subscription]) -> Result<Arc<dyn Member>> {
        let mut state = self.group.lock();
        let m = state.members.entry(self.name.clone()).or_default();
        m.group = group.to_owned();
        m.topics = topics.to_vec();
        m.joined = true;
        self.group.changed.notify_all();
        Ok(Arc::new(ScriptedMember {
            group: Arc::clone(&self.group),
            name: self.name.clone(),
            group_name: group.to_owned(),
        }))
    }
}

#[derive(Debug)]
struct ScriptedMember {
    group: Arc<ScriptedGroup>,
    name: String,
    group_name: String,
}

impl Member for ScriptedMember {
    fn poll(&self) -> Result<Option<GroupEvent>> {
        let mut state = self.group.lock();
        Ok(state
            .members
            .get_mut(&self.name)
            .and_then(|m| m.queue.pop_front()))
    }

    fn done(&self, event: &GroupEvent) -> Result<()> {
        let mut state = self.group.lock();
        if let Some(m) = state.members.get_mut(&self.name) {
            if let GroupEvent::Revoked(tps) = event {
                for tp in tps {
                    m.owned.remove(tp);
                }
            }
            m.handled += 1;
        }
        self.group.changed.notify_all();
        Ok(())
    }

    fn commit(&self, positions: &[(TopicPartition, u64)]) -> Result<()> {
        {
            let mut state = self.group.lock();
            if let Some(m) = state.members.get_mut(&self.name)
                && m.busy > 0
            {
                m.busy -= 1;
                return Err(Error::GroupBusy {
                    group: self.group_name.clone(),
                    reason: "a rebalance is in progress (scripted)".into(),
                });
            }
            let owned = state.members.get(&self.name).map(|m| &m.owned);
            let fenced: Vec<TopicPartition> = positions
                .iter()
                .filter(|(tp, _)| !owned.is_some_and(|o| o.contains(tp)))
                .map(|(tp, _)| tp.clone())
                .collect();
            if !fenced.is_empty() {
                return Err(Error::Fenced {
                    group: self.group_name.clone(),
                    member: self.name.clone(),
                    partitions: fenced,
                });
            }
        }
        self.group.log.commit_offsets(&self.group_name, positions)
    }

    fn committed(&self) -> Result<BTreeMap<TopicPartition, u64>> {
        self.group.log.committed_offsets(&self.group_name)
    }

    /// Every partition another member owns: a script may move any of them
    /// here.
    fn standby_partitions(&self) -> Result<Option<Vec<TopicPartition>>> {
        let state = self.group.lock();
        Ok(Some(
            state
                .members
                .iter()
                .filter(|(name, _)| **name != self.name)
                .flat_map(|(_, m)| m.owned.iter().cloned())
                .collect(),
        ))
    }

    fn leave(&self) {
        let mut state = self.group.lock();
        if let Some(m) = state.members.get_mut(&self.name) {
            m.joined = false;
            m.owned.clear();
            m.queue.clear();
            m.handled = m.sent;
        }
        self.group.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{MemoryLog, TopicAdmin};

    fn subscribe(group: &Arc<ScriptedGroup>, name: &str) -> Arc<dyn Member> {
        let topics = [Subscription {
            topic: "in".into(),
            partitions: 2,
        }];
        group.membership(name).join("app", &topics).unwrap()
    }

    /// Handles the member's events as the runtime would, on another thread.
    fn answer(member: Arc<dyn Member>, events: usize) -> std::thread::JoinHandle<Vec<GroupEvent>> {
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while seen.len() < events {
                match member.poll().unwrap() {
                    Some(e) => {
                        member.done(&e).unwrap();
                        seen.push(e);
                    }
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            seen
        })
    }

    #[test]
    fn commits_of_partitions_not_owned_are_fenced() {
        let log = Arc::new(MemoryLog::new());
        log.create_topic("in", &crate::log::TopicConfig::new(2))
            .unwrap();
        let group = ScriptedGroup::new(log.clone());
        let member = subscribe(&group, "a");
        let handler = answer(Arc::clone(&member), 3);
        group.assign("a", &[0, 1]).unwrap();
        let p = |n| TopicPartition::new("in", n);
        member.commit(&[(p(0), 5), (p(1), 7)]).unwrap();
        group.revoke("a", &[1]).unwrap();
        assert_eq!(group.owned("a"), vec![0]);
        match member.commit(&[(p(0), 6), (p(1), 8)]) {
            Err(Error::Fenced { partitions, .. }) => assert_eq!(partitions, vec![p(1)]),
            other => panic!("expected a fenced commit, got {other:?}"),
        }
        group.lose("a", &[0]).unwrap();
        assert!(matches!(
            member.commit(&[(p(0), 6)]),
            Err(Error::Fenced { .. })
        ));
        let events = handler.join().unwrap();
        assert_eq!(
            events,
            vec![
                GroupEvent::Assigned(vec![p(0), p(1)]),
                GroupEvent::Revoked(vec![p(1)]),
                GroupEvent::Lost(vec![p(0)]),
            ]
        );
        // Refused commits stored nothing.
        let stored = member.committed().unwrap();
        assert_eq!((stored[&p(0)], stored[&p(1)]), (5, 7));
    }
}
