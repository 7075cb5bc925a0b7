//! What the `pipeline!` examples share: an embedded log in a fresh
//! directory, producing JSON records, running an application until it has
//! processed everything, and reading an output topic back.

use anyhow::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tributary::Batch;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Topology};

/// Partitions of every topic of the examples.
pub(crate) const PARTITIONS: u32 = 4;

/// An embedded log in a fresh directory named after the example, with
/// `topics` created.
#[allow(dead_code)]
pub(crate) fn open_log(example: &str, topics: &[&str]) -> Result<(PathBuf, Arc<EmbeddedLog>)> {
    let dir = std::env::temp_dir().join(format!("tributary-{example}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = Arc::new(EmbeddedLog::open(&dir)?);
    for t in topics {
        log.create_topic(t, &TopicConfig::new(PARTITIONS))?;
    }
    Ok((dir, log))
}

/// Appends `(key, value, timestamp)` records to `topic`: UTF-8 keys, JSON
/// values, partitioned by key as any Kafka producer would.
pub(crate) fn produce<V: Serialize>(
    log: &EmbeddedLog,
    topic: &str,
    records: impl IntoIterator<Item = (String, V, i64)>,
) -> Result<usize> {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    let mut count = 0;
    for (key, value, at) in records {
        let p = tributary::partition_for_key(key.as_bytes(), PARTITIONS) as usize;
        batches[p].push(
            at,
            Some(key.as_bytes()),
            Some(&serde_json::to_vec(&value)?),
            &[],
        );
        count += 1;
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append(topic, p as u32, b)?;
    }
    Ok(count)
}

/// The examples' settings: 2 worker threads, state in `dir`.
pub(crate) fn config(dir: &std::path::Path) -> Config {
    Config {
        threads: 2,
        state_dir: dir.join("state"),
        ..Config::default()
    }
}

/// Runs `topology` with 2 worker threads until it has processed all its
/// input, then stops it.
#[allow(dead_code)]
pub(crate) fn run(topology: Topology, log: &Arc<EmbeddedLog>, dir: &std::path::Path) -> Result<()> {
    let app = App::new(topology, Arc::clone(log) as Arc<dyn Log>, config(dir))?;
    let running = app.start()?;
    running.wait_until_caught_up(Duration::from_secs(300))?;
    running.shutdown()?;
    Ok(())
}

/// The last value written for each key of `topic` (UTF-8 keys, JSON values).
#[allow(dead_code)]
pub(crate) fn latest<V: DeserializeOwned>(
    log: &EmbeddedLog,
    topic: &str,
) -> Result<BTreeMap<String, V>> {
    latest_since(log, topic, &[0; PARTITIONS as usize])
}

/// The last value written for each key of `topic` from offset `from[p]`
/// of each partition `p` on.
pub(crate) fn latest_since<V: DeserializeOwned>(
    log: &EmbeddedLog,
    topic: &str,
    from: &[u64],
) -> Result<BTreeMap<String, V>> {
    let mut out = BTreeMap::new();
    let mut records = Vec::new();
    for (p, from) in (0..PARTITIONS).zip(from) {
        records.clear();
        log.fetch(topic, p, *from, usize::MAX, &mut records)?;
        for r in &records {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            if let Some(v) = &r.value {
                out.insert(key, serde_json::from_slice(v)?);
            }
        }
    }
    Ok(out)
}

/// The end offset of each partition of `topic`.
#[allow(dead_code)]
pub(crate) fn ends(log: &EmbeddedLog, topic: &str) -> Result<Vec<u64>> {
    (0..PARTITIONS)
        .map(|p| Ok(log.offsets(topic, p)?.1))
        .collect()
}
