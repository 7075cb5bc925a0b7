//! Grouped streams, aggregations and tables.

use super::graph::{StoreDef, StoreLayout};
use super::{Stream, TopologyBuilder, lock};
use crate::codec::{Codec, Optional, RkyvData};
use crate::operators::Data;
use crate::operators::aggregate::{Aggregate, Fold};
use std::hash::Hash;
use std::sync::Arc;

/// Types that can key a store: rkyv-encodable, hashable, comparable.
pub trait StoreKey: Data + RkyvData + Hash + Eq {}
impl<T: Data + RkyvData + Hash + Eq> StoreKey for T {}

/// A stream grouped by key, ready for an aggregation; see
/// [`Stream::group_by_key`].
pub struct GroupedStream<K, V> {
    pub(super) stream: Stream<K, V>,
}

impl<K, V> std::fmt::Debug for GroupedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupedStream")
            .field("stream", &self.stream)
            .finish()
    }
}

/// A changelog stream read as a table: the latest value per key.
///
/// Tables come from aggregations and from [`TopologyBuilder::table`]. Each
/// update flows downstream as a change (`Some(value)`, or `None` for a
/// deletion); the contents are kept in a named store, backed by the
/// changelog topic `<application>-<store>-changelog`.
pub struct Table<K, V> {
    changes: Stream<K, Option<V>>,
    /// The store holding exactly this table's entries, if it has one.
    store: Option<String>,
}

impl<K, V> std::fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("store", &self.store).finish()
    }
}

impl<K: Data, V: Data> Stream<K, V> {
    /// Groups the stream by its current key, for an aggregation. No
    /// repartition happens: the stream must already be partitioned by key
    /// (as topics written by key are, and as [`key_by`](Stream::key_by)'s
    /// output is).
    pub fn group_by_key(&self) -> GroupedStream<K, V> {
        GroupedStream {
            stream: self.clone(),
        }
    }

    /// Re-keys the stream with `f` through the repartition topic `name`,
    /// then groups it: `key_by(name, f).group_by_key()`.
    pub fn group_by<K2>(
        &self,
        name: &str,
        f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> GroupedStream<K2, V>
    where
        K2: Data + RkyvData,
        V: RkyvData,
    {
        self.key_by(name, f).group_by_key()
    }
}

/// Adds a stateful fold below `stream`, kept in the store `store`.
fn fold<K: StoreKey, V: Data, A: Data + RkyvData>(
    stream: &Stream<K, V>,
    kind: &'static str,
    store: &str,
    fold: Arc<Fold<K, V, A>>,
) -> Table<K, A> {
    let name = store.to_owned();
    let changes = stream.child(kind, vec![stream.node], None, move |init, next| {
        let store = init.kv_store::<K, A>(&name)?;
        Ok(Box::new(Aggregate {
            store,
            fold: Arc::clone(&fold),
            next,
        }))
    });
    let mut g = lock(&stream.graph);
    g.stores.push(StoreDef {
        name: store.to_owned(),
        node: changes.node,
        layout: StoreLayout::KeyValue,
    });
    drop(g);
    Table::new(changes, store)
}

impl<K: StoreKey, V: Data> GroupedStream<K, V> {
    /// Counts records per key, in the store `store`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("clicks", Utf8, Utf8)
    ///     .group_by_key()
    ///     .count("clicks-per-user")
    ///     .to_stream()
    ///     .to("counts", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let clicks = driver.input("clicks", Utf8, Utf8);
    /// for user in ["ann", "bob", "ann"] {
    ///     clicks.pipe(user.to_string(), "/".to_string())?;
    /// }
    /// let counts: Vec<(String, u64)> = driver.output("counts", Utf8, Json).read_key_values()?;
    /// assert_eq!(counts, vec![("ann".into(), 1), ("bob".into(), 1), ("ann".into(), 2)]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn count(&self, store: &str) -> Table<K, u64> {
        fold(
            &self.stream,
            "count",
            store,
            Arc::new(|_k: &K, _v: V, n: Option<u64>| Some(n.unwrap_or(0) + 1)),
        )
    }

