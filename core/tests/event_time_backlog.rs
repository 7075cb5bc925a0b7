//! Event time under a backlog: a pipeline that repartitions twice, in front
//! of hopping (and, after a third repartition, the hottest item of each
//! hopping window, suppressed until the window closes), tumbling (emit on
//! update) and session windows, a windowed
//! stream-stream join and a stream-table join, gives the same results
//! whatever the thread count, whether it runs over a pre-loaded backlog,
//! live with pauses, or as a replay from earliest; none of its records is
//! dropped as late (the input has none later than the allowed
//! out-of-orderness), and its hopping counts equal a direct computation.
//!
//! The input is skewed as real ones are: item popularity is Zipf-like
//! (the hottest items well over 100 times the median), and the partitions
//! hold 1:2:3:10 of the events over the same span of time, so that the
//! tasks upstream of each repartition run far apart in event time.
//!
//! `TRIBUTARY_BACKLOG_EVENTS` sets the event count (default 1,000,000).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::runtime::ReplayFrom;
use tributary::runtime::Stats;
use tributary::topology::{Emit, JoinWindows, SessionWindows, TimeWindows, Windowed};
use tributary::{App, Config, Topology};

mod common;

const PARTITIONS: u32 = 4;
const WEIGHTS: [u32; 4] = [1, 2, 3, 10];
const ITEMS: u32 = 2_000;
const CATEGORIES: u32 = 50;
/// Records arrive up to this far behind the latest of their partition.
const DISORDER_MS: i64 = 1_500;
const OUT_OF_ORDERNESS: Duration = Duration::from_secs(2);
const HOP: (i64, i64) = (10_000, 2_000);

/// The outputs of the pipeline, and whether each is emitted on close
/// (compared record for record) or on update (final value per key).
const OUTPUTS: [(&str, bool); 6] = [
    ("hop-counts", true),
    ("hottest", true),
    ("session-counts", true),
    ("category-counts", true),
    ("view-buys", true),
    ("tumble-updates", false),
];

/// An event: user, item and kind (3 = purchase), at a time.
#[derive(Clone, Copy)]
struct Event {
    user: u32,
    item: u32,
    kind: u64,
    ts: i64,
    partition: u32,
}

/// `n` events, `rate` per second of event time.
fn events(n: usize, rate: i64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(12);
    // Zipf-like popularity: item i has weight 1 / (i + 1).
    let cdf: Vec<f64> = (0..ITEMS)
        .scan(0.0, |acc, i| {
            *acc += 1.0 / f64::from(i + 1);
            Some(*acc)
        })
        .collect();
    let total: u32 = WEIGHTS.iter().sum();
    (0..n)
        .map(|i| {
            let x = rng.random::<f64>() * cdf[cdf.len() - 1];
            let item = cdf.partition_point(|&c| c < x) as u32;
            let mut w = rng.random_range(0..total);
            let mut partition = 0;
            while w >= WEIGHTS[partition as usize] {
                w -= WEIGHTS[partition as usize];
                partition += 1;
            }
            let base = 1_000_000 + i as i64 * 1000 / rate;
            Event {
                user: rng.random_range(0..20_000),
                item,
                kind: if rng.random_ratio(1, 50) {
                    3
                } else {
                    rng.random_range(0..3)
                },
                ts: base - rng.random_range(0..=DISORDER_MS),
                partition,
            }
        })
        .collect()
}

/// Stalls injected into user code upstream of each repartition: a sleep of
/// `micros` for the records whose hash with `seed` is 0 modulo `every`.
#[derive(Debug, Clone, Copy)]
struct Stall {
    every: u64,
    seed: u64,
    micros: u64,
}

impl Stall {
    const NONE: Stall = Stall {
        every: 0,
        seed: 0,
        micros: 0,
    };

