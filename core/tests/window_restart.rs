//! Windowed state survives restarts and the loss of the state directory:
//! a hopping count run in three parts (stopped in between, the second time
//! with its state directory deleted) emits exactly what one uninterrupted
//! run emits.

use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::testing::TestDriver;
use tributary::topology::{Emit, TimeWindows, Windowed};
use tributary::{App, Config, Record, Topology};

fn topology() -> Topology {
    let mut b = Topology::builder("hops");
    b.stream::<String, u32>("in", Utf8, Json)
        .group_by_key()
        .windowed_by(
            TimeWindows::hopping(Duration::from_millis(100), Duration::from_millis(50))
                .grace(Duration::from_millis(20)),
        )
        .emit(Emit::OnWindowClose)
        .count("hop-counts")
        .to_stream()
        .to("out", Json, Json);
    b.build().unwrap()
}

/// Record `i`: key `k{i % 20}`, time `5 i` less up to 15 ms of disorder.
fn record(i: u64) -> (String, i64) {
    (
        format!("k{}", i % 20),
        100 + 5 * i as i64 - ((i * 7) % 16) as i64,
    )
}

fn produce(log: &dyn Log, from: u64, to: u64) {
    let mut batches: Vec<Batch> = (0..2).map(|_| Batch::new()).collect();
    for i in from..to {
        let (key, t) = record(i);
        let p = tributary::partition_for_key(key.as_bytes(), 2) as usize;
        batches[p].push(t, Some(key.as_bytes()), Some(b"1"), &[]);
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append("in", p as u32, b).unwrap();
    }
}

fn run(log: &Arc<EmbeddedLog>, dir: &std::path::Path) {
    let config = Config {
        threads: 2,
        state_dir: dir.join("state"),
        ..Config::default()
    };
    let running = App::new(topology(), Arc::clone(log) as Arc<dyn Log>, config)
        .unwrap()
        .start()
        .unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    running.shutdown().unwrap();
}

type Count = (Windowed<String>, u64);

fn emitted(log: &dyn Log) -> Vec<Count> {
    let mut out = Vec::new();
    for p in 0..2 {
        let (_, end) = log.offsets("out", p).unwrap();
        let mut records: Vec<Record> = Vec::new();
        while (records.len() as u64) < end {
            let from = records.len() as u64;
            log.fetch("out", p, from, 1 << 20, &mut records).unwrap();
        }
        for r in records {
            let k = serde_json::from_slice(&r.key.unwrap()).unwrap();
            let v = serde_json::from_slice(&r.value.unwrap()).unwrap();
            out.push((k, v));
        }
    }
    out.sort();
    out
}

#[test]
fn windowed_counts_survive_restarts_and_state_loss() {
    const N: u64 = 6_000;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    log.create_topic("in", &TopicConfig::new(2)).unwrap();
    log.create_topic("out", &TopicConfig::new(2)).unwrap();
    produce(log.as_ref(), 0, N / 3);
    run(&log, dir.path());
    produce(log.as_ref(), N / 3, 2 * N / 3);
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    run(&log, dir.path());
    produce(log.as_ref(), 2 * N / 3, N);
    run(&log, dir.path());
    let got = emitted(log.as_ref());

    let driver = TestDriver::with_partitions(topology(), 2, Config::default()).unwrap();
    let input = driver.input("in", Utf8, Json);
    for i in 0..N {
        let (key, t) = record(i);
        input.pipe_at(key, 1u32, t).unwrap();
    }
    let mut expected: Vec<Count> = driver.output("out", Json, Json).read_key_values().unwrap();
    expected.sort();
    assert!(expected.len() > 1_000, "{} windows", expected.len());
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the restarted run emitted other counts");
}
