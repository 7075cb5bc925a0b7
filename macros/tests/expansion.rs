//! `pipeline!` expands to the builder: the same pipeline written both ways
//! has the same topology description and, on the same input, writes the
//! same records. Reordering the flows of a pipeline, or adding steps,
//! keeps its store and internal topic names.

use std::time::Duration;
use tributary::codec::{Json, Utf8};
use tributary::event::{value_key, value_time};
use tributary::testing::TestDriver;
use tributary::topology::{Emit, JoinWindows, SessionWindows, TimeWindows};
use tributary::{Record, Topology};
use tributary_macros::{Event, pipeline};

#[derive(
    Event,
    Clone,
    Debug,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
struct View {
    #[event(key)]
    user: String,
    item: String,
    #[event(timestamp)]
    at: i64,
}

const SINKS: [&str; 6] = [
    "window-counts",
    "session-counts",
    "named-views",
    "view-clicks",
    "user-counts",
    "late-views",
];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The reference: written with the builder.
fn with_builder() -> Topology {
    let mut b = Topology::builder("expansion");
    let views = b
        .stream::<String, View>("views", Utf8, Json)
        .event_time(value_time);
    let clicks = b.stream::<String, String>("clicks", Utf8, Utf8);
    let items = b.table::<String, String>("items", Utf8, Json, "items");
    let by_item = views
        .filter(|_, v| !v.item.is_empty())
        .key_by("by-item", |_, v| v.item.clone())
        .named("by_item");
    let windowed = by_item
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(secs(10)).grace(secs(1)));
    windowed
        .count("views-per-window")
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.start), n))
        .to("window-counts", Utf8, Json);
    windowed.late_records().to("late-views", Utf8, Json);
    by_item
        .group_by_key()
        .session_windowed_by(SessionWindows::with_gap(secs(5)))
        .emit(Emit::OnWindowClose)
        .count("item-sessions")
        .to_stream()
        .map(|w, n| (format!("{}@{}-{}", w.key, w.start, w.end), n))
        .to("session-counts", Utf8, Json);
    by_item
        .left_join_table(&items, |_, v, name| (v.user, name.cloned()))
        .to("named-views", Utf8, Json);
    views
        .join(
            &clicks,
            "view-click",
            JoinWindows::of(secs(3)),
            |_, v, c| format!("{}>{c}", v.item),
        )
        .to("view-clicks", Utf8, Utf8);
    let [even, odd] = views.branch().on(|_, v| v.at % 2 == 0).otherwise().build();
    let (even, odd) = (even.named("even"), odd.named("odd"));
    even.merge(&odd)
        .group_by("by-user", value_key)
        .count("views-per-user")
        .to_stream()
        .to("user-counts", Utf8, Json);
    b.build().expect("the builder pipeline is valid")
}

/// The same pipeline with the macro.
fn with_macro() -> Topology {
    pipeline! {
        app "expansion";

        stream views: String => View from "views" (Utf8, Json) event_time(value_time);
        stream clicks: String => String from "clicks" (Utf8, Utf8);
        table items: String => String from "items" (Utf8, Json) as "items";

        views -> filter(|_, v| !v.item.is_empty()) -> key_by("by-item", |_, v| v.item.clone())
              => by_item;
        by_item -> group_by_key() -> windowed_by(TimeWindows::tumbling(secs(10)).grace(secs(1)))
                => windowed;
        windowed -> count("views-per-window") -> to_stream()
                 -> map(|w, n| (format!("{}@{}", w.key, w.start), n))
                 -> to("window-counts", Utf8, Json);
        windowed -> late_records() -> to("late-views", Utf8, Json);
        by_item -> group_by_key() -> session_windowed_by(SessionWindows::with_gap(secs(5)))
                -> emit(Emit::OnWindowClose) -> count("item-sessions") -> to_stream()
                -> map(|w, n| (format!("{}@{}-{}", w.key, w.start, w.end), n))
                -> to("session-counts", Utf8, Json);
        by_item -> left_join_table(items, |_, v, name| (v.user, name.cloned()))
                -> to("named-views", Utf8, Json);
        views -> join(clicks, "view-click", JoinWindows::of(secs(3)), |_, v, c| format!("{}>{c}", v.item))
              -> to("view-clicks", Utf8, Utf8);
        views -> branch { |_, v| v.at % 2 == 0 => even, _ => odd };
        even -> merge(odd) -> group_by("by-user", value_key) -> count("views-per-user") -> to_stream()
             -> to("user-counts", Utf8, Json);
    }
    .expect("the macro pipeline is valid")
}

