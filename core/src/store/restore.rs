//! Bringing a task's local state in line with its changelogs at start.
//!
//! Each commit writes, per store, the changed entries and then a *marker*
//! (a record without key holding the task's input positions) to the store's
//! changelog in one appended batch, and then, in one atomic state batch, the
//! entries, the input positions and the changelog offset reached (the
//! *checkpoint*). So at start, per store:
//!
//! - checkpoint = changelog end: the local state is current;
//! - checkpoint < changelog end, and every marker in the tail was written
//!   by this state directory (its *writer id*): the process died between
//!   the two writes. The local state and positions are the truth (they
//!   agree); the changelog's tail describes work that will be redone. It is
//!   *repaired*: the current local value of every key in that tail is
//!   appended again, so that replaying the changelog gives the local state;
//! - checkpoint < changelog end, and another instance wrote part of the
//!   tail: the task moved away (a rebalance) and came back. The local state
//!   is kept and only the tail is applied to it (*rolled forward*), and the
//!   positions and event-time clock are those of the tail's last marker;
//! - no checkpoint (state directory lost, or a new machine), or a checkpoint
//!   past the end (the changelog was recreated): the store partition is
//!   rebuilt from the changelog, and the input positions are taken from the
//!   last marker, so that no input is counted twice. They are stored with
//!   the rebuilt state, so that the next start finds it current;
//! - a checkpoint at the end but no input positions: the state was rebuilt
//!   from a changelog that held no marker (the task never committed), or
//!   the task never committed at all: the state is what the changelog
//!   says, and the inputs start where the group's positions say.

use super::bulk::BulkChanges;
use super::meta::{
    self, Marker, MarkerContents, Positions, REBUILDING, checkpoint_key, decode_positions,
    encode_positions, positions_key, writer_id,
};
use super::{Registered, lock};
use crate::error::Result;
use crate::log::Log;
use crate::record::Batch;
use crate::task_id::TaskId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tributary_state::{StateBackend, StateBatch};

/// Bytes per changelog fetch (decoded records take several times more).
const RESTORE_FETCH: usize = 1 << 20;

/// What [`prepare`] found.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// Local input positions, or those of the last changelog marker.
    pub(crate) positions: Option<Positions>,
    /// The event-time clock of the last marker, when the positions came
    /// from the changelog.
    pub(crate) clock: Option<Vec<u8>>,
}

/// Where a restore reports its progress as it goes (the task's counters).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress<'a> {
    /// Changelog records applied so far.
    pub(crate) restored: &'a AtomicU64,
    /// Changelog records still to apply.
    pub(crate) remaining: &'a AtomicU64,
}

/// A progress bar on stderr when it is a terminal.
pub(crate) fn progress_bar(total: u64, label: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if total == 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_owned());
    Some(bar)
}

/// Checks, repairs, rolls forward or rebuilds every store of a task; see
/// the module docs. `writer` is this state directory's [`writer_id`](meta::writer_id).
///
/// A restore gathers up to `memory` bytes of changes, sorts them and loads
/// them as one table file: the larger the batches, the fewer files overlap
/// and the less RocksDB compacts afterwards.
pub(crate) fn prepare(
    log: &dyn Log,
    backend: &Arc<dyn StateBackend>,
    (app, task, writer): (&str, TaskId, &str),
    stores: &[Registered],
    memory: usize,
    progress: Progress<'_>,
) -> Result<Prepared> {
    let local = backend
        .meta(&positions_key(task))?
        .map(|b| decode_positions(&b))
        .transpose()?;
    // Positions and clock taken from the changelog instead of local state.
    let mut from_changelog: Option<MarkerContents> = None;
    for store in stores {
        let topic = super::changelog_topic(app, &store.name);
        let p = task.partition;
        let (start, end) = log.offsets(&topic, p)?;
        let ckpt_key = checkpoint_key(&store.name, p);
        let checkpoint = meta::checkpoint(backend.as_ref(), &store.name, p)?;
        match (checkpoint, &local) {
            (Some(c), Some(positions)) if c <= end => {
                if c < end && written_elsewhere(log, &topic, p, c, end, writer)? {
                    tracing::info!(
                        store = %store.name, partition = p, from = c, to = end,
                        "another instance changed this store partition since this one last \
                         had it; applying those changes to the local state"
                    );
                    let marker = rebuild(
                        log,
                        backend.as_ref(),
                        (store, &topic, p),
                        c,
                        (&ckpt_key, progress),
                        memory,
                    )?;
                    if marker.is_some() {
                        from_changelog = marker;
                    }
                } else if c < end {
                    repair(
                        log,
                        backend.as_ref(),
                        store,
                        (&topic, p),
                        (c, end),
                        positions,
                        &ckpt_key,
                    )?;
                }
            }
            (Some(c), None) if c == end => {}
            (c, _) => {
                match c {
                    Some(REBUILDING) => tracing::info!(
                        store = %store.name, partition = p,
                        "a standby copy of this store partition was being rebuilt; restoring \
                         it from the changelog"
                    ),
                    Some(c) if c > end => tracing::warn!(
                        store = %store.name, partition = p, checkpoint = c, end,
                        "the local state is ahead of its changelog (the changelog was deleted \
                         or recreated); rebuilding the state from the changelog"
                    ),
                    Some(c) => tracing::warn!(
                        store = %store.name, partition = p, checkpoint = c, end,
                        "the local state has a changelog checkpoint but no input positions; \
                         rebuilding it from the changelog"
                    ),
                    None if end > start => tracing::info!(
                        store = %store.name, partition = p,
                        "no local state for this store partition (a new or lost state \
                         directory); restoring it from the changelog"
                    ),
                    None => {}
                }
                backend.drop_partition(store.id, p)?;
                let marker = rebuild(
                    log,
                    backend.as_ref(),
                    (store, &topic, p),
                    start,
                    (&ckpt_key, progress),
                    memory,
                )?;
                if local.is_none() && from_changelog.is_none() {
                    from_changelog = marker;
                }
            }
        }
        lock(&store.store).reset_cache();
    }
    if let Some((positions, _)) = &from_changelog {
        let mut batch = StateBatch::new();
        batch.meta(&positions_key(task), &encode_positions(positions));
        backend.commit(&batch)?;
    }
    Ok(match from_changelog {
        Some((positions, clock)) => Prepared {
            positions: Some(positions),
            clock,
        },
        None => Prepared {
            positions: local,
            clock: None,
        },
    })
}

