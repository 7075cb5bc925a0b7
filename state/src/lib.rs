//! # tributary-state
//!
//! Local state for Tributary's stateful operators: byte-level stores with
//! one memory budget for the whole process, atomic commits, and a typed
//! write cache. This crate knows nothing of topics: the runtime (crate
//! `tributary`) turns the changes a [`WriteCache`] flushes into changelog
//! records.
//!
//! - A [`StateBackend`] holds every store of a process. [`RocksState`] is one
//!   RocksDB instance with a column family per store, keys prefixed by task
//!   partition (so one task's state is one key range, dropped with a range
//!   delete), one shared block cache and a write-buffer manager charged to
//!   it: memory stays within [`StateConfig::memory_budget`] however many
//!   stores and partitions there are. [`MemoryState`] is the same in memory,
//!   for tests.
//! - A [`StateBatch`] collects puts, deletes and metadata (input positions,
//!   checkpoints) and is applied atomically by [`StateBackend::commit`]: state
//!   and positions never disagree.
//! - A [`WriteCache`] sits in front of a store inside a task and absorbs
//!   repeated updates to hot keys between commits, within a budget in bytes.
//! - [`StateBackend::load`] bulk-loads sorted entries, for restores:
//!   RocksDB writes them to a table file and ingests it, bypassing the
//!   write-ahead log, the memtables and their flushes.
//! - While a [`RocksState`] is open, freed memory is handed back to the
//!   operating system every second (glibc keeps it otherwise; see the
//!   `trim` module).
//!
//! ## Feature flags
//!
//! - `rocksdb` (default): [`RocksState`]. Without it only [`MemoryState`]
//!   exists, which is enough to build topologies and run them in tests
//!   without compiling RocksDB (RocksDB is built without compression
//!   libraries either way).

mod batch;
mod cache;
mod error;
mod memory;
#[cfg(feature = "rocksdb")]
mod rocks;
#[cfg(feature = "rocksdb")]
mod trim;

pub use batch::{Op, StateBatch};
pub use cache::{Loaded, WriteCache};
pub use error::{Error, Result};
pub use memory::MemoryState;
#[cfg(feature = "rocksdb")]
pub use rocks::RocksState;

/// Settings of the state backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateConfig {
    /// Bytes of memory for the block cache and memtables of all stores
    /// together (default 256 MiB).
    pub memory_budget: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            memory_budget: 256 << 20,
        }
    }
}

/// Identifies a store inside a backend (an index assigned at open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId(pub u32);

/// Where a process keeps the state of all its tasks.
pub trait StateBackend: Send + Sync + std::fmt::Debug {
    /// The id of the store called `name`, if the backend was opened with it.
    fn store_id(&self, name: &str) -> Option<StoreId> {
        self.store_names()
            .iter()
            .position(|n| n == name)
            .map(|i| StoreId(i as u32))
    }

    /// Names of the stores, in id order.
    fn store_names(&self) -> Vec<String>;

    /// The value of `key` in a store's partition.
    fn get(&self, store: StoreId, partition: u32, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Visits a store partition's entries with `from <= key < to` in key
    /// order, until `visit` returns false.
    fn scan(
        &self,
        store: StoreId,
        partition: u32,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;

    /// A metadata value (positions, checkpoints) stored by a commit.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Applies a batch atomically: all of it or nothing.
    fn commit(&self, batch: &StateBatch) -> Result<()>;

    /// Deletes every entry of a store partition (when a task moves away or
    /// its state is rebuilt).
    fn drop_partition(&self, store: StoreId, partition: u32) -> Result<()>;

    /// Bytes of memory the backend holds for state now (RocksDB: its block
    /// cache, which the memtables are charged to). Zero if it does not
    /// account for its memory.
    fn memory_usage(&self) -> u64 {
        0
    }

    /// Estimated bytes a store holds, all partitions (for metrics); zero if
    /// the backend cannot tell.
    fn store_size(&self, _store: StoreId) -> u64 {
        0
    }

    /// Bulk-loads entries into a store partition, for restores: `Some`
    /// values are puts, `None` deletes, and keys strictly increase. It takes
    /// effect as a [`commit`](Self::commit) of the same changes would, but a
    /// backend may bypass its write path (RocksDB writes a table file and
    /// ingests it). It is durable when it returns, but not atomic with other
    /// batches: record completion with a later commit.
    fn load(
        &self,
        store: StoreId,
        partition: u32,
        entries: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>,
    ) -> Result<()> {
        let mut batch = StateBatch::new();
        let mut last: Option<&[u8]> = None;
        for (key, value) in entries {
            if last.is_some_and(|l| key <= l) {
                return Err(Error::Batch("bulk load keys not strictly increasing"));
            }
            last = Some(key);
            match value {
                Some(v) => batch.put(store, partition, key, v),
                None => batch.delete(store, partition, key),
            }
        }
        self.commit(&batch)
    }
}

/// The stored-key range `[lo, hi)` of a store partition's entries with
/// `from <= key < to` (`hi` is `None` for the last partition, unbounded).
pub(crate) fn partition_range(
    partition: u32,
    from: Option<&[u8]>,
    to: Option<&[u8]>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let lo = prefixed(partition, from.unwrap_or_default());
    let hi = match to {
        Some(t) => Some(prefixed(partition, t)),
        None => partition.checked_add(1).map(|p| p.to_be_bytes().to_vec()),
    };
    (lo, hi)
}

/// The key under which a store partition's entries are kept: the partition
/// (big-endian, so partitions are contiguous ranges) then the key.
pub fn prefixed(partition: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    prefixed_into(&mut k, partition, key);
    k
}

/// [`prefixed`], into a buffer that is reused.
pub(crate) fn prefixed_into(buf: &mut Vec<u8>, partition: u32, key: &[u8]) {
    buf.clear();
    buf.extend_from_slice(&partition.to_be_bytes());
    buf.extend_from_slice(key);
}
