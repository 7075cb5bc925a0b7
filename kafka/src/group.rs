//! [`KafkaGroups`]: group membership over Kafka's consumer-group protocol.
//!
//! Each member is a librdkafka consumer subscribed to the application's
//! input and repartition topics, with its fetching paused (records are read
//! through [`KafkaLog`](crate::KafkaLog)'s readers, at the positions the
//! tasks keep): it is there to take part in the group, hear rebalances and
//! commit. A thread polls it; rebalance callbacks turn into
//! [`GroupEvent`]s, and a revocation holds the rebalance until the runtime
//! has committed the revoked tasks and said [`done`](Member::done).
//!
//! The assignment strategy is `range` (eager): it gives each member the
//! same partition numbers of every topic with the same partition count, so
//! co-partitioned inputs stay together. Cooperative-sticky would move fewer
//! partitions per rebalance, but it assigns each topic's partitions
//! independently and can split a co-partitioned pair.
//!
//! Standby copies: librdkafka offers no way to plug in an assignor that
//! places standby tasks (Kafka Streams does it in its own assignor, in
//! the group leader). Instead each member reads the group's member list
//! (DescribeGroups) and its own member id, and predicts where `range`
//! would move partitions if one other member left
//! ([`standby`](crate::standby)); it keeps copies of those tasks.

use crate::config::KafkaConfig;
use crate::diagnostics::Diagnostics;
use crate::positions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tributary::group::{GroupEvent, Member, Membership, Subscription};
use tributary::log::TopicPartition;
use tributary::{Error, Result};

/// librdkafka settings of a group member.
const MEMBER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("enable.partition.eof", "false"),
    ("partition.assignment.strategy", "range"),
    ("auto.offset.reset", "earliest"),
];

/// Joins groups on a Kafka cluster; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct KafkaGroups {
    config: KafkaConfig,
}

impl KafkaGroups {
    /// Group membership on the cluster of `config`.
    pub fn new(config: KafkaConfig) -> Self {
        KafkaGroups { config }
    }
}

impl Membership for KafkaGroups {
    fn join(&self, group: &str, topics: &[Subscription]) -> Result<Arc<dyn Member>> {
        tributary::log::validate_name("group", group)?;
        let shared = Arc::new(Shared::default());
        let consumer: BaseConsumer<Context> = self
            .config
            .client(MEMBER_DEFAULTS)
            .set("group.id", group)
            .create_with_context(Context {
                shared: Arc::clone(&shared),
                diagnostics: Arc::clone(self.config.diagnostics()),
            })
            .map_err(|e| self.config.error(format!("joining group '{group}'"), e))?;
        let names: Vec<&str> = topics.iter().map(|t| t.topic.as_str()).collect();
        consumer.subscribe(&names).map_err(|e| {
            self.config
                .error(format!("subscribing group '{group}' to {names:?}"), e)
        })?;
        let consumer = Arc::new(consumer);
        static MEMBERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = MEMBERS.fetch_add(1, Ordering::Relaxed);
        let member = Arc::new(KafkaMember {
            name: format!("{group}-{}-{n}", std::process::id()),
            group: group.to_owned(),
            topics: topics.to_vec(),
            consumer: Arc::clone(&consumer),
            shared: Arc::clone(&shared),
            timeout: self.config.request_timeout(),
            diagnostics: Arc::clone(self.config.diagnostics()),
        });
        std::thread::Builder::new()
            .name(format!("kafka-group-{group}"))
            .spawn(move || poll_until_left(&consumer, &shared))
            .map_err(|e| Error::Io {
                context: "starting the group member's thread".into(),
                source: e,
            })?;
        Ok(member)
    }
}

