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
    /// The entry's encoded key and value, in bytes, when last loaded or
    /// flushed: what the entry holds beyond its slot in the table.
    encoded: u32,
}

/// A value read from the backend for the cache, with its encoded size
/// (key and value bytes), by which the cache measures its memory.
#[derive(Debug)]
pub struct Loaded<V> {
    /// The value, `None` if the backend has none.
    pub value: Option<V>,
    /// Bytes of the encoded key and value.
    pub encoded: usize,
}

/// Typed entries of one store partition, held by one task. Reads go to the
/// cache first; writes only mark entries dirty. At commit,
/// [`flush`](Self::flush) hands every dirty entry to the caller (to write to
/// the state batch and the changelog) once, however many times it changed.
/// A key created and deleted between two flushes is never written.
///
/// The cache has a memory budget in bytes: each entry counts its slot in
/// the table plus its encoded key and value (as last loaded or flushed).
/// After a flush, deleted keys are forgotten, and when the cache holds more
/// than its budget, so are the entries not used since the previous flush
/// (the hot keys stay), or all of them if that is not enough.
/// [`wants_flush`](Self::wants_flush) says when the changed entries alone
/// take half of the budget, so that the owner commits early.
#[derive(Debug)]
pub struct WriteCache<K, V> {
    entries: HashMap<K, Entry<V>, ahash::RandomState>,
    dirty: usize,
    /// Estimated bytes of all entries, and of the dirty ones.
    bytes: usize,
    dirty_bytes: usize,
    budget: usize,
    /// Encoded bytes of the entries last flushed, and their number: the
    /// estimate for an entry put blind, whose encoding is not known yet.
    flushed_bytes: usize,
    flushed: usize,
}

impl<K: Hash + Eq + Clone, V> WriteCache<K, V> {
    /// A cache that keeps about `budget` bytes of entries.
    pub fn new(budget: usize) -> Self {
        WriteCache {
            entries: HashMap::default(),
            dirty: 0,
            bytes: 0,
            dirty_bytes: 0,
            budget,
            flushed_bytes: 0,
            flushed: 0,
        }
    }

    /// Bytes an entry takes besides its encoded key and value: its slot
    /// (key, entry, control byte) in a table that is between 44% and 87%
    /// full.
    const SLOT: usize = (size_of::<(K, Entry<V>)>() + 1) * 3 / 2;

    /// Number of entries changed since the last flush.
    pub fn dirty_len(&self) -> usize {
        self.dirty
    }

    /// Estimated bytes held (see the type's docs).
    pub fn memory(&self) -> usize {
        self.bytes
    }

    /// True when the changed entries take half of the budget or more: the
    /// owner should flush before its usual time.
    pub fn wants_flush(&self) -> bool {
        self.dirty_bytes >= self.budget / 2
    }

    /// Whether a flush has measured entries, so that [`put`](Self::put)
    /// has an average size to go by.
    pub fn has_measured(&self) -> bool {
        self.flushed > 0
    }

    /// The value of `key`, loading it with `load` on a miss.
    pub fn get<E>(
        &mut self,
        key: &K,
        load: impl FnOnce() -> Result<Loaded<V>, E>,
    ) -> Result<Option<&V>, E> {
        Ok(slot(&mut self.entries, &mut self.bytes, key, load)?
            .value
            .as_ref())
    }

    /// The value of `key` for update, loading it on a miss; the entry is
    /// marked dirty. Set it to `None` to delete the key.
    pub fn entry<E>(
        &mut self,
        key: &K,
        load: impl FnOnce() -> Result<Loaded<V>, E>,
    ) -> Result<&mut Option<V>, E> {
        let e = slot(&mut self.entries, &mut self.bytes, key, load)?;
        if !e.dirty {
            e.dirty = true;
            self.dirty += 1;
            self.dirty_bytes += Self::SLOT + e.encoded as usize;
        }
        Ok(&mut e.value)
    }

    /// Sets `key` to `value` without reading the backend (a blind write):
    /// as the backend may hold the key, a deletion before the next flush
    /// still writes a tombstone. Until the flush measures it, a new entry
    /// counts as `encoded` (its encoded key and value, in bytes) if the
    /// caller measured it, or else as the average entry of the last flush.
    pub fn put(&mut self, key: &K, value: V, encoded: Option<usize>) {
        if let Some(e) = self.entries.get_mut(key) {
            e.value = Some(value);
            e.touched = true;
            if !e.dirty {
                e.dirty = true;
                self.dirty += 1;
                self.dirty_bytes += Self::SLOT + e.encoded as usize;
            }
            return;
        }
        let encoded = encoded
            .or(self.flushed_bytes.checked_div(self.flushed))
            .unwrap_or(0);
        self.bytes += Self::SLOT + encoded;
        self.dirty += 1;
        self.dirty_bytes += Self::SLOT + encoded;
        self.entries.insert(
            key.clone(),
            Entry {
                value: Some(value),
                stored: true,
                dirty: true,
                touched: true,
                encoded: u32::try_from(encoded).unwrap_or(u32::MAX),
            },
        );
    }

