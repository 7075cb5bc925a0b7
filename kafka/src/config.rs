//! Where the cluster is and how to talk to it.

use crate::diagnostics::{Diagnostics, Reporting};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tributary::{Error, Result};

/// The brokers, librdkafka properties passed through, and Tributary's own
/// settings for a cluster.
///
/// # Examples
///
/// ```
/// use tributary_kafka::KafkaConfig;
/// let config = KafkaConfig::new("127.0.0.1:9092")
///     .set("client.id", "clicks-app")
///     .replication_factor(3);
/// assert_eq!(config.property("client.id"), Some("clicks-app"));
/// ```
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    brokers: String,
    properties: BTreeMap<String, String>,
    replication_factor: i32,
    timeout: Duration,
    reader_idle: Duration,
    /// Shared by the clients made from this configuration and its clones.
    diagnostics: Arc<Diagnostics>,
}

impl KafkaConfig {
    /// A cluster reached through `brokers` (`host:port[,host:port...]`),
    /// with Tributary's defaults.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            properties: BTreeMap::new(),
            replication_factor: 1,
            timeout: Duration::from_secs(30),
            reader_idle: Duration::from_secs(30),
            diagnostics: Arc::default(),
        }
    }

    /// Sets a librdkafka property for every client (producer, consumers,
    /// admin); it overrides Tributary's default for that property.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Reads librdkafka properties from a file of `key=value` lines (`#`
    /// starts a comment), as Kafka's own tools take them.
    pub fn properties_file(mut self, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            context: format!("reading Kafka properties {}", path.display()),
            source: e,
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(Error::InvalidConfig(format!(
                    "{} line {}: expected key=value, found '{line}'",
                    path.display(),
                    n + 1
                )));
            };
            self.properties
                .insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Ok(self)
    }

    /// Replication factor of the topics the application creates (internal
    /// topics, dead-letter); 1 by default.
    pub fn replication_factor(mut self, factor: i32) -> Self {
        self.replication_factor = factor;
        self
    }

    /// How long a request to the cluster may take before it is an error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A property set with [`set`](Self::set) or from a file.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// The brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// How long the consumer reading a partition may sit unused before it
    /// is closed (default 30 s): a partition that moved to another instance,
    /// or a changelog read once for a restore, stops costing a connection
    /// and background fetches. Reading the partition again opens a new one.
    pub fn reader_idle_timeout(mut self, idle: Duration) -> Self {
        self.reader_idle = idle;
        self
    }

    /// Where the clients of this configuration report librdkafka's errors.
    pub(crate) fn diagnostics(&self) -> &Arc<Diagnostics> {
        &self.diagnostics
    }

    /// A client context reporting to [`diagnostics`](Self::diagnostics).
    pub(crate) fn reporting(&self) -> Reporting {
        Reporting(Arc::clone(&self.diagnostics))
    }

    /// A Kafka error while doing `context`, with the last connection
    /// error's cause when it failed for want of a connection.
    pub(crate) fn error(&self, context: impl Into<String>, e: rdkafka::error::KafkaError) -> Error {
        self.diagnostics.error(context, e)
    }

    pub(crate) fn reader_idle(&self) -> Duration {
        self.reader_idle
    }

    pub(crate) fn replication(&self) -> i32 {
        self.replication_factor
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// A librdkafka client configuration: `defaults` for the client's role,
    /// then the user's properties over them.
    pub(crate) fn client(&self, defaults: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_come_from_a_file_and_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.properties");
        std::fs::write(&path, "# TLS\nsecurity.protocol = ssl\n\nlinger.ms=20\n").unwrap();
        let config = KafkaConfig::new("b:9092").properties_file(&path).unwrap();
        assert_eq!(config.property("security.protocol"), Some("ssl"));
        let client = config.client(&[("linger.ms", "5"), ("acks", "all")]);
        assert_eq!(client.get("linger.ms"), Some("20"));
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("bootstrap.servers"), Some("b:9092"));
        std::fs::write(&path, "no equals sign\n").unwrap();
        let err = KafkaConfig::new("b:9092")
            .properties_file(&path)
            .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
