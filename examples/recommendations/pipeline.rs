//! The recommendation pipeline, declared with `pipeline!`, and the values
//! it keeps.
//!
//! - Each user's views are grouped into sessions (session windows, 5
//!   minutes of inactivity end one); every update of a session carries
//!   the item pairs it added, and each pair's co-views are counted.
//! - Each view is joined with the catalog (a global table) for its item's
//!   title, and the 10 items most co-viewed with each item are kept; the
//!   list goes to the `recommendations` topic whenever its order changes.
//! - Each user's recent activity (the last views, with the related items
//!   of each at the time, and the last purchases) is kept; the suggestions
//!   made from it (related items of what they viewed, not what they
//!   bought or just saw) go to `suggestions` whenever they change.

use crate::shop::{Action, Activity, Item, SESSION_GAP};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary::Topology;
use tributary::codec::{Json, Utf8};
use tributary::event::value_time;
use tributary::topology::SessionWindows;
use tributary_macros::pipeline;

/// Related items kept per item, and suggestions per user.
pub(crate) const TOP: usize = 10;
/// Views remembered per user.
const RECENT: usize = 5;
/// Purchases remembered per user.
const BOUGHT: usize = 20;

/// A session's distinct items, and the ordered item pairs its last update
/// added (a new item with each earlier one; across two merged sessions).
#[derive(
    Debug, Clone, Default, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct Session {
    /// Distinct items, with their titles.
    items: Vec<(String, String)>,
    /// Pairs (item, other) the last update added, with the other's title.
    fresh: Vec<((String, String), String)>,
    /// Set by a merge, so that the view folded in next keeps its pairs.
    merged: bool,
    produced_at: i64,
}

impl Session {
    /// The session with `view` added.
    pub(crate) fn with(mut self, view: Activity, title: String) -> Self {
        if !std::mem::take(&mut self.merged) {
            self.fresh.clear();
        }
        if !self.items.iter().any(|(i, _)| *i == view.item) {
            for (other, other_title) in &self.items {
                self.fresh
                    .push(((view.item.clone(), other.clone()), other_title.clone()));
                self.fresh
                    .push(((other.clone(), view.item.clone()), title.clone()));
            }
            self.items.push((view.item, title));
        }
        self.produced_at = self.produced_at.max(view.produced_at);
        self
    }

    /// Two sessions a view bridged, as one: the pairs across them are new.
    pub(crate) fn merged(a: Session, b: Session) -> Session {
        let only_a: Vec<&(String, String)> =
            a.items.iter().filter(|i| !b.items.contains(i)).collect();
        let only_b: Vec<&(String, String)> =
            b.items.iter().filter(|i| !a.items.contains(i)).collect();
        let mut fresh = Vec::new();
        for (x, x_title) in &only_a {
            for (y, y_title) in &only_b {
                fresh.push(((x.clone(), y.clone()), y_title.clone()));
                fresh.push(((y.clone(), x.clone()), x_title.clone()));
            }
        }
        let mut items = a.items.clone();
        items.extend(only_b.into_iter().cloned());
        Session {
            items,
            fresh,
            merged: true,
            produced_at: a.produced_at.max(b.produced_at),
        }
    }

    /// The pairs the last update added, each with the second item's title
    /// and when the view was produced.
    fn fresh_pairs(self) -> Vec<((String, String), (String, i64))> {
        let at = self.produced_at;
        self.fresh
            .into_iter()
            .map(|(pair, title)| (pair, (title, at)))
            .collect()
    }
}

/// An item related to another, as published.
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
pub(crate) struct Related {
    /// The related item.
    pub(crate) item: String,
    /// Its title, from the catalog.
    pub(crate) title: String,
    /// Sessions in which both were viewed.
    pub(crate) co_views: u64,
}

/// An item's related items, best first (most co-views, then item id).
#[derive(
    Debug, Clone, Default, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct TopList {
    /// The related items.
    pub(crate) items: Vec<Related>,
    /// Whether the last update changed which items are in it, or their order.
    pub(crate) changed: bool,
    /// When the view behind the last update was produced.
    pub(crate) produced_at: i64,
}

impl TopList {
    /// The list after `r`'s count changed. Counts only grow, so an item
    /// that fell out can come back only with a larger count, which puts
    /// it back in its place: the list is always the true top [`TOP`].
    fn with(mut self, r: Related, produced_at: i64) -> Self {
        let before = self.items.iter().position(|t| t.item == r.item);
        self.items.retain(|t| t.item != r.item);
        let key = |t: &Related| (std::cmp::Reverse(t.co_views), t.item.clone());
        let at = self.items.partition_point(|t| key(t) < key(&r));
        self.items.insert(at, r);
        self.items.truncate(TOP);
        self.changed = before != Some(at) && at < TOP;
        self.produced_at = produced_at;
        self
    }
}

/// What a user did to an item, with the item's related items then.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct Signal {
    action: Action,
    item: String,
    related: Vec<String>,
    produced_at: i64,
}

/// A user's recent views and purchases, and the suggestions made from them.
#[derive(
    Debug, Clone, Default, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct UserActivity {
    /// The last views, oldest first, each with the item's related items.
    pub(crate) recent: Vec<(String, Vec<String>)>,
    /// The last purchases.
    pub(crate) bought: Vec<String>,
    /// Suggested items, best first.
    pub(crate) suggestions: Vec<String>,
    /// Whether the last signal changed the suggestions.
    pub(crate) changed: bool,
    /// When the event behind the last update was produced.
    pub(crate) produced_at: i64,
}