    /// Hands each dirty entry to `f`, which returns the bytes of its
    /// encoded key and value, and marks it clean; then evicts clean entries
    /// beyond the budget.
    pub fn flush<E>(
        &mut self,
        mut f: impl FnMut(&K, Option<&V>) -> Result<usize, E>,
    ) -> Result<(), E> {
        let (mut flushed_bytes, mut flushed) = (0, 0);
        for (k, e) in self.entries.iter_mut().filter(|(_, e)| e.dirty) {
            if e.stored || e.value.is_some() {
                let encoded = f(k, e.value.as_ref())?;
                self.bytes = self.bytes - e.encoded as usize + encoded;
                e.encoded = u32::try_from(encoded).unwrap_or(u32::MAX);
                flushed_bytes += encoded;
                flushed += 1;
            }
            e.stored = e.value.is_some();
            e.dirty = false;
        }
        if flushed > 0 {
            (self.flushed_bytes, self.flushed) = (flushed_bytes, flushed);
        }
        self.dirty = 0;
        self.dirty_bytes = 0;
        self.retain(|e| e.value.is_some());
        if self.bytes > self.budget {
            self.retain(|e| e.touched);
            if self.bytes > self.budget {
                self.clear();
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
        self.bytes = 0;
        self.dirty_bytes = 0;
    }

    /// Keeps the entries for which `keep` holds (clean ones only: called
    /// after a flush).
    fn retain(&mut self, mut keep: impl FnMut(&Entry<V>) -> bool) {
        let mut freed = 0;
        self.entries.retain(|_, e| {
            let kept = keep(e);
            if !kept {
                freed += Self::SLOT + e.encoded as usize;
            }
            kept
        });
        self.bytes -= freed;
    }
}

/// The entry of `key`, loaded with `load` on a miss (its bytes added to
/// `bytes`). A function of the fields it needs, so that the caller can
/// update the others while it holds the entry.
fn slot<'a, K: Hash + Eq + Clone, V, E>(
    entries: &'a mut HashMap<K, Entry<V>, ahash::RandomState>,
    bytes: &mut usize,
    key: &K,
    load: impl FnOnce() -> Result<Loaded<V>, E>,
) -> Result<&'a mut Entry<V>, E> {
    if !entries.contains_key(key) {
        let Loaded { value, encoded } = load()?;
        let encoded = u32::try_from(encoded).unwrap_or(u32::MAX);
        *bytes += WriteCache::<K, V>::SLOT + encoded as usize;
        entries.insert(
            key.clone(),
            Entry {
                stored: value.is_some(),
                value,
                dirty: false,
                touched: true,
                encoded,
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
    fn a_blind_put_reads_nothing_and_a_delete_after_it_writes_a_tombstone() {
        let mut c: WriteCache<&str, u64> = WriteCache::new(10_000);
        c.put(&"a", 1, None);
        c.put(&"a", 2, None);
        c.put(&"b", 3, None);
        let value = c.get(&"a", || -> Result<Loaded<u64>, ()> {
            panic!("a is cached")
        });
        assert_eq!(value, Ok(Some(&2)));
        *c.entry(&"b", || -> Result<Loaded<u64>, ()> {
            panic!("b is cached")
        })
        .unwrap() = None;
        let mut written = Vec::new();
        c.flush(|k, v| {
            written.push((*k, v.copied()));
            Ok::<_, ()>(16)
        })
        .unwrap();
        written.sort();
        assert_eq!(written, vec![("a", Some(2)), ("b", None)]);
        assert_eq!(c.dirty_len(), 0);
    }

    #[test]
    fn repeated_updates_flush_once() {
        let mut c: WriteCache<&str, u64> = WriteCache::new(10_000);
        let mut loads = 0;
        for _ in 0..5 {
            let slot = c
                .entry(&"k", || {
                    loads += 1;
                    Ok::<_, ()>(Loaded {
                        value: Some(10),
                        encoded: 16,
                    })
                })
                .unwrap();
            *slot = Some(slot.unwrap_or(0) + 1);
        }
        assert_eq!(loads, 1);
        assert_eq!(c.dirty_len(), 1);
        let mut flushed = Vec::new();
        c.flush(|k, v| {
            flushed.push((*k, v.copied()));
            Ok::<_, ()>(16)
        })
        .unwrap();
        assert_eq!(flushed, vec![("k", Some(15))]);
        assert_eq!(c.dirty_len(), 0);
        assert_eq!(
            c.get(&"k", || Ok::<_, ()>(Loaded {
                value: None,
                encoded: 8
            }))
            .unwrap(),
            Some(&15)
        );
    }

    #[test]
    fn keys_created_and_deleted_between_flushes_are_never_written() {
        let mut c: WriteCache<&'static str, u64> = WriteCache::new(10_000);
        let absent = || {
            Ok::<_, ()>(Loaded {
                value: None,
                encoded: 8,
            })
        };
        *c.entry(&"brief", absent).unwrap() = Some(1);
        *c.entry(&"brief", absent).unwrap() = None;
        *c.entry(&"kept", absent).unwrap() = Some(2);
        let mut flushed: Vec<(&str, Option<u64>)> = Vec::new();
        let mut flush = |c: &mut WriteCache<&'static str, u64>| {
            c.flush(|k, v| {
                flushed.push((*k, v.copied()));
                Ok::<_, ()>(16)
            })
            .unwrap();
        };
        flush(&mut c);
        *c.entry(&"kept", absent).unwrap() = None;
        flush(&mut c);
        assert_eq!(flushed, vec![("kept", Some(2)), ("kept", None)]);
        assert_eq!(
            c.get(&"kept", || Ok::<_, ()>(Loaded {
                value: Some(9),
                encoded: 16
            }))
            .unwrap(),
            Some(&9),
            "deleted keys are forgotten"
        );
    }

    #[test]
    fn blind_puts_count_as_the_average_entry_of_the_last_flush() {
        type Cache = WriteCache<u64, u64>;
        let mut c = Cache::new(100 * (Cache::SLOT + 600));
        c.put(&0, 1, None);
        c.put(&1, 1, None);
        assert_eq!(c.memory(), 2 * Cache::SLOT, "nothing measured yet");
        let mut size = 300;
        c.flush(|_, _| {
            size += 200;
            Ok::<_, ()>(size)
        })
        .unwrap();
        assert_eq!(c.memory(), 2 * Cache::SLOT + 500 + 700);
        // Large values put blind ask for a flush as soon as their measured
        // size would: 50 entries of 600 bytes are half the budget.
        assert!(!c.wants_flush());
        for k in 2..51 {
            c.put(&k, 1, None);
        }
        assert!(!c.wants_flush());
        c.put(&51, 1, None);
        assert!(c.wants_flush());
        assert_eq!(c.memory(), 52 * Cache::SLOT + 1200 + 50 * 600);
    }

    #[test]
    fn a_blind_put_counts_what_the_caller_measured() {
        type Cache = WriteCache<u64, u64>;
        let mut c = Cache::new(usize::MAX);
        assert!(!c.has_measured());
        c.put(&0, 1, Some(100));
        assert_eq!(c.memory(), Cache::SLOT + 100);
        c.flush(|_, _| Ok::<_, ()>(16)).unwrap();
        assert!(c.has_measured());
        c.put(&1, 1, None);
        assert_eq!(c.memory(), 2 * Cache::SLOT + 32);
    }

    #[test]
    fn the_budget_keeps_hot_keys_and_asks_for_early_flushes() {
        type Cache = WriteCache<u64, u64>;
        let slot = Cache::SLOT + 16;
        let mut c = Cache::new(100 * slot);
        let loaded = || {
            Ok::<_, ()>(Loaded {
                value: Some(1),
                encoded: 16,
            })
        };
        let flush = |c: &mut Cache| c.flush(|_, _| Ok::<_, ()>(16)).unwrap();
        // 49 changed entries are not half the budget; 50 are.
        for k in 0..49 {
            *c.entry(&k, loaded).unwrap() = Some(2);
        }
        assert!(!c.wants_flush());
        *c.entry(&49, loaded).unwrap() = Some(2);
        assert!(c.wants_flush());
        assert_eq!(c.memory(), 50 * slot);
        flush(&mut c);
        assert!(!c.wants_flush());
        // Over budget after a flush: the keys used since the previous flush
        // stay, the others go.
        for k in 50..110 {
            c.get(&k, loaded).unwrap();
        }
        for k in 0..20 {
            *c.entry(&k, loaded).unwrap() = Some(3);
        }
        assert_eq!(c.memory(), 110 * slot);
        flush(&mut c);
        assert_eq!(c.memory(), 80 * slot);
        let mut loads = 0;
        for k in 0..50 {
            c.get(&k, || {
                loads += 1;
                loaded()
            })
            .unwrap();
        }
        assert_eq!(loads, 30, "keys 0..20 stayed, 20..50 were evicted");
        assert_eq!(c.memory(), 110 * slot);
        // Deleted keys are forgotten, and their bytes with them.
        c.clear();
        for k in 0..40 {
            *c.entry(&k, loaded).unwrap() = None;
        }
        flush(&mut c);
        assert_eq!(c.memory(), 0);
    }
}
