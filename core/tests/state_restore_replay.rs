//! State survives the loss of its directory (restored from changelogs), and
//! a replay from the start gives the live run's state and output.

use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::runtime::ReplayFrom;
use tributary::{App, Config, Topology};

fn topology() -> Topology {
    let mut b = Topology::builder("wordcount");
    let counts = b
        .stream::<String, String>("lines", Utf8, Utf8)
        .flat_map(|_k, line| {
            line.split_whitespace()
                .map(|w| (w.to_string(), ()))
                .collect::<Vec<_>>()
        })
        .group_by("by-word", |w, _| w.clone())
        .count("word-counts");
    counts.to_stream().to("counts", Utf8, Json);
    b.stream::<String, u64>("scores", Utf8, Json)
        .group_by_key()
        .reduce("max-score", |a, b| a.max(b));
    b.build().unwrap()
}

fn config(dir: &std::path::Path) -> Config {
    Config {
        threads: 2,
        state_dir: dir.join("state"),
        ..Config::default()
    }
}

fn produce(log: &dyn Log, from: usize, to: usize) {
    let mut lines: Vec<Batch> = (0..2).map(|_| Batch::new()).collect();
    let mut scores: Vec<Batch> = (0..2).map(|_| Batch::new()).collect();
    for i in from..to {
        let line = format!("w{} w{} common w{}", i % 97, i % 13, (i * 7) % 1000);
        lines[i % 2].push(
            i as i64,
            Some(format!("l{i}").as_bytes()),
            Some(line.as_bytes()),
            &[],
        );
        // Scores are keyed by user: each user's scores are in one partition.
        let user = format!("u{}", i % 50);
        let p = tributary::partition_for_key(user.as_bytes(), 2) as usize;
        let score = (i * 31 % 1000).to_string();
        scores[p].push(i as i64, Some(user.as_bytes()), Some(score.as_bytes()), &[]);
    }
    for p in 0..2 {
        log.append("lines", p as u32, &lines[p]).unwrap();
        log.append("scores", p as u32, &scores[p]).unwrap();
    }
}

fn run(dir: &std::path::Path, config: Config) -> tributary::runtime::Stats {
    let log = Arc::new(EmbeddedLog::open(dir.join("log")).unwrap());
    let running = App::new(topology(), log, config).unwrap().start().unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    running.shutdown().unwrap()
}

type State = (Vec<(String, u64)>, Vec<(String, u64)>);

fn state(dir: &std::path::Path) -> State {
    let log = Arc::new(EmbeddedLog::open(dir.join("log")).unwrap());
    let app = App::new(topology(), log, config(dir)).unwrap();
    let mut words = app
        .store::<String, u64>("word-counts")
        .unwrap()
        .iter()
        .unwrap();
    let mut scores = app
        .store::<String, u64>("max-score")
        .unwrap()
        .iter()
        .unwrap();
    words.sort();
    scores.sort();
    (words, scores)
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path().join("log")).unwrap();
    for t in ["lines", "scores", "counts"] {
        log.create_topic(t, &TopicConfig::new(2)).unwrap();
    }
    dir
}

#[test]
fn deleted_state_is_restored_from_changelogs() {
    let dir = setup();
    let log = EmbeddedLog::open(dir.path().join("log")).unwrap();
    produce(&log, 0, 3_000);
    drop(log);
    run(dir.path(), config(dir.path()));
    let before = state(dir.path());
    assert_eq!(
        before.0.iter().find(|(w, _)| w == "common").map(|e| e.1),
        Some(3_000)
    );
    assert_eq!(before.1.len(), 50);

    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let stats = run(dir.path(), config(dir.path()));
    assert!(
        stats.restored > 0,
        "the restart should say it restored from the changelogs"
    );
    assert_eq!(stats.records_in, 0, "nothing is reprocessed");
    assert_eq!(state(dir.path()), before);

    // The rebuilt state is current: the next clean start restores nothing.
    let stats = run(dir.path(), config(dir.path()));
    assert_eq!((stats.restored, stats.records_in), (0, 0));
    assert_eq!(state(dir.path()), before);

    // And it goes on from there.
    let log = EmbeddedLog::open(dir.path().join("log")).unwrap();
    produce(&log, 3_000, 3_100);
    drop(log);
    run(dir.path(), config(dir.path()));
    let after = state(dir.path());
    assert_eq!(
        after.0.iter().find(|(w, _)| w == "common").map(|e| e.1),
        Some(3_100)
    );
}

