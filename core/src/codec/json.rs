//! The JSON codec.

use super::{Codec, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON through serde_json: readable, and understood by every other client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        serde_json::to_writer(out, value).map_err(|e| CodecError::new("json", e))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        // One vectorised UTF-8 check of the whole value lets serde_json skip
        // its check of every string (a tenth of decoding Nexmark's events).
        // JSON outside strings is ASCII, so this accepts exactly what
        // `from_slice` accepts; on invalid UTF-8, `from_slice` gives the
        // error with its position.
        match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        }
        .map_err(|e| CodecError::new("json", e))
    }

    fn name(&self) -> &'static str {
        "json"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_an_error_with_its_position() {
        let e = Codec::<String>::decode(&Json, b"\"ab\xff\"").unwrap_err();
        assert_eq!(e.codec, "json");
        assert!(
            e.message.contains("invalid unicode") && e.message.contains("column"),
            "{e}"
        );
        let e = Codec::<Vec<u8>>::decode(&Json, b"[1,\xff]").unwrap_err();
        assert!(e.message.contains("column 4"), "{e}");
    }

    #[test]
    fn floats_come_back_exactly() {
        // serde_json's fast float parser can be one unit in the last place
        // off; `float_roundtrip` makes every f64 come back bit for bit.
        for x in [
            124_784.624_000_000_01_f64,
            0.1 + 0.2,
            29_415_633.247_352_026,
            f64::MIN_POSITIVE,
        ] {
            let mut buf = Vec::new();
            Json.encode(&x, &mut buf).unwrap();
            let back: f64 = Json.decode(&buf).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{x:?} came back as {back:?}");
        }
    }
}
