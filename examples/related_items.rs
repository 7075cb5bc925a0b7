//! "Viewers of this item also viewed": a recommendation pipeline declared
//! with `pipeline!`.
//!
//! Users' item views are grouped into sessions (event time, 30 minutes of
//! inactivity end one). Every pair of distinct items viewed in the same
//! session counts as one co-view. Each co-viewed item is joined with the
//! item catalog (a table), and the five items most often co-viewed with
//! each item are kept and written to `related-items`. The example prints
//! them, checked against the same computation done directly.
//!
//! ```text
//! cargo run --example related_items
//! ```

mod support;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tributary::codec::{Json, Utf8};
use tributary::event::{EventKey, value_time};
use tributary::log::Log;
use tributary::topology::{Emit, SessionWindows};
use tributary::{App, Config};
use tributary_macros::{Event, pipeline};

/// A user viewed an item.
#[derive(
    Event, Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
struct View {
    #[event(key)]
    user: String,
    item: String,
    #[event(timestamp)]
    at: i64,
}

/// A catalog entry, keyed by item id.
#[derive(
    Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
struct Item {
    title: String,
    category: String,
}

/// An item co-viewed with another, as written to `related-items`.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
struct Related {
    item: String,
    title: String,
    co_views: u64,
}

const GAP: i64 = 30 * 60_000;
const TOP: usize = 5;

/// Keeps `r` in `top` (replacing the item's older count), best first,
/// at most `TOP` entries. Counts only grow, so an item that dropped out
/// can only come back with a larger count, which puts it back in place.
fn keep_best(mut top: Vec<Related>, r: Related) -> Vec<Related> {
    top.retain(|t| t.item != r.item);
    top.push(r);
    top.sort_by(|a, b| {
        b.co_views
            .cmp(&a.co_views)
            .then_with(|| a.item.cmp(&b.item))
    });
    top.truncate(TOP);
    top
}

/// The items of two merged sessions, each once.
fn union(mut a: Vec<String>, b: Vec<String>) -> Vec<String> {
    for item in b {
        if !a.contains(&item) {
            a.push(item);
        }
    }
    a
}

/// Every ordered pair of distinct items of a session.
fn pairs(items: &[String]) -> Vec<((String, String), u64)> {
    let mut out = Vec::new();
    for a in items {
        for b in items {
            if a != b {
                out.push(((a.clone(), b.clone()), 1));
            }
        }
    }
    out
}

fn catalog() -> Vec<(String, Item)> {
    let categories = ["books", "music", "games", "garden"];
    (0..40)
        .map(|i| {
            let item = Item {
                title: format!("{} #{i}", categories[i % 4].to_uppercase()),
                category: categories[i % 4].to_string(),
            };
            (format!("item-{i}"), item)
        })
        .collect()
}

/// Sessions of 2 to 6 views, mostly within one category, a few hours of
/// event time, each user's sessions separated by more than the gap.
fn views() -> Vec<View> {
    let mut out = Vec::new();
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let start = 1_795_000_000_000i64;
    for user in 0..200 {
        let mut at = start + (next() % 600_000) as i64;
        for _session in 0..4 {
            let category = next() % 4;
            for _view in 0..2 + next() % 5 {
                let item = if next() % 5 == 0 {
                    next() % 40
                } else {
                    category + 4 * (next() % 10)
                };
                out.push(View {
                    user: format!("user-{user}"),
                    item: format!("item-{item}"),
                    at,
                });
                at += 20_000 + (next() % 120_000) as i64;
            }
            at += GAP + 60_000 + (next() % 3_600_000) as i64;
        }
    }
    out.sort_by_key(|v| v.at);
    out
}

