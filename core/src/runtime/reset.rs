//! Resetting an application for replay.
//!
//! A replay reprocesses an application's inputs from the start (or from a
//! time) with empty state, giving what a live run over the same records
//! gives. [`reset_application`] prepares it, with the application stopped:
//!
//! 1. the group's positions on its input topics move to the earliest offset,
//!    or to the first offset at or after the given time;
//! 2. its internal topics (`<app>-*-changelog`, `<app>-*-repartition`) are
//!    deleted, and their positions forgotten: they are recreated empty at
//!    start, so no old state can be restored;
//! 3. its local state directory `<state_dir>/<app>` is deleted.

use crate::error::{Error, Result};
use crate::log::{Log, TopicPartition};
use std::path::Path;

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// From the first record each input partition holds.
    Earliest,
    /// From the first record at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// Parses an application flag such as `--replay-from`: `earliest`, or an
/// RFC 3339 time (`2026-11-28T12:00:00Z`; the offset may be left out for
/// UTC).
///
/// ```
/// use tributary::Config;
/// use tributary::runtime::ReplayFrom;
///
/// // e.g. from `my-app --replay-from 2026-11-28T12:00:00Z`
/// let flag = "2026-11-28T12:00:00Z";
/// let config = Config {
///     replay_from: Some(flag.parse()?),
///     ..Config::default()
/// };
/// assert_eq!(config.replay_from, Some(ReplayFrom::Timestamp(1_795_867_200_000)));
/// assert_eq!("earliest".parse::<ReplayFrom>()?, ReplayFrom::Earliest);
/// assert!("yesterday".parse::<ReplayFrom>().is_err());
/// # Ok::<(), tributary::Error>(())
/// ```
impl std::str::FromStr for ReplayFrom {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s == "earliest" {
            return Ok(ReplayFrom::Earliest);
        }
        let time = humantime::parse_rfc3339_weak(s).map_err(|e| {
            Error::InvalidConfig(format!(
                "replay from '{s}': {e}; use earliest or an RFC 3339 time"
            ))
        })?;
        let since = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Error::InvalidConfig(format!("replay from '{s}': before 1970")))?;
        Ok(ReplayFrom::Timestamp(since.as_millis() as i64))
    }
}

/// What [`reset_application`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetReport {
    /// New positions of the input partitions.
    pub positions: Vec<(TopicPartition, u64)>,
    /// Internal topics deleted.
    pub deleted_topics: Vec<String>,
    /// True if a local state directory was deleted.
    pub deleted_state: bool,
}

/// True for the internal topics of application `app`.
pub fn is_internal_topic(app: &str, topic: &str) -> bool {
    topic
        .strip_prefix(app)
        .and_then(|t| t.strip_prefix('-'))
        .is_some_and(|rest| rest.ends_with("-changelog") || rest.ends_with("-repartition"))
}

/// Resets application `app` for a replay; see the [module docs](self). The
/// input topics are those the group has positions for, plus `inputs`.
pub fn reset_application(
    log: &dyn Log,
    app: &str,
    inputs: &[String],
    state_dir: &Path,
    from: ReplayFrom,
) -> Result<ResetReport> {
    let mut report = ResetReport::default();
    let committed = log.committed_offsets(app)?;
    let mut topics: Vec<String> = committed
        .keys()
        .map(|tp| tp.topic.clone())
        .chain(inputs.iter().cloned())
        .collect();
    topics.sort();
    topics.dedup();
    topics.retain(|t| !is_internal_topic(app, t) && !t.ends_with("-dlq"));
    for topic in &topics {
        let n = log.topic_config(topic)?.partitions;
        for p in 0..n {
            let offset = match from {
                ReplayFrom::Earliest => log.offsets(topic, p)?.0,
                ReplayFrom::Timestamp(t) => log.offset_for_timestamp(topic, p, t)?,
            };
            report
                .positions
                .push((TopicPartition::new(topic.clone(), p), offset));
        }
    }
    log.replace_offsets(app, &report.positions)?;
    for topic in log.list_topics()? {
        if is_internal_topic(app, &topic) {
            log.delete_topic(&topic)?;
            report.deleted_topics.push(topic);
        }
    }
    let dir = state_dir.join(app);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("deleting state {}", dir.display()), e))?;
        report.deleted_state = true;
    }
    tracing::info!(app, positions = report.positions.len(), deleted_topics = ?report.deleted_topics,
        deleted_state = report.deleted_state, "application reset for replay");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_topics_are_recognized() {
        assert!(is_internal_topic("shop", "shop-counts-changelog"));
        assert!(is_internal_topic("shop", "shop-by-item-repartition"));
        assert!(!is_internal_topic("shop", "shopping-x-changelog"));
        assert!(!is_internal_topic("shop", "shop-orders"));
    }
}
