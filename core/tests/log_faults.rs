//! Fault injection: random appends (some synced, so acknowledged), random
//! damage to the segment files (a flipped byte, a truncation, a zeroed
//! page, a deleted segment), reopen. Every record ever acknowledged and not
//! in a reported damaged range is served at its original offset with its
//! original bytes; nothing that was not written there is served; every
//! acknowledged record that is not served is in a reported range; and the
//! next append gets an offset no acknowledged record had.

mod common;

use proptest::prelude::*;
use std::path::Path;
use tributary::log::{EmbeddedLog, EmbeddedTopicSettings, FsyncPolicy, TopicConfig, prelude::*};

#[derive(Debug, Clone)]
enum Fault {
    Flip { at: f64, bit: u8 },
    Truncate { at: f64 },
    ZeroPage { at: f64 },
    Delete,
}

fn fault() -> impl Strategy<Value = (prop::sample::Index, Fault)> {
    let kind = prop_oneof![
        (0.0..1.0f64, 0u8..8).prop_map(|(at, bit)| Fault::Flip { at, bit }),
        (0.0..1.0f64).prop_map(|at| Fault::Truncate { at }),
        (0.0..1.0f64).prop_map(|at| Fault::ZeroPage { at }),
        Just(Fault::Delete),
    ];
    (any::<prop::sample::Index>(), kind)
}

fn inject(file: &Path, fault: &Fault) {
    let mut bytes = std::fs::read(file).unwrap();
    let pos = |at: f64| ((bytes.len() as f64 * at) as usize).min(bytes.len().saturating_sub(1));
    match *fault {
        Fault::Flip { at, bit } if !bytes.is_empty() => {
            let i = pos(at);
            bytes[i] ^= 1 << bit;
        }
        Fault::Truncate { at } => bytes.truncate(pos(at)),
        Fault::ZeroPage { at } if !bytes.is_empty() => {
            let i = pos(at);
            let end = (i + 4096).min(bytes.len());
            bytes[i..end].fill(0);
        }
        Fault::Delete => {
            std::fs::remove_file(file).unwrap();
            return;
        }
        _ => {}
    }
    std::fs::write(file, bytes).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn acknowledged_records_are_served_or_reported_and_offsets_never_reused(
        batches in prop::collection::vec((1usize..30, any::<bool>()), 1..40),
        faults in prop::collection::vec(fault(), 1..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let pdir = dir.path().join("topics/t/0");
        // Every record written, by offset, and how many were acknowledged.
        let mut written: Vec<Vec<u8>> = Vec::new();
        let mut acked = 0usize;
        {
            let log = EmbeddedLog::open_with(dir.path(), FsyncPolicy::Never).unwrap();
            log.create_topic_with("t", &TopicConfig::new(1), &EmbeddedTopicSettings::default().segment_bytes(2048)).unwrap();
            for (b, &(n, sync)) in batches.iter().enumerate() {
                let recs: Vec<common::Rec> = (0..n)
                    .map(|i| {
                        let v = format!("b{b}-r{i}-{}", "x".repeat((b * 7 + i) % 40));
                        (b as i64, None, Some(v.into_bytes()))
                    })
                    .collect();
                written.extend(recs.iter().map(|r| r.2.clone().unwrap()));
                common::append(&log, "t", 0, &recs);
                if sync {
                    log.flush("t", 0).unwrap();
                    acked = written.len();
                }
            }
        }
        for (which, f) in &faults {
            let files = common::segments(&pdir);
            if files.is_empty() {
                break;
            }
            inject(&files[which.index(files.len())], f);
        }

        let log = EmbeddedLog::open(dir.path()).unwrap();
        let checks = log.verify().unwrap();
        let damage = &checks[0].damage;
        let reported = |o: u64| damage.iter().any(|d| d.from <= o && o < d.to);
        let (start, end) = log.offsets("t", 0).unwrap();
        // Read everything that is not reported damaged.
        let mut served = std::collections::BTreeMap::new();
        let mut pos = start;
        while pos < end {
            if let Some(d) = damage.iter().find(|d| d.from <= pos && pos < d.to) {
                pos = d.to;
                continue;
            }
            let mut out = Vec::new();
            match log.fetch("t", 0, pos, 1 << 16, &mut out) {
                Ok(()) if out.is_empty() => break,
                Ok(()) => {
                    for r in &out {
                        served.insert(r.offset, r.value.clone().unwrap().to_vec());
                    }
                    pos = out.last().unwrap().offset + 1;
                }
                Err(e) => prop_assert!(false, "unreported damage at {pos}: {e} (reported: {damage:?})"),
            }
        }
        for (&o, v) in &served {
            prop_assert!(
                written.get(o as usize) == Some(v),
                "offset {o} served bytes that were not written there"
            );
            prop_assert!(!reported(o), "offset {o} is served and reported damaged");
        }
        for o in 0..acked as u64 {
            prop_assert!(
                served.contains_key(&o) || reported(o),
                "acknowledged offset {o} is neither served nor reported ({damage:?}, start {start}, end {end})"
            );
        }
        // A writer never gives an acknowledged offset to a new record.
        let next = common::append(&log, "t", 0, &[(0, None, Some(b"new".to_vec()))]);
        prop_assert!(next >= acked as u64, "new record at {next}, below {acked} acknowledged");
    }
}
