//! Tasks that come and go: two instances of a stateful application on one
//! embedded log, under a scripted group that moves partitions between them
//! while input arrives (cleanly and by "losing" them), end with the outputs
//! and the stores of one uninterrupted instance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::group::ScriptedGroup;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::runtime::{RunningApp, TaskId};
use tributary::topology::TimeWindows;
use tributary::{App, Config, StoreReader, Topology};

const PARTITIONS: u32 = 4;
const USERS: u64 = 300;
const CLICKS: u64 = 60_000;
const CHUNKS: u64 = 30;
const MOVES: usize = 24;
const STORES: [&str; 4] = [
    "clicks-per-user",
    "per-window",
    "top-seq-per-page",
    "profiles",
];
const OUTPUTS: [&str; 4] = ["counts", "enriched", "windowed", "pages"];

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Click {
    page: String,
    seq: u64,
}

/// An aggregation, a stream-table join, a windowed count, and a
/// repartition feeding a second sub-topology.
fn topology() -> Topology {
    let mut b = Topology::builder("shop");
    let profiles = b.table::<String, String>("profiles", Utf8, Utf8, "profiles");
    let clicks = b.stream::<String, Click>("clicks", Utf8, Json);
    clicks
        .group_by_key()
        .count("clicks-per-user")
        .to_stream()
        .to("counts", Utf8, Json);
    clicks
        .join_table(&profiles, |_user, c, p| format!("{p}:{}", c.page))
        .to("enriched", Utf8, Utf8);
    clicks
        .group_by_key()
        .windowed_by(
            TimeWindows::tumbling(Duration::from_secs(1)).grace(Duration::from_secs(86_400)),
        )
        .count("per-window")
        .to_stream()
        .to("windowed", Json, Json);
    clicks
        .map_values(|c| c.seq)
        .group_by("by-page", |_user, seq| format!("p{}", seq % 37))
        .reduce("top-seq-per-page", |a, b| a.max(b))
        .to_stream()
        .to("pages", Utf8, Json);
    b.build().unwrap()
}

fn open_log(dir: &std::path::Path) -> Arc<dyn Log> {
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir.join("log")).unwrap());
    for t in ["clicks", "profiles"].into_iter().chain(OUTPUTS) {
        log.create_topic(t, &TopicConfig::new(PARTITIONS)).unwrap();
    }
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    for u in 0..USERS {
        let user = format!("u{u}");
        let p = tributary::partition_for_key(user.as_bytes(), PARTITIONS) as usize;
        batches[p].push(
            0,
            Some(user.as_bytes()),
            Some(format!("tier{}", u % 3).as_bytes()),
            &[],
        );
    }
    for (p, batch) in batches.iter_mut().enumerate() {
        log.append("profiles", p as u32, batch).unwrap();
    }
    log
}

/// Appends clicks `from..to`: user `i % USERS`, one every 5 ms of event time.
fn produce(log: &dyn Log, from: u64, to: u64) {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    for i in from..to {
        let user = format!("u{}", (i * 7919) % USERS);
        let p = tributary::partition_for_key(user.as_bytes(), PARTITIONS) as usize;
        let click = serde_json::to_vec(&Click {
            page: format!("p{}", i % 41),
            seq: i,
        })
        .unwrap();
        batches[p].push(
            1_000 + i as i64 * 5,
            Some(user.as_bytes()),
            Some(&click),
            &[],
        );
    }
    for (p, batch) in batches.iter_mut().enumerate() {
        log.append("clicks", p as u32, batch).unwrap();
    }
}

fn config(dir: &std::path::Path, instance: &str) -> Config {
    Config {
        threads: 2,
        application_id: Some("shop".into()),
        state_dir: dir.join(format!("state-{instance}")),
        commit_interval: Duration::from_millis(40),
        ..Config::default()
    }
}