impl UserActivity {
    fn with(mut self, s: Signal) -> Self {
        match s.action {
            Action::View => {
                self.recent.retain(|(item, _)| *item != s.item);
                self.recent.push((s.item, s.related));
                if self.recent.len() > RECENT {
                    self.recent.remove(0);
                }
            }
            Action::Purchase => {
                self.bought.push(s.item);
                if self.bought.len() > BOUGHT {
                    self.bought.remove(0);
                }
            }
            Action::AddToCart => {}
        }
        let suggestions = self.suggest();
        self.changed = suggestions != self.suggestions;
        self.suggestions = suggestions;
        self.produced_at = s.produced_at;
        self
    }

    /// Related items of the recent views, the newer views and the better
    /// ranked items scoring more; bought and just-viewed items left out.
    fn suggest(&self) -> Vec<String> {
        let mut score: HashMap<&str, usize> = HashMap::new();
        for (age, (_, related)) in self.recent.iter().rev().enumerate() {
            for (rank, item) in related.iter().enumerate() {
                *score.entry(item.as_str()).or_default() += (RECENT - age) * (TOP - rank);
            }
        }
        let seen =
            |i: &str| self.bought.iter().any(|b| b == i) || self.recent.iter().any(|(r, _)| r == i);
        let mut ranked: Vec<(&str, usize)> = score.into_iter().filter(|(i, _)| !seen(i)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked
            .into_iter()
            .take(TOP)
            .map(|(i, _)| i.to_owned())
            .collect()
    }
}

/// Latencies from an event's production to the update it caused, in ms.
#[derive(Debug, Default)]
pub(crate) struct Latencies(Mutex<Vec<u32>>);

impl Latencies {
    fn record(&self, produced_at: i64) {
        let ms = (tributary::now_millis() - produced_at).max(0);
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(u32::try_from(ms).unwrap_or(u32::MAX));
    }

    /// The `q` quantile (0 to 1), in ms, and the number of samples.
    pub(crate) fn quantile(&self, q: f64) -> (u32, usize) {
        let mut all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if all.is_empty() {
            return (0, 0);
        }
        all.sort_unstable();
        let i = ((all.len() - 1) as f64 * q).round() as usize;
        (all[i], all.len())
    }
}

/// The pipeline; latencies of recommendation and suggestion updates are
/// recorded into `recommended` and `suggested`.
pub(crate) fn topology(
    recommended: &Arc<Latencies>,
    suggested: &Arc<Latencies>,
) -> tributary::Result<Topology> {
    let (recommended, suggested) = (Arc::clone(recommended), Arc::clone(suggested));
    pipeline! {
        app "recommendations";

        stream activity: String => Activity from "activity" (Utf8, Json) event_time(value_time);
        global catalog: String => Item from "catalog" (Utf8, Json);

        // Sessions of views, each view with its item's title from the
        // catalog; each update of a session carries the item pairs it
        // added, and each pair's co-views are counted.
        activity -> filter(|_user, a| a.action == Action::View)
                 -> join_global(catalog, |_user, a| a.item.clone(), |_user, a, item| (a, item.title.clone()))
                 -> group_by_key()
                 -> session_windowed_by(SessionWindows::with_gap(Duration::from_millis(SESSION_GAP as u64)))
                 -> aggregate("sessions", Session::default,
                              |_user, (view, title), session| session.with(view, title),
                              |_user, a, b| Session::merged(a, b))
                 -> to_stream()
                 -> flat_map(|_session, s| s.fresh_pairs())
                 -> group_by("by-pair", |pair, _| pair.clone())
                 -> aggregate("co-views", || (0u64, String::new(), 0i64),
                              |_pair, (title, at), (n, _, _)| (n + 1, title, at))
                 -> to_stream()
                 => co_views;

        // The best TOP items co-viewed with each item.
        co_views -> map(|(item, other), (n, title, at)| (item, (Related { item: other, title, co_views: n }, at)))
                 -> group_by("by-item", |item, _| item.clone())
                 -> aggregate("related", TopList::default, |_item, (r, at), top| top.with(r, at))
                 => related;

        related -> to_stream()
                -> filter(|_item, top| top.changed)
                -> inspect(move |_item, top| recommended.record(top.produced_at))
                -> map_values(|top| top.items)
                -> to("recommendations", Utf8, Json);

        // Each user's views and purchases, with the item's related items
        // at that moment, make their suggestions.
        activity -> filter(|_user, a| a.action != Action::AddToCart)
                 -> key_by("activity-by-item", |_user, a| a.item.clone())
                 -> left_join_table(related, |_item, a, top| {
                        let related = top.map(|t| t.items.iter().map(|r| r.item.clone()).collect());
                        (a.user, Signal { action: a.action, item: a.item, related: related.unwrap_or_default(), produced_at: a.produced_at })
                    })
                 -> key_by("signals-by-user", |_item, (user, _)| user.clone())
                 -> map_values(|(_, signal)| signal)
                 -> group_by_key()
                 -> aggregate("user-activity", UserActivity::default, |_user, s, u| u.with(s))
                 -> to_stream()
                 -> filter(|_user, u| u.changed)
                 -> inspect(move |_user, u| suggested.record(u.produced_at))
                 -> map_values(|u| u.suggestions)
                 -> to("suggestions", Utf8, Json);
    }
}
