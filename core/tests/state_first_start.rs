//! A start after an application stopped (or was killed) before its first
//! commit finds state that matches its changelog: nothing to rebuild, and
//! no warning saying otherwise.

mod common;

use std::sync::Arc;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Topology};

#[test]
fn a_start_before_any_commit_restores_nothing_and_warns_of_nothing() {
    // Every thread logs here (task creation runs on threads of its own).
    let captured = common::Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    log.create_topic("clicks", &TopicConfig::new(2)).unwrap();
    let topology = || {
        let mut b = Topology::builder("counts");
        b.stream::<String, String>("clicks", Utf8, Json)
            .group_by_key()
            .count("per-user");
        b.build().unwrap()
    };
    let config = || Config {
        state_dir: dir.path().join("state"),
        ..Config::default()
    };
    // The first run creates the state and its checkpoints, and stops before
    // it ever commits (nothing to process): what a kill before the first
    // commit leaves behind.
    let running = App::new(topology(), Arc::clone(&log) as Arc<dyn Log>, config())
        .unwrap()
        .start()
        .unwrap();
    running
        .wait_until_restored(std::time::Duration::from_secs(30))
        .unwrap();
    let first = running.shutdown().unwrap();
    assert_eq!(first.restored, 0);
    let second = App::new(topology(), Arc::clone(&log) as Arc<dyn Log>, config())
        .unwrap()
        .start()
        .unwrap()
        .shutdown()
        .unwrap();
    assert_eq!(second.restored, 0);
    let logs = captured.text();
    assert!(logs.contains("starting worker"), "nothing captured: {logs}");
    assert!(!logs.contains("WARN"), "{logs}");
}
