//! `build()` reports every problem at once; descriptions show the split
//! into sub-topologies; inputs are merged in timestamp order.

mod common;

use std::sync::Arc;
use std::time::Duration;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Error, Topology};

#[test]
fn build_reports_every_problem() {
    let mut b = Topology::builder("app");
    let s = b.stream::<String, u32>("in", Utf8, Json);
    s.filter(|_, _| true).named("step").to("out", Utf8, Json);
    s.map_values(|v| v + 1)
        .named("step")
        .to("bad topic!", Utf8, Json);
    let _again = b.stream::<String, u32>("in", Utf8, Json);
    s.to("in", Utf8, Json);
    let Err(Error::Topology(problems)) = b.build() else {
        panic!("expected a topology error")
    };
    let text = problems.join("\n");
    assert_eq!(problems.len(), 4, "{text}");
    assert!(text.contains("invalid topic name 'bad topic!'"), "{text}");
    assert!(text.contains("topic 'in' is read by two streams"), "{text}");
    assert!(text.contains("two operators are named 'step'"), "{text}");
    assert!(
        text.contains("topic 'in' is both read and written"),
        "{text}"
    );
}

#[test]
fn empty_topology_and_bad_application_name() {
    let Err(Error::Topology(p)) = Topology::builder("ok").build() else {
        panic!()
    };
    assert_eq!(
        p,
        vec!["the topology reads no topic: declare a stream first".to_string()]
    );
    let mut b = Topology::builder("bad name");
    b.stream::<String, String>("in", Utf8, Utf8);
    let Err(Error::Topology(p)) = b.build() else {
        panic!()
    };
    assert!(
        p[0].contains("invalid application name 'bad name'"),
        "{p:?}"
    );
}

#[test]
fn describe_shows_sub_topologies_split_at_repartitions() {
    let mut b = Topology::builder("shop");
    b.stream::<String, (String, u32)>("orders", Utf8, Json)
        .filter(|_, o| o.1 > 0)
        .key_by("by-item", |_, o| o.0.clone())
        .map_values(|o| o.1)
        .to("qty-by-item", Utf8, Json);
    let t = b.build().unwrap();
    assert_eq!(t.sub_topology_count(), 2);
    let text = t.describe().to_string();
    assert_eq!(
        text,
        "Topology: shop
  Sub-topology 0
    source: source-orders (topic: orders) --> filter-1
    filter: filter-1 --> key-by-1
    key-by: key-by-1 --> repartition-sink-1
    repartition-sink: repartition-sink-1 (topic: shop-by-item-repartition)
  Sub-topology 1
    repartition-source: repartition-source-1 (topic: shop-by-item-repartition) --> map-values-1
    map-values: map-values-1 --> sink-1
    sink: sink-1 (topic: qty-by-item)
"
    );
}

/// Within a task, the input with the lowest head timestamp goes first.
#[test]
fn merged_inputs_are_processed_in_timestamp_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path()).unwrap());
    for t in ["a", "b", "out"] {
        log.create_topic(t, &TopicConfig::new(1)).unwrap();
    }
    let rec = |ts: i64| (ts, Some(b"k".to_vec()), Some(ts.to_string().into_bytes()));
    common::append(log.as_ref(), "a", 0, &[rec(1), rec(3), rec(5), rec(9)]);
    common::append(log.as_ref(), "b", 0, &[rec(2), rec(4), rec(6), rec(7)]);
    let mut b = Topology::builder("merger");
    let a = b.stream::<String, i64>("a", Utf8, Json);
    let bb = b.stream::<String, i64>("b", Utf8, Json);
    a.merge(&bb).to("out", Utf8, Json);
    let config = Config {
        threads: 1,
        ..Config::default()
    };
    let running = App::new(b.build().unwrap(), Arc::clone(&log) as Arc<dyn Log>, config)
        .unwrap()
        .start()
        .unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(30))
        .unwrap();
    running.shutdown().unwrap();
    let ts: Vec<i64> = common::read_all(log.as_ref(), "out", 0)
        .iter()
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(ts, vec![1, 2, 3, 4, 5, 6, 7, 9]);
}

/// key_by repartitions by the new key with Kafka's partitioner, across tasks.
#[test]
fn key_by_routes_by_new_key_across_partitions() {
    let mut b = Topology::builder("app");
    b.stream::<String, String>("in", Utf8, Utf8)
        .key_by("by-word", |_, v| v.clone())
        .to("out", Utf8, Utf8);
    let driver =
        tributary::testing::TestDriver::with_partitions(b.build().unwrap(), 4, Config::default())
            .unwrap();
    let input = driver.input("in", Utf8, Utf8);
    for (i, w) in ["x", "y", "z", "x", "w", "y"].iter().enumerate() {
        input.pipe(format!("k{i}"), w.to_string()).unwrap();
    }
    let out = driver.output("out", Utf8, Utf8).read_records().unwrap();
    assert_eq!(out.len(), 6);
    for r in &out {
        assert_eq!(r.key, r.value);
        assert_eq!(
            r.partition,
            tributary::partition_for_key(r.key.as_bytes(), 4),
            "{r:?}"
        );
    }
}
