//! The settings loader: each precedence rule (defaults < TOML file <
//! environment < flags) and each kind of error, which must name the key
//! and where its value came from.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tributary::runtime::{OffsetReset, OnDecodeError, ReplayFrom, Until};
use tributary::settings::{LogFormat, Settings};

fn file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("app.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load(args: &[&str], env: &[(&str, &str)]) -> tributary::Result<Settings> {
    let args = std::iter::once("app").chain(args.iter().copied());
    Settings::from_sources(args, env.iter().copied())
}

fn error(args: &[&str], env: &[(&str, &str)]) -> String {
    match load(args, env) {
        Ok(s) => panic!("expected an error, loaded {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn nothing_given_is_the_defaults() {
    let s = load(&[], &[]).unwrap();
    let d = tributary::Config::default();
    assert_eq!(s.config.threads, d.threads);
    assert_eq!(s.config.commit_interval, d.commit_interval);
    assert_eq!(s.config.http, None);
    assert_eq!(s.data_dir, PathBuf::from("tributary-data"));
    assert_eq!(s.config.state_dir, PathBuf::from("tributary-data/state"));
    assert_eq!(s.log_dir(), PathBuf::from("tributary-data/log"));
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(s.brokers, None);
}

#[test]
fn the_file_overrides_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(
        dir.path(),
        r#"
        application_id = "recs"
        threads = 3
        commit_interval = "250ms"
        on_decode_error = "fail"
        offset_reset = "latest"
        state_memory = "64MiB"
        fetch_max_bytes = 65536
        replay_from = "earliest"
        until = "end"
        http = "127.0.0.1:9000"
        log_format = "json"
        brokers = "localhost:9092"
        "#,
    );
    let s = load(&["--config", f.to_str().unwrap()], &[]).unwrap();
    let c = &s.config;
    assert_eq!(c.application_id.as_deref(), Some("recs"));
    assert_eq!(c.threads, 3);
    assert_eq!(c.commit_interval, Duration::from_millis(250));
    assert_eq!(c.on_decode_error, OnDecodeError::Fail);
    assert_eq!(c.offset_reset, OffsetReset::Latest);
    assert_eq!(c.state_memory, 64 << 20);
    assert_eq!(c.fetch_max_bytes, 65536);
    assert_eq!(c.replay_from, Some(ReplayFrom::Earliest));
    assert_eq!(c.until, Until::End);
    assert_eq!(c.http, Some("127.0.0.1:9000".parse().unwrap()));
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.brokers.as_deref(), Some("localhost:9092"));
}

#[test]
fn the_environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), "threads = 3\nidle_timeout = \"2s\"\n");
    let s = load(
        &["--config", f.to_str().unwrap()],
        &[("TRIBUTARY_THREADS", "5"), ("UNRELATED", "x")],
    )
    .unwrap();
    assert_eq!(s.config.threads, 5);
    assert_eq!(
        s.config.idle_timeout,
        Duration::from_secs(2),
        "the file's other keys stay"
    );
}

#[test]
fn flags_override_the_environment() {
    let s = load(
        &["--threads", "7", "--set", "commit_interval=3s"],
        &[
            ("TRIBUTARY_THREADS", "5"),
            ("TRIBUTARY_COMMIT_INTERVAL", "1s"),
            ("TRIBUTARY_MAX_POLL_RECORDS", "100"),
        ],
    )
    .unwrap();
    assert_eq!(s.config.threads, 7);
    assert_eq!(s.config.commit_interval, Duration::from_secs(3));
    assert_eq!(
        s.config.max_poll_records, 100,
        "the environment's other keys stay"
    );
}

#[test]
fn the_config_flag_overrides_the_config_variable() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "threads = 2\n").unwrap();
    std::fs::write(&b, "threads = 4\n").unwrap();
    let by_env = load(&[], &[("TRIBUTARY_CONFIG", a.to_str().unwrap())]).unwrap();
    assert_eq!(by_env.config.threads, 2);
    let by_flag = load(
        &["--config", b.to_str().unwrap()],
        &[("TRIBUTARY_CONFIG", a.to_str().unwrap())],
    )
    .unwrap();
    assert_eq!(by_flag.config.threads, 4);
}

#[test]
fn data_dir_places_the_state_unless_state_dir_is_given() {
    let s = load(&["--data-dir", "/srv/recs"], &[]).unwrap();
    assert_eq!(s.log_dir(), PathBuf::from("/srv/recs/log"));
    assert_eq!(s.config.state_dir, PathBuf::from("/srv/recs/state"));
    let s = load(
        &["--data-dir", "/srv/recs"],
        &[("TRIBUTARY_STATE_DIR", "/fast/state")],
    )
    .unwrap();
    assert_eq!(s.config.state_dir, PathBuf::from("/fast/state"));
}

