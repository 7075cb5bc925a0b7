//! The write cache: typed entries in front of a store, between commits.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
struct Entry<V> {
    /// `None`: the key is absent (deleted or never set).
    value: Option<V>,
    /// Whether the backend holds a value for the key (as loaded, or as
    /// last flushed): deleting a key it does not hold writes nothing.
    stored: bool,
    dirty: bool,
    /// Used since the last flush (eviction keeps these).
    touched: bool,
}

/// Typed entries of one store partition, held by one task. Reads go to the
/// cache first; writes only mark entries dirty. At commit,
/// [`flush`](Self::flush) hands every dirty entry to the caller (to write to
/// the state batch and the changelog) once, however many times it changed.
/// A key created and deleted between two flushes is never written. After a
/// flush, deleted keys are forgotten, and when the cache holds more than its
/// capacity, so are the entries not used since the previous flush (the hot
/// keys stay).
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
            if e.stored || e.value.is_some() {
                f(k, e.value.as_ref())?;
            }
            e.stored = e.value.is_some();
            e.dirty = false;
        }
        self.dirty = 0;
        self.entries.retain(|_, e| e.value.is_some());
        if self.entries.len() > self.capacity {
            self.entries.retain(|_, e| e.touched);
            if self.entries.len() > self.capacity {
                self.entries.clear();
            }
        }
        // Keep the table dense: a table grown by a burst and then emptied
        // spreads the remaining entries over many cache lines.
        if self.entries.capacity() > 4 * self.entries.len().max(1024) {
            self.entries.shrink_to_fit();
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
                stored: value.is_some(),
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

    #[test]
    fn keys_created_and_deleted_between_flushes_are_never_written() {
        let mut c: WriteCache<&'static str, u64> = WriteCache::new(10);
        let absent = || Ok::<_, ()>(None);
        *c.entry(&"brief", absent).unwrap() = Some(1);
        *c.entry(&"brief", absent).unwrap() = None;
        *c.entry(&"kept", absent).unwrap() = Some(2);
        let mut flushed: Vec<(&str, Option<u64>)> = Vec::new();
        let mut flush = |c: &mut WriteCache<&'static str, u64>| {
            c.flush(|k, v| {
                flushed.push((*k, v.copied()));
                Ok::<_, ()>(())
            })
            .unwrap();
        };
        flush(&mut c);
        *c.entry(&"kept", absent).unwrap() = None;
        flush(&mut c);
        assert_eq!(flushed, vec![("kept", Some(2)), ("kept", None)]);
        assert_eq!(
            c.get(&"kept", || Ok::<_, ()>(Some(9))).unwrap(),
            Some(&9),
            "deleted keys are forgotten"
        );
    }
}
