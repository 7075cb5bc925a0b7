//! Records: the unit of data in a topic partition.
//!
//! A [`Record`] carries an offset (its position in the partition), an event
//! timestamp in milliseconds, an optional key, an optional value (no value is
//! a *tombstone*) and headers. Keys and values are [`Bytes`], so records read
//! from the log share the fetched buffer instead of copying it.
//!
//! A [`Batch`] is what every backend's writer takes: records to append to one
//! partition, in order, in no backend's format (the embedded log encodes it
//! into its batch format, Kafka's producer into its own).

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

/// Records to append to one partition, in order; the backend assigns offsets.
///
/// Keys and values are copied into one buffer as they are pushed, so a batch
/// of small records costs a few allocations, not several per record; clear
/// and reuse it.
///
/// # Examples
///
/// ```
/// use tributary::Batch;
/// let mut b = Batch::new();
/// b.push(1000, Some(b"k"), Some(b"v"), &[]);
/// b.push(1005, None, None, &[]);
/// assert_eq!(b.len(), 2);
/// let r = b.iter().next().unwrap();
/// assert_eq!((r.timestamp, r.key, r.value), (1000, Some(&b"k"[..]), Some(&b"v"[..])));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    slots: Vec<Slot>,
    headers: Vec<Header>,
    header_bytes: usize,
}

/// Where one record of a [`Batch`] lies in its buffers.
#[derive(Debug, Clone, Copy)]
struct Slot {
    timestamp: i64,
    start: usize,
    key_len: Option<u32>,
    value_len: Option<u32>,
    headers_end: usize,
}

/// One record of a [`Batch`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    /// Event time, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The key, if any.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [Header],
}

impl Batch {
    /// Bytes counted per record by [`Batch::size`], besides its key, value
    /// and headers (a backend's framing: timestamp, lengths, offset).
    pub const RECORD_OVERHEAD: usize = 16;

    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// About how many bytes the batch takes on the wire or on disk: keys,
    /// values and headers, plus [`Batch::RECORD_OVERHEAD`] per record. For
    /// deciding when to flush; a backend checks its own exact limit.
    pub fn size(&self) -> usize {
        self.bytes.len() + self.header_bytes + self.slots.len() * Self::RECORD_OVERHEAD
    }

    /// Removes every record, keeping the allocations.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.slots.clear();
        self.headers.clear();
        self.header_bytes = 0;
    }

    /// Adds a record at the end.
    ///
    /// # Panics
    ///
    /// If a key or value is 4 GiB or larger (no backend takes such a record).
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        let start = self.bytes.len();
        let len = |b: &[u8]| u32::try_from(b.len()).expect("a key or value under 4 GiB");
        let key_len = key.map(len);
        let value_len = value.map(len);
        self.bytes.extend_from_slice(key.unwrap_or_default());
        self.bytes.extend_from_slice(value.unwrap_or_default());
        for h in headers {
            self.header_bytes += h.name.len() + h.value.len() + 2;
        }
        self.headers.extend_from_slice(headers);
        self.slots.push(Slot {
            timestamp,
            start,
            key_len,
            value_len,
            headers_end: self.headers.len(),
        });
    }

    /// Adds a record, taking timestamp, key, value and headers from `record`
    /// (its offset is the backend's to assign).
    pub fn push_record(&mut self, record: &Record) {
        self.push(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
    }

    /// The records, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = BatchRecord<'_>> + '_ {
        self.slots.iter().enumerate().map(|(i, s)| {
            let key_end = s.start + s.key_len.map_or(0, |l| l as usize);
            let value_end = key_end + s.value_len.map_or(0, |l| l as usize);
            let headers_start = if i == 0 {
                0
            } else {
                self.slots[i - 1].headers_end
            };
            BatchRecord {
                timestamp: s.timestamp,
                key: s.key_len.map(|_| &self.bytes[s.start..key_end]),
                value: s.value_len.map(|_| &self.bytes[key_end..value_end]),
                headers: &self.headers[headers_start..s.headers_end],
            }
        })
    }

    /// Largest timestamp in the batch (`i64::MIN` when empty).
    pub fn max_timestamp(&self) -> i64 {
        self.slots
            .iter()
            .map(|s| s.timestamp)
            .max()
            .unwrap_or(i64::MIN)
    }
}

impl BatchRecord<'_> {
    /// An owned [`Record`] at `offset`.
    pub fn to_record(&self, offset: u64) -> Record {
        Record {
            offset,
            timestamp: self.timestamp,
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self.headers.to_vec(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gives_back_what_was_pushed() {
        let mut b = Batch::new();
        b.push(
            5,
            Some(b"k1"),
            Some(b"value"),
            &[Header::new("h", &b"x"[..])],
        );
        b.push(-3, None, None, &[]);
        b.push(
            7,
            Some(b""),
            Some(b""),
            &[Header::new("a", &b""[..]), Header::new("b", &b"yz"[..])],
        );
        let got: Vec<Record> = b
            .iter()
            .enumerate()
            .map(|(i, r)| r.to_record(i as u64))
            .collect();
        let want = vec![
            Record::new(5, Some(&b"k1"[..]), Some(&b"value"[..])).with_header("h", &b"x"[..]),
            Record {
                offset: 1,
                ..Record::new(-3, None::<Bytes>, None::<Bytes>)
            },
            Record {
                offset: 2,
                ..Record::new(7, Some(&b""[..]), Some(&b""[..]))
            }
            .with_header("a", &b""[..])
            .with_header("b", &b"yz"[..]),
        ];
        assert_eq!(got, want);
        assert_eq!(b.max_timestamp(), 7);
        // Keys and values: 7 bytes; headers: names, values and 2 each: 12.
        assert_eq!(b.size(), 7 + 12 + 3 * Batch::RECORD_OVERHEAD);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(
            (b.size(), b.iter().count(), b.max_timestamp()),
            (0, 0, i64::MIN)
        );
    }
}
