//! A run's results, read back from [`OUT_TOPIC`] as the sorted lines
//! [`reference::results`](super::reference::results) gives.

use super::model::{Auction, Bid};
use super::queries::{Format, OUT_TOPIC, PARTITIONS, Query};
use super::rows::{Q0Row, Q1Row, Q3Row, Q7Row, Q8Row, Q11Row};
use anyhow::Result;
use std::collections::BTreeMap;
use tributary::Record;
use tributary::codec::Codec;
use tributary::log::prelude::*;

/// Every record of every partition of [`OUT_TOPIC`], partition by
/// partition, in order.
pub fn records(log: &dyn Log) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        let (mut pos, end) = log.offsets(OUT_TOPIC, p)?;
        while pos < end {
            let before = out.len();
            log.fetch(OUT_TOPIC, p, pos, 1 << 20, &mut out)?;
            anyhow::ensure!(out.len() > before, "{OUT_TOPIC}/{p}: no progress at {pos}");
            pos = out.last().map_or(end, |r: &Record| r.offset + 1);
        }
    }
    Ok(out)
}

fn value<T, C: Codec<T>>(format: &C, r: &Record) -> Result<T> {
    let bytes = r.value.as_deref().unwrap_or_default();
    Ok(format.decode(bytes)?)
}

fn key<T, C: Codec<T>>(format: &C, r: &Record) -> Result<T> {
    let bytes = r.key.as_deref().unwrap_or_default();
    Ok(format.decode(bytes)?)
}

/// The latest value of every key (a key's updates are in one partition,
/// in order).
fn latest<K: Ord, V>(
    records: &[Record],
    mut decode: impl FnMut(&Record) -> Result<(K, V)>,
) -> Result<BTreeMap<K, V>> {
    let mut out = BTreeMap::new();
    for r in records {
        let (k, v) = decode(r)?;
        out.insert(k, v);
    }
    Ok(out)
}

/// The results of `query` in `log`, written with `format`, as sorted lines.
pub fn results<C: Format>(log: &dyn Log, query: Query, format: &C) -> Result<Vec<String>> {
    let records = records(log)?;
    let each = |f: &dyn Fn(&Record) -> Result<String>| -> Result<Vec<String>> {
        records.iter().map(f).collect()
    };
    let mut lines = match query {
        Query::Q0 => each(&|r| Ok(format!("{:?}", value::<Q0Row, _>(format, r)?)))?,
        Query::Q1 => each(&|r| Ok(format!("{:?}", value::<Q1Row, _>(format, r)?)))?,
        Query::Q2 => each(&|r| {
            let (auction, price) = value::<(u64, u64), _>(format, r)?;
            Ok(format!("{auction} {price}"))
        })?,
        Query::Q3 => each(&|r| Ok(format!("{:?}", value::<Q3Row, _>(format, r)?)))?,
        Query::Q4 => latest(&records, |r| {
            Ok((key::<u64, _>(format, r)?, value::<f64, _>(format, r)?))
        })?
        .into_iter()
        .map(|(category, avg)| format!("{category} {avg:?}"))
        .collect(),
        Query::Q5 => latest(&records, |r| {
            Ok((
                key::<i64, _>(format, r)?,
                value::<(u64, Vec<u64>), _>(format, r)?,
            ))
        })?
        .into_iter()
        .flat_map(|(start, (n, auctions))| {
            auctions
                .into_iter()
                .map(move |auction| format!("{start} {auction} {n}"))
        })
        .collect(),
        Query::Q7 => each(&|r| Ok(format!("{:?}", value::<Q7Row, _>(format, r)?)))?,
        Query::Q8 => each(&|r| Ok(format!("{:?}", value::<Q8Row, _>(format, r)?)))?,
        Query::Q9 => latest(&records, |r| {
            Ok((
                key::<u64, _>(format, r)?,
                value::<(Auction, Bid), _>(format, r)?,
            ))
        })?
        .into_iter()
        .map(|(id, (a, b))| format!("{id} {a:?} {b:?}"))
        .collect(),
        Query::Q11 => each(&|r| Ok(format!("{:?}", value::<Q11Row, _>(format, r)?)))?,
        Query::Q12 => {
            let windows = latest(&records, |r| {
                Ok((
                    key::<(u64, i64), _>(format, r)?,
                    value::<u64, _>(format, r)?,
                ))
            })?;
            let mut per_bidder: BTreeMap<u64, u64> = BTreeMap::new();
            for ((bidder, _), n) in windows {
                *per_bidder.entry(bidder).or_default() += n;
            }
            per_bidder
                .into_iter()
                .map(|(bidder, n)| format!("{bidder} {n}"))
                .collect()
        }
    };
    lines.sort_unstable();
    Ok(lines)
}