#[test]
fn variables_of_the_cli_and_scripts_are_not_settings() {
    let s = load(
        &[],
        &[
            ("TRIBUTARY_LOG", "debug"),
            ("TRIBUTARY_DIR", "/tmp/x"),
            ("TRIBUTARY_BROKER_HOME", "/var/tmp/b"),
        ],
    );
    assert!(s.is_ok(), "{s:?}");
}

#[test]
fn an_unknown_key_is_named_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), "thread = 4\n");
    let e = error(&["--config", f.to_str().unwrap()], &[]);
    assert!(e.contains("unknown setting 'thread'"), "{e}");
    assert!(e.contains(&format!("in {}", f.display())), "{e}");
    assert!(e.contains("threads"), "the known keys are listed: {e}");

    let e = error(&[], &[("TRIBUTARY_THREDS", "4")]);
    assert!(
        e.contains("unknown setting 'threds' (environment variable TRIBUTARY_THREDS)"),
        "{e}"
    );

    let e = error(&["--set", "comit_interval=1s"], &[]);
    assert!(
        e.contains("unknown setting 'comit_interval' (--set comit_interval)"),
        "{e}"
    );

    let e = error(&["--treads", "4"], &[]);
    assert!(e.contains("--treads"), "{e}");
}

#[test]
fn a_wrong_type_is_named_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), "threads = \"many\"\n");
    let e = error(&["--config", f.to_str().unwrap()], &[]);
    assert!(e.contains("threads: invalid type"), "{e}");
    assert!(e.contains(&format!("in {}", f.display())), "{e}");

    let e = error(&[], &[("TRIBUTARY_THREADS", "many")]);
    assert!(e.contains("threads: invalid type"), "{e}");
    assert!(e.contains("environment variable TRIBUTARY_THREADS"), "{e}");

    let e = error(&["--threads=-1"], &[]);
    assert!(e.contains("threads: invalid"), "{e}");
    assert!(e.contains("(--threads)"), "{e}");
}

/// Flags, environment, and what the error must say.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn a_bad_value_is_named_with_its_origin() {
    let cases: &[Case] = &[
        (
            &["--threads", "0"],
            &[],
            "threads: must be at least 1 (--threads)",
        ),
        (
            &[],
            &[("TRIBUTARY_COMMIT_INTERVAL", "soon")],
            "commit_interval: 'soon' is not a duration",
        ),
        (
            &[],
            &[("TRIBUTARY_COMMIT_INTERVAL", "5")],
            "commit_interval: expected a duration with its unit",
        ),
        (
            &["--set", "state_memory=lots"],
            &[],
            "state_memory: 'lots' is not a size",
        ),
        (
            &["--set", "state_memory=1MiB"],
            &[],
            "state_memory: must be at least 8 MiB (--set state_memory)",
        ),
        (
            &[],
            &[("TRIBUTARY_ON_DECODE_ERROR", "ignore")],
            "on_decode_error: unknown variant: found `ignore`, expected ``dead-letter` or `fail``",
        ),
        (
            &["--replay-from", "yesterday"],
            &[],
            "replay_from: replay from 'yesterday'",
        ),
        (
            &["--until", "tomorrow"],
            &[],
            "until: until: 'tomorrow' is neither",
        ),
        (&["--http", "localhost"], &[], "http: "),
        (
            &["--log-format", "xml"],
            &[],
            "log_format: unknown variant: found `xml`",
        ),
        (
            &["--set", "threads"],
            &[],
            "--set 'threads': expected KEY=VALUE",
        ),
    ];
    for (args, env, expected) in cases {
        let e = error(args, env);
        assert!(
            e.contains(expected),
            "{args:?} {env:?}: expected '{expected}' in: {e}"
        );
    }
    let e = error(&["--http", "localhost"], &[]);
    assert!(e.contains("(--http)"), "{e}");
}

#[test]
fn several_problems_are_reported_together() {
    let e = error(
        &[],
        &[
            ("TRIBUTARY_THREADS", "0"),
            ("TRIBUTARY_MAX_POLL_RECORDS", "0"),
        ],
    );
    assert!(
        e.contains("threads: must be at least 1 (environment variable TRIBUTARY_THREADS)"),
        "{e}"
    );
    assert!(
        e.contains(
            "max_poll_records: must be at least 1 (environment variable TRIBUTARY_MAX_POLL_RECORDS)"
        ),
        "{e}"
    );
}

#[test]
fn a_missing_or_malformed_file_is_an_error_naming_it() {
    let e = error(&["--config", "/nonexistent/app.toml"], &[]);
    assert!(
        e.contains("reading the settings file /nonexistent/app.toml"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = file(dir.path(), "threads = = 4\n");
    let e = error(&["--config", f.to_str().unwrap()], &[]);
    assert!(e.contains(&f.display().to_string()), "{e}");
}
