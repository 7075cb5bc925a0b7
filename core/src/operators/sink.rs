//! Sinks: encode typed records and batch them per output partition.

use super::{Ctx, Data, Processor};
use crate::codec::Codec;
use crate::error::Error;
use crate::partitioner::partition_for_key;

/// Writes records to a topic, partitioned by Kafka's default partitioner.
pub(crate) struct Sink<KC, VC> {
    pub(crate) slot: usize,
    pub(crate) key_codec: KC,
    pub(crate) value_codec: VC,
    /// Round-robin position for records without a key.
    pub(crate) next_unkeyed: u32,
}

impl<K, V, KC, VC> Processor<K, V> for Sink<KC, VC>
where
    K: Data,
    V: Data,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        ctx.key_buf.clear();
        ctx.value_buf.clear();
        let has_key = match self.key_codec.encode_opt(&key, &mut ctx.key_buf) {
            Ok(k) => k,
            Err(e) => return ctx.fail(Error::Codec(e)),
        };
        let has_value = match self.value_codec.encode_opt(&value, &mut ctx.value_buf) {
            Ok(v) => v,
            Err(e) => return ctx.fail(Error::Codec(e)),
        };
        let out = &mut ctx.outputs[self.slot];
        let n = out.batches.len() as u32;
        let p = if has_key {
            partition_for_key(&ctx.key_buf, n)
        } else {
            self.next_unkeyed = (self.next_unkeyed + 1) % n;
            self.next_unkeyed
        };
        out.batches[p as usize].push(
            ctx.timestamp,
            has_key.then_some(&ctx.key_buf[..]),
            has_value.then_some(&ctx.value_buf[..]),
            &[],
        );
    }
}
