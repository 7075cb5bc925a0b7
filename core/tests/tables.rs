//! Tables behave as Kafka Streams' KTable: a record upserts its key, a
//! tombstone deletes it, updates flow downstream as changes, a filtered
//! table turns failing updates into deletions, and aggregations keep the
//! latest value per key.

use tributary::Topology;
use tributary::codec::{Json, Optional, Utf8};
use tributary::testing::TestDriver;

fn driver() -> TestDriver {
    let mut b = Topology::builder("catalog");
    let items = b.table::<String, u32>("items", Utf8, Json, "items-store");
    items.to("items-changes", Utf8, Json);
    items
        .filter(|_k, price| *price <= 100)
        .to("cheap-items", Utf8, Json);
    items
        .map_values(|p| p * 2)
        .to_stream()
        .to("doubled", Utf8, Json);
    TestDriver::new(b.build().unwrap()).unwrap()
}

#[test]
fn upserts_keep_the_latest_value() {
    let d = driver();
    let items = d.input("items", Utf8, Optional(Json));
    items.pipe("a".to_string(), Some(10u32)).unwrap();
    items.pipe("b".to_string(), Some(20u32)).unwrap();
    items.pipe("a".to_string(), Some(11u32)).unwrap();
    let store = d.store::<String, u32>("items-store").unwrap();
    assert_eq!(store.get(&"a".to_string()).unwrap(), Some(11));
    assert_eq!(store.get(&"b".to_string()).unwrap(), Some(20));
    assert_eq!(store.len().unwrap(), 2);
    let changes = d.output::<String, Option<u32>, _, _>("items-changes", Utf8, Optional(Json));
    assert_eq!(
        changes.read_key_values().unwrap(),
        vec![
            ("a".into(), Some(10)),
            ("b".into(), Some(20)),
            ("a".into(), Some(11))
        ]
    );
}

#[test]
fn tombstones_delete_and_flow_downstream() {
    let d = driver();
    let items = d.input("items", Utf8, Optional(Json));
    items.pipe("a".to_string(), Some(10u32)).unwrap();
    items.pipe("a".to_string(), None).unwrap();
    let store = d.store::<String, u32>("items-store").unwrap();
    assert_eq!(store.get(&"a".to_string()).unwrap(), None);
    assert!(store.is_empty().unwrap());
    let changes = d.output::<String, Option<u32>, _, _>("items-changes", Utf8, Optional(Json));
    assert_eq!(changes.read_values().unwrap(), vec![Some(10), None]);
    // The written tombstone is a record without a value.
    let raw = d.read_raw("items-changes").unwrap();
    assert!(raw[1].is_tombstone());
    // to_stream leaves deletions out.
    assert_eq!(
        d.output::<String, u32, _, _>("doubled", Utf8, Json)
            .read_values()
            .unwrap(),
        vec![20]
    );
}

#[test]
fn filtered_table_turns_failing_updates_into_deletions() {
    let d = driver();
    let items = d.input("items", Utf8, Optional(Json));
    items.pipe("a".to_string(), Some(50u32)).unwrap();
    items.pipe("a".to_string(), Some(500u32)).unwrap();
    items.pipe("b".to_string(), Some(500u32)).unwrap();
    items.pipe("b".to_string(), Some(5u32)).unwrap();
    let cheap = d.output::<String, Option<u32>, _, _>("cheap-items", Utf8, Optional(Json));
    assert_eq!(
        cheap.read_key_values().unwrap(),
        vec![
            ("a".into(), Some(50)),
            ("a".into(), None),
            ("b".into(), None),
            ("b".into(), Some(5))
        ]
    );
}

#[test]
fn aggregation_tables_hold_the_latest_aggregate() {
    let mut b = Topology::builder("agg");
    let counts = b
        .stream::<String, String>("clicks", Utf8, Utf8)
        .group_by_key()
        .count("click-counts");
    counts.to("click-counts-out", Utf8, Json);
    let d = TestDriver::new(b.build().unwrap()).unwrap();
    let clicks = d.input("clicks", Utf8, Utf8);
    for u in ["x", "y", "x", "x"] {
        clicks.pipe(u.to_string(), "/".to_string()).unwrap();
    }
    let store = d.store::<String, u64>("click-counts").unwrap();
    let mut all = store.iter().unwrap();
    all.sort();
    assert_eq!(all, vec![("x".to_string(), 3), ("y".to_string(), 1)]);
    let out = d.output::<String, Option<u64>, _, _>("click-counts-out", Utf8, Optional(Json));
    assert_eq!(
        out.read_values().unwrap(),
        vec![Some(1), Some(1), Some(2), Some(3)]
    );
    // The changelog holds every committed value and a marker per commit
    // (markers carry a header, and a key of their own for Kafka).
    let changelog = d.read_raw("agg-click-counts-changelog").unwrap();
    let values = changelog
        .iter()
        .filter(|r| r.header("tributary.positions").is_none());
    assert_eq!(values.filter(|r| r.key.is_some()).count(), 4);
}

#[test]
fn duplicate_store_names_are_reported() {
    let mut b = Topology::builder("dup");
    let s = b.stream::<String, String>("in", Utf8, Utf8);
    s.group_by_key().count("same");
    s.group_by_key().count("same");
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains("two stores are named 'same'"), "{err}");
}
