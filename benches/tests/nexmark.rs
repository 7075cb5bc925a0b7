//! Every Nexmark query's results, from a bounded run with 2 worker
//! threads, equal the plain reference implementation's exactly (final
//! results per key and window). `NEXMARK_TEST_EVENTS` sets the number of
//! events (default 1M).

use std::sync::{Arc, OnceLock};
use tributary::codec::{Json, Rkyv};
use tributary::log::EmbeddedLog;
use tributary_benches::nexmark::model::{self, Event};
use tributary_benches::nexmark::queries::{Format, Query};
use tributary_benches::nexmark::{load, outputs, reference, run};

fn events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let n = std::env::var("NEXMARK_TEST_EVENTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000_000);
        model::events(n).collect()
    })
}

fn check<C: Format>(query: Query, format: C) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    load(log.as_ref(), events().iter().cloned(), &format).unwrap();
    run(&log, dir.path(), query, format.clone(), 2).unwrap();
    let got = outputs::results(log.as_ref(), query, &format).unwrap();
    let expected = reference::results(query, events());
    assert!(!expected.is_empty(), "{query:?} has results to compare");
    if got != expected {
        let first = got
            .iter()
            .zip(&expected)
            .position(|(g, e)| g != e)
            .unwrap_or(got.len().min(expected.len()));
        panic!(
            "{query:?}: {} results, {} expected; first difference at {first}:\n got      {:?}\n expected {:?}",
            got.len(),
            expected.len(),
            got.get(first),
            expected.get(first)
        );
    }
}

macro_rules! queries {
    ($($name:ident: $query:expr, $format:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($query, $format);
            }
        )*
    };
}

queries! {
    q0_json: Query::Q0, Json;
    q0_rkyv: Query::Q0, Rkyv;
    q1_json: Query::Q1, Json;
    q2_json: Query::Q2, Json;
    q3_json: Query::Q3, Json;
    q4_json: Query::Q4, Json;
    q5_json: Query::Q5, Json;
    q5_rkyv: Query::Q5, Rkyv;
    q7_json: Query::Q7, Json;
    q8_json: Query::Q8, Json;
    q9_json: Query::Q9, Json;
    q11_json: Query::Q11, Json;
    q12_json: Query::Q12, Json;
}