    /// Folds records per key into an aggregate starting at `init()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, u64>("spend", Utf8, Json)
    ///     .group_by_key()
    ///     .aggregate("total-spend", || 0u64, |_user, amount, total| total + amount)
    ///     .to_stream()
    ///     .to("totals", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let spend = driver.input("spend", Utf8, Json);
    /// spend.pipe("ann".to_string(), 5u64)?;
    /// spend.pipe("ann".to_string(), 7u64)?;
    /// assert_eq!(driver.output::<String, u64, _, _>("totals", Utf8, Json).read_values()?, vec![5, 12]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn aggregate<A: Data + RkyvData>(
        &self,
        store: &str,
        init: impl Fn() -> A + Send + Sync + 'static,
        add: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> Table<K, A> {
        fold(
            &self.stream,
            "aggregate",
            store,
            Arc::new(move |k: &K, v: V, a: Option<A>| Some(add(k, v, a.unwrap_or_else(&init)))),
        )
    }

    /// Combines records per key with `f` (the first record is the start).
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, u32>("bids", Utf8, Json)
    ///     .group_by_key()
    ///     .reduce("best-bid", |a, b| a.max(b))
    ///     .to_stream()
    ///     .to("best", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let bids = driver.input("bids", Utf8, Json);
    /// for v in [3u32, 9, 4] {
    ///     bids.pipe("lot-1".to_string(), v)?;
    /// }
    /// assert_eq!(driver.output::<String, u32, _, _>("best", Utf8, Json).read_values()?, vec![3, 9, 9]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn reduce(&self, store: &str, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> Table<K, V>
    where
        V: RkyvData,
    {
        fold(
            &self.stream,
            "reduce",
            store,
            Arc::new(move |_k: &K, v: V, acc: Option<V>| {
                Some(match acc {
                    Some(a) => f(a, v),
                    None => v,
                })
            }),
        )
    }
}

impl<K: StoreKey, V: Data + RkyvData> GroupedStream<K, V> {
    /// Keeps, per key, the `n` records with the highest `by` score, highest
    /// first (ties keep the earlier record first).
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, (String, u32)>("scores", Utf8, Json)
    ///     .group_by_key()
    ///     .top_k("top-2", 2, |(_player, score)| *score)
    ///     .to_stream()
    ///     .to("leaders", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let scores = driver.input("scores", Utf8, Json);
    /// for (p, s) in [("ann", 5u32), ("bob", 9), ("cy", 7)] {
    ///     scores.pipe("game-1".to_string(), (p.to_string(), s))?;
    /// }
    /// let leaders: Vec<Vec<(String, u32)>> = driver.output("leaders", Utf8, Json).read_values()?;
    /// assert_eq!(leaders.last().unwrap(), &vec![("bob".to_string(), 9), ("cy".to_string(), 7)]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn top_k<S: PartialOrd>(
        &self,
        store: &str,
        n: usize,
        by: impl Fn(&V) -> S + Send + Sync + 'static,
    ) -> Table<K, Vec<V>> {
        fold(
            &self.stream,
            "top-k",
            store,
            Arc::new(move |_k: &K, v: V, top: Option<Vec<V>>| {
                let mut top = top.unwrap_or_default();
                let score = by(&v);
                let at = top.iter().position(|t| by(t) < score).unwrap_or(top.len());
                if at < n {
                    top.insert(at, v);
                    top.truncate(n);
                }
                Some(top)
            }),
        )
    }
}

impl<K: StoreKey, V: Data + RkyvData> Table<K, V> {
    /// Keeps this table in a store of its own, `store` (so that it can be
    /// queried, and restored, under that name); derived tables such as
    /// [`filter`](Table::filter)'s are otherwise not stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Optional, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.table::<String, u32>("prices", Utf8, Json, "prices")
    ///     .filter(|_item, p| *p < 100)
    ///     .materialize("cheap-prices");
    /// let driver = TestDriver::new(b.build()?)?;
    /// let prices = driver.input("prices", Utf8, Optional(Json));
    /// prices.pipe("pen".to_string(), Some(5u32))?;
    /// prices.pipe("car".to_string(), Some(5000u32))?;
    /// let cheap = driver.store::<String, u32>("cheap-prices")?;
    /// assert_eq!(cheap.iter()?, vec![("pen".to_string(), 5)]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn materialize(&self, store: &str) -> Table<K, V> {
        fold(
            &self.changes,
            "materialize",
            store,
            Arc::new(|_k: &K, v: Option<V>, _old: Option<V>| v),
        )
    }
}