fn main() -> Result<()> {
    let topics = ["views", "catalog", "related-items"];
    let (dir, log) = support::open_log("recommendations", &topics)?;
    let catalog = catalog();
    support::produce(
        &log,
        "catalog",
        catalog.iter().map(|(k, v)| (k.clone(), v.clone(), 0)),
    )?;
    let input = views();
    let n = support::produce(
        &log,
        "views",
        input.iter().map(|v| (v.event_key(), v.clone(), v.at)),
    )?;
    println!(
        "produced {} catalog items and {n} views by 200 users",
        catalog.len()
    );

    let topology = pipeline! {
        app "recommendations";

        stream views: String => View from "views" (Utf8, Json) event_time(value_time);
        table catalog: String => Item from "catalog" (Utf8, Json) as "catalog";

        // Each user's sessions, closed 30 minutes after their last view.
        views -> group_by_key()
              -> session_windowed_by(SessionWindows::with_gap(Duration::from_millis(GAP as u64)))
              -> emit(Emit::OnWindowClose)
              -> aggregate("sessions",
                           Vec::<String>::new,
                           |_user, view, mut items| { if !items.contains(&view.item) { items.push(view.item) } items },
                           |_user, a, b| union(a, b))
              -> to_stream()
              => sessions;

        // One co-view per pair of items in a session, counted per pair.
        sessions -> flat_map(|_session, items| pairs(&items))
                 -> group_by("by-pair", |pair, _| pair.clone())
                 -> count("co-views")
                 -> to_stream()
                 => co_views;

        // Look the co-viewed item up in the catalog, then keep the best five per item.
        co_views -> map(|(item, other), n| (other, (item, n)))
                 -> key_by("by-other", |other, _| other.clone())
                 -> join_table(catalog, |other, (item, n), entry| {
                        (item, Related { item: other.clone(), title: entry.title.clone(), co_views: n })
                    })
                 -> group_by("by-item", |_other, (item, _)| item.clone())
                 -> aggregate("related", Vec::new, |_item, (_, related), top| keep_best(top, related))
                 -> to_stream()
                 -> to("related-items", Utf8, Json);
    }?;
    println!("\n{}", topology.describe());
    // Served over HTTP on a free port while it runs: the best items of
    // each item, and the co-view count of each pair.
    let config = Config {
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..support::config(&dir)
    };
    let running = App::new(topology, Arc::clone(&log) as Arc<dyn Log>, config)?
        .serve_store::<String, Vec<Related>>("related")?
        .serve_store::<(String, String), u64>("co-views")?
        .start()?;
    running.wait_until_caught_up(Duration::from_secs(300))?;

    let related: BTreeMap<String, Vec<Related>> = support::latest(&log, "related-items")?;
    let titles: HashMap<&str, &str> = catalog
        .iter()
        .map(|(k, v)| (k.as_str(), v.title.as_str()))
        .collect();
    println!("viewers of this item also viewed (top {TOP}, from 'related-items'):");
    for (item, top) in related.iter().take(8) {
        let list: Vec<String> = top
            .iter()
            .map(|r| format!("{} ({})", r.title, r.co_views))
            .collect();
        println!(
            "  {:<12} {}",
            titles.get(item.as_str()).unwrap_or(&"?"),
            list.join(", ")
        );
    }
    println!("  ... {} items in all", related.len());

    let expected = expected(&input, &titles);
    anyhow::ensure!(
        related == expected,
        "the pipeline's results differ from a direct computation"
    );
    println!("\nevery item's list equals a direct computation from the closed sessions");
    let base = format!("http://{}", running.http_addr().context("no HTTP address")?);
    check_http(&base, &expected)?;
    running.shutdown()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `GET url`: the status and the JSON body.
fn get(url: &str) -> Result<(u16, serde_json::Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call()?;
    let status = response.status().as_u16();
    Ok((
        status,
        serde_json::from_str(&response.body_mut().read_to_string()?)?,
    ))
}

/// The stores as the running application serves them: every item's best
/// items equal the direct computation (once the last changes are
/// committed); an unknown store, a key of the wrong type and a key
/// without an entry get the documented statuses.
fn check_http(base: &str, expected: &BTreeMap<String, Vec<Related>>) -> Result<()> {
    let (item, best) = expected.iter().next().context("no results")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(&format!("{base}/stores/related/{item}"))?;
        if status == 200 && serde_json::from_value::<Vec<Related>>(body["value"].clone())? == *best
        {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "GET /stores/related/{item}: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (item, best) in expected {
        let (status, body) = get(&format!("{base}/stores/related/{item}"))?;
        anyhow::ensure!(status == 200, "GET /stores/related/{item}: {status} {body}");
        let served: Vec<Related> = serde_json::from_value(body["value"].clone())?;
        anyhow::ensure!(
            served == *best,
            "GET /stores/related/{item} differs: {body}"
        );
    }
    println!(
        "served over HTTP, equal to it for all {} items:",
        expected.len()
    );
    let (_, body) = get(&format!("{base}/stores/related/{item}"))?;
    println!("  GET /stores/related/{item} -> {}", body["value"]);
    let pair = format!("[\"{item}\",\"{}\"]", best[0].item);
    let (status, body) = get(&format!(
        "{base}/stores/co-views/{}",
        pair.replace('"', "%22")
    ))?;
    anyhow::ensure!(
        status == 200 && body["value"].as_u64() == Some(best[0].co_views),
        "GET /stores/co-views/{pair}: {status} {body}"
    );
    println!("  GET /stores/co-views/{pair} -> {}", body["value"]);
    for (path, want) in [
        ("/stores/recommended/item-1".to_owned(), 404),
        (format!("/stores/co-views/{item}"), 400),
        ("/stores/related/item-999".to_owned(), 404),
    ] {
        let (status, body) = get(&format!("{base}{path}"))?;
        anyhow::ensure!(
            status == want,
            "GET {path}: {status} {body}, expected {want}"
        );
        println!("  GET {path} -> {status} {}", body["error"]);
    }
    Ok(())
}

/// The same results computed directly: sessions per user (closed once the
/// largest event time seen in the user's partition is past their end plus
/// the gap), co-view counts per pair, the best five per item (ties by item
/// id).
fn expected(input: &[View], titles: &HashMap<&str, &str>) -> BTreeMap<String, Vec<Related>> {
    let partition = |user: &str| tributary::partition_for_key(user.as_bytes(), support::PARTITIONS);
    let mut max = HashMap::new();
    for v in input {
        let m = max.entry(partition(&v.user)).or_insert(i64::MIN);
        *m = (*m).max(v.at);
    }
    let mut by_user: BTreeMap<&str, Vec<&View>> = BTreeMap::new();
    for v in input {
        by_user.entry(&v.user).or_default().push(v);
    }
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (user, views) in &by_user {
        let max = max[&partition(user)];
        let mut session: Vec<&View> = Vec::new();
        let mut close = |session: &mut Vec<&View>| {
            let items: BTreeSet<String> = session.iter().map(|v| v.item.clone()).collect();
            let end = session.last().map_or(i64::MIN, |v| v.at);
            if end + GAP < max {
                let items: Vec<String> = items.into_iter().collect();
                for (pair, n) in pairs(&items) {
                    *counts.entry(pair).or_default() += n;
                }
            }
            session.clear();
        };
        for v in views {
            if session.last().is_some_and(|l| v.at - l.at > GAP) {
                close(&mut session);
            }
            session.push(v);
        }
        close(&mut session);
    }
    let mut out: BTreeMap<String, Vec<Related>> = BTreeMap::new();
    for ((item, other), n) in counts {
        let title = titles[other.as_str()].to_string();
        let top = out.remove(&item).unwrap_or_default();
        out.insert(
            item,
            keep_best(
                top,
                Related {
                    item: other,
                    title,
                    co_views: n,
                },
            ),
        );
    }
    out
}