/// The last value of every key of every output topic, by topic.
fn final_outputs(log: &dyn Log) -> Outputs {
    let mut out = BTreeMap::new();
    for topic in OUTPUTS {
        let mut last = BTreeMap::new();
        for p in 0..PARTITIONS {
            let mut pos = 0;
            let mut records = Vec::new();
            loop {
                records.clear();
                log.fetch(topic, p, pos, 1 << 20, &mut records).unwrap();
                let Some(r) = records.last() else { break };
                pos = r.offset + 1;
                for r in &records {
                    let key = r.key.as_deref().unwrap_or_default().to_vec();
                    last.insert(key, r.value.as_deref().unwrap_or_default().to_vec());
                }
            }
        }
        out.insert(topic.to_owned(), last);
    }
    out
}

type Stores = BTreeMap<(String, u32), Vec<(Vec<u8>, Vec<u8>)>>;
/// The last value of each key, per output topic.
type Outputs = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Readers of every store of a running instance (they stay readable after
/// it stops, so that they show what it committed last).
fn readers(running: &RunningApp) -> Vec<(String, StoreReader<(), ()>)> {
    STORES
        .iter()
        .map(|s| (s.to_string(), running.store::<(), ()>(s).unwrap()))
        .collect()
}

/// The entries of the given partitions of every store.
fn store_contents(readers: &[(String, StoreReader<(), ()>)], partitions: &[u32]) -> Stores {
    let mut out = BTreeMap::new();
    for (name, r) in readers {
        for &p in partitions {
            out.insert((name.clone(), p), r.encoded_partition(p).unwrap());
        }
    }
    out
}

/// Records in the changelogs of task `p` of each sub-topology.
fn changelog_records(log: &dyn Log, p: u32) -> u64 {
    STORES
        .iter()
        .map(|s| log.offsets(&format!("shop-{s}-changelog"), p).unwrap().1)
        .sum()
}

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn reference(dir: &std::path::Path) -> (Outputs, Stores, u64) {
    let log = open_log(dir);
    produce(log.as_ref(), 0, CLICKS);
    let running = App::new(topology(), Arc::clone(&log), config(dir, "ref"))
        .unwrap()
        .start()
        .unwrap();
    let readers = readers(&running);
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    let stats = running.shutdown().unwrap();
    assert_eq!(stats.late_dropped, 0);
    let all: Vec<u32> = (0..PARTITIONS).collect();
    let outputs = final_outputs(log.as_ref());
    (outputs, store_contents(&readers, &all), stats.records_in)
}

#[test]
fn partitions_moving_between_two_instances_change_no_result() {
    // RUST_LOG=tributary=debug shows every group event and task move.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let (expected_outputs, expected_stores, expected_in) = reference(&dir.path().join("reference"));

    let dir = dir.path().join("group");
    let log = open_log(&dir);
    let group = ScriptedGroup::new(Arc::clone(&log));
    let start = |name: &str| {
        App::new(topology(), Arc::clone(&log), config(&dir, name))
            .unwrap()
            .with_membership(group.membership(name))
            .start()
            .unwrap()
    };
    let instances = [("a", start("a")), ("b", start("b"))];
    let readers: Vec<_> = instances.iter().map(|(_, r)| readers(r)).collect();
    group.assign("a", &[0, 1]).unwrap();
    group.assign("b", &[2, 3]).unwrap();

    // Another script: REBALANCE_SEED=N.
    let seed = std::env::var("REBALANCE_SEED").map_or(42, |s| s.parse().unwrap());
    let mut rng = Lcg(seed);
    // For each partition, the changelog records there were when each
    // instance last gave it up (the instance's local state is that far).
    let mut left_at: Vec<[Option<u64>; 2]> = vec![[None; 2]; PARTITIONS as usize];
    let (mut lost, mut returns) = (0, 0);
    let per_chunk = CLICKS / CHUNKS;
    let mut produced = 0;
    for step in 0..MOVES {
        if produced < CLICKS {
            let n = per_chunk * (1 + rng.next(2));
            let to = (produced + n).min(CLICKS);
            produce(log.as_ref(), produced, to);
            produced = to;
        }
        std::thread::sleep(Duration::from_millis(rng.next(120)));
        let p = rng.next(PARTITIONS as u64) as u32;
        let from = if group.owned("a").contains(&p) { 0 } else { 1 };
        let to = 1 - from;
        if rng.next(3) == 0 {
            group.lose(instances[from].0, &[p]).unwrap();
            lost += 1;
        } else {
            group.revoke(instances[from].0, &[p]).unwrap();
        }
        left_at[p as usize][from] = Some(changelog_records(log.as_ref(), p));
        let running = &instances[to].1;
        let restored_before: u64 = restored_of(running, p);
        let changelogs = changelog_records(log.as_ref(), p);
        group.assign(instances[to].0, &[p]).unwrap();
        running
            .wait_until_restored(Duration::from_secs(60))
            .unwrap();
        let restored = restored_of(running, p) - restored_before;
        if let Some(had) = left_at[p as usize][to] {
            // Back where it was: only what the other instance wrote since
            // is restored.
            assert!(
                restored <= changelogs - had,
                "step {step}: partition {p} came back to instance {to}, which had its \
                 changelogs up to {had} of {changelogs} records, and restored {restored}"
            );
            if had > 0 {
                returns += 1;
            }
        } else {
            assert_eq!(
                restored, changelogs,
                "step {step}: first time on instance {to}"
            );
        }
        assert!(
            !instances.iter().any(|(_, r)| r.is_stopping()),
            "step {step}"
        );
    }
    produce(log.as_ref(), produced, CLICKS);
    assert!(lost >= 3 && returns >= 3, "lost {lost}, returns {returns}");

    for (_, running) in &instances {
        running
            .wait_until_caught_up(Duration::from_secs(120))
            .unwrap();
    }
    let owned = [group.owned("a"), group.owned("b")];
    let mut records_in = 0;
    for (_, running) in instances {
        let stats = running.shutdown().unwrap();
        assert_eq!(stats.late_dropped, 0);
        records_in += stats.records_in;
    }
    // Counters outlive the tasks that moved away: every record counts once
    // at least (more where a lost task's work was redone).
    assert!(
        records_in >= expected_in,
        "{records_in} records counted, {expected_in} by one instance"
    );
    assert_eq!(
        owned[0].len() + owned[1].len(),
        PARTITIONS as usize,
        "{owned:?}"
    );

    let outputs = final_outputs(log.as_ref());
    for topic in OUTPUTS {
        assert_eq!(
            outputs[topic].len(),
            expected_outputs[topic].len(),
            "keys of {topic}"
        );
        let differ: Vec<String> = expected_outputs[topic]
            .iter()
            .filter(|(k, v)| outputs[topic].get(*k) != Some(v))
            .take(5)
            .map(|(k, v)| {
                let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let found = outputs[topic].get(k).map(|f| show(f));
                format!("{}: {} expected, {found:?} found", show(k), show(v))
            })
            .collect();
        assert!(
            differ.is_empty(),
            "final values of {topic} differ: {differ:?}"
        );
    }
    let mut stores = store_contents(&readers[0], &owned[0]);
    stores.extend(store_contents(&readers[1], &owned[1]));
    assert_eq!(stores.len(), expected_stores.len());
    for (key, entries) in &expected_stores {
        assert!(
            !entries.is_empty() || key.0 == "profiles",
            "{key:?} is empty"
        );
        assert!(&stores[key] == entries, "store {key:?} differs");
    }
}

/// Changelog records restored so far by the tasks of partition `p`.
fn restored_of(running: &RunningApp, p: u32) -> u64 {
    running
        .task_stats()
        .iter()
        .filter(|(id, _): &(&TaskId, _)| id.partition == p)
        .map(|(_, s)| s.restored)
        .sum()
}
