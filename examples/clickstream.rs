//! A stateless click-stream pipeline on the embedded log (the first demo;
//! the main one is now `recommendations`).
//!
//! It writes a million synthetic page views (and a few malformed records) to
//! a `views` topic, then runs a pipeline that drops bot traffic, re-keys the
//! views by item through a repartition topic, splits purchases from browsing,
//! and writes both to output topics. It prints what it did, how fast, and a
//! sample of its output, then runs again to show that a restarted application
//! continues from its committed positions.
//!
//! ```text
//! cargo run -p tributary-examples --example clickstream -- [--records N] [--data-dir DIR] [--http 127.0.0.1:8080] [--threads N] ...
//! ```

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::settings::{Flags, Settings};
use tributary::{App, Config, Topology};

/// A page view as producers write it (JSON).
#[derive(
    Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
struct View {
    user: String,
    item: u32,
    action: String,
    user_agent: String,
}

/// What the pipeline writes, keyed by item.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ItemEvent {
    user: String,
    action: String,
}

const PARTITIONS: u32 = 4;

fn topology() -> Result<Topology> {
    let mut b = Topology::builder("clickstream");
    let by_item = b
        .stream::<String, View>("views", Utf8, Json)
        .filter(|_user, v| !v.user_agent.contains("bot"))
        .key_by("by-item", |_user, v| v.item);
    let [purchases, browsing] = by_item
        .map_values(|v| ItemEvent {
            user: v.user,
            action: v.action,
        })
        .branch()
        .on(|_item, e| e.action == "purchase")
        .otherwise()
        .build();
    purchases.to("purchases-by-item", Json, Json);
    browsing.to("browsing-by-item", Json, Json);
    Ok(b.build()?)
}

fn produce(log: &EmbeddedLog, records: u64) -> Result<()> {
    let mut batches: Vec<Batch> = (0..PARTITIONS).map(|_| Batch::new()).collect();
    let start = 1_795_000_000_000i64;
    let mut value = Vec::new();
    for i in 0..records {
        let user = format!("user-{}", (i * 7919) % 50_000);
        let view = View {
            user: user.clone(),
            item: ((i * 31) % 10_000) as u32,
            action: if i % 20 == 0 { "purchase" } else { "view" }.into(),
            user_agent: if i % 10 == 3 {
                "crawler-bot/1.0"
            } else {
                "Mozilla/5.0"
            }
            .into(),
        };
        value.clear();
        serde_json::to_writer(&mut value, &view)?;
        let p = tributary::partition_for_key(user.as_bytes(), PARTITIONS) as usize;
        batches[p].push(start + i as i64, Some(user.as_bytes()), Some(&value), &[]);
        if batches[p].len() >= 2_000 {
            log.append("views", p as u32, &batches[p])?;
            batches[p].clear();
        }
    }
    // Producers make mistakes: these go to the dead-letter topic, intact.
    batches[0].push(
        start,
        Some(b"user-x"),
        Some(b"{\"user\": \"user-x\", \"item\": "),
        &[],
    );
    batches[1].push(start, Some(b"user-y"), Some(b"not json at all"), &[]);
    for (p, b) in batches.iter_mut().enumerate() {
        log.append("views", p as u32, b)?;
    }
    Ok(())
}

fn count(log: &dyn Log, topic: &str) -> Result<u64> {
    let n = log.topic_config(topic)?.partitions;
    (0..n).map(|p| Ok(log.offsets(topic, p)?.1)).sum()
}

fn run_once(
    dir: &std::path::Path,
    config: &Config,
) -> Result<(tributary::runtime::Stats, Duration)> {
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir)?);
    let app = App::new(topology()?, log, config.clone())?;
    let started = Instant::now();
    let running = app.start()?;
    running.wait_until_caught_up(Duration::from_secs(600))?;
    let stats = running.shutdown()?;
    Ok((stats, started.elapsed()))
}

/// The example's flags: its own, and every application's standard ones.
#[derive(Debug, clap::Parser)]
#[command(about = "Click-stream example: page views in, purchases and browsing per item out")]
struct Args {
    /// Page views to produce.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    #[command(flatten)]
    settings: Flags,
}

fn main() -> Result<()> {
    let args = <Args as clap::Parser>::parse();
    let mut settings = Settings::from_flags(&args.settings, std::env::vars())?;
    settings.init_logging_at("error");
    let records = args.records;
    // A fresh directory per run unless one is given.
    let given =
        args.settings.data_dir.is_some() || std::env::var_os("TRIBUTARY_DATA_DIR").is_some();
    if !given {
        settings.data_dir =
            std::env::temp_dir().join(format!("tributary-clickstream-{}", std::process::id()));
        settings.config.state_dir = settings.data_dir.join("state");
    }
    let dir = settings.log_dir();
    let _ = std::fs::remove_dir_all(&settings.data_dir);
    println!(
        "Tributary click-stream example: embedded log in {}",
        dir.display()
    );
    {
        let log = EmbeddedLog::open(&dir)?;
        for t in ["views", "purchases-by-item", "browsing-by-item"] {
            log.create_topic(t, &TopicConfig::new(PARTITIONS))?;
        }
        let t = Instant::now();
        produce(&log, records)?;
        println!(
            "produced {records} page views (+2 malformed) to 'views' in {:.2?}",
            t.elapsed()
        );
    }
    println!("\n{}", topology()?.describe());

    let (stats, took) = run_once(&dir, &settings.config)?;
    let rate = stats.records_in as f64 / took.as_secs_f64();
    println!(
        "processed {} records in {took:.2?} ({:.0} records/s through both sub-topologies, 2 worker threads)",
        stats.records_in, rate
    );
    let log = EmbeddedLog::open(&dir)?;
    let purchases = count(&log, "purchases-by-item")?;
    let browsing = count(&log, "browsing-by-item")?;
    let dead = count(&log, "clickstream-dlq")?;
    println!("  purchases-by-item: {purchases} records");
    println!("  browsing-by-item:  {browsing} records");
    println!("  bot views dropped: {}", records - purchases - browsing);
    println!("  clickstream-dlq:   {dead} records (malformed input, bytes intact)");
    let mut sample = Vec::new();
    log.fetch("purchases-by-item", 0, 0, 4096, &mut sample)?;
    for r in sample.iter().take(3) {
        println!(
            "    key {} value {}",
            String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()),
            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
        );
    }
    let expected_bots = (0..records).filter(|i| i % 10 == 3).count() as u64;
    anyhow::ensure!(
        records - purchases - browsing == expected_bots,
        "bot count mismatch"
    );
    anyhow::ensure!(
        dead == 2,
        "expected the 2 malformed records in the dead-letter topic"
    );

    drop(log);
    let (again, _) = run_once(&dir, &settings.config)?;
    println!(
        "\nrestarted: {} records to process (it continues from its committed positions)",
        again.records_in
    );
    if !given {
        let _ = std::fs::remove_dir_all(&settings.data_dir);
    }
    Ok(())
}
