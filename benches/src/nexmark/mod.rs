//! Nexmark: events from the `nexmark` generator loaded into a topic of
//! the embedded log (JSON or rkyv values, the bytes any producer would
//! write), the queries written with the public API, a plain reference
//! implementation of each, and a bounded run of a query to the end.

pub mod model;
pub mod outputs;
pub mod queries;
pub mod reference;
pub mod rows;
pub mod winners;

use anyhow::Result;
use model::Event;
use queries::{EVENTS_TOPIC, Format, OUT_TOPIC, PARTITIONS, Query, WATERMARK_DELAY};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::codec::Codec;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Batch, Config};

/// Consecutive events per partition: partitions take turns, each holding
/// events in time order.
const BLOCK: usize = 1_000;

/// Creates the event and result topics and appends `events`, encoded with
/// `format`, without keys, at their `date_time`. Returns the count.
pub fn load<C: Codec<Event>>(
    log: &dyn Log,
    events: impl IntoIterator<Item = Event>,
    format: &C,
) -> Result<u64> {
    log.create_topic(EVENTS_TOPIC, &TopicConfig::new(PARTITIONS))?;
    log.create_topic(OUT_TOPIC, &TopicConfig::new(PARTITIONS))?;
    let mut batch = Batch::new();
    let mut value = Vec::new();
    let (mut n, mut partition) = (0u64, 0u32);
    for e in events {
        value.clear();
        format.encode(&e, &mut value)?;
        batch.push(e.date_time(), None, Some(&value), &[]);
        n += 1;
        if batch.len() == BLOCK {
            log.append(EVENTS_TOPIC, partition, &batch)?;
            batch.clear();
            partition = (partition + 1) % PARTITIONS;
        }
    }
    log.append(EVENTS_TOPIC, partition, &batch)?;
    Ok(n)
}

/// The configuration of a Nexmark run: `threads` workers, state under
/// `dir`, Nexmark's watermark delay.
pub fn config(dir: &std::path::Path, threads: usize) -> Config {
    Config {
        threads,
        state_dir: dir.join("state"),
        max_out_of_orderness: WATERMARK_DELAY,
        ..Config::default()
    }
}

/// Runs `query` over the loaded events to their end (a bounded run) and
/// returns how long it took.
pub fn run<C: Format>(
    log: &Arc<EmbeddedLog>,
    dir: &std::path::Path,
    query: Query,
    format: C,
    threads: usize,
) -> Result<Duration> {
    let topology = queries::topology(query, format)?;
    let app = App::new(
        topology,
        Arc::clone(log) as Arc<dyn Log>,
        config(dir, threads),
    )?;
    let t = Instant::now();
    app.run_to_end()?;
    Ok(t.elapsed())
}
