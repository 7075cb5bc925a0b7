//! `tributary consume`: records out as JSON lines.

use crate::cli::ConsumeArgs;
use crate::position::Position;
use anyhow::{Result, bail};
use std::io::Write;
use tributary::Record;
use tributary::log::{EmbeddedLog, Log};

pub(crate) fn run(log: &EmbeddedLog, args: ConsumeArgs) -> Result<()> {
    let partitions = log.topic_config(&args.topic)?.partitions;
    let parts: Vec<u32> = match args.partition {
        Some(p) if p >= partitions => {
            bail!(
                "topic '{}' has no partition {p} (it has {partitions})",
                args.topic
            )
        }
        Some(p) => vec![p],
        None => (0..partitions).collect(),
    };
    let from: Position = args.from.parse()?;
    let mut positions = Vec::new();
    for &p in &parts {
        positions.push(from.resolve(log, &args.topic, p)?);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    let mut buf = Vec::new();
    loop {
        let mut any = false;
        for (i, &p) in parts.iter().enumerate() {
            buf.clear();
            log.fetch(&args.topic, p, positions[i], 1 << 20, &mut buf)?;
            for r in &buf {
                if args.max.is_some_and(|m| printed >= m) {
                    out.flush()?;
                    return Ok(());
                }
                print_record(&mut out, p, r, args.values)?;
                printed += 1;
                positions[i] = r.offset + 1;
                any = true;
            }
        }
        if !any {
            out.flush()?;
            if !args.follow {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn print_record(out: &mut impl Write, partition: u32, r: &Record, values_only: bool) -> Result<()> {
    if values_only {
        if let Some(v) = &r.value {
            out.write_all(v)?;
        }
        out.write_all(b"\n")?;
        return Ok(());
    }
    let text = |b: &[u8]| serde_json::Value::String(String::from_utf8_lossy(b).into_owned());
    let value = match &r.value {
        None => serde_json::Value::Null,
        Some(v) => serde_json::from_slice(v).unwrap_or_else(|_| text(v)),
    };
    let mut line = serde_json::json!({
        "partition": partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": r.key.as_deref().map(text),
        "value": value,
    });
    if !r.headers.is_empty() {
        let headers: serde_json::Map<String, serde_json::Value> = r
            .headers
            .iter()
            .map(|h| (h.name.clone(), text(&h.value)))
            .collect();
        line["headers"] = serde_json::Value::Object(headers);
    }
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    Ok(())
}
