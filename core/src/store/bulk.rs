//! Changelog records gathered for a bulk load: sorted by key, the last
//! change of each key kept.

use std::cmp::Ordering;
use tributary_state::{StateBackend, StoreId};

/// Changes of one store partition, in log order, to be loaded sorted.
///
/// Keys and values are copied into one buffer as they arrive, so that the
/// fetched log chunks can go, and the load, which reads the changes in key
/// order and so at random, reads a few compact buffers that stay in the CPU
/// cache (when the changes pointed into the fetched chunks, cache misses
/// took a third of a restore's time).
#[derive(Debug)]
pub(crate) struct BulkChanges {
    /// Each change's key then value.
    bytes: Vec<u8>,
    /// Where each change is in `bytes`.
    spans: Vec<Span>,
    /// Per change, from the high bits: the first 8 bytes of its key (as an
    /// integer), its key's length, and its index; sorted before a load.
    order: Vec<u128>,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    key_len: u32,
    /// `u32::MAX` for a delete.
    value_len: u32,
}

const DELETE: u32 = u32::MAX;

/// Bytes a change takes besides its key and value (a span and a sort entry).
const OVERHEAD: usize = size_of::<Span>() + size_of::<u128>();

impl BulkChanges {
    /// Room for `n` changes at most, within `memory` bytes: half of it for
    /// the changes' places, the rest for their keys and values. The buffers
    /// never grow past this (but for a single change larger than the rest);
    /// memory not touched costs nothing.
    pub(crate) fn within(memory: usize, n: usize) -> Self {
        let entries = (memory / 2 / OVERHEAD).clamp(1, n.max(1));
        BulkChanges {
            bytes: Vec::with_capacity(memory.saturating_sub(entries * OVERHEAD)),
            spans: Vec::with_capacity(entries),
            order: Vec::with_capacity(entries),
        }
    }

    /// True if a change with this key and value fits without growing the
    /// buffers (always when empty).
    pub(crate) fn has_room(&self, key: &[u8], value: Option<&[u8]>) -> bool {
        let len = key.len() + value.map_or(0, <[u8]>::len);
        self.spans.is_empty()
            || (self.spans.len() < self.spans.capacity()
                && self.bytes.len() + len <= self.bytes.capacity())
    }

    /// Adds a change: `None` deletes the key.
    pub(crate) fn push(&mut self, key: &[u8], value: Option<&[u8]>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        if let Some(v) = value {
            self.bytes.extend_from_slice(v);
        }
        // Record fields are bounded by the log's batch size (u32).
        let span = Span {
            start,
            key_len: key.len() as u32,
            value_len: value.map_or(DELETE, |v| v.len() as u32),
        };
        let len = u128::from(span.key_len);
        let index = self.spans.len() as u128;
        self.order
            .push((u128::from(head(key)) << 64) | (len << 32) | index);
        self.spans.push(span);
    }

