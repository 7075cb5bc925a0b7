//! Producers and consumers in another language: a Python program using
//! confluent-kafka produces JSON orders keyed by user, a Tributary
//! application on the broker sums them per user, and a second Python
//! program reads the totals. Keys land in the same partitions on both sides
//! (Kafka's murmur2), and the totals equal a plain sum.

mod broker;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tributary::codec::{Json, Utf8};
use tributary::log::{Log, TopicConfig};
use tributary::{App, Config, Topology};
use tributary_kafka::{KafkaGroups, KafkaLog};

const ORDERS: u64 = 2_000;
const USERS: u64 = 37;
const PARTITIONS: u32 = 3;

/// Produces the orders, keyed by user, with the partitioner Java clients
/// use (murmur2), and event times from 1 s on.
const PRODUCER: &str = r#"
import json, sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "partitioner": "murmur2_random"})
for i in range(int(sys.argv[2])):
    user = "u%d" % (i * 7 % int(sys.argv[3]))
    p.produce("orders", key=user, value=json.dumps({"user": user, "amount": i}),
              timestamp=1000 + i)
    p.poll(0)
assert p.flush(30) == 0
"#;

/// Reads every record of the totals topic and prints it as a JSON line.
const CONSUMER: &str = r#"
import json, sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "python-reader",
              "enable.auto.commit": False})
parts = [TopicPartition("totals", p, 0) for p in range(int(sys.argv[2]))]
ends = {p.partition: c.get_watermark_offsets(p, timeout=10)[1] for p in parts}
c.assign(parts)
seen = {p: 0 for p in ends}
while any(seen[p] < ends[p] for p in ends):
    m = c.poll(10)
    assert m is not None, "no record within 10 s: %s of %s" % (seen, ends)
    assert m.error() is None, m.error()
    seen[m.partition()] = m.offset() + 1
    print(json.dumps({"partition": m.partition(), "key": m.key().decode(),
                      "value": json.loads(m.value())}))
c.close()
"#;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(broker::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Order {
    amount: u64,
}

fn topology() -> Topology {
    let mut b = Topology::builder("sums");
    b.stream::<String, Order>("orders", Utf8, Json)
        .group_by_key()
        .aggregate("totals-per-user", || 0u64, |_user, o, sum| sum + o.amount)
        .to_stream()
        .to("totals", Utf8, Json);
    b.build().unwrap()
}

#[test]
fn python_producers_and_consumers_meet_a_tributary_application() {
    let broker = broker::Broker::start(broker::Kind::Noida);
    let brokers = broker.config().brokers().to_owned();
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(broker.config()).unwrap());
    for t in ["orders", "totals"] {
        log.create_topic(t, &TopicConfig::new(PARTITIONS)).unwrap();
    }
    python(
        PRODUCER,
        &[&brokers, &ORDERS.to_string(), &USERS.to_string()],
    );

    // Python put every key where Tributary's partitioner would.
    for p in 0..PARTITIONS {
        let mut records = Vec::new();
        log.fetch("orders", p, 0, usize::MAX, &mut records).unwrap();
        for r in &records {
            let key = r.key.as_deref().unwrap();
            assert_eq!(tributary::partition_for_key(key, PARTITIONS), p);
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        application_id: Some("sums".into()),
        state_dir: dir.path().to_path_buf(),
        threads: 2,
        ..Config::default()
    };
    let running = App::new(topology(), Arc::clone(&log), config)
        .unwrap()
        .with_membership(Arc::new(KafkaGroups::new(broker.config())))
        .start()
        .unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    let stats = running.shutdown().unwrap();
    assert_eq!(stats.records_in, ORDERS);

    // The reference: a plain sum per user.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..ORDERS {
        *expected.entry(format!("u{}", i * 7 % USERS)).or_default() += i;
    }
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for line in python(CONSUMER, &[&brokers, &PARTITIONS.to_string()]).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = v["key"].as_str().unwrap().to_owned();
        let partition = v["partition"].as_u64().unwrap() as u32;
        assert_eq!(
            partition,
            tributary::partition_for_key(key.as_bytes(), PARTITIONS),
            "{key}"
        );
        last.insert(key, v["value"].as_u64().unwrap());
    }
    assert_eq!(last, expected);
}
