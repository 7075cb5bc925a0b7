//! Shared workloads of the benchmarks and the throughput harness.

pub mod backends;
pub mod dsl;
pub mod nexmark;
pub mod process;
pub mod scrape;
pub mod state;
pub mod windows;

use serde::{Deserialize, Serialize};
use tributary::Batch;
use tributary::log::prelude::*;

/// A 100-byte payload, as used by the log benchmarks.
pub const PAYLOAD: [u8; 100] = [b'x'; 100];

/// The record type of the pipeline benchmarks (rkyv and JSON).
#[derive(
    Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Bid {
    /// Auction id.
    pub auction: u64,
    /// Bidder id.
    pub bidder: u64,
    /// Price in cents.
    pub price: u64,
    /// Event time.
    pub date_time: i64,
}

/// The output of the pipeline benchmarks.
#[derive(
    Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Priced {
    /// Auction id.
    pub auction: u64,
    /// Price in euros.
    pub euros: u64,
}

/// Appends `n` records with 100-byte values to one partition, in batches
/// of `batch` records.
pub fn append_payloads(
    log: &dyn Log,
    topic: &str,
    partition: u32,
    n: u64,
    batch: usize,
) -> anyhow::Result<()> {
    let mut b = Batch::new();
    for i in 0..n {
        b.push(i as i64, Some(&i.to_le_bytes()), Some(&PAYLOAD), &[]);
        if b.len() >= batch {
            log.append(topic, partition, &b)?;
            b.clear();
        }
    }
    log.append(topic, partition, &b)?;
    Ok(())
}

/// Median of `samples` (sorted in place).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
