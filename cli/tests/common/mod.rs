//! Running the `tributary` command in tests, on either backend: `backend`
//! is the arguments that choose it (`--dir D` or `--brokers HOST:PORT`).

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `tributary <backend> <args>` with `stdin` as its input.
pub(crate) fn run(backend: &[&OsStr], args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(backend)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Like [`run`], asserting success; returns what it printed.
pub(crate) fn run_ok(backend: &[&OsStr], args: &[&str], stdin: &str) -> String {
    let out = run(backend, args, stdin.as_bytes());
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// JSON lines, parsed.
pub(crate) fn lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
