//! Opening a partition's segments after a clean stop or a crash.
//!
//! Only the last (active) segment can hold a torn write. It is scanned with
//! every CRC checked; the scan stops at the last valid batch boundary. A
//! writer then truncates the file there, syncs it and logs a warning naming
//! the file and the byte position: the torn batch was never acknowledged, so
//! nothing acknowledged is lost. A reader only stops there (the writer may
//! still be writing that batch).
//!
//! Damage that is not a tail is corruption, and a clear error: a batch with a
//! bad CRC followed by more data in the active segment, or a sealed segment
//! that does not end exactly where the next one begins. Sealed segments are
//! indexed from their headers and their CRCs are checked on every read, so a
//! flipped byte in old data is reported when read, never served.

use super::segment::{self, ScanEnd, Segment};
use crate::error::{Error, IoContext, Result};
use std::path::Path;

/// Opens every segment in `dir`, in offset order. With `writer`, a torn tail
/// is truncated; otherwise it is left alone and not served.
pub(crate) fn open_segments(dir: &Path, writer: bool, allow_gaps: bool) -> Result<Vec<Segment>> {
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
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let path = dir.join(segment::file_name(base));
        if let Some(prev) = segments.last()
            && (prev.next_offset > base || (!allow_gaps && prev.next_offset != base))
        {
            return Err(Error::Corrupt {
                file: prev.path.clone(),
                position: prev.size,
                reason: format!(
                    "segment ends at offset {} but the next segment starts at {base}",
                    prev.next_offset
                ),
            });
        }
        let (mut seg, end) = Segment::open(path, base, writer && last, last, allow_gaps)?;
        match end {
            ScanEnd::Clean => {}
            ScanEnd::Invalid {
                position,
                reason,
                tail,
            } if last && tail => {
                if writer {
                    tracing::warn!(
                        file = %seg.path.display(),
                        position,
                        next_offset = seg.next_offset,
                        "truncating torn tail of segment: {reason}"
                    );
                    seg.truncate(position)?;
                }
            }
            ScanEnd::Invalid {
                position, reason, ..
            } => {
                return Err(Error::Corrupt {
                    file: seg.path.clone(),
                    position,
                    reason,
                });
            }
        }
        segments.push(seg);
    }
    Ok(segments)
}
