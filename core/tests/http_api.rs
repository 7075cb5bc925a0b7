//! The HTTP server of a running application: metrics scraped while it
//! processes a known input equal the counts of that input exactly; lag
//! counts what is not committed and goes to 0 once it is; health; stores
//! served as JSON (key-value and window stores, scans with paging, the
//! documented errors); the status page and its JSON.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::topology::TimeWindows;
use tributary::{App, Config, Topology};

mod common;
use common::http::{get, get_json, scrape, sum, wait_for};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Order {
    item: String,
    qty: u32,
}

const PARTITIONS: u32 = 2;

fn topology() -> Topology {
    let mut b = Topology::builder("shop-http");
    let orders = b
        .stream::<String, Order>("orders", Utf8, Json)
        .event_time(|_, o| 1_800_000_000_000 + i64::from(o.qty) * 1_000)
        .filter(|_, o| o.qty > 0);
    orders.to("kept", Utf8, Json);
    let by_item = orders
        .map(|_, o| ((), (o.item, o.qty)))
        .key_by("by-item", |_, (item, _)| item.clone())
        .map_values(|(_, qty)| qty);
    by_item.group_by_key().count("per-item");
    by_item
        .group_by_key()
        .windowed_by(
            TimeWindows::tumbling(Duration::from_secs(2)).grace(Duration::from_secs(86_400)),
        )
        .count("per-item-window");
    orders
        .map_values(|o| o.qty)
        .group_by("by-qty", |_, qty| *qty)
        .count("per-qty");
    b.build().unwrap()
}

/// `n` orders: item `item-{i % 7}`, quantity `i % 5` (0 is filtered out).
fn orders(n: usize) -> Vec<(String, Order)> {
    (0..n)
        .map(|i| {
            (
                format!("user-{}", i % 13),
                Order {
                    item: format!("item-{}", i % 7),
                    qty: (i % 5) as u32,
                },
            )
        })
        .collect()
}

fn setup() -> (tempfile::TempDir, Arc<EmbeddedLog>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    for t in ["orders", "kept"] {
        log.create_topic(t, &TopicConfig::new(PARTITIONS)).unwrap();
    }
    (dir, log)
}

/// Appends the orders, then `malformed` values that are not JSON.
fn produce(log: &EmbeddedLog, orders: &[(String, Order)], malformed: usize) {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    for (user, o) in orders {
        let p = tributary::partition_for_key(user.as_bytes(), PARTITIONS) as usize;
        batches[p].push(
            0,
            Some(user.as_bytes()),
            Some(&serde_json::to_vec(o).unwrap()),
            &[],
        );
    }
    for i in 0..malformed {
        batches[i % PARTITIONS as usize].push(0, Some(b"bad"), Some(b"{not json"), &[]);
    }
    for (p, b) in batches.iter().enumerate() {
        log.append("orders", p as u32, b).unwrap();
    }
}

fn config(dir: &std::path::Path, commit_interval: Duration) -> Config {
    Config {
        threads: 2,
        commit_interval,
        state_dir: dir.join("state"),
        http: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    }
}

fn start(log: &Arc<EmbeddedLog>, config: Config) -> tributary::runtime::RunningApp {
    App::new(topology(), Arc::clone(log) as Arc<dyn Log>, config)
        .unwrap()
        .serve_store::<String, u64>("per-item")
        .unwrap()
        .serve_store::<String, u64>("per-item-window")
        .unwrap()
        .serve_store::<u32, u64>("per-qty")
        .unwrap()
        .start()
        .unwrap()
}

