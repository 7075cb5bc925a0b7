//! Records: the unit of data in a topic partition.
//!
//! A [`Record`] carries an offset (its position in the partition), an event
//! timestamp in milliseconds, an optional key, an optional value (no value is
//! a *tombstone*) and headers. Keys and values are [`Bytes`], so records read
//! from the log share the fetched buffer instead of copying it.

use bytes::Bytes;

/// A named byte value attached to a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name.
    pub name: String,
    /// The header value.
    pub value: Bytes,
}

impl Header {
    /// Creates a header.
    pub fn new(name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One record of a topic partition.
///
/// # Examples
///
/// ```
/// use tributary::Record;
/// let r = Record::new(1_700_000_000_000, Some(b"user-1".to_vec()), Some(b"{}".to_vec()));
/// assert_eq!(r.key.as_deref(), Some(&b"user-1"[..]));
/// assert!(!r.is_tombstone());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Position in the partition; assigned by the log on append.
    pub offset: u64,
    /// Event time, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The key, if any; it decides the partition.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

impl Record {
    /// Creates a record with no headers; the offset is set by the log on append.
    pub fn new(
        timestamp: i64,
        key: Option<impl Into<Bytes>>,
        value: Option<impl Into<Bytes>>,
    ) -> Self {
        Record {
            offset: 0,
            timestamp,
            key: key.map(Into::into),
            value: value.map(Into::into),
            headers: Vec::new(),
        }
    }

    /// Adds a header, builder style.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// True when the record has no value.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
}

impl TopicPartition {
    /// Creates a topic-partition pair.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