    fn apply(&self, x: u64) {
        if self.every > 0
            && ((x ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40)
                .is_multiple_of(self.every)
        {
            std::thread::sleep(Duration::from_micros(self.micros));
        }
    }
}

fn topology(stall: Stall) -> Topology {
    let mut b = Topology::builder("backlog");
    let catalog = b.table::<u32, u32>("catalog", Json, Json, "catalog");
    // user -> item * 4 + kind
    let by_item = b
        .stream::<String, u64>("events", Utf8, Json)
        .inspect(move |_user, e| stall.apply(*e))
        .key_by("by-item", |_user, e| (*e / 4) as u32);
    let hop_counts = by_item
        .group_by_key()
        .windowed_by(TimeWindows::hopping(
            Duration::from_millis(HOP.0 as u64),
            Duration::from_millis(HOP.1 as u64),
        ))
        .emit(Emit::OnWindowClose)
        .count("hop")
        .to_stream();
    hop_counts.to("hop-counts", Json, Json);
    // The hottest item of each hopping window (most events, then the
    // lowest item), emitted once per window.
    hop_counts
        .map(|w, n| (w.clone(), (n, -i64::from(w.key))))
        .group_by("by-window", |w, _| Windowed {
            key: (),
            start: w.start,
            end: w.end,
        })
        .reduce("hottest", |a, b| a.max(b))
        .suppress_until_window_closes("hottest-final")
        .to("hottest", Json, Json);
    by_item
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(5)))
        .count("tumble")
        .to_stream()
        .to("tumble-updates", Json, Json);
    by_item
        .group_by_key()
        .session_windowed_by(SessionWindows::with_gap(Duration::from_millis(300)))
        .emit(Emit::OnWindowClose)
        .count("sessions")
        .to_stream()
        .to("session-counts", Json, Json);
    let [buys, views] = by_item
        .branch()
        .on(|_item, e| e % 4 == 3)
        .otherwise()
        .build();
    views
        .join(
            &buys,
            "view-buy",
            JoinWindows::of(Duration::from_millis(50)),
            |_item, v, b| (*v, *b),
        )
        .to("view-buys", Json, Json);
    by_item
        .join_table(&catalog, |_item, _e, category| *category)
        .inspect(move |item, _| stall.apply(u64::from(*item)))
        .key_by("by-category", |_item, category| *category)
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(10)))
        .emit(Emit::OnWindowClose)
        .count("per-category")
        .to_stream()
        .to("category-counts", Json, Json);
    b.build().unwrap()
}

fn open(dir: &std::path::Path) -> Arc<EmbeddedLog> {
    let log = Arc::new(EmbeddedLog::open(dir.join("log")).unwrap());
    for t in ["events", "catalog"]
        .into_iter()
        .chain(OUTPUTS.iter().map(|o| o.0))
    {
        if log.topic_config(t).is_err() {
            log.create_topic(t, &TopicConfig::new(PARTITIONS)).unwrap();
        }
    }
    log
}

fn load_catalog(log: &dyn Log) {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    for item in 0..ITEMS {
        let key = serde_json::to_vec(&item).unwrap();
        let p = tributary::partition_for_key(&key, PARTITIONS) as usize;
        let value = serde_json::to_vec(&(item % CATEGORIES)).unwrap();
        batches[p].push(0, Some(&key), Some(&value), &[]);
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append("catalog", p as u32, b).unwrap();
    }
}

fn produce(log: &dyn Log, events: &[Event]) {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    for e in events {
        let b = &mut batches[e.partition as usize];
        let value = (u64::from(e.item) * 4 + e.kind).to_string();
        b.push(
            e.ts,
            Some(format!("u{}", e.user).as_bytes()),
            Some(value.as_bytes()),
            &[],
        );
        if b.len() >= 5_000 {
            log.append("events", e.partition, b).unwrap();
            b.clear();
        }
    }
    for (p, b) in batches.iter_mut().enumerate() {
        if !b.is_empty() {
            log.append("events", p as u32, b).unwrap();
        }
    }
}

fn config(dir: &std::path::Path, threads: usize) -> Config {
    Config {
        threads,
        state_dir: dir.join("state"),
        max_out_of_orderness: OUT_OF_ORDERNESS,
        // Longer than the live feed's pauses: a pause is not the end of an input.
        idle_timeout: Duration::from_secs(2),
        max_poll_records: 2_000,
        ..Config::default()
    }
}

/// What one output topic holds from `from` on, per key: its sorted
/// (value, timestamp) pairs for emit-on-close outputs, its last one for
/// emit-on-update outputs; as a digest and a count, or in full for the
/// outputs compared with a direct computation.
type Output = BTreeMap<Vec<u8>, Held>;

#[derive(Debug, PartialEq, Eq)]
enum Held {
    Digest(u64, usize),
    Full(Vec<(Vec<u8>, i64)>),
}

/// Outputs kept in full.
const FULL: [&str; 3] = ["hop-counts", "category-counts", "hottest"];

