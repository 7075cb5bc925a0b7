//! Failover with and without a standby replica, on a Kafka-protocol broker.
//!
//! Two processes count records by key (a store of `FAILOVER_KEYS` keys,
//! default 1,000,000, half in each of the two partitions) as one consumer
//! group; once the input is processed and committed, one is killed with
//! SIGKILL while a trickle of new records keeps arriving. The survivor
//! takes the dead one's partition over. Without standby replicas it
//! restores that partition's whole store from the changelog; with
//! `standby_replicas = 1` it has kept a copy all along and restores only
//! what the copy lacked. Either way every key's final count must be
//! exactly one (no update lost, none counted twice).
//!
//! Printed: the time from the kill to the first record the survivor
//! processed for the dead one's partition, and the changelog records it
//! restored, per run (`FAILOVER_RUNS`, default 1, of each kind, or only
//! of `FAILOVER_STANDBY` replicas, 0 or 1, when set). The
//! session timeout (6 s here) is most of the time with a standby.
//!
//! `cargo test --workspace --test failover -- --nocapture`

mod broker;
mod instances;

use instances::{Heard, Instance, wait_for_new_owner, wait_for_spread};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tributary::codec::{Json, Utf8};
use tributary::log::{Log, TopicConfig, TopicPartition};
use tributary::{App, Batch, Config, Topology};
use tributary_kafka::{KafkaGroups, KafkaLog};

/// Set in an instance process: `NAME,BROKER,STATE_DIR,APP,STANDBY_REPLICAS`.
const INSTANCE: &str = "TRIBUTARY_FAILOVER_INSTANCE";
const PARTITIONS: u32 = 2;

fn input(app: &str) -> String {
    format!("in-{app}")
}

fn output(app: &str) -> String {
    format!("out-{app}")
}

/// Counts records by key into the store `counts`.
fn topology(app: &str) -> Topology {
    let mut b = Topology::builder(app);
    b.stream::<String, u64>(&input(app), Utf8, Json)
        .group_by_key()
        .count("counts")
        .to_stream()
        .to(&output(app), Utf8, Json);
    b.build().unwrap()
}

/// The body of one instance process (does nothing in a plain test run).
#[test]
fn counting_instance() {
    let Ok(spec) = std::env::var(INSTANCE) else {
        return;
    };
    let [name, address, dir, app, standby]: [&str; 5] = spec
        .split(',')
        .collect::<Vec<_>>()
        .try_into()
        .expect("NAME,BROKER,STATE_DIR,APP,STANDBY_REPLICAS");
    // Kept in the instance's log file: what happened to its tasks and copies.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tributary=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    let kafka = broker::client(address);
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(kafka.clone()).unwrap());
    let config = Config {
        threads: 1,
        application_id: Some(app.to_owned()),
        state_dir: std::path::Path::new(dir).join(format!("state-{name}")),
        commit_interval: Duration::from_millis(100),
        standby_replicas: standby.parse().unwrap(),
        ..Config::default()
    };
    let running = App::new(topology(app), log, config)
        .unwrap()
        .with_membership(Arc::new(KafkaGroups::new(kafka)))
        .start()
        .unwrap();
    instances::report(name, running);
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().unwrap())
}

/// Appends `keys` records, keys `k0000000`... with value 1, spread over
/// the partitions.
fn produce_keys(log: &dyn Log, topic: &str, keys: u64) {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    for i in 0..keys {
        let b = &mut batches[(i % u64::from(PARTITIONS)) as usize];
        b.push(0, Some(format!("k{i:07}").as_bytes()), Some(b"1"), &[]);
        if b.len() >= 10_000 {
            log.append(topic, (i % u64::from(PARTITIONS)) as u32, b)
                .unwrap();
            b.clear();
        }
    }
    for (p, b) in batches.iter().enumerate() {
        if !b.is_empty() {
            log.append(topic, p as u32, b).unwrap();
        }
    }
}