#[test]
fn metrics_count_exactly_what_was_processed_and_lag_goes_to_zero() {
    let (dir, log) = setup();
    let input = orders(3_000);
    let malformed = 17;
    produce(&log, &input, malformed);
    let kept = input.iter().filter(|(_, o)| o.qty > 0).count() as f64;

    let running = start(&log, config(dir.path(), Duration::from_millis(100)));
    let base = format!("http://{}", running.http_addr().unwrap());
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    wait_for("the lag to reach 0", || {
        let m = scrape(&base);
        sum(&m, "tributary_consumer_lag_records", &[("topic", "orders")]) == 0.0
            && m.iter()
                .any(|(n, _, _)| n == "tributary_consumer_lag_records")
    });
    let m = scrape(&base);
    let app = [("app", "shop-http")];
    assert_eq!(
        sum(
            &m,
            "tributary_records_in_total",
            &[app[0], ("subtopology", "0")]
        ),
        (input.len() + malformed) as f64,
        "every record read from 'orders', the malformed ones included"
    );
    assert_eq!(
        sum(&m, "tributary_records_out_total", &[("topic", "kept")]),
        kept
    );
    assert_eq!(
        sum(
            &m,
            "tributary_records_out_total",
            &[("topic", "shop-http-dlq")]
        ),
        malformed as f64
    );
    assert_eq!(
        sum(&m, "tributary_dead_lettered_records_total", &app),
        malformed as f64
    );
    // Every internal topic's records were read by the sub-topology after it.
    let internal_out: f64 = m
        .iter()
        .filter(|(n, l, _)| {
            n == "tributary_records_out_total"
                && l.get("topic").is_some_and(|t| t.contains("repartition"))
        })
        .map(|(_, _, v)| v)
        .sum();
    let internal_in: f64 = m
        .iter()
        .filter(|(n, l, _)| {
            n == "tributary_records_in_total" && l.get("subtopology").is_some_and(|s| s != "0")
        })
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(internal_out, internal_in);
    assert_eq!(
        internal_out,
        2.0 * kept,
        "two repartitions (by item, by quantity) of every kept order"
    );
    // Every node counted what passed through it.
    let description = topology().describe();
    let node = |kind: &str, topic: Option<&str>| {
        description
            .nodes
            .iter()
            .find(|n| n.kind == kind && (topic.is_none() || n.topic.as_deref() == topic))
            .unwrap()
            .name
            .clone()
    };
    let records_of = |name: &str| sum(&m, "tributary_node_records_total", &[("node", name)]);
    assert_eq!(
        records_of(&node("source", Some("orders"))),
        (input.len() + malformed) as f64
    );
    assert_eq!(
        records_of(&node("filter", None)),
        input.len() as f64,
        "decoded records"
    );
    assert_eq!(records_of(&node("sink", Some("kept"))), kept);
    // One lag sample per input partition of every task.
    let lag_samples = m
        .iter()
        .filter(|(n, l, _)| n == "tributary_consumer_lag_records" && l["topic"] == "orders")
        .count();
    assert_eq!(lag_samples, PARTITIONS as usize);
    assert!(sum(&m, "tributary_commits_total", &app) >= 1.0);
    assert!(sum(&m, "tributary_commit_latency_seconds_count", &app) >= 1.0);
    assert_eq!(
        sum(&m, "tributary_rebalances_total", &app),
        1.0,
        "one assignment"
    );
    assert!(sum(&m, "tributary_state_memory_bytes", &app) > 0.0);
    assert_eq!(sum(&m, "tributary_tasks_restoring", &app), 0.0);
    assert_eq!(sum(&m, "tributary_log_quarantined_records", &app), 0.0);
    assert!(
        m.iter()
            .any(|(n, l, _)| n == "tributary_store_size_bytes" && l["store"] == "per-item")
    );

    // Health.
    let (status, live) = get_json(&format!("{base}/health/live"));
    assert_eq!((status, live["status"].as_str()), (200, Some("live")));
    let (status, ready) = get_json(&format!("{base}/health/ready"));
    assert_eq!((status, ready["ready"].as_bool()), (200, Some(true)));

    // Stores, against plain counts of the input.
    let mut per_item: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_qty: BTreeMap<u32, u64> = BTreeMap::new();
    let mut per_window: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for (_, o) in input.iter().filter(|(_, o)| o.qty > 0) {
        *per_item.entry(o.item.clone()).or_default() += 1;
        *per_qty.entry(o.qty).or_default() += 1;
        let t = 1_800_000_000_000 + i64::from(o.qty) * 1_000;
        *per_window
            .entry((o.item.clone(), t - t % 2_000))
            .or_default() += 1;
    }
    for (item, n) in &per_item {
        let (status, v) = get_json(&format!("{base}/stores/per-item/{item}"));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["value"].as_u64(), Some(*n), "{item}: {v}");
    }
    for (qty, n) in &per_qty {
        let (status, v) = get_json(&format!("{base}/stores/per-qty/{qty}"));
        assert_eq!((status, v["value"].as_u64()), (200, Some(*n)), "{qty}: {v}");
    }
    let (status, v) = get_json(&format!("{base}/stores/per-item-window/item-3"));
    assert_eq!(status, 200, "{v}");
    let windows: Vec<(i64, i64, u64)> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["start"].as_i64().unwrap(),
                w["end"].as_i64().unwrap(),
                w["value"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(i64, i64, u64)> = per_window
        .iter()
        .filter(|((item, _), _)| item == "item-3")
        .map(|((_, start), n)| (*start, start + 2_000, *n))
        .collect();
    assert_eq!(windows, expected);

    // A scan, three entries a page, follows the pages to the end in key order.
    let mut seen = Vec::new();
    let mut url = format!("{base}/stores/per-item?limit=3");
    loop {
        let (status, page) = get_json(&url);
        assert_eq!(status, 200, "{page}");
        for e in page["entries"].as_array().unwrap() {
            seen.push((
                e["key"].as_str().unwrap().to_owned(),
                e["value"].as_u64().unwrap(),
            ));
        }
        match page["next"].as_str() {
            Some(next) => url = format!("{base}/stores/per-item?limit=3&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, per_item.clone().into_iter().collect::<Vec<_>>());
    let (_, page) = get_json(&format!("{base}/stores/per-qty?from=2&to=4"));
    let keys: Vec<u64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_u64().unwrap())
        .collect();
    assert_eq!(keys, vec![2, 3]);
    let (_, page) = get_json(&format!("{base}/stores/per-item?prefix=item-1"));
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);

    // The documented errors.
    let (status, e) = get_json(&format!("{base}/stores/nothing/x"));
    assert_eq!(status, 404);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("no store named 'nothing'"),
        "{e}"
    );
    let (status, e) = get_json(&format!("{base}/stores/per-qty/lots"));
    assert_eq!(status, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("key 'lots' is not a u32"),
        "{e}"
    );
    let (status, e) = get_json(&format!("{base}/stores/per-qty/999"));
    assert_eq!(status, 404);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("no entry for key '999'"),
        "{e}"
    );
    let (status, _) = get_json(&format!("{base}/stores/per-qty?limit=0"));
    assert_eq!(status, 400);
    let (status, _) = get_json(&format!("{base}/stores/per-qty?colour=red"));
    assert_eq!(status, 400);
    let (status, _) = get_json(&format!("{base}/nowhere"));
    assert_eq!(status, 404);

    // The status page draws every node of the description.
    let (status, page) = get(&format!("{base}/"));
    assert_eq!(status, 200);
    assert!(page.contains("<svg"), "the diagram is drawn");
    for n in &description.nodes {
        assert!(
            page.contains(&format!(">{}</tspan>", n.name)),
            "node {} is drawn",
            n.name
        );
    }
    let (status, s) = get_json(&format!("{base}/status"));
    assert_eq!(status, 200);
    assert_eq!(
        s["nodes"].as_object().unwrap().len(),
        description.nodes.len()
    );
    assert_eq!(
        s["records_in"].as_u64(),
        Some((input.len() + malformed) as u64 + 2 * kept as u64)
    );
    running.shutdown().unwrap();

    // A restart with its state lost restores every changelog record, and
    // says so.
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let mut changelog = 0;
    for store in ["per-item", "per-item-window", "per-qty"] {
        for p in 0..PARTITIONS {
            let (start, end) = log
                .offsets(&format!("shop-http-{store}-changelog"), p)
                .unwrap();
            changelog += end - start;
        }
    }
    let running = start(&log, config(dir.path(), Duration::from_millis(100)));
    let base = format!("http://{}", running.http_addr().unwrap());
    running
        .wait_until_restored(Duration::from_secs(60))
        .unwrap();
    let m = scrape(&base);
    assert_eq!(
        sum(&m, "tributary_restored_records_total", &app),
        changelog as f64
    );
    assert_eq!(sum(&m, "tributary_restore_remaining_records", &app), 0.0);
    let (_, v) = get_json(&format!("{base}/stores/per-item/item-3"));
    assert_eq!(v["value"].as_u64(), per_item.get("item-3").copied());
    running.shutdown().unwrap();
}

