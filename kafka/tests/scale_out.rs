//! Scale-out and failover with real processes on a Kafka-protocol broker.
//!
//! Three processes run the shop application (an aggregation, a stream-table
//! join, a windowed count and a repartition: the pipeline of the rebalance
//! suite) as one consumer group on a 6-partition input, two partitions
//! each, while input keeps arriving. One is killed with SIGKILL: the group
//! gives its partitions to the two survivors (within the session timeout),
//! which restore the state from the changelogs and go on. Then a fourth
//! process joins and the partitions are spread again, two each. The final
//! value of every key of every output must equal a single uninterrupted
//! instance's on the embedded log; records written twice (at-least-once:
//! what the killed process wrote after its last commit) are counted and
//! reported, as is the time from the kill to the first record a new owner
//! processed. Instances keep standby replicas (`standby_replicas = 1`), so
//! the tasks of the killed process move to where their copies are and
//! restore little.
//!
//! Each process is this test binary run again with [`INSTANCE`] set, so
//! that it runs only [`shop_instance`] (see the `instances` module).

mod broker;
mod instances;
#[path = "../../core/tests/shop/mod.rs"]
mod shop;

use instances::{Heard, Instance, wait_for_new_owner, wait_for_spread};
use shop::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tributary::App;
use tributary::log::{EmbeddedLog, Log};
use tributary_kafka::{KafkaGroups, KafkaLog};

/// Set in an instance process: `NAME,BROKER,STATE_DIR`.
const INSTANCE: &str = "TRIBUTARY_SHOP_INSTANCE";

/// The body of one instance process (does nothing in a plain test run):
/// runs the shop on the broker in the group "shop" and reports on it
/// ([`instances::report`]).
#[test]
fn shop_instance() {
    let Ok(spec) = std::env::var(INSTANCE) else {
        return;
    };
    let [name, address, dir]: [&str; 3] = spec
        .split(',')
        .collect::<Vec<_>>()
        .try_into()
        .expect("NAME,BROKER,STATE_DIR");
    init_tracing();
    let kafka = broker::client(address);
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(kafka.clone()).unwrap());
    let config = tributary::Config {
        standby_replicas: 1,
        ..config(dir.as_ref(), name)
    };
    let running = App::new(topology(), log, config)
        .unwrap()
        .with_membership(Arc::new(KafkaGroups::new(kafka)))
        .start()
        .unwrap();
    instances::report(name, running);
}

/// Starts instance `name` of the shop.
fn start(
    name: &str,
    broker: &broker::Broker,
    dir: &std::path::Path,
    heard: &Arc<Mutex<Heard>>,
) -> Instance {
    let spec = format!("{name},{},{}", broker.address(), dir.display());
    Instance::start(("shop_instance", INSTANCE, spec), name, dir, heard)
}

/// Records in each output topic.
fn output_records(log: &dyn Log) -> BTreeMap<&'static str, u64> {
    OUTPUTS
        .iter()
        .map(|t| {
            let n = (0..PARTITIONS)
                .map(|p| {
                    let (start, end) = log.offsets(t, p).unwrap();
                    end - start
                })
                .sum();
            (*t, n)
        })
        .collect()
}

#[test]
fn three_processes_survive_a_kill_and_a_fourth_joining() {
    if std::env::var_os(INSTANCE).is_some() {
        return;
    }
    init_tracing();
    // Kept when the test fails: the instances' logs are in it.
    let dir = tempfile::tempdir().unwrap().keep();
    eprintln!("state and instance logs in {}", dir.display());
    let (expected_outputs, _, _) = reference(&dir.as_path().join("reference"));
    let expected_records =
        output_records(&EmbeddedLog::open(dir.as_path().join("reference").join("log")).unwrap());

    // nisshi: noida never removes a killed member from the group.
    let broker = broker::Broker::start(broker::Kind::Nisshi);
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(broker.config()).unwrap());
    setup(log.as_ref());
    let heard = Arc::new(Mutex::new(Heard::default()));
    let mut instances: BTreeMap<&str, Instance> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, start(n, &broker, dir.as_path(), &heard)))
        .collect();

    // Input keeps arriving: 600 clicks every 100 ms, 10 s in all.
    let producing = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let chunk = CLICKS / 100;
            for i in 0..100 {
                produce(log.as_ref(), i * chunk, (i + 1) * chunk);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let held = wait_for_spread(
        &heard,
        &["a", "b", "c"],
        (2, PARTITIONS),
        Duration::from_secs(60),
    );
    eprintln!("three instances: {held:?}");

    // SIGKILL one while input flows, once its tasks have committed a few
    // times (so that there is state to restore, or not).
    let lost = held["c"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lost
        .iter()
        .any(|p| changelog_records(log.as_ref(), *p) < 100)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    instances.get_mut("c").unwrap().kill();
    let killed_at = tributary::now_millis();
    let held = wait_for_spread(
        &heard,
        &["a", "b"],
        (3, PARTITIONS),
        Duration::from_secs(60),
    );
    eprintln!("after the kill of c: {held:?}");
    let resumed = wait_for_new_owner(&heard, "c", &lost, killed_at).at - killed_at;
    // c's tasks went where their standby copies were: each new owner
    // restored a small part of what their changelogs hold.
    let taken_over: Vec<(usize, u32, u64)> = {
        let heard = heard.lock().unwrap();
        let mut firsts: BTreeMap<(usize, u32), u64> = BTreeMap::new();
        for f in heard
            .first
            .iter()
            .filter(|f| f.at >= killed_at && lost.contains(&f.partition))
        {
            firsts
                .entry((f.sub_topology, f.partition))
                .or_insert(f.restored);
        }
        firsts.into_iter().map(|((s, p), r)| (s, p, r)).collect()
    };
    for p in &lost {
        let changelogs = changelog_records(log.as_ref(), *p);
        let restored: u64 = taken_over.iter().filter(|t| t.1 == *p).map(|t| t.2).sum();
        eprintln!(
            "partition {p}: its new owner restored {restored} of {changelogs} changelog records"
        );
        assert!(
            restored * 10 <= changelogs,
            "partition {p} restored {restored} of {changelogs} changelog records: {taken_over:?}"
        );
    }
    eprintln!("kill to the first record processed by a new owner: {resumed} ms");

    // A fourth instance joins.
    instances.insert("d", start("d", &broker, dir.as_path(), &heard));
    let held = wait_for_spread(
        &heard,
        &["a", "b", "d"],
        (2, PARTITIONS),
        Duration::from_secs(60),
    );
    eprintln!("after d joined: {held:?}");

    producing.join().unwrap();
    wait_for_commits(log.as_ref(), Duration::from_secs(120));
    for name in ["a", "b", "d"] {
        instances.get_mut(name).unwrap().stop();
    }
    assert_eq!(
        heard.lock().unwrap().stopped,
        ["a", "b", "d"].iter().map(|n| n.to_string()).collect()
    );

    assert_outputs_equal(&final_outputs(log.as_ref()), &expected_outputs);
    let records = output_records(log.as_ref());
    for topic in OUTPUTS {
        assert!(
            records[topic] >= expected_records[topic],
            "{topic}: {} records, fewer than the reference's {}",
            records[topic],
            expected_records[topic]
        );
    }
    let duplicates: BTreeMap<_, u64> = OUTPUTS
        .iter()
        .map(|t| (*t, records[t] - expected_records[t]))
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!(
        "final outputs equal the reference; records written again (at-least-once): {duplicates:?} \
         of {expected_records:?}; kill to resumed processing: {resumed} ms"
    );
}
