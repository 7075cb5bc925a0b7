//! Joins: windowed stream-stream, stream-table, table-table, and stream
//! against a global table.
//!
//! Joined inputs must be *co-partitioned*: the same keys in the same
//! partition numbers, which holds for topics with the same partition count
//! written with the same partitioner (and for [`Stream::key_by`]'s
//! repartition topics, which are sized to match). [`App::new`](crate::App::new)
//! checks the partition counts of joined inputs and explains a mismatch.
//! A [`GlobalTable`] needs none of this: every task sees all of it.

use super::graph::{JoinDef, StoreDef, StoreLayout};
use super::table::{StoreKey, Table};
use super::{Stream, TopologyBuilder, lock};
use crate::codec::{Codec, RkyvData};
use crate::operators::Data;
use crate::operators::clock::TimeDriven;
use crate::operators::join::{
    JoinKind, JoinSpan, Joiner, LeftInput, RightInput, StreamJoin, StreamTableJoin, TableJoin,
    TableLookup,
};
use crate::record::millis;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The time window of a stream-stream join: a left record at `t` pairs with
/// right records in `[t - before, t + after]`, as Kafka Streams'
/// `JoinWindows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    before: i64,
    after: i64,
    grace: i64,
}

impl JoinWindows {
    /// Pairs records at most `difference` apart, either way.
    pub fn of(difference: Duration) -> Self {
        let d = millis(difference);
        JoinWindows {
            before: d,
            after: d,
            grace: 0,
        }
    }

    /// Sets how far before a left record a right record may be.
    pub fn before(mut self, before: Duration) -> Self {
        self.before = millis(before);
        self
    }

    /// Sets how far after a left record a right record may be.
    pub fn after(mut self, after: Duration) -> Self {
        self.after = millis(after);
        self
    }

    /// Accepts out-of-order records up to `grace` after their window closed
    /// (default 0); unmatched left/outer results wait for it too.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }
}

impl<K: StoreKey, V: Data + RkyvData> Stream<K, V> {
    /// Inner windowed join with `other`: one result per pair of records with
    /// the same key within the window. `name` names the join's two buffer
    /// stores, `<name>-left` and `<name>-right` (keep it stable).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// use tributary::topology::JoinWindows;
    /// let mut b = Topology::builder("ads");
    /// let shows = b.stream::<String, String>("impressions", Utf8, Utf8);
    /// let clicks = b.stream::<String, String>("clicks", Utf8, Utf8);
    /// shows
    ///     .join(&clicks, "shown-clicked", JoinWindows::of(Duration::from_secs(10)),
    ///           |_id, ad, page| format!("{ad} clicked on {page}"))
    ///     .to("clicked-ads", Utf8, Utf8);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("impressions", Utf8, Utf8).pipe_at("i1".to_string(), "ad-7".to_string(), 1_000)?;
    /// driver.input("clicks", Utf8, Utf8).pipe_at("i1".to_string(), "/shoes".to_string(), 4_000)?;
    /// let out = driver.output::<String, String, _, _>("clicked-ads", Utf8, Utf8).read_values()?;
    /// assert_eq!(out, vec!["ad-7 clicked on /shoes".to_string()]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn join<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Stream<K, V2>,
        name: &str,
        windows: JoinWindows,
        joiner: impl Fn(&K, &V, &V2) -> VR + Send + Sync + 'static,
    ) -> Stream<K, VR> {
        self.stream_join(
            other,
            name,
            windows,
            JoinKind::Inner,
            Arc::new(move |k: &K, l: Option<&V>, r: Option<&V2>| match (l, r) {
                (Some(l), Some(r)) => joiner(k, l, r),
                _ => unreachable!("an inner join only pairs"),
            }),
        )
    }

    /// Left windowed join: like [`join`](Stream::join), plus each left
    /// record that found no partner, emitted alone once its window has
    /// closed (so never before a partner could still arrive).
    pub fn left_join<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Stream<K, V2>,
        name: &str,
        windows: JoinWindows,
        joiner: impl Fn(&K, &V, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> Stream<K, VR> {
        self.stream_join(
            other,
            name,
            windows,
            JoinKind::Left,
            Arc::new(move |k: &K, l: Option<&V>, r: Option<&V2>| match l {
                Some(l) => joiner(k, l, r),
                None => unreachable!("a left join emits no right record alone"),
            }),
        )
    }

    /// Outer windowed join: pairs, and the records of either side that found
    /// no partner, emitted alone once their window has closed.
    pub fn outer_join<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Stream<K, V2>,
        name: &str,
        windows: JoinWindows,
        joiner: impl Fn(&K, Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> Stream<K, VR> {
        self.stream_join(other, name, windows, JoinKind::Outer, Arc::new(joiner))
    }

    fn stream_join<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Stream<K, V2>,
        name: &str,
        windows: JoinWindows,
        kind: JoinKind,
        joiner: Arc<Joiner<K, V, V2, VR>>,
    ) -> Stream<K, VR> {
        let (left_store, right_store) = (format!("{name}-left"), format!("{name}-right"));
        let span = JoinSpan {
            before: windows.before,
            after: windows.after,
            grace: windows.grace,
        };
        let (ls, rs) = (left_store.clone(), right_store.clone());
        let join_name: Arc<str> = Arc::from(name);
        let kind_name = match kind {
            JoinKind::Inner => "join",
            JoinKind::Left => "left-join",
            JoinKind::Outer => "outer-join",
        };
        let out = self.binary(
            other,
            kind_name,
            move |init, next| {
                let op = StreamJoin::new(
                    init.kv_store(&ls)?,
                    init.kv_store(&rs)?,
                    span,
                    kind,
                    Arc::clone(&joiner),
                    next,
                    Arc::clone(&join_name),
                );
                let op = Arc::new(Mutex::new(op));
                init.on_time(Arc::clone(&op) as Arc<Mutex<dyn TimeDriven>>);
                Ok(op)
            },
            |op| Box::new(LeftInput(op)),
            |op| Box::new(RightInput(op)),
        );
        let mut g = lock(&self.graph);
        if windows.before < 0 || windows.after < 0 {
            g.errors
                .push(format!("join '{name}': the window must not be negative"));
        }
        for store in [left_store, right_store] {
            g.stores.push(StoreDef {
                name: store,
                node: out.node,
                layout: StoreLayout::Internal,
            });
        }
        g.joins.push(JoinDef {
            name: name.to_owned(),
            node: out.node,
        });
        g.align_partitions::<K>(self.node, other.node, name);
        drop(g);
        out
    }
}

