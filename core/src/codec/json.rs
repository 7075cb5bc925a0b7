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
        serde_json::from_slice(bytes).map_err(|e| CodecError::new("json", e))
    }

    fn name(&self) -> &'static str {
        "json"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
