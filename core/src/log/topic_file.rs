//! A topic's `topic.json` in the embedded log: the [`TopicConfig`] every
//! backend has plus the [`EmbeddedTopicSettings`] only the embedded log has.

use super::offsets::write_synced;
use super::{Cleanup, TopicConfig};
use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Per-topic settings only the embedded log has.
///
/// # Examples
///
/// ```
/// use tributary::log::{EmbeddedLog, EmbeddedTopicSettings, TopicConfig};
/// let dir = tempfile::tempdir()?;
/// let log = EmbeddedLog::open(dir.path())?;
/// let small = EmbeddedTopicSettings::default().segment_bytes(1 << 20);
/// log.create_topic_with("clicks", &TopicConfig::new(2), &small)?;
/// assert_eq!(log.topic_settings("clicks")?, small);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedTopicSettings {
    /// A segment file rolls when it would grow past this many bytes; whole
    /// segments are what retention deletes and compaction rewrites.
    pub segment_bytes: u64,
}

impl Default for EmbeddedTopicSettings {
    fn default() -> Self {
        EmbeddedTopicSettings {
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
        }
    }
}

impl EmbeddedTopicSettings {
    /// Default segment size: 64 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

    /// Most partitions a topic of the embedded log may have (each keeps a
    /// segment file open).
    pub const MAX_PARTITIONS: u32 = 4096;

    /// Sets the segment size.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Checks these settings and the embedded log's limits on `config`.
    pub fn validate(&self, config: &TopicConfig) -> Result<()> {
        config.validate()?;
        if config.partitions > Self::MAX_PARTITIONS {
            return Err(Error::InvalidConfig(format!(
                "{} partitions is more than the embedded log's limit of {} (each partition \
                 keeps a segment file open)",
                config.partitions,
                Self::MAX_PARTITIONS
            )));
        }
        if self.segment_bytes < 1024 {
            return Err(Error::InvalidConfig(format!(
                "segment_bytes = {} is too small (minimum 1024)",
                self.segment_bytes
            )));
        }
        Ok(())
    }
}

/// The stored form: one flat JSON object, as written since the first version.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    partitions: u32,
    #[serde(default = "default_segment_bytes")]
    segment_bytes: u64,
    #[serde(default)]
    retention_ms: Option<i64>,
    #[serde(default)]
    retention_bytes: Option<u64>,
    #[serde(default)]
    cleanup: Cleanup,
}

fn default_segment_bytes() -> u64 {
    EmbeddedTopicSettings::DEFAULT_SEGMENT_BYTES
}

/// Encodes a topic's configuration for `topic.json`.
pub(crate) fn encode(config: &TopicConfig, settings: &EmbeddedTopicSettings) -> Result<Vec<u8>> {
    let file = TopicFile {
        partitions: config.partitions,
        segment_bytes: settings.segment_bytes,
        retention_ms: config.retention_ms,
        retention_bytes: config.retention_bytes,
        cleanup: config.cleanup,
    };
    serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::Runtime(format!("encoding topic config: {e}")))
}

/// Decodes `topic.json` (read from `path`) and checks it.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<(TopicConfig, EmbeddedTopicSettings)> {
    let file: TopicFile = serde_json::from_slice(bytes)
        .map_err(|e| super::corrupt(path, 0, format!("topic configuration is not valid: {e}")))?;
    let config = TopicConfig {
        partitions: file.partitions,
        retention_ms: file.retention_ms,
        retention_bytes: file.retention_bytes,
        cleanup: file.cleanup,
    };
    let settings = EmbeddedTopicSettings {
        segment_bytes: file.segment_bytes,
    };
    settings.validate(&config)?;
    Ok((config, settings))
}

/// Writes a complete topic (partition directories, then its configuration)
/// into `staging`, synced, for the caller to rename into place.
pub(crate) fn stage(
    staging: &Path,
    config: &TopicConfig,
    settings: &EmbeddedTopicSettings,
) -> Result<()> {
    std::fs::create_dir(staging).ctx(|| format!("creating {}", staging.display()))?;
    for p in 0..config.partitions {
        let pd = staging.join(p.to_string());
        std::fs::create_dir(&pd).ctx(|| format!("creating {}", pd.display()))?;
    }
    write_synced(&staging.join("topic.json"), &encode(config, settings)?)?;
    std::fs::File::open(staging)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("syncing {}", staging.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_json_keeps_its_flat_form() {
        let config = TopicConfig::new(3).compacted();
        let settings = EmbeddedTopicSettings::default().segment_bytes(4096);
        let bytes = encode(&config, &settings).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["partitions"], 3);
        assert_eq!(json["segment_bytes"], 4096);
        assert_eq!(json["cleanup"], "compact");
        let path = Path::new("topic.json");
        assert_eq!(decode(path, &bytes).unwrap(), (config, settings));
        // Written by an earlier version, without optional fields.
        let old = decode(path, br#"{"partitions": 2}"#).unwrap();
        assert_eq!(old, (TopicConfig::new(2), EmbeddedTopicSettings::default()));
        assert!(decode(path, br#"{"partitions": 2, "colour": 1}"#).is_err());
    }
}
