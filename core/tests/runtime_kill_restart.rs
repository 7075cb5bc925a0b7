//! A pipeline with a repartition in the middle, killed with SIGKILL at
//! random moments and restarted, loses nothing (at-least-once) and resumes
//! from its committed positions.

mod common;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;
use tributary::codec::Json;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Topology};

#[derive(
    Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
struct Event {
    id: u64,
    value: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Doubled {
    id: u64,
    doubled: u64,
}

const CHILD_ENV: &str = "TRIBUTARY_KILLTEST_DIR";

fn topology() -> Topology {
    let mut b = Topology::builder("killtest");
    b.stream::<u64, Event>("in", Json, Json)
        .filter(|_, e| e.value != u64::MAX)
        .key_by("by-bucket", |_, e| e.id % 13)
        .map_values(|e| Doubled {
            id: e.id,
            doubled: e.value * 2,
        })
        .to("out", Json, Json);
    b.build().unwrap()
}

fn config() -> Config {
    Config {
        threads: 2,
        commit_interval: Duration::from_millis(40),
        max_poll_records: 500,
        ..Config::default()
    }
}

/// Not a test of its own: the body of the child process that the kill test
/// starts (and kills). Without the environment variable it does nothing.
#[test]
fn child_process_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = Arc::new(EmbeddedLog::open(dir).unwrap());
    let app = App::new(topology(), log, config()).unwrap();
    app.run_until_signal().unwrap();
}

fn spawn_child(dir: &std::path::Path) -> Child {
    common::spawn_self("child_process_entry", CHILD_ENV, dir)
}

fn produce(log: &EmbeddedLog, from: u64, to: u64) {
    let mut batches: Vec<tributary::Batch> = (0..4).map(|_| tributary::Batch::new()).collect();
    for id in from..to {
        let key = serde_json::to_vec(&id).unwrap();
        let value = serde_json::to_vec(&Event { id, value: id * 3 }).unwrap();
        let p = tributary::partition_for_key(&key, 4);
        batches[p as usize].push(id as i64, Some(&key), Some(&value), &[]);
        if batches[p as usize].len() >= 1000 {
            log.append("in", p, &batches[p as usize]).unwrap();
            batches[p as usize].clear();
        }
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append("in", p as u32, b).unwrap();
    }
}

#[test]
fn sigkill_and_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    log.create_topic("in", &TopicConfig::new(4)).unwrap();
    log.create_topic("out", &TopicConfig::new(3)).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let per_round = 20_000;
    let mut produced = 0;
    produce(&log, 0, 100_000);
    produced += 100_000;
    let rounds = 12;
    for round in 0..rounds {
        let mut child = spawn_child(dir.path());
        std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: child should have been killed"
        );
        produce(&log, produced, produced + per_round);
        produced += per_round;
    }
    // Drain: run to the end in this process.
    drain(dir.path());

    let reader = EmbeddedLog::open(dir.path()).unwrap();
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    for p in 0..3 {
        for r in common::read_all(&reader, "out", p) {
            let d: Doubled = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
            assert_eq!(d.doubled, d.id * 6, "output value for {}", d.id);
            assert_eq!(
                r.timestamp, d.id as i64,
                "timestamp travels with the record"
            );
            *seen.entry(d.id).or_default() += 1;
        }
    }
    let missing: Vec<u64> = (0..produced)
        .filter(|id| !seen.contains_key(id))
        .take(10)
        .collect();
    let duplicates: u64 = seen.values().map(|&c| u64::from(c) - 1).sum();
    println!(
        "kill test: {rounds} SIGKILLs, {produced} inputs, {} distinct outputs, {duplicates} duplicates, {} missing",
        seen.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "lost records, e.g. {missing:?}");
    assert_eq!(seen.len() as u64, produced, "unexpected ids in the output");
    // Restarts resume from committed positions: duplicates come only from
    // the uncommitted tail of each killed run, far fewer than the input.
    assert!(
        duplicates < produced / 2,
        "{duplicates} duplicates: restarts do not resume from commits"
    );
    // The committed positions of the group cover every input.
    let committed = reader.committed_offsets("killtest").unwrap();
    let covered: u64 = (0..4)
        .map(|p| committed[&tributary::log::TopicPartition::new("in", p)])
        .sum();
    assert_eq!(covered, produced);
    assert!(
        reader.offsets("killtest-dlq", 0).unwrap().1 == 0,
        "nothing was dead-lettered"
    );
}

/// SIGTERM stops the application gracefully: it exits successfully and its
/// committed positions cover everything it processed, so a restart has
/// nothing to redo.
#[test]
fn sigterm_commits_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    log.create_topic("in", &TopicConfig::new(4)).unwrap();
    log.create_topic("out", &TopicConfig::new(3)).unwrap();
    produce(&log, 0, 5_000);
    let child = spawn_child(dir.path());
    // Wait until the child has produced every output, then ask it to stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out: u64 = (0..3).map(|p| log.offsets("out", p).unwrap().1).sum();
        if out == 5_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "child produced only {out} outputs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "graceful shutdown should exit 0: {:?}",
        output.status
    );
    let committed = log.committed_offsets("killtest").unwrap();
    let covered: u64 = (0..4)
        .map(|p| committed[&tributary::log::TopicPartition::new("in", p)])
        .sum();
    assert_eq!(
        covered, 5_000,
        "every processed input is committed on shutdown"
    );
    // A restart finds nothing to do.
    assert_eq!(drain(dir.path()).records_in, 0);
}

/// Runs the application in this process until it has processed everything.
fn drain(dir: &std::path::Path) -> tributary::runtime::Stats {
    let log = Arc::new(EmbeddedLog::open(dir).unwrap());
    let running = App::new(topology(), log, config())
        .unwrap()
        .start()
        .unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    running.shutdown().unwrap()
}