#[test]
fn lag_is_what_the_group_has_not_committed() {
    let (dir, log) = setup();
    produce(&log, &orders(500), 0);
    // No commit for an hour: the group's positions stay where they were.
    let running = start(&log, config(dir.path(), Duration::from_secs(3_600)));
    let base = format!("http://{}", running.http_addr().unwrap());
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    let m = scrape(&base);
    assert_eq!(
        sum(&m, "tributary_consumer_lag_records", &[("topic", "orders")]),
        500.0
    );
    assert_eq!(
        sum(&m, "tributary_records_in_total", &[("subtopology", "0")]),
        500.0
    );
    produce(&log, &orders(250), 0);
    running
        .wait_until_caught_up(Duration::from_secs(60))
        .unwrap();
    let m = scrape(&base);
    assert_eq!(
        sum(&m, "tributary_consumer_lag_records", &[("topic", "orders")]),
        750.0
    );
    assert_eq!(sum(&m, "tributary_commits_total", &[]), 0.0);
    running.shutdown().unwrap();
    // The last commit, at shutdown, committed everything.
    let committed = log.committed_offsets("shop-http").unwrap();
    let total: u64 = (0..PARTITIONS)
        .map(|p| committed[&tributary::log::TopicPartition::new("orders", p)])
        .sum();
    assert_eq!(total, 750);
}

