//! The recommendation pipeline, declared with `pipeline!`, and the values
//! it keeps.
//!
//! Its results follow event time, not the order records happen to be
//! processed in, so that a replay of the same events gives the same state
//! and the same final outputs as the live run (`examples/replay`):
//!
//! - Each user's views are grouped into sessions (session windows, 5
//!   minutes of inactivity end one), each view with its item's title from
//!   the catalog (a global table); every update of a session carries the
//!   item pairs it added.
//! - Co-viewed pairs, views and purchases go to the task of their item,
//!   where they are gathered in windows of [`WINDOW`] of event time. When
//!   a window closes (the watermark passes its end), the item's views and
//!   purchases of the window are answered with its related items as they
//!   were when the window began, then its co-views are counted and the 10
//!   items most co-viewed with it updated; the list goes to
//!   `recommendations` whenever its items or their order change. This is
//!   an event-time temporal join, as Flink's `FOR SYSTEM_TIME AS OF`: what
//!   a view is joined with depends on its time, not on how far the other
//!   side had got.
//! - Each user's recent views (with their related items) and purchases are
//!   kept as the latest by event time, whatever order they arrive in; the
//!   suggestions made from them (related items of what they viewed, not
//!   what they bought or just saw) go to `suggestions` whenever they
//!   change.

use crate::shop::{Action, Activity, Item, SESSION_GAP};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary::Topology;
use tributary::codec::{Json, Utf8};
use tributary::event::value_time;
use tributary::topology::{
    Emit, KeyValueStore, Process, ProcessContext, ProcessInit, SessionWindows, TimeWindows,
};
use tributary_macros::pipeline;

/// Related items kept per item, and suggestions per user.
pub(crate) const TOP: usize = 10;
/// Views remembered per user.
const RECENT: usize = 5;
/// Purchases remembered per user.
const BOUGHT: usize = 20;
/// The event-time windows in which an item's co-views, views and
/// purchases are gathered: its recommendations change at most once per
/// window, and a view is answered with the recommendations as of the
/// start of its window.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

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

    /// The pairs the last update added, keyed by their first item.
    fn fresh_pairs(self) -> Vec<(String, ItemEvent)> {
        let produced_at = self.produced_at;
        self.fresh
            .into_iter()
            .map(|((item, other), title)| {
                let e = ItemEvent::CoView {
                    other,
                    title,
                    produced_at,
                };
                (item, e)
            })
            .collect()
    }
}

/// What reaches an item's task.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) enum ItemEvent {
    /// The item was viewed in a session with `other`.
    CoView {
        other: String,
        title: String,
        produced_at: i64,
    },
    /// A user viewed or bought the item.
    Signal(Activity),
}

/// An item's co-views, views and purchases in one window.
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct ItemWindow {
    /// Sessions in which each other item was viewed with it, and its title.
    co_views: BTreeMap<String, (u64, String)>,
    /// Views and purchases.
    signals: Vec<Activity>,
    /// When the earliest co-view of the window was produced.
    first_produced: Option<i64>,
}

impl ItemWindow {
    fn with(mut self, e: ItemEvent) -> Self {
        match e {
            ItemEvent::CoView {
                other,
                title,
                produced_at,
            } => {
                self.co_views.entry(other).or_insert((0, title)).0 += 1;
                self.first_produced = Some(
                    self.first_produced
                        .map_or(produced_at, |p| p.min(produced_at)),
                );
            }
            ItemEvent::Signal(a) => self.signals.push(a),
        }
        self
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
    Debug,
    Clone,
    Default,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub(crate) struct TopList {
    /// The related items.
    pub(crate) items: Vec<Related>,
}

impl TopList {
    /// The list after `r`'s count grew. Counts only grow, so an item that
    /// fell out can come back only with a larger count, which puts it back
    /// in its place: the list is always the true top [`TOP`].
    fn with(mut self, r: Related) -> Self {
        self.items.retain(|t| t.item != r.item);
        let key = |t: &Related| (std::cmp::Reverse(t.co_views), t.item.clone());
        let at = self.items.partition_point(|t| key(t) < key(&r));
        self.items.insert(at, r);
        self.items.truncate(TOP);
        self
    }

    /// The related items' ids, best first.
    fn ids(&self) -> Vec<String> {
        self.items.iter().map(|r| r.item.clone()).collect()
    }
}

/// What an item's task sends on.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) enum ItemUpdate {
    /// The item's new related items (keyed by item), and when the earliest
    /// co-view that changed them was produced.
    Recommended(Vec<Related>, i64),
    /// A user's view or purchase (keyed by user), with the item's related
    /// items at the start of its window.
    Signal(Signal),
}

/// What a user did to an item, with the item's related items then.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct Signal {
    action: Action,
    item: String,
    related: Vec<String>,
    at: i64,
    produced_at: i64,
}

