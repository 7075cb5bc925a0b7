//! [`KafkaLog`]: the backend traits over a Kafka cluster.

use crate::config::KafkaConfig;
use crate::diagnostics::Reporting;
use crate::positions;
use crate::reader::Readers;
use crate::writer::Writer;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use tributary::log::{Cleanup, GroupPositions, TopicAdmin, TopicConfig, TopicPartition};
use tributary::{Error, Result};

/// Topics, records and group positions on a Kafka cluster.
///
/// Reads and writes go through librdkafka clients that this value owns: a
/// producer (idempotent, lz4, batching), a consumer per partition being
/// read (no group, no auto-commit) and an admin client. Cheap to share:
/// wrap it in an `Arc` and hand it to every application of the process.
pub struct KafkaLog {
    pub(crate) config: KafkaConfig,
    admin: AdminClient<Reporting>,
    /// A consumer in no group, for metadata, watermarks and times.
    pub(crate) meta: BaseConsumer<Reporting>,
    pub(crate) writer: Writer,
    pub(crate) readers: Readers,
    /// Consumers with `group.id` set, for reading and resetting a group's
    /// positions (`tributary groups`); an application commits through its
    /// group member instead.
    groups: Mutex<HashMap<String, Arc<BaseConsumer<Reporting>>>>,
    /// Partition counts of the topics seen (a topic's partitions are fixed:
    /// the application never adds any).
    partition_counts: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("brokers", &self.config.brokers())
            .finish_non_exhaustive()
    }
}

/// librdkafka settings of the consumers that read partitions or metadata.
/// (librdkafka needs a `group.id` to assign partitions; these consumers
/// never join it nor commit.)
pub(crate) const READER_DEFAULTS: &[(&str, &str)] = &[
    ("group.id", "tributary-readers"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("enable.partition.eof", "false"),
    ("allow.auto.create.topics", "false"),
    ("isolation.level", "read_committed"),
];

impl KafkaLog {
    /// Connects to the cluster (clients connect lazily; a wrong address
    /// shows as an error on the first request, after the request timeout).
    pub fn connect(config: KafkaConfig) -> Result<Self> {
        let admin = config
            .client(&[])
            .create_with_context(config.reporting())
            .map_err(|e| config.error("creating a Kafka admin client", e))?;
        let meta = config
            .client(READER_DEFAULTS)
            .create_with_context(config.reporting())
            .map_err(|e| config.error("creating a Kafka consumer", e))?;
        Ok(KafkaLog {
            writer: Writer::new(&config)?,
            readers: Readers::default(),
            admin,
            meta,
            groups: Mutex::new(HashMap::new()),
            partition_counts: Mutex::new(HashMap::new()),
            config,
        })
    }

    /// The configuration it was connected with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// The partition readers (librdkafka consumers) open now: one per
    /// partition read within the
    /// [idle timeout](KafkaConfig::reader_idle_timeout).
    pub fn open_readers(&self) -> usize {
        self.readers.len()
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(self.config.request_timeout()))
    }

    /// The number of partitions of a topic, from the cluster's metadata
    /// (asked once per topic).
    pub(crate) fn partitions(&self, topic: &str) -> Result<u32> {
        let counts = || {
            self.partition_counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(n) = counts().get(topic) {
            return Ok(*n);
        }
        let n = self.partitions_from_metadata(topic)?;
        counts().insert(topic.to_owned(), n);
        Ok(n)
    }

    fn partitions_from_metadata(&self, topic: &str) -> Result<u32> {
        let md = self
            .meta
            .fetch_metadata(Some(topic), self.config.request_timeout())
            .map_err(|e| {
                self.config
                    .error(format!("reading the metadata of topic '{topic}'"), e)
            })?;
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
            return Err(Error::UnknownTopic(topic.to_owned()));
        };
        match t.error() {
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
                Err(Error::UnknownTopic(topic.to_owned()))
            }
            Some(e) => Err(Error::Backend {
                context: format!("reading the metadata of topic '{topic}'"),
                source: Box::new(RDKafkaErrorCode::from(e)),
            }),
            None if t.partitions().is_empty() => Err(Error::UnknownTopic(topic.to_owned())),
            None => Ok(t.partitions().len() as u32),
        }
    }

    /// A consumer of `group` (created once), for its positions.
    fn group_consumer(&self, group: &str) -> Result<Arc<BaseConsumer<Reporting>>> {
        tributary::log::validate_name("group", group)?;
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = groups.get(group) {
            return Ok(Arc::clone(c));
        }
        let c: BaseConsumer<Reporting> = self
            .config
            .client(READER_DEFAULTS)
            .set("group.id", group)
            .create_with_context(self.config.reporting())
            .map_err(|e| {
                self.config
                    .error(format!("creating a consumer of group '{group}'"), e)
            })?;
        let c = Arc::new(c);
        groups.insert(group.to_owned(), Arc::clone(&c));
        Ok(c)
    }

    /// Every partition of every topic, for reading all of a group's positions.
    fn all_partitions(&self) -> Result<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        for topic in self.list_topics()? {
            let n = self.partitions(&topic)?;
            tpl.add_partition_range(&topic, 0, n as i32 - 1);
        }
        Ok(tpl)
    }
}

