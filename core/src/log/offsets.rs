//! Consumer-group positions of the embedded log, one JSON file per group.
//!
//! `groups/<group>.json` maps `topic/partition` to the next offset to read.
//! Files are replaced atomically (write a temporary file, sync, rename), so a
//! crash leaves either the old or the new positions, never a mix.

use super::TopicPartition;
use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Serialize, Deserialize)]
struct GroupFile {
    offsets: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    topic: String,
    partition: u32,
    offset: u64,
}

/// Reads and writes group offset files under one directory.
#[derive(Debug)]
pub(crate) struct OffsetStore {
    dir: PathBuf,
}

impl OffsetStore {
    pub(crate) fn new(dir: PathBuf) -> Self {
        OffsetStore { dir }
    }

    fn path(&self, group: &str) -> PathBuf {
        self.dir.join(format!("{group}.json"))
    }

    pub(crate) fn load(&self, group: &str) -> Result<BTreeMap<TopicPartition, u64>> {
        let path = self.path(group);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let file: GroupFile = serde_json::from_slice(&bytes).map_err(|e| {
            super::corrupt(&path, 0, format!("group offsets are not valid JSON: {e}"))
        })?;
        Ok(file
            .offsets
            .into_iter()
            .map(|e| (TopicPartition::new(e.topic, e.partition), e.offset))
            .collect())
    }

    /// Merges `offsets` into the group's stored positions.
    pub(crate) fn merge(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        let mut all = self.load(group)?;
        for (tp, o) in offsets {
            all.insert(tp.clone(), *o);
        }
        self.store(group, &all)
    }

    /// Replaces the group's stored positions with `all`.
    pub(crate) fn store(&self, group: &str, all: &BTreeMap<TopicPartition, u64>) -> Result<()> {
        std::fs::create_dir_all(&self.dir).ctx(|| format!("creating {}", self.dir.display()))?;
        let file = GroupFile {
            offsets: all
                .iter()
                .map(|(tp, &offset)| Entry {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset,
                })
                .collect(),
        };
        let path = self.path(group);
        let tmp = self.dir.join(format!(".{group}.json.tmp"));
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::Runtime(format!("encoding group offsets: {e}")))?;
        write_synced(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)
            .ctx(|| format!("renaming {} to {}", tmp.display(), path.display()))
    }

    pub(crate) fn list(&self) -> Result<Vec<String>> {
        let mut groups = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(groups),
            Err(e) => return Err(Error::io(format!("listing {}", self.dir.display()), e)),
        };
        for entry in entries {
            let entry = entry.ctx(|| format!("listing {}", self.dir.display()))?;
            let name = entry.file_name();
            if let Some(g) = name.to_str().and_then(|n| n.strip_suffix(".json"))
                && !g.starts_with('.')
            {
                groups.push(g.to_owned());
            }
        }
        groups.sort();
        Ok(groups)
    }
}

/// Writes `bytes` to `path` and syncs the file.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).ctx(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .ctx(|| format!("writing {}", path.display()))?;
    f.sync_all().ctx(|| format!("syncing {}", path.display()))
}
