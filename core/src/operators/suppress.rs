//! Suppression: a table's updates held back, per key, until a point in
//! event time, then emitted once with the key's latest value (Kafka
//! Streams' `suppress`).
//!
//! The buffer is a store (so it is changelogged and survives a crash) and
//! an in-memory index of keys by the watermark at which they are due,
//! rebuilt from the store when the task starts.

use super::clock::{DueIndex, TimedOp, stored_keys_due_now};
use super::{Ctx, Data, Processor};
use crate::codec::RkyvData;
use crate::error::Result;
use crate::store::{StoreHandle, lock};
use std::hash::Hash;
use std::sync::Arc;

/// When a buffered key is due.
#[derive(Debug)]
pub(crate) enum Until<K> {
    /// When the watermark reaches the end of the key's window plus `after`
    /// (the time after its end at which the upstream windows close).
    /// Deletions of windows never emitted are dropped: a session merged
    /// away before it closed never existed as a final result.
    WindowCloses {
        after: i64,
        /// The end of the window a key is in.
        end: fn(&K) -> i64,
    },
    /// When the watermark reaches the time of the key's first buffered
    /// update plus this limit.
    TimeLimit(i64),
}

// Not derived: that would require `K: Copy`.
impl<K> Clone for Until<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Until<K> {}

/// A buffered key: its latest change, that change's time, and the
/// watermark at which it is due.
pub(crate) type Buffered<V> = (Option<V>, i64, i64);

/// The suppression operator of one task.
pub(crate) struct Suppress<K, V> {
    store: StoreHandle<K, Buffered<V>>,
    until: Until<K>,
    next: Box<dyn Processor<K, Option<V>>>,
    due: DueIndex<K>,
}

impl<K, V> Suppress<K, V>
where
    K: Data + RkyvData + Hash + Eq,
    V: Data + RkyvData,
{
    pub(crate) fn new(
        store: StoreHandle<K, Buffered<V>>,
        until: Until<K>,
        next: Box<dyn Processor<K, Option<V>>>,
    ) -> Self {
        Suppress {
            store,
            until,
            next,
            due: DueIndex::new(),
        }
    }

    fn load(&mut self) -> Result<()> {
        let store = &self.store;
        self.due.load_once(|| stored_keys_due_now(store))
    }

    /// Sends a key's final change on, stamped with the change's time.
    fn emit(&mut self, ctx: &mut Ctx, key: K, value: Option<V>, timestamp: i64) {
        if value.is_none() && matches!(self.until, Until::WindowCloses { .. }) {
            return;
        }
        let saved = std::mem::replace(&mut ctx.timestamp, timestamp);
        self.next.process(ctx, key, value);
        ctx.timestamp = saved;
    }
}

impl<K, V> TimedOp<K, Option<V>> for Suppress<K, V>
where
    K: Data + RkyvData + Hash + Eq,
    V: Data + RkyvData,
{
    fn try_process(&mut self, ctx: &mut Ctx, key: K, value: Option<V>) -> Result<()> {
        self.load()?;
        let (wm, ts) = (ctx.clock.watermark(), ctx.timestamp);
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        let slot = store.entry(&key)?;
        let due = match (&*slot, self.until) {
            (Some((_, _, due)), Until::TimeLimit(_)) => *due,
            (_, Until::TimeLimit(limit)) => ts.saturating_add(limit),
            (_, Until::WindowCloses { after, end }) => end(&key).saturating_add(after),
        };
        if due <= wm {
            // Already due: an upstream window emitting as it closes, or a
            // time limit that had passed when the change arrived.
            *slot = None;
            drop(store);
            self.emit(ctx, key, value, ts);
            return Ok(());
        }
        let fresh = slot.is_none();
        let latest = slot.as_ref().map_or(ts, |(_, t, _)| ts.max(*t));
        *slot = Some((value, latest, due));
        drop(store);
        if fresh {
            self.due.add(due, key);
        }
        Ok(())
    }

    fn try_advance(&mut self, ctx: &mut Ctx) -> Result<()> {
        self.load()?;
        let wm = ctx.clock.watermark();
        let keys = self.due.due(wm);
        if keys.is_empty() {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        let mut ready = Vec::with_capacity(keys.len());
        for key in keys {
            let slot = store.entry(&key)?;
            match slot {
                // Emitted already (and perhaps buffered again since, with
                // its own index entry).
                None => {}
                Some((_, _, due)) if *due > wm => {
                    // An entry found in the store at start: now its time is known.
                    let due = *due;
                    self.due.add(due, key);
                }
                Some(_) => {
                    if let Some((value, ts, _)) = slot.take() {
                        ready.push((key, value, ts));
                    }
                }
            }
        }
        drop(store);
        for (key, value, ts) in ready {
            self.emit(ctx, key, value, ts);
        }
        Ok(())
    }
}