impl TopicAdmin for KafkaLog {
    fn create_topic(&self, name: &str, config: &TopicConfig) -> Result<()> {
        tributary::log::validate_name("topic", name)?;
        config.validate()?;
        // No retention is Kafka's -1 (the broker's default is 7 days).
        let retention_ms = config.retention_ms.map_or("-1".into(), |ms| ms.to_string());
        let retention_bytes = config
            .retention_bytes
            .map_or("-1".into(), |b| b.to_string());
        let mut topic = NewTopic::new(
            name,
            config.partitions as i32,
            TopicReplication::Fixed(self.config.replication()),
        );
        topic = topic.set(
            "cleanup.policy",
            match config.cleanup {
                Cleanup::Delete => "delete",
                Cleanup::Compact => "compact",
            },
        );
        topic = topic
            .set("retention.ms", &retention_ms)
            .set("retention.bytes", &retention_bytes);
        let context = || format!("creating topic '{name}'");
        let results = block_on(self.admin.create_topics([&topic], &self.admin_options()))
            .map_err(|e| self.config.error(context(), e))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    return Err(Error::TopicExists(name.to_owned()));
                }
                Err((_, code)) => {
                    return Err(Error::Backend {
                        context: context(),
                        source: Box::new(code),
                    });
                }
            }
        }
        // Creation is asynchronous in Kafka: wait until the metadata shows it.
        let deadline = std::time::Instant::now() + self.config.request_timeout();
        loop {
            match self.partitions_from_metadata(name) {
                Ok(n) if n == config.partitions => return Ok(()),
                Ok(_) | Err(Error::UnknownTopic(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Ok(n) => {
                    return Err(Error::Runtime(format!(
                        "topic '{name}' was created with {} partitions but shows {n}",
                        config.partitions
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn topic_config(&self, name: &str) -> Result<TopicConfig> {
        // Always asked of the cluster: another client may have created or
        // deleted the topic.
        let partitions = self.partitions_from_metadata(name)?;
        let mut config = TopicConfig::new(partitions);
        let context = || format!("describing topic '{name}'");
        let results = block_on(
            self.admin
                .describe_configs([&ResourceSpecifier::Topic(name)], &self.admin_options()),
        )
        .map_err(|e| self.config.error(context(), e))?;
        // Brokers that do not describe configurations (some test brokers)
        // leave the defaults: deletion, no retention.
        for resource in results.into_iter().flatten() {
            for entry in &resource.entries {
                let value = entry.value.as_deref().unwrap_or_default();
                match entry.name.as_str() {
                    "cleanup.policy" if value.contains("compact") => {
                        config.cleanup = Cleanup::Compact
                    }
                    "retention.ms" => {
                        config.retention_ms = value.parse().ok().filter(|ms: &i64| *ms > 0)
                    }
                    "retention.bytes" => {
                        config.retention_bytes = value
                            .parse::<i64>()
                            .ok()
                            .and_then(|b| u64::try_from(b).ok())
                    }
                    _ => {}
                }
            }
        }
        Ok(config)
    }

    fn list_topics(&self) -> Result<Vec<String>> {
        let md = self
            .meta
            .fetch_metadata(None, self.config.request_timeout())
            .map_err(|e| self.config.error("listing topics", e))?;
        let mut names: Vec<String> = md
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .filter(|n| !n.starts_with("__"))
            .collect();
        names.sort();
        Ok(names)
    }

    fn delete_topic(&self, name: &str) -> Result<()> {
        let context = || format!("deleting topic '{name}'");
        let results = block_on(self.admin.delete_topics(&[name], &self.admin_options()))
            .map_err(|e| self.config.error(context(), e))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                    return Err(Error::UnknownTopic(name.to_owned()));
                }
                Err((_, code)) => {
                    return Err(Error::Backend {
                        context: context(),
                        source: Box::new(code),
                    });
                }
            }
        }
        self.readers.forget_topic(name);
        self.partition_counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        Ok(())
    }
}

impl GroupPositions for KafkaLog {
    /// Commits as a consumer outside the group: Kafka accepts it only while
    /// the group has no active member (stop the application first), as
    /// `kafka-consumer-groups --reset-offsets` requires.
    fn commit_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        let consumer = self.group_consumer(group)?;
        let tpl = positions::to_list(offsets)?;
        consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
            let hint = match e.rdkafka_error_code() {
                Some(RDKafkaErrorCode::UnknownMemberId | RDKafkaErrorCode::IllegalGeneration) => {
                    " (the group has active members: stop the application first)"
                }
                _ => "",
            };
            self.config
                .error(format!("committing positions of group '{group}'{hint}"), e)
        })
    }

    fn committed_offsets(&self, group: &str) -> Result<BTreeMap<TopicPartition, u64>> {
        let consumer = self.group_consumer(group)?;
        let tpl = self.all_partitions()?;
        let committed = consumer
            .committed_offsets(tpl, self.config.request_timeout())
            .map_err(|e| {
                self.config
                    .error(format!("reading positions of group '{group}'"), e)
            })?;
        Ok(positions::from_list(&committed))
    }

    /// Kafka keeps positions per partition and cannot forget one without
    /// deleting the group: the given positions are committed and every
    /// other stored position of the group is committed as the partition's
    /// start, so nothing stays behind.
    fn replace_offsets(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        let mut all: BTreeMap<TopicPartition, u64> = BTreeMap::new();
        for tp in self.committed_offsets(group)?.into_keys() {
            let (start, _) = tributary::log::LogReader::offsets(self, &tp.topic, tp.partition)?;
            all.insert(tp, start);
        }
        all.extend(offsets.iter().cloned());
        let all: Vec<_> = all.into_iter().collect();
        self.commit_offsets(group, &all)
    }

    fn list_groups(&self) -> Result<Vec<String>> {
        let list = self
            .meta
            .fetch_group_list(None, self.config.request_timeout())
            .map_err(|e| self.config.error("listing groups", e))?;
        let mut names: Vec<String> = list.groups().iter().map(|g| g.name().to_owned()).collect();
        names.sort();
        Ok(names)
    }
}

/// Runs a future to completion on this thread (the admin client's futures
/// are completed by librdkafka's own threads; no executor is needed).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}
