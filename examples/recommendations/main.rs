//! The main demo: real-time recommendations for a synthetic shop, on the
//! embedded log.
//!
//! A producer writes the shop's events (100k users, 10k items in 20
//! categories, sessions of views, add-to-carts and purchases, Zipf-skewed
//! popularity) to the `activity` topic as JSON, at a steady rate, while the
//! pipeline (`pipeline.rs`) runs: sessions, co-viewed items, a join with
//! the `catalog` table, the top 10 related items per item published to
//! `recommendations` as they change (per window of 1 s of event time), and
//! suggestions per user to `suggestions`. It shows progress, then prints sample recommendations,
//! throughput and end-to-end latency (event produced to recommendation
//! updated), and checks every item's list against a direct computation.
//!
//! ```text
//! scripts/demo.sh [--events N] [--rate EVENTS_PER_S] [--users N] [--items N] [--http 127.0.0.1:8080] ...
//!                  # = cargo run -p tributary-examples --example recommendations
//! ```

#[path = "../support/mod.rs"]
mod support;

mod pipeline;
mod shop;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::{Latencies, Related, TOP, TopList, UserActivity};
use shop::{Action, Activity, Item, SESSION_GAP, produce, produced};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::App;
use tributary::log::prelude::*;
use tributary::settings::Flags;

/// The demo's flags: its own, and every application's standard ones.
#[derive(Debug, clap::Parser)]
#[command(about = "Tributary's demo: real-time recommendations for a synthetic shop")]
struct Args {
    /// Shop events to produce.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Events produced per second (0: as fast as possible).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Users of the shop.
    #[arg(long, default_value_t = 100_000)]
    users: u32,
    /// Items in the catalog.
    #[arg(long, default_value_t = 10_000)]
    items: u32,
    #[command(flatten)]
    settings: Flags,
}

fn main() -> Result<()> {
    let args = <Args as clap::Parser>::parse();
    let (settings, given, log) = shop::open(&args.settings, "recommendations")?;
    println!(
        "Tributary demo: recommendations for a shop of {} users and {} items (embedded log in {})",
        args.users,
        args.items,
        settings.log_dir().display()
    );
    let catalog = shop::catalog(args.items);
    support::produce(
        &log,
        "catalog",
        catalog
            .iter()
            .map(|(id, item)| (id.clone(), item.clone(), 0)),
    )?;

    let recommended = Arc::new(Latencies::default());
    let suggested = Arc::new(Latencies::default());
    let topology = pipeline::topology(&recommended, &suggested)?;
    println!("\n{}", topology.describe());
    let running = App::new(
        topology,
        Arc::clone(&log) as Arc<dyn Log>,
        settings.config.clone(),
    )?
    .serve_store::<String, TopList>("related")?
    .serve_store::<String, UserActivity>("user-activity")?
    .start()?;
    if let Some(addr) = running.http_addr() {
        println!("status page and state: http://{addr}/ (GET /stores/related/i42)");
    }

    let started = Instant::now();
    let producer = {
        let (log, events, rate, users, items) = (
            Arc::clone(&log),
            args.events,
            args.rate,
            args.users,
            args.items,
        );
        std::thread::spawn(move || produce(&log, events, rate, users, items))
    };
    let bar = ProgressBar::new(args.events).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} events produced, {msg}")
            .context("progress style")?,
    );
    while !producer.is_finished() {
        bar.set_position(produced(&log)?);
        bar.set_message(format!(
            "{} records processed, {} recommendation updates",
            running.records_in(),
            recommended.quantile(0.5).1
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    bar.set_position(events.len() as u64);
    // The live input has ended: process what is left, and end event time,
    // so that the last windows and sessions close.
    let stats = running.drain()?;
    let took = started.elapsed();
    bar.finish_and_clear();
    let processed = stats.records_in;

    let recommendations: BTreeMap<String, Vec<Related>> = support::latest(&log, "recommendations")?;
    let suggestions: BTreeMap<String, Vec<String>> = support::latest(&log, "suggestions")?;
    let titles: HashMap<&str, &Item> = catalog.iter().map(|(k, v)| (k.as_str(), v)).collect();
    print_samples(&events, &recommendations, &suggestions, &titles);

    println!(
        "\n{} events in {took:.2?}: {:.0} events/s ({} records through the pipeline, 2 worker threads)",
        events.len(),
        events.len() as f64 / took.as_secs_f64(),
        processed
    );
    for (what, l) in [
        (
            "the recommendation update that counts it (the earliest of each update)",
            &recommended,
        ),
        ("the suggestions it changed", &suggested),
    ] {
        let (p50, n) = l.quantile(0.5);
        let (p99, _) = l.quantile(0.99);
        println!("latency, event produced to {what}: p50 {p50} ms, p99 {p99} ms ({n} updates)");
    }

    let expected = related_directly(&events);
    let got: BTreeMap<&str, Vec<&str>> = recommendations
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(|r| r.item.as_str()).collect()))
        .collect();
    let want: BTreeMap<&str, Vec<&str>> = expected
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    anyhow::ensure!(
        got == want,
        "the published recommendations differ from a direct computation from the sessions"
    );
    println!(
        "checked: the recommendations of all {} items equal a direct computation from the sessions",
        got.len()
    );
    if !given {
        let _ = std::fs::remove_dir_all(&settings.data_dir);
    }
    Ok(())
}

