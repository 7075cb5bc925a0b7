//! Reading partitions: one librdkafka consumer per partition being read,
//! assigned (no group) and positioned where the last fetch ended. A
//! consumer unused for the configured idle time
//! ([`KafkaConfig::reader_idle_timeout`](crate::KafkaConfig::reader_idle_timeout))
//! is closed, so that partitions an instance no longer reads (moved to
//! another instance, a changelog restored once) stop fetching in the
//! background.

use crate::diagnostics::Reporting;
use crate::error::backend;
use crate::log::{KafkaLog, READER_DEFAULTS};
use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tributary::log::{LogReader, TopicPartition};
use tributary::{Error, Header, Record, Result};

/// How long a fetch that found nothing trusts the partition's end it last
/// asked the broker for, before asking again (so that idle partitions do
/// not send a request per fetch).
const END_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// The open readers, one per partition.
pub(crate) struct Readers {
    open: Mutex<HashMap<TopicPartition, Arc<Mutex<PartitionReader>>>>,
    /// When idle readers were last looked for.
    swept: Mutex<Instant>,
}

impl Default for Readers {
    fn default() -> Self {
        Readers {
            open: Mutex::default(),
            swept: Mutex::new(Instant::now()),
        }
    }
}

/// A consumer assigned to one partition, and the offset its next message has.
struct PartitionReader {
    consumer: BaseConsumer<Reporting>,
    next: u64,
    /// When the partition's end was last asked for, and what it was.
    end_checked: Option<(Instant, u64)>,
    /// When it was last fetched from.
    used: Instant,
}

impl Readers {
    /// Closes the readers of a deleted topic.
    pub(crate) fn forget_topic(&self, topic: &str) {
        self.lock().retain(|tp, _| tp.topic != topic);
    }

    /// The number of readers open.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Closes the readers unused for `idle` (looked for at most every
    /// `idle / 4`). Closing a consumer takes a moment (it leaves its
    /// broker connections): that is done on a thread of its own, not on
    /// the fetching one.
    fn close_idle(&self, idle: Duration) {
        {
            let mut swept = self.swept.lock().unwrap_or_else(PoisonError::into_inner);
            if swept.elapsed() < idle / 4 {
                return;
            }
            *swept = Instant::now();
        }
        let mut closing = Vec::new();
        self.lock().retain(|_, r| {
            // A reader in use (locked, or held by a fetch) is kept.
            let idle =
                Arc::strong_count(r) == 1 && r.try_lock().is_ok_and(|r| r.used.elapsed() >= idle);
            if idle {
                closing.push(Arc::clone(r));
            }
            !idle
        });
        if closing.is_empty() {
            return;
        }
        tracing::debug!(readers = closing.len(), "closing idle partition readers");
        let _ = std::thread::Builder::new()
            .name("kafka-close-readers".into())
            .spawn(move || drop(closing));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<TopicPartition, Arc<Mutex<PartitionReader>>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KafkaLog {
    /// The reader of a partition, positioned at `offset`.
    fn reader(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<Arc<Mutex<PartitionReader>>> {
        self.readers.close_idle(self.config.reader_idle());
        let tp = TopicPartition::new(topic, partition);
        if let Some(r) = self.readers.lock().get(&tp) {
            return Ok(Arc::clone(r));
        }
        self.check_partition(topic, partition)?;
        let consumer: BaseConsumer<Reporting> = self
            .config
            .client(READER_DEFAULTS)
            .create_with_context(self.config.reporting())
            .map_err(|e| self.config.error(format!("creating a consumer of {tp}"), e))?;
        assign(&consumer, topic, partition, offset)?;
        let reader = Arc::new(Mutex::new(PartitionReader {
            consumer,
            next: offset,
            end_checked: None,
            used: Instant::now(),
        }));
        Ok(Arc::clone(self.readers.lock().entry(tp).or_insert(reader)))
    }
}

fn assign(
    consumer: &BaseConsumer<Reporting>,
    topic: &str,
    partition: u32,
    offset: u64,
) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition as i32, Offset::Offset(offset as i64))
        .and_then(|()| consumer.assign(&tpl))
        .map_err(|e| backend(format!("assigning {topic}/{partition} at {offset}"), e))
}

impl LogReader for KafkaLog {
    fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> Result<()> {
        let reader = self.reader(topic, partition, offset)?;
        let mut r = reader.lock().unwrap_or_else(PoisonError::into_inner);
        r.used = Instant::now();
        if r.next != offset {
            // Re-assigning drops what was prefetched for the old position.
            assign(&r.consumer, topic, partition, offset)?;
            r.next = offset;
        }
        // librdkafka fetches in the background: when nothing has arrived
        // yet, ask the broker where the partition ends, and wait only if
        // records are there. So an empty fetch means that the partition has
        // nothing at or after `offset` (as of a few milliseconds ago), as on
        // the embedded log.
        let mut bytes = 0usize;
        let mut deadline = None;
        while bytes < max_bytes {
            let polled = match r.consumer.poll(Duration::ZERO) {
                Some(polled) => polled,
                None if !out.is_empty() => break,
                None => {
                    let deadline = *deadline
                        .get_or_insert_with(|| Instant::now() + self.config.request_timeout());
                    if !self.records_waiting(&mut r, topic, partition, offset)? {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(Error::Runtime(format!(
                            "{topic}/{partition} holds records from offset {offset} on, but \
                             none arrived within {:?}",
                            self.config.request_timeout()
                        )));
                    }
                    match r.consumer.poll(Duration::from_millis(10)) {
                        Some(polled) => polled,
                        None => continue,
                    }
                }
            };
            let m = polled.map_err(|e| {
                self.config
                    .error(format!("fetching {topic}/{partition}"), e)
            })?;
            if m.offset() < offset as i64 {
                continue;
            }
            let record = to_record(&m);
            bytes += 16
                + record.key.as_ref().map_or(0, Bytes::len)
                + record.value.as_ref().map_or(0, Bytes::len);
            r.next = record.offset + 1;
            out.push(record);
        }
        Ok(())
    }

