//! Late records are never dropped in silence, and a bounded run emits
//! every window, the last ones included.

use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{MemoryLog, TopicConfig, prelude::*};
use tributary::testing::TestDriver;
use tributary::topology::{Emit, JoinWindows, SessionWindows, TimeWindows, Windowed};
use tributary::{App, Config, Topology};

mod common;

#[test]
fn a_late_record_is_counted_per_operator_and_reported() {
    let captured = common::Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut b = Topology::builder("late");
        let clicks = b.stream::<String, u32>("clicks", Utf8, Json);
        clicks
            .group_by_key()
            .windowed_by(TimeWindows::tumbling(Duration::from_millis(10)))
            .count("clicks-per-10ms")
            .to_stream()
            .to("counts", Json, Json);
        let views = b.stream::<String, u32>("views", Utf8, Json);
        views
            .join(
                &clicks,
                "view-click",
                JoinWindows::of(Duration::from_millis(5)),
                |_k, v, c| v + c,
            )
            .to("joined", Utf8, Json);
        let driver = TestDriver::new(b.build().unwrap()).unwrap();
        let clicks_in = driver.input("clicks", Utf8, Json);
        let views_in = driver.input("views", Utf8, Json);
        clicks_in.pipe_at("a".to_string(), 1, 100).unwrap();
        views_in.pipe_at("a".to_string(), 1, 100).unwrap();
        // 60 ms behind a watermark of 100: its window [40, 50) has closed.
        clicks_in.pipe_at("a".to_string(), 2, 40).unwrap();
        views_in.pipe_at("a".to_string(), 2, 40).unwrap();
        assert_eq!(
            driver.late_dropped(),
            3,
            "the window count, and each side of the join"
        );
        let by_op = driver.late_by_operator();
        assert_eq!(by_op.get("clicks-per-10ms"), Some(&1), "{by_op:?}");
        assert_eq!(by_op.get("view-click"), Some(&2), "{by_op:?}");
    });
    let log = captured.text();
    let warning = log
        .lines()
        .find(|l| l.contains("late records dropped") && l.contains("clicks-per-10ms"))
        .unwrap_or_else(|| panic!("no warning for the window operator in:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("latest_behind_ms=60"), "{warning}");
    assert!(
        log.lines()
            .any(|l| l.contains("late records dropped") && l.contains("view-click")),
        "no warning for the join in:\n{log}"
    );
}

#[test]
fn a_bounded_run_emits_every_window_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::new());
    for t in ["clicks", "counts", "sessions"] {
        log.create_topic(t, &TopicConfig::new(2)).unwrap();
    }
    // Two keys, times 0..=995 ms; the last tumbling window is [900, 1000)
    // and the last session ends at 995: nothing but the end of the input
    // closes them.
    for p in 0..2u32 {
        let mut batch = Batch::new();
        for i in 0..200i64 {
            let key = format!("k{}", i % 2);
            if tributary::partition_for_key(key.as_bytes(), 2) == p {
                batch.push(i * 5, Some(key.as_bytes()), Some(b"1"), &[]);
            }
        }
        log.append("clicks", p, &batch).unwrap();
    }
    let mut b = Topology::builder("bounded");
    let clicks = b.stream::<String, u32>("clicks", Utf8, Json);
    clicks
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_millis(100)))
        .emit(Emit::OnWindowClose)
        .count("per-100ms")
        .to_stream()
        .to("counts", Json, Json);
    clicks
        .key_by("by-key", |k, _| k.clone())
        .group_by_key()
        .session_windowed_by(SessionWindows::with_gap(Duration::from_millis(50)))
        .emit(Emit::OnWindowClose)
        .count("sessions")
        .to_stream()
        .to("sessions", Json, Json);
    let config = Config {
        state_dir: dir.path().to_path_buf(),
        // An hour: only the end of the bounded run lets the watermark pass.
        idle_timeout: Duration::from_secs(3600),
        threads: 2,
        ..Config::default()
    };
    let app = App::new(b.build().unwrap(), Arc::clone(&log) as Arc<dyn Log>, config).unwrap();
    let stats = app.run_to_end().unwrap();
    assert_eq!(
        stats.records_in, 400,
        "200 inputs, then 200 through the repartition"
    );
    let windowed = |topic: &str| -> Vec<(String, i64, i64, u64)> {
        let mut out = Vec::new();
        for p in 0..2 {
            for r in common::read_all(log.as_ref(), topic, p) {
                let w: Windowed<String> =
                    serde_json::from_slice(r.key.as_deref().unwrap()).unwrap();
                let n: u64 = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
                out.push((w.key, w.start, w.end, n));
            }
        }
        out.sort();
        out
    };
    let counts: Vec<_> = windowed("counts")
        .into_iter()
        .map(|(k, start, _, n)| (k, start, n))
        .collect();
    let sessions = windowed("sessions");
    let expected: Vec<_> = ["k0", "k1"]
        .iter()
        .flat_map(|k| (0..10).map(move |w| (k.to_string(), w * 100, 10)))
        .collect();
    assert_eq!(counts, expected, "every window, the last included, once");
    assert_eq!(
        sessions,
        vec![
            ("k0".to_string(), 0, 990, 100),
            ("k1".to_string(), 5, 995, 100)
        ]
    );
}