/// The same flows, listed in another order (uses before definitions).
fn with_macro_reordered() -> Topology {
    pipeline! {
        app "expansion";

        even -> merge(odd) -> group_by("by-user", value_key) -> count("views-per-user") -> to_stream()
             -> to("user-counts", Utf8, Json);
        windowed -> late_records() -> to("late-views", Utf8, Json);
        by_item -> left_join_table(items, |_, v, name| (v.user, name.cloned()))
                -> to("named-views", Utf8, Json);
        views -> join(clicks, "view-click", JoinWindows::of(secs(3)), |_, v, c| format!("{}>{c}", v.item))
              -> to("view-clicks", Utf8, Utf8);
        windowed -> count("views-per-window") -> to_stream()
                 -> map(|w, n| (format!("{}@{}", w.key, w.start), n))
                 -> to("window-counts", Utf8, Json);
        by_item -> group_by_key() -> session_windowed_by(SessionWindows::with_gap(secs(5)))
                -> emit(Emit::OnWindowClose) -> count("item-sessions") -> to_stream()
                -> map(|w, n| (format!("{}@{}-{}", w.key, w.start, w.end), n))
                -> to("session-counts", Utf8, Json);
        views -> branch { |_, v| v.at % 2 == 0 => even, _ => odd };
        by_item -> group_by_key() -> windowed_by(TimeWindows::tumbling(secs(10)).grace(secs(1)))
                => windowed;
        views -> filter(|_, v| !v.item.is_empty()) -> key_by("by-item", |_, v| v.item.clone())
              => by_item;

        table items: String => String from "items" (Utf8, Json) as "items";
        stream clicks: String => String from "clicks" (Utf8, Utf8);
        stream views: String => View from "views" (Utf8, Json) event_time(value_time);
    }
    .expect("the reordered pipeline is valid")
}

/// A later version of the pipeline: steps added inside flows, and a new flow.
fn with_macro_extended() -> Topology {
    pipeline! {
        app "expansion";

        stream views: String => View from "views" (Utf8, Json) event_time(value_time);
        stream clicks: String => String from "clicks" (Utf8, Utf8);
        table items: String => String from "items" (Utf8, Json) as "items";

        clicks -> filter(|_, page| page.starts_with('/')) -> to("clean-clicks", Utf8, Utf8);
        views -> inspect(|_, _| ()) -> filter(|_, v| !v.item.is_empty())
              -> map_values(|v| View { item: v.item.to_lowercase(), ..v })
              -> key_by("by-item", |_, v| v.item.clone()) => by_item;
        by_item -> group_by_key() -> windowed_by(TimeWindows::tumbling(secs(10)).grace(secs(1)))
                => windowed;
        windowed -> count("views-per-window") -> to_stream()
                 -> map(|w, n| (format!("{}@{}", w.key, w.start), n))
                 -> to("window-counts", Utf8, Json);
        windowed -> late_records() -> to("late-views", Utf8, Json);
        by_item -> filter(|_, v| v.at >= 0) -> group_by_key()
                -> session_windowed_by(SessionWindows::with_gap(secs(5)))
                -> emit(Emit::OnWindowClose) -> count("item-sessions") -> to_stream()
                -> map(|w, n| (format!("{}@{}-{}", w.key, w.start, w.end), n))
                -> to("session-counts", Utf8, Json);
        by_item -> left_join_table(items, |_, v, name| (v.user, name.cloned()))
                -> to("named-views", Utf8, Json);
        views -> join(clicks, "view-click", JoinWindows::of(secs(3)), |_, v, c| format!("{}>{c}", v.item))
              -> to("view-clicks", Utf8, Utf8);
        views -> branch { |_, v| v.at % 2 == 0 => even, _ => odd };
        even -> merge(odd) -> group_by("by-user", value_key) -> count("views-per-user") -> to_stream()
             -> to("user-counts", Utf8, Json);
    }
    .expect("the extended pipeline is valid")
}

