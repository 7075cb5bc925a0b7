//! Opening a partition's segments after a clean stop or a crash: telling a
//! torn tail, which is truncated, from damage, which is kept and reported.
//!
//! A **torn tail** is what a crash in the middle of a write leaves at the
//! end of the active segment: a header cut short, or a batch that runs past
//! the end of the file, beyond every record the partition acknowledged (see
//! [`read_acked`]). A writer truncates it, syncs, and logs a warning naming
//! the file and the byte position; nothing acknowledged is lost. A reader
//! only stops there (the writer may still be writing that batch).
//!
//! Everything else is **damage**, never truncated: a complete batch whose
//! checksum fails (it stays in place, indexed by its header, and reading it
//! is an error naming file, position and offsets), bytes that do not parse
//! as a batch, acknowledged records cut off the end of the file, or a
//! segment file missing between two others. Offsets past damage are never
//! reused: a writer continues in a new segment after the damaged range, so
//! a consumer whose position is past it never skips new records.

use super::segment::{self, Damage, ScanEnd, Segment};
use crate::error::{Error, IoContext, Result};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Name of the file, in a partition's directory, that holds the offset
/// after the last record the writer synced: what the partition has
/// acknowledged.
pub(crate) const ACKED_FILE: &str = "acked";

/// Name of the file, in a partition's directory, that holds the first
/// offset retention kept (written when retention deletes segments): a
/// first segment starting later than it is missing, not retained away.
pub(crate) const START_FILE: &str = "start";

/// The first offset retention kept (0 if it never deleted anything).
pub(crate) fn read_start(dir: &Path) -> Result<u64> {
    read_offset(dir, START_FILE).map(Option::unwrap_or_default)
}

/// The offset after the last acknowledged record, if the partition was
/// ever synced. The writer updates it after each sync of the data; it is
/// not synced itself, so after a machine crash it may lag behind (never run
/// ahead of) the data.
pub(crate) fn read_acked(dir: &Path) -> Result<Option<u64>> {
    read_offset(dir, ACKED_FILE)
}

/// An offset kept in file `name` of partition directory `dir`, if any.
fn read_offset(dir: &Path, name: &str) -> Result<Option<u64>> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
            Ok(b) => Ok(Some(u64::from_le_bytes(b))),
            Err(_) => {
                tracing::warn!(
                    file = %path.display(),
                    "offset file is damaged; ignored (damage near it may go unreported)"
                );
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Records `offset` in an offset file (the acknowledged end, in a file the
/// writer keeps open).
pub(crate) fn write_offset(file: &std::fs::File, path: &Path, offset: u64) -> Result<()> {
    file.write_all_at(&offset.to_le_bytes(), 0)
        .ctx(|| format!("writing {}", path.display()))
}

/// A partition's segments as found on disk, with the ranges of offsets
/// they cannot serve.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) segments: Vec<Segment>,
    /// Offset ranges no segment indexes (unparseable bytes, lost records),
    /// in offset order. Damaged batches that are indexed are in their
    /// segment's `damaged`.
    pub(crate) damage: Vec<Damage>,
}

impl Opened {
    /// Every damaged range, indexed or not, in offset order.
    pub(crate) fn all_damage(&self) -> Vec<Damage> {
        all_damage(&self.segments, &self.damage)
    }
}

/// The damaged batches `segments` indexed and the `unindexed` ranges,
/// together in offset order.
pub(crate) fn all_damage(segments: &[Segment], unindexed: &[Damage]) -> Vec<Damage> {
    let mut all: Vec<Damage> = segments
        .iter()
        .flat_map(|s| s.damaged.iter().cloned())
        .chain(unindexed.iter().cloned())
        .collect();
    all.sort_by_key(|d| d.from);
    all
}

/// Opens every segment in `dir`, in offset order. With `writer`, a torn tail
/// is truncated; otherwise it is left alone and not served. The active
/// segment's checksums are all checked, and with `verify_all` every
/// segment's (otherwise sealed segments are indexed from their headers, and
/// their checksums checked as they are read).
pub(crate) fn open_segments(
    dir: &Path,
    writer: bool,
    allow_gaps: bool,
    verify_all: bool,
) -> Result<Opened> {
    let acked = read_acked(dir)?;
    let start = read_start(dir)?;
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))? {
        let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
        if let Some(base) = entry
            .file_name()
            .to_str()
            .and_then(segment::parse_file_name)
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    let mut damage: Vec<Damage> = Vec::new();
    if let Some(&first) = bases.first()
        && first > start
        && !allow_gaps
    {
        damage.push(Damage {
            file: dir.join(segment::file_name(first)),
            position: 0,
            from: start,
            to: first,
            reason: "no segment holds these records (the first segment files are missing)".into(),
        });
    }
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let path = dir.join(segment::file_name(base));
        if let Some(prev) = segments.last() {
            if prev.next_offset > base {
                return Err(super::corrupt(
                    &prev.path,
                    prev.size,
                    format!(
                        "segment ends at offset {} but the next segment starts at {base}",
                        prev.next_offset
                    ),
                ));
            }
            match damage.last_mut() {
                // Damage at the end of the previous segment reaches the next one.
                Some(d) if d.file == prev.path && d.from >= prev.base_offset => d.to = base,
                _ if !allow_gaps && prev.next_offset < base => damage.push(Damage {
                    file: prev.path.clone(),
                    position: prev.size,
                    from: prev.next_offset,
                    to: base,
                    reason: "no segment holds these records (a segment file is missing)".into(),
                }),
                _ => {}
            }
        }
        let (mut seg, end) =
            Segment::open(path, base, writer && last, last || verify_all, allow_gaps)?;
        if let ScanEnd::Invalid {
            position,
            reason,
            tail,
        } = end
        {
            let unacknowledged = acked.is_none_or(|a| seg.next_offset >= a);
            if last && tail && unacknowledged {
                if writer {
                    tracing::warn!(
                        file = %seg.path.display(),
                        position,
                        next_offset = seg.next_offset,
                        "truncating torn tail of segment (a write cut short, never \
                         acknowledged): {reason}"
                    );
                    seg.truncate(position)?;
                }
            } else {
                // At least one record is in the bytes that do not parse; the
                // next segment, or the acknowledged end, says how many.
                let to = (seg.next_offset + 1).max(acked.unwrap_or(0));
                damage.push(Damage {
                    file: seg.path.clone(),
                    position,
                    from: seg.next_offset,
                    to,
                    reason,
                });
            }
        }
        segments.push(seg);
    }
    let end = damage
        .last()
        .map(|d| d.to)
        .into_iter()
        .chain(segments.last().map(|s| s.next_offset))
        .max()
        .unwrap_or(0);
    if let Some(a) = acked
        && a > end
    {
        let (file, position) = segments
            .last()
            .map_or((dir.to_owned(), 0), |s| (s.path.clone(), s.size));
        damage.push(Damage {
            file,
            position,
            from: end,
            to: a,
            reason: format!("{} acknowledged records are missing", a - end),
        });
    }
    Ok(Opened { segments, damage })
}
