//! The throughput harness: records/s of the log and of whole pipelines.
//!
//! ```text
//! cargo run --release -p tributary-benches -- [log|pipeline|state|windows|hopping|join|dsl|memory|all] [--records N] [--runs R] [--out-of-orderness-ms MS]
//! cargo run --release -p tributary-benches -- memory [--keys N] [--budget-mib M]
//! cargo run --release -p tributary-benches -- restore [--records N] [--keys K] [--runs R]
//! cargo run --release -p tributary-benches -- kafka [--records N] [--runs R]
//! ```
//!
//! `kafka` runs filter+map and count by key on the embedded log and
//! through a noida-db broker on loopback (started by
//! `scripts/kafka-broker.sh`), alternating.
//!
//! Each figure is the median of R runs (default 5). `memory` runs once and
//! reports the peak resident memory of the process while it holds N keys
//! (default 10M) with a state budget of M MiB (default 256)
//! (run it alone, so that nothing else inflates the peak).

use anyhow::{Context, Result};
use std::time::Instant;
use tributary::codec::{Codec, Json, Rkyv};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary_benches::{
    Bid, Priced, append_payloads, backends, dsl, median, scrape, state, windows,
};

fn log_append(n: u64) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let log = EmbeddedLog::open(dir.path())?;
    log.create_topic("t", &TopicConfig::new(1))?;
    let t = Instant::now();
    append_payloads(&log, "t", 0, n, 1000)?;
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

fn log_read(n: u64) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let log = EmbeddedLog::open(dir.path())?;
    log.create_topic("t", &TopicConfig::new(1))?;
    append_payloads(&log, "t", 0, n, 1000)?;
    let mut out = Vec::with_capacity(20_000);
    let t = Instant::now();
    let mut pos = 0;
    let mut count = 0u64;
    while pos < n {
        out.clear();
        log.fetch("t", 0, pos, 1 << 20, &mut out)?;
        count += out.len() as u64;
        pos = out.last().context("short read")?.offset + 1;
    }
    anyhow::ensure!(count == n);
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Filter + map from topic to topic on the embedded log; records/s.
fn pipeline<C>(codec: C, n: u64) -> Result<f64>
where
    C: Codec<Bid> + Codec<Priced> + Codec<u64>,
{
    let (_dir, log) = backends::embedded()?;
    backends::filter_map(&log, "bench", codec, n)
}

/// Filter+map and count by key on the embedded log and through a broker
/// on loopback, alternating, `runs` times each; prints the medians.
fn kafka(records: u64, runs: usize) -> Result<()> {
    let broker = backends::Broker::start()?;
    let mut figures: [Vec<f64>; 4] = Default::default();
    for run in 0..runs {
        let (_dir, embedded) = backends::embedded()?;
        // A client per run, dropped after it: its consumers' fetch threads
        // would otherwise go on polling the broker during the next runs.
        let kafka = broker.log()?;
        figures[0].push(backends::filter_map(&embedded, "fm", Rkyv, records)?);
        figures[1].push(backends::filter_map(
            &kafka,
            &format!("fm{run}"),
            Rkyv,
            records,
        )?);
        figures[2].push(backends::count_by_key(&embedded, "count", records)?);
        figures[3].push(backends::count_by_key(
            &kafka,
            &format!("count{run}"),
            records,
        )?);
    }
    let names = [
        "filter+map, rkyv, embedded log",
        "filter+map, rkyv, broker (noida-db)",
        "count by key (1000), embedded log",
        "count by key (1000), broker (noida-db)",
    ];
    for (name, samples) in names.iter().zip(&mut figures) {
        println!(
            "{name:<40} median {:>6.2} M records/s   ({runs} runs)",
            median(samples) / 1e6
        );
    }
    Ok(())
}

fn report(name: &str, runs: usize, mut f: impl FnMut() -> Result<f64>) -> Result<()> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        samples.push(f()?);
    }
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(0.0, f64::max);
    let m = median(&mut samples);
    println!(
        "{name:<40} median {:>6.2} M records/s   (min {:.2}, max {:.2}, {runs} runs)",
        m / 1e6,
        min / 1e6,
        max / 1e6
    );
    Ok(())
}

