//! Criterion benchmarks of the codecs on the pipeline record type, and of
//! decoding Nexmark events (the part of a Nexmark query that depends on the
//! format).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tributary::codec::{Codec, Json, Rkyv};
use tributary_benches::Bid;
use tributary_benches::nexmark::model::{self, Event};

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

/// Decoding 10,000 Nexmark events (persons, auctions and bids in the
/// generator's mix) into owned values, as a query's source does.
fn nexmark_events(c: &mut Criterion) {
    let events: Vec<Event> = model::events(10_000).collect();
    let encode = |codec: &dyn Fn(&Event, &mut Vec<u8>)| -> Vec<Vec<u8>> {
        events
            .iter()
            .map(|e| {
                let mut buf = Vec::new();
                codec(e, &mut buf);
                buf
            })
            .collect()
    };
    let json = encode(&|e, buf| Json.encode(e, buf).unwrap());
    let rkyv = encode(&|e, buf| Rkyv.encode(e, buf).unwrap());
    let mut g = c.benchmark_group("nexmark events");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("json decode", |b| {
        b.iter(|| {
            for v in &json {
                black_box(Codec::<Event>::decode(&Json, v).unwrap());
            }
        })
    });
    g.bench_function("rkyv decode (validated)", |b| {
        b.iter(|| {
            for v in &rkyv {
                black_box(Codec::<Event>::decode(&Rkyv, v).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, codecs, nexmark_events);
criterion_main!(benches);
