//! State workloads: count by key, restore from changelog, memory.

use anyhow::Result;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::Rkyv;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Topology};

const PARTITIONS: u32 = 4;

/// Figures of one count-by-key run.
#[derive(Debug, Clone, Copy)]
pub struct CountRun {
    /// Input records per second while counting.
    pub count_rate: f64,
    /// Changelog records per second while restoring the deleted state.
    pub restore_rate: f64,
}

fn topology() -> Result<Topology> {
    let mut b = Topology::builder("count-bench");
    b.stream::<u64, u64>("events", Rkyv, Rkyv)
        .group_by_key()
        .count("counts");
    Ok(b.build()?)
}

/// Writes `n` records to a new topic, keyed by `key(i)`, stamped `time(i)`
/// (rkyv u64 keys and values, the value being `i`).
pub(crate) fn produce(
    log: &EmbeddedLog,
    topic: &str,
    n: u64,
    mut key: impl FnMut(u64) -> u64,
    time: impl Fn(u64) -> i64,
) -> Result<()> {
    use tributary::codec::Codec;
    log.create_topic(topic, &TopicConfig::new(PARTITIONS))?;
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    let (mut k, mut v) = (Vec::new(), Vec::new());
    for i in 0..n {
        let id = key(i);
        k.clear();
        v.clear();
        Rkyv.encode(&id, &mut k)?;
        Rkyv.encode(&i, &mut v)?;
        let p = tributary::partition_for_key(&k, PARTITIONS) as usize;
        batches[p].push(time(i), Some(&k), Some(&v), &[]);
        if batches[p].len() >= 1000 {
            log.append(topic, p as u32, &batches[p])?;
            batches[p].clear();
        }
    }
    for (p, b) in batches.iter_mut().enumerate() {
        log.append(topic, p as u32, b)?;
    }
    Ok(())
}

/// The allowed out-of-orderness of the workloads, in ms (the harness's
/// `--out-of-orderness-ms`; default 0).
pub static OUT_OF_ORDERNESS_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn config(dir: &std::path::Path) -> Config {
    let ooo = OUT_OF_ORDERNESS_MS.load(std::sync::atomic::Ordering::Relaxed);
    crate::scrape::with_metrics(Config {
        threads: 2,
        state_dir: dir.join("state"),
        max_out_of_orderness: Duration::from_millis(ooo),
        ..Config::default()
    })
}

/// Runs until `n` records are processed; returns the elapsed time.
pub(crate) fn run_to(app: App, n: u64) -> Result<Duration> {
    let t = Instant::now();
    let running = app.start()?;
    let scraper = crate::scrape::Scraper::start(&running);
    while running.records_in() < n {
        anyhow::ensure!(!running.is_stopping(), "application stopped");
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = t.elapsed();
    drop(scraper);
    running.shutdown()?;
    Ok(took)
}

/// Counts `n` records over `keys` Zipf-distributed keys, then deletes the
/// state and measures the restore from the changelog.
pub fn count_and_restore(n: u64, keys: u64) -> Result<CountRun> {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log"))?);
    let zipf = Zipf::new(keys as f64, 1.0)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    produce(
        &log,
        "events",
        n,
        |_| zipf.sample(&mut rng) as u64,
        |i| i as i64,
    )?;
    let app = App::new(
        topology()?,
        Arc::clone(&log) as Arc<dyn Log>,
        config(dir.path()),
    )?;
    let took = run_to(app, n)?;
    let count_rate = n as f64 / took.as_secs_f64();

    std::fs::remove_dir_all(dir.path().join("state"))?;
    let (restored, rate) = timed_restore(&log, config(dir.path()))?;
    anyhow::ensure!(restored > 0, "nothing was restored");
    Ok(CountRun {
        count_rate,
        restore_rate: rate,
    })
}

/// Starts the count application and stops it once its tasks have
/// restored their stores; returns the changelog records restored and their
/// rate from `App::new` until every task was restored.
fn timed_restore(log: &Arc<EmbeddedLog>, config: Config) -> Result<(u64, f64)> {
    let t = Instant::now();
    let app = App::new(topology()?, Arc::clone(log) as Arc<dyn Log>, config)?;
    let running = app.start()?;
    running.wait_until_restored(Duration::from_secs(3600))?;
    let took = t.elapsed();
    let stats = running.shutdown()?;
    Ok((stats.restored, stats.restored as f64 / took.as_secs_f64()))
}

/// Restores a count store from a changelog of `n` records over `keys`
/// uniformly drawn keys, written directly; returns changelog records per
/// second (from `App::new` until the workers start).
pub fn restore(n: u64, keys: u64) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log"))?);
    log.create_topic("events", &TopicConfig::new(PARTITIONS))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    produce(
        &log,
        "count-bench-counts-changelog",
        n,
        |_| rand::Rng::random_range(&mut rng, 0..keys),
        |i| i as i64,
    )?;
    let (restored, rate) = timed_restore(&log, config(dir.path()))?;
    anyhow::ensure!(restored == n, "restored {restored} of {n}");
    Ok(rate)
}

/// Peak figures of one memory run, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct MemoryRun {
    /// Keys held at the end.
    pub keys: u64,
    /// The state budget (`Config::state_memory`).
    pub budget: u64,
    /// Peak resident memory of the whole process (`VmHWM`) while counting.
    pub peak_rss_counting: u64,
    /// Peak resident memory of the whole process at the end.
    pub peak_rss: u64,
    /// Peak resident memory before the application started (input written).
    pub rss_before: u64,
    /// Largest state memory the backend reported (sampled every 100 ms).
    pub peak_state: u64,
    /// Input records per second.
    pub rate: f64,
    /// Changelog records per second when the deleted state was restored.
    pub restore_rate: f64,
    /// Changelog records restored.
    pub restored: u64,
}

/// Counts `keys` distinct keys (each twice) with a state budget of
/// `budget` bytes, sampling memory as it goes; then deletes the state and
/// restores it from the changelog.
pub fn memory(keys: u64, budget: usize) -> Result<MemoryRun> {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log"))?);
    produce(&log, "events", keys * 2, |i| i % keys, |i| i as i64)?;
    let rss_before = crate::process::peak_rss().unwrap_or(0);
    let cfg = Config {
        state_memory: budget,
        ..config(dir.path())
    };
    let app = App::new(topology()?, Arc::clone(&log) as Arc<dyn Log>, cfg.clone())?;
    let t = Instant::now();
    let running = app.start()?;
    let mut peak_state = 0;
    while running.records_in() < keys * 2 {
        anyhow::ensure!(!running.is_stopping(), "application stopped");
        peak_state = peak_state.max(running.state_memory());
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t.elapsed();
    running.shutdown()?;
    let peak_rss_counting = crate::process::peak_rss().unwrap_or(0);
    // The same state, restored from the changelog.
    std::fs::remove_dir_all(&cfg.state_dir)?;
    let (restored, restore_rate) = timed_restore(&log, cfg.clone())?;
    let app = App::new(topology()?, Arc::clone(&log) as Arc<dyn Log>, cfg)?;
    let held = app.store::<u64, u64>("counts")?.len()?;
    Ok(MemoryRun {
        keys: held as u64,
        budget: budget as u64,
        peak_rss_counting,
        peak_rss: crate::process::peak_rss().unwrap_or(0),
        rss_before,
        peak_state,
        rate: (keys * 2) as f64 / took.as_secs_f64(),
        restore_rate,
        restored,
    })
}
