//! Suppression (emit-final for tables): `suppress_until_window_closes` on
//! a windowed table emits exactly what `Emit::OnWindowClose` emits, on a
//! re-aggregated table ("count per window, then the hottest key per
//! window") each window's final row once; `suppress_until_time_limit`
//! emits what a plain model of it emits; held changes survive a restart;
//! a table without windows upstream cannot wait for them to close.

use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Optional, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::testing::TestDriver;
use tributary::topology::{Emit, SessionWindows, TimeWindows, Windowed};
use tributary::{App, Config, Topology};

mod common;

type Out = (Windowed<String>, Option<u64>, i64);

fn sorted(mut v: Vec<Out>) -> Vec<Out> {
    v.sort();
    v
}

fn read(driver: &TestDriver, topic: &str) -> Vec<Out> {
    driver
        .output::<Windowed<String>, Option<u64>, _, _>(topic, Json, Optional(Json))
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Hopping and session windows, with disorder (some records late):
    /// suppressing the emit-on-update table gives, window for window, the
    /// emit-on-close output (same values, same timestamps).
    #[test]
    fn until_window_closes_is_emit_on_close(
        events in prop::collection::vec((0u8..4, 0i64..400, 0i64..60), 1..120),
    ) {
        let mut b = Topology::builder("sup");
        let clicks = b.stream::<String, u32>("clicks", Utf8, Json);
        let hop = TimeWindows::hopping(Duration::from_millis(100), Duration::from_millis(40))
            .grace(Duration::from_millis(15));
        let session = SessionWindows::with_gap(Duration::from_millis(30))
            .grace(Duration::from_millis(10));
        let grouped = clicks.group_by_key();
        grouped.windowed_by(hop).emit(Emit::OnWindowClose).count("hop-closed")
            .to("hop-closed", Json, Json);
        grouped.windowed_by(hop).count("hop-updates")
            .suppress_until_window_closes("hop-held")
            .to("hop-suppressed", Json, Json);
        grouped.session_windowed_by(session).emit(Emit::OnWindowClose).count("ses-closed")
            .to("ses-closed", Json, Json);
        grouped.session_windowed_by(session).count("ses-updates")
            .suppress_until_window_closes("ses-held")
            .to("ses-suppressed", Json, Json);
        let driver = TestDriver::new(b.build().unwrap()).unwrap();
        let input = driver.input("clicks", Utf8, Json);
        // Times advance by up to 60 ms; each record may be up to 400 ms back.
        let mut now = 0;
        for (key, back, step) in &events {
            now += step;
            input.pipe_at(format!("k{key}"), 1, (now - back).max(0)).unwrap();
        }
        // Far ahead on every key: every window closes.
        input.pipe_at("k0".to_string(), 1, now + 10_000).unwrap();
        let drop_last = |v: Vec<Out>| -> Vec<Out> {
            v.into_iter().filter(|(w, ..)| w.start < now + 5_000).collect()
        };
        let hop_closed = drop_last(read(&driver, "hop-closed"));
        prop_assert!(!hop_closed.is_empty());
        prop_assert_eq!(sorted(drop_last(read(&driver, "hop-suppressed"))), sorted(hop_closed));
        let ses_closed = drop_last(read(&driver, "ses-closed"));
        prop_assert_eq!(sorted(drop_last(read(&driver, "ses-suppressed"))), sorted(ses_closed));
    }

    /// `suppress_until_time_limit` on a count: each key's latest count is
    /// emitted once the watermark reaches its first held change's time plus
    /// the limit, exactly as a direct model of that rule says.
    #[test]
    fn until_time_limit_follows_its_model(
        events in prop::collection::vec((0u8..5, 0i64..3_000), 1..150),
    ) {
        const LIMIT: i64 = 5_000;
        let mut b = Topology::builder("limit");
        b.stream::<String, u32>("clicks", Utf8, Json)
            .group_by_key()
            .count("counts")
            .suppress_until_time_limit("held", Duration::from_millis(LIMIT as u64))
            .to("out", Utf8, Json);
        let driver = TestDriver::new(b.build().unwrap()).unwrap();
        let input = driver.input("clicks", Utf8, Json);
        // The model: counts, held (value, latest time) with a due time,
        // emitted in due order (then first-held order) when the watermark
        // (the largest time so far) reaches it.
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut held: BTreeMap<String, (u64, i64, i64)> = BTreeMap::new();
        let mut order: VecDeque<(i64, String)> = VecDeque::new();
        let mut expected = Vec::new();
        let (mut now, mut wm) = (0, i64::MIN);
        for (key, step) in &events {
            now += step;
            let key = format!("k{key}");
            input.pipe_at(key.clone(), 1, now).unwrap();
            wm = wm.max(now);
            let n = counts.entry(key.clone()).or_default();
            *n += 1;
            match held.get_mut(&key) {
                Some((v, t, due)) if *due > wm => { *v = *n; *t = now; }
                Some(_) => { held.remove(&key); expected.push((key.clone(), *n, now)); }
                None if now + LIMIT <= wm => expected.push((key.clone(), *n, now)),
                None => {
                    held.insert(key.clone(), (*n, now, now + LIMIT));
                    let at = order.partition_point(|(d, _)| *d <= now + LIMIT);
                    order.insert(at, (now + LIMIT, key.clone()));
                }
            }
            while order.front().is_some_and(|(d, _)| *d <= wm) {
                let (_, k) = order.pop_front().unwrap();
                if let Some((v, t, _)) = held.remove(&k) {
                    expected.push((k, v, t));
                }
            }
        }
        let out: Vec<(String, u64, i64)> = driver
            .output::<String, u64, _, _>("out", Utf8, Json)
            .read_records()
            .unwrap()
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect();
        prop_assert_eq!(out, expected);
    }
}

