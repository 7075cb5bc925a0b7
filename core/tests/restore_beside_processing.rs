//! A task restoring a large changelog does not hold up the other tasks of
//! its worker: restores run on their own threads.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Topology};

const CHANGELOG: u64 = 1_000_000;
const INPUT: u64 = 20_000;

#[test]
fn other_tasks_process_while_one_restores() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    for t in ["in", "out"] {
        log.create_topic(t, &TopicConfig::new(2)).unwrap();
    }
    // Task 0's store has a changelog of a million changes (its state
    // directory is new, so it restores them all); task 1's has none.
    log.create_topic("stall-counts-changelog", &TopicConfig::new(2).compacted())
        .unwrap();
    let mut batch = Batch::new();
    for i in 0..CHANGELOG {
        batch.push(0, Some(&i.to_be_bytes()), Some(&1u64.to_le_bytes()), &[]);
        if batch.len() == 10_000 {
            log.append("stall-counts-changelog", 0, &batch).unwrap();
            batch.clear();
        }
    }
    // Input only for task 1.
    let mut batch = Batch::new();
    for i in 0..INPUT {
        let key = (0..)
            .map(|k| format!("k{i}-{k}"))
            .find(|k| tributary::partition_for_key(k.as_bytes(), 2) == 1)
            .unwrap();
        batch.push(i as i64, Some(key.as_bytes()), Some(b"1"), &[]);
    }
    log.append("in", 1, &batch).unwrap();

    let mut b = Topology::builder("stall");
    b.stream::<String, String>("in", Utf8, Utf8)
        .group_by_key()
        .count("counts")
        .to_stream()
        .to("out", Utf8, Json);
    let config = Config {
        threads: 1,
        state_dir: dir.path().join("state"),
        ..Config::default()
    };
    let running = App::new(b.build().unwrap(), Arc::clone(&log), config)
        .unwrap()
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The most records processed while the big restore was under way.
    let mut processed_while_restoring = 0;
    while running.restoring() > 0 {
        assert!(Instant::now() < deadline, "restore did not finish");
        let n = running.records_in();
        if running.restoring() > 0 {
            processed_while_restoring = n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    let stats = running.shutdown().unwrap();
    assert_eq!(stats.restored, CHANGELOG);
    assert_eq!(stats.records_in, INPUT);
    // Processing 20k records takes a few milliseconds, restoring a
    // million changes half a second or more: task 1 is expected to be done
    // long before; half of it is asked, so that a loaded machine does not
    // fail the test.
    assert!(
        processed_while_restoring >= INPUT / 2,
        "task 1 processed only {processed_while_restoring} of its {INPUT} records while \
         task 0 restored"
    );
}
