//! Global tables: a topic read in full by every instance, for joins that
//! need no co-partitioning (small reference data: catalogs, settings).

use super::graph::{GlobalDef, GlobalLoader};
use super::table::StoreKey;
use super::{Stream, TopologyBuilder, lock};
use crate::codec::Codec;
use crate::error::Result;
use crate::log::Log;
use crate::operators::Data;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// A table holding all partitions of a topic, replicated to every task;
/// see [`TopologyBuilder::global_table`].
///
/// It is kept in memory (the topic, ideally compacted, is its changelog:
/// it is read again from the start when the application starts).
pub struct GlobalTable<K, V> {
    data: Arc<RwLock<HashMap<K, V>>>,
}

impl<K, V> Clone for GlobalTable<K, V> {
    fn clone(&self) -> Self {
        GlobalTable {
            data: Arc::clone(&self.data),
        }
    }
}

impl<K, V> std::fmt::Debug for GlobalTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalTable").finish_non_exhaustive()
    }
}

impl<K: StoreKey + Sync, V: Data + Sync> GlobalTable<K, V> {
    /// The current value of `key`, cloned.
    pub fn get(&self, key: &K) -> Option<V> {
        self.data
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.data
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Loader<K, V, KC, VC> {
    topic: String,
    key_codec: KC,
    value_codec: VC,
    data: Arc<RwLock<HashMap<K, V>>>,
    positions: Mutex<Vec<u64>>,
}

impl<K, V, KC, VC> GlobalLoader for Loader<K, V, KC, VC>
where
    K: StoreKey + Sync,
    V: Data + Sync,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn topic(&self) -> &str {
        &self.topic
    }

    fn poll(&self, log: &dyn Log) -> Result<usize> {
        let mut positions = crate::store::lock(&self.positions);
        if positions.is_empty() {
            let n = log.topic_config(&self.topic)?.partitions as usize;
            positions.resize(n, 0);
        }
        let mut applied = 0;
        let mut records = Vec::new();
        for (p, pos) in positions.iter_mut().enumerate() {
            records.clear();
            log.fetch(&self.topic, p as u32, *pos, 1 << 20, &mut records)?;
            if records.is_empty() {
                continue;
            }
            let mut data = self
                .data
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for r in &records {
                *pos = r.offset + 1;
                let key = match self.key_codec.decode_opt(r.key.as_deref()) {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::warn!(topic = %self.topic, partition = p, offset = r.offset, error = %e,
                            "skipping a global-table record whose key cannot be decoded");
                        continue;
                    }
                };
                match r.value.as_deref() {
                    None => {
                        data.remove(&key);
                    }
                    Some(bytes) => match self.value_codec.decode(bytes) {
                        Ok(v) => {
                            data.insert(key, v);
                        }
                        Err(e) => {
                            tracing::warn!(topic = %self.topic, partition = p, offset = r.offset, error = %e,
                                "skipping a global-table record whose value cannot be decoded");
                        }
                    },
                }
                applied += 1;
            }
        }
        Ok(applied)
    }
}

/// Declares a global table on `topic`.
pub(super) fn declare<K, V>(
    builder: &mut TopologyBuilder,
    topic: &str,
    key_codec: impl Codec<K>,
    value_codec: impl Codec<V>,
) -> GlobalTable<K, V>
where
    K: StoreKey + Sync,
    V: Data + Sync,
{
    let data = Arc::new(RwLock::new(HashMap::new()));
    let loader = Loader {
        topic: topic.to_owned(),
        key_codec,
        value_codec,
        data: Arc::clone(&data),
        positions: Mutex::new(Vec::new()),
    };
    let mut g = lock(&builder.graph);
    g.errors.extend(crate::log::name_problem("topic", topic));
    g.globals.push(GlobalDef {
        topic: topic.to_owned(),
        loader: Arc::new(loader),
    });
    GlobalTable { data }
}

impl<K: Data, V: Data> Stream<K, V> {
    /// Inner join with a global table: `key` gives each record's key in the
    /// table (any field, not only the record key: no co-partitioning is
    /// needed); records with no match are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// let mut b = Topology::builder("shop");
    /// let catalog = b.global_table::<String, String>("catalog", Utf8, Utf8);
    /// b.stream::<String, String>("purchases", Utf8, Utf8) // user -> item id
    ///     .join_global(&catalog, |_user, item| item.clone(), |user, _item, title| format!("{user} bought {title}"))
    ///     .to("receipts", Utf8, Utf8);
    /// let driver = TestDriver::new(b.build()?)?;
    /// driver.input("catalog", Utf8, Utf8).pipe("i9".to_string(), "Dune".to_string())?;
    /// driver.input("purchases", Utf8, Utf8).pipe("ann".to_string(), "i9".to_string())?;
    /// let out = driver.output::<String, String, _, _>("receipts", Utf8, Utf8).read_values()?;
    /// assert_eq!(out, vec!["ann bought Dune".to_string()]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn join_global<KG: StoreKey + Sync, VG: Data + Sync, VR: Data>(
        &self,
        table: &GlobalTable<KG, VG>,
        key: impl Fn(&K, &V) -> KG + Send + Sync + 'static,
        joiner: impl Fn(&K, V, &VG) -> VR + Send + Sync + 'static,
    ) -> Stream<K, VR> {
        let data = Arc::clone(&table.data);
        self.op("join-global", move |ctx, k, v, next| {
            let out = {
                let kg = key(&k, &v);
                let map = data
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                map.get(&kg).map(|g| joiner(&k, v, g))
            };
            if let Some(out) = out {
                next.process(ctx, k, out);
            }
        })
    }

    /// Left join with a global table: every record, with the table's value
    /// for `key(record)` if there is one.
    pub fn left_join_global<KG: StoreKey + Sync, VG: Data + Sync, VR: Data>(
        &self,
        table: &GlobalTable<KG, VG>,
        key: impl Fn(&K, &V) -> KG + Send + Sync + 'static,
        joiner: impl Fn(&K, V, Option<&VG>) -> VR + Send + Sync + 'static,
    ) -> Stream<K, VR> {
        let data = Arc::clone(&table.data);
        self.op("left-join-global", move |ctx, k, v, next| {
            let out = {
                let kg = key(&k, &v);
                let map = data
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                joiner(&k, v, map.get(&kg))
            };
            next.process(ctx, k, out);
        })
    }
}
