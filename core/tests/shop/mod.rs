//! The shop pipeline that the runtime's rebalance tests run on every
//! backend: an aggregation, a stream-table join, a windowed count and a
//! repartition, its input, and its reference run (one uninterrupted
//! instance on the embedded log). Included by `core/tests/rebalance.rs`
//! and by the Kafka backend's tests (`#[path]`), so that both run one suite.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::group::ScriptedGroup;
use tributary::log::{EmbeddedLog, TopicConfig, TopicPartition, prelude::*};
use tributary::runtime::{RunningApp, TaskId};
use tributary::topology::TimeWindows;
use tributary::{App, Config, StoreReader, Topology};

pub(crate) const PARTITIONS: u32 = 6;
pub(crate) const USERS: u64 = 300;
pub(crate) const CLICKS: u64 = 60_000;
pub(crate) const STORES: [&str; 4] = [
    "clicks-per-user",
    "per-window",
    "top-seq-per-page",
    "profiles",
];
pub(crate) const OUTPUTS: [&str; 4] = ["counts", "enriched", "windowed", "pages"];

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Click {
    pub(crate) page: String,
    pub(crate) seq: u64,
}

/// An aggregation, a stream-table join, a windowed count, and a
/// repartition feeding a second sub-topology.
pub(crate) fn topology() -> Topology {
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

/// Starts the shop on `log` with `config`, as member `name` of `group`
/// (which assigns it nothing yet).
pub(crate) fn start_in_group(
    log: &Arc<dyn Log>,
    group: &Arc<ScriptedGroup>,
    config: Config,
    name: &str,
) -> RunningApp {
    App::new(topology(), Arc::clone(log), config)
        .unwrap()
        .with_membership(group.membership(name))
        .start()
        .unwrap()
}

/// An embedded log in `dir` with the shop's topics and profiles.
pub(crate) fn open_log(dir: &std::path::Path) -> Arc<dyn Log> {
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir.join("log")).unwrap());
    setup(log.as_ref());
    log
}

/// Creates the shop's topics on `log` and writes the profiles.
pub(crate) fn setup(log: &dyn Log) {
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
}

/// Appends clicks `from..to`: user `i % USERS`, one every 5 ms of event time.
pub(crate) fn produce(log: &dyn Log, from: u64, to: u64) {
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

pub(crate) fn config(dir: &std::path::Path, instance: &str) -> Config {
    Config {
        threads: 2,
        application_id: Some("shop".into()),
        state_dir: dir.join(format!("state-{instance}")),
        commit_interval: Duration::from_millis(40),
        ..Config::default()
    }
}

/// The last value of every key of every output topic, by topic.
pub(crate) fn final_outputs(log: &dyn Log) -> Outputs {
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

pub(crate) type Stores = BTreeMap<(String, u32), Vec<(Vec<u8>, Vec<u8>)>>;
/// The last value of each key, per output topic.
pub(crate) type Outputs = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Readers of every store of a running instance (they stay readable after
/// it stops, so that they show what it committed last).
pub(crate) fn readers(running: &RunningApp) -> Vec<(String, StoreReader<(), ()>)> {
    STORES
        .iter()
        .map(|s| (s.to_string(), running.store::<(), ()>(s).unwrap()))
        .collect()
}

/// The entries of the given partitions of every store.
pub(crate) fn store_contents(
    readers: &[(String, StoreReader<(), ()>)],
    partitions: &[u32],
) -> Stores {
    let mut out = BTreeMap::new();
    for (name, r) in readers {
        for &p in partitions {
            out.insert((name.clone(), p), r.encoded_partition(p).unwrap());
        }
    }
    out
}

pub(crate) fn reference(dir: &std::path::Path) -> (Outputs, Stores, u64) {
    let log = open_log(dir);
    produce(log.as_ref(), 0, CLICKS);
    let app = App::new(topology(), Arc::clone(&log), config(dir, "ref")).unwrap();
    let (stores, records_in) = run_until_caught_up(app);
    (final_outputs(log.as_ref()), stores, records_in)
}

/// Runs one instance that owns every partition until it has processed all
/// its input, and returns its stores and the records it took in.
pub(crate) fn run_until_caught_up(app: App) -> (Stores, u64) {
    let running = app.start().unwrap();
    let readers = readers(&running);
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    let stats = running.shutdown().unwrap();
    assert_eq!(stats.late_dropped, 0);
    let all: Vec<u32> = (0..PARTITIONS).collect();
    (store_contents(&readers, &all), stats.records_in)
}

/// Logs to the test's captured output (shown if it fails): warnings and
/// errors, or what `RUST_LOG` asks for (`RUST_LOG=tributary=debug` shows
/// every group event and task move).
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Asserts that every output topic has the expected final value per key
/// (names the first keys that differ).
pub(crate) fn assert_outputs_equal(outputs: &Outputs, expected_outputs: &Outputs) {
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
}

/// Asserts that the stores hold exactly the expected entries.
pub(crate) fn assert_stores_equal(stores: &Stores, expected_stores: &Stores) {
    assert_eq!(stores.len(), expected_stores.len());
    for (key, entries) in expected_stores {
        assert!(
            !entries.is_empty() || key.0 == "profiles",
            "{key:?} is empty"
        );
        assert!(&stores[key] == entries, "store {key:?} differs");
    }
}

/// Waits until the group has committed every input partition's end.
pub(crate) fn wait_for_commits(log: &dyn Log, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let committed = log.committed_offsets("shop").unwrap();
        let behind: Vec<String> = ["clicks", "profiles"]
            .iter()
            .flat_map(|t| (0..PARTITIONS).map(move |p| TopicPartition::new(*t, p)))
            .filter_map(|tp| {
                let end = log.offsets(&tp.topic, tp.partition).unwrap().1;
                let at = committed.get(&tp).copied().unwrap_or(0);
                (at < end).then(|| format!("{tp} at {at} of {end}"))
            })
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "not caught up: {behind:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Records in the changelogs of the tasks of partition `p`, all stores.
pub(crate) fn changelog_records(log: &dyn Log, p: u32) -> u64 {
    STORES
        .iter()
        .map(|s| {
            let (start, end) = log.offsets(&format!("shop-{s}-changelog"), p).unwrap();
            end - start
        })
        .sum()
}

/// Changelog records restored so far by the tasks of partition `p`.
pub(crate) fn restored_of(running: &RunningApp, p: u32) -> u64 {
    running
        .task_stats()
        .iter()
        .filter(|(id, _): &(&TaskId, _)| id.partition == p)
        .map(|(_, s)| s.restored)
        .sum()
}