/// True when a marker in the changelog's `[from, end)` was written by
/// another state directory than `writer`.
fn written_elsewhere(
    log: &dyn Log,
    topic: &str,
    p: u32,
    from: u64,
    end: u64,
    writer: &str,
) -> Result<bool> {
    let mut pos = from;
    let mut records = Vec::new();
    while pos < end {
        records.clear();
        log.fetch(topic, p, pos, RESTORE_FETCH, &mut records)?;
        let Some(last) = records.last() else { break };
        pos = last.offset + 1;
        if records.iter().any(|r| meta::marker_of_another(r, writer)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Re-appends the local value of every key in the changelog's tail `[from, end)`.
fn repair(
    log: &dyn Log,
    backend: &dyn StateBackend,
    store: &Registered,
    (topic, p): (&str, u32),
    (from, end): (u64, u64),
    positions: &Positions,
    ckpt_key: &str,
) -> Result<()> {
    let mut keys = std::collections::BTreeSet::new();
    let mut pos = from;
    let mut records = Vec::new();
    while pos < end {
        records.clear();
        log.fetch(topic, p, pos, 1 << 20, &mut records)?;
        let Some(last) = records.last() else { break };
        pos = last.offset + 1;
        keys.extend(
            records
                .iter()
                .filter(|r| !meta::is_marker(r))
                .filter_map(|r| r.key.clone()),
        );
    }
    let mut batch = Batch::new();
    for k in &keys {
        let value = backend.get(store.id, p, k)?;
        batch.push(0, Some(k), value.as_deref(), &[]);
    }
    // The local clock stays as it is; the marker carries none.
    let writer = writer_id(backend)?;
    Marker {
        positions,
        clock: &[],
        writer: &writer,
    }
    .push(&mut batch, 0);
    log.append(topic, p, &batch)?;
    log.flush(topic, p)?;
    let (_, new_end) = log.offsets(topic, p)?;
    let mut meta = StateBatch::new();
    meta.meta(ckpt_key, &new_end.to_le_bytes());
    backend.commit(&meta)?;
    tracing::info!(store = %store.name, partition = p, keys = keys.len(),
        "repaired the changelog tail left by an interrupted commit");
    Ok(())
}

/// Applies a changelog partition from `start` on to a store partition
/// (empty, or holding the state at `start`), reporting to `progress`.
/// Returns the contents of the last marker.
fn rebuild(
    log: &dyn Log,
    backend: &dyn StateBackend,
    (store, topic, p): (&Registered, &str, u32),
    start: u64,
    (ckpt_key, progress): (&str, Progress<'_>),
    memory: usize,
) -> Result<Option<MarkerContents>> {
    let (_, end) = log.offsets(topic, p)?;
    progress
        .remaining
        .fetch_add(end.saturating_sub(start), Ordering::Relaxed);
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut marker = None;
    let mut applied = 0u64;
    let mut pos = start;
    let mut records = Vec::new();
    // Loaded sorted, as table files that RocksDB ingests.
    let mut changes = BulkChanges::within(memory, (end - start) as usize);
    if start < end {
        tracing::info!(store = %store.name, partition = p, records = end - start, "restoring from changelog {topic}");
    }
    let bar = progress_bar(end - start, &format!("restore {}/{p}", store.name));
    while pos < end {
        let before = pos;
        records.clear();
        log.fetch(topic, p, pos, RESTORE_FETCH, &mut records)?;
        let Some(last) = records.last() else { break };
        pos = last.offset + 1;
        for r in &records {
            if let Some(contents) = meta::read_marker(r) {
                marker = Some(contents?);
                continue;
            }
            if let Some(k) = &r.key {
                let v = r.value.as_deref();
                if !changes.has_room(k, v) {
                    // No checkpoint yet: after a crash mid-restore, the
                    // next start drops the partition and restores it again.
                    changes.load_into(backend, store.id, p)?;
                }
                changes.push(k, v);
            }
        }
        applied += records.len() as u64;
        progress
            .restored
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        progress
            .remaining
            .fetch_sub(pos - before, Ordering::Relaxed);
        if let Some(b) = &bar {
            b.set_position(pos - start);
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            let rate = applied as f64 / started.elapsed().as_secs_f64();
            tracing::info!(store = %store.name, partition = p, done = pos - start, total = end - start,
                "restoring: {:.0} records/s", rate);
        }
    }
    progress
        .remaining
        .fetch_sub(end.saturating_sub(pos), Ordering::Relaxed);
    changes.load_into(backend, store.id, p)?;
    // The checkpoint is committed once every entry is in.
    let mut batch = StateBatch::new();
    batch.meta(ckpt_key, &pos.to_le_bytes());
    backend.commit(&batch)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if applied > 0 {
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(store = %store.name, partition = p, records = applied,
            "restored from changelog in {secs:.2}s ({:.0} records/s)", applied as f64 / secs.max(1e-9));
    }
    Ok(marker)
}
