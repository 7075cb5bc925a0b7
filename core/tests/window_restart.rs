//! Windowed state survives restarts and the loss of the state directory:
//! a hopping count and a session count, each run in three parts (stopped
//! in between, the second time with its state directory deleted), emit
//! exactly what one uninterrupted run emits.

use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::testing::TestDriver;
use tributary::topology::{Emit, SessionWindows, TimeWindows, Windowed};
use tributary::{App, Config, Record, Topology};

/// The two windowed counts under test.
#[derive(Debug, Clone, Copy)]
enum Windows {
    /// 100 ms windows every 50 ms, 20 ms of grace.
    Hopping,
    /// Sessions with a 120 ms gap, 20 ms of grace.
    Sessions,
}

fn topology(windows: Windows) -> Topology {
    let mut b = Topology::builder("windows");
    let grouped = b.stream::<String, u32>("in", Utf8, Json).group_by_key();
    let grace = Duration::from_millis(20);
    let counts = match windows {
        Windows::Hopping => grouped
            .windowed_by(
                TimeWindows::hopping(Duration::from_millis(100), Duration::from_millis(50))
                    .grace(grace),
            )
            .emit(Emit::OnWindowClose)
            .count("counts"),
        Windows::Sessions => grouped
            .session_windowed_by(SessionWindows::with_gap(Duration::from_millis(120)).grace(grace))
            .emit(Emit::OnWindowClose)
            .count("counts"),
    };
    counts.to_stream().to("out", Json, Json);
    b.build().unwrap()
}

/// Records in all, produced in three parts with a run after each.
const N: u64 = 6_000;

/// Record `i`: key `k{i % 20}`, time `5 i` less up to 15 ms of disorder.
/// For sessions, a pause of 500 ms after every 300 records, so that each
/// key's records (100 ms apart) form sessions of 15, open when a run stops
/// (mid-burst); and key `k19` is renamed after the first part, so that its
/// last session is closed only by the time passing in the later runs.
fn record(windows: Windows, i: u64) -> (String, i64) {
    let (pauses, key) = match windows {
        Windows::Hopping => (0, format!("k{}", i % 20)),
        Windows::Sessions if i % 20 == 19 && i >= N / 3 => {
            (500 * (i / 300) as i64, "k19-later".into())
        }
        Windows::Sessions => (500 * (i / 300) as i64, format!("k{}", i % 20)),
    };
    (key, 100 + 5 * i as i64 + pauses - ((i * 7) % 16) as i64)
}

fn produce(log: &dyn Log, windows: Windows, from: u64, to: u64) {
    let mut batches: Vec<Batch> = (0..2).map(|_| Batch::new()).collect();
    for i in from..to {
        let (key, t) = record(windows, i);
        let p = tributary::partition_for_key(key.as_bytes(), 2) as usize;
        batches[p].push(t, Some(key.as_bytes()), Some(b"1"), &[]);
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append("in", p as u32, b).unwrap();
    }
}

fn run(log: &Arc<EmbeddedLog>, dir: &std::path::Path, windows: Windows) {
    let config = Config {
        threads: 2,
        state_dir: dir.join("state"),
        ..Config::default()
    };
    let running = App::new(topology(windows), Arc::clone(log) as Arc<dyn Log>, config)
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
fn hopping_counts_survive_restarts_and_state_loss() {
    survives_restarts_and_state_loss(Windows::Hopping);
}

#[test]
fn session_counts_survive_restarts_and_state_loss() {
    survives_restarts_and_state_loss(Windows::Sessions);
}

fn survives_restarts_and_state_loss(windows: Windows) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    log.create_topic("in", &TopicConfig::new(2)).unwrap();
    log.create_topic("out", &TopicConfig::new(2)).unwrap();
    produce(log.as_ref(), windows, 0, N / 3);
    run(&log, dir.path(), windows);
    produce(log.as_ref(), windows, N / 3, 2 * N / 3);
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    run(&log, dir.path(), windows);
    let after_two = emitted(log.as_ref());
    produce(log.as_ref(), windows, 2 * N / 3, N);
    run(&log, dir.path(), windows);
    let got = emitted(log.as_ref());

    let driver = TestDriver::with_partitions(topology(windows), 2, Config::default()).unwrap();
    let input = driver.input("in", Utf8, Json);
    for i in 0..N {
        let (key, t) = record(windows, i);
        input.pipe_at(key, 1u32, t).unwrap();
    }
    let mut expected: Vec<Count> = driver.output("out", Json, Json).read_key_values().unwrap();
    expected.sort();
    assert!(expected.len() > 300, "{} windows", expected.len());
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the restarted run emitted other counts");
    // Windows close on time after a restart, not only at the next one:
    // those that ended well before the second part's last record were
    // emitted by the second run.
    let horizon = record(windows, 2 * N / 3 - 1).1 - 300;
    let due: Vec<&Count> = expected
        .iter()
        .filter(|(w, _)| w.end + 200 <= horizon)
        .collect();
    assert!(due.len() > expected.len() / 2, "{} windows due", due.len());
    let missing: Vec<&&Count> = due.iter().filter(|c| !after_two.contains(c)).collect();
    assert!(
        missing.is_empty(),
        "windows the second run did not emit: {missing:?}"
    );
}
