//! Codecs that pass bytes through: raw bytes, UTF-8 strings, and no key at all.

use super::{Codec, CodecError};
use bytes::Bytes;

/// Bytes as they are, for `Vec<u8>` and [`Bytes`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawBytes;

impl Codec<Vec<u8>> for RawBytes {
    fn encode(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(value);
        Ok(())
    }
    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
        Ok(bytes.to_vec())
    }
    fn name(&self) -> &'static str {
        "bytes"
    }
}

impl Codec<Bytes> for RawBytes {
    fn encode(&self, value: &Bytes, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(value);
        Ok(())
    }
    fn decode(&self, bytes: &[u8]) -> Result<Bytes, CodecError> {
        Ok(Bytes::copy_from_slice(bytes))
    }
    fn name(&self) -> &'static str {
        "bytes"
    }
}

/// UTF-8 text as `String`; invalid UTF-8 is a decode error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8;

impl Codec<String> for Utf8 {
    fn encode(&self, value: &String, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| CodecError::new("utf8", e))
    }
    fn name(&self) -> &'static str {
        "utf8"
    }
}

/// The key codec of streams without keys: `()` is written as an absent key,
/// and whatever key a record has is ignored on read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unit;

impl Codec<()> for Unit {
    fn encode(&self, _value: &(), _out: &mut Vec<u8>) -> Result<(), CodecError> {
        Ok(())
    }
    fn decode(&self, _bytes: &[u8]) -> Result<(), CodecError> {
        Ok(())
    }
    fn name(&self) -> &'static str {
        "unit"
    }
    fn encode_opt(&self, _value: &(), _out: &mut Vec<u8>) -> Result<bool, CodecError> {
        Ok(false)
    }
    fn decode_opt(&self, _bytes: Option<&[u8]>) -> Result<(), CodecError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_rejects_invalid_bytes() {
        assert!(Utf8.decode(&[0xff, 0xfe]).is_err());
        assert_eq!(Utf8.decode(b"hi").unwrap(), "hi");
    }

    #[test]
    fn unit_is_absent() {
        let mut out = Vec::new();
        assert!(!Unit.encode_opt(&(), &mut out).unwrap());
        assert!(Unit.decode_opt(None).is_ok());
    }
}
