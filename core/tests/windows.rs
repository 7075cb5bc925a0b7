//! Windowed counts against a naive reference model.
//!
//! Random streams of keyed records with out-of-order and late timestamps go
//! through tumbling, hopping, sliding and session counts in both emit
//! modes; the output is compared window by window with a model that
//! recomputes every window from the accepted records, and the number of
//! records dropped as late with the model's.

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;
use tributary::codec::{Json, Optional, Utf8};
use tributary::testing::TestDriver;
use tributary::topology::{Emit, SessionWindows, SlidingWindows, TimeWindows, Windowed};
use tributary::{Config, Topology};

type Window = (String, i64, i64);

#[derive(Debug, Clone, Copy)]
enum Kind {
    Time { size: i64, advance: i64 },
    Sliding { difference: i64 },
    Session { gap: i64 },
}

#[derive(Debug, Clone)]
struct Case {
    kind: Kind,
    grace: i64,
    out_of_orderness: i64,
    emit: Emit,
    records: Vec<(u8, i64)>,
}

/// What the operator is expected to produce.
#[derive(Debug, PartialEq)]
struct Expected {
    /// Final count per window: every window (on update), the closed ones (on close).
    windows: BTreeMap<Window, u64>,
    late: u64,
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v as u64)
}

/// The reference: decides acceptance record by record with the watermark
/// after that record, then recomputes every window from accepted records.
fn model(case: &Case) -> Expected {
    let mut wm = i64::MIN;
    let mut max = i64::MIN;
    let mut late = 0;
    let mut accepted: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut time_counts: BTreeMap<Window, u64> = BTreeMap::new();
    for &(k, t) in &case.records {
        let key = format!("k{k}");
        max = max.max(t);
        wm = wm.max(max - case.out_of_orderness);
        match case.kind {
            Kind::Time { size, advance } => {
                let mut any = false;
                let mut s = t - t.rem_euclid(advance);
                while s + size > t {
                    if s + size + case.grace > wm {
                        any = true;
                        *time_counts.entry((key.clone(), s, s + size)).or_default() += 1;
                    }
                    s -= advance;
                }
                late += u64::from(!any);
            }
            _ => {
                if t + 1 + case.grace > wm {
                    accepted.entry(key).or_default().push(t);
                } else {
                    late += 1;
                }
            }
        }
    }
    let closed = |end: i64| match case.kind {
        Kind::Time { .. } => end + case.grace <= wm,
        Kind::Sliding { .. } => end + 1 + case.grace <= wm,
        Kind::Session { gap } => end + gap + 1 + case.grace <= wm,
    };
    let mut all: BTreeMap<Window, u64> = time_counts;
    for (key, mut times) in accepted {
        times.sort_unstable();
        match case.kind {
            Kind::Sliding { difference: d } => {
                for (i, &t) in times.iter().enumerate() {
                    let mut bounds = vec![(t - d, t)];
                    if times[i + 1..].iter().any(|&u| u > t && u <= t + 1 + d) {
                        bounds.push((t + 1, t + 1 + d));
                    }
                    for (s, e) in bounds {
                        let n = times.iter().filter(|&&u| s <= u && u <= e).count() as u64;
                        all.insert((key.clone(), s, e), n);
                    }
                }
            }
            Kind::Session { gap } => {
                let mut start = times[0];
                let mut prev = times[0];
                let mut n = 0;
                for &t in &times {
                    if t - prev > gap {
                        all.insert((key.clone(), start, prev), n);
                        start = t;
                        n = 0;
                    }
                    n += 1;
                    prev = t;
                }
                all.insert((key.clone(), start, prev), n);
            }
            Kind::Time { .. } => unreachable!(),
        }
    }
    if case.emit == Emit::OnWindowClose {
        all.retain(|(_, _, end), _| closed(*end));
    }
    Expected { windows: all, late }
}

