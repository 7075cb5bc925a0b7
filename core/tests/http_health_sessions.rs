//! The HTTP server beyond counting: health answers 503 while tasks restore
//! and once the application failed; session stores are served as JSON;
//! routed late records are counted at their `late-records` node and
//! dropped ones per operator.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, TopicPartition, prelude::*};
use tributary::topology::{SessionWindows, TimeWindows};
use tributary::{App, Batch, Config, Record, Topology};

mod common;
use common::http::{get_json, scrape, sum, wait_for};

/// The embedded log, with reads of changelog topics held back until the
/// gate opens: restoring tasks stay restoring for as long as a test needs.
#[derive(Debug)]
struct GatedLog {
    inner: EmbeddedLog,
    open: Mutex<bool>,
    opened: Condvar,
}

impl GatedLog {
    fn open_gate(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl TopicAdmin for GatedLog {
    fn create_topic(&self, name: &str, config: &TopicConfig) -> tributary::Result<()> {
        self.inner.create_topic(name, config)
    }
    fn topic_config(&self, name: &str) -> tributary::Result<TopicConfig> {
        self.inner.topic_config(name)
    }
    fn list_topics(&self) -> tributary::Result<Vec<String>> {
        self.inner.list_topics()
    }
    fn delete_topic(&self, name: &str) -> tributary::Result<()> {
        self.inner.delete_topic(name)
    }
}

impl LogReader for GatedLog {
    fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> tributary::Result<()> {
        if topic.ends_with("-changelog") {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
        self.inner.fetch(topic, partition, offset, max_bytes, out)
    }
    fn offsets(&self, topic: &str, partition: u32) -> tributary::Result<(u64, u64)> {
        self.inner.offsets(topic, partition)
    }
    fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> tributary::Result<u64> {
        self.inner.offset_for_timestamp(topic, partition, timestamp)
    }
}

impl LogWriter for GatedLog {
    fn append(&self, topic: &str, partition: u32, batch: &Batch) -> tributary::Result<u64> {
        self.inner.append(topic, partition, batch)
    }
    fn flush(&self, topic: &str, partition: u32) -> tributary::Result<()> {
        self.inner.flush(topic, partition)
    }
}

impl GroupPositions for GatedLog {
    fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, u64)],
    ) -> tributary::Result<()> {
        self.inner.commit_offsets(group, offsets)
    }
    fn committed_offsets(&self, group: &str) -> tributary::Result<BTreeMap<TopicPartition, u64>> {
        self.inner.committed_offsets(group)
    }
    fn replace_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, u64)],
    ) -> tributary::Result<()> {
        self.inner.replace_offsets(group, offsets)
    }
    fn list_groups(&self) -> tributary::Result<Vec<String>> {
        self.inner.list_groups()
    }
}

/// Appends `(key, value, timestamp)` records to partition `p` of `topic`.
fn append(log: &dyn Log, topic: &str, p: u32, records: &[(&str, u32, i64)]) {
    let mut batch = Batch::new();
    for (k, v, ts) in records {
        batch.push(
            *ts,
            Some(k.as_bytes()),
            Some(&serde_json::to_vec(v).unwrap()),
            &[],
        );
    }
    log.append(topic, p, &batch).unwrap();
}

fn http_config(state_dir: std::path::PathBuf) -> Config {
    Config {
        threads: 2,
        commit_interval: Duration::from_millis(100),
        state_dir,
        http: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    }
}

/// A count per key that panics on the value 999.
fn counting() -> Topology {
    let mut b = Topology::builder("health-http");
    b.stream::<String, u32>("orders", Utf8, Json)
        .map_values(|v| {
            assert!(v != 999, "poisoned value");
            v
        })
        .group_by_key()
        .count("per-key");
    b.build().unwrap()
}