/// Waits until group `app` has committed the end of every input partition.
fn wait_for_commits(log: &dyn Log, app: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let committed = log.committed_offsets(app).unwrap();
        let behind = (0..PARTITIONS).any(|p| {
            let end = log.offsets(&input(app), p).unwrap().1;
            committed
                .get(&TopicPartition::new(input(app), p))
                .is_none_or(|&at| at < end)
        });
        if !behind {
            return;
        }
        assert!(Instant::now() < deadline, "group {app} not caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last value of every key of `topic`.
fn last_values(log: &dyn Log, topic: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut last = BTreeMap::new();
    for p in 0..PARTITIONS {
        let (mut pos, end) = log.offsets(topic, p).unwrap();
        let mut records = Vec::new();
        while pos < end {
            records.clear();
            log.fetch(topic, p, pos, 4 << 20, &mut records).unwrap();
            let Some(r) = records.last() else { break };
            pos = r.offset + 1;
            for r in &records {
                last.insert(
                    r.key.as_deref().unwrap_or_default().to_vec(),
                    r.value.as_deref().unwrap_or_default().to_vec(),
                );
            }
        }
    }
    last
}

/// One failover, measured.
#[derive(Debug)]
struct Failover {
    standby: u32,
    /// Kill to the first record the survivor processed for the dead one's partition.
    resumed_ms: i64,
    /// Of which: from the survivor's assignment of the partition (the
    /// group noticed the death and rebalanced) to that first record.
    after_assignment_ms: i64,
    /// Changelog records the survivor restored to take the partition over.
    restored: u64,
    /// Records of the changelog partition it took over.
    changelog: u64,
}

/// Runs two counting instances of a new application, kills one, and
/// checks the survivor's counts.
fn failover(
    broker: &broker::Broker,
    dir: &std::path::Path,
    keys: u64,
    (standby, run): (u32, u64),
) -> Failover {
    let app = format!("failover-s{standby}-r{run}");
    let dir = dir.join(&app);
    std::fs::create_dir_all(&dir).unwrap();
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(broker.config()).unwrap());
    for t in [input(&app), output(&app)] {
        log.create_topic(&t, &TopicConfig::new(PARTITIONS)).unwrap();
    }
    let loaded = Instant::now();
    produce_keys(log.as_ref(), &input(&app), keys);
    eprintln!("{app}: {keys} records produced in {:?}", loaded.elapsed());
    let heard = Arc::new(Mutex::new(Heard::default()));
    let start = |name: &str| {
        let spec = format!(
            "{name},{},{},{app},{standby}",
            broker.address(),
            dir.display()
        );
        Instance::start(("counting_instance", INSTANCE, spec), name, &dir, &heard)
    };
    let mut a = start("a");
    let mut b = start("b");
    let held = wait_for_spread(
        &heard,
        &["a", "b"],
        (1, PARTITIONS),
        Duration::from_secs(60),
    );
    let counted = Instant::now();
    wait_for_commits(log.as_ref(), &app);
    eprintln!(
        "{app}: counted and committed in {:?}; {held:?}",
        counted.elapsed()
    );
    let lost = held["a"].clone();
    let p = *lost.first().unwrap();
    let changelog_topic = format!("{app}-counts-changelog");
    let changelog = || {
        let (start, end) = log.offsets(&changelog_topic, p).unwrap();
        end - start
    };
    if standby > 0 {
        // The survivor's copy has read what the changelog had (from its own
        // checkpoint, if it ran the task before the group settled): its
        // count has stopped moving.
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut last = (0, Instant::now());
        loop {
            let read = heard.lock().unwrap().standby.get("b").copied().unwrap_or(0);
            if read != last.0 {
                last = (read, Instant::now());
            } else if read > 0 && last.1.elapsed() > Duration::from_secs(2) {
                break;
            }
            assert!(Instant::now() < deadline, "the standby copy did not settle");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // New records keep arriving, one per partition every 20 ms.
    let (stop, probes) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let producing = {
        let (log, stop, probes, topic) = (
            Arc::clone(&log),
            Arc::clone(&stop),
            Arc::clone(&probes),
            input(&app),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                for p in 0..PARTITIONS {
                    let n = probes.fetch_add(1, Ordering::Relaxed);
                    let mut batch = Batch::new();
                    batch.push(0, Some(format!("probe{n}").as_bytes()), Some(b"1"), &[]);
                    log.append(&topic, p, &batch).unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let changelog_at_kill = changelog();
    a.kill();
    let killed_at = tributary::now_millis();
    let first = wait_for_new_owner(&heard, "a", &lost, killed_at);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    producing.join().unwrap();
    wait_for_commits(log.as_ref(), &app);
    b.stop();

    // Every key counted exactly once.
    let counts = last_values(log.as_ref(), &output(&app));
    let expected = keys + probes.load(Ordering::Relaxed);
    assert_eq!(counts.len() as u64, expected, "{app}: keys in the output");
    let wrong: Vec<_> = counts
        .iter()
        .filter(|(_, v)| v.as_slice() != b"1")
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "{app}: counts other than 1: {wrong:?}");
    let assigned = heard.lock().unwrap().assigned[&("b".to_owned(), 0, p)];
    let result = Failover {
        standby,
        resumed_ms: first.at - killed_at,
        after_assignment_ms: first.at - assigned,
        restored: first.restored,
        changelog: changelog_at_kill,
    };
    eprintln!("{app}: {result:?}");
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[test]
fn failover_with_and_without_a_standby() {
    if std::env::var_os(INSTANCE).is_some() {
        return;
    }
    let keys = env_or("FAILOVER_KEYS", 1_000_000);
    let runs = env_or("FAILOVER_RUNS", 1);
    // nisshi: a killed member leaves the group within the session timeout.
    let broker = broker::Broker::start(broker::Kind::Nisshi);
    // Kept when the test fails: the instances' logs are in it.
    let dir = tempfile::tempdir().unwrap().keep();
    eprintln!("state and instance logs in {}", dir.display());
    let mut results = Vec::new();
    for run in 0..runs {
        for standby in [0, 1] {
            if std::env::var("FAILOVER_STANDBY").is_ok_and(|s| s != standby.to_string()) {
                continue;
            }
            results.push(failover(&broker, &dir, keys, (standby, run)));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    for r in &results {
        if r.standby == 0 {
            // (Less than all of it when the survivor ran the task for a
            // moment before the group settled: it keeps that state.)
            assert!(
                r.restored * 2 > r.changelog,
                "without a standby most of the changelog partition is restored: {r:?}"
            );
        } else {
            assert!(
                r.restored < r.changelog / 10,
                "with a standby only the changelog's tail is restored: {r:?}"
            );
        }
    }
    let median = |standby: u32, f: fn(&Failover) -> u64| {
        let mut v: Vec<u64> = results
            .iter()
            .filter(|r| r.standby == standby)
            .map(f)
            .collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    for standby in [0, 1] {
        if results.iter().all(|r| r.standby != standby) {
            continue;
        }
        eprintln!(
            "failover, {keys} keys, standby replicas {standby}: kill to resumed processing \
             {} ms, assignment to resumed processing {} ms, {} changelog records restored \
             (medians of {runs})",
            median(standby, |r| r.resumed_ms as u64),
            median(standby, |r| r.after_assignment_ms as u64),
            median(standby, |r| r.restored),
        );
    }
}
