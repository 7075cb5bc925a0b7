//! Event time in a running application: an input with nothing to read
//! holds the watermark back until it has been idle for `idle_timeout`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::Utf8;
use tributary::log::{MemoryLog, TopicConfig, prelude::*};
use tributary::topology::JoinWindows;
use tributary::{App, Config, Topology};

fn topology() -> Topology {
    let mut b = Topology::builder("idle");
    let views = b.stream::<String, String>("views", Utf8, Utf8);
    let clicks = b.stream::<String, String>("clicks", Utf8, Utf8);
    views
        .left_join(
            &clicks,
            "views-clicks",
            JoinWindows::of(Duration::from_millis(10)),
            |_k, v, c| format!("{v}:{}", c.map_or("none", String::as_str)),
        )
        .to("out", Utf8, Utf8);
    b.build().unwrap()
}

/// Runs the join over views at 0..1000 ms and no clicks, for `watch`, with
/// the given idle timeout; returns how many results were written.
fn results(idle_timeout: Duration, watch: Duration) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::new());
    for t in ["views", "clicks", "out"] {
        log.create_topic(t, &TopicConfig::new(1)).unwrap();
    }
    let mut batch = Batch::new();
    for i in 0..100i64 {
        batch.push(i * 10, Some(format!("v{i}").as_bytes()), Some(b"page"), &[]);
    }
    log.append("views", 0, &batch).unwrap();
    let config = Config {
        idle_timeout,
        state_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let running = App::new(topology(), Arc::clone(&log) as Arc<dyn Log>, config)
        .unwrap()
        .start()
        .unwrap();
    let started = Instant::now();
    let mut written = 0;
    while started.elapsed() < watch {
        written = log.offsets("out", 0).unwrap().1;
        if written > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    running.shutdown().unwrap();
    written
}

#[test]
fn an_empty_input_holds_the_watermark_until_it_is_idle() {
    // Clicks never arrive: while the clicks input counts as active, no view's
    // window can close, so no view is emitted alone.
    assert_eq!(
        results(Duration::from_secs(3600), Duration::from_millis(1500)),
        0
    );
    // Once clicks is idle, the watermark follows the views, and every view
    // whose window has closed (all but the last ones) is emitted alone.
    let written = results(Duration::from_millis(100), Duration::from_secs(20));
    assert!(written >= 90, "{written} results");
}