/// The store of a table, or a build error saying it needs one.
fn table_store<K: Data, V: Data>(table: &Table<K, V>, what: &str) -> Option<String> {
    let store = table.store_name().map(str::to_owned);
    if store.is_none() {
        lock(&table.change_stream().graph).errors.push(format!(
            "{what}: the table is not materialized; call .materialize(\"<store>\") on it first"
        ));
    }
    store
}

impl<K: StoreKey, V: Data> Stream<K, V> {
    /// Inner stream-table join: each record is joined with the table's
    /// current value for its key, and dropped if there is none. Table
    /// updates emit nothing. The table must have a store (an aggregation,
    /// [`TopologyBuilder::table`], or [`Table::materialize`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Optional, Utf8}};
    /// let mut b = Topology::builder("shop");
    /// let prices = b.table::<String, u32>("prices", Utf8, Json, "prices");
    /// b.stream::<String, u32>("orders", Utf8, Json)
    ///     .join_table(&prices, |_item, qty, price| qty * price)
    ///     .to("order-totals", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("prices", Utf8, Optional(Json)).pipe("pen".to_string(), Some(3u32))?;
    /// let orders = driver.input("orders", Utf8, Json);
    /// orders.pipe("pen".to_string(), 2u32)?;
    /// orders.pipe("ink".to_string(), 1u32)?; // no price: no result
    /// let totals = driver.output::<String, u32, _, _>("order-totals", Utf8, Json).read_values()?;
    /// assert_eq!(totals, vec![6]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn join_table<VT: Data + RkyvData, VR: Data>(
        &self,
        table: &Table<K, VT>,
        joiner: impl Fn(&K, V, &VT) -> VR + Send + Sync + 'static,
    ) -> Stream<K, VR> {
        self.table_join(
            table,
            "join-table",
            Arc::new(move |k: &K, v: V, t: Option<&VT>| t.map(|t| joiner(k, v, t))),
        )
    }

    /// Left stream-table join: every record, with the table's value for its
    /// key if there is one.
    pub fn left_join_table<VT: Data + RkyvData, VR: Data>(
        &self,
        table: &Table<K, VT>,
        joiner: impl Fn(&K, V, Option<&VT>) -> VR + Send + Sync + 'static,
    ) -> Stream<K, VR> {
        self.table_join(
            table,
            "left-join-table",
            Arc::new(move |k: &K, v: V, t: Option<&VT>| Some(joiner(k, v, t))),
        )
    }

    fn table_join<VT: Data + RkyvData, VR: Data>(
        &self,
        table: &Table<K, VT>,
        kind: &'static str,
        joiner: Arc<TableLookup<K, V, VT, VR>>,
    ) -> Stream<K, VR> {
        let store = table_store(table, kind).unwrap_or_default();
        let table_node = table.change_stream().node;
        let out = self.child(
            kind,
            vec![self.node, table_node],
            None,
            move |init, next| {
                Ok(Box::new(StreamTableJoin {
                    table: init.kv_store(&store)?,
                    joiner: Arc::clone(&joiner),
                    next,
                }))
            },
        );
        let mut g = lock(&self.graph);
        let name = g.nodes[out.node].name.clone();
        g.align_partitions::<K>(self.node, table_node, &name);
        g.joins.push(JoinDef {
            name,
            node: out.node,
        });
        drop(g);
        out
    }
}

