//! `tributary produce`: lines in, records out.
//!
//! Each input line is a record's value: JSON (checked, unless `--raw`,
//! which takes any bytes). A bad line stops the command with its line
//! number, or with `--skip-invalid` is skipped, counted and reported. The
//! records are synced when the input ends, or when SIGINT or SIGTERM
//! arrives; the command then says how many records the log acknowledged.

use crate::cli::{KeyFormat, ProduceArgs};
use crate::position::{parse_timestamp, timestamp_of};
use anyhow::{Context, Result, bail};
use std::io::BufRead;
use std::sync::{Arc, Mutex, PoisonError};
use tributary::Batch;
use tributary::log::Log;

/// Records per batch at most...
const BATCH_RECORDS: usize = 1000;
/// ...and bytes per batch at most (a single larger record is a batch of its own).
const BATCH_BYTES: usize = 1 << 20;
/// Skipped lines named one by one on stderr; the rest are only counted.
const REPORTED_SKIPS: u64 = 20;

/// Records buffered and written so far: shared with the signal handler,
/// which flushes it when the command is interrupted.
struct Producer {
    log: Arc<dyn Log>,
    topic: String,
    batches: Vec<Batch>,
    /// Records appended to the log.
    appended: u64,
    /// Records synced (acknowledged).
    acked: u64,
    /// Partitions appended to since the last sync.
    dirty: Vec<bool>,
}

impl Producer {
    /// Appends every buffered record.
    fn append(&mut self) -> Result<()> {
        for (p, b) in self.batches.iter_mut().enumerate() {
            if !b.is_empty() {
                self.log.append(&self.topic, p as u32, b)?;
                self.appended += b.len() as u64;
                self.dirty[p] = true;
                b.clear();
            }
        }
        Ok(())
    }

    /// Appends and syncs everything: every record so far is acknowledged.
    fn flush(&mut self) -> Result<()> {
        self.append()?;
        for (p, dirty) in self.dirty.iter_mut().enumerate() {
            if *dirty {
                self.log.flush(&self.topic, p as u32)?;
                *dirty = false;
            }
        }
        self.acked = self.appended;
        Ok(())
    }
}

pub(crate) fn run(log: Arc<dyn Log>, args: ProduceArgs) -> Result<()> {
    let partitions = log.topic_config(&args.topic)?.partitions;
    if let Some(p) = args.partition
        && p >= partitions
    {
        bail!(
            "topic '{}' has no partition {p} (it has {partitions})",
            args.topic
        );
    }
    let mut reader: Box<dyn BufRead> = match &args.file {
        Some(f) => Box::new(std::io::BufReader::new(
            std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let fixed_ts = args.timestamp.as_deref().map(parse_timestamp).transpose()?;
    let producer = Arc::new(Mutex::new(Producer {
        log,
        topic: args.topic.clone(),
        batches: (0..partitions).map(|_| Batch::new()).collect(),
        appended: 0,
        acked: 0,
        dirty: vec![false; partitions as usize],
    }));
    flush_on_signal(Arc::clone(&producer))?;
    let lock = || producer.lock().unwrap_or_else(PoisonError::into_inner);
    let mut round_robin = 0u32;
    let mut skipped = 0u64;
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading line {}", number + 1))?;
        if n == 0 {
            break;
        }
        number += 1;
        let value = trim_newline(&line);
        if value.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (key, ts) = match record_parts(&args, value, fixed_ts) {
            Ok(parts) => parts,
            Err(e) if args.skip_invalid => {
                skipped += 1;
                if skipped <= REPORTED_SKIPS {
                    eprintln!("line {number}: skipped: {e:#}");
                }
                continue;
            }
            Err(e) => {
                let mut p = lock();
                p.flush()?;
                return Err(e.context(format!(
                    "line {number}: not produced ({} earlier record(s) were written and \
                     acknowledged; --skip-invalid skips such lines)",
                    p.acked
                )));
            }
        };
        let p = match (args.partition, &key) {
            (Some(p), _) => p,
            (None, Some(k)) => tributary::partition_for_key(k, partitions),
            (None, None) => {
                round_robin = (round_robin + 1) % partitions;
                round_robin
            }
        };
        let mut producer = lock();
        let b = &mut producer.batches[p as usize];
        b.push(ts, key.as_deref(), Some(value), &[]);
        if b.len() >= BATCH_RECORDS || b.size() >= BATCH_BYTES {
            producer.append()?;
        }
    }
    let mut p = lock();
    p.flush()?;
    eprintln!(
        "produced {} record(s) to {} (acknowledged)",
        p.acked, args.topic
    );
    if skipped > 0 {
        let not_named = skipped.saturating_sub(REPORTED_SKIPS);
        let more = if not_named > 0 {
            format!(" ({not_named} not named above)")
        } else {
            String::new()
        };
        let message = format!("{skipped} invalid line(s) of {number} skipped{more}");
        if !args.allow_skipped {
            bail!("{message} (--allow-skipped makes this a success)");
        }
        eprintln!("{message}");
    }
    Ok(())
}

/// On SIGINT or SIGTERM: appends and syncs what was read, says how many
/// records were acknowledged, and exits (status 130).
fn flush_on_signal(producer: Arc<Mutex<Producer>>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    let (mut int, mut term) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("installing the signal handler")?;
    std::thread::Builder::new()
        .name("produce-signals".into())
        .spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
            let mut p = producer.lock().unwrap_or_else(PoisonError::into_inner);
            match p.flush() {
                Ok(()) => eprintln!(
                    "interrupted: produced {} record(s) to {} (acknowledged); the rest of the \
                     input was not read",
                    p.acked, p.topic
                ),
                Err(e) => eprintln!(
                    "interrupted: {} record(s) acknowledged; flushing the rest failed: {e:#}",
                    p.acked
                ),
            }
            std::process::exit(130);
        })
        .context("starting the signal handler")?;
    Ok(())
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The key bytes and timestamp of one input line.
fn record_parts(
    args: &ProduceArgs,
    line: &[u8],
    fixed_ts: Option<i64>,
) -> Result<(Option<Vec<u8>>, i64)> {
    let needs_json = !args.raw || args.key_field.is_some() || args.timestamp_field.is_some();
    let value: Option<serde_json::Value> = if needs_json {
        let text = std::str::from_utf8(line).map_err(|e| {
            anyhow::anyhow!(
                "not UTF-8 (invalid byte at column {}); --raw takes any bytes",
                e.valid_up_to() + 1
            )
        })?;
        Some(serde_json::from_str(text).context("invalid JSON")?)
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
