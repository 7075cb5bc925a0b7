//! `tributary produce`: JSON lines in, records out.

use crate::cli::{KeyFormat, ProduceArgs};
use crate::position::{parse_timestamp, timestamp_of};
use anyhow::{Context, Result, bail};
use std::io::BufRead;
use tributary::log::format::BatchBuilder;
use tributary::log::{EmbeddedLog, Log};

const BATCH: usize = 1000;

pub(crate) fn run(log: &EmbeddedLog, args: ProduceArgs) -> Result<()> {
    let partitions = log.topic_config(&args.topic)?.partitions;
    if let Some(p) = args.partition
        && p >= partitions
    {
        bail!(
            "topic '{}' has no partition {p} (it has {partitions})",
            args.topic
        );
    }
    let reader: Box<dyn BufRead> = match &args.file {
        Some(f) => Box::new(std::io::BufReader::new(
            std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let fixed_ts = args.timestamp.as_deref().map(parse_timestamp).transpose()?;
    let mut batches: Vec<BatchBuilder> = (0..partitions).map(|_| BatchBuilder::new()).collect();
    let mut written = 0u64;
    let mut round_robin = 0u32;
    let flush = |batches: &mut [BatchBuilder], written: &mut u64| -> Result<()> {
        for (p, b) in batches.iter_mut().enumerate() {
            if !b.is_empty() {
                *written += b.len() as u64;
                log.append(&args.topic, p as u32, b)?;
                b.clear();
            }
        }
        Ok(())
    };
    for (i, line) in reader.lines().enumerate() {
        let line = line.context("reading input")?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = match record_parts(&args, &line, fixed_ts) {
            Ok(p) => p,
            Err(e) => {
                flush(&mut batches, &mut written)?;
                return Err(e.context(format!(
                    "line {}: not produced ({written} earlier record(s) were written)",
                    i + 1
                )));
            }
        };
        let (key, ts) = parsed;
        let p = match (args.partition, &key) {
            (Some(p), _) => p,
            (None, Some(k)) => tributary::partition_for_key(k, partitions),
            (None, None) => {
                round_robin = (round_robin + 1) % partitions;
                round_robin
            }
        };
        let b = &mut batches[p as usize];
        b.push(ts, key.as_deref(), Some(line.as_bytes()), &[]);
        if b.len() >= BATCH {
            flush(&mut batches, &mut written)?;
        }
    }
    flush(&mut batches, &mut written)?;
    eprintln!("produced {written} record(s) to {}", args.topic);
    Ok(())
}

/// The key bytes and timestamp of one input line.
fn record_parts(
    args: &ProduceArgs,
    line: &str,
    fixed_ts: Option<i64>,
) -> Result<(Option<Vec<u8>>, i64)> {
    let needs_json = !args.raw || args.key_field.is_some() || args.timestamp_field.is_some();
    let value: Option<serde_json::Value> = if needs_json {
        Some(serde_json::from_str(line).context("invalid JSON")?)
    } else {
        None
    };
    let field = |name: &str| -> Result<&serde_json::Value> {
        value
            .as_ref()
            .and_then(|v| v.get(name))
            .with_context(|| format!("field '{name}' is missing"))
    };
    let key = match (&args.key, &args.key_field) {
        (Some(k), _) => Some(k.as_bytes().to_vec()),
        (None, Some(f)) => Some(match (field(f)?, args.key_format) {
            (serde_json::Value::String(s), KeyFormat::String) => s.as_bytes().to_vec(),
            (v, _) => serde_json::to_vec(v)?,
        }),
        (None, None) => None,
    };
    let ts = match (&args.timestamp_field, fixed_ts) {
        (Some(f), _) => timestamp_of(field(f)?)?,
        (None, Some(t)) => t,
        (None, None) => tributary::now_millis(),
    };
    Ok((key, ts))
}
