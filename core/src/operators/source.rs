//! Sources: decode a topic's records into typed keys and values.

use super::{Ctx, Data, NodeCell, Processor};
use crate::codec::{Codec, CodecError};
use crate::record::Record;
use std::sync::Arc;

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
        ctx.timestamp = record.timestamp;
        self.next.process(ctx, key, value);
        Ok(())
    }
}

/// Creates the source factory for a typed node.
pub(crate) fn factory<K, V, KC, VC>(
    node: Arc<NodeCell<K, V>>,
    key_codec: KC,
    value_codec: VC,
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
            next,
        }) as Box<dyn SourceProcessor>)
    })
}

/// Builds a source's processor chain for one task.
pub(crate) type SourceFactory =
    Arc<dyn Fn(&mut super::TaskInit<'_>) -> crate::Result<Box<dyn SourceProcessor>> + Send + Sync>;
