//! librdkafka's errors as Tributary's.

use rdkafka::error::KafkaError;
use tributary::Error;

/// A Kafka error while doing `context`.
pub(crate) fn backend(context: impl Into<String>, e: KafkaError) -> Error {
    Error::Backend {
        context: context.into(),
        source: Box::new(e),
    }
}
