//! Property test: the embedded log behaves like `Vec<Vec<Record>>` through
//! random appends, fetches, timestamp seeks and reopenings.

mod common;

use proptest::prelude::*;
use tributary::log::{EmbeddedLog, EmbeddedTopicSettings, TopicConfig, prelude::*};

use common::Rec;

#[derive(Debug, Clone)]
enum Op {
    Append(u32, Vec<Rec>),
    Fetch(u32, u64, usize),
    Seek(u32, i64),
    Reopen,
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        0i64..1_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..3, proptest::collection::vec(rec(), 1..20)).prop_map(|(p, r)| Op::Append(p, r)),
        3 => (0u32..3, 0u64..400, 64usize..5000).prop_map(|(p, o, m)| Op::Fetch(p, o, m)),
        2 => (0u32..3, -10i64..1_100).prop_map(|(p, t)| Op::Seek(p, t)),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let config = TopicConfig::new(3);
        let settings = EmbeddedTopicSettings::default().segment_bytes(1024);
        let mut log = EmbeddedLog::open(dir.path()).unwrap();
        log.create_topic_with("t", &config, &settings).unwrap();
        let mut model: Vec<Vec<Rec>> = vec![Vec::new(); 3];
        for op in ops {
            match op {
                Op::Append(p, recs) => {
                    let base = common::append(&log, "t", p, &recs);
                    prop_assert_eq!(base, model[p as usize].len() as u64);
                    model[p as usize].extend(recs);
                }
                Op::Fetch(p, offset, max) => {
                    let m = &model[p as usize];
                    let mut out = Vec::new();
                    let res = log.fetch("t", p, offset, max, &mut out);
                    if offset > m.len() as u64 {
                        prop_assert!(res.is_err());
                        continue;
                    }
                    res.unwrap();
                    prop_assert_eq!(out.is_empty(), offset == m.len() as u64);
                    for (i, r) in out.iter().enumerate() {
                        let want = &m[offset as usize + i];
                        prop_assert_eq!(r.offset, offset + i as u64);
                        prop_assert_eq!(r.timestamp, want.0);
                        prop_assert_eq!(r.key.as_deref(), want.1.as_deref());
                        prop_assert_eq!(r.value.as_deref(), want.2.as_deref());
                    }
                }
                Op::Seek(p, ts) => {
                    let m = &model[p as usize];
                    let want = m.iter().position(|r| r.0 >= ts).unwrap_or(m.len()) as u64;
                    prop_assert_eq!(log.offset_for_timestamp("t", p, ts).unwrap(), want);
                }
                Op::Reopen => {
                    drop(log);
                    log = EmbeddedLog::open(dir.path()).unwrap();
                }
            }
        }
        for p in 0..3u32 {
            let all = common::read_all(&log, "t", p);
            let got: Vec<Rec> = all
                .iter()
                .map(|r| (r.timestamp, r.key.as_ref().map(|k| k.to_vec()), r.value.as_ref().map(|v| v.to_vec())))
                .collect();
            prop_assert_eq!(&got, &model[p as usize]);
        }
    }
}