/// Bids per auction in 10 s windows hopping by 2 s, then the hottest
/// auction of each window (Nexmark q5's shape) across a repartition, with
/// two threads and skewed partitions: every window's winner is emitted
/// exactly once and equals a direct computation.
#[test]
fn the_hottest_key_per_window_is_emitted_once_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    for (t, n) in [("bids", 4), ("hottest", 2)] {
        log.create_topic(t, &TopicConfig::new(n)).unwrap();
    }
    // 60 s of bids over 200 auctions, the hottest far hotter than the rest.
    let mut reference: BTreeMap<(String, i64), u64> = BTreeMap::new();
    let mut batches: Vec<Batch> = (0..4).map(|_| Batch::new()).collect();
    let n = 40_000u64;
    for i in 0..n {
        let x = (i * 2_654_435_761) % 10_007;
        let auction = format!("a{:03}", (x * x / 10_007) * (x % 7) % 200);
        let ts = (i * 60_000 / n) as i64;
        let p = tributary::partition_for_key(auction.as_bytes(), 4) as usize;
        batches[p].push(ts, Some(auction.as_bytes()), Some(b"1"), &[]);
        let last = ts - ts.rem_euclid(2_000);
        for s in (0..5).map(|k| last - k * 2_000) {
            *reference.entry((auction.clone(), s)).or_default() += 1;
        }
    }
    let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
    for (p, b) in batches.iter_mut().enumerate() {
        log.append("bids", p as u32, b).unwrap();
    }
    // The winner: most bids, then the smallest auction name.
    let rank = |x: &(u64, String)| (x.0, std::cmp::Reverse(x.1.clone()));
    let mut best: BTreeMap<i64, (u64, String)> = BTreeMap::new();
    for ((auction, start), n) in reference {
        let e = best.entry(start).or_insert((n, auction.clone()));
        if rank(&(n, auction.clone())) > rank(e) {
            *e = (n, auction);
        }
    }

    let mut b = Topology::builder("q5");
    b.stream::<String, u32>("bids", Utf8, Json)
        .group_by_key()
        .windowed_by(TimeWindows::hopping(
            Duration::from_secs(10),
            Duration::from_secs(2),
        ))
        .count("bids-per-auction")
        .to_stream()
        .map(|w, n| (w.clone(), (n, w.key)))
        .group_by("by-window", |w, _| Windowed {
            key: (),
            start: w.start,
            end: w.end,
        })
        .reduce(
            "hottest",
            move |a, b| if rank(&b) > rank(&a) { b } else { a },
        )
        .suppress_until_window_closes("hottest-final")
        .to("hottest", Json, Json);
    let config = Config {
        state_dir: dir.path().join("state"),
        threads: 2,
        idle_timeout: Duration::from_secs(3600),
        ..Config::default()
    };
    let app = App::new(b.build().unwrap(), Arc::clone(&log) as Arc<dyn Log>, config).unwrap();
    let stats = app.run_to_end().unwrap();
    assert_eq!(stats.late_dropped, 0, "{stats:?}");
    assert!(
        sizes.iter().max() > Some(&(2 * sizes.iter().min().unwrap())),
        "{sizes:?}"
    );
    let mut got: BTreeMap<i64, (u64, String)> = BTreeMap::new();
    for p in 0..2 {
        for r in common::read_all(log.as_ref(), "hottest", p) {
            let w: Windowed<()> = serde_json::from_slice(&r.key.unwrap()).unwrap();
            let v: Option<(u64, String)> = serde_json::from_slice(&r.value.unwrap()).unwrap();
            let v = v.expect("no deletions");
            assert!(
                got.insert(w.start, v).is_none(),
                "window {} emitted twice",
                w.start
            );
        }
    }
    assert_eq!(got, best);
}

