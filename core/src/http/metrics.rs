//! `GET /metrics`: the application's counters in Prometheus' format,
//! gathered when scraped (nothing is counted twice on the hot path).

use crate::runtime::view::AppView;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

type Labels = Vec<(&'static str, String)>;

/// Counters of one scrape, registered in `registry`.
fn counter(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    family
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

fn rate(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge<f64, AtomicU64>> {
    let family = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    registry.register(name, help, family.clone());
    family
}

/// The metrics text of `view` now.
pub(crate) fn render(view: &AppView) -> crate::Result<String> {
    let mut registry = Registry::with_prefix_and_labels(
        "tributary",
        [("app".into(), view.app.clone().into())].into_iter(),
    );
    let records_in = counter(
        &mut registry,
        "records_in",
        "Input records processed, per task.",
    );
    let records_out = counter(
        &mut registry,
        "records_out",
        "Records written, per task and output topic (repartition and dead-letter topics included).",
    );
    let in_rate = rate(
        &mut registry,
        "records_in_per_second",
        "Input records processed per second over the last second, per task.",
    );
    let dead = counter(
        &mut registry,
        "dead_lettered_records",
        "Records written to the dead-letter topic, per task.",
    );
    let late = counter(
        &mut registry,
        "late_dropped_records",
        "Records dropped because their window had closed, per task and operator.",
    );
    let restored = counter(
        &mut registry,
        "restored_records",
        "Changelog records applied to restore state, per task.",
    );
    let remaining = gauge(
        &mut registry,
        "restore_remaining_records",
        "Changelog records still to restore, per task.",
    );
    let node_records = counter(
        &mut registry,
        "node_records",
        "Records each node of the topology processed, per task.",
    );
    let tasks = view.counters.tasks();
    let rates = view.rates();
    for (id, c) in &tasks {
        let task = vec![
            ("subtopology", id.sub_topology.to_string()),
            ("task", id.to_string()),
        ];
        records_in
            .get_or_create(&task)
            .inc_by(c.processed.load(Ordering::Relaxed));
        dead.get_or_create(&task)
            .inc_by(c.dead_lettered.load(Ordering::Relaxed));
        restored
            .get_or_create(&task)
            .inc_by(c.restored.load(Ordering::Relaxed));
        remaining
            .get_or_create(&task)
            .set(c.restore_remaining.load(Ordering::Relaxed) as i64);
        in_rate
            .get_or_create(&task)
            .set(rates.records_in.get(id).copied().unwrap_or(0.0));
        for (i, n) in c.node_records().into_iter().enumerate() {
            if let Some(node) = view.topology.nodes.get(i) {
                let mut labels = task.clone();
                labels.push(("node", node.name.clone()));
                node_records.get_or_create(&labels).inc_by(n);
            }
        }
        for (topic, n) in c.records_out() {
            let mut labels = task.clone();
            labels.push(("topic", topic));
            records_out.get_or_create(&labels).inc_by(n);
        }
    }
    for (id, stats) in view.counters.by_task() {
        for (operator, n) in stats.late_by_operator {
            let labels = vec![
                ("subtopology", id.sub_topology.to_string()),
                ("task", id.to_string()),
                ("operator", operator),
            ];
            late.get_or_create(&labels).inc_by(n);
        }
    }
    let lag = gauge(
        &mut registry,
        "consumer_lag_records",
        "Records between the group's committed position and the end, per input partition of the tasks open here.",
    );
    let quarantined = gauge(
        &mut registry,
        "log_quarantined_records",
        "Records of an input partition set aside as damaged (embedded log quarantine), which readers skip.",
    );
    for l in view.lag()? {
        let labels = vec![
            ("topic", l.partition.topic.clone()),
            ("partition", l.partition.partition.to_string()),
        ];
        lag.get_or_create(&labels).set(l.records as i64);
        let skipped = view
            .log
            .quarantined_records(&l.partition.topic, l.partition.partition)?;
        quarantined.get_or_create(&labels).set(skipped as i64);
    }
    let commits = Counter::<u64>::default();
    commits.inc_by(view.counters.commits.load(Ordering::Relaxed));
    registry.register("commits", "Commits that had positions to commit.", commits);
    registry.register(
        "commit_latency_seconds",
        "How long commits took (outputs synced, changelogs and state written, positions committed).",
        view.counters.commit_seconds.clone(),
    );
    let deferred = Counter::<u64>::default();
    deferred.inc_by(view.counters.commits_deferred.load(Ordering::Relaxed));
    registry.register(
        "commits_deferred",
        "Commits whose positions the group could not take then (a rebalance in progress); \
         they go with the next commit.",
        deferred,
    );
    let rebalances = Counter::<u64>::default();
    rebalances.inc_by(view.counters.rebalances.load(Ordering::Relaxed));
    registry.register(
        "rebalances",
        "Group events this instance handled: assignments, revocations, losses.",
        rebalances,
    );
    let standby_records = Counter::<u64>::default();
    standby_records.inc_by(view.counters.standby_records.load(Ordering::Relaxed));
    registry.register(
        "standby_records",
        "Changelog records read to keep standby copies of other instances' tasks.",
        standby_records,
    );
    let standby_tasks = Gauge::<i64>::default();
    standby_tasks.set(view.counters.standby_tasks.load(Ordering::Relaxed) as i64);
    registry.register(
        "standby_tasks",
        "Tasks of other instances this instance keeps a standby copy of.",
        standby_tasks,
    );
    let restoring = Gauge::<i64>::default();
    restoring.set(view.restoring() as i64);
    registry.register(
        "tasks_restoring",
        "Tasks assigned here that are restoring their state.",
        restoring,
    );
    let memory = Gauge::<i64>::default();
    memory.set(view.state.as_ref().map_or(0, |s| s.memory_usage()) as i64);
    registry.register(
        "state_memory_bytes",
        "Memory the state backend holds (RocksDB's block cache, which its memtables are charged to).",
        memory,
    );
    let sizes = gauge(
        &mut registry,
        "store_size_bytes",
        "Estimated bytes a state store holds, all its partitions on this instance.",
    );
    for (store, bytes) in view.store_sizes() {
        sizes
            .get_or_create(&vec![("store", store)])
            .set(bytes as i64);
    }
    let mut text = String::new();
    encode(&mut text, &registry)
        .map_err(|e| crate::Error::Runtime(format!("encoding metrics: {e}")))?;
    Ok(text)
}

pub(super) async fn metrics(State(view): State<Arc<AppView>>) -> Response {
    match tokio::task::spawn_blocking(move || render(&view)).await {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => super::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => super::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
