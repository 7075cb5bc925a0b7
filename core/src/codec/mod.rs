//! Codecs: how typed keys and values become bytes and back.
//!
//! A [`Codec<T>`] encodes a `T` into bytes and decodes bytes into a `T`.
//! Tributary ships four:
//!
//! - [`Json`] (serde_json): the default at topic boundaries, so that producers
//!   and consumers in any language interoperate;
//! - [`Rkyv`]: a fast binary format for internal topics (repartitions,
//!   changelogs); bytes are always validated before use, never trusted;
//! - [`RawBytes`] and [`Utf8`]: bytes and strings as they are;
//! - [`Unit`]: for streams without keys (the record key is absent);
//! - [`Optional`]: `Option<T>` over another codec, `None` being a tombstone.
//!
//! Decoding never panics on bad input: it returns a [`CodecError`], and the
//! runtime routes the record to the dead-letter topic.

// Data read from disk or the wire is never unwrapped here.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod json;
mod optional;
mod raw;
mod rkyv;

pub use self::json::Json;
pub use self::optional::Optional;
pub use self::raw::{RawBytes, Unit, Utf8};
pub use self::rkyv::{Rkyv, RkyvData};

/// A key or value that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec} codec: {message}")]
pub struct CodecError {
    /// The codec that failed.
    pub codec: &'static str,
    /// What went wrong.
    pub message: String,
}

impl CodecError {
    /// Creates an error for `codec`.
    pub fn new(codec: &'static str, message: impl std::fmt::Display) -> Self {
        CodecError {
            codec,
            message: message.to_string(),
        }
    }
}

/// Turns values of type `T` into bytes and back.
///
/// Implementations are cheap to clone and shared between tasks.
///
/// # Examples
///
/// ```
/// use tributary::codec::{Codec, Json};
/// let mut buf = Vec::new();
/// Json.encode(&vec![1, 2, 3], &mut buf).unwrap();
/// assert_eq!(buf, b"[1,2,3]");
/// let back: Vec<i32> = Json.decode(&buf).unwrap();
/// assert_eq!(back, vec![1, 2, 3]);
/// assert!(Codec::<Vec<i32>>::decode(&Json, b"[1,").is_err());
/// ```
pub trait Codec<T>: Clone + Send + Sync + 'static {
    /// Appends the encoding of `value` to `out` (which callers pass empty).
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes a value from `bytes`.
    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError>;

    /// A short name for descriptions and error messages.
    fn name(&self) -> &'static str;

    /// Encodes an optional field: returns `false` when the value is to be
    /// written as absent (no key, or a tombstone). Only [`Unit`] does that.
    fn encode_opt(&self, value: &T, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        self.encode(value, out).map(|()| true)
    }

    /// Decodes an optional field; an absent one is an error except for [`Unit`].
    fn decode_opt(&self, bytes: Option<&[u8]>) -> Result<T, CodecError> {
        match bytes {
            Some(b) => self.decode(b),
            None => Err(CodecError::new(
                self.name(),
                "field is absent (null key or tombstone)",
            )),
        }
    }
}