/// Changes held when the application stops are emitted after it starts
/// again: one run in two parts emits what one uninterrupted run emits.
#[test]
fn held_changes_survive_a_restart() {
    fn topology() -> Topology {
        let mut b = Topology::builder("held");
        b.stream::<String, u32>("in", Utf8, Json)
            .group_by_key()
            .windowed_by(TimeWindows::tumbling(Duration::from_millis(100)))
            .count("counts")
            .suppress_until_window_closes("counts-held")
            .to("out", Json, Json);
        b.build().unwrap()
    }
    fn produce(log: &dyn Log, from: i64, to: i64) {
        let mut batch = Batch::new();
        for i in from..to {
            let key = format!("k{}", i % 3);
            batch.push(i * 7, Some(key.as_bytes()), Some(b"1"), &[]);
        }
        log.append("in", 0, &batch).unwrap();
    }
    fn run(log: &Arc<EmbeddedLog>, state: &std::path::Path, to_end: bool) {
        let config = Config {
            state_dir: state.to_path_buf(),
            idle_timeout: Duration::from_secs(3600),
            ..Config::default()
        };
        let app = App::new(topology(), Arc::clone(log) as Arc<dyn Log>, config).unwrap();
        if to_end {
            app.run_to_end().unwrap();
        } else {
            let running = app.start().unwrap();
            running
                .wait_until_caught_up(Duration::from_secs(60))
                .unwrap();
            running.shutdown().unwrap();
        }
    }
    let emitted = |log: &EmbeddedLog| -> Vec<(Windowed<String>, Option<u64>)> {
        let mut v: Vec<_> = common::read_all(log, "out", 0)
            .into_iter()
            .map(|r| {
                (
                    serde_json::from_slice(&r.key.unwrap()).unwrap(),
                    serde_json::from_slice(&r.value.unwrap()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let open = |dir: &std::path::Path| {
        let log = Arc::new(EmbeddedLog::open(dir.join("log")).unwrap());
        for t in ["in", "out"] {
            log.create_topic(t, &TopicConfig::new(1)).unwrap();
        }
        log
    };
    let whole = tempfile::tempdir().unwrap();
    let log = open(whole.path());
    produce(log.as_ref(), 0, 300);
    run(&log, &whole.path().join("state"), true);
    let expected = emitted(&log);
    assert_eq!(expected.len(), 3 * 21, "3 keys, 21 windows each");

    let parts = tempfile::tempdir().unwrap();
    let log = open(parts.path());
    produce(log.as_ref(), 0, 150);
    run(&log, &parts.path().join("state"), false);
    let first = emitted(&log);
    assert!(!first.is_empty() && first.len() < expected.len());
    produce(log.as_ref(), 150, 300);
    run(&log, &parts.path().join("state"), true);
    assert_eq!(emitted(&log), expected);
}

#[test]
fn a_table_without_windows_upstream_cannot_wait_for_them() {
    let mut b = Topology::builder("bad");
    b.stream::<String, u32>("in", Utf8, Json)
        .map(|k, v| {
            (
                Windowed {
                    key: k,
                    start: 0,
                    end: 10,
                },
                v,
            )
        })
        .group_by("re", |k, _| k.clone())
        .count("counts")
        .suppress_until_window_closes("held")
        .to("out", Json, Json);
    let err = b.build().unwrap_err().to_string();
    assert!(
        err.contains("suppress_until_window_closes(\"held\")"),
        "{err}"
    );
    assert!(
        err.contains("does not come from a windowed aggregation"),
        "{err}"
    );
}
