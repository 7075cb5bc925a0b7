//! One partition of the embedded log: its segments, its writer, retention.

use super::format::BatchBuilder;
use super::quarantine::{self, Quarantined};
use super::recovery;
use super::segment::{self, Damage, ScanEnd, Segment};
use super::{EmbeddedTopicSettings, FsyncPolicy, TopicConfig};
use crate::error::{Error, IoContext, Result};
use crate::record::{Batch, Record, now_millis};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// The writer's side: the cross-process lock and sync bookkeeping.
#[derive(Debug)]
struct Writer {
    /// The partition's directory, locked for as long as this process
    /// writes the partition (a lock on the directory itself cannot be
    /// bypassed by deleting a file).
    _lock: File,
    /// The acknowledged-end file ([`recovery::ACKED_FILE`]).
    acked: File,
    last_sync: Instant,
    last_retention_check: Instant,
    dirty: bool,
}

/// How often `sync` also applies retention (segments roll rarely on quiet topics).
const RETENTION_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// A partition directory opened for reading, and for writing once the first
/// append takes the writer lock.
#[derive(Debug)]
pub(crate) struct Partition {
    topic: String,
    id: u32,
    dir: PathBuf,
    config: TopicConfig,
    settings: EmbeddedTopicSettings,
    fsync: FsyncPolicy,
    segments: Vec<Segment>,
    /// Offset ranges that no segment indexes and that cannot be served.
    damage: Vec<Damage>,
    /// Damaged ranges set aside: readers continue after them.
    quarantined: Vec<Quarantined>,
    writer: Option<Writer>,
    /// Bytes of the sealed segments right after the last compaction.
    compacted_bytes: u64,
    /// Offset where the next compaction pass starts indexing keys.
    clean_until: u64,
}

impl Partition {
    /// Opens (creating the directory if needed) a partition for reading.
    pub(crate) fn open(
        topic: &str,
        id: u32,
        dir: PathBuf,
        (config, settings): (TopicConfig, EmbeddedTopicSettings),
        fsync: FsyncPolicy,
    ) -> Result<Partition> {
        std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        let opened = recovery::open_segments(&dir, false, config.is_compacted(), false)?;
        let partition = Partition {
            topic: topic.to_owned(),
            id,
            quarantined: quarantine::load(&dir)?,
            dir,
            config,
            settings,
            fsync,
            segments: opened.segments,
            damage: opened.damage,
            writer: None,
            compacted_bytes: 0,
            clean_until: 0,
        };
        partition.report_damage();
        Ok(partition)
    }

    /// Logs every damaged range that is not quarantined, at error level.
    fn report_damage(&self) {
        for d in self.damage() {
            tracing::error!(
                topic = %self.topic, partition = self.id, file = %d.file.display(),
                position = d.position, from = d.from, to = d.to,
                "damaged log data, kept in place and not served: {} (`tributary log verify` \
                 reports it, `tributary log quarantine` sets it aside)",
                d.reason
            );
        }
    }

    /// The quarantined ranges, in offset order.
    pub(crate) fn quarantined(&self) -> &[Quarantined] {
        &self.quarantined
    }

    /// Sets every damaged range aside (see [`quarantine`]): checks every
    /// batch of every segment, copies what is damaged aside and lists it,
    /// so that readers continue after it. Takes the writer lock. Returns
    /// the ranges quarantined now.
    pub(crate) fn quarantine(&mut self) -> Result<Vec<Quarantined>> {
        self.become_writer()?;
        let found = recovery::open_segments(&self.dir, false, self.config.is_compacted(), true)?;
        let mut added = Vec::new();
        for d in found.all_damage() {
            if quarantine::covers(&self.quarantined, &d) {
                continue;
            }
            self.quarantined = quarantine::add(&self.dir, &d)?;
            tracing::warn!(
                topic = %self.topic, partition = self.id, from = d.from, to = d.to,
                "quarantined damaged records: readers continue after them"
            );
            if let Some(q) = self
                .quarantined
                .iter()
                .find(|q| q.from == d.from && q.to == d.to)
            {
                added.push(q.clone());
            }
        }
        Ok(added)
    }

