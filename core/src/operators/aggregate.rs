//! Aggregation: fold each key's records into a value kept in a store.

use super::{Ctx, Data, Processor};
use crate::store::{KvStore, lock};
use std::sync::{Arc, Mutex};

/// Folds a record into the key's aggregate: gets the key, the record's
/// value and the current aggregate (`None` if absent), returns the new one
/// (`None` deletes the key).
pub(crate) type Fold<K, V, A> = dyn Fn(&K, V, Option<A>) -> Option<A> + Send + Sync;

/// Updates a key's aggregate in its store and emits the new value.
pub(crate) struct Aggregate<K, V, A> {
    pub(crate) store: Arc<Mutex<KvStore<K, A>>>,
    pub(crate) fold: Arc<Fold<K, V, A>>,
    pub(crate) next: Box<dyn Processor<K, Option<A>>>,
}

impl<K, V, A> Processor<K, V> for Aggregate<K, V, A>
where
    K: Data + crate::codec::RkyvData + std::hash::Hash + Eq,
    V: Send,
    A: Data + crate::codec::RkyvData,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        let new = {
            let mut store = lock(&self.store);
            let slot = match store.entry(&key) {
                Ok(slot) => slot,
                Err(e) => return ctx.fail(e),
            };
            let old = slot.take();
            let existed = old.is_some();
            let new = (self.fold)(&key, value, old);
            slot.clone_from(&new);
            if !existed && new.is_none() {
                // Deleting an absent key changes nothing downstream.
                return;
            }
            new
        };
        self.next.process(ctx, key, new);
    }
}
