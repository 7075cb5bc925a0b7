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
/// Records are framed into one buffer as they are pushed (the layout is
/// `framing.rs`'s, which is also the embedded log's: it writes a batch's
/// bytes as they are, after a header), so a batch costs no allocation per
/// record; clear and reuse it. Other backends read the records back with
/// [`iter`](Batch::iter).
///
/// # Examples
///
/// ```
/// use tributary::{Batch, Header};
/// let mut b = Batch::new();
/// b.push(1000, Some(b"k"), Some(b"v"), &[Header::new("trace", &b"7"[..])]);
/// b.push(1005, None, None, &[]);
/// assert_eq!(b.len(), 2);
/// let r = b.iter().next().unwrap();
/// assert_eq!((r.timestamp, r.key, r.value), (1000, Some(&b"k"[..]), Some(&b"v"[..])));
/// assert_eq!(r.headers.iter().collect::<Vec<_>>(), vec![("trace", &b"7"[..])]);
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    bytes: Vec<u8>,
    count: u32,
    first_timestamp: i64,
    max_timestamp: i64,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            bytes: Vec::new(),
            count: 0,
            first_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }
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
    pub headers: BatchHeaders<'a>,
}

/// The headers of a [`BatchRecord`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeaders<'a> {
    buf: &'a [u8],
    range: (usize, usize),
    count: u64,
}

impl<'a> BatchHeaders<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if the record has no header.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers' names and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let buf = self.buf;
        crate::framing::headers(buf, self.range.0..self.range.1, self.count).map(
            move |(name, value)| {
                // Names were pushed as `String`s: valid UTF-8.
                (
                    std::str::from_utf8(&buf[name]).unwrap_or_default(),
                    &buf[value],
                )
            },
        )
    }

    /// The headers, owned.
    pub fn to_vec(&self) -> Vec<Header> {
        self.iter()
            .map(|(n, v)| Header::new(n, Bytes::copy_from_slice(v)))
            .collect()
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the framed records: keys, values, headers and a few bytes
    /// of lengths and deltas per record. For deciding when to flush; a
    /// backend checks its own limit.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Removes every record, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
        self.first_timestamp = 0;
        self.max_timestamp = i64::MIN;
    }

    /// Adds a record at the end.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        if self.count == 0 {
            self.first_timestamp = timestamp;
        }
        let ts_delta = timestamp.wrapping_sub(self.first_timestamp);
        crate::framing::put_record(&mut self.bytes, ts_delta, self.count, key, value, headers);
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
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
    pub fn iter(&self) -> impl Iterator<Item = BatchRecord<'_>> + '_ {
        let buf = &self.bytes[..];
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= buf.len() {
                return None;
            }
            // The batch framed these bytes itself.
            let f = crate::framing::read_record(buf, pos).ok()?;
            pos = f.end;
            Some(BatchRecord {
                timestamp: self.first_timestamp.wrapping_add(f.ts_delta),
                key: f.key.map(|k| &buf[k]),
                value: f.value.map(|v| &buf[v]),
                headers: BatchHeaders {
                    buf,
                    range: (f.headers.start, f.headers.end),
                    count: f.header_count,
                },
            })
        })
    }

    /// Timestamp of the first record (0 when empty).
    pub fn first_timestamp(&self) -> i64 {
        self.first_timestamp
    }

    /// Largest timestamp in the batch (`i64::MIN` when empty).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// The framed records (see `framing.rs`).
    pub(crate) fn framed(&self) -> &[u8] {
        &self.bytes
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
        // Framed: 17, 6 and 14 bytes (see framing.rs).
        assert_eq!(b.size(), 17 + 6 + 14);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(
            (b.size(), b.iter().count(), b.max_timestamp()),
            (0, 0, i64::MIN)
        );
    }
}
