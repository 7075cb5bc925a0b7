//! Compacted topics keep the latest record of every key (tombstones
//! included), keep offsets, and read back the same after reopening.

mod common;

use std::collections::BTreeMap;
use tributary::log::{EmbeddedLog, EmbeddedTopicSettings, TopicConfig, prelude::*};

/// Latest (offset, value) per key; `None` keys are the markers.
type Latest = BTreeMap<Option<Vec<u8>>, (u64, Option<Vec<u8>>)>;

#[test]
fn compaction_keeps_the_latest_record_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    log.create_topic_with(
        "c",
        &TopicConfig::new(1).compacted(),
        &EmbeddedTopicSettings::default().segment_bytes(2048),
    )
    .unwrap();
    // The model: latest (offset, value) per key; None keys are markers.
    let mut latest = Latest::new();
    let mut offset = 0u64;
    for round in 0..60u64 {
        let mut recs = Vec::new();
        for i in 0..8u64 {
            let key = Some(format!("k{}", (round * 3 + i) % 17).into_bytes());
            let value = if (round + i) % 11 == 0 {
                None
            } else {
                Some(format!("v{round}-{i}").into_bytes())
            };
            recs.push((round as i64, key, value));
        }
        recs.push((
            round as i64,
            None,
            Some(format!("marker-{round}").into_bytes()),
        ));
        let base = common::append(&log, "c", 0, &recs);
        assert_eq!(base, offset);
        for (_, k, v) in recs {
            latest.insert(k, (offset, v));
            offset += 1;
        }
    }
    log.compact("c").unwrap();
    let check = |log: &EmbeddedLog| {
        let all = common::read_all(log, "c", 0);
        assert!(
            all.windows(2).all(|w| w[0].offset < w[1].offset),
            "offsets increase"
        );
        // Records are either the latest of their key, or in the active segment.
        let mut seen = Latest::new();
        for r in &all {
            seen.insert(
                r.key.as_ref().map(|k| k.to_vec()),
                (r.offset, r.value.as_ref().map(|v| v.to_vec())),
            );
        }
        assert_eq!(
            seen, latest,
            "replaying the compacted topic gives the latest value of every key"
        );
        assert!(
            all.len() < offset as usize / 3,
            "compaction dropped superseded records: {} of {offset} left",
            all.len()
        );
        assert_eq!(
            log.offsets("c", 0).unwrap().1,
            offset,
            "the end offset is unchanged"
        );
    };
    check(&log);
    drop(log);
    let reopened = EmbeddedLog::open(dir.path()).unwrap();
    check(&reopened);
    // Appends continue at the same offsets.
    assert_eq!(
        common::append(
            &reopened,
            "c",
            0,
            &[(0, Some(b"k1".to_vec()), Some(b"x".to_vec()))]
        ),
        offset
    );
}

#[test]
fn compacting_a_delete_topic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    log.create_topic("d", &TopicConfig::new(1)).unwrap();
    assert!(
        log.compact("d")
            .unwrap_err()
            .to_string()
            .contains("not compacted")
    );
}