#[test]
fn health_answers_503_while_tasks_restore_and_once_the_application_failed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(GatedLog {
        inner: EmbeddedLog::open(dir.path().join("log")).unwrap(),
        open: Mutex::new(true),
        opened: Condvar::new(),
    });
    log.create_topic("orders", &TopicConfig::new(2)).unwrap();
    for p in 0..2 {
        let records: Vec<(String, u32, i64)> = (0..100)
            .map(|i| (format!("k{p}-{}", i % 10), i, 0))
            .collect();
        let refs: Vec<(&str, u32, i64)> = records
            .iter()
            .map(|(k, v, t)| (k.as_str(), *v, *t))
            .collect();
        append(log.as_ref(), "orders", p, &refs);
    }
    let state = dir.path().join("state");
    let start = || {
        App::new(
            counting(),
            Arc::clone(&log) as Arc<dyn Log>,
            http_config(state.clone()),
        )
        .unwrap()
        .serve_store::<String, u64>("per-key")
        .unwrap()
        .start()
        .unwrap()
    };
    let running = start();
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    running.shutdown().unwrap();

    // State lost, changelog reads held back: both tasks stay restoring.
    std::fs::remove_dir_all(&state).unwrap();
    *log.open.lock().unwrap() = false;
    let running = start();
    let base = format!("http://{}", running.http_addr().unwrap());
    let (status, ready) = get_json(&format!("{base}/health/ready"));
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["ready"].as_bool(), Some(false), "{ready}");
    assert_eq!(ready["restoring_tasks"].as_u64(), Some(2), "{ready}");
    let (status, live) = get_json(&format!("{base}/health/live"));
    assert_eq!(status, 200, "live while restoring: {live}");
    let m = scrape(&base);
    assert_eq!(
        sum(&m, "tributary_tasks_restoring", &[("app", "health-http")]),
        2.0
    );

    log.open_gate();
    running
        .wait_until_restored(Duration::from_secs(60))
        .unwrap();
    let (status, ready) = get_json(&format!("{base}/health/ready"));
    assert_eq!(
        (status, ready["ready"].as_bool()),
        (200, Some(true)),
        "{ready}"
    );
    let (status, v) = get_json(&format!("{base}/stores/per-key/k1-3"));
    assert_eq!((status, v["value"].as_u64()), (200, Some(10)), "{v}");

    // A panic in user code stops the application: neither live nor ready,
    // while the server still answers for the operator to see why.
    append(log.as_ref(), "orders", 1, &[("k1-0", 999, 0)]);
    wait_for("the application to stop", || running.is_stopping());
    let (status, live) = get_json(&format!("{base}/health/live"));
    assert_eq!(status, 503, "{live}");
    assert!(
        live["error"].as_str().unwrap().contains("stopped"),
        "{live}"
    );
    let (status, ready) = get_json(&format!("{base}/health/ready"));
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["stopping"].as_bool(), Some(true), "{ready}");
    let error = running.shutdown().unwrap_err().to_string();
    assert!(error.contains("poisoned value"), "{error}");
}

/// Sessions of `times` with inactivity gap `gap`: (start, end, count), in
/// start order.
fn sessions(times: &[i64], gap: i64) -> Vec<(i64, i64, u64)> {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(i64, i64, u64)> = Vec::new();
    for t in sorted {
        match out.last_mut() {
            Some((_, end, n)) if t - *end <= gap => {
                *end = t;
                *n += 1;
            }
            _ => out.push((t, t, 1)),
        }
    }
    out
}

