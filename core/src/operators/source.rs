//! Sources: decode a topic's records into typed keys and values.

use super::{Ctx, Data, NodeCell, Processor};
use crate::codec::{Codec, CodecError};
use crate::record::Record;
use std::sync::{Arc, OnceLock};

/// Takes a record's event time from its key and value.
pub(crate) type Extractor<K, V> = Arc<dyn Fn(&K, &V) -> i64 + Send + Sync>;

/// Where a source finds its timestamp extractor, set after the source is
/// declared (by [`Stream::event_time`](crate::Stream::event_time)).
pub(crate) type ExtractorSlot<K, V> = Arc<OnceLock<Extractor<K, V>>>;

/// The untyped face of a source, as a task drives it.
pub(crate) trait SourceProcessor: Send {
    /// Decodes `record` and pushes it down the chain; a decode error is
    /// returned untouched, for the task's dead-letter policy.
    fn process(&mut self, ctx: &mut Ctx, record: &Record) -> Result<(), CodecError>;
}

/// A source decoding with a key codec and a value codec.
pub(crate) struct TypedSource<K, V, KC, VC> {
    pub(crate) key_codec: KC,
    pub(crate) value_codec: VC,
    pub(crate) event_time: Option<Extractor<K, V>>,
    pub(crate) next: Box<dyn Processor<K, V>>,
}

impl<K, V, KC, VC> SourceProcessor for TypedSource<K, V, KC, VC>
where
    K: Data,
    V: Data,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn process(&mut self, ctx: &mut Ctx, record: &Record) -> Result<(), CodecError> {
        let key = self.key_codec.decode_opt(record.key.as_deref())?;
        let value = self.value_codec.decode_opt(record.value.as_deref())?;
        let timestamp = match &self.event_time {
            Some(f) => f(&key, &value),
            None => record.timestamp,
        };
        ctx.timestamp = timestamp;
        ctx.clock.observe(ctx.input, timestamp);
        self.next.process(ctx, key, value);
        Ok(())
    }
}

/// Creates the source factory for a typed node.
pub(crate) fn factory<K, V, KC, VC>(
    node: Arc<NodeCell<K, V>>,
    key_codec: KC,
    value_codec: VC,
    event_time: ExtractorSlot<K, V>,
) -> SourceFactory
where
    K: Data,
    V: Data,
    KC: Codec<K>,
    VC: Codec<V>,
{
    Arc::new(move |init| {
        let next = node.instantiate(init)?;
        Ok(Box::new(TypedSource {
            key_codec: key_codec.clone(),
            value_codec: value_codec.clone(),
            event_time: event_time.get().cloned(),
            next,
        }) as Box<dyn SourceProcessor>)
    })
}

/// Builds a source's processor chain for one task.
pub(crate) type SourceFactory =
    Arc<dyn Fn(&mut super::TaskInit<'_>) -> crate::Result<Box<dyn SourceProcessor>> + Send + Sync>;
