//! The `tributary` command end to end, against a temporary log directory.

mod common;

use common::{lines, run, run_ok};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use tributary::log::{EmbeddedLog, TopicPartition, prelude::*};

fn tributary(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    tributary_bytes(dir, args, stdin.unwrap_or("").as_bytes())
}

fn ok(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    run_ok(&on_dir(dir), args, stdin.unwrap_or(""))
}

fn on_dir(dir: &std::path::Path) -> [&std::ffi::OsStr; 2] {
    ["--dir".as_ref(), dir.as_os_str()]
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
    // A position past the end is shown and is an error, not a lag of 0.
    EmbeddedLog::open(d)
        .unwrap()
        .commit_offsets("ahead", &[(TopicPartition::new("t", 0), 25)])
        .unwrap();
    let out = tributary(d, &["groups", "describe", "ahead"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stdout).unwrap().contains("PAST END"));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("1 position(s) of group 'ahead' are past their partition's end"),
        "{err}"
    );
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
    ok(d, &["topics", "create", "exists"], None);
    let cases: [(&[&str], &str); 6] = [
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
        (
            &["topics", "create", "many", "--partitions", "100000"],
            "error: invalid configuration: 100000 partitions is more than the embedded log's \
             limit of 4096",
        ),
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
        err.contains("line 3: not produced (2 earlier record(s) were written and acknowledged"),
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

fn tributary_bytes(dir: &std::path::Path, args: &[&str], stdin: &[u8]) -> Output {
    run(&on_dir(dir), args, stdin)
}

#[test]
fn a_mistyped_dir_is_an_error_for_every_command_but_create() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    for args in [
        &["topics", "list"][..],
        &["groups", "list"],
        &["log", "verify"],
    ] {
        let out = tributary(&missing, args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("is not a log directory"), "{args:?}: {err}");
    }
    assert!(!missing.exists(), "the mistyped directory was created");
    ok(&missing, &["topics", "create", "t"], None);
    assert_eq!(ok(&missing, &["topics", "list"], None), "t\n");
}

#[test]
fn produce_skips_and_counts_invalid_lines_with_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["topics", "create", "t"], None);
    let input = b"{\"a\":1}\n{oops\n\xff\xfe{}\n{\"a\":4}\n";
    let out = tributary_bytes(d, &["produce", "t", "--skip-invalid"], input);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("line 2: skipped: invalid JSON"), "{err}");
    assert!(
        err.contains("line 3: skipped: not UTF-8 (invalid byte at column 1)"),
        "{err}"
    );
    assert!(err.contains("2 invalid line(s) of 4 skipped"), "{err}");
    assert!(
        err.contains("produced 2 record(s) to t (acknowledged)"),
        "{err}"
    );
    let out = tributary_bytes(
        d,
        &["produce", "t", "--skip-invalid", "--allow-skipped"],
        input,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&ok(d, &["consume", "t"], None)).len(), 4);
    // Without --skip-invalid, a non-UTF-8 line stops it, with its number.
    let out = tributary_bytes(d, &["produce", "t"], b"{}\n\xff\n");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("line 2: not produced"), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    // --raw takes any bytes, and consume --values gives them back.
    ok(d, &["topics", "create", "raw"], None);
    let out = tributary_bytes(d, &["produce", "raw", "--raw"], b"\xff\x00\xfe\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tributary(d, &["consume", "raw", "--values"], None);
    assert_eq!(out.stdout, b"\xff\x00\xfe\n");
}

#[test]
fn consume_prints_stored_json_values_as_they_were_produced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["topics", "create", "t"], None);
    let value = r#"{"z":1,"a":100000000000000000000,"price":1.50,"nested":{"y":[1,2],"b":null}}"#;
    ok(d, &["produce", "t"], Some(&format!("{value}\n")));
    let out = ok(d, &["consume", "t"], None);
    assert!(out.contains(&format!("\"value\":{value}}}")), "{out}");
}

#[test]
fn a_record_over_the_batch_limit_is_too_large_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["topics", "create", "t"], None);
    let big = format!("\"{}\"\n", "x".repeat(65 << 20));
    let out = tributary(d, &["produce", "t"], Some(&big));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("record too large for t/0 (") && err.contains("bytes, limit 67108864)"),
        "{err}"
    );
    assert!(!err.contains("corrupt"), "{err}");
    assert!(!err.contains('\u{1b}'), "colour codes on a pipe: {err}");
}

