//! Fuzzing the codecs, which decode bytes from disk or other processes:
//! none may panic or allocate without bound; each returns an error or a
//! value. A bounded number of cases per run (`PROPTEST_CASES` raises it).
//! The embedded log's batch decoder has the same fuzzing in its unit tests
//! (`core/src/log/format.rs`), as it is private to the log.

use proptest::prelude::*;
use std::collections::BTreeMap;
use tributary::codec::{Codec, Json, Optional, RawBytes, Rkyv, Unit, Utf8};
use tributary::topology::Windowed;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_codec_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Codec::<serde_json::Value>::decode(&Json, &bytes);
        let _ = Codec::<BTreeMap<String, Vec<i64>>>::decode(&Json, &bytes);
        let _ = Codec::<String>::decode(&Utf8, &bytes);
        let _ = Codec::<Vec<u8>>::decode(&RawBytes, &bytes);
        let _ = Codec::<()>::decode(&Unit, &bytes);
        let _ = Codec::<Option<String>>::decode(&Optional(Utf8), &bytes);
        let _ = Codec::<Option<u64>>::decode(&Optional(Json), &bytes);
        let _ = Codec::<u64>::decode(&Rkyv, &bytes);
        let _ = Codec::<String>::decode(&Rkyv, &bytes);
        let _ = Codec::<Vec<(String, u64)>>::decode(&Rkyv, &bytes);
        let _ = Codec::<Option<Vec<u8>>>::decode(&Rkyv, &bytes);
        let _ = Codec::<Windowed<String>>::decode(&Rkyv, &bytes);
        let _ = Codec::<Windowed<String>>::decode(&Json, &bytes);
    }

    /// rkyv values with bytes changed: bytecheck rejects them or they
    /// decode, never a panic or an out-of-bounds read.
    #[test]
    fn rkyv_survives_damaged_values(
        value in prop::collection::vec(("[a-z]{0,12}", any::<u64>()), 0..8),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = Vec::new();
        Codec::<Vec<(String, u64)>>::encode(&Rkyv, &value, &mut bytes).unwrap();
        prop_assert_eq!(Codec::<Vec<(String, u64)>>::decode(&Rkyv, &bytes).unwrap(), value);
        for (at, byte) in edits {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
        }
        let _ = Codec::<Vec<(String, u64)>>::decode(&Rkyv, &bytes);
    }
}
