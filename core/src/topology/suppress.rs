//! Suppression: emit-final for tables (Kafka Streams' `suppress`).
//!
//! A table emits every change of every key; downstream of an aggregation
//! that is one record per input record. Suppressing it holds each key's
//! changes back in a store and emits the key's latest value once, when
//! event time reaches a point: the close of the key's window
//! ([`Table::suppress_until_window_closes`]), or a time limit after the
//! key's first held change ([`Table::suppress_until_time_limit`]). Both
//! follow the watermark, so what is emitted depends on the input and not on
//! how fast it was read; a bounded run ([`RunningApp::drain`]) ends event
//! time and so emits everything still held.
//!
//! [`RunningApp::drain`]: crate::RunningApp::drain

use super::graph::StoreLayout;
use super::table::{StoreKey, Table};
use super::window::timed_node;
use super::{Windowed, lock};
use crate::codec::RkyvData;
use crate::operators::Data;
use crate::operators::suppress::{Suppress, Until};
use crate::record::millis;
use std::time::Duration;

/// Adds the suppression node below `table`, buffering in `store`.
fn suppress<K: StoreKey, V: Data + RkyvData>(
    table: &Table<K, V>,
    store: &str,
    until: Until<K>,
) -> Table<K, V> {
    let name = store.to_owned();
    let out = timed_node(
        table.change_stream(),
        "suppress",
        (store, StoreLayout::Internal),
        move |init, next| Ok(Suppress::new(init.kv_store(&name)?, until, next)),
    );
    Table::derived(out)
}

impl<K: StoreKey, V: Data + RkyvData> Table<K, V> {
    /// Emits each key's latest value once `limit` of event time has passed
    /// since its first held change (the watermark reaching that change's
    /// time plus `limit`), instead of every change: Kafka Streams'
    /// `suppress(untilTimeLimit(...))`. Changes are held in the store
    /// `store` (changelogged, so nothing held is lost in a crash);
    /// deletions are held and emitted like values.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Optional, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("clicks", Utf8, Utf8)
    ///     .group_by_key()
    ///     .count("clicks-per-user")
    ///     .suppress_until_time_limit("held-counts", Duration::from_secs(10))
    ///     .to("counts", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let clicks = driver.input("clicks", Utf8, Utf8);
    /// for (user, t) in [("ann", 0), ("ann", 4_000), ("bob", 6_000), ("ann", 9_000)] {
    ///     clicks.pipe_at(user.to_string(), "/".to_string(), t)?;
    /// }
    /// let counts = driver.output("counts", Utf8, Optional(Json));
    /// assert!(counts.read_key_values()?.is_empty(), "nothing is due before 10 s");
    /// clicks.pipe_at("cy".to_string(), "/".to_string(), 12_000)?;
    /// assert_eq!(counts.read_key_values()?, vec![("ann".to_string(), Some(3u64))]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn suppress_until_time_limit(&self, store: &str, limit: Duration) -> Table<K, V> {
        suppress(self, store, Until::TimeLimit(millis(limit)))
    }
}

impl<K: StoreKey, V: Data + RkyvData> Table<Windowed<K>, V> {
    /// Emits each window's final value once, when the windows it comes
    /// from close (the watermark passing the window's end plus their grace,
    /// plus the gap for session windows), instead of every change: Kafka
    /// Streams' `suppress(untilWindowCloses(...))`. Changes are held in the
    /// store `store`; a window deleted before it closed (a session merged
    /// into a longer one) is not emitted.
    ///
    /// The table must descend from a windowed aggregation, whose windows
    /// tell when each closes; it may have been re-aggregated since, across
    /// repartitions, as in "count per window, then the hottest key per
    /// window", which this makes emit each window's winner once. (Directly
    /// on a windowed aggregation this is [`Emit::OnWindowClose`].)
    ///
    /// [`Emit::OnWindowClose`]: crate::topology::Emit::OnWindowClose
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tributary::topology::{TimeWindows, Windowed};
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Optional, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("bids", Utf8, Utf8)
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::tumbling(Duration::from_secs(10)))
    ///     .count("bids-per-auction")
    ///     .to_stream()
    ///     // the hottest auction of each window
    ///     .map(|w, n| (w.clone(), (n, w.key)))
    ///     .group_by("by-window", |w, _| Windowed { key: (), start: w.start, end: w.end })
    ///     .reduce("hottest", |a, b| if b > a { b } else { a })
    ///     .suppress_until_window_closes("hottest-final")
    ///     .to("hottest", Json, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let bids = driver.input("bids", Utf8, Utf8);
    /// for (auction, t) in [("a", 1_000), ("b", 2_000), ("b", 3_000), ("a", 12_000)] {
    ///     bids.pipe_at(auction.to_string(), "bid".to_string(), t)?;
    /// }
    /// let hottest = driver.output::<Windowed<()>, Option<(u64, String)>, _, _>("hottest", Json, Optional(Json));
    /// let w = Windowed { key: (), start: 0, end: 10_000 };
    /// assert_eq!(hottest.read_key_values()?, vec![(w, Some((2, "b".to_string())))]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn suppress_until_window_closes(&self, store: &str) -> Table<Windowed<K>, V> {
        let changes = self.change_stream();
        let delay = lock(&changes.graph).window_close_delay(changes.node);
        let Some(delay) = delay else {
            lock(&changes.graph).errors.push(format!(
                "suppress_until_window_closes(\"{store}\"): the table does not come from a \
                 windowed aggregation, so when its windows close is unknown \
                 (use suppress_until_time_limit)"
            ));
            return Table::derived(changes.clone());
        };
        let until = Until::WindowCloses {
            after: delay,
            end: |w: &Windowed<K>| w.end,
        };
        suppress(self, store, until)
    }
}
