//! Crash and corruption: torn tails are truncated, damage elsewhere is an
//! error, and nothing invalid is ever served.

mod common;

use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use tributary::Error;
use tributary::log::{
    EmbeddedError, EmbeddedLog, EmbeddedTopicSettings, FsyncPolicy, TopicConfig, prelude::*,
};

fn batch(n: usize, seed: u64) -> Vec<common::Rec> {
    (0..n)
        .map(|i| {
            let v = format!(
                "value-{seed}-{i}-{}",
                "x".repeat((seed as usize * 7 + i) % 90)
            );
            (
                seed as i64 * 10 + i as i64,
                Some(format!("k{i}").into_bytes()),
                Some(v.into_bytes()),
            )
        })
        .collect()
}

/// Cuts the active segment at random byte positions, many times: after
/// reopening, exactly the batches that were wholly written before the cut
/// are served, and appends continue at the next offset.
#[test]
fn truncated_segments_keep_every_complete_batch() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let pdir = dir.path().join("topics/t/0");
        let mut written = Vec::new();
        // (segment file, file length after the batch, end offset after the batch)
        let mut marks: Vec<(PathBuf, u64, u64)> = Vec::new();
        {
            let log = EmbeddedLog::open_with(dir.path(), FsyncPolicy::Never).unwrap();
            log.create_topic_with(
                "t",
                &TopicConfig::new(1),
                &EmbeddedTopicSettings::default().segment_bytes(2048),
            )
            .unwrap();
            for b in 0..rng.random_range(1..30) {
                let recs = batch(rng.random_range(1..12), b);
                common::append(&log, "t", 0, &recs);
                written.extend(recs);
                let last = common::segments(&pdir).pop().unwrap();
                let len = std::fs::metadata(&last).unwrap().len();
                marks.push((last, len, written.len() as u64));
            }
        }
        let last = common::segments(&pdir).pop().unwrap();
        let len = std::fs::metadata(&last).unwrap().len();
        let cut = rng.random_range(0..=len);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let base: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let expected_end = marks
            .iter()
            .filter(|(f, l, _)| *f == last && *l <= cut)
            .map(|m| m.2)
            .max()
            .unwrap_or(base);

        let log = EmbeddedLog::open(dir.path()).unwrap();
        let served = common::read_all(&log, "t", 0);
        assert_eq!(
            served.len() as u64,
            expected_end,
            "round {round}: cut {cut} of {len}"
        );
        for (r, w) in served.iter().zip(&written) {
            assert_eq!(
                (r.timestamp, r.value.as_deref()),
                (w.0, w.2.as_deref()),
                "round {round}"
            );
        }
        // The writer truncates the torn tail and continues densely.
        let next = common::append(&log, "t", 0, &batch(3, 99));
        assert_eq!(next, expected_end, "round {round}");
        assert_eq!(
            common::read_all(&log, "t", 0).len() as u64,
            expected_end + 3
        );
        drop(log);
        let reopened = EmbeddedLog::open(dir.path()).unwrap();
        assert_eq!(reopened.offsets("t", 0).unwrap(), (0, expected_end + 3));
    }
}