#[test]
fn produce_interrupted_flushes_and_says_how_many_records_were_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["topics", "create", "t"], None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("--dir")
        .arg(d)
        .args(["produce", "t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    for i in 0..1_500 {
        writeln!(input, "{{\"n\":{i}}}").unwrap();
    }
    input.flush().unwrap();
    // The input stays open: the producer waits for more until the signal.
    std::thread::sleep(std::time::Duration::from_millis(1_000));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    drop(input);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted: produced 1500 record(s) to t (acknowledged)"),
        "{err}"
    );
    assert_eq!(lines(&ok(d, &["consume", "t"], None)).len(), 1_500);
}

#[test]
fn log_verify_reports_damage_and_quarantine_sets_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["topics", "create", "t", "--segment-bytes", "4096"],
        None,
    );
    // Two batches of 200 records: the damage will be in the second.
    for _ in 0..2 {
        let input: String = (0..200).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        ok(d, &["produce", "t"], Some(&input));
    }
    assert!(ok(d, &["log", "verify"], None).contains("1 partition(s) checked: no damage"));
    let seg = d.join("topics/t/0/00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x04;
    std::fs::write(&seg, bytes).unwrap();
    let out = tributary(d, &["log", "verify"], None);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("t/0: DAMAGED"), "{report}");
    assert!(report.contains("damaged: records "), "{report}");
    let out = ok(d, &["log", "quarantine", "t"], None);
    assert!(out.contains("1 damaged range(s) quarantined"), "{out}");
    assert!(ok(d, &["log", "verify"], None).contains("quarantined: records "));
    assert!(ok(d, &["topics", "describe", "t"], None).contains("quarantined: records "));
    assert_eq!(lines(&ok(d, &["consume", "t"], None)).len(), 200);
}

/// `tributary topology` draws what a stateful application wrote in its
/// state directory when it started: the same nodes and edges as
/// `describe()`, as text, Mermaid and DOT.
#[test]
fn topology_is_drawn_offline_from_what_the_application_wrote() {
    use std::sync::Arc;
    use tributary::codec::{Json, Utf8};
    use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    log.create_topic("clicks", &TopicConfig::new(2)).unwrap();
    log.create_topic("counts", &TopicConfig::new(2)).unwrap();
    let topology = || {
        let mut b = tributary::Topology::builder("clicks-app");
        b.stream::<String, String>("clicks", Utf8, Utf8)
            .filter(|_, page| !page.is_empty())
            .group_by("by-page", |_, page| page.clone())
            .count("per-page")
            .to("counts", Utf8, Json);
        b.build().unwrap()
    };
    let state_dir = dir.path().join("state");
    let config = tributary::Config {
        state_dir: state_dir.clone(),
        ..tributary::Config::default()
    };
    drop(tributary::App::new(topology(), log as Arc<dyn Log>, config).unwrap());
    let description = topology().describe();
    let args = |format: &'static str| {
        vec![
            "topology",
            "--state-dir",
            state_dir.to_str().unwrap(),
            "--app",
            "clicks-app",
            "--format",
            format,
        ]
    };
    let text = run_ok(&[], &args("text"), "");
    assert_eq!(text, description.to_string());
    let mermaid = run_ok(&[], &args("mermaid"), "");
    assert_eq!(mermaid, description.to_mermaid());
    assert!(mermaid.starts_with("flowchart TD\n"));
    let edges: usize = description.nodes.iter().map(|n| n.children.len()).sum();
    assert_eq!(mermaid.matches(" --> ").count(), edges);
    for n in &description.nodes {
        assert!(
            mermaid.contains(&format!("[\"{}<br/>{}\"]", n.name, n.kind)),
            "{}",
            n.name
        );
    }
    assert!(mermaid.contains("[(\"per-page\")]"), "the store is drawn");
    let dot = run_ok(&[], &args("dot"), "");
    assert_eq!(dot, description.to_dot());
    for n in &description.nodes {
        assert!(
            dot.contains(&format!("\"{}\" [label=", n.name)),
            "{}",
            n.name
        );
    }
    // No description there: a clear error.
    let out = run(
        &[],
        &["topology", "--state-dir", "/nonexistent", "--app", "x"],
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GET /topology"));
}
