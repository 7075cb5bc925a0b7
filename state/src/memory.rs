//! State in memory, for tests and the TestDriver.

use crate::error::{Error, Result};
use crate::{Op, StateBackend, StateBatch, StoreId, partition_range, prefixed};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::RwLock;

#[derive(Debug, Default)]
struct Inner {
    stores: Vec<BTreeMap<Vec<u8>, Vec<u8>>>,
    meta: HashMap<String, Vec<u8>>,
}

/// Stores held in `BTreeMap`s; same semantics as [`RocksState`](crate::RocksState).
#[derive(Debug)]
pub struct MemoryState {
    names: Vec<String>,
    inner: RwLock<Inner>,
}

impl MemoryState {
    /// Creates empty stores with these names.
    pub fn new(stores: &[String]) -> Self {
        MemoryState {
            names: stores.to_vec(),
            inner: RwLock::new(Inner {
                stores: vec![BTreeMap::new(); stores.len()],
                meta: HashMap::new(),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl StateBackend for MemoryState {
    fn store_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn get(&self, store: StoreId, partition: u32, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let inner = self.read();
        let s = inner
            .stores
            .get(store.0 as usize)
            .ok_or_else(|| Error::UnknownStore(format!("#{}", store.0)))?;
        Ok(s.get(&prefixed(partition, key)).cloned())
    }

    fn scan(
        &self,
        store: StoreId,
        partition: u32,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let inner = self.read();
        let s = inner
            .stores
            .get(store.0 as usize)
            .ok_or_else(|| Error::UnknownStore(format!("#{}", store.0)))?;
        let (lo, hi) = partition_range(partition, from, to);
        let hi = hi.map_or(Bound::Unbounded, Bound::Excluded);
        for (k, v) in s.range((Bound::Included(lo), hi)) {
            if !visit(&k[4..], v) {
                break;
            }
        }
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.read().meta.get(key).cloned())
    }

    fn commit(&self, batch: &StateBatch) -> Result<()> {
        // Check the whole batch first: all or nothing.
        let ops: Vec<Op<'_>> = batch.ops().collect::<Result<_>>()?;
        let mut inner = self.write();
        for op in ops {
            match op {
                Op::Put {
                    store,
                    partition,
                    key,
                    value,
                } => {
                    if let Some(s) = inner.stores.get_mut(store.0 as usize) {
                        s.insert(prefixed(partition, key), value.to_vec());
                    }
                }
                Op::Delete {
                    store,
                    partition,
                    key,
                } => {
                    if let Some(s) = inner.stores.get_mut(store.0 as usize) {
                        s.remove(&prefixed(partition, key));
                    }
                }
                Op::Meta { key, value } => {
                    inner.meta.insert(key.to_owned(), value.to_vec());
                }
            }
        }
        Ok(())
    }

    fn drop_partition(&self, store: StoreId, partition: u32) -> Result<()> {
        let mut inner = self.write();
        if let Some(s) = inner.stores.get_mut(store.0 as usize) {
            s.retain(|k, _| k[..4] != partition.to_be_bytes());
        }
        Ok(())
    }
}