#[test]
fn a_taken_address_is_a_clear_error_at_start() {
    let (dir, log) = setup();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = config(dir.path(), Duration::from_millis(100));
    c.http = Some(taken.local_addr().unwrap());
    let app = App::new(topology(), Arc::clone(&log) as Arc<dyn Log>, c).unwrap();
    let e = app.start().unwrap_err().to_string();
    assert!(
        e.contains(&format!("serving HTTP on {}", taken.local_addr().unwrap())),
        "{e}"
    );
}

#[test]
fn serving_an_unknown_or_internal_store_is_refused() {
    let (dir, log) = setup();
    let app = App::new(
        topology(),
        Arc::clone(&log) as Arc<dyn Log>,
        config(dir.path(), Duration::from_secs(1)),
    )
    .unwrap();
    let e = app
        .serve_store::<String, u64>("per-user")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no store named 'per-user'"), "{e}");
}

/// Two instances of the group, each holding one partition: either answers
/// for every key, the other's through the instance that holds it (found in
/// the `<app>-instances` topic); and again after the partitions move.
#[test]
fn any_instance_answers_for_keys_another_instance_holds() {
    let (dir, log) = setup();
    let input = orders(1_000);
    produce(&log, &input, 0);
    let mut per_item: BTreeMap<String, u64> = BTreeMap::new();
    for (_, o) in input.iter().filter(|(_, o)| o.qty > 0) {
        *per_item.entry(o.item.clone()).or_default() += 1;
    }
    let group = tributary::group::ScriptedGroup::new(Arc::clone(&log) as Arc<dyn Log>);
    let start_as = |name: &str| {
        let config = Config {
            state_dir: dir.path().join(name),
            ..config(dir.path(), Duration::from_millis(100))
        };
        App::new(topology(), Arc::clone(&log) as Arc<dyn Log>, config)
            .unwrap()
            .serve_store::<String, u64>("per-item")
            .unwrap()
            .with_membership(group.membership(name))
            .start()
            .unwrap()
    };
    let (a, b) = (start_as("a"), start_as("b"));
    let bases = [
        format!("http://{}", a.http_addr().unwrap()),
        format!("http://{}", b.http_addr().unwrap()),
    ];
    let check = |what: &str| {
        for base in &bases {
            let mut through_other = 0;
            for (item, n) in &per_item {
                let url = format!("{base}/stores/per-item/{item}");
                let deadline = Instant::now() + Duration::from_secs(30);
                let v = loop {
                    let (status, v) = get_json(&url);
                    if status == 200 && v["value"].as_u64() == Some(*n) {
                        break v;
                    }
                    assert!(Instant::now() < deadline, "{what}: {url}: {status} {v}");
                    std::thread::sleep(Duration::from_millis(100));
                };
                if v.get("instance").is_some() {
                    through_other += 1;
                    assert_ne!(
                        v["instance"].as_str().unwrap(),
                        base.trim_start_matches("http://")
                    );
                }
                // Asked for its own answer only, an instance says what it holds.
                let (status, _) = get_json(&format!("{url}?local=true"));
                assert_eq!(status == 200, v.get("instance").is_none(), "{what}: {url}");
            }
            assert!(
                through_other > 0,
                "{what}: {base} answered every key itself"
            );
        }
    };
    group.assign("a", &[0]).unwrap();
    group.assign("b", &[1]).unwrap();
    a.wait_until_caught_up(Duration::from_secs(60)).unwrap();
    b.wait_until_caught_up(Duration::from_secs(60)).unwrap();
    check("a holds 0, b holds 1");

    group.revoke("a", &[0]).unwrap();
    group.revoke("b", &[1]).unwrap();
    group.assign("a", &[1]).unwrap();
    group.assign("b", &[0]).unwrap();
    a.wait_until_restored(Duration::from_secs(60)).unwrap();
    b.wait_until_restored(Duration::from_secs(60)).unwrap();
    check("after the partitions swapped");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}