fn main() -> Result<()> {
    // `RUST_LOG=info` shows the runtime's log lines (restore progress...).
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let mut records = 5_000_000u64;
    let mut runs = 5usize;
    let mut what = "all".to_string();
    let mut keys = None;
    let mut budget_mib = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--records" => records = args.next().context("--records N")?.parse()?,
            "--runs" => runs = args.next().context("--runs R")?.parse()?,
            "--keys" => keys = Some(args.next().context("--keys N")?.parse()?),
            "--budget-mib" => budget_mib = Some(args.next().context("--budget-mib M")?.parse()?),
            "--out-of-orderness-ms" => state::OUT_OF_ORDERNESS_MS.store(
                args.next().context("--out-of-orderness-ms N")?.parse()?,
                std::sync::atomic::Ordering::Relaxed,
            ),
            "--metrics" => scrape::METRICS.store(true, std::sync::atomic::Ordering::Relaxed),
            // `cargo bench` passes --bench to every target.
            "--bench" => {}
            "log" | "pipeline" | "state" | "restore" | "windows" | "hopping" | "join" | "dsl"
            | "memory" | "kafka" | "all" => what = a,
            other => anyhow::bail!("unknown argument '{other}'"),
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("tributary throughput harness: {records} records per run, {runs} runs, {cores} cores");
    if what == "log" || what == "all" {
        report("log append (100 B values, batches of 1000)", runs, || {
            log_append(records)
        })?;
        report("log read (100 B values)", runs, || log_read(records))?;
    }
    if what == "pipeline" || what == "all" {
        report("pipeline filter+map, rkyv, 2 threads", runs, || {
            pipeline(Rkyv, records)
        })?;
        report("pipeline filter+map, JSON, 2 threads", runs, || {
            pipeline(Json, records)
        })?;
    }
    if what == "state" || what == "all" {
        let mut restores = Vec::new();
        report("count by key, 1M keys Zipf(1.0), 2 threads", runs, || {
            let r = state::count_and_restore(records, 1_000_000)?;
            restores.push(r.restore_rate);
            Ok(r.count_rate)
        })?;
        let m = median(&mut restores);
        println!(
            "{:<40} median {:>6.2} M records/s   ({runs} runs)",
            "restore from changelog",
            m / 1e6
        );
    }
    if ["windows", "hopping", "all"].contains(&what.as_str()) {
        report("hopping count 10s/2s, 10k keys, 2 threads", runs, || {
            windows::hopping_count(records)
        })?;
    }
    if ["windows", "join", "all"].contains(&what.as_str()) {
        report("windowed join ±2s, 2 threads", runs, || {
            windows::windowed_join(records)
        })?;
    }
    if what == "dsl" || what == "all" {
        // Alternate the two, so that drift in the machine's speed hits both.
        let (mut builder, mut dsl) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            builder.push(windows::hopping_count_with(
                records,
                windows::hopping_topology,
            )?);
            dsl.push(windows::hopping_count_with(records, dsl::hopping_topology)?);
        }
        let (b, d) = (median(&mut builder), median(&mut dsl));
        println!(
            "{:<40} median {:>6.2} M records/s   ({runs} runs)",
            "hopping count, builder",
            b / 1e6
        );
        println!(
            "{:<40} median {:>6.2} M records/s   ({runs} runs)",
            "hopping count, pipeline!",
            d / 1e6
        );
        println!("{:<40} {:.3}", "pipeline! / builder", d / b);
    }
    if what == "kafka" {
        kafka(records, runs)?;
    }
    if what == "restore" {
        let keys = keys.unwrap_or(records / 2);
        report(
            &format!("restore {records} changelog records, {keys} keys"),
            runs,
            || state::restore(records, keys),
        )?;
    }
    if what == "memory" {
        let keys = keys.unwrap_or(10_000_000);
        let budget = budget_mib.unwrap_or(256) << 20;
        let m = state::memory(keys, budget)?;
        let mib = |b: u64| b as f64 / 1048576.0;
        println!(
            "memory: {} keys held, budget {:.0} MiB; peak RSS {:.0} MiB counting, {:.0} MiB with the restore \
             (before the application: {:.0} MiB); \
             peak state memory reported {:.0} MiB; {:.2} M records/s; \
             restored {} changelog records at {:.2} M records/s",
            m.keys,
            mib(m.budget),
            mib(m.peak_rss_counting),
            mib(m.peak_rss),
            mib(m.rss_before),
            mib(m.peak_state),
            m.rate / 1e6,
            m.restored,
            m.restore_rate / 1e6
        );
    }
    Ok(())
}
