//! Typed state stores inside tasks, and what a task needs to commit and
//! restore them.
//!
//! A [`KvStore`] is one store partition as one task sees it: a typed
//! [`WriteCache`] in front of the process's [`StateBackend`]. Keys and values
//! are rkyv-encoded (keys deterministically, values validated on every
//! read). At commit, [`TaskStore::flush`] writes each dirty entry once to the
//! task's [`StateBatch`] and to the store's changelog batch.
//!
//! Stores are shared between the operators that use them (a store is
//! created once per task, whatever the number of paths to it) through
//! `Arc<Mutex<_>>`; a task is single-threaded, so the lock is never contended.

mod bulk;
pub(crate) mod json_view;
pub(crate) mod meta;
mod query;
pub(crate) mod restore;

pub use query::StoreReader;

use crate::codec::{Codec, Rkyv, RkyvData};
use crate::error::{Error, Result};
use crate::record::Batch;
use std::any::Any;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use tributary_state::{Loaded, StateBackend, StateBatch, StoreId, WriteCache};

/// Name of the changelog topic of a store.
pub(crate) fn changelog_topic(app: &str, store: &str) -> String {
    format!("{app}-{store}-changelog")
}

impl From<tributary_state::Error> for Error {
    fn from(e: tributary_state::Error) -> Self {
        Error::State(e)
    }
}

/// The untyped face of a store, as the task commits it.
pub(crate) trait TaskStore: Send {
    /// Writes every dirty entry to `batch` and to `changelog`.
    fn flush(
        &mut self,
        batch: &mut StateBatch,
        changelog: &mut Batch,
        timestamp: i64,
    ) -> Result<()>;
    /// Number of entries changed since the last flush.
    fn dirty(&self) -> usize;
    /// True when the changed entries take half of the store's cache
    /// budget: the task should commit early.
    fn wants_flush(&self) -> bool;
    /// Forgets cached entries (after a restore rewrote the backend).
    fn reset_cache(&mut self);
}

/// One store partition with its write cache.
pub(crate) struct KvStore<K, V> {
    id: StoreId,
    partition: u32,
    backend: Arc<dyn StateBackend>,
    cache: WriteCache<K, V>,
    key_buf: Vec<u8>,
}

impl<K, V> KvStore<K, V>
where
    K: RkyvData + Hash + Eq + Clone + Send + 'static,
    V: RkyvData + Send + 'static,
{
    fn load(
        backend: &dyn StateBackend,
        id: StoreId,
        partition: u32,
        key_buf: &mut Vec<u8>,
        key: &K,
    ) -> Result<Loaded<V>> {
        key_buf.clear();
        Rkyv.encode(key, key_buf)?;
        Ok(match backend.get(id, partition, key_buf)? {
            Some(bytes) => Loaded {
                value: Some(Rkyv.decode(&bytes)?),
                encoded: key_buf.len() + bytes.len(),
            },
            None => Loaded {
                value: None,
                encoded: key_buf.len(),
            },
        })
    }

    /// The value of `key`, read-only (the entry is not marked changed).
    pub(crate) fn get(&mut self, key: &K) -> Result<Option<&V>> {
        let (backend, id, p, buf) = (&self.backend, self.id, self.partition, &mut self.key_buf);
        self.cache
            .get(key, || Self::load(backend.as_ref(), id, p, buf, key))
    }

    /// Every key committed to the backend for this partition (entries
    /// changed since the last commit are not included). Operators that
    /// index their state in memory rebuild the index from this at start.
    pub(crate) fn stored_keys(&self) -> Result<Vec<K>> {
        let mut keys = Vec::new();
        let mut failed = None;
        self.backend
            .scan(self.id, self.partition, None, None, &mut |k, _v| {
                match Rkyv.decode(k) {
                    Ok(key) => keys.push(key),
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                }
                true
            })?;
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(keys),
        }
    }

    /// Sets `key` to `value` without reading its old value from the
    /// backend. Until the cache has flushed an entry (and so knows an
    /// average size), the value is encoded to count its size.
    pub(crate) fn put(&mut self, key: &K, value: V) -> Result<()> {
        let encoded = if self.cache.has_measured() {
            None
        } else {
            let buf = &mut self.key_buf;
            buf.clear();
            Rkyv.encode(key, buf)?;
            Rkyv.encode(&value, buf)?;
            Some(buf.len())
        };
        self.cache.put(key, value, encoded);
        Ok(())
    }

    /// The value of `key` for update (set `None` to delete).
    pub(crate) fn entry(&mut self, key: &K) -> Result<&mut Option<V>> {
        let (backend, id, p, buf) = (&self.backend, self.id, self.partition, &mut self.key_buf);
        self.cache
            .entry(key, || Self::load(backend.as_ref(), id, p, buf, key))
    }
}