/// The item side: counts co-views and keeps each item's related items
/// (stores `co-views`, pair to count, and `related`), window by window.
#[derive(Default)]
struct Recommender {
    co_views: Option<KeyValueStore<(String, String), u64>>,
    related: Option<KeyValueStore<String, TopList>>,
}

impl Process<String, ItemWindow> for Recommender {
    type Key = String;
    type Value = ItemUpdate;

    fn init(&mut self, ctx: &mut ProcessInit<'_, '_>) -> tributary::Result<()> {
        self.co_views = Some(ctx.kv_store("co-views")?);
        self.related = Some(ctx.kv_store("related")?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessContext<'_, String, ItemUpdate>,
        item: String,
        w: ItemWindow,
    ) {
        let (Some(co_views), Some(related)) = (&self.co_views, &self.related) else {
            return;
        };
        let before = related
            .get(&item)
            .expect("the related store")
            .unwrap_or_default();
        let ids = before.ids();
        for a in w.signals {
            let signal = Signal {
                action: a.action,
                item: a.item,
                related: ids.clone(),
                at: a.at,
                produced_at: a.produced_at,
            };
            ctx.forward(a.user, ItemUpdate::Signal(signal));
        }
        if w.co_views.is_empty() {
            return;
        }
        let mut top = before.clone();
        for (other, (n, title)) in w.co_views {
            let pair = (item.clone(), other);
            let count = co_views
                .get(&pair)
                .expect("the co-views store")
                .unwrap_or(0)
                + n;
            co_views.put(&pair, count).expect("the co-views store");
            top = top.with(Related {
                item: pair.1,
                title,
                co_views: count,
            });
        }
        if top.ids() != ids {
            let update = ItemUpdate::Recommended(top.items.clone(), w.first_produced.unwrap_or(0));
            ctx.forward(item.clone(), update);
        }
        related.put(&item, top).expect("the related store");
    }
}

/// A user's recent views and purchases, and the suggestions made from them.
#[derive(
    Debug, Clone, Default, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct UserActivity {
    /// The latest view of each of the [`RECENT`] items viewed last (by
    /// event time): when, the item, and its related items then.
    pub(crate) recent: Vec<(i64, String, Vec<String>)>,
    /// The [`BOUGHT`] latest purchases: when, and the item.
    pub(crate) bought: Vec<(i64, String)>,
    /// Suggested items, best first.
    pub(crate) suggestions: Vec<String>,
}

impl UserActivity {
    /// The activity with `s` taken in: the same whatever order signals
    /// arrive in (the latest by event time are kept, ties by item).
    fn with(mut self, s: Signal) -> Self {
        match s.action {
            Action::View => {
                let newer = self
                    .recent
                    .iter()
                    .any(|(at, item, _)| *item == s.item && *at >= s.at);
                if !newer {
                    self.recent.retain(|(_, item, _)| *item != s.item);
                    self.recent.push((s.at, s.item, s.related));
                    self.recent.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
                    self.recent.truncate(RECENT);
                }
            }
            Action::Purchase => {
                self.bought.push((s.at, s.item));
                self.bought.sort_by(|a, b| b.cmp(a));
                self.bought.dedup();
                self.bought.truncate(BOUGHT);
            }
            Action::AddToCart => {}
        }
        self.suggestions = self.suggest();
        self
    }