impl<K: Data, V: Data> Table<K, V> {
    /// A table kept in the store `store`.
    pub(crate) fn new(changes: Stream<K, Option<V>>, store: &str) -> Self {
        Table {
            changes,
            store: Some(store.to_owned()),
        }
    }

    /// A table whose entries are in no store of their own (its updates
    /// follow another table's, or it is a windowed aggregation's result).
    pub(crate) fn derived(changes: Stream<K, Option<V>>) -> Self {
        Table {
            changes,
            store: None,
        }
    }

    /// The name of the store holding exactly this table's entries: set for
    /// aggregations, [`TopologyBuilder::table`] and
    /// [`materialize`](Table::materialize); `None` for tables derived with
    /// [`map_values`](Table::map_values) or [`filter`](Table::filter) and for
    /// windowed results (materialize those to query or join them).
    pub fn store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The stream of changes (for joins).
    pub(crate) fn change_stream(&self) -> &Stream<K, Option<V>> {
        &self.changes
    }

    /// The table's updates as a stream (deletions are left out).
    pub fn to_stream(&self) -> Stream<K, V> {
        self.changes.op("to-stream", |ctx, k, v: Option<V>, next| {
            if let Some(v) = v {
                next.process(ctx, k, v);
            }
        })
    }

    /// The table's changes, deletions included (as `None`).
    pub fn changes(&self) -> Stream<K, Option<V>> {
        self.changes.clone()
    }

    /// A table of `f` applied to each value (not materialized: its updates
    /// follow this table's).
    pub fn map_values<V2: Data>(
        &self,
        f: impl Fn(V) -> V2 + Send + Sync + 'static,
    ) -> Table<K, V2> {
        let changes = self
            .changes
            .op("table-map-values", move |ctx, k, v: Option<V>, next| {
                next.process(ctx, k, v.map(&f));
            });
        Table::derived(changes)
    }

    /// A table of the entries for which `f` holds; an update that fails the
    /// predicate is a deletion downstream (as in Kafka Streams).
    pub fn filter(&self, f: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Table<K, V> {
        let changes = self
            .changes
            .op("table-filter", move |ctx, k, v: Option<V>, next| {
                let kept = v.filter(|v| f(&k, v));
                next.process(ctx, k, kept);
            });
        Table::derived(changes)
    }

    /// Writes the table's changes to `topic`; deletions are tombstones.
    pub fn to(&self, topic: &str, key_codec: impl Codec<K>, value_codec: impl Codec<V>) {
        self.changes.to(topic, key_codec, Optional(value_codec));
    }
}

impl TopologyBuilder {
    /// Reads `topic` as a table kept in the store `store`: each record
    /// upserts its key, a tombstone (no value) deletes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("app");
    /// b.table::<String, u32>("prices", Utf8, Json, "prices-store")
    ///     .filter(|_item, price| *price < 100)
    ///     .to("cheap", Utf8, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let prices = driver.input("prices", Utf8, tributary::codec::Optional(Json));
    /// prices.pipe("pen".to_string(), Some(5u32))?;
    /// prices.pipe("pen".to_string(), Some(500u32))?;
    /// prices.pipe("ink".to_string(), Some(7u32))?;
    /// prices.pipe("ink".to_string(), None)?;
    /// let cheap = driver.output::<String, Option<u32>, _, _>("cheap", Utf8, tributary::codec::Optional(Json));
    /// assert_eq!(cheap.read_values()?, vec![Some(5), None, Some(7), None]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn table<K: StoreKey, V: Data + RkyvData>(
        &mut self,
        topic: &str,
        key_codec: impl Codec<K>,
        value_codec: impl Codec<V>,
        store: &str,
    ) -> Table<K, V> {
        let updates = self.stream::<K, Option<V>>(topic, key_codec, Optional(value_codec));
        fold(
            &updates,
            "table-source",
            store,
            Arc::new(|_k: &K, v: Option<V>, _old: Option<V>| v),
        )
    }
}
