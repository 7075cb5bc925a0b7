//! Damage is not a torn write. A complete batch whose checksum fails, or
//! acknowledged records cut off the end of a segment, are kept and
//! reported (file, byte position, offsets), never truncated away, and their
//! offsets are never given to new records; a real torn tail (a write that
//! was never acknowledged) is truncated. A group whose position is past a
//! partition's end is told, not left skipping records. A topic create that
//! runs out of space leaves nothing behind; the writer's lock cannot be
//! bypassed by deleting a file.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{
    EmbeddedError, EmbeddedLog, EmbeddedTopicSettings, FsyncPolicy, TopicConfig, TopicPartition,
    prelude::*,
};
use tributary::{App, Config, Error, Topology};

const BATCHES: u64 = 50;
const PER_BATCH: u64 = 200;

fn records(batch: u64) -> Vec<common::Rec> {
    (0..PER_BATCH)
        .map(|i| {
            let n = batch * PER_BATCH + i;
            (
                n as i64,
                Some(format!("k{n}").into_bytes()),
                Some(format!("v{n}").into_bytes()),
            )
        })
        .collect()
}

/// 10,000 records in 50 synced batches of 200, in one segment.
fn write_synced(dir: &Path) -> PathBuf {
    let log = EmbeddedLog::open(dir).unwrap();
    log.create_topic("t", &TopicConfig::new(1)).unwrap();
    for b in 0..BATCHES {
        common::append(&log, "t", 0, &records(b));
        log.flush("t", 0).unwrap();
    }
    dir.join("topics/t/0/00000000000000000000.log")
}

/// Reads from `from` until the end or an error: the records served, and
/// the error.
fn read_until_error(log: &dyn Log, from: u64) -> (Vec<u64>, Option<Error>) {
    let mut served = Vec::new();
    let mut pos = from;
    let (_, end) = log.offsets("t", 0).unwrap();
    while pos < end {
        let mut out = Vec::new();
        if let Err(e) = log.fetch("t", 0, pos, 4096, &mut out) {
            return (served, Some(e));
        }
        assert!(!out.is_empty(), "nothing served at {pos} (end {end})");
        served.extend(out.iter().map(|r| r.offset));
        pos = out.last().unwrap().offset + 1;
    }
    (served, None)
}

fn append_new(log: &dyn Log, n: usize) -> u64 {
    let recs: Vec<common::Rec> = (0..n)
        .map(|i| (0, None, Some(format!("new{i}").into_bytes())))
        .collect();
    let base = common::append(log, "t", 0, &recs);
    log.flush("t", 0).unwrap();
    base
}

fn assert_damage_error(e: Option<Error>, file: &Path, range: &str) {
    match e {
        Some(Error::Embedded(EmbeddedError::Corrupt {
            file: f, reason, ..
        })) => {
            assert_eq!(f, file);
            assert!(reason.contains(range), "{reason}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_the_last_batch_is_corruption_not_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_synced(dir.path());
    let len = std::fs::metadata(&seg).unwrap().len();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[len as usize - 10] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();

    let log = EmbeddedLog::open(dir.path()).unwrap();
    assert_eq!(log.offsets("t", 0).unwrap(), (0, BATCHES * PER_BATCH));
    let (served, err) = read_until_error(&log, 0);
    assert_eq!(served, (0..9_800).collect::<Vec<_>>());
    assert_damage_error(err, &seg, "records 9800..10000 cannot be served");

    // A writer keeps the damaged bytes and gives new records new offsets.
    assert_eq!(append_new(&log, 5), 10_000);
    assert_eq!(&std::fs::read(&seg).unwrap()[..len as usize], &bytes[..]);
    drop(log);
    let log = EmbeddedLog::open(dir.path()).unwrap();
    assert_eq!(log.offsets("t", 0).unwrap(), (0, 10_005));
    let (_, err) = read_until_error(&log, 9_800);
    assert_damage_error(err, &seg, "records 9800..10000");
    let (after, err) = read_until_error(&log, 10_000);
    assert!(err.is_none());
    assert_eq!(after, (10_000..10_005).collect::<Vec<_>>());
}

#[test]
fn acknowledged_records_cut_off_the_active_segment_are_reported_and_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_synced(dir.path());
    let len = std::fs::metadata(&seg).unwrap().len();
    // Cut in the middle of the last batch, which was synced: not a torn write.
    let cut = len - 300;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    let reader = EmbeddedLog::open(dir.path()).unwrap();
    assert_eq!(log.offsets("t", 0).unwrap(), (0, 10_000));
    let (served, err) = read_until_error(&log, 0);
    assert_eq!(served.len(), 9_800);
    assert_damage_error(err, &seg, "records 9800..10000 cannot be served");
    assert_eq!(append_new(&log, 3), 10_000);
    // A reader in another process sees the writer continue after the damage.
    let (after, err) = read_until_error(&reader, 10_000);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(after, vec![10_000, 10_001, 10_002]);
    let (_, err) = read_until_error(&reader, 9_800);
    assert_damage_error(err, &seg, "records 9800..10000");
    // The cut batch's bytes are still there.
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), cut);
}