/// Runs `topology` on a fixed input and returns every sink's records.
fn run(topology: Topology) -> Vec<(String, Vec<Record>)> {
    let driver = TestDriver::with_partitions(topology, 2, tributary::Config::default()).unwrap();
    let items = driver.input("items", Utf8, tributary::codec::Optional(Json));
    for i in 0..40 {
        let name = (i % 5 != 0).then(|| format!("Item number {i}"));
        items.pipe(format!("item-{i}"), name).unwrap();
    }
    let views = driver.input("views", Utf8, Json);
    let clicks = driver.input("clicks", Utf8, Utf8);
    let mut state = 17u64;
    for n in 0..3000i64 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = state >> 33;
        let user = format!("user-{}", r % 23);
        // Mostly in order, some a few seconds late, a few past grace.
        let at = n * 37 - (r % 7) as i64 * if r.is_multiple_of(11) { 2_500 } else { 300 };
        let item = if r.is_multiple_of(97) {
            String::new()
        } else {
            format!("item-{}", r % 41)
        };
        let view = View {
            user: user.clone(),
            item,
            at,
        };
        views.pipe_at(user.clone(), view, at).unwrap();
        if r.is_multiple_of(3) {
            clicks
                .pipe_at(user, format!("/page/{}", r % 13), at + (r % 5) as i64 * 400)
                .unwrap();
        }
    }
    SINKS
        .iter()
        .map(|t| (t.to_string(), driver.read_raw(t).unwrap()))
        .collect()
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[test]
fn macro_and_builder_describe_the_same_topology() {
    let (dsl, builder) = (with_macro(), with_builder());
    assert_eq!(
        dsl.describe(),
        builder.describe(),
        "\n{}\n{}",
        dsl.describe(),
        builder.describe()
    );
    assert_eq!(dsl.store_names(), builder.store_names());
    assert_eq!(dsl.internal_topics(), builder.internal_topics());
    assert_eq!(dsl.sink_topics(), builder.sink_topics());
}

#[test]
fn macro_and_builder_write_the_same_records() {
    let dsl = run(with_macro());
    let builder = run(with_builder());
    for ((topic, a), (_, b)) in dsl.iter().zip(&builder) {
        assert!(
            !a.is_empty(),
            "{topic} got no records: the input does not exercise it"
        );
        assert_eq!(a, b, "{topic} differs");
    }
}

#[test]
fn reordering_flows_keeps_names_and_results() {
    let (original, reordered) = (with_macro(), with_macro_reordered());
    assert_eq!(
        sorted(original.store_names()),
        sorted(reordered.store_names())
    );
    assert_eq!(
        sorted(original.internal_topics()),
        sorted(reordered.internal_topics())
    );
    assert_eq!(
        sorted(original.internal_topics()),
        [
            "expansion-by-item-repartition",
            "expansion-by-user-repartition",
        ]
    );
    assert_eq!(
        sorted(original.store_names()),
        [
            "item-sessions",
            "items",
            "view-click-left",
            "view-click-right",
            "views-per-user",
            "views-per-window",
        ]
    );
    assert_eq!(run(original), run(reordered));
}

#[test]
fn adding_steps_keeps_existing_names() {
    let (original, extended) = (with_macro(), with_macro_extended());
    assert_eq!(
        sorted(original.store_names()),
        sorted(extended.store_names())
    );
    assert_eq!(
        sorted(original.internal_topics()),
        sorted(extended.internal_topics())
    );
}

#[test]
fn suppression_is_part_of_the_language() {
    let mut b = Topology::builder("final");
    b.stream::<String, String>("clicks", Utf8, Utf8)
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(secs(10)))
        .count("clicks-per-window")
        .suppress_until_window_closes("final-counts")
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.start), n))
        .to("final-counts", Utf8, Json);
    let builder = b.build().expect("the builder pipeline is valid");
    let dsl = pipeline! {
        app "final";

        stream clicks: String => String from "clicks" (Utf8, Utf8);

        clicks -> group_by_key() -> windowed_by(TimeWindows::tumbling(secs(10)))
               -> count("clicks-per-window") -> suppress_until_window_closes("final-counts")
               -> to_stream() -> map(|w, n| (format!("{}@{}", w.key, w.start), n))
               -> to("final-counts", Utf8, Json);
    }
    .expect("the macro pipeline is valid");
    assert_eq!(dsl.describe(), builder.describe());
    assert_eq!(dsl.store_names(), builder.store_names());
    let driver = TestDriver::new(dsl).unwrap();
    let clicks = driver.input("clicks", Utf8, Utf8);
    for (user, t) in [
        ("ann", 1_000),
        ("ann", 2_000),
        ("bob", 3_000),
        ("ann", 11_000),
    ] {
        clicks
            .pipe_at(user.to_string(), "/".to_string(), t)
            .unwrap();
    }
    let out = driver.output("final-counts", Utf8, Json);
    let mut counts: Vec<(String, u64)> = out.read_key_values().unwrap();
    counts.sort();
    assert_eq!(counts, vec![("ann@0".into(), 2), ("bob@0".into(), 1)]);
}
