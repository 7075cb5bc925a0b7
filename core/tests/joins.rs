//! Join semantics, checked against the tables of Kafka Streams' "Join
//! Semantics" documentation: the same inputs (one key, values with
//! timestamps, `null` as tombstone), processed in timestamp order, give the
//! same results step by step.

use std::sync::Arc;
use std::time::Duration;
use tributary::codec::{Json, Optional, Utf8};
use tributary::log::{MemoryLog, TopicConfig, prelude::*};
use tributary::testing::TestDriver;
use tributary::topology::JoinWindows;
use tributary::{App, Config, Error, Topology};

/// The documented inputs: (time, left value) and (time, right value).
const LEFT: [(i64, Option<&str>); 7] = [
    (1, None),
    (3, Some("A")),
    (5, Some("B")),
    (7, None),
    (9, Some("C")),
    (12, None),
    (15, Some("D")),
];
const RIGHT: [(i64, Option<&str>); 8] = [
    (2, None),
    (4, Some("a")),
    (6, Some("b")),
    (8, None),
    (10, Some("c")),
    (11, None),
    (13, None),
    (14, Some("d")),
];

/// Every input record in timestamp order: (time, is left, value).
fn steps(extra: &[(i64, bool, &'static str)]) -> Vec<(i64, bool, Option<String>)> {
    let mut all: Vec<(i64, bool, Option<String>)> = LEFT
        .iter()
        .map(|(t, v)| (*t, true, v.map(str::to_string)))
        .chain(
            RIGHT
                .iter()
                .map(|(t, v)| (*t, false, v.map(str::to_string))),
        )
        .chain(extra.iter().map(|(t, l, v)| (*t, *l, Some(v.to_string()))))
        .collect();
    all.sort_by_key(|s| s.0);
    all
}

fn show(l: Option<&String>, r: Option<&String>) -> String {
    let s = |v: Option<&String>| v.map_or("null".to_string(), |v| v.clone());
    format!("{}-{}", s(l), s(r))
}

/// Pipes the steps and returns, per step time, what the join emitted.
fn run_steps(
    driver: &TestDriver,
    steps: &[(i64, bool, Option<String>)],
) -> Vec<(i64, Vec<Option<String>>)> {
    let left = driver.input("left", Utf8, Optional(Utf8));
    let right = driver.input("right", Utf8, Optional(Utf8));
    let out = driver.output::<String, Option<String>, _, _>("out", Utf8, Optional(Utf8));
    let mut got = Vec::new();
    for (t, is_left, v) in steps {
        let input = if *is_left { &left } else { &right };
        input.pipe_at("k".to_string(), v.clone(), *t).unwrap();
        let emitted = out.read_values().unwrap();
        if !emitted.is_empty() {
            got.push((*t, emitted));
        }
    }
    got
}

fn expect(rows: &[(i64, &[&str])]) -> Vec<(i64, Vec<Option<String>>)> {
    rows.iter()
        .map(|(t, vs)| {
            let vs = vs
                .iter()
                .map(|v| (*v != "null").then(|| v.to_string()))
                .collect();
            (*t, vs)
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Kind {
    Inner,
    Left,
    Outer,
}

/// The stream-stream join of the documented inputs (null values dropped, as
/// Kafka Streams does), with a 10 ms window both ways and no grace.
fn stream_stream(kind: Kind) -> TestDriver {
    let mut b = Topology::builder("joins");
    let values = |s: &tributary::Stream<String, Option<String>>| {
        s.flat_map(|k, v: Option<String>| v.map(|v| (k, v)))
    };
    let l = values(&b.stream::<String, Option<String>>("left", Utf8, Optional(Utf8)));
    let r = values(&b.stream::<String, Option<String>>("right", Utf8, Optional(Utf8)));
    let w = JoinWindows::of(Duration::from_millis(10));
    let joined = match kind {
        Kind::Inner => l.join(&r, "j", w, |_k, a, b| show(Some(a), Some(b))),
        Kind::Left => l.left_join(&r, "j", w, |_k, a, b| show(Some(a), b)),
        Kind::Outer => l.outer_join(&r, "j", w, |_k, a, b| show(a, b)),
    };
    joined.map_values(Some).to("out", Utf8, Optional(Utf8));
    TestDriver::new(b.build().unwrap()).unwrap()
}

/// Late records after the documented ones: E and F find no partner, and f
/// neither; their left/outer results come once their windows close.
const LATER: [(i64, bool, &str); 4] = [
    (30, true, "E"),
    (45, true, "F"),
    (60, false, "f"),
    (75, true, "G"),
];

const PAIRS: [(i64, &[&str]); 7] = [
    (4, &["A-a"]),
    (5, &["B-a"]),
    (6, &["A-b", "B-b"]),
    (9, &["C-a", "C-b"]),
    (10, &["A-c", "B-c", "C-c"]),
    (14, &["B-d", "C-d"]),
    (15, &["D-b", "D-c", "D-d"]),
];

#[test]
fn stream_stream_inner_join() {
    let got = run_steps(&stream_stream(Kind::Inner), &steps(&LATER));
    assert_eq!(got, expect(&PAIRS));
}

#[test]
fn stream_stream_left_join_emits_unmatched_only_when_the_window_closes() {
    let got = run_steps(&stream_stream(Kind::Left), &steps(&LATER));
    let mut rows = PAIRS.to_vec();
    rows.extend([(45, &["E-null"][..]), (60, &["F-null"][..])]);
    assert_eq!(got, expect(&rows));
}

#[test]
fn stream_stream_outer_join() {
    let got = run_steps(&stream_stream(Kind::Outer), &steps(&LATER));
    let mut rows = PAIRS.to_vec();
    rows.extend([
        (45, &["E-null"][..]),
        (60, &["F-null"][..]),
        (75, &["null-f"][..]),
    ]);
    assert_eq!(got, expect(&rows));
}

#[test]
fn stream_stream_joins_out_of_order_records_within_grace_and_drops_late_ones() {
    let build = |grace: u64| {
        let mut b = Topology::builder("ooo");
        let l = b.stream::<String, String>("left", Utf8, Utf8);
        let r = b.stream::<String, String>("right", Utf8, Utf8);
        let w = JoinWindows::of(Duration::from_millis(10)).grace(Duration::from_millis(grace));
        l.left_join(&r, "j", w, |_k, a, b| show(Some(a), b))
            .to("out", Utf8, Utf8);
        TestDriver::new(b.build().unwrap()).unwrap()
    };
    for (grace, expected) in [
        // a at 5 arrives when the watermark is 30: 5 + 10 + 0 < 30, late.
        (0, vec!["A-null", "B-null"]),
        // With 20 ms of grace it is on time and pairs with A (at 10).
        (20, vec!["A-a", "B-null"]),
    ] {
        let driver = build(grace);
        let left = driver.input("left", Utf8, Utf8);
        let right = driver.input("right", Utf8, Utf8);
        left.pipe_at("k".into(), "A".into(), 10).unwrap();
        left.pipe_at("k".into(), "B".into(), 30).unwrap();
        right.pipe_at("k".into(), "a".into(), 5).unwrap();
        left.pipe_at("k".into(), "Z".into(), 200).unwrap();
        let got: Vec<String> = driver.output("out", Utf8, Utf8).read_values().unwrap();
        assert_eq!(got, expected, "grace {grace}");
        assert_eq!(driver.late_dropped(), if grace == 0 { 1 } else { 0 });
    }
}

#[test]
fn stream_stream_left_join_waits_for_a_partner_arriving_out_of_order() {
    let mut b = Topology::builder("wait");
    let l = b.stream::<String, String>("left", Utf8, Utf8);
    let r = b.stream::<String, String>("right", Utf8, Utf8);
    l.left_join(
        &r,
        "j",
        JoinWindows::of(Duration::from_millis(10)),
        |_k, a, b| show(Some(a), b),
    )
    .to("out", Utf8, Utf8);
    let driver = TestDriver::new(b.build().unwrap()).unwrap();
    let (left, right) = (
        driver.input("left", Utf8, Utf8),
        driver.input("right", Utf8, Utf8),
    );
    let out = driver.output::<String, String, _, _>("out", Utf8, Utf8);
    left.pipe_at("k".into(), "A".into(), 10).unwrap();
    left.pipe_at("k".into(), "B".into(), 20).unwrap();
    assert_eq!(
        out.read_values().unwrap(),
        Vec::<String>::new(),
        "A's window is open"
    );
    right.pipe_at("k".into(), "a".into(), 15).unwrap();
    assert_eq!(out.read_values().unwrap(), vec!["A-a", "B-a"]);
    left.pipe_at("k".into(), "C".into(), 100).unwrap();
    assert_eq!(
        out.read_values().unwrap(),
        Vec::<String>::new(),
        "no spurious A-null"
    );
}

fn stream_table(left_join: bool) -> TestDriver {
    let mut b = Topology::builder("st");
    let table = b.table::<String, String>("right", Utf8, Utf8, "right");
    let s = b
        .stream::<String, Option<String>>("left", Utf8, Optional(Utf8))
        .flat_map(|k, v: Option<String>| v.map(|v| (k, v)));
    let joined = if left_join {
        s.left_join_table(&table, |_k, v, t| show(Some(&v), t))
    } else {
        s.join_table(&table, |_k, v, t| show(Some(&v), Some(t)))
    };
    joined.map_values(Some).to("out", Utf8, Optional(Utf8));
    TestDriver::new(b.build().unwrap()).unwrap()
}

#[test]
fn stream_table_inner_join() {
    let got = run_steps(&stream_table(false), &steps(&[]));
    assert_eq!(got, expect(&[(5, &["B-a"]), (15, &["D-d"])]));
}

#[test]
fn stream_table_left_join() {
    let got = run_steps(&stream_table(true), &steps(&[]));
    assert_eq!(
        got,
        expect(&[
            (3, &["A-null"]),
            (5, &["B-a"]),
            (9, &["C-null"]),
            (15, &["D-d"])
        ])
    );
}

fn table_table(kind: Kind) -> TestDriver {
    let mut b = Topology::builder("tt");
    let l = b.table::<String, String>("left", Utf8, Utf8, "left");
    let r = b.table::<String, String>("right", Utf8, Utf8, "right");
    let joined = match kind {
        Kind::Inner => l.join(&r, |_k, a, b| show(Some(a), Some(b))),
        Kind::Left => l.left_join(&r, |_k, a, b| show(Some(a), b)),
        Kind::Outer => l.outer_join(&r, |_k, a, b| show(a, b)),
    };
    joined.to("out", Utf8, Utf8);
    TestDriver::new(b.build().unwrap()).unwrap()
}

#[test]
fn table_table_inner_join() {
    let got = run_steps(&table_table(Kind::Inner), &steps(&[]));
    assert_eq!(
        got,
        expect(&[
            (4, &["A-a"]),
            (5, &["B-a"]),
            (6, &["B-b"]),
            (7, &["null"]),
            (10, &["C-c"]),
            (11, &["null"]),
            (15, &["D-d"]),
        ])
    );
}

#[test]
fn table_table_left_join() {
    let got = run_steps(&table_table(Kind::Left), &steps(&[]));
    assert_eq!(
        got,
        expect(&[
            (3, &["A-null"]),
            (4, &["A-a"]),
            (5, &["B-a"]),
            (6, &["B-b"]),
            (7, &["null"]),
            (9, &["C-null"]),
            (10, &["C-c"]),
            (11, &["C-null"]),
            (12, &["null"]),
            (15, &["D-d"]),
        ])
    );
}

#[test]
fn table_table_outer_join() {
    let got = run_steps(&table_table(Kind::Outer), &steps(&[]));
    assert_eq!(
        got,
        expect(&[
            (3, &["A-null"]),
            (4, &["A-a"]),
            (5, &["B-a"]),
            (6, &["B-b"]),
            (7, &["null-b"]),
            (8, &["null"]),
            (9, &["C-null"]),
            (10, &["C-c"]),
            (11, &["C-null"]),
            (12, &["null"]),
            (14, &["null-d"]),
            (15, &["D-d"]),
        ])
    );
}

#[test]
fn global_table_joins_need_no_co_partitioning() {
    let mut b = Topology::builder("global");
    let catalog = b.global_table::<String, String>("catalog", Utf8, Utf8);
    b.stream::<String, String>("views", Utf8, Utf8)
        .left_join_global(
            &catalog,
            |_user, item| item.clone(),
            |user, item, title| format!("{user}:{item}:{}", title.map_or("?", String::as_str)),
        )
        .to("out", Utf8, Utf8);
    let driver = TestDriver::with_partitions(b.build().unwrap(), 4, Config::default()).unwrap();
    let catalog_in = driver.input("catalog", Utf8, Utf8);
    for i in 0..20 {
        catalog_in
            .pipe(format!("item-{i}"), format!("Title {i}"))
            .unwrap();
    }
    let views = driver.input("views", Utf8, Utf8);
    for u in 0..40 {
        views
            .pipe(format!("user-{u}"), format!("item-{}", u % 25))
            .unwrap();
    }
    let mut got: Vec<String> = driver.output("out", Utf8, Utf8).read_values().unwrap();
    got.sort();
    let mut expected: Vec<String> = (0..40)
        .map(|u| {
            let i = u % 25;
            let title = if i < 20 {
                format!("Title {i}")
            } else {
                "?".into()
            };
            format!("user-{u}:item-{i}:{title}")
        })
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn joins_of_topics_with_different_partition_counts_are_refused_with_an_explanation() {
    let log = Arc::new(MemoryLog::new());
    log.create_topic("clicks", &TopicConfig::new(4)).unwrap();
    log.create_topic("users", &TopicConfig::new(2)).unwrap();
    log.create_topic("out", &TopicConfig::new(4)).unwrap();
    let mut b = Topology::builder("copart");
    let users = b.table::<String, String>("users", Utf8, Utf8, "users");
    b.stream::<String, String>("clicks", Utf8, Utf8)
        .join_table(&users, |_k, c, u| format!("{u}:{c}"))
        .to("out", Utf8, Utf8);
    let err = App::new(b.build().unwrap(), log, Config::default()).unwrap_err();
    let Error::Topology(problems) = err else {
        panic!("expected a topology error, got {err}")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("co-partitioned")
            && problems[0].contains("'clicks' has 4")
            && problems[0].contains("'users' has 2"),
        "{}",
        problems[0]
    );
}

#[test]
fn joining_an_unmaterialized_table_is_a_build_error() {
    let mut b = Topology::builder("unmat");
    let t = b
        .table::<String, u32>("prices", Utf8, Json, "prices")
        .filter(|_k, p| *p > 0);
    b.stream::<String, u32>("orders", Utf8, Json)
        .join_table(&t, |_k, q, p| q * p)
        .to("out", Utf8, Json);
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains("not materialized"), "{err}");
}

#[test]
fn a_repartition_topic_feeding_a_join_gets_the_other_sides_partition_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::new());
    log.create_topic("orders", &TopicConfig::new(2)).unwrap();
    log.create_topic("customers", &TopicConfig::new(3)).unwrap();
    log.create_topic("out", &TopicConfig::new(3)).unwrap();
    let mut b = Topology::builder("shop");
    let customers = b.table::<String, String>("customers", Utf8, Utf8, "customers");
    b.stream::<String, String>("orders", Utf8, Utf8) // order id -> customer
        .key_by("by-customer", |_order, customer| customer.clone())
        .join_table(&customers, |_c, order, name| format!("{order} for {name}"))
        .to("out", Utf8, Utf8);
    let config = Config {
        state_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    App::new(b.build().unwrap(), Arc::clone(&log) as Arc<dyn Log>, config).unwrap();
    assert_eq!(
        log.topic_config("shop-by-customer-repartition")
            .unwrap()
            .partitions,
        3,
        "sized like the table it is joined with, not like 'orders'"
    );
}

/// A stream re-keyed through a repartition topic (keys encoded with rkyv)
/// and a table read from a topic (keys encoded as UTF-8) must meet equal
/// keys in the same task: the repartition topic partitions like the table.
#[test]
fn a_rekeyed_stream_meets_a_table_read_from_a_topic_in_every_partition() {
    let mut b = Topology::builder("rekeyed");
    let items = b.table::<String, String>("items", Utf8, Json, "items");
    let orders = b.stream::<String, String>("orders", Utf8, Utf8);
    let priced = orders
        .key_by("by-item", |_user, item| item.clone())
        .join_table(&items, |_item, _order_item, title| title.clone());
    priced.to("titled", Utf8, Utf8);
    // And a table aggregated from the repartitioned stream, joined with
    // another table read from a topic.
    let counts = orders
        .key_by("by-item-2", |_user, item| item.clone())
        .group_by_key()
        .count("per-item");
    counts
        .join(&items, |_item, n, title| format!("{title}: {n}"))
        .to_stream()
        .to("counted", Utf8, Utf8);
    let driver = TestDriver::with_partitions(b.build().unwrap(), 4, Config::default()).unwrap();
    let table = driver.input("items", Utf8, Optional(Json));
    for i in 0..64 {
        table
            .pipe(format!("item-{i}"), Some(format!("Title {i}")))
            .unwrap();
    }
    let input = driver.input("orders", Utf8, Utf8);
    for i in 0..64 {
        input
            .pipe(format!("user-{}", i * 7 % 13), format!("item-{i}"))
            .unwrap();
    }
    let mut titled = driver
        .output::<String, String, _, _>("titled", Utf8, Utf8)
        .read_values()
        .unwrap();
    titled.sort();
    let mut expected: Vec<String> = (0..64).map(|i| format!("Title {i}")).collect();
    expected.sort();
    assert_eq!(titled, expected, "every order finds its item");
    let counted = driver
        .output::<String, String, _, _>("counted", Utf8, Utf8)
        .read_values()
        .unwrap();
    assert_eq!(counted.len(), 64, "{counted:?}");
}
