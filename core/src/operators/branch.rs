//! Branching: route each record to the first branch whose predicate holds.

use super::{Ctx, Data, Processor};
use std::sync::Arc;

/// A branch predicate.
pub(crate) type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// Sends a record to the first matching branch; unmatched records are dropped.
pub(crate) struct Branch<K, V> {
    pub(crate) branches: Vec<(Predicate<K, V>, Box<dyn Processor<K, V>>)>,
}

impl<K: Data, V: Data> Processor<K, V> for Branch<K, V> {
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        for (pred, next) in &mut self.branches {
            if pred(&key, &value) {
                next.process(ctx, key, value);
                return;
            }
        }
    }
}