fn outputs(log: &dyn Log, from: &HashMap<(String, u32), u64>) -> BTreeMap<String, Output> {
    let mut all = BTreeMap::new();
    for (topic, on_close) in OUTPUTS {
        let mut out: BTreeMap<Vec<u8>, Vec<(Vec<u8>, i64)>> = BTreeMap::new();
        for p in 0..PARTITIONS {
            let start = from.get(&(topic.to_string(), p)).copied().unwrap_or(0);
            for r in common::read_all(log, topic, p) {
                if r.offset < start {
                    continue;
                }
                let key = r.key.unwrap().to_vec();
                let entry = out.entry(key).or_default();
                let v = (r.value.unwrap().to_vec(), r.timestamp);
                if on_close {
                    entry.push(v);
                } else {
                    *entry = vec![v];
                }
            }
        }
        let held = out
            .into_iter()
            .map(|(k, mut v)| {
                v.sort();
                if FULL.contains(&topic) {
                    return (k, Held::Full(v));
                }
                let mut h = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(&v, &mut h);
                (k, Held::Digest(std::hash::Hasher::finish(&h), v.len()))
            })
            .collect();
        all.insert(topic.to_string(), held);
    }
    all
}

fn ends(log: &dyn Log) -> HashMap<(String, u32), u64> {
    let mut m = HashMap::new();
    for (topic, _) in OUTPUTS {
        for p in 0..PARTITIONS {
            m.insert((topic.to_string(), p), log.offsets(topic, p).unwrap().1);
        }
    }
    m
}

/// Hopping counts per (item, window start), computed directly.
fn reference_hops(events: &[Event]) -> BTreeMap<(u32, i64), u64> {
    let (size, advance) = HOP;
    let mut counts = BTreeMap::new();
    for e in events {
        let last = e.ts - e.ts.rem_euclid(advance);
        let mut start = last - (size - advance);
        while start <= last {
            *counts.entry((e.item, start)).or_default() += 1;
            start += advance;
        }
    }
    counts
}

/// Tumbling 10 s counts per (category, window start), computed directly.
fn reference_categories(events: &[Event]) -> BTreeMap<(u32, i64), u64> {
    let mut counts = BTreeMap::new();
    for e in events {
        *counts
            .entry((e.item % CATEGORIES, e.ts - e.ts.rem_euclid(10_000)))
            .or_default() += 1;
    }
    counts
}

/// The hottest item per hopping window start (most events, then the
/// lowest item), from the direct hopping counts.
fn reference_hottest(hops: &BTreeMap<(u32, i64), u64>) -> BTreeMap<i64, (u64, u32)> {
    let mut best: BTreeMap<i64, (u64, u32)> = BTreeMap::new();
    for (&(item, start), &n) in hops {
        let e = best.entry(start).or_insert((n, item));
        if n > e.0 || (n == e.0 && item < e.1) {
            *e = (n, item);
        }
    }
    best
}

/// The emitted hottest item per window start; each window exactly once.
fn hottest(out: &Output) -> BTreeMap<i64, (u64, u32)> {
    let mut m = BTreeMap::new();
    for (k, held) in out {
        let w: Windowed<()> = serde_json::from_slice(k).unwrap();
        let Held::Full(vs) = held else {
            panic!("not held in full")
        };
        assert_eq!(vs.len(), 1, "window {w:?} emitted {} times", vs.len());
        let (n, item): (u64, i64) = serde_json::from_slice(&vs[0].0).unwrap();
        m.insert(w.start, (n, (-item) as u32));
    }
    m
}

fn hops(out: &Output) -> BTreeMap<(u32, i64), u64> {
    let mut m = BTreeMap::new();
    for (k, held) in out {
        let w: Windowed<u32> = serde_json::from_slice(k).unwrap();
        let Held::Full(vs) = held else {
            panic!("not held in full")
        };
        assert_eq!(vs.len(), 1, "window {w:?} emitted {} times", vs.len());
        let n: u64 = serde_json::from_slice(&vs[0].0).unwrap();
        m.insert((w.key, w.start), n);
    }
    m
}

fn check(name: &str, stats: &Stats, events: usize) {
    assert_eq!(
        stats.late_dropped, 0,
        "{name}: records dropped as late: {:?}",
        stats.late_by_operator
    );
    assert!(stats.records_in >= events as u64, "{name}: {stats:?}");
}

