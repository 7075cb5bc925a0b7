//! State in one RocksDB instance per process.

use crate::error::{Error, Result};
use crate::{
    Op, StateBackend, StateBatch, StateConfig, StoreId, partition_range, prefixed, prefixed_into,
};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, IngestExternalFileOptions, Options,
    SstFileWriter, WriteBatch, WriteBufferManager,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Column family of metadata (positions, checkpoints).
const META_CF: &str = "__tributary_meta";
/// Name prefix of the table files written by bulk loads before ingestion.
const LOAD_PREFIX: &str = "tributary-load-";

/// Every store of a process in one RocksDB database: a column family per
/// store, keys prefixed by partition, and one memory budget shared by all
/// (a block cache, with the memtables charged to it by a write-buffer
/// manager).
pub struct RocksState {
    db: DB,
    path: PathBuf,
    names: Vec<String>,
    /// Options of every store's column family (for table files written by
    /// [`StateBackend::load`]).
    cf_opts: Options,
    /// Numbers the table files that bulk loads write.
    loads: AtomicU64,
    // Kept alive for as long as the database uses them.
    cache: Cache,
    _buffers: WriteBufferManager,
    _trimmer: crate::trim::Trimmer,
}

impl std::fmt::Debug for RocksState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksState")
            .field("path", &self.path)
            .field("stores", &self.names)
            .finish()
    }
}

impl RocksState {
    /// Opens (creating if needed) the database at `path` with these stores.
    /// Stores present on disk but not listed are kept, unused.
    pub fn open(path: impl AsRef<Path>, stores: &[String], config: StateConfig) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let err = |source| Error::Rocks {
            path: path.display().to_string(),
            source,
        };
        let cache = Cache::new_lru_cache(config.memory_budget);
        // Memtables may take up to half of the budget; their memory is
        // charged to the block cache, so the total stays within the budget.
        let buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            config.memory_budget / 2,
            false,
            cache.clone(),
        );
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        // Index and filter blocks live in the cache, within the budget, cut
        // into 4 KiB partitions under a pinned top level. A whole-file
        // filter (megabytes for a large file) does not fit the cache's
        // shards: it was evicted and read again, hashed for its checksum,
        // on almost every lookup once the state outgrew the cache.
        table.set_cache_index_and_filter_blocks(true);
        table.set_cache_index_and_filter_blocks_with_high_priority(true);
        table.set_bloom_filter(10.0, false);
        table.set_partition_filters(true);
        table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_metadata_block_size(4096);
        table.set_pin_top_level_index_and_filter(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        let mut cf_opts = Options::default();
        cf_opts.set_block_based_table_factory(&table);
        cf_opts.set_write_buffer_manager(&buffers);
        cf_opts.set_write_buffer_size((config.memory_budget / 8).clamp(1 << 20, 64 << 20));
        let mut db_opts = cf_opts.clone();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_background_jobs(2);
        // Flush all column families together: the small metadata family
        // would otherwise keep old write-ahead-log files alive, and RocksDB
        // would keep forcing tiny flushes to free them.
        db_opts.set_atomic_flush(true);

        let mut cfs: Vec<String> = DB::list_cf(&db_opts, &path).unwrap_or_default();
        for name in stores
            .iter()
            .map(String::as_str)
            .chain([META_CF, "default"])
        {
            if !cfs.iter().any(|c| c == name) {
                cfs.push(name.to_owned());
            }
        }
        let descriptors = cfs
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(n, cf_opts.clone()));
        // Table files of bulk loads that a crash left behind.
        if let Ok(entries) = std::fs::read_dir(&path) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(LOAD_PREFIX) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let db = DB::open_cf_descriptors(&db_opts, &path, descriptors).map_err(err)?;
        tracing::info!(path = %path.display(), stores = ?stores, budget = config.memory_budget, "opened state");
        Ok(RocksState {
            db,
            path,
            names: stores.to_vec(),
            cf_opts,
            loads: AtomicU64::new(0),
            cache,
            _buffers: buffers,
            _trimmer: crate::trim::Trimmer::start(),
        })
    }

    /// Opens an existing database with every store it holds (for tools:
    /// `tributary state`). Fails if there is no database at `path`.
    pub fn open_existing(path: impl AsRef<Path>, config: StateConfig) -> Result<Self> {
        let path = path.as_ref();
        let names = DB::list_cf(&Options::default(), path).map_err(|source| Error::Rocks {
            path: path.display().to_string(),
            source,
        })?;
        let stores: Vec<String> = names
            .into_iter()
            .filter(|n| n != META_CF && n != "default")
            .collect();
        Self::open(path, &stores, config)
    }

    /// Applies a batch atomically, through the write-ahead log.
    fn write(&self, batch: &StateBatch) -> Result<()> {
        let mut wb = WriteBatch::default();
        let meta = self.meta_cf()?;
        // Column families resolved once per batch; keys built in one buffer.
        let mut cfs = Vec::with_capacity(self.names.len());
        for i in 0..self.names.len() {
            cfs.push(self.cf(StoreId(i as u32))?);
        }
        let cf = |s: StoreId| {
            cfs.get(s.0 as usize)
                .copied()
                .ok_or_else(|| Error::UnknownStore(format!("#{}", s.0)))
        };
        let mut key = Vec::new();
        for op in batch.ops() {
            match op? {
                Op::Put {
                    store,
                    partition,
                    key: k,
                    value,
                } => {
                    prefixed_into(&mut key, partition, k);
                    wb.put_cf(cf(store)?, &key, value);
                }
                Op::Delete {
                    store,
                    partition,
                    key: k,
                } => {
                    prefixed_into(&mut key, partition, k);
                    wb.delete_cf(cf(store)?, &key);
                }
                Op::Meta { key, value } => wb.put_cf(meta, key, value),
            }
        }
        self.db.write(wb).map_err(|e| self.err(e))
    }

    fn err(&self, source: rocksdb::Error) -> Error {
        Error::Rocks {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn cf(&self, store: StoreId) -> Result<&rocksdb::ColumnFamily> {
        let name = self
            .names
            .get(store.0 as usize)
            .ok_or_else(|| Error::UnknownStore(format!("#{}", store.0)))?;
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::UnknownStore(name.clone()))
    }

    fn meta_cf(&self) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(META_CF)
            .ok_or_else(|| Error::UnknownStore(META_CF.into()))
    }

    /// Writes entries to a table file; returns how many.
    fn write_table(
        &self,
        file: &Path,
        partition: u32,
        entries: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>,
    ) -> Result<u64> {
        let mut writer = SstFileWriter::create(&self.cf_opts);
        let mut key = Vec::new();
        let mut written = 0u64;
        // The writer refuses keys out of order.
        for (k, value) in entries {
            if written == 0 {
                writer.open(file).map_err(|e| self.err(e))?;
            }
            prefixed_into(&mut key, partition, k);
            match value {
                Some(v) => writer.put(&key, v),
                None => writer.delete(&key),
            }
            .map_err(|e| self.err(e))?;
            written += 1;
        }
        if written > 0 {
            writer.finish().map_err(|e| self.err(e))?;
        }
        Ok(written)
    }
}

