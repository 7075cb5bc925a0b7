//! Parsing positions (`earliest`, `latest`, an offset, a time) and timestamps.

use anyhow::{Context, Result, bail};
use tributary::log::LogReader;

/// A place in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    Earliest,
    Latest,
    Offset(u64),
    /// Milliseconds since the epoch.
    Time(i64),
}

impl std::str::FromStr for Position {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "earliest" | "beginning" => Ok(Position::Earliest),
            "latest" | "end" => Ok(Position::Latest),
            _ if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => {
                Ok(Position::Offset(s.parse().context("offset out of range")?))
            }
            _ => parse_time(s).map(Position::Time).with_context(|| {
                format!(
                    "'{s}' is not a position: use earliest, latest, an offset or an RFC 3339 time"
                )
            }),
        }
    }
}

impl Position {
    /// The offset this position denotes in a partition, clamped to what it holds.
    pub(crate) fn resolve(
        self,
        log: &(impl LogReader + ?Sized),
        topic: &str,
        partition: u32,
    ) -> Result<u64> {
        let (start, end) = log.offsets(topic, partition)?;
        Ok(match self {
            Position::Earliest => start,
            Position::Latest => end,
            Position::Offset(o) => o.clamp(start, end),
            Position::Time(t) => log.offset_for_timestamp(topic, partition, t)?,
        })
    }
}

/// Parses an RFC 3339 time (`2026-11-28T10:00:00Z`) into milliseconds.
pub(crate) fn parse_time(s: &str) -> Result<i64> {
    let t = humantime::parse_rfc3339_weak(s).with_context(|| format!("invalid time '{s}'"))?;
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok(d.as_millis() as i64)
}

/// A timestamp given as milliseconds or as an RFC 3339 time.
pub(crate) fn parse_timestamp(s: &str) -> Result<i64> {
    match s.parse::<i64>() {
        Ok(ms) => Ok(ms),
        Err(_) => parse_time(s),
    }
}

/// Like [`parse_timestamp`], for a JSON field.
pub(crate) fn timestamp_of(v: &serde_json::Value) -> Result<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().context("timestamp is not an integer"),
        serde_json::Value::String(s) => parse_timestamp(s),
        other => bail!("timestamp must be a number or a string, not {other}"),
    }
}
