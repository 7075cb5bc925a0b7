//! Branching: route each record to the first branch whose predicate holds.

use super::{Ctx, Data, Processor};
use std::sync::Arc;

/// A branch predicate.
pub(crate) type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// A branch: its predicate and the chain below it.
pub(crate) type Arm<K, V> = (Predicate<K, V>, Box<dyn Processor<K, V>>);

/// Sends a record to the first matching branch; unmatched records are dropped.
pub(crate) struct Branch<K, V> {
    pub(crate) branches: Vec<Arm<K, V>>,
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