    /// Changes held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    fn key(&self, x: u128) -> &[u8] {
        let s = self.spans[index(x)];
        &self.bytes[s.start..s.start + s.key_len as usize]
    }

    fn value(&self, x: u128) -> Option<&[u8]> {
        let s = self.spans[index(x)];
        let at = s.start + s.key_len as usize;
        (s.value_len != DELETE).then(|| &self.bytes[at..at + s.value_len as usize])
    }

    /// True if the changes `a` and `b` (entries of `order`) have the same
    /// key; keys are only read if they are longer than 8 bytes and their
    /// heads and lengths are equal.
    fn same_key(&self, a: u128, b: u128) -> bool {
        a >> 32 == b >> 32 && (key_len(a) <= 8 || self.key(a)[8..] == self.key(b)[8..])
    }

    /// Loads the latest change of every key into a store partition, in key
    /// order, and empties `self`.
    pub(crate) fn load_into(
        &mut self,
        backend: &dyn StateBackend,
        store: StoreId,
        partition: u32,
    ) -> tributary_state::Result<()> {
        self.sort();
        let order = &self.order;
        let mut latest = order.iter().enumerate().filter_map(|(n, &x)| {
            let superseded = order.get(n + 1).is_some_and(|&next| self.same_key(x, next));
            (!superseded).then(|| (self.key(x), self.value(x)))
        });
        let result = backend.load(store, partition, &mut latest);
        self.order.clear();
        self.spans.clear();
        self.bytes.clear();
        result
    }

    /// Sorts `order` by key then log order. Most comparisons are one of
    /// integers: only different keys longer than 8 bytes with the same
    /// first 8 need their bytes compared. (Keys of up to 8 bytes with the
    /// same head differ only in trailing zeros, and the shorter comes
    /// first.) Restores spent most of their time in `memcmp` when keys were
    /// compared as byte strings.
    fn sort(&mut self) {
        // Taken out while the runs are sorted by the keys they point to.
        let mut order = std::mem::take(&mut self.order);
        order.sort_unstable();
        let mut rest = &mut order[..];
        while let Some(&first) = rest.first() {
            let run = rest
                .iter()
                .position(|&x| x >> 64 != first >> 64)
                .unwrap_or(rest.len());
            let (same_head, after) = rest.split_at_mut(run);
            let longer = |&x: &u128| key_len(x) > 8;
            if same_head.len() > 1
                && same_head.iter().any(longer)
                && same_head.iter().any(|&x| !self.same_key(first, x))
            {
                same_head
                    .sort_unstable_by(|&a, &b| tail_cmp(self.key(a), self.key(b)).then(a.cmp(&b)));
            }
            rest = after;
        }
        self.order = order;
    }
}

fn index(x: u128) -> usize {
    (x as u32) as usize
}

fn key_len(x: u128) -> u32 {
    (x >> 32) as u32
}

/// The first 8 bytes of a key as a big-endian integer (zero-padded): the
/// integers order as the keys' prefixes do.
fn head(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// Orders two keys whose [`head`]s are equal.
fn tail_cmp(a: &[u8], b: &[u8]) -> Ordering {
    a[a.len().min(8)..]
        .cmp(&b[b.len().min(8)..])
        .then(a.len().cmp(&b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tributary_state::{MemoryState, StateBackend};

    proptest! {
        /// Loading gives the last change of each key, as applying every
        /// change in log order would. Keys are short and from a small
        /// alphabet, so they often share 8-byte heads and zero padding
        /// ("ab" and "ab\0").
        #[test]
        fn a_bulk_load_equals_the_changes_applied_in_order(
            changes in proptest::collection::vec(
                (proptest::collection::vec(0u8..2, 0..12), proptest::option::of(any::<u8>())),
                0..300,
            )
        ) {
            // Every key starts with an old value, so that deletes matter.
            let backend = MemoryState::new(&["s".to_string()]);
            let store = StoreId(0);
            let mut before = tributary_state::StateBatch::new();
            let mut expected = std::collections::BTreeMap::new();
            for (k, _) in &changes {
                before.put(store, 7, k, b"old");
                expected.insert(k.clone(), b"old".to_vec());
            }
            backend.commit(&before).unwrap();
            let mut bulk = BulkChanges::within(1 << 20, changes.len());
            for (k, v) in &changes {
                match v {
                    Some(v) => expected.insert(k.clone(), vec![*v]),
                    None => expected.remove(k),
                };
                bulk.push(k, v.as_ref().map(std::slice::from_ref));
            }
            bulk.load_into(&backend, store, 7).unwrap();
            prop_assert_eq!(bulk.len(), 0);
            let mut got = std::collections::BTreeMap::new();
            backend.scan(store, 7, None, None, &mut |k, v| {
                got.insert(k.to_vec(), v.to_vec());
                true
            }).unwrap();
            prop_assert_eq!(got, expected);
        }
    }
}
