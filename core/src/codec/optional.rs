//! `Option<T>` over any codec: `None` is an absent field (a tombstone).

use super::{Codec, CodecError};

/// Wraps a codec so that `None` is written as an absent value (a
/// tombstone) and an absent value reads as `None`; tables use it.
///
/// # Examples
///
/// ```
/// use tributary::codec::{Codec, Json, Optional};
/// let c = Optional(Json);
/// let mut buf = Vec::new();
/// assert!(!Codec::<Option<u32>>::encode_opt(&c, &None, &mut buf).unwrap());
/// assert_eq!(Codec::<Option<u32>>::decode_opt(&c, None).unwrap(), None);
/// assert_eq!(Codec::<Option<u32>>::decode_opt(&c, Some(b"7")).unwrap(), Some(7));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Optional<C>(pub C);

impl<T, C: Codec<T>> Codec<Option<T>> for Optional<C> {
    fn encode(&self, value: &Option<T>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match value {
            Some(v) => self.0.encode(v, out),
            None => Ok(()),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<Option<T>, CodecError> {
        self.0.decode(bytes).map(Some)
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn encode_opt(&self, value: &Option<T>, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        match value {
            Some(v) => self.0.encode_opt(v, out),
            None => Ok(false),
        }
    }

    fn decode_opt(&self, bytes: Option<&[u8]>) -> Result<Option<T>, CodecError> {
        bytes.map(|b| self.0.decode(b)).transpose()
    }
}
