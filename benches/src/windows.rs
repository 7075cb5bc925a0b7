//! Window and join workloads: a hopping-window count and a windowed
//! stream-stream join, each with 2 worker threads over 4 partitions.

use crate::state::{config, produce, run_to};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use tributary::codec::Rkyv;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::topology::{Emit, JoinWindows, TimeWindows};
use tributary::{App, Topology};

/// Event time advances 10 ms per 100 records: 10k records/s of event time.
fn time(i: u64) -> i64 {
    (i / 100 * 10) as i64
}

/// Counts `n` records over 10k keys in hopping windows of 10 s sliding by
/// 2 s (5 windows per record), emitting each window once when it closes.
/// Returns input records/s.
pub fn hopping_count(n: u64) -> Result<f64> {
    hopping_count_with(n, hopping_topology)
}

/// The hopping-window count, written with the builder.
pub fn hopping_topology() -> Result<Topology> {
    let mut b = Topology::builder("hopping-bench");
    b.stream::<u64, u64>("events", Rkyv, Rkyv)
        .group_by_key()
        .windowed_by(TimeWindows::hopping(
            Duration::from_secs(10),
            Duration::from_secs(2),
        ))
        .emit(Emit::OnWindowClose)
        .count("counts")
        .to_stream()
        .to("counts", Rkyv, Rkyv);
    Ok(b.build()?)
}

/// Runs the topology `make` gives (reading "events", writing "counts") on
/// the hopping-count workload; returns input records/s.
pub fn hopping_count_with(n: u64, make: impl Fn() -> Result<Topology>) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log"))?);
    produce(
        &log,
        "events",
        n,
        |i| i.wrapping_mul(2_654_435_761) % 10_000,
        time,
    )?;
    log.create_topic("counts", &TopicConfig::new(4))?;
    let app = App::new(
        make()?,
        Arc::clone(&log) as Arc<dyn Log>,
        config(dir.path()),
    )?;
    let took = run_to(app, n)?;
    Ok(n as f64 / took.as_secs_f64())
}

/// Joins two streams of `n / 2` records each ("views" and "clicks" of 50k
/// ids, each id recurring every 5 s of event time) within ±2 s. Returns
/// input records/s (both sides).
pub fn windowed_join(n: u64) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log"))?);
    let half = n / 2;
    produce(&log, "views", half, |i| i % 50_000, time)?;
    produce(&log, "clicks", half, |i| (i * 7 + 3) % 50_000, time)?;
    log.create_topic("joined", &TopicConfig::new(4))?;
    let mut b = Topology::builder("join-bench");
    let views = b.stream::<u64, u64>("views", Rkyv, Rkyv);
    let clicks = b.stream::<u64, u64>("clicks", Rkyv, Rkyv);
    views
        .join(
            &clicks,
            "views-clicks",
            JoinWindows::of(Duration::from_secs(2)),
            |_id, v, c| (*v, *c),
        )
        .to("joined", Rkyv, Rkyv);
    let app = App::new(
        b.build()?,
        Arc::clone(&log) as Arc<dyn Log>,
        config(dir.path()),
    )?;
    let took = run_to(app, half * 2)?;
    Ok((half * 2) as f64 / took.as_secs_f64())
}
