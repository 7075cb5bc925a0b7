//! Criterion benchmarks of the codecs on the pipeline record type.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tributary::codec::{Codec, Json, Rkyv};
use tributary_benches::Bid;

fn codecs(c: &mut Criterion) {
    let bid = Bid {
        auction: 1234,
        bidder: 98_765,
        price: 4_200,
        date_time: 1_795_000_000_000,
    };
    let mut g = c.benchmark_group("codec");
    let mut buf = Vec::new();
    g.bench_function("json encode", |b| {
        b.iter(|| {
            buf.clear();
            Json.encode(black_box(&bid), &mut buf).unwrap();
        })
    });
    g.bench_function("rkyv encode", |b| {
        b.iter(|| {
            buf.clear();
            Rkyv.encode(black_box(&bid), &mut buf).unwrap();
        })
    });
    let mut json = Vec::new();
    Json.encode(&bid, &mut json).unwrap();
    let mut rkyv = Vec::new();
    Rkyv.encode(&bid, &mut rkyv).unwrap();
    g.bench_function("json decode", |b| {
        b.iter(|| Codec::<Bid>::decode(&Json, black_box(&json)).unwrap())
    });
    g.bench_function("rkyv decode (validated)", |b| {
        b.iter(|| Codec::<Bid>::decode(&Rkyv, black_box(&rkyv)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