/// The member id the group coordinator gave `consumer`, once it joined.
fn member_id(consumer: &BaseConsumer<Context>) -> Option<String> {
    let client = consumer.client().native_ptr();
    // SAFETY: `client` is the live handle `consumer` owns; librdkafka
    // returns a NUL-terminated copy of the id (or null), which is freed
    // with `rd_kafka_mem_free` once copied.
    #[allow(unsafe_code)]
    let id = unsafe {
        let raw = rdkafka::bindings::rd_kafka_memberid(client);
        if raw.is_null() {
            return None;
        }
        let id = std::ffi::CStr::from_ptr(raw).to_string_lossy().into_owned();
        rdkafka::bindings::rd_kafka_mem_free(client, raw.cast());
        id
    };
    (!id.is_empty()).then_some(id)
}

/// Polls the member's consumer (which keeps it in the group and runs the
/// rebalance callbacks) until it leaves.
fn poll_until_left(consumer: &BaseConsumer<Context>, shared: &Shared) {
    while !shared.leaving.load(Ordering::Acquire) {
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            tracing::warn!(error = %e, "Kafka group member");
        }
    }
    consumer.unsubscribe();
    // A last poll hands the revocation to the callback (which does not wait
    // for the runtime while leaving) and sends the LeaveGroup.
    for _ in 0..10 {
        let _ = consumer.poll(Duration::from_millis(50));
    }
}

/// What the polling thread and the runtime's threads share.
struct Shared {
    events: Mutex<VecDeque<GroupEvent>>,
    owned: Mutex<BTreeSet<TopicPartition>>,
    /// Revocations the runtime has handled and not yet been waited for.
    revoked_done: Mutex<u64>,
    revoked_seen: Mutex<u64>,
    done: Condvar,
    leaving: AtomicBool,
    /// Joining, or between a revocation and the next assignment.
    rebalancing: AtomicBool,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            events: Mutex::default(),
            owned: Mutex::default(),
            revoked_done: Mutex::default(),
            revoked_seen: Mutex::default(),
            done: Condvar::new(),
            leaving: AtomicBool::new(false),
            rebalancing: AtomicBool::new(true),
        }
    }
}

impl Shared {
    fn push(&self, event: GroupEvent) {
        lock(&self.events).push_back(event);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition() as u32))
        .collect()
}

/// The consumer's context: rebalance callbacks become events.
struct Context {
    shared: Arc<Shared>,
    diagnostics: Arc<Diagnostics>,
}

impl ClientContext for Context {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.diagnostics.report(&error, reason);
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        self.shared.rebalancing.store(true, Ordering::Release);
        let parts = partitions(tpl);
        {
            let mut owned = lock(&self.shared.owned);
            for tp in &parts {
                owned.remove(tp);
            }
        }
        if parts.is_empty() {
            return;
        }
        if consumer.assignment_lost() {
            self.shared.push(GroupEvent::Lost(parts));
            return;
        }
        let ticket = {
            let mut seen = lock(&self.shared.revoked_seen);
            *seen += 1;
            *seen
        };
        self.shared.push(GroupEvent::Revoked(parts));
        // Hold the rebalance until the runtime has committed and closed the
        // revoked tasks (unless the member is leaving: then nobody waits).
        let mut done = lock(&self.shared.revoked_done);
        while *done < ticket && !self.shared.leaving.load(Ordering::Acquire) {
            done = self
                .shared
                .done
                .wait_timeout(done, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else {
            if let Rebalance::Error(e) = rebalance {
                tracing::error!(error = %e, "Kafka group rebalance failed");
            }
            return;
        };
        // Records are read by the tasks' readers, not by the member.
        if let Err(e) = consumer.pause(tpl) {
            tracing::warn!(error = %e, "pausing the group member's fetches");
        }
        let parts = partitions(tpl);
        lock(&self.shared.owned).extend(parts.iter().cloned());
        if !parts.is_empty() {
            self.shared.push(GroupEvent::Assigned(parts));
        }
        self.shared.rebalancing.store(false, Ordering::Release);
    }
}

/// One instance in a Kafka consumer group.
struct KafkaMember {
    group: String,
    /// This member's name in errors (group, process, instance).
    name: String,
    topics: Vec<Subscription>,
    consumer: Arc<BaseConsumer<Context>>,
    shared: Arc<Shared>,
    timeout: Duration,
    diagnostics: Arc<Diagnostics>,
}

impl std::fmt::Debug for KafkaMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaMember")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Member for KafkaMember {
    fn poll(&self) -> Result<Option<GroupEvent>> {
        Ok(lock(&self.shared.events).pop_front())
    }