#[test]
fn results_do_not_depend_on_threads_speed_or_replay() {
    let n: usize = std::env::var("TRIBUTARY_BACKLOG_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let events = events(n, 10_000);
    let mut results = Vec::new();

    // A pre-loaded backlog, run to its end on 1, 2 and 4 threads.
    for threads in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        load_catalog(log.as_ref());
        produce(log.as_ref(), &events);
        let started = Instant::now();
        let app = App::new(
            topology(Stall::NONE),
            Arc::clone(&log) as Arc<dyn Log>,
            config(dir.path(), threads),
        )
        .unwrap();
        let stats = app.run_to_end().unwrap();
        eprintln!(
            "backlog, {threads} threads: {:?} {stats:?}",
            started.elapsed()
        );
        check(&format!("{threads} threads"), &stats, n);
        results.push((
            format!("backlog on {threads} threads"),
            outputs(log.as_ref(), &HashMap::new()),
        ));

        if threads == 2 {
            // The same application replayed from earliest, state dropped.
            let before = ends(log.as_ref());
            let config = Config {
                replay_from: Some(ReplayFrom::Earliest),
                ..config(dir.path(), 2)
            };
            let app = App::new(
                topology(Stall::NONE),
                Arc::clone(&log) as Arc<dyn Log>,
                config,
            )
            .unwrap();
            let stats = app.run_to_end().unwrap();
            check("replay", &stats, n);
            results.push((
                "replay from earliest".into(),
                outputs(log.as_ref(), &before),
            ));
        }
    }

    // Live: the events arrive in slices while the application runs, with
    // pauses, then the run is drained.
    {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        load_catalog(log.as_ref());
        let app = App::new(
            topology(Stall::NONE),
            Arc::clone(&log) as Arc<dyn Log>,
            config(dir.path(), 2),
        )
        .unwrap();
        let running = app.start().unwrap();
        for (i, slice) in events.chunks(n.div_ceil(20)).enumerate() {
            produce(log.as_ref(), slice);
            std::thread::sleep(Duration::from_millis(if i % 3 == 0 { 300 } else { 30 }));
        }
        let stats = running.drain().unwrap();
        check("live", &stats, n);
        results.push((
            "live with pauses".into(),
            outputs(log.as_ref(), &HashMap::new()),
        ));
    }

    let expected = reference_hops(&events);
    let (first_name, first) = &results[0];
    assert_eq!(
        hops(&first["hop-counts"]),
        expected,
        "{first_name}: hopping counts"
    );
    assert_eq!(
        hottest(&first["hottest"]),
        reference_hottest(&expected),
        "{first_name}: hottest item per window"
    );
    assert_eq!(
        hops(&first["category-counts"]),
        reference_categories(&events),
        "{first_name}: counts per category"
    );
    for (topic, out) in first {
        assert!(!out.is_empty(), "{first_name}: {topic} is empty");
    }
    for (name, result) in &results[1..] {
        for (topic, out) in result {
            let reference = &first[topic];
            let differ = out
                .iter()
                .filter(|(k, v)| reference.get(*k) != Some(v))
                .count()
                + reference.keys().filter(|k| !out.contains_key(*k)).count();
            assert_eq!(
                differ,
                0,
                "{name}: {differ} keys of {topic} differ from {first_name}'s ({} keys)",
                reference.len()
            );
        }
    }
}

/// Runs the pipeline over `events`, pre-loaded, to the end.
fn run_backlog(
    events: &[Event],
    threads: usize,
    max_poll_records: usize,
    stall: Stall,
) -> BTreeMap<String, Output> {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    load_catalog(log.as_ref());
    produce(log.as_ref(), events);
    let config = Config {
        max_poll_records,
        ..config(dir.path(), threads)
    };
    let stats = App::new(topology(stall), Arc::clone(&log) as Arc<dyn Log>, config)
        .unwrap()
        .run_to_end()
        .unwrap();
    check(
        &format!("{threads} threads, {stall:?}"),
        &stats,
        events.len(),
    );
    outputs(log.as_ref(), &HashMap::new())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 8, ..Default::default() })]

    /// Stalls injected upstream of each repartition, batch sizes and thread
    /// counts change how the upstream tasks' outputs interleave; they never
    /// change the results.
    #[test]
    fn interleavings_of_upstream_tasks_do_not_change_results(
        threads in 1usize..=3,
        max_poll_records in 1usize..400,
        every in 1u64..50,
        seed in 0u64..1000,
        micros in 0u64..300,
    ) {
        static BASELINE: std::sync::OnceLock<(Vec<Event>, BTreeMap<String, Output>)> = std::sync::OnceLock::new();
        let (events, baseline) = BASELINE.get_or_init(|| {
            let events = events(20_000, 500);
            let out = run_backlog(&events, 1, 10_000, Stall::NONE);
            assert_eq!(hops(&out["hop-counts"]), reference_hops(&events));
            (events, out)
        });
        let out = run_backlog(events, threads, max_poll_records, Stall { every, seed, micros });
        for (topic, reference) in baseline {
            proptest::prop_assert!(&out[topic] == reference, "{} differs", topic);
        }
    }
}
