//! The typed form of every setting, and how each kind of value is read
//! (durations as `250ms` or `1m`, sizes as `64MiB`, enums in kebab case).

use super::Settings;
use super::logging::LogFormat;
use crate::runtime::{OffsetReset, OnDecodeError, OnProcessingError, ReplayFrom, Until};
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every setting's key.
pub(super) const KEYS: &[&str] = &[
    "application_id",
    "threads",
    "commit_interval",
    "on_decode_error",
    "on_processing_error",
    "dead_letter_topic",
    "offset_reset",
    "fetch_max_bytes",
    "max_poll_records",
    "state_dir",
    "replay_from",
    "state_memory",
    "max_out_of_orderness",
    "idle_timeout",
    "max_watermark_drift",
    "until",
    "http",
    "standby_replicas",
    "data_dir",
    "brokers",
    "log_format",
];

/// The settings as given: `None` where no layer set them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    application_id: Option<String>,
    threads: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    commit_interval: Option<Duration>,
    on_decode_error: Option<OnDecodeError>,
    on_processing_error: Option<OnProcessingError>,
    dead_letter_topic: Option<String>,
    offset_reset: Option<OffsetReset>,
    #[serde(default, deserialize_with = "bytes")]
    fetch_max_bytes: Option<usize>,
    max_poll_records: Option<usize>,
    state_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    replay_from: Option<ReplayFrom>,
    #[serde(default, deserialize_with = "bytes")]
    state_memory: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    max_out_of_orderness: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    idle_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    max_watermark_drift: Option<Duration>,
    #[serde(default, deserialize_with = "parsed")]
    until: Option<Until>,
    http: Option<SocketAddr>,
    standby_replicas: Option<u32>,
    data_dir: Option<PathBuf>,
    brokers: Option<String>,
    log_format: Option<LogFormat>,
}

impl Raw {
    /// `settings` with every value given here set.
    pub(super) fn apply(self, mut s: Settings) -> Settings {
        if let Some(d) = self.data_dir {
            s.config.state_dir = d.join("state");
            s.data_dir = d;
        }
        let c = &mut s.config;
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        set!(
            threads,
            commit_interval,
            on_decode_error,
            on_processing_error,
            offset_reset,
            fetch_max_bytes,
            max_poll_records,
            state_dir,
            state_memory,
            max_out_of_orderness,
            idle_timeout,
            max_watermark_drift,
            until,
            standby_replicas
        );
        c.application_id = self.application_id.or(c.application_id.take());
        c.dead_letter_topic = self.dead_letter_topic.or(c.dead_letter_topic.take());
        c.replay_from = self.replay_from.or(c.replay_from);
        c.http = self.http.or(c.http);
        s.brokers = self.brokers.or(s.brokers);
        s.log_format = self.log_format.unwrap_or(s.log_format);
        s
    }
}

/// A duration written as humantime does (`250ms`, `5s`, `1m 30s`).
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expected a duration with its unit, such as \"250ms\" or \"5s\"")
    })?;
    humantime::parse_duration(&s)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("'{s}' is not a duration: {e}")))
}

/// A size in bytes: a number, or a number with a unit (`64MiB`, `512KiB`,
/// `1GiB`, `100kB`).
fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    let text = match Size::deserialize(d)? {
        Size::Number(n) => return Ok(Some(n as usize)),
        Size::Text(t) => t,
    };
    parse_size(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "'{text}' is not a size; write bytes (1048576) or a number with a unit \
                 (KiB, MiB, GiB, kB, MB, GB)"
        ))
    })
}

fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: usize = digits.parse().ok()?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// A value parsed by its `FromStr` (whose error says what is accepted).
fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr<Err = crate::Error>,
{
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(|e: crate::Error| match e {
        crate::Error::InvalidConfig(message) => serde::de::Error::custom(message),
        other => serde::de::Error::custom(other),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("64 MiB"), Some(64 << 20));
        assert_eq!(parse_size("100kB"), Some(100_000));
        assert_eq!(parse_size("64 parsecs"), None);
        assert_eq!(parse_size("MiB"), None);
    }
}
