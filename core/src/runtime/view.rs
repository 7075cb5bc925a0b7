//! What a running application shows of itself (to its HTTP server):
//! counters, group and restore status, lag, stores, the topology, and
//! rates sampled once a second.

use super::counters::Counters;
use super::shutdown::Shared;
use crate::error::Result;
use crate::group::Member;
use crate::log::{Log, TopicPartition};
use crate::store::json_view::JsonView;
use crate::task_id::TaskId;
use crate::topology::TopologyDescription;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tributary_state::StateBackend;

/// A running application, as its HTTP server sees it.
pub(crate) struct AppView {
    /// The application id (consumer group).
    pub(crate) app: String,
    pub(crate) counters: Arc<Counters>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) member: Arc<dyn Member>,
    pub(crate) log: Arc<dyn Log>,
    pub(crate) state: Option<Arc<dyn StateBackend>>,
    pub(crate) topology: TopologyDescription,
    /// The stores served over HTTP, by name.
    pub(crate) stores: BTreeMap<String, Arc<dyn JsonView>>,
    /// Every store of the topology (served or not).
    pub(crate) store_names: Vec<String>,
    /// The address the HTTP server listens on, once it does.
    pub(crate) http: std::sync::OnceLock<std::net::SocketAddr>,
    rates: Mutex<Rates>,
}

impl std::fmt::Debug for AppView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppView")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

/// Records per second over the last sampling interval.
#[derive(Debug, Default, Clone)]
pub(crate) struct Rates {
    at: Option<Instant>,
    last_in: BTreeMap<TaskId, u64>,
    last_nodes: Vec<u64>,
    /// Records per second, per node of the topology (by node index).
    pub(crate) nodes: Vec<f64>,
    /// Records in per second, per task.
    pub(crate) records_in: BTreeMap<TaskId, f64>,
}

/// The lag of one input partition of an open task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lag {
    pub(crate) task: TaskId,
    pub(crate) partition: TopicPartition,
    /// Records between the committed position and the end.
    pub(crate) records: u64,
}

impl AppView {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        app: String,
        counters: Arc<Counters>,
        shared: Arc<Shared>,
        member: Arc<dyn Member>,
        log: Arc<dyn Log>,
        state: Option<Arc<dyn StateBackend>>,
        topology: TopologyDescription,
        stores: BTreeMap<String, Arc<dyn JsonView>>,
    ) -> Self {
        let mut store_names: Vec<String> = topology
            .nodes
            .iter()
            .flat_map(|n| n.stores.iter().cloned())
            .collect();
        store_names.sort();
        store_names.dedup();
        AppView {
            app,
            counters,
            shared,
            member,
            log,
            state,
            topology,
            stores,
            store_names,
            http: std::sync::OnceLock::new(),
            rates: Mutex::default(),
        }
    }

    /// Takes a sample of the counters; rates are over the time since the
    /// previous one.
    pub(crate) fn sample(&self) {
        let now = Instant::now();
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = rates.at.map(|t| now.duration_since(t).as_secs_f64());
        let mut last_in = BTreeMap::new();
        let mut in_rate = BTreeMap::new();
        let mut last_nodes = vec![0u64; self.topology.nodes.len()];
        for (id, c) in self.counters.tasks() {
            let n = c.processed.load(Ordering::Relaxed);
            if let Some(secs) = elapsed {
                let before = rates.last_in.get(&id).copied().unwrap_or(0);
                in_rate.insert(id, n.saturating_sub(before) as f64 / secs.max(1e-3));
            }
            last_in.insert(id, n);
            for (total, n) in last_nodes.iter_mut().zip(c.node_records()) {
                *total += n;
            }
        }
        let nodes = match elapsed {
            Some(secs) => last_nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let before = rates.last_nodes.get(i).copied().unwrap_or(0);
                    n.saturating_sub(before) as f64 / secs.max(1e-3)
                })
                .collect(),
            None => Vec::new(),
        };
        *rates = Rates {
            at: Some(now),
            last_in,
            last_nodes,
            nodes,
            records_in: in_rate,
        };
    }

    /// The rates of the last sample.
    pub(crate) fn rates(&self) -> Rates {
        self.rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The lag of every input partition of the tasks open here: records
    /// between the group's committed position (else the partition's start)
    /// and its end.
    pub(crate) fn lag(&self) -> Result<Vec<Lag>> {
        let committed = self.log.committed_offsets(&self.app)?;
        let mut out = Vec::new();
        for (task, c) in self.counters.tasks() {
            for tp in c.inputs() {
                let (start, end) = self.log.offsets(&tp.topic, tp.partition)?;
                let at = committed.get(&tp).copied().unwrap_or(start);
                out.push(Lag {
                    task,
                    records: end.saturating_sub(at),
                    partition: tp,
                });
            }
        }
        Ok(out)
    }

    /// Tasks assigned here that are not running yet (restoring).
    pub(crate) fn restoring(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }

    /// True once the application stopped or is stopping (a failure, a signal).
    pub(crate) fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    /// Ready: every assigned task restored and running, the group settled.
    pub(crate) fn ready(&self) -> bool {
        !self.stopping() && self.restoring() == 0 && self.member.settled()
    }

    /// The partitions of the store `store` (of `partitions`) whose tasks
    /// are open here: the ones this instance answers for. Local state of
    /// partitions that moved away stays on disk but is not served.
    pub(crate) fn held_partitions(&self, store: &str, partitions: u32) -> Vec<u32> {
        let Some(sub) = self.sub_topology_of(store) else {
            return (0..partitions).collect();
        };
        let mut held: Vec<u32> = self
            .counters
            .tasks()
            .into_iter()
            .filter(|(id, c)| id.sub_topology == sub && !c.inputs().is_empty())
            .map(|(id, _)| id.partition)
            .collect();
        held.sort_unstable();
        held
    }

    /// The sub-topology whose tasks hold the store `store`.
    pub(crate) fn sub_topology_of(&self, store: &str) -> Option<usize> {
        self.topology
            .nodes
            .iter()
            .find(|n| n.stores.iter().any(|s| s == store))
            .map(|n| n.sub_topology)
    }

    /// Estimated bytes held by each store, by name.
    pub(crate) fn store_sizes(&self) -> HashMap<String, u64> {
        let Some(state) = &self.state else {
            return HashMap::new();
        };
        self.store_names
            .iter()
            .filter_map(|name| {
                let id = state.store_id(name)?;
                Some((name.clone(), state.store_size(id)))
            })
            .collect()
    }
}
