//! Records that fail to decode go to the dead-letter topic with their bytes
//! intact, and the pipeline goes on; or they stop it, by choice.

mod common;

use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, TopicPartition, prelude::*};
use tributary::runtime::dead_letter_headers as dlh;
use tributary::{App, Config, Error, OnDecodeError, Record, Topology};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
struct Order {
    item: String,
    qty: u32,
}

fn topology() -> Topology {
    let mut b = Topology::builder("orders-app");
    b.stream::<String, Order>("orders", Utf8, Json)
        .map_values(|o| o.qty)
        .to("quantities", Utf8, Json);
    b.build().unwrap()
}

const INPUT: [&[u8]; 5] = [
    br#"{"item":"pen","qty":2}"#,
    b"{not json",
    br#"{"item":"ink","qty":5}"#,
    &[0xff, 0x00, 0xfe],
    br#"{"item":"cap"}"#,
];

fn setup() -> (tempfile::TempDir, Arc<EmbeddedLog>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path()).unwrap());
    log.create_topic("orders", &TopicConfig::new(1)).unwrap();
    log.create_topic("quantities", &TopicConfig::new(1))
        .unwrap();
    let mut b = Batch::new();
    for (i, v) in INPUT.iter().enumerate() {
        let r = Record::new(100 + i as i64, Some(format!("k{i}")), Some(v.to_vec()))
            .with_header("trace", "t1");
        b.push_record(&r);
    }
    log.append("orders", 0, &b).unwrap();
    (dir, log)
}

#[test]
fn malformed_records_go_to_dead_letter_topic_intact() {
    let (_dir, log) = setup();
    let app = App::new(
        topology(),
        Arc::clone(&log) as Arc<dyn Log>,
        Config::default(),
    )
    .unwrap();
    assert_eq!(app.dead_letter_topic(), Some("orders-app-dlq"));
    let running = app.start().unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(30))
        .unwrap();
    let stats = running.shutdown().unwrap();
    assert_eq!((stats.records_in, stats.dead_lettered), (5, 3));

    let out: Vec<u32> = common::read_all(log.as_ref(), "quantities", 0)
        .iter()
        .map(|r| serde_json::from_slice(r.value.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(out, vec![2, 5]);

    let dead = common::read_all(log.as_ref(), "orders-app-dlq", 0);
    assert_eq!(dead.len(), 3);
    for (r, (offset, raw)) in dead
        .iter()
        .zip([(1u64, INPUT[1]), (3, INPUT[3]), (4, INPUT[4])])
    {
        assert_eq!(r.value.as_deref(), Some(raw), "bytes are kept as they were");
        assert_eq!(r.key.as_deref(), Some(format!("k{offset}").as_bytes()));
        assert_eq!(r.timestamp, 100 + offset as i64);
        assert_eq!(r.header(dlh::TOPIC).unwrap().as_ref(), b"orders");
        assert_eq!(r.header(dlh::PARTITION).unwrap().as_ref(), b"0");
        assert_eq!(
            r.header(dlh::OFFSET).unwrap().as_ref(),
            offset.to_string().as_bytes()
        );
        assert_eq!(
            r.header("trace").unwrap().as_ref(),
            b"t1",
            "original headers are kept"
        );
        let err = String::from_utf8(r.header(dlh::ERROR).unwrap().to_vec()).unwrap();
        assert!(err.starts_with("json codec:"), "{err}");
    }
    // Everything was consumed and committed.
    let committed = log.committed_offsets("orders-app").unwrap();
    assert_eq!(committed[&TopicPartition::new("orders", 0)], 5);
}

#[test]
fn fail_policy_stops_with_a_clear_error_and_loses_nothing() {
    let (dir, log) = setup();
    let config = Config {
        on_decode_error: OnDecodeError::Fail,
        ..Config::default()
    };
    let app = App::new(topology(), Arc::clone(&log) as Arc<dyn Log>, config).unwrap();
    let running = app.start().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !running.is_stopping() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = running.shutdown().unwrap_err();
    assert!(
        matches!(err, Error::Decode { ref topic, partition: 0, offset: 1, .. } if topic == "orders"),
        "{err}"
    );
    assert!(err.to_string().contains("orders/0@1"), "{err}");
    // The bad record was not committed past: a restart with dead-lettering handles it.
    let committed = log.committed_offsets("orders-app").unwrap();
    assert!(
        committed
            .get(&TopicPartition::new("orders", 0))
            .is_none_or(|&o| o <= 1)
    );
    drop(log);
    let log = Arc::new(EmbeddedLog::open(dir.path()).unwrap());
    let running = App::new(
        topology(),
        Arc::clone(&log) as Arc<dyn Log>,
        Config::default(),
    )
    .unwrap()
    .start()
    .unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(30))
        .unwrap();
    running.shutdown().unwrap();
    assert_eq!(common::read_all(log.as_ref(), "orders-app-dlq", 0).len(), 3);
}

#[test]
fn test_driver_dead_letters_too() {
    let driver = tributary::testing::TestDriver::new(topology()).unwrap();
    driver
        .pipe_raw("orders", 0, &Record::new(1, Some("k"), Some(&b"nope"[..])))
        .unwrap();
    driver
        .input("orders", Utf8, Json)
        .pipe(
            "k".to_string(),
            Order {
                item: "a".into(),
                qty: 7,
            },
        )
        .unwrap();
    assert_eq!(
        driver
            .output::<String, u32, _, _>("quantities", Utf8, Json)
            .read_values()
            .unwrap(),
        vec![7]
    );
    let dead = driver
        .read_raw(driver.dead_letter_topic().unwrap())
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(&b"nope"[..]));
}

#[test]
fn unknown_topics_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path()).unwrap());
    let err = App::new(topology(), log, Config::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("unknown topic 'orders'") && msg.contains("unknown topic 'quantities'"),
        "{msg}"
    );
}