/// The related items of every item, computed directly: each user's views
/// split into sessions at gaps of more than [`SESSION_GAP`], every
/// ordered pair of distinct items of a session counted once.
fn related_directly(events: &[Activity]) -> BTreeMap<String, Vec<String>> {
    let mut views: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
    for a in events.iter().filter(|a| a.action == Action::View) {
        views.entry(&a.user).or_default().push((a.at, &a.item));
    }
    let mut pairs: HashMap<(&str, &str), u64> = HashMap::new();
    for mut vs in views.into_values() {
        vs.sort();
        let mut session: Vec<&str> = Vec::new();
        let mut last: Option<i64> = None;
        for (at, item) in vs {
            if last.is_some_and(|l| at - l > SESSION_GAP) {
                count_pairs(&session, &mut pairs);
                session.clear();
            }
            last = Some(at);
            if !session.contains(&item) {
                session.push(item);
            }
        }
        count_pairs(&session, &mut pairs);
    }
    let mut per_item: BTreeMap<String, Vec<(u64, &str)>> = BTreeMap::new();
    for ((a, b), n) in pairs {
        per_item.entry(a.to_owned()).or_default().push((n, b));
    }
    per_item
        .into_iter()
        .map(|(item, mut related)| {
            related.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| x.1.cmp(y.1)));
            let top = related.into_iter().take(TOP).map(|(_, b)| b.to_owned());
            (item, top.collect())
        })
        .collect()
}

fn count_pairs<'a>(session: &[&'a str], pairs: &mut HashMap<(&'a str, &'a str), u64>) {
    for a in session {
        for b in session {
            if a != b {
                *pairs.entry((a, b)).or_default() += 1;
            }
        }
    }
}

/// Prints the related items of the most viewed items, and the
/// suggestions of the most active users.
fn print_samples(
    events: &[Activity],
    recommendations: &BTreeMap<String, Vec<Related>>,
    suggestions: &BTreeMap<String, Vec<String>>,
    titles: &HashMap<&str, &Item>,
) {
    let title = |i: &str| titles.get(i).map_or("?", |t| t.title.as_str()).to_owned();
    let mut views: HashMap<&str, u64> = HashMap::new();
    let mut activity: HashMap<&str, u64> = HashMap::new();
    for a in events {
        if a.action == Action::View {
            *views.entry(&a.item).or_default() += 1;
        }
        *activity.entry(&a.user).or_default() += 1;
    }
    let mut most_viewed: Vec<(&str, u64)> = views.into_iter().collect();
    most_viewed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    println!("\nviewers of this item also viewed (from 'recommendations'):");
    for (item, n) in most_viewed.iter().take(4) {
        let related = recommendations.get(*item).map_or(String::new(), |top| {
            top.iter()
                .take(4)
                .map(|r| format!("{} ({})", r.title, r.co_views))
                .collect::<Vec<_>>()
                .join(", ")
        });
        println!("  {} [{n} views]: {related}", title(item));
    }
    let mut most_active: Vec<(&str, u64)> = activity.into_iter().collect();
    most_active.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    println!("suggested for (from 'suggestions'):");
    for (user, n) in most_active.iter().take(3) {
        let list = suggestions.get(*user).map_or(String::new(), |s| {
            s.iter()
                .take(4)
                .map(|i| title(i))
                .collect::<Vec<_>>()
                .join(", ")
        });
        println!("  {user} [{n} events]: {list}");
    }
    println!(
        "  ... {} items with recommendations, {} users with suggestions",
        recommendations.len(),
        suggestions.len()
    );
}
