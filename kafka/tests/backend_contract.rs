//! One contract, three backends: what every `Log` must do (topics, append
//! and fetch, offsets, seek by time, group positions), checked with exact
//! values on the in-memory log, the embedded log and a Kafka broker.

mod broker;

use std::collections::BTreeMap;
use tributary::log::{EmbeddedLog, Log, MemoryLog, TopicConfig, TopicPartition, prelude::*};
use tributary::{Batch, Error, Header, Record};
use tributary_kafka::KafkaLog;

/// Records as the contract writes them: (timestamp, key, value, headers).
fn records(from: i64, n: i64) -> Vec<Record> {
    (from..from + n)
        .map(|i| {
            let mut r = Record::new(
                1_700_000_000_000 + i * 10,
                (i % 3 != 0).then(|| format!("key-{i}").into_bytes()),
                (i % 5 != 4).then(|| format!("{{\"n\":{i}}}").into_bytes()),
            );
            if i % 2 == 0 {
                r.headers
                    .push(Header::new("h", format!("v{i}").into_bytes()));
            }
            r
        })
        .collect()
}

fn batch(recs: &[Record]) -> Batch {
    let mut b = Batch::new();
    for r in recs {
        b.push_record(r);
    }
    b
}

/// Reads a whole partition from `from` to its end.
fn read_all(log: &dyn Log, topic: &str, partition: u32, from: u64) -> Vec<Record> {
    let end = log.offsets(topic, partition).unwrap().1;
    let mut out = Vec::new();
    let mut pos = from;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pos < end {
        assert!(
            std::time::Instant::now() < deadline,
            "reading {topic}/{partition} stalled at {pos} of {end}"
        );
        let before = out.len();
        log.fetch(topic, partition, pos, 1 << 16, &mut out).unwrap();
        if let Some(last) = out[before..].last() {
            pos = last.offset + 1;
        }
    }
    out
}

fn with_offsets(recs: &[Record], base: u64) -> Vec<Record> {
    recs.iter()
        .enumerate()
        .map(|(i, r)| Record {
            offset: base + i as u64,
            ..r.clone()
        })
        .collect()
}