impl<K, V> TaskStore for KvStore<K, V>
where
    K: RkyvData + Hash + Eq + Clone + Send + 'static,
    V: RkyvData + Send + 'static,
{
    fn flush(
        &mut self,
        batch: &mut StateBatch,
        changelog: &mut Batch,
        timestamp: i64,
    ) -> Result<()> {
        let (id, partition) = (self.id, self.partition);
        let mut k = Vec::new();
        let mut v = Vec::new();
        self.cache.flush(|key, value| -> Result<usize> {
            k.clear();
            Rkyv.encode(key, &mut k)?;
            match value {
                Some(value) => {
                    v.clear();
                    Rkyv.encode(value, &mut v)?;
                    batch.put(id, partition, &k, &v);
                    changelog.push(timestamp, Some(&k), Some(&v), &[]);
                    Ok(k.len() + v.len())
                }
                None => {
                    batch.delete(id, partition, &k);
                    changelog.push(timestamp, Some(&k), None, &[]);
                    Ok(k.len())
                }
            }
        })
    }

    fn dirty(&self) -> usize {
        self.cache.dirty_len()
    }

    fn wants_flush(&self) -> bool {
        self.cache.wants_flush()
    }

    fn reset_cache(&mut self) {
        self.cache.clear();
    }
}

/// A task's handle on one of its stores.
pub(crate) type StoreHandle<K, V> = Arc<Mutex<KvStore<K, V>>>;

/// Locks a store (a task is single-threaded; poisoning only follows a panic).
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A store registered in a task: typed handle (for operators) and untyped
/// handle (for commit and restore).
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) id: StoreId,
    typed: Arc<dyn Any + Send + Sync>,
    pub(crate) store: Arc<Mutex<dyn TaskStore>>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The stores of one task, created on first use by an operator.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) stores: Vec<Registered>,
    /// Memory budget of each store's write cache, in bytes.
    cache_memory: usize,
}

impl Registry {
    /// No stores yet; each store's write cache will have `cache_memory` bytes.
    pub(crate) fn new(cache_memory: usize) -> Self {
        Registry {
            stores: Vec::new(),
            cache_memory,
        }
    }

    /// The typed store `name` of this task, created on first use.
    pub(crate) fn kv<K, V>(
        &mut self,
        name: &str,
        partition: u32,
        backend: Option<&Arc<dyn StateBackend>>,
    ) -> Result<Arc<Mutex<KvStore<K, V>>>>
    where
        K: RkyvData + Hash + Eq + Clone + Send + 'static,
        V: RkyvData + Send + 'static,
    {
        if let Some(r) = self.stores.iter().find(|r| r.name == name) {
            return Arc::clone(&r.typed)
                .downcast::<Mutex<KvStore<K, V>>>()
                .map_err(|_| {
                    Error::Topology(vec![format!(
                        "store '{name}' is used with two different types"
                    )])
                });
        }
        let backend = backend
            .ok_or_else(|| Error::Runtime(format!("store '{name}' needs a state backend")))?;
        let id = backend
            .store_id(name)
            .ok_or_else(|| Error::Runtime(format!("state backend has no store '{name}'")))?;
        let store = Arc::new(Mutex::new(KvStore::<K, V> {
            id,
            partition,
            backend: Arc::clone(backend),
            cache: WriteCache::new(self.cache_memory),
            key_buf: Vec::new(),
        }));
        self.stores.push(Registered {
            name: name.to_owned(),
            id,
            typed: Arc::clone(&store) as Arc<dyn Any + Send + Sync>,
            store: Arc::clone(&store) as Arc<Mutex<dyn TaskStore>>,
        });
        Ok(store)
    }
}
