//! Which instance of the group serves which tasks: every instance with an
//! HTTP server advertises its address and its open tasks in the compacted
//! topic `<app>-instances` (one record per instance, rewritten whenever its
//! tasks change, a tombstone when it stops). A store query for a key this
//! instance does not hold goes to the instances that hold the store's
//! other partitions. The advertisement moves with the partitions, through
//! the log the instances share, so it works on any backend.

use crate::error::Result;
use crate::log::{Log, TopicConfig};
use crate::record::Batch;
use crate::runtime::view::AppView;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The topic instances advertise themselves in.
pub(crate) fn topic(app: &str) -> String {
    format!("{app}-instances")
}

/// Creates the topic if needed (one partition, compacted).
pub(crate) fn ensure_topic(log: &dyn Log, app: &str) -> Result<()> {
    log.ensure_topic(&topic(app), &TopicConfig::new(1).compacted())?;
    Ok(())
}

/// What one instance advertises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Instance {
    /// Its HTTP address.
    pub(crate) http: SocketAddr,
    /// Its open tasks, as `sub-topology_partition`.
    pub(crate) tasks: Vec<String>,
}

/// Advertises this instance: its address and open tasks, when they changed
/// since `last`.
pub(crate) fn advertise(view: &AppView, http: SocketAddr, last: &mut Option<Vec<String>>) {
    let mut tasks: Vec<String> = view
        .counters
        .tasks()
        .into_iter()
        .filter(|(_, c)| !c.inputs().is_empty())
        .map(|(id, _)| id.to_string())
        .collect();
    tasks.sort();
    if last.as_ref() == Some(&tasks) {
        return;
    }
    let value = match serde_json::to_vec(&Instance {
        http,
        tasks: tasks.clone(),
    }) {
        Ok(v) => v,
        Err(e) => return tracing::warn!(error = %e, "advertising this instance"),
    };
    let mut batch = Batch::new();
    batch.push(
        crate::now_millis(),
        Some(http.to_string().as_bytes()),
        Some(&value),
        &[],
    );
    match view.log.append(&topic(&view.app), 0, &batch) {
        Ok(_) => *last = Some(tasks),
        Err(e) => tracing::warn!(error = %e, "advertising this instance's HTTP address"),
    }
}

/// Withdraws this instance's advertisement (a tombstone).
pub(crate) fn withdraw(view: &AppView, http: SocketAddr) {
    let mut batch = Batch::new();
    batch.push(
        crate::now_millis(),
        Some(http.to_string().as_bytes()),
        None,
        &[],
    );
    if let Err(e) = view.log.append(&topic(&view.app), 0, &batch) {
        tracing::warn!(error = %e, "withdrawing this instance's advertisement");
    }
}

/// The instances advertised now, by address.
pub(crate) fn all(view: &AppView) -> Result<BTreeMap<SocketAddr, Instance>> {
    let t = topic(&view.app);
    let (mut pos, end) = view.log.offsets(&t, 0)?;
    let mut out = BTreeMap::new();
    let mut records = Vec::new();
    while pos < end {
        records.clear();
        view.log.fetch(&t, 0, pos, 1 << 20, &mut records)?;
        let Some(last) = records.last() else { break };
        pos = last.offset + 1;
        for r in &records {
            let Some(addr) = r
                .key
                .as_deref()
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| k.parse::<SocketAddr>().ok())
            else {
                continue;
            };
            match r.value.as_deref().map(serde_json::from_slice::<Instance>) {
                Some(Ok(i)) => {
                    out.insert(addr, i);
                }
                _ => {
                    out.remove(&addr);
                }
            }
        }
    }
    Ok(out)
}

/// True if this instance holds every partition of the store `store`.
pub(crate) fn holds_all(view: &AppView, store: &str, partitions: u32) -> bool {
    view.held_partitions(store, partitions).len() as u32 >= partitions
}

/// The other instances holding tasks of sub-topology `sub`.
pub(crate) fn holders(view: &AppView, own: SocketAddr, store: &str) -> Result<Vec<SocketAddr>> {
    let sub = view.sub_topology_of(store);
    Ok(all(view)?
        .into_iter()
        .filter(|(addr, i)| {
            *addr != own
                && i.tasks.iter().any(|t| {
                    sub.is_none_or(|s| t.split('_').next() == Some(s.to_string().as_str()))
                })
        })
        .map(|(addr, _)| addr)
        .collect())
}
