//! Atomic batches of state changes and metadata.

use crate::StoreId;
use crate::error::{Error, Result};

/// One operation of a [`StateBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Set a key of a store partition.
    Put {
        /// The store.
        store: StoreId,
        /// The task partition.
        partition: u32,
        /// The key (without the partition prefix).
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove a key of a store partition.
    Delete {
        /// The store.
        store: StoreId,
        /// The task partition.
        partition: u32,
        /// The key (without the partition prefix).
        key: &'a [u8],
    },
    /// Set a metadata entry.
    Meta {
        /// The metadata key.
        key: &'a str,
        /// Its value.
        value: &'a [u8],
    },
}

/// Changes to apply together; operations are packed in one buffer, so
/// building a batch allocates only when it grows.
#[derive(Debug, Default, Clone)]
pub struct StateBatch {
    buf: Vec<u8>,
    len: usize,
}

const PUT: u8 = 1;
const DELETE: u8 = 2;
const META: u8 = 3;

impl StateBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.len = 0;
    }

    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(b);
    }

    /// Sets `key` to `value` in a store partition.
    pub fn put(&mut self, store: StoreId, partition: u32, key: &[u8], value: &[u8]) {
        self.buf.push(PUT);
        self.buf.extend_from_slice(&store.0.to_le_bytes());
        self.buf.extend_from_slice(&partition.to_le_bytes());
        self.bytes(key);
        self.bytes(value);
        self.len += 1;
    }

    /// Deletes `key` from a store partition.
    pub fn delete(&mut self, store: StoreId, partition: u32, key: &[u8]) {
        self.buf.push(DELETE);
        self.buf.extend_from_slice(&store.0.to_le_bytes());
        self.buf.extend_from_slice(&partition.to_le_bytes());
        self.bytes(key);
        self.len += 1;
    }

    /// Sets a metadata entry.
    pub fn meta(&mut self, key: &str, value: &[u8]) {
        self.buf.push(META);
        self.bytes(key.as_bytes());
        self.bytes(value);
        self.len += 1;
    }

    /// The operations, in the order they were added.
    pub fn ops(&self) -> impl Iterator<Item = Result<Op<'_>>> + '_ {
        let mut at = 0;
        let buf = &self.buf;
        std::iter::from_fn(move || {
            if at >= buf.len() {
                return None;
            }
            Some(read_op(buf, &mut at))
        })
    }
}

fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8]> {
    let end = at
        .checked_add(n)
        .filter(|&e| e <= buf.len())
        .ok_or(Error::Batch("truncated"))?;
    let s = &buf[*at..end];
    *at = end;
    Ok(s)
}

fn u32_at(buf: &[u8], at: &mut usize) -> Result<u32> {
    let b = take(buf, at, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn bytes_at<'a>(buf: &'a [u8], at: &mut usize) -> Result<&'a [u8]> {
    let n = u32_at(buf, at)? as usize;
    take(buf, at, n)
}

fn read_op<'a>(buf: &'a [u8], at: &mut usize) -> Result<Op<'a>> {
    let tag = take(buf, at, 1)?[0];
    match tag {
        PUT | DELETE => {
            let store = StoreId(u32_at(buf, at)?);
            let partition = u32_at(buf, at)?;
            let key = bytes_at(buf, at)?;
            if tag == PUT {
                let value = bytes_at(buf, at)?;
                Ok(Op::Put {
                    store,
                    partition,
                    key,
                    value,
                })
            } else {
                Ok(Op::Delete {
                    store,
                    partition,
                    key,
                })
            }
        }
        META => {
            let key =
                std::str::from_utf8(bytes_at(buf, at)?).map_err(|_| Error::Batch("meta key"))?;
            let value = bytes_at(buf, at)?;
            Ok(Op::Meta { key, value })
        }
        _ => Err(Error::Batch("unknown operation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip() {
        let mut b = StateBatch::new();
        b.put(StoreId(1), 3, b"k", b"v");
        b.delete(StoreId(0), 0, b"gone");
        b.meta("task-0_1/position", b"42");
        let ops: Vec<Op<'_>> = b.ops().collect::<Result<_>>().unwrap();
        assert_eq!(
            ops,
            vec![
                Op::Put {
                    store: StoreId(1),
                    partition: 3,
                    key: b"k",
                    value: b"v"
                },
                Op::Delete {
                    store: StoreId(0),
                    partition: 0,
                    key: b"gone"
                },
                Op::Meta {
                    key: "task-0_1/position",
                    value: b"42"
                },
            ]
        );
        assert_eq!(b.len(), 3);
    }
}
