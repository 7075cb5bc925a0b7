//! Sinks: encode typed records and batch them per output partition.

use super::{Ctx, Data, Processor};
use crate::codec::{Codec, CodecError};
use crate::error::Error;
use crate::partitioner::partition_for_key;
use std::sync::{Arc, OnceLock};

/// Encodes a key as some topic's key codec does.
pub(crate) type KeyEncoder<K> =
    Arc<dyn Fn(&K, &mut Vec<u8>) -> Result<(), CodecError> + Send + Sync>;

/// How a repartition topic chooses partitions, when it must agree with a
/// topic it is joined with: that topic's key encoding, set by the join.
pub(crate) type PartitionSlot<K> = Arc<OnceLock<KeyEncoder<K>>>;

/// `codec` as a type-erased [`KeyEncoder`], for [`SourceDef`](crate::topology::graph::SourceDef).
pub(crate) fn key_encoder<K: 'static, C: Codec<K>>(
    codec: C,
) -> Arc<dyn std::any::Any + Send + Sync> {
    let encode: KeyEncoder<K> = Arc::new(move |k: &K, out: &mut Vec<u8>| codec.encode(k, out));
    Arc::new(encode)
}

/// Writes records to a topic, partitioned by Kafka's default partitioner.
pub(crate) struct Sink<K, KC, VC> {
    pub(crate) slot: usize,
    pub(crate) key_codec: KC,
    pub(crate) value_codec: VC,
    /// Round-robin position for records without a key.
    pub(crate) next_unkeyed: u32,
    /// For repartition topics: partition by the key as this encodes it
    /// (when set) rather than as written.
    pub(crate) partition_by: Option<PartitionSlot<K>>,
    /// The key as `partition_by` encodes it.
    pub(crate) scratch: Vec<u8>,
}

impl<K, V, KC, VC> Processor<K, V> for Sink<K, KC, VC>
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
        let aligned = self.partition_by.as_ref().and_then(|slot| slot.get());
        let p = if let (true, Some(encode)) = (has_key, aligned) {
            self.scratch.clear();
            if let Err(e) = encode(&key, &mut self.scratch) {
                return ctx.fail(Error::Codec(e));
            }
            partition_for_key(&self.scratch, n)
        } else if has_key {
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