#[test]
fn a_torn_write_that_was_never_acknowledged_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_synced(dir.path());
    let synced_len = std::fs::metadata(&seg).unwrap().len();
    {
        // One more batch, appended but never synced (not acknowledged)...
        let log = EmbeddedLog::open_with(dir.path(), FsyncPolicy::Never).unwrap();
        common::append(&log, "t", 0, &records(BATCHES));
    }
    // ...and cut short, as a crash in the middle of its write leaves it.
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len((synced_len + len) / 2)
        .unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    let (served, err) = read_until_error(&log, 0);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(served, (0..10_000).collect::<Vec<_>>());
    // The writer truncates it and continues densely: every acknowledged
    // record kept, at its offset.
    assert_eq!(append_new(&log, 2), 10_000);
    let all = common::read_all(&log, "t", 0);
    assert_eq!(all.len(), 10_002);
    assert_eq!(all[10_000].value.as_deref(), Some(&b"new0"[..]));
    assert_eq!(all[9_999].value.as_deref(), Some(&b"v9999"[..]));
}

#[test]
fn a_group_position_past_the_end_of_a_partition_stops_the_application() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    log.create_topic("in", &TopicConfig::new(1)).unwrap();
    log.create_topic("out", &TopicConfig::new(1)).unwrap();
    let mut b = Batch::new();
    b.push(0, Some(b"k"), Some(b"\"v\""), &[]);
    log.append("in", 0, &b).unwrap();
    // The group was at 5, but the partition holds one record.
    log.commit_offsets("copy", &[(TopicPartition::new("in", 0), 5)])
        .unwrap();
    let mut t = Topology::builder("copy");
    t.stream::<String, String>("in", Utf8, Json)
        .to("out", Utf8, Json);
    let config = Config {
        state_dir: dir.path().join("state"),
        ..Config::default()
    };
    let err = App::new(t.build().unwrap(), log as Arc<dyn Log>, config)
        .unwrap()
        .run_to_end()
        .unwrap_err();
    assert!(
        matches!(err, Error::PositionPastEnd { position: 5, end: 1, ref group, .. } if group == "copy"),
        "{err}"
    );
}

#[test]
fn the_writer_lock_cannot_be_bypassed_by_deleting_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = EmbeddedLog::open(dir.path()).unwrap();
    a.create_topic("t", &TopicConfig::new(1)).unwrap();
    append_new(&a, 1_000);
    let pdir = dir.path().join("topics/t/0");
    for entry in std::fs::read_dir(&pdir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let b = EmbeddedLog::open(dir.path()).unwrap();
    let mut bb = Batch::new();
    bb.push(0, None, Some(b"x"), &[]);
    assert!(matches!(
        b.append("t", 0, &bb),
        Err(Error::Embedded(EmbeddedError::Locked { .. }))
    ));
    assert_eq!(append_new(&a, 1), 1_000);
    assert_eq!(common::read_all(&b, "t", 0).len(), 1_001);
}

/// A small tmpfs as the data directory, mounted for the test and removed
/// after it (the test runs as root, as CI does).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, inodes: u32) -> SmallDisk {
        let path = dir.join("disk");
        std::fs::create_dir(&path).unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size=1m,nr_inodes={inodes}"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        SmallDisk(path)
    }

    fn grow(&self, inodes: u32) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size=1m,nr_inodes={inodes}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_create_on_a_full_disk_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(dir.path(), 30);
    let log = EmbeddedLog::open(&disk.0).unwrap();
    let err = log.create_topic("big", &TopicConfig::new(64)).unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(log.list_topics().unwrap(), Vec::<String>::new());
    assert!(matches!(log.offsets("big", 0), Err(Error::UnknownTopic(_))));
    assert!(!disk.0.join("topics/big").exists());
    // Once there is room, the same create works, and so does the topic.
    disk.grow(1_000);
    log.create_topic("big", &TopicConfig::new(64)).unwrap();
    assert_eq!(log.list_topics().unwrap(), vec!["big".to_string()]);
    let mut b = Batch::new();
    b.push(0, None, Some(b"x"), &[]);
    assert_eq!(log.append("big", 63, &b).unwrap(), 0);
    drop(log);
    let log = EmbeddedLog::open(&disk.0).unwrap();
    log.delete_topic("big").unwrap();
    assert_eq!(log.list_topics().unwrap(), Vec::<String>::new());
}

