//! The Nexmark harness: loads events into the embedded log (timed apart),
//! runs a query over them to the end on worker threads, and reports
//! events/s, the cores the run kept busy, events/s per core (Nexmark's
//! throughput per core: events over CPU time), output records and peak RSS.
//!
//! ```text
//! cargo run --release -p tributary-benches --bin nexmark -- --query q5 --events 5000000 --format json [--runs 3] [--threads 2] [--check]
//! ```
//!
//! `--query all` runs every query. Peak RSS is the process's peak while
//! the query runs (reset after loading, through `/proc/self/clear_refs`).
//! `--check` then compares the last run's results with the reference
//! implementation, and fails if they differ.

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use std::sync::Arc;
use std::time::Instant;
use tributary::codec::{Json, Rkyv};
use tributary::log::{EmbeddedLog, prelude::*};
use tributary_benches::median;
use tributary_benches::nexmark::queries::{Format, OUT_TOPIC, PARTITIONS, Query};
use tributary_benches::nexmark::{load, model, outputs, reference, run};
use tributary_benches::process::{cpu_time, peak_rss, reset_peak_rss};

/// How event values are encoded.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Encoding {
    /// JSON, as any Kafka client would write it.
    Json,
    /// rkyv.
    Rkyv,
}

#[derive(Debug, Parser)]
#[command(about = "Runs Nexmark queries on the embedded log")]
struct Args {
    /// q0, q1, q2, q3, q4, q5, q7, q8, q9, q11, q12 (several separated by
    /// commas), or all.
    #[arg(long, default_value = "all")]
    query: String,
    /// Events to generate.
    #[arg(long, default_value_t = 5_000_000)]
    events: u64,
    /// Encoding of event values.
    #[arg(long, value_enum, default_value_t = Encoding::Json)]
    format: Encoding,
    /// Runs per query; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Compare the last run's results with the reference implementation.
    #[arg(long)]
    check: bool,
    /// Make one run in this process and print its figures (each run is a
    /// child process, so that its peak RSS is its own).
    #[arg(long, hide = true)]
    child: bool,
}

/// One run's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    load_rate: f64,
    rate: f64,
    outputs: u64,
    peak_rss: u64,
    /// CPU time the run took (every thread of the process), over its
    /// wall time: the cores it kept busy.
    cores: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.child {
        let query = args.query.parse().map_err(anyhow::Error::msg)?;
        let f = match args.format {
            Encoding::Json => once(query, &args, Json)?,
            Encoding::Rkyv => once(query, &args, Rkyv)?,
        };
        println!(
            "{} {} {} {} {}",
            f.load_rate, f.rate, f.outputs, f.peak_rss, f.cores
        );
        return Ok(());
    }
    let queries: Vec<Query> = if args.query == "all" {
        Query::ALL.to_vec()
    } else {
        args.query
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?
    };
    println!(
        "| query | events | format | events/s | cores | per core | output records | peak RSS (MiB) | load (events/s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for query in queries {
        bench(query, &args)?;
    }
    Ok(())
}

/// Runs `query` `args.runs` times, each in a child process, and prints
/// the medians.
fn bench(query: Query, args: &Args) -> Result<()> {
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let last = i + 1 == args.runs;
        runs.push(child(query, args, last && args.check)?);
        eprintln!("{} run {}: {:?}", query.name(), i + 1, runs.last());
    }
    let mid = |f: fn(&Figures) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let rate = mid(|r| r.rate);
    // Nexmark's throughput per core: events over the CPU time used.
    println!(
        "| {} | {} | {:?} | {:.2}M | {:.2} | {:.2}M | {} | {:.0} | {:.2}M |",
        query.name(),
        args.events,
        args.format,
        rate / 1e6,
        mid(|r| r.cores),
        mid(|r| r.rate / r.cores) / 1e6,
        runs[0].outputs,
        mid(|r| r.peak_rss as f64) / (1 << 20) as f64,
        mid(|r| r.load_rate) / 1e6,
    );
    Ok(())
}

/// One run of `query` in a child process of this harness.
fn child(query: Query, args: &Args, check: bool) -> Result<Figures> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["--child", "--query", query.name()])
        .args(["--events", &args.events.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .args(["--format", &format!("{:?}", args.format).to_lowercase()]);
    if check {
        cmd.arg("--check");
    }
    let out = cmd.stderr(std::process::Stdio::inherit()).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        query.name(),
        out.status
    );
    let text = String::from_utf8(out.stdout)?;
    let f: Vec<f64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("figures of a run: {text:?}"))?;
    anyhow::ensure!(f.len() == 5, "figures of a run: {text:?}");
    Ok(Figures {
        load_rate: f[0],
        rate: f[1],
        outputs: f[2] as u64,
        peak_rss: f[3] as u64,
        cores: f[4],
    })
}

/// Loads the events, runs `query` and, with `--check`, compares.
fn once<C: Format>(query: Query, args: &Args, format: C) -> Result<Figures> {
    let check = args.check;
    let dir = tempfile::tempdir()?;
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log"))?);
    let t = Instant::now();
    let n = load(log.as_ref(), model::events(args.events), &format)?;
    let load_rate = n as f64 / t.elapsed().as_secs_f64();
    reset_peak_rss();
    let cpu = cpu_time()?;
    let took = run(&log, dir.path(), query, format.clone(), args.threads)?;
    let cpu = cpu_time()? - cpu;
    let peak_rss = peak_rss()?;
    let mut outputs = 0;
    for p in 0..PARTITIONS {
        let (start, end) = log.offsets(OUT_TOPIC, p)?;
        outputs += end - start;
    }
    if check {
        let events: Vec<model::Event> = model::events(args.events).collect();
        let expected = reference::results(query, &events);
        let got = outputs::results(log.as_ref(), query, &format)?;
        anyhow::ensure!(
            got == expected,
            "{}: the results differ from the reference ({} lines, {} expected)",
            query.name(),
            got.len(),
            expected.len()
        );
        eprintln!(
            "{}: {} result lines equal the reference",
            query.name(),
            got.len()
        );
    }
    Ok(Figures {
        load_rate,
        rate: n as f64 / took.as_secs_f64(),
        outputs,
        peak_rss,
        cores: cpu / took.as_secs_f64(),
    })
}