fn write_segments(dir: &Path) -> Vec<PathBuf> {
    let log = EmbeddedLog::open(dir).unwrap();
    log.create_topic_with(
        "t",
        &TopicConfig::new(1),
        &EmbeddedTopicSettings::default().segment_bytes(4096),
    )
    .unwrap();
    for b in 0..40 {
        common::append(&log, "t", 0, &batch(10, b));
    }
    common::segments(&dir.join("topics/t/0"))
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// A flipped byte in a sealed segment is reported when read, with the file
/// and position; the rest of the log stays readable.
#[test]
fn corruption_in_sealed_segment_is_an_error_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_segments(dir.path());
    assert!(
        segs.len() > 2,
        "expected several segments, got {}",
        segs.len()
    );
    let len = std::fs::metadata(&segs[0]).unwrap().len();
    flip(&segs[0], len / 2 + 40);
    let log = EmbeddedLog::open(dir.path()).unwrap();
    let mut out = Vec::new();
    let err = (|| {
        let mut pos = 0;
        loop {
            out.clear();
            log.fetch("t", 0, pos, 1024, &mut out)?;
            if out.is_empty() {
                return Ok(());
            }
            pos = out.last().unwrap().offset + 1;
        }
    })();
    match err {
        Err(Error::Embedded(EmbeddedError::Corrupt { file, .. })) => assert_eq!(file, segs[0]),
        other => panic!("expected a corruption error, got {other:?}"),
    }
    // Later segments are still served.
    let second_base: u64 = segs[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut later = Vec::new();
    log.fetch("t", 0, second_base, 1 << 20, &mut later).unwrap();
    assert!(!later.is_empty());
}

/// Damage in the middle of the active segment (a batch failing its
/// checksum, followed by good ones) is not a torn tail: the batch is kept
/// and reading it is an error naming the file and its offsets, while the
/// batches before and after it are served and appends continue after them.
#[test]
fn corruption_in_middle_of_active_segment_is_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_segments(dir.path());
    let last = segs.last().unwrap();
    let base: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    assert!(len > 600);
    flip(last, 100);
    let log = EmbeddedLog::open(dir.path()).unwrap();
    assert_eq!(log.offsets("t", 0).unwrap(), (0, 400));
    let mut out = Vec::new();
    match log.fetch("t", 0, base, 1 << 20, &mut out) {
        Err(e @ Error::Embedded(EmbeddedError::Corrupt { .. })) => {
            let msg = e.to_string();
            assert!(msg.contains(last.to_str().unwrap()), "{msg}");
            assert!(
                msg.contains(&format!("records {base}..{}", base + 10)),
                "{msg}"
            );
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    out.clear();
    log.fetch("t", 0, base + 10, 1 << 20, &mut out).unwrap();
    assert_eq!(out.first().map(|r| r.offset), Some(base + 10));
    assert_eq!(common::append(&log, "t", 0, &batch(1, 0)), 400);
}

/// Only one process (or handle) may write a partition.
#[test]
fn second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = EmbeddedLog::open(dir.path()).unwrap();
    a.create_topic("t", &TopicConfig::new(1)).unwrap();
    common::append(&a, "t", 0, &batch(1, 0));
    let b = EmbeddedLog::open(dir.path()).unwrap();
    let mut bb = tributary::Batch::new();
    bb.push(0, None, Some(b"x"), &[]);
    assert!(matches!(
        b.append("t", 0, &bb),
        Err(Error::Embedded(EmbeddedError::Locked { .. }))
    ));
    // ...but it can read, and sees new appends by the writer.
    assert_eq!(common::read_all(&b, "t", 0).len(), 1);
    common::append(&a, "t", 0, &batch(2, 1));
    assert_eq!(common::read_all(&b, "t", 0).len(), 3);
    drop(a);
    assert_eq!(b.append("t", 0, &bb).unwrap(), 3);
}

/// Retention deletes whole sealed segments by size and by age, never the
/// active one; reading below the new start is an out-of-range error.
#[test]
fn retention_by_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    log.create_topic_with(
        "sized",
        &TopicConfig::new(1).retention_bytes(6000),
        &EmbeddedTopicSettings::default().segment_bytes(2048),
    )
    .unwrap();
    for b in 0..60 {
        common::append(&log, "sized", 0, &batch(5, b));
    }
    log.enforce_retention().unwrap();
    let size = log.partition_size("sized", 0).unwrap();
    assert!(size < 6000 + 2048, "size {size}");
    let (start, end) = log.offsets("sized", 0).unwrap();
    assert!(start > 0 && end == 300);
    let mut out = Vec::new();
    assert!(matches!(
        log.fetch("sized", 0, 0, 1024, &mut out),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        common::read_all(&log, "sized", 0).first().unwrap().offset,
        start
    );

    log.create_topic_with(
        "aged",
        &TopicConfig::new(1).retention(std::time::Duration::from_secs(3600)),
        &EmbeddedTopicSettings::default().segment_bytes(1024),
    )
    .unwrap();
    let now = tributary::now_millis();
    for b in 0..20u64 {
        // Old records first, then recent ones.
        let ts = if b < 10 { now - 10 * 3_600_000 } else { now };
        let recs: Vec<_> = batch(4, b)
            .into_iter()
            .map(|(_, k, v)| (ts, k, v))
            .collect();
        common::append(&log, "aged", 0, &recs);
    }
    log.enforce_retention().unwrap();
    let kept = common::read_all(&log, "aged", 0);
    assert!(
        kept.iter().filter(|r| r.timestamp != now).count() < 40,
        "some old records should be gone"
    );
    assert!(
        kept.first().unwrap().offset > 0,
        "old segments should be gone"
    );
    assert!(
        kept.iter().filter(|r| r.timestamp == now).count() == 40,
        "recent records are all kept"
    );
}

/// Unknown topics and partitions are clear errors.
#[test]
fn unknown_topic_and_partition() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    assert!(matches!(log.offsets("nope", 0), Err(Error::UnknownTopic(t)) if t == "nope"));
    log.create_topic("t", &TopicConfig::new(2)).unwrap();
    let e = log.offsets("t", 5).unwrap_err();
    assert_eq!(e.to_string(), "topic 't' has no partition 5 (it has 2)");
    assert!(matches!(
        log.create_topic("t", &TopicConfig::new(2)),
        Err(Error::TopicExists(_))
    ));
    assert!(matches!(
        log.create_topic("bad/name", &TopicConfig::new(2)),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        log.create_topic("zero", &TopicConfig::new(0)),
        Err(Error::InvalidConfig(_))
    ));
}