/// A batch that fails its checksum in the middle of an input partition
/// (a sealed segment) stops the application at the same place on every
/// start. `verify` reports it; once it is quarantined, the application
/// processes every healthy record, before and after it.
#[test]
fn a_poison_batch_stops_the_application_until_it_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    log.create_topic_with(
        "in",
        &TopicConfig::new(1),
        &EmbeddedTopicSettings::default().segment_bytes(16 << 10),
    )
    .unwrap();
    log.create_topic("out", &TopicConfig::new(1)).unwrap();
    for b in 0..30u64 {
        let mut batch = Batch::new();
        for i in 0..100u64 {
            let n = b * 100 + i;
            batch.push(n as i64, Some(b"k"), Some(format!("{n}").as_bytes()), &[]);
        }
        log.append("in", 0, &batch).unwrap();
    }
    log.flush("in", 0).unwrap();
    drop(log);
    let pdir = dir.path().join("log/topics/in/0");
    let first = pdir.join("00000000000000000000.log");
    assert!(pdir.join("00000000000000000000.log").exists());
    let mut bytes = std::fs::read(&first).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&first, &bytes).unwrap();

    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    let checks = log.verify().unwrap();
    let check = checks.iter().find(|c| c.topic == "in").unwrap();
    assert_eq!(check.damage.len(), 1, "{check:?}");
    let damaged = check.damage[0].clone();
    assert_eq!(damaged.file, first);
    assert!(damaged.from > 0 && damaged.to > damaged.from);

    let copy = || {
        let mut t = Topology::builder("copy");
        t.stream::<String, u64>("in", Utf8, Json)
            .to("out", Utf8, Json);
        let config = Config {
            state_dir: dir.path().join("state"),
            ..Config::default()
        };
        App::new(t.build().unwrap(), Arc::clone(&log) as Arc<dyn Log>, config)
            .unwrap()
            .run_to_end()
    };
    for _ in 0..2 {
        let err = copy().unwrap_err().to_string();
        let range = format!("records {}..{}", damaged.from, damaged.to);
        assert!(err.contains(&range), "{err}");
    }

    // Each failed run committed what it processed before the damage: the
    // next one re-emitted nothing.
    let out = common::read_all(log.as_ref(), "out", 0);
    assert_eq!(out.len() as u64, damaged.from);

    let quarantined = log.quarantine("in", 0).unwrap();
    assert_eq!(quarantined.len(), 1);
    let q = &quarantined[0];
    assert_eq!((q.from, q.to), (damaged.from, damaged.to));
    let kept = std::fs::read(q.copy.as_ref().unwrap()).unwrap();
    let batch_at = damaged.position as usize;
    assert_eq!(&kept[..], &bytes[batch_at..batch_at + kept.len()]);
    assert_eq!(log.quarantine("in", 0).unwrap(), Vec::new());
    let check = log
        .verify()
        .unwrap()
        .into_iter()
        .find(|c| c.topic == "in")
        .unwrap();
    assert!(check.damage.is_empty());
    assert_eq!(check.quarantined, quarantined);

    copy().unwrap();
    let out: Vec<u64> = common::read_all(log.as_ref(), "out", 0)
        .iter()
        .map(|r| serde_json::from_slice(r.value.as_deref().unwrap()).unwrap())
        .collect();
    let expected: Vec<u64> = (0..3_000)
        .filter(|n| !(damaged.from..damaged.to).contains(n))
        .collect();
    assert_eq!(out, expected);

    // While an application reads the partition, its metrics count the
    // records set aside.
    let mut t = Topology::builder("copy");
    t.stream::<String, u64>("in", Utf8, Json)
        .to("out", Utf8, Json);
    let config = Config {
        application_id: Some("copy-watched".into()),
        state_dir: dir.path().join("state"),
        http: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    };
    let running = App::new(t.build().unwrap(), Arc::clone(&log) as Arc<dyn Log>, config)
        .unwrap()
        .start()
        .unwrap();
    running
        .wait_until_caught_up(std::time::Duration::from_secs(60))
        .unwrap();
    let url = format!("http://{}/metrics", running.http_addr().unwrap());
    let text = ureq::get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let sample = text
        .lines()
        .find(|l| {
            l.starts_with("tributary_log_quarantined_records{")
                && l.contains(r#"topic="in""#)
                && l.contains(r#"partition="0""#)
        })
        .unwrap_or_else(|| panic!("no quarantine metric in:\n{text}"));
    assert!(
        sample.ends_with(&format!(" {}", q.to - q.from)),
        "{sample}: expected {} records",
        q.to - q.from
    );
    running.shutdown().unwrap();
}
