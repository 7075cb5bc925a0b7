//! A synthetic shop: a catalog of items in categories, and users' sessions
//! of views, add-to-carts and purchases, with Zipf-skewed popularity.
//!
//! Event time is simulated: the shop sees [`EVENTS_PER_SECOND`] events per
//! second of event time, whatever the rate they are produced at. Each
//! session keeps to one category mostly; a user starts a new session only
//! after more than the session gap since their last one.

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::settings::{Flags, Settings};
use tributary_macros::Event;

/// Inactivity that ends a session, in ms of event time.
pub(crate) const SESSION_GAP: i64 = 5 * 60_000;
/// Events per second of event time.
const EVENTS_PER_SECOND: i64 = 1_000;
/// Mean steps of a session.
const MEAN_STEPS: i64 = 8;
/// Time of the first event: 2026-12-01 00:00 UTC.
const START: i64 = 1_796_083_200_000;

const CATEGORIES: [&str; 20] = [
    "books", "music", "games", "garden", "kitchen", "toys", "sports", "outdoor", "office",
    "beauty", "shoes", "watches", "cameras", "phones", "laptops", "audio", "pets", "baby", "tools",
    "lighting",
];
const ADJECTIVES: [&str; 12] = [
    "Classic", "Compact", "Deluxe", "Everyday", "Handy", "Modern", "Quiet", "Rugged", "Smart",
    "Sturdy", "Vintage", "Wireless",
];

/// What a user did.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    /// Looked at the item's page.
    View,
    /// Put the item in the cart.
    AddToCart,
    /// Bought the item.
    Purchase,
}

/// One event of the shop, as its website writes it (JSON, keyed by user).
#[derive(
    Event, Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct Activity {
    /// The user.
    #[event(key)]
    pub(crate) user: String,
    /// The item.
    pub(crate) item: String,
    /// What they did.
    pub(crate) action: Action,
    /// Event time, ms since the epoch.
    #[event(timestamp)]
    pub(crate) at: i64,
    /// Wall-clock time it was produced, ms since the epoch (for latency).
    pub(crate) produced_at: i64,
}

/// A catalog entry, keyed by item id.
#[derive(
    Debug, Clone, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct Item {
    /// What the shop calls it.
    pub(crate) title: String,
    /// Its category.
    pub(crate) category: String,
}

/// The catalog: `items` items spread over the categories.
pub(crate) fn catalog(items: u32) -> Vec<(String, Item)> {
    (0..items)
        .map(|i| {
            let category = CATEGORIES[i as usize % CATEGORIES.len()];
            let title = format!(
                "{} {} #{i}",
                ADJECTIVES[(i as usize / CATEGORIES.len()) % ADJECTIVES.len()],
                category.trim_end_matches('s'),
            );
            (
                item_id(i),
                Item {
                    title,
                    category: category.to_owned(),
                },
            )
        })
        .collect()
}

fn item_id(i: u32) -> String {
    format!("i{i}")
}

/// An open session.
#[derive(Debug)]
struct Session {
    user: u32,
    category: u32,
    steps_left: u32,
    viewed: Vec<u32>,
    carted: Vec<u32>,
}

/// The shop's events, in event-time order, without end.
#[derive(Debug)]
pub(crate) struct Shop {
    rng: StdRng,
    items: u32,
    /// Popularity rank within a category, and over the whole catalog.
    in_category: Zipf<f64>,
    overall: Zipf<f64>,
    /// Open sessions by the time of their next event.
    open: BinaryHeap<Reverse<(i64, usize)>>,
    sessions: Vec<Option<Session>>,
    /// Users between sessions, by the time they may start another.
    idle: BinaryHeap<Reverse<(i64, u32)>>,
    next_start: i64,
}

impl Shop {
    /// A shop of `users` users and `items` items, seeded.
    pub(crate) fn new(users: u32, items: u32, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        // Users arrive over the first gap.
        let idle = (0..users)
            .map(|u| Reverse((START + rng.random_range(0..SESSION_GAP), u)))
            .collect();
        let per_category = (items / CATEGORIES.len() as u32).max(1);
        Shop {
            rng,
            items,
            in_category: Zipf::new(f64::from(per_category), 1.1).expect("a valid Zipf"),
            overall: Zipf::new(f64::from(items), 1.0).expect("a valid Zipf"),
            open: BinaryHeap::new(),
            sessions: Vec::new(),
            idle,
            next_start: START,
        }
    }

    /// An item the session's user might look at next: mostly a popular
    /// one of the session's category, sometimes a popular one of any.
    fn pick_item(&mut self, category: u32) -> u32 {
        let categories = CATEGORIES.len() as u32;
        if self.rng.random_bool(0.8) {
            let rank = self.in_category.sample(&mut self.rng) as u32 - 1;
            (rank * categories + category) % self.items
        } else {
            self.overall.sample(&mut self.rng) as u32 - 1
        }
    }

