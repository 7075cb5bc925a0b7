//! Topic-to-topic pipelines on any backend: the embedded log, or a
//! Kafka-protocol broker on loopback (started by `scripts/kafka-broker.sh`,
//! as the Kafka backend's tests do), so that the same pipelines are
//! measured on both in one run.

use crate::{Bid, Priced, scrape};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Codec, Rkyv};
use tributary::log::{EmbeddedLog, Log, TopicConfig};
use tributary::{App, Config, Topology};
use tributary_kafka::{KafkaConfig, KafkaLog};

/// Partitions of every topic of these pipelines.
pub const PARTITIONS: u32 = 4;

/// An embedded log in a fresh temporary directory (removed on drop).
pub fn embedded() -> Result<(tempfile::TempDir, Arc<dyn Log>)> {
    let dir = tempfile::tempdir()?;
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir.path())?);
    Ok((dir, log))
}

/// A noida-db broker on a free loopback port; stopped on drop.
#[derive(Debug)]
pub struct Broker {
    pid: String,
    address: String,
    _dir: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-broker.sh")
}

impl Broker {
    /// Starts one (installing it on first use).
    pub fn start() -> Result<Broker> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = Command::new("bash")
            .arg(script())
            .args(["start", "noida", &port.to_string()])
            .arg(dir.path())
            .output()
            .context("running scripts/kafka-broker.sh")?;
        anyhow::ensure!(
            out.status.success(),
            "starting the broker: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Broker {
            pid: String::from_utf8(out.stdout)?.trim().to_owned(),
            address: format!("127.0.0.1:{port}"),
            _dir: dir,
        })
    }

    /// A client of it, with the backend's defaults.
    pub fn log(&self) -> Result<Arc<dyn Log>> {
        Ok(Arc::new(KafkaLog::connect(KafkaConfig::new(
            self.address.clone(),
        ))?))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.pid])
            .status();
    }
}

/// Writes `n` bids to `topic`, round robin over the partitions, keyed by
/// auction, in batches of 1000.
fn write_bids<C: Codec<Bid> + Codec<u64>>(
    log: &dyn Log,
    topic: &str,
    codec: &C,
    n: u64,
) -> Result<()> {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    let (mut k, mut v) = (Vec::new(), Vec::new());
    for i in 0..n {
        let bid = Bid {
            auction: i % 1000,
            bidder: i % 7777,
            price: 100 + i % 10_000,
            date_time: i as i64,
        };
        k.clear();
        v.clear();
        Codec::<u64>::encode(codec, &bid.auction, &mut k)?;
        Codec::<Bid>::encode(codec, &bid, &mut v)?;
        let p = (i % u64::from(PARTITIONS)) as usize;
        batches[p].push(bid.date_time, Some(&k), Some(&v), &[]);
        if batches[p].len() >= 1000 {
            log.append(topic, p as u32, &batches[p])?;
            batches[p].clear();
        }
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append(topic, p as u32, b)?;
        log.flush(topic, p as u32)?;
    }
    Ok(())
}

/// Records in `topic`.
fn records_in(log: &dyn Log, topic: &str) -> Result<u64> {
    Ok((0..PARTITIONS)
        .map(|p| log.offsets(topic, p).map(|(start, end)| end - start))
        .sum::<tributary::Result<u64>>()?)
}

/// Runs `topology` (application `name`) with 2 worker threads until
/// `topic` holds `expected` records; records/s over the `n` inputs.
fn run_until(
    log: &Arc<dyn Log>,
    topology: Topology,
    name: &str,
    (topic, expected): (&str, u64),
    n: u64,
) -> Result<f64> {
    let state = tempfile::tempdir()?;
    let config = scrape::with_metrics(Config {
        threads: 2,
        application_id: Some(name.to_owned()),
        state_dir: state.path().to_owned(),
        ..Config::default()
    });
    let app = App::new(topology, Arc::clone(log), config)?;
    let t = Instant::now();
    let running = app.start()?;
    let scraper = scrape::Scraper::start(&running);
    while records_in(log.as_ref(), topic)? < expected {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(300),
            "{name} did not finish"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = t.elapsed();
    drop(scraper);
    running.shutdown()?;
    anyhow::ensure!(
        records_in(log.as_ref(), topic)? == expected,
        "{topic}: more records than the {expected} expected"
    );
    Ok(n as f64 / took.as_secs_f64())
}

/// Filter + map from topic to topic (`<name>-bids` to `<name>-priced`, 2
/// worker threads) over `n` bids; records/s.
pub fn filter_map<C>(log: &Arc<dyn Log>, name: &str, codec: C, n: u64) -> Result<f64>
where
    C: Codec<Bid> + Codec<Priced> + Codec<u64>,
{
    let (input, output) = (format!("{name}-bids"), format!("{name}-priced"));
    for t in [&input, &output] {
        log.create_topic(t, &TopicConfig::new(PARTITIONS))?;
    }
    write_bids(log.as_ref(), &input, &codec, n)?;
    let expected = (0..n).filter(|i| (100 + i % 10_000) >= 1000).count() as u64;
    let mut b = Topology::builder(name);
    b.stream::<u64, Bid>(&input, codec.clone(), codec.clone())
        .filter(|_k, bid| bid.price >= 1000)
        .map_values(|bid| Priced {
            auction: bid.auction,
            euros: bid.price / 100,
        })
        .to(&output, codec.clone(), codec);
    run_until(log, b.build()?, name, (&output, expected), n)
}

/// Count by key (1000 auctions), every update written to `<name>-counts`,
/// 2 worker threads, over `n` rkyv bids; records/s.
pub fn count_by_key(log: &Arc<dyn Log>, name: &str, n: u64) -> Result<f64> {
    let (input, output) = (format!("{name}-bids"), format!("{name}-counts"));
    for t in [&input, &output] {
        log.create_topic(t, &TopicConfig::new(PARTITIONS))?;
    }
    write_bids(log.as_ref(), &input, &Rkyv, n)?;
    let mut b = Topology::builder(name);
    b.stream::<u64, Bid>(&input, Rkyv, Rkyv)
        .group_by_key()
        .count("counts")
        .to_stream()
        .to(&output, Rkyv, Rkyv);
    run_until(log, b.build()?, name, (&output, n), n)
}
