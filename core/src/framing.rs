//! How records are laid out in a batch, back to back: the layout of a
//! [`Batch`](crate::Batch)'s bytes and of the records in the embedded log's
//! on-disk batches (which write a batch's bytes as they are, after a
//! header). All integers are varints (LEB128); signed ones zigzag-encoded.
//!
//! | field | encoding |
//! |---|---|
//! | body length (the rest of the record) | varint |
//! | timestamp minus the batch's first timestamp | zigzag varint |
//! | offset minus the batch's base offset | varint |
//! | key length, -1 for none; key | zigzag varint; bytes |
//! | value length, -1 for a tombstone; value | zigzag varint; bytes |
//! | header count | varint |
//! | per header: name length, name (UTF-8), value length, value | varint, bytes, varint, bytes |

use crate::record::Header;
use std::ops::Range;

/// Appends one record.
#[inline]
pub(crate) fn put_record(
    buf: &mut Vec<u8>,
    ts_delta: i64,
    offset_delta: u32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let offset_delta = u64::from(offset_delta);
    let mut body = zigzag_len(ts_delta) + varint_len(offset_delta);
    body += opt_len(key) + opt_len(value);
    body += varint_len(headers.len() as u64);
    for h in headers {
        body += varint_len(h.name.len() as u64) + h.name.len();
        body += varint_len(h.value.len() as u64) + h.value.len();
    }
    buf.reserve(body + 10);
    put_varint(buf, body as u64);
    put_varint(buf, zigzag(ts_delta));
    put_varint(buf, offset_delta);
    put_opt(buf, key);
    put_opt(buf, value);
    put_varint(buf, headers.len() as u64);
    for h in headers {
        put_varint(buf, h.name.len() as u64);
        buf.extend_from_slice(h.name.as_bytes());
        put_varint(buf, h.value.len() as u64);
        buf.extend_from_slice(&h.value);
    }
}

/// Where the fields of one record lie in its buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Framed {
    pub(crate) ts_delta: i64,
    pub(crate) offset_delta: u64,
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Option<Range<usize>>,
    /// The header section, after the count.
    pub(crate) headers: Range<usize>,
    pub(crate) header_count: u64,
    /// Where the next record starts.
    pub(crate) end: usize,
}

/// Reads the record at `pos` of `buf`, checking every length against the
/// buffer (the bytes may come from a damaged disk).
#[inline]
pub(crate) fn read_record(buf: &[u8], pos: usize) -> Result<Framed, &'static str> {
    let mut r = Reader { buf, pos };
    let body_len = usize::try_from(r.varint()?).map_err(|_| "length")?;
    let end = r.pos.checked_add(body_len).ok_or("length")?;
    if end > buf.len() {
        return Err("record runs past the batch");
    }
    let ts_delta = r.zigzag()?;
    let offset_delta = r.varint()?;
    let key = r.optional()?;
    let value = r.optional()?;
    let header_count = r.varint()?;
    let headers_start = r.pos;
    for _ in 0..header_count {
        r.field()?;
        r.field()?;
    }
    let headers = headers_start..r.pos;
    if r.pos != end {
        return Err("record length mismatch");
    }
    Ok(Framed {
        ts_delta,
        offset_delta,
        key,
        value,
        headers,
        header_count,
        end,
    })
}

/// The (name, value) ranges of `count` headers framed in `buf[range]`
/// (already checked by [`read_record`]).
pub(crate) fn headers(
    buf: &[u8],
    range: Range<usize>,
    count: u64,
) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
    let mut r = Reader {
        buf,
        pos: range.start,
    };
    (0..count).map_while(move |_| Some((r.field().ok()?, r.field().ok()?)))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    #[inline]
    fn varint(&mut self) -> Result<u64, &'static str> {
        // Most fields (deltas, short lengths) fit in one byte.
        if let Some(&byte) = self.buf.get(self.pos)
            && byte & 0x80 == 0
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or("varint")?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long")
    }

    #[inline]
    fn zigzag(&mut self) -> Result<i64, &'static str> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    #[inline]
    fn take(&mut self, len: usize) -> Result<Range<usize>, &'static str> {
        let end = self.pos.checked_add(len).ok_or("length")?;
        if end > self.buf.len() {
            return Err("field runs past the batch");
        }
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    /// A varint length and that many bytes.
    fn field(&mut self) -> Result<Range<usize>, &'static str> {
        let len = self.varint()?;
        self.take(usize::try_from(len).map_err(|_| "length")?)
    }

    /// A zigzag length (-1: none) and that many bytes.
    #[inline]
    fn optional(&mut self) -> Result<Option<Range<usize>>, &'static str> {
        match self.zigzag()? {
            -1 => Ok(None),
            len if len >= 0 => self.take(len as usize).map(Some),
            _ => Err("negative length"),
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn zigzag_len(v: i64) -> usize {
    varint_len(zigzag(v))
}

fn opt_len(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => zigzag_len(b.len() as i64) + b.len(),
        None => 1,
    }
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn put_opt(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, zigzag(b.len() as i64));
            buf.extend_from_slice(b);
        }
        None => put_varint(buf, zigzag(-1)),
    }
}