impl<K: StoreKey, V: Data + RkyvData> Table<K, V> {
    /// Inner table-table join: the key is in the result while it is in both
    /// tables. Both tables need a store.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Optional, Utf8}};
    /// let mut b = Topology::builder("crm");
    /// let names = b.table::<String, String>("names", Utf8, Utf8, "names");
    /// let emails = b.table::<String, String>("emails", Utf8, Utf8, "emails");
    /// names.join(&emails, |_id, n, e| format!("{n} <{e}>")).to("contacts", Utf8, Utf8);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("names", Utf8, Optional(Utf8)).pipe("u1".to_string(), Some("Ada".to_string()))?;
    /// driver.input("emails", Utf8, Optional(Utf8)).pipe("u1".to_string(), Some("ada@x.org".to_string()))?;
    /// let out = driver.output::<String, Option<String>, _, _>("contacts", Utf8, Optional(Utf8)).read_values()?;
    /// assert_eq!(out, vec![Some("Ada <ada@x.org>".to_string())]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn join<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Table<K, V2>,
        joiner: impl Fn(&K, &V, &V2) -> VR + Send + Sync + 'static,
    ) -> Table<K, VR> {
        self.table_table(
            other,
            JoinKind::Inner,
            Arc::new(move |k: &K, l: Option<&V>, r: Option<&V2>| match (l, r) {
                (Some(l), Some(r)) => joiner(k, l, r),
                _ => unreachable!("an inner join only pairs"),
            }),
        )
    }

    /// Left table-table join: the key is in the result while it is in this
    /// table, with the other table's value if any.
    pub fn left_join<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Table<K, V2>,
        joiner: impl Fn(&K, &V, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> Table<K, VR> {
        self.table_table(
            other,
            JoinKind::Left,
            Arc::new(move |k: &K, l: Option<&V>, r: Option<&V2>| match l {
                Some(l) => joiner(k, l, r),
                None => unreachable!("a left join needs the left value"),
            }),
        )
    }

    /// Outer table-table join: the key is in the result while it is in
    /// either table.
    pub fn outer_join<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Table<K, V2>,
        joiner: impl Fn(&K, Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> Table<K, VR> {
        self.table_table(other, JoinKind::Outer, Arc::new(joiner))
    }

    fn table_table<V2: Data + RkyvData, VR: Data>(
        &self,
        other: &Table<K, V2>,
        kind: JoinKind,
        joiner: Arc<Joiner<K, V, V2, VR>>,
    ) -> Table<K, VR> {
        let what = match kind {
            JoinKind::Inner => "table-join",
            JoinKind::Left => "table-left-join",
            JoinKind::Outer => "table-outer-join",
        };
        let ls = table_store(self, what).unwrap_or_default();
        let rs = table_store(other, what).unwrap_or_default();
        let changes = self.change_stream().binary(
            other.change_stream(),
            what,
            move |init, next| {
                Ok(Arc::new(Mutex::new(TableJoin {
                    left: init.kv_store(&ls)?,
                    right: init.kv_store(&rs)?,
                    kind,
                    joiner: Arc::clone(&joiner),
                    next,
                })))
            },
            |op| Box::new(LeftInput(op)),
            |op| Box::new(RightInput(op)),
        );
        let mut g = lock(&changes.graph);
        let name = g.nodes[changes.node].name.clone();
        g.align_partitions::<K>(self.change_stream().node, other.change_stream().node, &name);
        g.joins.push(JoinDef {
            name,
            node: changes.node,
        });
        drop(g);
        Table::derived(changes)
    }
}

impl TopologyBuilder {
    /// Reads all partitions of `topic` into a table replicated to every
    /// task of the process, for [`Stream::join_global`]. It is loaded to the
    /// end before processing starts and kept current while the application
    /// runs.
    pub fn global_table<K, V>(
        &mut self,
        topic: &str,
        key_codec: impl Codec<K>,
        value_codec: impl Codec<V>,
    ) -> crate::topology::GlobalTable<K, V>
    where
        K: StoreKey + Sync,
        V: Data + Sync,
    {
        crate::topology::global::declare(self, topic, key_codec, value_codec)
    }
}
