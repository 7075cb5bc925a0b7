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
