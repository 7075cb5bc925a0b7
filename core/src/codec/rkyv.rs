//! The rkyv codec: fast, validated binary encoding.

use super::{Codec, CodecError};
use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::de::Pool;
use rkyv::rancor::{Error as RancorError, Strategy};
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use std::cell::Cell;

/// Types the [`Rkyv`] codec can carry: derive `rkyv::Archive`,
/// `rkyv::Serialize` and `rkyv::Deserialize` (the archived type must be
/// checkable, which the derive provides).
pub trait RkyvData:
    rkyv::Archive<
        Archived: for<'a> CheckBytes<HighValidator<'a, RancorError>>
                      + rkyv::Deserialize<Self, Strategy<Pool, RancorError>>,
    > + for<'a> rkyv::Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RancorError>>
    + Sized
{
}

impl<T> RkyvData for T where
    T: rkyv::Archive<
            Archived: for<'a> CheckBytes<HighValidator<'a, RancorError>>
                          + rkyv::Deserialize<T, Strategy<Pool, RancorError>>,
        > + for<'a> rkyv::Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RancorError>>
{
}

/// rkyv encoding; every decode validates the bytes first (bytecheck), so
/// damaged or hostile input is an error, never undefined behaviour.
///
/// # Examples
///
/// ```
/// use tributary::codec::{Codec, Rkyv};
/// let mut buf = Vec::new();
/// Rkyv.encode(&(7u64, "seven".to_string()), &mut buf).unwrap();
/// let back: (u64, String) = Rkyv.decode(&buf).unwrap();
/// assert_eq!(back, (7, "seven".to_string()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Rkyv;

thread_local! {
    /// Reused buffers: rkyv writes into an aligned buffer, and reads need
    /// aligned bytes, while log records sit at arbitrary positions.
    static ENCODE: Cell<AlignedVec> = Cell::new(AlignedVec::new());
    static DECODE: Cell<AlignedVec> = Cell::new(AlignedVec::new());
}

impl<T: RkyvData> Codec<T> for Rkyv {
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let mut buf = ENCODE.take();
        buf.clear();
        let result = rkyv::api::high::to_bytes_in::<_, RancorError>(value, buf);
        match result {
            Ok(buf) => {
                out.extend_from_slice(&buf);
                ENCODE.set(buf);
                Ok(())
            }
            Err(e) => Err(CodecError::new("rkyv", e)),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let mut buf = DECODE.take();
        buf.clear();
        buf.extend_from_slice(bytes);
        let result = rkyv::from_bytes::<T, RancorError>(&buf);
        DECODE.set(buf);
        result.map_err(|e| CodecError::new("rkyv", e))
    }

    fn name(&self) -> &'static str {
        "rkyv"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rkyv_round_trip_and_rejects_garbage() {
        let mut buf = Vec::new();
        Rkyv.encode(&vec!["a".to_string(), "bc".to_string()], &mut buf)
            .unwrap();
        let back: Vec<String> = Rkyv.decode(&buf).unwrap();
        assert_eq!(back, vec!["a".to_string(), "bc".to_string()]);
        // Truncated or random bytes are rejected by validation.
        assert!(Codec::<Vec<String>>::decode(&Rkyv, &buf[..buf.len() / 2]).is_err());
        assert!(Codec::<u64>::decode(&Rkyv, &[0xff; 3]).is_err());
        assert!(
            Codec::<String>::decode(&Rkyv, &[0x80, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1])
                .is_err()
        );
    }
}