    fn offsets(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        self.check_partition(topic, partition)?;
        self.watermarks(topic, partition)
    }

    fn offset_for_timestamp(&self, topic: &str, partition: u32, timestamp: i64) -> Result<u64> {
        let mut tpl = TopicPartitionList::new();
        let context = || format!("looking up time {timestamp} in {topic}/{partition}");
        tpl.add_partition_offset(topic, partition as i32, Offset::Offset(timestamp))
            .map_err(|e| self.config.error(context(), e))?;
        let found = self
            .meta
            .offsets_for_times(tpl, self.config.request_timeout())
            .map_err(|e| self.config.error(context(), e))?;
        match found
            .find_partition(topic, partition as i32)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) if o >= 0 => Ok(o as u64),
            // No record at or after the time: the end.
            _ => Ok(self.offsets(topic, partition)?.1),
        }
    }
}

impl KafkaLog {
    fn check_partition(&self, topic: &str, partition: u32) -> Result<()> {
        let partitions = self.partitions(topic)?;
        if partition >= partitions {
            return Err(Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions,
            });
        }
        Ok(())
    }

    /// The partition's first offset and end (high watermark), asked of the
    /// broker.
    fn watermarks(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        let (low, high) = self
            .meta
            .fetch_watermarks(topic, partition as i32, self.config.request_timeout())
            .map_err(|e| {
                self.config
                    .error(format!("reading the offsets of {topic}/{partition}"), e)
            })?;
        Ok((low.max(0) as u64, high.max(0) as u64))
    }

    /// Whether the partition holds records at or after `offset`, by its end
    /// as last asked (at most [`END_CHECK_INTERVAL`] ago).
    fn records_waiting(
        &self,
        r: &mut PartitionReader,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<bool> {
        let end = match r.end_checked {
            Some((at, end)) if end > offset || at.elapsed() < END_CHECK_INTERVAL => end,
            _ => {
                let (_, end) = self.watermarks(topic, partition)?;
                r.end_checked = Some((Instant::now(), end));
                end
            }
        };
        Ok(end > offset)
    }
}

/// A Kafka message as a record (keys, values and headers copied).
fn to_record(m: &impl Message) -> Record {
    let headers = m.headers().map_or_else(Vec::new, |hs| {
        (0..hs.count())
            .filter_map(|i| hs.try_get(i))
            .map(|h| Header::new(h.key, Bytes::copy_from_slice(h.value.unwrap_or_default())))
            .collect()
    });
    Record {
        offset: m.offset() as u64,
        timestamp: m.timestamp().to_millis().unwrap_or(0),
        key: m.key().map(Bytes::copy_from_slice),
        value: m.payload().map(Bytes::copy_from_slice),
        headers,
    }
}