impl StateBackend for RocksState {
    fn store_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn get(&self, store: StoreId, partition: u32, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = self.cf(store)?;
        self.db
            .get_cf(cf, prefixed(partition, key))
            .map_err(|e| self.err(e))
    }

    fn scan(
        &self,
        store: StoreId,
        partition: u32,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let cf = self.cf(store)?;
        let (lo, hi) = partition_range(partition, from, to);
        let mut opts = rocksdb::ReadOptions::default();
        if let Some(hi) = hi {
            opts.set_iterate_upper_bound(hi);
        }
        let iter = self.db.iterator_cf_opt(
            cf,
            opts,
            rocksdb::IteratorMode::From(&lo, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !visit(&k[4..], &v) {
                break;
            }
        }
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.db
            .get_cf(self.meta_cf()?, key)
            .map_err(|e| self.err(e))
    }

    fn commit(&self, batch: &StateBatch) -> Result<()> {
        self.write(batch)
    }

    fn memory_usage(&self) -> u64 {
        self.cache.get_usage() as u64
    }

    /// RocksDB's estimate of the store's live data, plus its memtables.
    fn store_size(&self, store: StoreId) -> u64 {
        let Ok(cf) = self.cf(store) else { return 0 };
        let property = |name: &str| {
            self.db
                .property_int_value_cf(cf, name)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        property("rocksdb.estimate-live-data-size") + property("rocksdb.cur-size-all-mem-tables")
    }

    /// Writes the entries to a table file and ingests it: no write-ahead
    /// log, no memtable, no flush. The file goes to the deepest level whose
    /// files it does not overlap.
    fn load(
        &self,
        store: StoreId,
        partition: u32,
        entries: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>,
    ) -> Result<()> {
        let cf = self.cf(store)?;
        let file = self.path.join(format!(
            "{LOAD_PREFIX}{}.sst",
            self.loads.fetch_add(1, Ordering::Relaxed)
        ));
        let result = self
            .write_table(&file, partition, entries)
            .and_then(|written| {
                if written == 0 {
                    return Ok(());
                }
                let mut opts = IngestExternalFileOptions::default();
                opts.set_move_files(true);
                self.db
                    .ingest_external_file_cf_opts(cf, &opts, vec![&file])
                    .map_err(|e| self.err(e))
            });
        // Linked into the database on success; not needed either way.
        let _ = std::fs::remove_file(&file);
        result
    }

    fn drop_partition(&self, store: StoreId, partition: u32) -> Result<()> {
        let mut empty = true;
        self.scan(store, partition, None, None, &mut |_, _| {
            empty = false;
            false
        })?;
        if empty {
            // A range tombstone over nothing would still be checked by
            // every read, flush and compaction of the range.
            return Ok(());
        }
        let cf = self.cf(store)?;
        let from = partition.to_be_bytes();
        match partition.checked_add(1) {
            Some(p) => self.db.delete_range_cf(cf, from, p.to_be_bytes()),
            None => self.db.delete_range_cf(cf, from.as_slice(), &[0xff; 5][..]),
        }
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry of a store partition, in key order.
    fn entries(b: &dyn StateBackend, s: StoreId, p: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut seen = Vec::new();
        b.scan(s, p, None, None, &mut |k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
        seen
    }

    fn check_backend(b: &dyn StateBackend) {
        let s = b.store_id("counts").unwrap();
        let mut batch = StateBatch::new();
        batch.put(s, 0, b"a", b"1");
        batch.put(s, 0, b"b", b"2");
        batch.put(s, 1, b"a", b"10");
        batch.meta("pos", b"7");
        b.commit(&batch).unwrap();
        assert_eq!(b.get(s, 0, b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(b.get(s, 1, b"a").unwrap().as_deref(), Some(&b"10"[..]));
        assert_eq!(b.meta("pos").unwrap().as_deref(), Some(&b"7"[..]));
        assert_eq!(
            entries(b, s, 0),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        let mut batch = StateBatch::new();
        batch.delete(s, 0, b"a");
        b.commit(&batch).unwrap();
        assert_eq!(b.get(s, 0, b"a").unwrap(), None);
        b.drop_partition(s, 1).unwrap();
        assert_eq!(b.get(s, 1, b"a").unwrap(), None);
        assert_eq!(b.get(s, 0, b"b").unwrap().as_deref(), Some(&b"2"[..]));

        // Bulk loads: a later load overrides an earlier one, deletes included.
        let load = |p: u32, entries: &[(&[u8], Option<&[u8]>)]| {
            b.load(s, p, &mut entries.iter().copied()).unwrap()
        };
        load(2, &[(b"x", Some(b"1")), (b"y", Some(b"2"))]);
        load(3, &[(b"a", Some(b"3"))]);
        load(2, &[(b"x", None), (b"z", Some(b"4"))]);
        load(2, &[]);
        assert_eq!(
            entries(b, s, 2),
            vec![
                (b"y".to_vec(), b"2".to_vec()),
                (b"z".to_vec(), b"4".to_vec())
            ]
        );
        assert_eq!(b.get(s, 3, b"a").unwrap().as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn bulk_loads_refuse_unordered_keys() {
        let dir = tempfile::tempdir().unwrap();
        let stores = vec!["counts".to_string()];
        let b = RocksState::open(dir.path(), &stores, StateConfig::default()).unwrap();
        let s = StoreId(0);
        let refused = |entries: &[(&[u8], Option<&[u8]>)]| {
            let err = b.load(s, 0, &mut entries.iter().copied()).unwrap_err();
            err.to_string()
        };
        let why = refused(&[(b"b", Some(b"1")), (b"a", Some(b"2"))]);
        assert!(why.contains("strict ascending order"), "{why}");
        let why = refused(&[(b"a", Some(b"1")), (b"a", None)]);
        assert!(why.contains("strict ascending order"), "{why}");
        // The default implementation, over memory, refuses them too.
        let memory = crate::MemoryState::new(&stores);
        let err = memory
            .load(
                s,
                0,
                &mut [(&b"b"[..], None), (&b"a"[..], None)].into_iter(),
            )
            .unwrap_err();
        assert!(matches!(err, Error::Batch(_)), "{err}");
        // Nothing of the refused loads is visible, and no file is left.
        assert_eq!(b.get(s, 0, b"a").unwrap(), None);
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(LOAD_PREFIX)
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn rocks_and_memory_backends_agree() {
        let dir = tempfile::tempdir().unwrap();
        let stores = vec!["counts".to_string(), "other".to_string()];
        check_backend(&RocksState::open(dir.path(), &stores, StateConfig::default()).unwrap());
        check_backend(&crate::MemoryState::new(&stores));
        // Reopening keeps data.
        let again = RocksState::open(dir.path(), &stores, StateConfig::default()).unwrap();
        assert_eq!(
            again.get(StoreId(0), 0, b"b").unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }
}
