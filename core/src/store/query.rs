//! Read-only queries on a store: from a running application or a stopped
//! one's state directory.

use crate::codec::{Codec, Rkyv, RkyvData};
use crate::error::{Error, Result};
use std::marker::PhantomData;
use std::sync::Arc;
use tributary_state::{StateBackend, StoreId};

/// Reads a store's committed contents (what the last commit wrote; updates
/// still in a task's write cache are not visible).
///
/// Keys are looked up in every task partition of the store.
pub struct StoreReader<K, V> {
    backend: Arc<dyn StateBackend>,
    id: StoreId,
    partitions: u32,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for StoreReader<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReader")
            .field("id", &self.id)
            .field("partitions", &self.partitions)
            .finish()
    }
}

impl<K: RkyvData, V: RkyvData> StoreReader<K, V> {
    pub(crate) fn new(backend: Arc<dyn StateBackend>, name: &str, partitions: u32) -> Result<Self> {
        let id = backend
            .store_id(name)
            .ok_or_else(|| Error::Runtime(format!("no state store named '{name}'")))?;
        Ok(StoreReader {
            backend,
            id,
            partitions,
            _types: PhantomData,
        })
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let mut k = Vec::new();
        Rkyv.encode(key, &mut k)?;
        for p in 0..self.partitions {
            if let Some(v) = self.backend.get(self.id, p, &k)? {
                return Ok(Some(Rkyv.decode(&v)?));
            }
        }
        Ok(None)
    }

    /// Every entry, partition by partition (in encoded-key order within one).
    pub fn iter(&self) -> Result<Vec<(K, V)>> {
        self.scan(None, None)
    }

    /// Entries with `from <= key < to` by encoded key, partition by partition.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let (mut f, mut t) = (Vec::new(), Vec::new());
        Rkyv.encode(from, &mut f)?;
        Rkyv.encode(to, &mut t)?;
        self.scan(Some(&f), Some(&t))
    }

    /// Number of entries.
    pub fn len(&self) -> Result<usize> {
        let mut n = 0;
        for p in 0..self.partitions {
            self.backend.scan(self.id, p, None, None, &mut |_, _| {
                n += 1;
                true
            })?;
        }
        Ok(n)
    }

    /// True if the store holds nothing.
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// Every entry of one task partition as stored: keys and values in the
    /// store's encoding, in key order. For comparing stores byte for byte
    /// (the entries of window and session stores are not `(K, V)` pairs).
    pub fn encoded_partition(&self, partition: u32) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.backend
            .scan(self.id, partition, None, None, &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                true
            })?;
        Ok(out)
    }

    fn scan(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        let mut failed = None;
        for p in 0..self.partitions {
            self.backend.scan(self.id, p, from, to, &mut |k, v| match (
                Rkyv.decode(k),
                Rkyv.decode(v),
            ) {
                (Ok(k), Ok(v)) => {
                    out.push((k, v));
                    true
                }
                (Err(e), _) | (_, Err(e)) => {
                    failed = Some(e);
                    false
                }
            })?;
            if let Some(e) = failed.take() {
                return Err(e.into());
            }
        }
        Ok(out)
    }
}
