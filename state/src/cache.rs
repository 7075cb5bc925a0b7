//! The write cache: typed entries in front of a store, between commits.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
struct Entry<V> {
    /// `None`: the key is absent (deleted or never set).
    value: Option<V>,
    dirty: bool,
    /// Used since the last flush (eviction keeps these).
    touched: bool,
}

/// Typed entries of one store partition, held by one task. Reads go to the
/// cache first; writes only mark entries dirty. At commit,
/// [`flush`](Self::flush) hands every dirty entry to the caller (to write to
/// the state batch and the changelog) once, however many times it changed.
/// When the cache holds more than its capacity after a flush, the entries
/// not used since the previous flush are evicted (the hot keys stay).
#[derive(Debug)]
pub struct WriteCache<K, V> {
    entries: HashMap<K, Entry<V>, ahash::RandomState>,
    dirty: usize,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> WriteCache<K, V> {
    /// A cache keeping at most about `capacity` clean entries.
    pub fn new(capacity: usize) -> Self {
        WriteCache {
            entries: HashMap::default(),
            dirty: 0,
            capacity,
        }
    }

    /// Number of entries changed since the last flush.
    pub fn dirty_len(&self) -> usize {
        self.dirty
    }

    /// The value of `key`, loading it with `load` on a miss.
    pub fn get<E>(
        &mut self,
        key: &K,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<&V>, E> {
        Ok(slot(&mut self.entries, key, load)?.value.as_ref())
    }

    /// The value of `key` for update, loading it on a miss; the entry is
    /// marked dirty. Set it to `None` to delete the key.
    pub fn entry<E>(
        &mut self,
        key: &K,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<&mut Option<V>, E> {
        let e = slot(&mut self.entries, key, load)?;
        if !e.dirty {
            e.dirty = true;
            self.dirty += 1;
        }
        Ok(&mut e.value)
    }

    /// Hands each dirty entry to `f` and marks it clean; then evicts clean
    /// entries beyond the capacity.
    pub fn flush<E>(
        &mut self,
        mut f: impl FnMut(&K, Option<&V>) -> Result<(), E>,
    ) -> Result<(), E> {
        for (k, e) in self.entries.iter_mut().filter(|(_, e)| e.dirty) {
            f(k, e.value.as_ref())?;
            e.dirty = false;
        }
        self.dirty = 0;
        if self.entries.len() > self.capacity {
            self.entries.retain(|_, e| e.touched);
            if self.entries.len() > self.capacity {
                self.entries.clear();
            }
        }
        for e in self.entries.values_mut() {
            e.touched = false;
        }
        Ok(())
    }

    /// Forgets every entry, dirty or not (when the task's state is reloaded).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.dirty = 0;
    }
}

/// The entry of `key`, loaded with `load` on a miss.
fn slot<'a, K: Hash + Eq + Clone, V, E>(
    entries: &'a mut HashMap<K, Entry<V>, ahash::RandomState>,
    key: &K,
    load: impl FnOnce() -> Result<Option<V>, E>,
) -> Result<&'a mut Entry<V>, E> {
    if !entries.contains_key(key) {
        let value = load()?;
        entries.insert(
            key.clone(),
            Entry {
                value,
                dirty: false,
                touched: true,
            },
        );
    }
    let e = entries.get_mut(key).expect("inserted above");
    e.touched = true;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_updates_flush_once() {
        let mut c: WriteCache<&str, u64> = WriteCache::new(10);
        let mut loads = 0;
        for _ in 0..5 {
            let slot = c
                .entry(&"k", || {
                    loads += 1;
                    Ok::<_, ()>(Some(10))
                })
                .unwrap();
            *slot = Some(slot.unwrap_or(0) + 1);
        }
        assert_eq!(loads, 1);
        assert_eq!(c.dirty_len(), 1);
        let mut flushed = Vec::new();
        c.flush(|k, v| {
            flushed.push((*k, v.copied()));
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(flushed, vec![("k", Some(15))]);
        assert_eq!(c.dirty_len(), 0);
        assert_eq!(c.get(&"k", || Ok::<_, ()>(None)).unwrap(), Some(&15));
    }
}
