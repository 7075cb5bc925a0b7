//! Replay: the recommendation pipeline runs live while the shop's events
//! arrive, then rebuilds its state from history, and the two must agree.
//!
//! 1. **Live**: a producer writes the shop's events to `activity` at a
//!    steady rate while the pipeline of `examples/recommendations` runs
//!    (`--threads`, 2 here by default); when the producer is done, the application
//!    processes what is left and ends event time (a bounded run's end), so
//!    that the last windows and sessions close.
//! 2. **Replay**: the application is reset (inputs from the earliest
//!    offset, internal topics deleted, local state dropped, as
//!    `--replay-from earliest` does) and runs to the end of its inputs as
//!    a bounded run, as fast as it can (`--replay-threads`, 2 by default).
//! 3. **Check**: every store of the application (sessions, item windows,
//!    co-view counts, related items, user activity) holds the same bytes in
//!    every partition after both runs, and the last value of every key of
//!    `recommendations` and `suggestions` the replay wrote equals the live
//!    run's. Then it prints the replay speed.
//!
//! The pipeline's results follow event time: windows close when the
//! watermark passes them, and a view is joined with its item's related
//! items as of its window's start, not as they happen to be when it is
//! processed. That is what makes the live run and the replay, which
//! process the same events in very different orders and speeds, agree.
//!
//! ```text
//! cargo run -p tributary-examples --example replay [-- --events N --rate EVENTS_PER_S]
//! ```

#[path = "../support/mod.rs"]
mod support;

// The demo's pipeline and shop; what only the demo uses is unused here.
#[allow(dead_code)]
#[path = "../recommendations/pipeline.rs"]
mod pipeline;
#[allow(dead_code)]
#[path = "../recommendations/shop.rs"]
mod shop;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::Related;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::log::{EmbeddedLog, prelude::*};
use tributary::runtime::ReplayFrom;
use tributary::settings::Flags;
use tributary::{App, Config, Topology};

/// The example's flags: its own, and every application's standard ones.
#[derive(Debug, clap::Parser)]
#[command(about = "Tributary's replay example: a live run, then a replay that must agree with it")]
struct Args {
    /// Shop events to produce during the live run.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Events produced per second during the live run.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Users of the shop.
    #[arg(long, default_value_t = 100_000)]
    users: u32,
    /// Items in the catalog.
    #[arg(long, default_value_t = 10_000)]
    items: u32,
    /// Worker threads of the replay (those of the live run: `--threads`).
    #[arg(long, default_value_t = 2)]
    replay_threads: usize,
    #[command(flatten)]
    settings: Flags,
}

/// A store's entries as stored (encoded key, encoded value), per partition.
type StoreBytes = Vec<Vec<(Vec<u8>, Vec<u8>)>>;

/// What a run left: every store's bytes, partition by partition, and the
/// last value of every key of the two output topics.
#[derive(Debug, PartialEq)]
struct Outcome {
    stores: BTreeMap<String, StoreBytes>,
    recommendations: BTreeMap<String, Vec<Related>>,
    suggestions: BTreeMap<String, Vec<String>>,
}

fn main() -> Result<()> {
    let args = <Args as clap::Parser>::parse();
    let (settings, given, log) = shop::open(&args.settings, "replay")?;
    let config = settings.config.clone();
    support::produce(
        &log,
        "catalog",
        shop::catalog(args.items)
            .into_iter()
            .map(|(id, item)| (id, item, 0)),
    )?;
    let topology = || pipeline::topology(&Arc::default(), &Arc::default());

    println!(
        "live: {} shop events produced at {}/s while the pipeline runs ({} worker threads)",
        args.events, args.rate, config.threads
    );
    let started = Instant::now();
    let live = live_run(topology()?, &log, &config, &args)?;
    println!(
        "live: done in {:.1?}: {} items with recommendations, {} users with suggestions",
        started.elapsed(),
        live.recommendations.len(),
        live.suggestions.len()
    );

    let from = [
        support::ends(&log, "recommendations")?,
        support::ends(&log, "suggestions")?,
    ];
    println!(
        "replay: reset to the earliest offsets, state and internal topics dropped; a bounded run to the end ({} worker threads)",
        args.replay_threads
    );
    let started = Instant::now();
    let stats = App::new(
        topology()?,
        Arc::clone(&log) as Arc<dyn Log>,
        Config {
            replay_from: Some(ReplayFrom::Earliest),
            threads: args.replay_threads,
            ..config.clone()
        },
    )?
    .run_to_end()?;
    let took = started.elapsed();
    let replayed = outcome(topology()?, &log, &config, &from)?;

    let events = log_records(&log, "activity")?;
    println!(
        "replay: {events} events in {took:.2?}: {:.0} events/s ({} records through the pipeline's sub-topologies)",
        events as f64 / took.as_secs_f64(),
        stats.records_in
    );
    compare(&live, &replayed)?;
    if !given {
        let _ = std::fs::remove_dir_all(&settings.data_dir);
    }
    Ok(())
}

