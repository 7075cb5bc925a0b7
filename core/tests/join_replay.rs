//! A windowed join run live, while its inputs are being written, and then
//! replayed from the log with empty state, gives the same output.

use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::runtime::ReplayFrom;
use tributary::topology::JoinWindows;
use tributary::{App, Config, Record, Topology};

fn topology() -> Topology {
    let mut b = Topology::builder("ad-joins");
    let views = b.stream::<String, u64>("views", Utf8, Json);
    let clicks = b.stream::<String, u64>("clicks", Utf8, Json);
    views
        .left_join(
            &clicks,
            "views-clicks",
            JoinWindows::of(Duration::from_millis(50)).grace(Duration::from_millis(30)),
            |_ad, v, c| (*v, c.copied()),
        )
        .to("joined", Utf8, Json);
    b.build().unwrap()
}

fn config(dir: &std::path::Path, replay: bool) -> Config {
    Config {
        threads: 2,
        state_dir: dir.join("state"),
        replay_from: replay.then_some(ReplayFrom::Earliest),
        ..Config::default()
    }
}

/// Writes records `from..to` of both topics: ad `i % 40`, time `10 i` with
/// up to 20 ms of disorder; every third view gets a click 0-60 ms later.
fn produce(log: &dyn Log, from: u64, to: u64) {
    let mut views: Vec<Batch> = (0..2).map(|_| Batch::new()).collect();
    let mut clicks: Vec<Batch> = (0..2).map(|_| Batch::new()).collect();
    for i in from..to {
        let ad = format!("ad-{}", i % 40);
        let p = tributary::partition_for_key(ad.as_bytes(), 2) as usize;
        let t = 100 + 10 * i as i64 - ((i * 7919) % 20) as i64;
        views[p].push(t, Some(ad.as_bytes()), Some(i.to_string().as_bytes()), &[]);
        if i % 3 == 0 {
            let c = t + ((i * 31) % 61) as i64;
            clicks[p].push(
                c,
                Some(ad.as_bytes()),
                Some((i + 1_000_000).to_string().as_bytes()),
                &[],
            );
        }
    }
    for p in 0..2 {
        log.append("views", p, &views[p as usize]).unwrap();
        log.append("clicks", p, &clicks[p as usize]).unwrap();
    }
}

fn joined(log: &dyn Log, skip: &[usize; 2]) -> (Vec<(String, String, i64)>, [usize; 2]) {
    let mut out = Vec::new();
    let mut ends = [0; 2];
    for p in 0..2u32 {
        let mut records: Vec<Record> = Vec::new();
        let (_, end) = log.offsets("joined", p).unwrap();
        let mut pos = 0;
        while pos < end {
            let before = records.len();
            log.fetch("joined", p, pos, 1 << 20, &mut records).unwrap();
            pos = records[before..].last().map_or(end, |r| r.offset + 1);
        }
        ends[p as usize] = records.len();
        for r in records.into_iter().skip(skip[p as usize]) {
            let s = |b: Option<bytes::Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
            out.push((s(r.key.clone()), s(r.value.clone()), r.timestamp));
        }
    }
    out.sort();
    (out, ends)
}

#[test]
fn replaying_a_windowed_join_gives_the_live_output() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    for t in ["views", "clicks", "joined"] {
        log.create_topic(t, &TopicConfig::new(2)).unwrap();
    }
    let running = App::new(
        topology(),
        Arc::clone(&log) as Arc<dyn Log>,
        config(dir.path(), false),
    )
    .unwrap()
    .start()
    .unwrap();
    for chunk in 0..10 {
        produce(log.as_ref(), chunk * 300, (chunk + 1) * 300);
        std::thread::sleep(Duration::from_millis(50));
    }
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    let live_stats = running.shutdown().unwrap();
    let (live, ends) = joined(log.as_ref(), &[0, 0]);

    let running = App::new(
        topology(),
        Arc::clone(&log) as Arc<dyn Log>,
        config(dir.path(), true),
    )
    .unwrap()
    .start()
    .unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    let replay_stats = running.shutdown().unwrap();
    let (replayed, _) = joined(log.as_ref(), &ends);

    let pairs = live
        .iter()
        .filter(|(_, v, _)| !v.ends_with("null]"))
        .count();
    let alone = live.len() - pairs;
    assert!(
        pairs > 500 && alone > 500,
        "{pairs} pairs, {alone} views alone"
    );
    assert_eq!(live_stats.late_dropped, 0);
    assert_eq!(replay_stats.late_dropped, 0);
    assert_eq!(live.len(), replayed.len());
    assert!(
        live == replayed,
        "the replay's output differs from the live run's"
    );
}
