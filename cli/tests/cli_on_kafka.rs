//! The `tributary` command against a Kafka broker (`--brokers`): the same
//! round trips as on the embedded log (`cli.rs`), with the same output.

#[path = "../../kafka/tests/broker/mod.rs"]
mod broker;

mod common;

use common::{lines, run, run_ok};
use std::process::Output;
use tributary::log::{TopicPartition, prelude::*};
use tributary_kafka::KafkaLog;

fn tributary(brokers: &str, args: &[&str], stdin: &str) -> Output {
    run(
        &["--brokers".as_ref(), brokers.as_ref()],
        args,
        stdin.as_bytes(),
    )
}

fn ok(brokers: &str, args: &[&str], stdin: &str) -> String {
    run_ok(&["--brokers".as_ref(), brokers.as_ref()], args, stdin)
}

#[test]
fn topics_produce_consume_and_groups_on_kafka() {
    let broker = broker::Broker::start(broker::Kind::Noida);
    let config = broker.config();
    let b = config.brokers().to_owned();
    let b = b.as_str();

    assert!(ok(b, &["topics", "create", "views", "--partitions", "3"], "").contains("3 partition"));
    ok(b, &["topics", "create", "other"], "");
    assert_eq!(ok(b, &["topics", "list"], ""), "other\nviews\n");
    let input = r#"{"user":"ann","item":1,"ts":1000}
{"user":"bob","item":2,"ts":"2026-11-28T10:00:00Z"}
{"user":"ann","item":3,"ts":3000}
"#;
    let out = tributary(
        b,
        &[
            "produce",
            "views",
            "--key-field",
            "user",
            "--timestamp-field",
            "ts",
        ],
        input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("produced 3 record(s)"));

    let all = lines(&ok(b, &["consume", "views"], ""));
    assert_eq!(all.len(), 3);
    let ann: Vec<_> = all.iter().filter(|r| r["key"] == "ann").collect();
    assert_eq!(ann.len(), 2);
    // The same partitioner as on the embedded log.
    let expected = tributary::partition_for_key(b"ann", 3);
    assert_eq!(ann[0]["partition"], expected);
    assert_eq!(ann[1]["partition"], expected);
    assert_eq!(ann[0]["value"]["item"], 1);
    assert_eq!(ann[0]["timestamp"], 1000);
    let bob = all.iter().find(|r| r["key"] == "bob").unwrap();
    assert_eq!(bob["timestamp"], 1_795_860_000_000i64);
    let late = lines(&ok(
        b,
        &["consume", "views", "--from", "1970-01-01T00:00:02Z"],
        "",
    ));
    let mut items: Vec<i64> = late
        .iter()
        .map(|r| r["value"]["item"].as_i64().unwrap())
        .collect();
    items.sort();
    assert_eq!(items, vec![2, 3]);
    let p = expected.to_string();
    let one = lines(&ok(
        b,
        &["consume", "views", "--partition", &p, "--from", "1"],
        "",
    ));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["value"]["item"], 3);
    assert!(ok(b, &["topics", "describe", "views"], "").contains("3 partition(s)"));
    ok(b, &["topics", "delete", "other"], "");
    assert_eq!(ok(b, &["topics", "list"], ""), "views\n");

    // Groups: describe with lag, reset by time, to latest, to earliest.
    ok(b, &["topics", "create", "t", "--partitions", "2"], "");
    let input: String = (0..10)
        .map(|i| format!("{{\"n\":{i},\"ts\":{}}}\n", 1000 + i * 100))
        .collect();
    ok(
        b,
        &[
            "produce",
            "t",
            "--partition",
            "0",
            "--timestamp-field",
            "ts",
        ],
        &input,
    );
    let log = KafkaLog::connect(config).unwrap();
    let tp = |p| TopicPartition::new("t", p);
    log.commit_offsets("app", &[(tp(0), 4), (tp(1), 0)])
        .unwrap();
    assert!(ok(b, &["groups", "list"], "").lines().any(|g| g == "app"));
    let described = ok(b, &["groups", "describe", "app"], "");
    assert!(described.contains("total lag: 6"), "{described}");
    ok(
        b,
        &["groups", "reset", "app", "--to", "1970-01-01T00:00:01.500Z"],
        "",
    );
    assert_eq!(log.committed_offsets("app").unwrap()[&tp(0)], 5);
    ok(
        b,
        &["groups", "reset", "app", "--to", "latest", "--topic", "t"],
        "",
    );
    assert_eq!(log.committed_offsets("app").unwrap()[&tp(0)], 10);
    ok(b, &["groups", "reset", "app", "--to", "earliest"], "");
    assert_eq!(log.committed_offsets("app").unwrap()[&tp(0)], 0);
}