/// Runs the pipeline while the shop's events are produced, then to the end
/// of its input; what it left.
fn live_run(
    topology: Topology,
    log: &Arc<EmbeddedLog>,
    config: &Config,
    args: &Args,
) -> Result<Outcome> {
    let running = App::new(topology, Arc::clone(log) as Arc<dyn Log>, config.clone())?.start()?;
    let producer = {
        let (log, events, rate, users, items) = (
            Arc::clone(log),
            args.events,
            args.rate,
            args.users,
            args.items,
        );
        std::thread::spawn(move || shop::produce(&log, events, rate, users, items))
    };
    let bar = ProgressBar::new(args.events).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} events produced, {msg}")
            .context("progress style")?,
    );
    while !producer.is_finished() {
        bar.set_position(shop::produced(log)?);
        bar.set_message(format!("{} records processed", running.records_in()));
        std::thread::sleep(Duration::from_millis(200));
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    running.drain()?;
    bar.finish_and_clear();
    let from = [0; support::PARTITIONS as usize];
    outcome(
        pipeline::topology(&Arc::default(), &Arc::default())?,
        log,
        config,
        &[from.to_vec(), from.to_vec()],
    )
}

/// The stores of the (stopped) application, and the last value per key of
/// its outputs from offsets `from` (recommendations, suggestions) on.
fn outcome(
    topology: Topology,
    log: &Arc<EmbeddedLog>,
    config: &Config,
    from: &[Vec<u64>; 2],
) -> Result<Outcome> {
    let names = topology.store_names();
    let app = App::new(topology, Arc::clone(log) as Arc<dyn Log>, config.clone())?;
    let mut stores = BTreeMap::new();
    for name in names {
        let reader = app.store::<(), ()>(&name)?;
        let partitions = (0..support::PARTITIONS)
            .map(|p| reader.encoded_partition(p))
            .collect::<tributary::Result<Vec<_>>>()?;
        stores.insert(name, partitions);
    }
    Ok(Outcome {
        stores,
        recommendations: support::latest_since(log, "recommendations", &from[0])?,
        suggestions: support::latest_since(log, "suggestions", &from[1])?,
    })
}

/// Records in `topic`.
fn log_records(log: &EmbeddedLog, topic: &str) -> Result<u64> {
    let mut n = 0;
    for p in 0..support::PARTITIONS {
        let (start, end) = log.offsets(topic, p)?;
        n += end - start;
    }
    Ok(n)
}

/// Prints what was compared, and fails on the first difference.
fn compare(live: &Outcome, replayed: &Outcome) -> Result<()> {
    for (name, partitions) in &live.stores {
        let other = replayed.stores.get(name);
        let entries: usize = partitions.iter().map(Vec::len).sum();
        anyhow::ensure!(
            other == Some(partitions),
            "store '{name}' differs after the replay ({entries} entries live, {} replayed)",
            other.map_or(0, |o| o.iter().map(Vec::len).sum::<usize>())
        );
        println!("checked: store '{name}' identical in every partition ({entries} entries)");
    }
    for (topic, same, n) in [
        (
            "recommendations",
            live.recommendations == replayed.recommendations,
            live.recommendations.len(),
        ),
        (
            "suggestions",
            live.suggestions == replayed.suggestions,
            live.suggestions.len(),
        ),
    ] {
        anyhow::ensure!(same, "the last values of '{topic}' differ after the replay");
        println!("checked: the last value of each of the {n} keys of '{topic}' identical");
    }
    println!("the replay rebuilt exactly what the live run had");
    Ok(())
}