fn contract(log: &dyn Log) {
    // Topics.
    log.create_topic("contract-in", &TopicConfig::new(3))
        .unwrap();
    log.create_topic("contract-log", &TopicConfig::new(2).compacted())
        .unwrap();
    assert!(matches!(
        log.create_topic("contract-in", &TopicConfig::new(3)),
        Err(Error::TopicExists(_))
    ));
    assert_eq!(
        log.topic_config("contract-in").unwrap(),
        TopicConfig::new(3)
    );
    assert_eq!(
        log.topic_config("contract-log").unwrap(),
        TopicConfig::new(2).compacted()
    );
    assert!(matches!(
        log.topic_config("contract-none"),
        Err(Error::UnknownTopic(_))
    ));
    let topics = log.list_topics().unwrap();
    assert!(topics.contains(&"contract-in".to_string()), "{topics:?}");

    // Append and fetch: offsets dense from 0, records exactly as written.
    let first = records(0, 40);
    let second = records(40, 25);
    assert_eq!(log.append("contract-in", 1, &batch(&first)).unwrap(), 0);
    assert_eq!(log.append("contract-in", 1, &batch(&second)).unwrap(), 40);
    log.flush("contract-in", 1).unwrap();
    assert_eq!(log.offsets("contract-in", 1).unwrap(), (0, 65));
    assert_eq!(log.offsets("contract-in", 0).unwrap(), (0, 0));
    let all = read_all(log, "contract-in", 1, 0);
    let mut want = with_offsets(&first, 0);
    want.extend(with_offsets(&second, 40));
    assert_eq!(all, want);
    // From the middle of a batch, and again from an earlier position.
    assert_eq!(read_all(log, "contract-in", 1, 17), want[17..].to_vec());
    assert_eq!(read_all(log, "contract-in", 1, 3), want[3..].to_vec());
    // An empty partition gives nothing.
    let mut none = Vec::new();
    log.fetch("contract-in", 0, 0, 1 << 16, &mut none).unwrap();
    assert!(none.is_empty());
    assert!(matches!(
        log.fetch("contract-in", 7, 0, 1 << 16, &mut none),
        Err(Error::UnknownPartition { .. })
    ));

    // Send (no offsets awaited) then flush: everything is there, in order.
    let third = records(65, 30);
    log.send("contract-in", 2, &batch(&third[..10])).unwrap();
    log.send("contract-in", 2, &batch(&third[10..])).unwrap();
    log.flush("contract-in", 2).unwrap();
    assert_eq!(read_all(log, "contract-in", 2, 0), with_offsets(&third, 0));

    // Seek by time: the first record at or after the time, else the end.
    let t = want[30].timestamp;
    assert_eq!(log.offset_for_timestamp("contract-in", 1, t).unwrap(), 30);
    assert_eq!(
        log.offset_for_timestamp("contract-in", 1, t - 5).unwrap(),
        30
    );
    assert_eq!(log.offset_for_timestamp("contract-in", 1, 0).unwrap(), 0);
    assert_eq!(
        log.offset_for_timestamp("contract-in", 1, i64::MAX / 2)
            .unwrap(),
        65
    );

    // Group positions.
    let tp = |p| TopicPartition::new("contract-in", p);
    log.commit_offsets("contract-group", &[(tp(1), 12), (tp(2), 30)])
        .unwrap();
    log.reset_offsets("contract-group", &[(tp(1), 5)]).unwrap();
    assert_eq!(
        log.committed_offsets("contract-group").unwrap(),
        BTreeMap::from([(tp(1), 5), (tp(2), 30)])
    );
    assert!(
        log.list_groups()
            .unwrap()
            .contains(&"contract-group".to_string())
    );

    // Deleting.
    log.delete_topic("contract-log").unwrap();
    assert!(matches!(
        log.topic_config("contract-log"),
        Err(Error::UnknownTopic(_))
    ));
}

#[test]
fn the_memory_log_keeps_the_contract() {
    contract(&MemoryLog::new());
}

#[test]
fn the_embedded_log_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&EmbeddedLog::open(dir.path()).unwrap());
}

#[test]
fn a_kafka_broker_keeps_the_contract() {
    let broker = broker::Broker::start(broker::Kind::Noida);
    let log = KafkaLog::connect(broker.config()).unwrap();
    contract(&log);
}

#[test]
fn idle_partition_readers_are_closed_and_reopened_where_asked() {
    let broker = broker::Broker::start(broker::Kind::Noida);
    let idle = std::time::Duration::from_millis(400);
    let log = KafkaLog::connect(broker.config().reader_idle_timeout(idle)).unwrap();
    log.create_topic("idle-readers", &TopicConfig::new(4))
        .unwrap();
    let recs = records(0, 20);
    for p in 0..4 {
        log.append("idle-readers", p, &batch(&recs)).unwrap();
        log.flush("idle-readers", p).unwrap();
    }
    for p in 0..4 {
        assert_eq!(read_all(&log, "idle-readers", p, 0), with_offsets(&recs, 0));
    }
    assert_eq!(log.open_readers(), 4);
    // Partition 0 is read on; the others sit unused past the idle time.
    let until = std::time::Instant::now() + idle * 3;
    while std::time::Instant::now() < until {
        assert_eq!(
            read_all(&log, "idle-readers", 0, 10),
            with_offsets(&recs[10..], 10)
        );
        std::thread::sleep(idle / 8);
    }
    assert_eq!(log.open_readers(), 1, "the unused readers are closed");
    // A closed reader's partition reads as before, from any offset.
    assert_eq!(
        read_all(&log, "idle-readers", 3, 7),
        with_offsets(&recs[7..], 7)
    );
    assert_eq!(log.open_readers(), 2);
}
