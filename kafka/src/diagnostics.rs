//! Why a connection to the cluster fails: librdkafka reports the cause (a
//! TLS handshake refused, SASL credentials rejected, a broker unreachable)
//! through its error callback, while the operation that needed the
//! connection only learns "broker transport failure". The clients made
//! from one [`KafkaConfig`](crate::KafkaConfig) report to its
//! [`Diagnostics`], and the errors of operations that failed for want of a
//! connection name the last cause.

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tributary::Error;

/// How long a reported cause counts as the cause of a failed operation.
const RECENT: Duration = Duration::from_secs(60);

/// The last cause librdkafka reported for the clients of one configuration.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    last: Mutex<Option<(Instant, String)>>,
}

impl Diagnostics {
    /// Records a cause reported by librdkafka (and logs it). "All brokers
    /// are down" follows the failure that took the last one down: it does
    /// not replace that more telling cause.
    pub(crate) fn report(&self, error: &KafkaError, reason: &str) {
        tracing::warn!(error = %error, "librdkafka: {reason}");
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let consequence = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        if !consequence || last.as_ref().is_none_or(|(at, _)| at.elapsed() >= RECENT) {
            *last = Some((Instant::now(), reason.to_owned()));
        }
    }

    /// The last cause reported within [`RECENT`], if any.
    fn recent(&self) -> Option<String> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(at, _)| at.elapsed() < RECENT)
            .map(|(_, reason)| reason.clone())
    }

    /// A Kafka error while doing `context`; one that comes from a failed
    /// connection names the last cause reported.
    pub(crate) fn error(&self, context: impl Into<String>, e: KafkaError) -> Error {
        let mut context = context.into();
        let connection = matches!(
            e.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::BrokerTransportFailure
                    | RDKafkaErrorCode::AllBrokersDown
                    | RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
                    | RDKafkaErrorCode::OperationTimedOut
                    | RDKafkaErrorCode::RequestTimedOut
                    | RDKafkaErrorCode::MessageTimedOut
            )
        );
        if connection && let Some(cause) = self.recent() {
            context = format!("{context} (librdkafka's last connection error: {cause})");
        }
        crate::error::backend(context, e)
    }
}

/// The context of this crate's clients that need no other: reports
/// librdkafka's errors to the configuration's [`Diagnostics`].
#[derive(Debug, Clone)]
pub(crate) struct Reporting(pub(crate) Arc<Diagnostics>);

impl ClientContext for Reporting {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.report(&error, reason);
    }
}

impl rdkafka::consumer::ConsumerContext for Reporting {}