#[test]
fn session_stores_are_served_and_late_records_counted_where_they_go() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    for t in ["clicks", "late"] {
        log.create_topic(t, &TopicConfig::new(1)).unwrap();
    }
    // One partition, one task: the watermark follows this order exactly
    // (no out-of-orderness allowed), so (b, 5000) and (a, 3000) arrive
    // after their one-second windows closed.
    let input: Vec<(&str, u32, i64)> = vec![
        ("a", 1, 10_000),
        ("a", 1, 10_050),
        ("b", 1, 10_020),
        ("a", 1, 10_500),
        ("b", 1, 12_000),
        ("a", 1, 20_000),
        ("b", 1, 5_000),
        ("a", 1, 20_080),
        ("a", 1, 3_000),
        ("b", 1, 20_300),
    ];
    let late = [("b", 5_000), ("a", 3_000)];
    append(log.as_ref(), "clicks", 0, &input);

    let mut b = Topology::builder("sessions-http");
    let clicks = b.stream::<String, u32>("clicks", Utf8, Json);
    // A day of grace: every session stays open, in the store.
    clicks
        .group_by_key()
        .session_windowed_by(
            SessionWindows::with_gap(Duration::from_millis(100)).grace(Duration::from_secs(86_400)),
        )
        .count("sessions");
    let routed = clicks
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(1)));
    routed.count("per-second-routed");
    routed.late_records().to("late", Utf8, Json);
    clicks
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(1)))
        .count("per-second-dropped");
    let topology = b.build().unwrap();
    let description = topology.describe();
    let running = App::new(
        topology,
        Arc::clone(&log) as Arc<dyn Log>,
        Config {
            idle_timeout: Duration::from_secs(3_600),
            ..http_config(dir.path().join("state"))
        },
    )
    .unwrap()
    .serve_store::<String, u64>("sessions")
    .unwrap()
    .start()
    .unwrap();
    let base = format!("http://{}", running.http_addr().unwrap());
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    // Stores are served as of the last commit.
    wait_for("the input to be committed", || {
        let m = scrape(&base);
        let lag = &[("topic", "clicks")];
        m.iter()
            .any(|(n, _, _)| n == "tributary_consumer_lag_records")
            && sum(&m, "tributary_consumer_lag_records", lag) == 0.0
    });

    // Sessions, against a plain merge of each key's times.
    let served = |v: &serde_json::Value| -> Vec<(i64, i64, u64)> {
        let mut list: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["start"].as_i64().unwrap(),
                    s["end"].as_i64().unwrap(),
                    s["value"].as_u64().unwrap(),
                )
            })
            .collect();
        list.sort_unstable();
        list
    };
    let mut expected = BTreeMap::new();
    for key in ["a", "b"] {
        let times: Vec<i64> = input
            .iter()
            .filter(|(k, _, _)| *k == key)
            .map(|(_, _, t)| *t)
            .collect();
        expected.insert(key.to_owned(), sessions(&times, 100));
        let (status, v) = get_json(&format!("{base}/stores/sessions/{key}"));
        assert_eq!(status, 200, "{v}");
        assert_eq!(served(&v["value"]), expected[key], "{key}: {v}");
    }
    assert_eq!(expected["a"].len(), 4, "the data has merged sessions");
    let (status, page) = get_json(&format!("{base}/stores/sessions"));
    assert_eq!(status, 200, "{page}");
    let scanned: BTreeMap<String, Vec<(i64, i64, u64)>> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_owned(), served(&e["value"])))
        .collect();
    assert_eq!(scanned, expected);
    let (status, _) = get_json(&format!("{base}/stores/sessions/nobody"));
    assert_eq!(status, 404);

    // Late records: routed ones pass the late-records node into `late`,
    // dropped ones are counted for their operator.
    let m = scrape(&base);
    let late_node = description
        .nodes
        .iter()
        .find(|n| n.kind == "late-records")
        .unwrap();
    assert_eq!(
        sum(
            &m,
            "tributary_node_records_total",
            &[("node", &late_node.name)]
        ),
        late.len() as f64
    );
    let routed_out: Vec<(String, i64)> = common::read_all(log.as_ref(), "late", 0)
        .into_iter()
        .map(|r| {
            (
                String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                r.timestamp,
            )
        })
        .collect();
    let late_expected: Vec<(String, i64)> =
        late.iter().map(|(k, t)| ((*k).to_owned(), *t)).collect();
    assert_eq!(routed_out, late_expected);
    assert_eq!(
        sum(
            &m,
            "tributary_late_dropped_records_total",
            &[("operator", "per-second-dropped")]
        ),
        late.len() as f64
    );
    assert_eq!(
        sum(
            &m,
            "tributary_late_dropped_records_total",
            &[("operator", "per-second-routed")]
        ),
        0.0
    );
    running.shutdown().unwrap();
}
