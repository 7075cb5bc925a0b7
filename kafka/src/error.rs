//! librdkafka's errors as Tributary's.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tributary::Error;

/// A Kafka error while doing `context`.
pub(crate) fn backend(context: impl Into<String>, e: KafkaError) -> Error {
    Error::Backend {
        context: context.into(),
        source: Box::new(e),
    }
}

/// The error code of a Kafka error, if it carries one.
pub(crate) fn code(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    e.rdkafka_error_code()
}
