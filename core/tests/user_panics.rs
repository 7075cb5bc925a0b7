//! A panic in user code never stalls in silence. By default the
//! application stops, within a second, with an error naming the task, the
//! operator and the record, after its other tasks commit what they
//! processed; every restart stops on the same record, until the
//! application is run with `OnProcessingError::DeadLetter`, which sends the
//! record to the dead-letter topic with the panic in its headers and
//! processes every other record. A panic while timers fire names the
//! operator and the watermark.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, TopicPartition, prelude::*};
use tributary::runtime::dead_letter_headers as dlh;
use tributary::testing::TestDriver;
use tributary::topology::{Emit, TimeWindows};
use tributary::{App, Config, Error, OnProcessingError, Record, Topology};

const PARTITIONS: u32 = 4;
const POISON_PARTITION: u32 = 2;

/// Sums per key, with a sum that cannot overflow silently.
fn topology() -> Topology {
    let mut b = Topology::builder("sums");
    b.stream::<String, i64>("amounts", Utf8, Json)
        .group_by_key()
        .aggregate(
            "sums",
            || 0i64,
            |_k, v, sum| sum.checked_add(v).expect("sum overflowed"),
        )
        .to("totals", Utf8, Json);
    b.build().unwrap()
}

fn config(on_processing_error: OnProcessingError, state: &std::path::Path) -> Config {
    Config {
        threads: 2,
        // Commits happen only when the application stops: what the other
        // tasks commit is what they committed on the way out.
        commit_interval: Duration::from_secs(3600),
        on_processing_error,
        state_dir: state.to_owned(),
        ..Config::default()
    }
}

fn append(log: &dyn Log, partition: u32, records: &[(&str, i64)]) -> u64 {
    let mut b = Batch::new();
    for (k, v) in records {
        b.push_record(&Record::new(
            1,
            Some(k.to_string()),
            Some(v.to_string().into_bytes()),
        ));
    }
    log.append("amounts", partition, &b).unwrap()
}

/// The latest total per key over every partition of `totals`.
fn totals(log: &dyn Log) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for p in 0..PARTITIONS {
        for r in common::read_all(log, "totals", p) {
            let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            let value: Option<i64> = serde_json::from_slice(&r.value.unwrap()).unwrap();
            out.insert(key, value.unwrap());
        }
    }
    out
}

#[test]
fn a_panic_stops_the_application_naming_the_record_then_dead_letters_it_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    log.create_topic("amounts", &TopicConfig::new(PARTITIONS))
        .unwrap();
    log.create_topic("totals", &TopicConfig::new(PARTITIONS))
        .unwrap();
    let mut expected = BTreeMap::new();
    for p in 0..PARTITIONS {
        let records: Vec<(String, i64)> =
            (1..=50).map(|i| (format!("k{p}-{}", i % 5), i)).collect();
        for (k, v) in &records {
            *expected.entry(k.clone()).or_insert(0i64) += v;
        }
        let refs: Vec<(&str, i64)> = records.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        append(log.as_ref(), p, &refs);
    }
    let dyn_log = Arc::clone(&log) as Arc<dyn Log>;

    // Live: everything healthy is processed, then the poison arrives.
    let running = App::new(
        topology(),
        Arc::clone(&dyn_log),
        config(OnProcessingError::Fail, &state),
    )
    .unwrap()
    .start()
    .unwrap();
    running
        .wait_until_caught_up(Duration::from_secs(30))
        .unwrap();
    let poison = append(
        log.as_ref(),
        POISON_PARTITION,
        &[("poison", i64::MAX), ("poison", 1), ("after", 7)],
    ) + 1;
    let sent = Instant::now();
    while !running.is_stopping() {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "the application did not stop"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    let named = |e: Error| match e {
        Error::UserCodePanicked {
            task,
            operator,
            during,
            message,
        } => {
            assert_eq!(task, format!("0_{POISON_PARTITION}"));
            assert_eq!(operator, "aggregate-1");
            assert_eq!(
                during,
                format!("on record amounts/{POISON_PARTITION}@{poison}")
            );
            assert!(
                message.starts_with("sum overflowed (at core/tests/user_panics.rs:"),
                "{message}"
            );
        }
        other => panic!("not a panic error: {other}"),
    };
    named(running.shutdown().unwrap_err());

    // The other tasks, on the failing task's worker and on the other one,
    // committed everything they had processed; the failing task did not.
    let committed = log.committed_offsets("sums").unwrap();
    for p in 0..PARTITIONS {
        let tp = TopicPartition::new("amounts", p);
        if p == POISON_PARTITION {
            assert_eq!(committed.get(&tp), None, "the failing task committed");
        } else {
            assert_eq!(committed.get(&tp), Some(&50), "partition {p}");
        }
    }
    assert_eq!(totals(log.as_ref()), expected);

    // Every restart stops on the same record.
    let again = App::new(
        topology(),
        Arc::clone(&dyn_log),
        config(OnProcessingError::Fail, &state),
    )
    .unwrap()
    .run_to_end()
    .unwrap_err();
    named(again);

    // With the handler, the record goes to the dead-letter topic and every
    // other record is processed.
    let stats = App::new(
        topology(),
        Arc::clone(&dyn_log),
        config(OnProcessingError::DeadLetter, &state),
    )
    .unwrap()
    .run_to_end()
    .unwrap();
    assert_eq!(stats.dead_lettered, 1);
    let dead = common::read_all(log.as_ref(), "sums-dlq", 0);
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.key.as_deref(), Some(&b"poison"[..]));
    assert_eq!(d.value.as_deref(), Some(&b"1"[..]));
    let header = |name: &str| {
        let h = d.headers.iter().find(|h| h.name == name).unwrap();
        String::from_utf8(h.value.to_vec()).unwrap()
    };
    assert!(header(dlh::ERROR).starts_with("sum overflowed (at "));
    assert_eq!(header(dlh::OPERATOR), "aggregate-1");
    assert_eq!(header(dlh::TASK), format!("0_{POISON_PARTITION}"));
    assert_eq!(header(dlh::TOPIC), "amounts");
    assert_eq!(header(dlh::PARTITION), POISON_PARTITION.to_string());
    assert_eq!(header(dlh::OFFSET), poison.to_string());
    expected.insert("poison".into(), i64::MAX);
    expected.insert("after".into(), 7);
    assert_eq!(totals(log.as_ref()), expected);
}

#[test]
fn a_panic_while_timers_fire_names_the_operator_and_the_watermark() {
    let mut b = Topology::builder("windows");
    b.stream::<String, u32>("clicks", Utf8, Json)
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_millis(100)))
        .emit(Emit::OnWindowClose)
        .count("counts")
        .to_stream()
        .map_values(|n: u64| {
            assert!(n != 3, "three clicks in a window");
            n
        })
        .named("check")
        .to("checked", Json, Json);
    let driver = TestDriver::new(b.build().unwrap()).unwrap();
    let clicks = driver.input("clicks", Utf8, Json);
    for at in [10, 20, 30] {
        clicks.pipe_at("ann".to_string(), 1, at).unwrap();
    }
    let err = clicks.pipe_at("ann".to_string(), 1, 150).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "user code panicked in task 0_0, operator 'check', firing event-time timers at \
             watermark 150: three clicks in a window (at core/tests/user_panics.rs:"
        ),
        "{text}"
    );
}
