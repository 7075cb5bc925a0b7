//! An aggregation over 100k keys, killed with SIGKILL at random moments 20
//! times while running, ends with exactly the state an independent
//! reference computes: state and input positions commit atomically, so
//! nothing is counted twice or lost.

mod common;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::Json;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Topology};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payment {
    amount: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Totals {
    count: u64,
    sum: u64,
}

const CHILD_ENV: &str = "TRIBUTARY_STATE_KILLTEST";
const KEYS: u64 = 100_000;
const PARTITIONS: u32 = 4;

fn topology() -> Topology {
    let mut b = Topology::builder("totals");
    b.stream::<u64, Payment>("payments", Json, Json)
        .group_by_key()
        .aggregate(
            "totals",
            || Totals { count: 0, sum: 0 },
            |_k, p, t| Totals {
                count: t.count + 1,
                sum: t.sum + p.amount,
            },
        );
    b.build().unwrap()
}

fn config(dir: &std::path::Path) -> Config {
    Config {
        threads: 2,
        commit_interval: Duration::from_millis(50),
        max_poll_records: 2_000,
        state_dir: dir.join("state"),
        ..Config::default()
    }
}

/// The body of the child process (does nothing without the variable).
#[test]
fn child_process_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let log = Arc::new(EmbeddedLog::open(dir.join("log")).unwrap());
    App::new(topology(), log, config(&dir))
        .unwrap()
        .run_until_signal()
        .unwrap();
}

fn spawn(dir: &std::path::Path) -> Child {
    common::spawn_self("child_process_entry", CHILD_ENV, dir)
}

/// Appends `n` payments with keys drawn from `rng`; adds them to `reference`.
fn produce(
    log: &EmbeddedLog,
    rng: &mut rand::rngs::StdRng,
    n: u64,
    reference: &mut HashMap<u64, Totals>,
) {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    for i in 0..n {
        // Every key at least once, then random ones.
        let key = if reference.len() < KEYS as usize {
            reference.len() as u64
        } else {
            rng.random_range(0..KEYS)
        };
        let amount = rng.random_range(1..1000);
        let t = reference.entry(key).or_insert(Totals { count: 0, sum: 0 });
        t.count += 1;
        t.sum += amount;
        let k = serde_json::to_vec(&key).unwrap();
        let v = serde_json::to_vec(&Payment { amount }).unwrap();
        let p = tributary::partition_for_key(&k, PARTITIONS) as usize;
        batches[p].push(i as i64, Some(&k), Some(&v), &[]);
        if batches[p].len() >= 1_000 {
            log.append("payments", p as u32, &batches[p]).unwrap();
            batches[p].clear();
        }
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append("payments", p as u32, b).unwrap();
    }
}

#[test]
fn sigkill_twenty_times_state_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path().join("log")).unwrap();
    log.create_topic("payments", &TopicConfig::new(PARTITIONS))
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut reference = HashMap::new();
    produce(&log, &mut rng, 200_000, &mut reference);
    for round in 0..20 {
        let mut child = spawn(dir.path());
        std::thread::sleep(Duration::from_millis(rng.random_range(200..700)));
        child.kill().unwrap();
        assert!(!child.wait().unwrap().success(), "round {round}");
        produce(&log, &mut rng, 10_000, &mut reference);
    }
    let app = App::new(
        topology(),
        Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap()),
        config(dir.path()),
    )
    .unwrap();
    let running = app.start().unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(300))
        .unwrap();
    let stats = running.shutdown().unwrap();
    println!(
        "state kill test: 20 SIGKILLs, 400000 inputs, final run processed {} records",
        stats.records_in
    );

    let app = App::new(
        topology(),
        Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap()),
        config(dir.path()),
    )
    .unwrap();
    let store = app.store::<u64, Totals>("totals").unwrap();
    let mut got: Vec<(u64, Totals)> = store.iter().unwrap();
    got.sort_by_key(|(k, _)| *k);
    let mut want: Vec<(u64, Totals)> = reference.into_iter().collect();
    want.sort_by_key(|(k, _)| *k);
    assert_eq!(got.len(), KEYS as usize);
    let wrong: Vec<_> = got
        .iter()
        .zip(&want)
        .filter(|(g, w)| g != w)
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "state differs from the reference, e.g. {wrong:?}"
    );
    assert_eq!(got, want);
}