    /// Related items of the recent views, the newer views and the better
    /// ranked items scoring more; bought and just-viewed items left out.
    fn suggest(&self) -> Vec<String> {
        let mut score: HashMap<&str, usize> = HashMap::new();
        for (age, (_, _, related)) in self.recent.iter().enumerate() {
            for (rank, item) in related.iter().enumerate() {
                *score.entry(item.as_str()).or_default() += (RECENT - age) * (TOP - rank);
            }
        }
        let seen = |i: &str| {
            self.bought.iter().any(|(_, b)| b == i) || self.recent.iter().any(|(_, r, _)| r == i)
        };
        let mut ranked: Vec<(&str, usize)> = score.into_iter().filter(|(i, _)| !seen(i)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked
            .into_iter()
            .take(TOP)
            .map(|(i, _)| i.to_owned())
            .collect()
    }
}

/// The user side: keeps each user's activity (store `user-activity`) and
/// sends their suggestions on when they change (and on their first signal).
#[derive(Default)]
struct Suggester {
    activity: Option<KeyValueStore<String, UserActivity>>,
}

impl Process<String, Signal> for Suggester {
    type Key = String;
    type Value = (Vec<String>, i64);

    fn init(&mut self, ctx: &mut ProcessInit<'_, '_>) -> tributary::Result<()> {
        self.activity = Some(ctx.kv_store("user-activity")?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessContext<'_, String, (Vec<String>, i64)>,
        user: String,
        s: Signal,
    ) {
        let Some(store) = &self.activity else { return };
        let before = store.get(&user).expect("the user-activity store");
        let produced_at = s.produced_at;
        let after = before.clone().unwrap_or_default().with(s);
        if before.is_none_or(|b| b.suggestions != after.suggestions) {
            ctx.forward(user.clone(), (after.suggestions.clone(), produced_at));
        }
        store.put(&user, after).expect("the user-activity store");
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

        // Sessions of views, each view with its item's title; each update
        // of a session carries the item pairs it added, keyed by item.
        activity -> filter(|_user, a| a.action == Action::View)
                 -> join_global(catalog, |_user, a| a.item.clone(), |_user, a, item| (a, item.title.clone()))
                 -> group_by_key()
                 -> session_windowed_by(SessionWindows::with_gap(Duration::from_millis(SESSION_GAP as u64)))
                 -> aggregate("sessions", Session::default,
                              |_user, (view, title), session| session.with(view, title),
                              |_user, a, b| Session::merged(a, b))
                 -> to_stream()
                 -> flat_map(|_session, s| s.fresh_pairs())
                 => co_viewed;

        // Views and purchases, keyed by item.
        activity -> filter(|_user, a| a.action != Action::AddToCart)
                 -> map(|_user, a| (a.item.clone(), ItemEvent::Signal(a)))
                 => signals;

        // Each item's window of co-views, views and purchases, once closed:
        // views and purchases get the related items as of its start, then
        // its co-views are counted.
        co_viewed -> merge(signals)
                  -> group_by("by-item", |item, _| item.clone())
                  -> windowed_by(TimeWindows::tumbling(WINDOW))
                  -> emit(Emit::OnWindowClose)
                  -> aggregate("item-windows", ItemWindow::default, |_item, e, w| w.with(e))
                  -> to_stream()
                  -> map(|w, items| (w.key.clone(), items))
                  -> process("recommender", &["co-views", "related"], Recommender::default)
                  => updates;

        updates -> filter(|_item, u| matches!(u, ItemUpdate::Recommended(..)))
                -> inspect(move |_item, u| if let ItemUpdate::Recommended(_, at) = u { recommended.record(*at) })
                -> map_values(|u| match u { ItemUpdate::Recommended(top, _) => top, ItemUpdate::Signal(_) => Vec::new() })
                -> to("recommendations", Utf8, Json);

        // Each user's views and purchases make their suggestions.
        updates -> flat_map(|user, u| match u { ItemUpdate::Signal(s) => Some((user.clone(), s)), ItemUpdate::Recommended(..) => None })
                -> key_by("signals-by-user", |user, _| user.clone())
                -> process("suggester", &["user-activity"], Suggester::default)
                -> inspect(move |_user, (_, at)| suggested.record(*at))
                -> map_values(|(suggestions, _)| suggestions)
                -> to("suggestions", Utf8, Json);
    }
}