#[test]
fn a_restore_in_many_batches_keeps_the_last_change_of_each_key() {
    use tributary::codec::{Codec, Rkyv};
    // A changelog written directly: 60 000 changes over 3 000 keys, some of
    // them deletes. With the smallest state budget (8 MiB), each of the two
    // restoring threads has 1 MiB for its batches, so each partition is
    // loaded as two table files (16 k changes each at most), the second
    // overriding the first.
    let dir = setup();
    let log = EmbeddedLog::open(dir.path().join("log")).unwrap();
    let topic = "wordcount-max-score-changelog";
    log.create_topic(topic, &TopicConfig::new(2).compacted())
        .unwrap();
    let mut expected = std::collections::BTreeMap::new();
    let mut batches: Vec<Batch> = (0..2).map(|_| Batch::new()).collect();
    for i in 0..60_000u64 {
        let user = format!("user-{:05}", (i * 7919) % 3_000);
        let p = tributary::partition_for_key(user.as_bytes(), 2) as usize;
        let mut key = Vec::new();
        Rkyv.encode(&user, &mut key).unwrap();
        if i % 11 == 0 {
            batches[p].push(0, Some(&key), None, &[]);
            expected.remove(&user);
        } else {
            let mut value = Vec::new();
            Rkyv.encode(&i, &mut value).unwrap();
            batches[p].push(0, Some(&key), Some(&value), &[]);
            expected.insert(user, i);
        }
        if batches[p].len() >= 500 {
            log.append(topic, p as u32, &batches[p]).unwrap();
            batches[p].clear();
        }
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append(topic, p as u32, b).unwrap();
    }
    drop(log);
    let small = Config {
        state_memory: 8 << 20,
        ..config(dir.path())
    };
    let stats = run(dir.path(), small);
    assert_eq!(stats.restored, 60_000);
    let restored: std::collections::BTreeMap<String, u64> =
        state(dir.path()).1.into_iter().collect();
    assert!(expected.len() > 2_000 && expected.len() < 3_000);
    assert_eq!(restored, expected);
}

#[test]
fn replay_from_earliest_gives_the_live_result() {
    let dir = setup();
    let log = EmbeddedLog::open(dir.path().join("log")).unwrap();
    // Live: input arrives in three parts, the application runs after each.
    for part in 0..3 {
        produce(&log, part * 1_000, (part + 1) * 1_000);
        run(dir.path(), config(dir.path()));
    }
    let live_state = state(dir.path());
    let live_end: Vec<u64> = (0..2)
        .map(|p| log.offsets("counts", p).unwrap().1)
        .collect();

    let replay = Config {
        replay_from: Some(ReplayFrom::Earliest),
        ..config(dir.path())
    };
    let stats = run(dir.path(), replay);
    assert!(
        stats.records_in >= 12_000,
        "the replay reprocesses everything: {}",
        stats.records_in
    );
    assert_eq!(
        state(dir.path()),
        live_state,
        "replayed state equals the live state"
    );
    // The replay's output (appended after the live output) equals the live output.
    for (p, &end) in live_end.iter().enumerate() {
        let mut all = Vec::new();
        let mut pos = 0;
        loop {
            let before = all.len();
            log.fetch("counts", p as u32, pos, 1 << 20, &mut all)
                .unwrap();
            if all.len() == before {
                break;
            }
            pos = all.last().unwrap().offset + 1;
        }
        // Per key, the sequence of updates is the same (records of different
        // keys interleave as the repartition topic was written).
        let per_key = |records: &[tributary::Record]| {
            let mut m: std::collections::BTreeMap<Vec<u8>, Vec<Vec<u8>>> = Default::default();
            for r in records {
                m.entry(r.key.clone().unwrap().to_vec())
                    .or_default()
                    .push(r.value.clone().unwrap().to_vec());
            }
            m
        };
        let (live, replayed) = all.split_at(end as usize);
        assert_eq!(live.len(), replayed.len(), "partition {p}");
        assert!(
            per_key(live) == per_key(replayed),
            "partition {p}: replayed output differs from the live output"
        );
    }
}
