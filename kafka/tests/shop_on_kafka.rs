//! The runtime's rebalance suite on a Kafka broker: the shop pipeline (an
//! aggregation, a stream-table join, a windowed count, a repartition) runs
//! on `KafkaLog` with `KafkaGroups` membership, and its outputs and stores
//! must equal the reference run of one uninterrupted instance on the
//! embedded log, exactly as in `core/tests/rebalance.rs`.

mod broker;
#[path = "../../core/tests/shop/mod.rs"]
mod shop;

use shop::*;
use std::sync::Arc;
use std::time::Duration;
use tributary::App;
use tributary::log::Log;
use tributary_kafka::{KafkaGroups, KafkaLog};

/// A broker with the shop's topics and profiles.
fn shop_on_a_broker() -> (broker::Broker, Arc<dyn Log>) {
    let broker = broker::Broker::start(broker::Kind::Noida);
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(broker.config()).unwrap());
    setup(log.as_ref());
    (broker, log)
}

/// An instance of the shop on the broker, in the group named after it.
fn on_kafka(
    broker: &broker::Broker,
    log: &Arc<dyn Log>,
    dir: &std::path::Path,
    instance: &str,
) -> tributary::Result<App> {
    Ok(
        App::new(topology(), Arc::clone(log), config(dir, instance))?
            .with_membership(Arc::new(KafkaGroups::new(broker.config()))),
    )
}

#[test]
fn one_instance_on_kafka_gives_the_reference_outputs_and_stores() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (expected_outputs, expected_stores, expected_in) = reference(&dir.path().join("reference"));

    let (broker, log) = shop_on_a_broker();
    produce(log.as_ref(), 0, CLICKS);
    let app = on_kafka(&broker, &log, dir.path(), "k").unwrap();
    let (stores, records_in) = run_until_caught_up(app);
    assert_eq!(records_in, expected_in);
    wait_for_commits(log.as_ref(), Duration::from_secs(10));
    assert_outputs_equal(&final_outputs(log.as_ref()), &expected_outputs);
    assert_stores_equal(&stores, &expected_stores);
}

#[test]
fn two_instances_joining_one_group_on_kafka_give_the_reference_outputs() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (expected_outputs, _, _) = reference(&dir.path().join("reference"));

    let (broker, log) = shop_on_a_broker();
    let start = |name: &str| {
        on_kafka(&broker, &log, dir.path(), name)
            .unwrap()
            .start()
            .unwrap()
    };
    let a = start("a");
    produce(log.as_ref(), 0, CLICKS / 3);
    // The second instance joins while the first processes: the group
    // rebalances, the first commits and gives up half of the partitions.
    let b = start("b");
    produce(log.as_ref(), CLICKS / 3, CLICKS);
    // Caught up first: if an instance stopped, its own error is the news.
    let caught_up =
        |r: &tributary::runtime::RunningApp| r.wait_until_caught_up(Duration::from_secs(120));
    if let Err(e) = caught_up(&a).and_then(|()| caught_up(&b)) {
        let (a, b) = (a.shutdown(), b.shutdown());
        panic!("{e}; instance a: {a:?}; instance b: {b:?}");
    }
    wait_for_commits(log.as_ref(), Duration::from_secs(120));
    let (stats_a, stats_b) = (a.shutdown().unwrap(), b.shutdown().unwrap());
    assert!(
        stats_a.records_in > 0 && stats_b.records_in > 0,
        "both instances processed input: {} and {}",
        stats_a.records_in,
        stats_b.records_in
    );
    assert_outputs_equal(&final_outputs(log.as_ref()), &expected_outputs);
}

#[test]
fn an_internal_topic_with_the_wrong_partition_count_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, log) = shop_on_a_broker();
    // Left by an earlier deployment with another partition count.
    log.create_topic(
        "shop-clicks-per-user-changelog",
        &tributary::log::TopicConfig::new(PARTITIONS - 1).compacted(),
    )
    .unwrap();
    let Err(err) = on_kafka(&broker, &log, dir.path(), "k") else {
        panic!("a wrong internal topic must be refused at startup");
    };
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "internal topic 'shop-clicks-per-user-changelog' has {} partitions but needs {PARTITIONS}",
            PARTITIONS - 1
        )),
        "{text}"
    );
}
