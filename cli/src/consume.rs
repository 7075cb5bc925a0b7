//! `tributary consume`: records out as JSON lines.

use crate::cli::ConsumeArgs;
use crate::position::Position;
use anyhow::{Result, bail};
use std::io::Write;
use tributary::Record;
use tributary::log::{LogReader, TopicAdmin};

pub(crate) fn run(log: &(impl TopicAdmin + LogReader + ?Sized), args: ConsumeArgs) -> Result<()> {
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

/// Prints one record as a JSON line. A value that is JSON is printed as
/// it is stored, byte for byte (whitespace outside strings dropped if it
/// spans lines), so what comes out is what went in: key order, number
/// spelling and big integers intact. Other values, keys and headers are
/// JSON strings.
fn print_record(out: &mut impl Write, partition: u32, r: &Record, values_only: bool) -> Result<()> {
    if values_only {
        if let Some(v) = &r.value {
            out.write_all(v)?;
        }
        out.write_all(b"\n")?;
        return Ok(());
    }
    let text = |b: &[u8]| serde_json::Value::String(String::from_utf8_lossy(b).into_owned());
    write!(
        out,
        "{{\"partition\":{partition},\"offset\":{},\"timestamp\":{},\"key\":",
        r.offset, r.timestamp
    )?;
    match &r.key {
        Some(k) => serde_json::to_writer(&mut *out, &text(k))?,
        None => out.write_all(b"null")?,
    }
    out.write_all(b",\"value\":")?;
    match &r.value {
        None => out.write_all(b"null")?,
        Some(v) if serde_json::from_slice::<serde_json::Value>(v).is_ok() => {
            if v.contains(&b'\n') || v.contains(&b'\r') {
                out.write_all(&one_line(v))?;
            } else {
                out.write_all(v.trim_ascii())?;
            }
        }
        Some(v) => serde_json::to_writer(&mut *out, &text(v))?,
    }
    if !r.headers.is_empty() {
        let headers: serde_json::Map<String, serde_json::Value> = r
            .headers
            .iter()
            .map(|h| (h.name.clone(), text(&h.value)))
            .collect();
        out.write_all(b",\"headers\":")?;
        serde_json::to_writer(&mut *out, &headers)?;
    }
    out.write_all(b"}\n")?;
    Ok(())
}

/// Valid JSON without the whitespace outside its strings (so that it fits
/// on one line); everything else, byte for byte.
fn one_line(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(value: &[u8]) -> String {
        let r = Record::new(5, Some("k"), Some(value.to_vec()));
        let mut out = Vec::new();
        print_record(&mut out, 2, &r, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_values_come_out_as_they_went_in() {
        let v = br#"{"z":1,"a":100000000000000000000,"f":1.50}"#;
        assert_eq!(
            printed(v),
            format!(
                "{{\"partition\":2,\"offset\":0,\"timestamp\":5,\"key\":\"k\",\"value\":{}}}\n",
                std::str::from_utf8(v).unwrap()
            )
        );
    }

    #[test]
    fn a_value_on_several_lines_is_put_on_one_and_other_values_are_strings() {
        assert!(printed(b"{\n  \"a b\": [1,\n 2]\n}").ends_with("\"value\":{\"a b\":[1,2]}}\n"));
        assert!(printed(b"not json").ends_with("\"value\":\"not json\"}\n"));
        let line = printed(br#"{"s":"x\"  y"}"#);
        assert!(line.contains(r#""value":{"s":"x\"  y"}"#), "{line}");
    }
}
