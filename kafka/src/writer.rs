//! Writing partitions: one idempotent librdkafka producer per log.

use crate::config::KafkaConfig;
use crate::diagnostics::Diagnostics;
use crate::log::KafkaLog;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tributary::log::{LogWriter, TopicPartition};
use tributary::{Batch, Error, Result};

/// librdkafka settings of the producer: nothing lost or duplicated by
/// retries (idempotence), compressed, batched.
const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "5"),
    ("batch.size", "1000000"),
    ("queue.buffering.max.kbytes", "262144"),
];

/// The producer and what its delivery reports said.
pub(crate) struct Writer {
    producer: ThreadedProducer<Deliveries>,
}

impl Writer {
    pub(crate) fn new(config: &KafkaConfig) -> Result<Self> {
        let producer = config
            .client(PRODUCER_DEFAULTS)
            .create_with_context(Deliveries {
                diagnostics: Arc::clone(config.diagnostics()),
                ..Deliveries::default()
            })
            .map_err(|e| config.error("creating a Kafka producer", e))?;
        Ok(Writer { producer })
    }
}

/// Receives delivery reports: the offset of a batch's first record for
/// whoever waits for it, and failures, kept per partition until `flush`
/// reports them.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<HashMap<TopicPartition, KafkaError>>,
    /// Appends waiting for their first record's offset, by ticket (the
    /// record's delivery opaque; 0 for records nobody waits for).
    waiting: Mutex<HashMap<usize, Arc<FirstOffset>>>,
    next_ticket: std::sync::atomic::AtomicUsize,
    diagnostics: Arc<Diagnostics>,
}

impl ClientContext for Deliveries {
    fn error(&self, error: KafkaError, reason: &str) {
        self.diagnostics.report(&error, reason);
    }
}

/// Where a waiting `append` learns its first record's offset.
#[derive(Default)]
struct FirstOffset {
    result: Mutex<Option<std::result::Result<i64, KafkaError>>>,
    ready: Condvar,
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: usize) {
        let outcome = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, m)) => {
                let tp = TopicPartition::new(m.topic(), m.partition().max(0) as u32);
                self.failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(tp)
                    .or_insert_with(|| e.clone());
                Err(e.clone())
            }
        };
        let first = (ticket != 0)
            .then(|| {
                self.waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&ticket)
            })
            .flatten();
        if let Some(first) = first {
            *first.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
            first.ready.notify_all();
        }
    }
}

impl KafkaLog {
    /// Hands every record of `batch` to the producer; `first` hears the
    /// first record's delivery.
    fn produce(
        &self,
        topic: &str,
        partition: u32,
        batch: &Batch,
        first: Option<Arc<FirstOffset>>,
    ) -> Result<()> {
        self.failure(topic, partition)?;
        let deliveries = self.writer.producer.context();
        let mut first = first.map(|waiter| {
            let ticket = 1 + deliveries
                .next_ticket
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            deliveries
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ticket, waiter);
            ticket
        });
        for r in batch.iter() {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (name, value) in r.headers.iter() {
                headers = headers.insert(Header {
                    key: name,
                    value: Some(value),
                });
            }
            if r.timestamp < 0 {
                return Err(Error::InvalidConfig(format!(
                    "a record for {topic}/{partition} has timestamp {}: Kafka records cannot \
                     have negative timestamps",
                    r.timestamp
                )));
            }
            let mut record = BaseRecord::with_opaque_to(topic, first.take().unwrap_or(0))
                .partition(partition as i32)
                // librdkafka takes 0 for "now": the epoch's first
                // millisecond is written as the next one instead.
                .timestamp(r.timestamp.max(1))
                .headers(headers);
            if let Some(k) = r.key {
                record = record.key(k);
            }
            if let Some(v) = r.value {
                record = record.payload(v);
            }
            loop {
                match self.writer.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The producer's queue is full: wait for deliveries.
                        record = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((e, _)) => {
                        return Err(self
                            .config
                            .error(format!("producing to {topic}/{partition}"), e));
                    }
                }
            }
        }
        Ok(())
    }

    /// The first failed delivery to a partition since the last check.
    fn failure(&self, topic: &str, partition: u32) -> Result<()> {
        let tp = TopicPartition::new(topic, partition);
        let failed = self
            .writer
            .producer
            .context()
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&tp);
        match failed {
            Some(e) => Err(self.config.error(format!("delivering records to {tp}"), e)),
            None => Ok(()),
        }
    }
}

impl LogWriter for KafkaLog {
    fn append(&self, topic: &str, partition: u32, batch: &Batch) -> Result<u64> {
        if batch.is_empty() {
            return Ok(tributary::log::LogReader::offsets(self, topic, partition)?.1);
        }
        let first = Arc::new(FirstOffset::default());
        self.produce(topic, partition, batch, Some(Arc::clone(&first)))?;
        let mut result = first.result.lock().unwrap_or_else(PoisonError::into_inner);
        let timeout = self.config.request_timeout() * 2;
        let deadline = std::time::Instant::now() + timeout;
        while result.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Runtime(format!(
                    "no delivery report for {topic}/{partition} within {timeout:?}"
                )));
            }
            result = first
                .ready
                .wait_timeout(result, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        match result.take() {
            Some(Ok(offset)) => Ok(offset.max(0) as u64),
            Some(Err(e)) => Err(self
                .config
                .error(format!("producing to {topic}/{partition}"), e)),
            None => unreachable!("waited for above"),
        }
    }

    fn send(&self, topic: &str, partition: u32, batch: &Batch) -> Result<()> {
        self.produce(topic, partition, batch, None)
    }

    /// Waits until every record sent so far (to any partition) is
    /// acknowledged, then reports a failed delivery to this partition.
    fn flush(&self, topic: &str, partition: u32) -> Result<()> {
        self.writer
            .producer
            .flush(self.config.request_timeout())
            .map_err(|e| {
                self.config
                    .error(format!("flushing records to {topic}/{partition}"), e)
            })?;
        self.failure(topic, partition)
    }
}