    fn start_session(&mut self, at: i64) {
        self.next_start = at + 1_000 * MEAN_STEPS / EVENTS_PER_SECOND.max(1);
        let Some(&Reverse((free_at, user))) = self.idle.peek() else {
            return;
        };
        if free_at > at {
            return;
        }
        self.idle.pop();
        let session = Session {
            user,
            category: self.rng.random_range(0..CATEGORIES.len() as u32),
            steps_left: self.rng.random_range(3..=(2 * MEAN_STEPS as u32 - 3)),
            viewed: Vec::new(),
            carted: Vec::new(),
        };
        let slot = match self.sessions.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.sessions.push(None);
                self.sessions.len() - 1
            }
        };
        self.sessions[slot] = Some(session);
        self.open.push(Reverse((at, slot)));
    }
}

impl Iterator for Shop {
    type Item = Activity;

    fn next(&mut self) -> Option<Activity> {
        loop {
            let next_event = self.open.peek().map(|Reverse((at, _))| *at);
            if next_event.is_none_or(|t| self.next_start <= t) {
                self.start_session(self.next_start);
                continue;
            }
            let Reverse((at, slot)) = self.open.pop()?;
            let mut s = self.sessions[slot].take()?;
            let action = if !s.carted.is_empty() && self.rng.random_bool(0.3) {
                Action::Purchase
            } else if !s.viewed.is_empty() && self.rng.random_bool(0.15) {
                Action::AddToCart
            } else {
                Action::View
            };
            let item = match action {
                Action::Purchase => s
                    .carted
                    .swap_remove(self.rng.random_range(0..s.carted.len())),
                Action::AddToCart => {
                    let i = s.viewed[self.rng.random_range(0..s.viewed.len())];
                    s.carted.push(i);
                    i
                }
                Action::View => {
                    let i = self.pick_item(s.category);
                    s.viewed.push(i);
                    i
                }
            };
            let user = s.user;
            s.steps_left -= 1;
            if s.steps_left == 0 {
                let rest = self.rng.random_range(0..10 * 60_000);
                self.idle.push(Reverse((at + SESSION_GAP + 1 + rest, user)));
            } else {
                let next = at + self.rng.random_range(2_000..20_000);
                self.sessions[slot] = Some(s);
                self.open.push(Reverse((next, slot)));
            }
            return Some(Activity {
                user: format!("u{user}"),
                item: item_id(item),
                action,
                at,
                produced_at: 0,
            });
        }
    }
}

/// Records appended to `activity` so far.
pub(crate) fn produced(log: &EmbeddedLog) -> Result<u64> {
    let mut n = 0;
    for p in 0..crate::support::PARTITIONS {
        let (start, end) = log.offsets("activity", p)?;
        n += end - start;
    }
    Ok(n)
}

/// Writes `n` shop events to `activity`, `rate` per second (0: at once),
/// each stamped with the wall-clock time it is written; returns them.
pub(crate) fn produce(
    log: &EmbeddedLog,
    n: u64,
    rate: u64,
    users: u32,
    items: u32,
) -> Result<Vec<Activity>> {
    let mut shop = Shop::new(users, items, 42);
    let mut all = Vec::with_capacity(n as usize);
    let started = Instant::now();
    let mut batches: Vec<Batch> = (0..crate::support::PARTITIONS)
        .map(|_| Batch::new())
        .collect();
    // A batch per partition every 5 ms of the rate.
    let chunk = if rate == 0 {
        4_000
    } else {
        (rate / 200).max(1)
    };
    while (all.len() as u64) < n {
        let now = tributary::now_millis();
        for _ in 0..chunk.min(n - all.len() as u64) {
            let mut a = shop.next().context("the shop ran out of events")?;
            a.produced_at = now;
            let p = tributary::partition_for_key(a.user.as_bytes(), crate::support::PARTITIONS)
                as usize;
            batches[p].push(
                a.at,
                Some(a.user.as_bytes()),
                Some(&serde_json::to_vec(&a)?),
                &[],
            );
            all.push(a);
        }
        for (p, b) in batches.iter_mut().enumerate() {
            log.append("activity", p as u32, b)?;
            b.clear();
        }
        if rate > 0 {
            let due = Duration::from_secs_f64(all.len() as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    Ok(all)
}

/// The settings of a shop example from its flags and environment (logging
/// started), whether a data directory was given (if not, a fresh one named
/// after `example` under the temporary directory, for the caller to
/// remove), and an embedded log there, emptied, with the shop's topics.
pub(crate) fn open(flags: &Flags, example: &str) -> Result<(Settings, bool, Arc<EmbeddedLog>)> {
    let mut settings = Settings::from_flags(flags, std::env::vars())?;
    settings.init_logging_at("error");
    let given = flags.data_dir.is_some() || std::env::var_os("TRIBUTARY_DATA_DIR").is_some();
    if !given {
        settings.data_dir =
            std::env::temp_dir().join(format!("tributary-{example}-{}", std::process::id()));
        settings.config.state_dir = settings.data_dir.join("state");
    }
    let _ = std::fs::remove_dir_all(&settings.data_dir);
    let log = Arc::new(EmbeddedLog::open(settings.log_dir())?);
    for t in ["activity", "catalog", "recommendations", "suggestions"] {
        log.create_topic(t, &TopicConfig::new(crate::support::PARTITIONS))?;
    }
    Ok((settings, given, log))
}
