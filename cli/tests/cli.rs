//! The `tributary` command end to end, against a temporary log directory.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use tributary::log::{EmbeddedLog, Log, TopicPartition};

fn tributary(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = tributary(dir, args, stdin);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn topics_produce_consume_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        ok(d, &["topics", "create", "views", "--partitions", "3"], None).contains("3 partition")
    );
    ok(d, &["topics", "create", "other"], None);
    assert_eq!(ok(d, &["topics", "list"], None), "other\nviews\n");
    let input = r#"{"user":"ann","item":1,"ts":1000}
{"user":"bob","item":2,"ts":"2026-11-28T10:00:00Z"}
{"user":"ann","item":3,"ts":3000}
"#;
    let out = tributary(
        d,
        &[
            "produce",
            "views",
            "--key-field",
            "user",
            "--timestamp-field",
            "ts",
        ],
        Some(input),
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("produced 3 record(s)"));

    let all = lines(&ok(d, &["consume", "views"], None));
    assert_eq!(all.len(), 3);
    let ann: Vec<_> = all.iter().filter(|r| r["key"] == "ann").collect();
    assert_eq!(ann.len(), 2);
    assert_eq!(
        ann[0]["partition"], ann[1]["partition"],
        "same key, same partition"
    );
    let expected = tributary::partition_for_key(b"ann", 3);
    assert_eq!(ann[0]["partition"], expected);
    assert_eq!(ann[0]["value"]["item"], 1);
    assert_eq!(ann[0]["timestamp"], 1000);
    let bob = all.iter().find(|r| r["key"] == "bob").unwrap();
    assert_eq!(bob["timestamp"], 1_795_860_000_000i64);

    // From a time: only records at or after it, per partition.
    let late = lines(&ok(
        d,
        &["consume", "views", "--from", "1970-01-01T00:00:02Z"],
        None,
    ));
    let mut items: Vec<i64> = late
        .iter()
        .map(|r| r["value"]["item"].as_i64().unwrap())
        .collect();
    items.sort();
    assert_eq!(items, vec![2, 3]);
    // From an offset within one partition, and --max.
    let p = expected.to_string();
    let one = lines(&ok(
        d,
        &["consume", "views", "--partition", &p, "--from", "1"],
        None,
    ));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["value"]["item"], 3);
    assert_eq!(
        lines(&ok(d, &["consume", "views", "--max", "2"], None)).len(),
        2
    );
    let values = ok(
        d,
        &["consume", "views", "--partition", &p, "--values"],
        None,
    );
    assert_eq!(values.lines().count(), 2);
    assert!(values.starts_with(r#"{"user":"ann","item":1"#));

    let described = ok(d, &["topics", "describe", "views"], None);
    assert!(described.contains("3 partition(s)"), "{described}");
    ok(d, &["topics", "delete", "other"], None);
    assert_eq!(ok(d, &["topics", "list"], None), "views\n");
}

#[test]
fn groups_describe_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["topics", "create", "t", "--partitions", "2"], None);
    let input: String = (0..10)
        .map(|i| format!("{{\"n\":{i},\"ts\":{}}}\n", i * 100))
        .collect();
    ok(
        d,
        &[
            "produce",
            "t",
            "--partition",
            "0",
            "--timestamp-field",
            "ts",
        ],
        Some(&input),
    );
    {
        let log = EmbeddedLog::open(d).unwrap();
        log.commit_offsets(
            "app",
            &[
                (TopicPartition::new("t", 0), 4),
                (TopicPartition::new("t", 1), 0),
            ],
        )
        .unwrap();
    }
    assert_eq!(ok(d, &["groups", "list"], None), "app\n");
    let described = ok(d, &["groups", "describe", "app"], None);
    assert!(described.contains("total lag: 6"), "{described}");
    ok(
        d,
        &["groups", "reset", "app", "--to", "1970-01-01T00:00:00.500Z"],
        None,
    );
    let log = EmbeddedLog::open(d).unwrap();
    assert_eq!(
        log.committed_offsets("app").unwrap()[&TopicPartition::new("t", 0)],
        5
    );
    ok(
        d,
        &["groups", "reset", "app", "--to", "latest", "--topic", "t"],
        None,
    );
    assert_eq!(
        log.committed_offsets("app").unwrap()[&TopicPartition::new("t", 0)],
        10
    );
    ok(d, &["groups", "reset", "app", "--to", "earliest"], None);
    assert_eq!(
        log.committed_offsets("app").unwrap()[&TopicPartition::new("t", 0)],
        0
    );
}

#[test]
fn errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [(&[&str], &str); 5] = [
        (&["consume", "nope"], "error: unknown topic 'nope'\n"),
        (
            &["topics", "create", "bad/name"],
            "error: invalid configuration: invalid topic name 'bad/name'",
        ),
        (
            &["topics", "create", "z", "--partitions", "0"],
            "error: invalid configuration: a topic needs at least 1 partition\n",
        ),
        (
            &["groups", "describe", "ghost"],
            "error: group 'ghost' has no committed positions\n",
        ),
        (&["consume", "nope", "--from", "yesterday"], "error: "),
    ];
    for (args, want) in cases {
        let out = tributary(d, args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn invalid_json_line_is_reported_and_earlier_lines_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["topics", "create", "t"], None);
    let out = tributary(
        d,
        &["produce", "t"],
        Some("{\"a\":1}\n{\"a\":2}\n{oops\n{\"a\":4}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 3: not produced (2 earlier record(s) were written)"),
        "{err}"
    );
    assert_eq!(lines(&ok(d, &["consume", "t"], None)).len(), 2);
    // --raw accepts anything.
    ok(d, &["produce", "t", "--raw"], Some("{oops\n"));
    assert_eq!(
        ok(d, &["consume", "t", "--values", "--from", "2"], None),
        "{oops\n"
    );
}