    fn done(&self, event: &GroupEvent) -> Result<()> {
        if let GroupEvent::Revoked(_) = event {
            *lock(&self.shared.revoked_done) += 1;
            self.shared.done.notify_all();
        }
        Ok(())
    }

    fn commit(&self, positions: &[(TopicPartition, u64)]) -> Result<()> {
        let member = self.name.clone();
        let not_owned: Vec<TopicPartition> = {
            let owned = lock(&self.shared.owned);
            positions
                .iter()
                .filter(|(tp, _)| !owned.contains(tp))
                .map(|(tp, _)| tp.clone())
                .collect()
        };
        if !not_owned.is_empty() {
            return Err(Error::Fenced {
                group: self.group.clone(),
                member,
                partitions: not_owned,
            });
        }
        if positions.is_empty() {
            return Ok(());
        }
        let tpl = positions::to_list(positions)?;
        self.consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| match e.rdkafka_error_code() {
                Some(
                    RDKafkaErrorCode::IllegalGeneration
                    | RDKafkaErrorCode::UnknownMemberId
                    | RDKafkaErrorCode::FencedInstanceId,
                ) => Error::Fenced {
                    group: self.group.clone(),
                    member,
                    partitions: positions.iter().map(|(tp, _)| tp.clone()).collect(),
                },
                // Kafka's retriable commit errors: the group is between
                // generations, or its coordinator is moving or loading.
                Some(
                    code @ (RDKafkaErrorCode::RebalanceInProgress
                    | RDKafkaErrorCode::NotCoordinator
                    | RDKafkaErrorCode::CoordinatorLoadInProgress
                    | RDKafkaErrorCode::CoordinatorNotAvailable),
                ) => Error::GroupBusy {
                    group: self.group.clone(),
                    reason: code.to_string(),
                },
                _ => self
                    .diagnostics
                    .error(format!("committing positions of group '{}'", self.group), e),
            })
    }

    fn committed(&self) -> Result<BTreeMap<TopicPartition, u64>> {
        let mut tpl = TopicPartitionList::new();
        for t in &self.topics {
            tpl.add_partition_range(&t.topic, 0, t.partitions as i32 - 1);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, self.timeout)
            .map_err(|e| {
                self.diagnostics
                    .error(format!("reading positions of group '{}'", self.group), e)
            })?;
        Ok(positions::from_list(&committed))
    }

    fn standby_partitions(&self) -> Result<Option<Vec<TopicPartition>>> {
        let Some(me) = member_id(&self.consumer) else {
            return Ok(None);
        };
        let list = self
            .consumer
            // Short: the task manager asks, between handling group events.
            .fetch_group_list(Some(&self.group), self.timeout.min(Duration::from_secs(2)))
            .map_err(|e| {
                self.diagnostics
                    .error(format!("describing group '{}'", self.group), e)
            })?;
        let Some(group) = list.groups().iter().find(|g| g.name() == self.group) else {
            return Ok(None);
        };
        if group.state() != "Stable" {
            return Ok(None);
        }
        let members: Vec<String> = group.members().iter().map(|m| m.id().to_owned()).collect();
        if !members.contains(&me) {
            return Ok(None);
        }
        Ok(Some(
            crate::standby::if_one_left(&members, &me, &self.topics)
                .into_iter()
                .collect(),
        ))
    }

    fn settled(&self) -> bool {
        !self.shared.rebalancing.load(Ordering::Acquire) && lock(&self.shared.events).is_empty()
    }

    fn leave(&self) {
        self.shared.leaving.store(true, Ordering::Release);
        self.shared.done.notify_all();
    }
}
