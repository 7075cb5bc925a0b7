//! Quarantine: setting a damaged range aside so that readers continue
//! after it, as Kafka's tools allow recovering past a bad segment.
//!
//! A partition's `quarantine/` directory holds a copy of each damaged
//! range's bytes (`<from>-<to>.bin`, when there are bytes to copy) and
//! `ranges.json`, the list of quarantined ranges. The segment files are
//! not changed: the damaged bytes stay where they were too. Readers skip a
//! quarantined range (its offsets are a visible gap, reported by `describe`
//! and `tributary log verify`); nothing else is skipped.

use super::format::{BatchHeader, HEADER_LEN};
use super::offsets::write_synced;
use super::segment::Damage;
use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Name of the quarantine directory in a partition's directory.
pub(crate) const DIR: &str = "quarantine";
const RANGES: &str = "ranges.json";

/// A damaged range set aside: readers continue after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// First offset set aside.
    pub from: u64,
    /// Offset after the last one set aside.
    pub to: u64,
    /// The segment file the damage was found in.
    pub file: PathBuf,
    /// Byte position of the damage in it.
    pub position: u64,
    /// What was wrong.
    pub reason: String,
    /// The copy of the damaged bytes, if there were bytes to copy.
    pub copy: Option<PathBuf>,
}

/// True when the `quarantined` ranges cover `damage`.
pub(crate) fn covers(quarantined: &[Quarantined], damage: &Damage) -> bool {
    quarantined
        .iter()
        .any(|q| q.from <= damage.from && damage.to <= q.to)
}

/// The ranges quarantined in partition directory `dir`, in offset order.
pub(crate) fn load(dir: &Path) -> Result<Vec<Quarantined>> {
    let path = dir.join(DIR).join(RANGES);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| super::corrupt(path, 0, format!("quarantine list is not valid: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Quarantines `damage` in partition directory `dir`: copies its bytes
/// aside, then adds it to the list (written whole, synced, renamed into
/// place). Returns the new list.
pub(crate) fn add(dir: &Path, damage: &Damage) -> Result<Vec<Quarantined>> {
    let qdir = dir.join(DIR);
    std::fs::create_dir_all(&qdir).ctx(|| format!("creating {}", qdir.display()))?;
    let copy = copy_bytes(&qdir, damage)?;
    let mut ranges = load(dir)?;
    ranges.push(Quarantined {
        from: damage.from,
        to: damage.to,
        file: damage.file.clone(),
        position: damage.position,
        reason: damage.reason.clone(),
        copy,
    });
    ranges.sort_by_key(|q| q.from);
    let bytes = serde_json::to_vec_pretty(&ranges)
        .map_err(|e| Error::Runtime(format!("encoding the quarantine list: {e}")))?;
    let tmp = qdir.join(format!("{RANGES}.tmp"));
    write_synced(&tmp, &bytes)?;
    std::fs::rename(&tmp, qdir.join(RANGES)).ctx(|| format!("writing {}", qdir.display()))?;
    Ok(ranges)
}

/// Copies the damaged bytes: the damaged batch when its header gives its
/// length, else everything from the damage to the end of the file.
fn copy_bytes(qdir: &Path, damage: &Damage) -> Result<Option<PathBuf>> {
    let Ok(file) = std::fs::File::open(&damage.file) else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .ctx(|| format!("reading metadata of {}", damage.file.display()))?
        .len();
    if !damage.file.is_file() || damage.position >= len {
        return Ok(None);
    }
    let rest = len - damage.position;
    let mut header = [0u8; HEADER_LEN];
    let size = match file.read_exact_at(&mut header, damage.position) {
        Ok(()) => BatchHeader::parse(&header)
            .ok()
            .map(|h| u64::from(h.len))
            .filter(|&n| n <= rest)
            .unwrap_or(rest),
        Err(_) => rest,
    };
    let mut bytes = vec![0u8; size as usize];
    file.read_exact_at(&mut bytes, damage.position)
        .ctx(|| format!("reading {}", damage.file.display()))?;
    let path = qdir.join(format!("{}-{}.bin", damage.from, damage.to));
    write_synced(&path, &bytes)?;
    Ok(Some(path))
}
