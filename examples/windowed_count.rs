//! Page views per page and minute, declared with `pipeline!`.
//!
//! Writes ten minutes of synthetic page views, keyed by page (a few
//! arriving out of order), to the embedded log, counts them per page in one-minute tumbling windows
//! of event time with 10 s of grace, emitting each window once when it
//! closes, and prints the counts, checked against a count done here.
//!
//! ```text
//! cargo run --example windowed_count
//! ```

mod support;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tributary::codec::{Json, Utf8};
use tributary::event::{EventKey, value_time};
use tributary::topology::{Emit, TimeWindows};
use tributary_macros::{Event, pipeline};

/// A page view; the input topic is keyed by page.
#[derive(
    Event, Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
struct PageView {
    user: String,
    #[event(key)]
    page: String,
    /// Milliseconds since the epoch.
    #[event(timestamp)]
    at: i64,
}

const PAGES: [&str; 4] = ["/", "/pricing", "/docs", "/blog"];
const MINUTE: i64 = 60_000;
const START: i64 = 1_795_000_000_000 / MINUTE * MINUTE;

fn views() -> Vec<PageView> {
    (0..6_000i64)
        .map(|i| {
            // One view every 100 ms; every 7th is up to 5 s late.
            let late = if i % 7 == 0 { (i % 50) * 100 } else { 0 };
            PageView {
                user: format!("user-{}", i * 13 % 97),
                page: PAGES[(i * i % 11 % 4) as usize].to_string(),
                at: START + i * 100 - late,
            }
        })
        .collect()
}

fn main() -> Result<()> {
    let (dir, log) = support::open_log("windowed-count", &["page-views", "views-per-minute"])?;
    let input = views();
    let n = support::produce(
        &log,
        "page-views",
        input.iter().map(|v| (v.event_key(), v.clone(), v.at)),
    )?;
    println!("produced {n} page views over 10 minutes to 'page-views'");

    let topology = pipeline! {
        app "page-counts";

        stream views: String => PageView from "page-views" (Utf8, Json) event_time(value_time);

        views -> group_by_key()
              -> windowed_by(TimeWindows::tumbling(Duration::from_secs(60)).grace(Duration::from_secs(10)))
              -> emit(Emit::OnWindowClose)
              -> count("views-per-minute")
              -> to_stream()
              -> map(|window, n| (format!("{} {}", window.key, (window.start - START) / MINUTE), n))
              -> to("views-per-minute", Utf8, Json);
    }?;
    println!("\n{}", topology.describe());
    support::run(topology, &log, &dir)?;

    let counts: BTreeMap<String, u64> = support::latest(&log, "views-per-minute")?;
    println!("views per page and minute (windows closed by the watermark):");
    println!("  {:<10} {:>6} {:>6}", "page", "minute", "views");
    for (key, n) in &counts {
        let (page, minute) = key.rsplit_once(' ').unwrap_or((key, "?"));
        println!("  {page:<10} {minute:>6} {n:>6}");
    }

    // The same count, done directly. A window is closed once the largest
    // event time seen in its partition is past its end plus the grace.
    let partition =
        |v: &PageView| tributary::partition_for_key(v.page.as_bytes(), support::PARTITIONS);
    let mut max = BTreeMap::new();
    for v in &input {
        let m = max.entry(partition(v)).or_insert(i64::MIN);
        *m = (*m).max(v.at);
    }
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for v in &input {
        let start = v.at.div_euclid(MINUTE) * MINUTE;
        if start + MINUTE + 10_000 <= max[&partition(v)] {
            *expected
                .entry(format!("{} {}", v.page, (start - START) / MINUTE))
                .or_default() += 1;
        }
    }
    anyhow::ensure!(
        counts == expected,
        "the pipeline's counts differ from a direct count"
    );
    println!(
        "\n{} windows, each equal to a direct count of the input",
        counts.len()
    );
    anyhow::ensure!(!counts.is_empty(), "no window closed");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
