//! Criterion benchmarks of the embedded log: batch append and fetch.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tributary::Batch;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary_benches::{PAYLOAD, append_payloads};

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    log.create_topic("t", &TopicConfig::new(1)).unwrap();
    let mut g = c.benchmark_group("log");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("append 1000 x 100 B", |b| {
        let mut batch = Batch::new();
        b.iter(|| {
            batch.clear();
            for i in 0..1000u64 {
                batch.push(i as i64, Some(&i.to_le_bytes()), Some(&PAYLOAD), &[]);
            }
            black_box(log.append("t", 0, &batch).unwrap());
        })
    });
    g.finish();
}

fn fetch(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path()).unwrap();
    log.create_topic("t", &TopicConfig::new(1)).unwrap();
    append_payloads(&log, "t", 0, 200_000, 1000).unwrap();
    let mut out = Vec::new();
    log.fetch("t", 0, 0, 1 << 20, &mut out).unwrap();
    let per_fetch = out.len() as u64;
    let mut g = c.benchmark_group("log");
    g.throughput(Throughput::Elements(per_fetch));
    let mut pos = 0u64;
    g.bench_function("fetch 1 MiB of 100 B records", |b| {
        b.iter(|| {
            out.clear();
            if pos + per_fetch > 200_000 {
                pos = 0;
            }
            log.fetch("t", 0, pos, 1 << 20, &mut out).unwrap();
            pos += out.len() as u64;
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, append, fetch);
criterion_main!(benches);