/// Runs the case through the real operator and reads back what it emitted.
fn run(case: &Case) -> Expected {
    let mut b = Topology::builder("windows");
    let grouped = b.stream::<String, u32>("in", Utf8, Json).group_by_key();
    let g = ms(case.grace);
    let table = match case.kind {
        Kind::Time { size, advance } => grouped
            .windowed_by(TimeWindows::hopping(ms(size), ms(advance)).grace(g))
            .emit(case.emit)
            .count("counts"),
        Kind::Sliding { difference } => grouped
            .windowed_by(SlidingWindows::with_difference(ms(difference)).grace(g))
            .emit(case.emit)
            .count("counts"),
        Kind::Session { gap } => grouped
            .session_windowed_by(SessionWindows::with_gap(ms(gap)).grace(g))
            .emit(case.emit)
            .count("counts"),
    };
    table.changes().to("out", Json, Optional(Json));
    let config = Config {
        max_out_of_orderness: ms(case.out_of_orderness),
        ..Config::default()
    };
    let driver = TestDriver::with_partitions(b.build().unwrap(), 1, config).unwrap();
    let input = driver.input("in", Utf8, Json);
    for &(k, t) in &case.records {
        input.pipe_at(format!("k{k}"), 0u32, t).unwrap();
    }
    let out: Vec<(Windowed<String>, Option<u64>)> = driver
        .output("out", Json, Optional(Json))
        .read_key_values()
        .unwrap();
    let mut windows = BTreeMap::new();
    for (w, v) in out {
        let key = (w.key, w.start, w.end);
        match (case.emit, v) {
            (Emit::OnWindowClose, Some(n)) => {
                let previous = windows.insert(key.clone(), n);
                assert_eq!(previous, None, "window {key:?} emitted twice on close");
            }
            (Emit::OnWindowUpdate, Some(n)) => {
                windows.insert(key, n);
            }
            (Emit::OnWindowUpdate, None) => {
                assert!(
                    matches!(case.kind, Kind::Session { .. }),
                    "only merged sessions are deleted"
                );
                windows.remove(&key);
            }
            (Emit::OnWindowClose, None) => panic!("a deletion emitted on close: {key:?}"),
        }
    }
    Expected {
        windows,
        late: driver.late_dropped(),
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (1i64..40, 1i64..40).prop_map(|(size, a)| Kind::Time {
            size,
            advance: a.min(size)
        }),
        (1i64..30).prop_map(|difference| Kind::Sliding { difference }),
        (1i64..30).prop_map(|gap| Kind::Session { gap }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        kind(),
        0i64..15,
        0i64..10,
        any::<bool>(),
        // Times drift upward with jitter: out-of-order and late records.
        prop::collection::vec((0u8..3, 0i64..12, -25i64..5), 1..60),
    )
        .prop_map(|(kind, grace, out_of_orderness, on_close, steps)| {
            let mut t = 100;
            let records = steps
                .into_iter()
                .map(|(k, step, jitter)| {
                    t += step;
                    (k, (t + jitter).max(0))
                })
                .collect();
            Case {
                kind,
                grace,
                out_of_orderness,
                emit: if on_close {
                    Emit::OnWindowClose
                } else {
                    Emit::OnWindowUpdate
                },
                records,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn windowed_counts_match_the_model(case in case()) {
        prop_assert_eq!(run(&case), model(&case), "case {:?}", case);
    }
}

#[test]
fn tumbling_counts_close_in_order_and_late_records_are_counted() {
    let case = Case {
        kind: Kind::Time {
            size: 10,
            advance: 10,
        },
        grace: 2,
        out_of_orderness: 0,
        emit: Emit::OnWindowClose,
        records: vec![
            (0, 1),
            (0, 5),
            (1, 9),
            (0, 11),
            (0, 3),
            (1, 12),
            (0, 30),
            (0, 8),
        ],
    };
    let got = run(&case);
    let w = |k: &str, s| (k.to_string(), s, s + 10);
    // At 12 the watermark closes [0, 10) (10 + grace 2); 3 arrived at 11, in
    // time; 8 arrives at 30: late.
    assert_eq!(
        got.windows,
        BTreeMap::from([
            (w("k0", 0), 3),
            (w("k1", 0), 1),
            (w("k0", 10), 1),
            (w("k1", 10), 1)
        ])
    );
    assert_eq!(got.late, 1);
    assert_eq!(got, model(&case));
}

#[test]
fn closed_windows_are_removed_from_the_store() {
    let mut b = Topology::builder("expiry");
    b.stream::<String, u32>("in", Utf8, Json)
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(ms(10)))
        .count("counts");
    let driver = TestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input("in", Utf8, Json);
    for (k, t) in [("a", 1), ("b", 2), ("a", 12), ("c", 25)] {
        input.pipe_at(k.to_string(), 0u32, t).unwrap();
    }
    // The store keeps each key's open windows, by (key, bucket of starts):
    // (start, count, latest time). A tumbling window is a bucket of its own.
    type Held = Vec<((String, i64), Vec<(i64, u64, i64)>)>;
    let held = |driver: &TestDriver| -> Held { driver.store("counts").unwrap().iter().unwrap() };
    assert_eq!(
        held(&driver),
        vec![(("c".to_string(), 2), vec![(20, 1, 25)])]
    );
    input.pipe_at("c".to_string(), 0u32, 40).unwrap();
    assert_eq!(
        held(&driver),
        vec![(("c".to_string(), 4), vec![(40, 1, 40)])]
    );
}

#[test]
fn late_records_can_go_to_a_stream() {
    let mut b = Topology::builder("late");
    let windowed = b
        .stream::<String, u32>("in", Utf8, Json)
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(ms(10)));
    windowed.late_records().to("late", Utf8, Json);
    windowed.count("counts").to_stream().to("out", Json, Json);
    let driver = TestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input("in", Utf8, Json);
    for (v, t) in [(1u32, 5), (2, 25), (3, 4), (4, 26)] {
        input.pipe_at("a".to_string(), v, t).unwrap();
    }
    let late: Vec<u32> = driver.output("late", Utf8, Json).read_values().unwrap();
    assert_eq!(late, vec![3]);
    assert_eq!(driver.late_dropped(), 0, "sent to the stream, not dropped");
}
