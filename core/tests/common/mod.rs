//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod http;

use std::io::Write;
use std::sync::{Arc, Mutex};
use tributary::Batch;
use tributary::Record;
use tributary::log::prelude::*;

/// A record as the tests write it: timestamp, key, value.
pub type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Appends records as one batch.
pub fn append(log: &dyn Log, topic: &str, partition: u32, records: &[Rec]) -> u64 {
    let mut b = Batch::new();
    for (ts, k, v) in records {
        b.push(*ts, k.as_deref(), v.as_deref(), &[]);
    }
    log.append(topic, partition, &b).unwrap()
}

/// Reads a whole partition by repeated fetches.
pub fn read_all(log: &dyn Log, topic: &str, partition: u32) -> Vec<Record> {
    let (mut pos, end) = log.offsets(topic, partition).unwrap();
    let mut out = Vec::new();
    while pos < end {
        let before = out.len();
        log.fetch(topic, partition, pos, 4096, &mut out).unwrap();
        assert!(
            out.len() > before,
            "fetch at {pos} (end {end}) returned nothing"
        );
        pos = out.last().unwrap().offset + 1;
    }
    out
}

/// Starts this test binary again, running only the test `entry` with `env`
/// set to `dir`: how tests run an application in a process they can kill.
pub fn spawn_self(entry: &str, env: &str, dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(env, dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Collects what tracing writes.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The segment files of a partition directory, in offset order.
pub fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}