    /// First offset still held.
    pub(crate) fn start_offset(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.base_offset)
    }

    /// Offset the next record will get: after every record held, and after
    /// every damaged range (offsets are never reused).
    pub(crate) fn end_offset(&self) -> u64 {
        let held = self.segments.last().map_or(0, |s| s.next_offset);
        self.damage.last().map_or(held, |d| d.to.max(held))
    }

    /// The damaged ranges found when the partition was opened (batches of
    /// the active segment that fail their checksum, ranges no segment
    /// holds) that are not quarantined, in offset order.
    pub(crate) fn damage(&self) -> Vec<Damage> {
        let mut all = recovery::all_damage(&self.segments, &self.damage);
        all.retain(|d| !quarantine::covers(&self.quarantined, d));
        all
    }

    /// Total bytes of the partition's segments.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// True when this process holds the writer lock.
    pub(crate) fn is_writer(&self) -> bool {
        self.writer.is_some()
    }

    /// Takes the writer lock (once) and recovers the tail for writing.
    fn become_writer(&mut self) -> Result<()> {
        if self.writer.is_some() {
            return Ok(());
        }
        let lock_path = self.dir.clone();
        let lock = File::open(&lock_path).ctx(|| format!("opening {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(super::EmbeddedError::Locked {
                    topic: self.topic.clone(),
                    partition: self.id,
                    lock: lock_path,
                }
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("locking {}", lock_path.display()), e));
            }
        }
        // Reopen as the writer: this truncates a torn tail left by a crash.
        let opened = recovery::open_segments(&self.dir, true, self.config.is_compacted(), false)?;
        self.segments = opened.segments;
        self.damage = opened.damage;
        // After damage at the end, new records go to a new segment, at
        // offsets past the damaged range.
        let end = self.end_offset();
        if self.segments.last().is_none_or(|s| s.next_offset < end) {
            if !self.damage.is_empty() {
                tracing::error!(
                    topic = %self.topic, partition = self.id, next_offset = end,
                    "the partition ends in damaged records; appending after them in a new segment"
                );
            }
            self.segments
                .push(Segment::create(&self.dir, end, self.config.is_compacted())?);
        }
        let acked_path = self.dir.join(recovery::ACKED_FILE);
        let acked = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&acked_path)
            .ctx(|| format!("opening {}", acked_path.display()))?;
        self.writer = Some(Writer {
            _lock: lock,
            acked,
            last_sync: Instant::now(),
            last_retention_check: Instant::now(),
            dirty: false,
        });
        Ok(())
    }

    /// Appends a batch, assigning offsets; returns the first offset.
    pub(crate) fn append(&mut self, batch: &Batch) -> Result<u64> {
        if batch.is_empty() {
            return Ok(self.end_offset());
        }
        let limit = super::format::MAX_BATCH_LEN as usize;
        let size = super::format::HEADER_LEN + batch.size();
        if size > limit {
            return Err(Error::TooLarge {
                topic: self.topic.clone(),
                partition: self.id,
                records: batch.len(),
                bytes: size,
                limit,
            });
        }
        self.become_writer()?;
        let base = self.end_offset();
        let needs_roll = self
            .segments
            .last()
            .is_some_and(|s| s.size > 0 && s.size + size as u64 > self.settings.segment_bytes);
        if needs_roll {
            self.roll(base)?;
        }
        let header = super::format::header_for(batch, base);
        let seg = self
            .segments
            .last_mut()
            .ok_or_else(|| Error::Runtime("no segment".into()))?;
        seg.append(&header, batch.framed())?;
        let fsync = self.fsync;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::Runtime("not the writer".into()))?;
        writer.dirty = true;
        match fsync {
            FsyncPolicy::Always => self.sync()?,
            FsyncPolicy::Interval(d) if writer.last_sync.elapsed() >= d => self.sync()?,
            _ => {}
        }
        Ok(base)
    }

    fn roll(&mut self, base: u64) -> Result<()> {
        if self.fsync != FsyncPolicy::Never
            && let Some(s) = self.segments.last()
        {
            s.sync()?;
        }
        self.segments.push(Segment::create(
            &self.dir,
            base,
            self.config.is_compacted(),
        )?);
        // Compact when the sealed segments have grown to twice their size
        // after the last compaction (plus a segment): the cost of rereading
        // the partition is then spread over as much new data.
        let sealed: u64 = self.segments.iter().rev().skip(1).map(|s| s.size).sum();
        if self.config.is_compacted()
            && sealed > 2 * self.compacted_bytes + self.settings.segment_bytes
        {
            self.compact()?;
            self.compacted_bytes = self.segments.iter().rev().skip(1).map(|s| s.size).sum();
        }
        self.enforce_retention(now_millis())
    }

    /// Makes appended data durable, unless the policy is [`FsyncPolicy::Never`];
    /// also applies retention every [`RETENTION_CHECK_INTERVAL`].
    pub(crate) fn sync(&mut self) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        if w.dirty {
            if self.fsync != FsyncPolicy::Never
                && let Some(s) = self.segments.last()
            {
                s.sync()?;
            }
            let end = self.segments.last().map_or(0, |s| s.next_offset);
            recovery::write_offset(&w.acked, &self.dir.join(recovery::ACKED_FILE), end)?;
        }
        w.dirty = false;
        w.last_sync = Instant::now();
        if w.last_retention_check.elapsed() >= RETENTION_CHECK_INTERVAL {
            w.last_retention_check = Instant::now();
            self.enforce_retention(now_millis())?;
        }
        Ok(())
    }

    /// Deletes sealed segments past the retention time or size. The active
    /// segment is never deleted. Returns nothing; deletions are logged.
    pub(crate) fn enforce_retention(&mut self, now_ms: i64) -> Result<()> {
        let mut total = self.size_bytes();
        while self.segments.len() > 1 {
            let seg = &self.segments[0];
            let too_old = self
                .config
                .retention_ms
                .is_some_and(|ms| seg.max_timestamp < now_ms.saturating_sub(ms));
            let too_big = self
                .config
                .retention_bytes
                .is_some_and(|max| total - seg.size >= max);
            if !(too_old || too_big) {
                break;
            }
            let seg = self.segments.remove(0);
            total -= seg.size;
            // Recorded first: a first segment starting later than this is
            // missing, not retained away.
            let start = self.segments[0].base_offset;
            let path = self.dir.join(recovery::START_FILE);
            super::offsets::write_synced(&path, &start.to_le_bytes())?;
            tracing::info!(
                topic = %self.topic, partition = self.id, file = %seg.path.display(),
                too_old, too_big, "deleting segment by retention"
            );
            std::fs::remove_file(&seg.path)
                .ctx(|| format!("deleting segment {}", seg.path.display()))?;
        }
        let start = self.start_offset();
        self.damage.retain(|d| d.to > start);
        Ok(())
    }

    /// Calls `f` on every record of segment `i`, reading about 1 MiB at a
    /// time (so memory does not grow with the segment).
    fn for_each_record(&self, i: usize, mut f: impl FnMut(&Record) -> Result<()>) -> Result<()> {
        let seg = &self.segments[i];
        let mut chunk = Vec::new();
        let mut pos = seg.base_offset;
        loop {
            chunk.clear();
            seg.read(pos, 1 << 20, &self.skip_ranges(), &mut chunk)?;
            let Some(last) = chunk.last() else {
                return Ok(());
            };
            pos = last.offset + 1;
            for r in &chunk {
                f(r)?;
            }
        }
    }

    /// Compacts the sealed segments: each keeps only the records that are
    /// the latest of their key in the whole partition (records without a
    /// key count as one key: the latest is kept). Offsets are kept. A
    /// segment is rewritten to a temporary file, synced, and renamed over
    /// the original, so a crash leaves either version; readers in other
    /// processes keep reading the version they opened.
    pub(crate) fn compact(&mut self) -> Result<()> {
        self.compact_pass(COMPACTION_INDEX_KEYS)
    }

    /// One compaction pass indexing at most about `index_keys` keys.
    fn compact_pass(&mut self, index_keys: usize) -> Result<()> {
        self.become_writer()?;
        let sealed = self.segments.len().saturating_sub(1);
        if sealed == 0 {
            return Ok(());
        }
        // Index the latest offset of each key (by a 128-bit hash of it) over
        // the dirty part, from where the previous pass stopped, one segment
        // at a time, until the index is full: memory stays bounded however
        // many keys the partition holds (Kafka's cleaner does the same).
        // Then rewrite the sealed segments up to there, dropping each record
        // whose key has a later offset in the index.
        let first_dirty = self
            .segments
            .iter()
            .rposition(|s| s.base_offset <= self.clean_until)
            .unwrap_or(0);
        let mut latest: HashMap<u128, u64> = HashMap::new();
        let mut indexed_to = first_dirty;
        for i in first_dirty..self.segments.len() {
            if indexed_to > first_dirty && latest.len() >= index_keys {
                break;
            }
            self.for_each_record(i, |r| {
                latest.insert(key_hash(r.key.as_deref()), r.offset);
                Ok(())
            })?;
            indexed_to = i + 1;
        }
        let sealed = sealed.min(indexed_to);
        self.clean_until = self
            .segments
            .get(indexed_to)
            .map_or(u64::MAX, |s| s.base_offset);
        if indexed_to == self.segments.len() {
            // Everything was indexed: the next pass starts from the beginning.
            self.clean_until = 0;
        }
        let is_latest = |r: &Record| {
            latest
                .get(&key_hash(r.key.as_deref()))
                .is_none_or(|&last| last <= r.offset)
        };
        let mut removed = Vec::new();
        for i in 0..sealed {
            let (mut kept, mut dropped) = (0u64, 0u64);
            self.for_each_record(i, |r| {
                if is_latest(r) {
                    kept += 1;
                } else {
                    dropped += 1;
                }
                Ok(())
            })?;
            if dropped == 0 {
                continue;
            }
            let seg = &self.segments[i];
            let (base, path) = (seg.base_offset, seg.path.clone());
            if kept == 0 {
                std::fs::remove_file(&path)
                    .ctx(|| format!("deleting compacted-away {}", path.display()))?;
                removed.push(i);
                continue;
            }
            let tmp = path.with_extension("log.compacting");
            let file = File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let mut batch = BatchBuilder::new();
            let mut batch_base = None;
            let write = |out: &mut std::io::BufWriter<File>, bytes: &[u8]| {
                out.write_all(bytes)
                    .ctx(|| format!("writing {}", tmp.display()))
            };
            self.for_each_record(i, |r| {
                if !is_latest(r) {
                    return Ok(());
                }
                let first = *batch_base.get_or_insert(r.offset);
                let delta = (r.offset - first) as u32;
                batch.push_at(
                    delta,
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &r.headers,
                );
                if batch.len() >= 1000 {
                    write(&mut out, batch.finish(first))?;
                    batch.clear();
                    batch_base = None;
                }
                Ok(())
            })?;
            if let Some(first) = batch_base {
                write(&mut out, batch.finish(first))?;
            }
            out.into_inner()
                .map_err(|e| Error::io(format!("writing {}", tmp.display()), e.into_error()))?
                .sync_all()
                .ctx(|| format!("syncing {}", tmp.display()))?;
            std::fs::rename(&tmp, &path)
                .ctx(|| format!("replacing {} by its compacted version", path.display()))?;
            let (seg, end) = Segment::open(path.clone(), base, false, true, true)?;
            if let ScanEnd::Invalid {
                position, reason, ..
            } = end
            {
                return Err(super::corrupt(path, position, reason));
            }
            tracing::debug!(topic = %self.topic, partition = self.id, file = %seg.path.display(),
                kept, dropped, "compacted segment");
            self.segments[i] = seg;
        }
        for i in removed.into_iter().rev() {
            self.segments.remove(i);
        }
        Ok(())
    }

    /// Picks up what another process appended since we last looked.
    /// Returns true if anything new is visible.
    pub(crate) fn refresh(&mut self) -> Result<bool> {
        if self.writer.is_some() {
            return Ok(false);
        }
        let before = self.end_offset();
        // A segment that ends in damage gets nothing more: the writer
        // continues in a new one.
        let ends_damaged = |seg: &Segment| self.damage.iter().any(|d| d.file == seg.path);
        if let Some(last) = self.segments.last()
            && !ends_damaged(last)
        {
            let last = self.segments.len() - 1;
            let seg = &mut self.segments[last];
            let from = seg.size;
            if let ScanEnd::Invalid {
                position,
                reason,
                tail: false,
            } = seg.scan_from(from, true)?
            {
                let d = Damage {
                    file: seg.path.clone(),
                    position,
                    from: seg.next_offset,
                    to: seg.next_offset + 1,
                    reason,
                };
                tracing::error!(
                    topic = %self.topic, partition = self.id, file = %d.file.display(),
                    position, from = d.from, "damaged log data, kept in place and not served: {}",
                    d.reason
                );
                self.damage.push(d);
            }
        }
        // New segments rolled by the writer, and old ones removed by retention.
        let mut on_disk = Vec::new();
        for entry in
            std::fs::read_dir(&self.dir).ctx(|| format!("listing {}", self.dir.display()))?
        {
            let entry = entry.ctx(|| format!("listing {}", self.dir.display()))?;
            if let Some(base) = entry
                .file_name()
                .to_str()
                .and_then(segment::parse_file_name)
            {
                on_disk.push(base);
            }
        }
        on_disk.sort_unstable();
        self.segments
            .retain(|s| on_disk.binary_search(&s.base_offset).is_ok());
        let known = self.segments.last().map(|s| s.base_offset);
        for base in on_disk.into_iter().filter(|b| known.is_none_or(|k| *b > k)) {
            let after_damage = self.segments.last().is_some_and(|last| {
                self.damage
                    .last()
                    .is_some_and(|d| d.file == last.path && base >= d.from)
            });
            if after_damage {
                // The writer continued after the damage: it ends here.
                if let Some(d) = self.damage.last_mut() {
                    d.to = base;
                }
            } else if self.end_offset() != base && !self.segments.is_empty() {
                break; // the previous segment is still being completed
            }
            let path = self.dir.join(segment::file_name(base));
            let (seg, _) = Segment::open(path, base, false, true, self.config.is_compacted())?;
            self.segments.push(seg);
        }
        Ok(self.end_offset() != before)
    }

    /// Reads records from `offset` into `out` (about `max_bytes` of them).
    pub(crate) fn fetch(&self, offset: u64, max_bytes: usize, out: &mut Vec<Record>) -> Result<()> {
        let (start, end) = (self.start_offset(), self.end_offset());
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                topic: self.topic.clone(),
                partition: self.id,
                offset,
                start,
                end,
            });
        }
        // Readers continue after a quarantined range.
        let mut offset = offset;
        while let Some(q) = self
            .quarantined
            .iter()
            .find(|q| q.from <= offset && offset < q.to)
        {
            offset = q.to;
        }
        if let Some(d) = self
            .damage
            .iter()
            .find(|d| d.from <= offset && offset < d.to)
        {
            return Err(d.to_error());
        }
        let skip = self.skip_ranges();
        let i = self.segments.partition_point(|s| s.base_offset <= offset);
        let before = out.len();
        for seg in &self.segments[i.saturating_sub(1)..] {
            if seg.next_offset > offset {
                seg.read(offset, max_bytes, &skip, out)?;
                if out.len() > before {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The quarantined ranges, as offset pairs, for segment reads to skip.
    fn skip_ranges(&self) -> Vec<(u64, u64)> {
        self.quarantined.iter().map(|q| (q.from, q.to)).collect()
    }

    /// First offset with timestamp `>= timestamp`, or the end offset.
    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Result<u64> {
        for seg in &self.segments {
            if let Some(o) = seg.offset_for_timestamp(timestamp)? {
                return Ok(o);
            }
        }
        Ok(self.end_offset())
    }
}

/// Most keys one compaction pass indexes (about 40 MiB of index).
const COMPACTION_INDEX_KEYS: usize = 1 << 20;

/// A 128-bit hash of a record key, for the compaction index (two SipHash
/// passes with different salts: a collision, which could drop a key's
/// latest record, is as unlikely as with Kafka's MD5 offset map).
fn key_hash(key: Option<&[u8]>) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |salt: u64| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0x5EED_0001)) << 64) | u128::from(half(0x5EED_0002))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn passes_with_a_small_index_converge_to_the_latest_record_per_key() {
        let dir = tempfile::tempdir().unwrap();
        // Not marked compacted, so that rolling segments does not compact
        // on its own: the passes below do it all.
        let config = (
            TopicConfig::new(1),
            EmbeddedTopicSettings::default().segment_bytes(1024),
        );
        let mut p =
            Partition::open("t", 0, dir.path().join("0"), config, FsyncPolicy::Never).unwrap();
        let mut latest = BTreeMap::new();
        let mut batch = Batch::new();
        for i in 0..3000u64 {
            let key = format!("k{}", (i * 7) % 200);
            batch.clear();
            batch.push(i as i64, Some(key.as_bytes()), Some(&i.to_le_bytes()), &[]);
            p.append(&batch).unwrap();
            latest.insert(key, i);
        }
        let count = |p: &Partition| {
            let mut out = Vec::new();
            let mut pos = p.start_offset();
            while pos < p.end_offset() {
                let before = out.len();
                p.fetch(pos, 1 << 20, &mut out).unwrap();
                pos = out[before..]
                    .last()
                    .map_or(p.end_offset(), |r: &Record| r.offset + 1);
            }
            out
        };
        assert_eq!(count(&p).len(), 3000);
        // An index of 40 keys covers a few segments per pass; enough passes
        // clean the whole partition.
        for _ in 0..100 {
            p.compact_pass(40).unwrap();
        }
        let records = count(&p);
        let mut seen = BTreeMap::new();
        for r in &records {
            let key = String::from_utf8(r.key.as_ref().unwrap().to_vec()).unwrap();
            seen.insert(key, r.offset);
        }
        assert_eq!(seen, latest, "every key keeps its latest record");
        assert_eq!(records.len(), 200, "one record per key is left");
    }
}
