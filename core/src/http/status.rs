//! The status page (`GET /`): the topology laid out by `layout-rs` as SVG,
//! and a script that polls `GET /status` every second to show each node's
//! rate, the lag of every input partition and restore progress.

use crate::runtime::view::AppView;
use crate::topology::TopologyDescription;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Json, Response};
use serde_json::{Value, json};
use std::sync::Arc;

const PAGE: &str = include_str!("status.html");

/// The topology as a DOT graph `layout-rs` can lay out: each operator a
/// box labelled with its name, kind and sub-topology, and a last line the
/// page fills with its rate; topics and stores as their own nodes.
fn layout_dot(t: &TopologyDescription) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("digraph topology {\n");
    for n in &t.nodes {
        out.push_str(&format!(
            "  \"{}\" [shape=box, label=\"{}\\n{} (sub-topology {})\\n...\"];\n",
            quote(&n.name),
            quote(&n.name),
            quote(&n.kind),
            n.sub_topology
        ));
    }
    for n in &t.nodes {
        for c in &n.children {
            out.push_str(&format!("  \"{}\" -> \"{}\";\n", quote(&n.name), quote(c)));
        }
        if let Some(topic) = &n.topic {
            let id = format!("topic {}", quote(topic));
            out.push_str(&format!(
                "  \"{id}\" [shape=ellipse, label=\"topic {}\"];\n",
                quote(topic)
            ));
            if n.kind.ends_with("source") {
                out.push_str(&format!("  \"{id}\" -> \"{}\";\n", quote(&n.name)));
            } else {
                out.push_str(&format!("  \"{}\" -> \"{id}\";\n", quote(&n.name)));
            }
        }
        for s in &n.stores {
            let id = format!("store {}", quote(s));
            out.push_str(&format!(
                "  \"{id}\" [shape=circle, label=\"store {}\"];\n",
                quote(s)
            ));
            out.push_str(&format!("  \"{}\" -> \"{id}\";\n", quote(&n.name)));
        }
    }
    out.push_str("}\n");
    out
}

/// The topology drawn as SVG.
pub(crate) fn svg(t: &TopologyDescription) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let dot = layout_dot(t);
    let graph = DotParser::new(&dot).process()?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut writer = SVGWriter::new();
    visual.do_it(false, false, false, &mut writer);
    Ok(writer.finalize())
}

pub(super) async fn page(State(view): State<Arc<AppView>>) -> Response {
    let diagram = match svg(&view.topology) {
        Ok(svg) => svg,
        Err(e) => format!("<p>the topology could not be drawn: {e}</p>"),
    };
    let html = PAGE
        .replace("{{APP}}", &view.app)
        .replace("{{DIAGRAM}}", &diagram);
    Html(html).into_response()
}

pub(super) async fn topology(State(view): State<Arc<AppView>>) -> Response {
    Json(&view.topology).into_response()
}

/// What the page shows: the records each node processed per second over
/// the last second, lag per input partition, restores.
pub(crate) fn snapshot(view: &AppView) -> Value {
    let rates = view.rates();
    let nodes: serde_json::Map<String, Value> = view
        .topology
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let rate = rates.nodes.get(i).copied().unwrap_or(0.0);
            (n.name.clone(), json!({ "rate": rate }))
        })
        .collect();
    let lag: Vec<Value> = match view.lag() {
        Ok(l) => l
            .iter()
            .map(|l| json!({"topic": l.partition.topic, "partition": l.partition.partition, "task": l.task.to_string(), "lag": l.records}))
            .collect(),
        Err(e) => vec![json!({"error": e.to_string()})],
    };
    let (mut restored, mut remaining) = (0u64, 0u64);
    for (_, c) in view.counters.tasks() {
        restored += c.restored.load(std::sync::atomic::Ordering::Relaxed);
        remaining += c
            .restore_remaining
            .load(std::sync::atomic::Ordering::Relaxed);
    }
    json!({
        "app": view.app,
        "ready": view.ready(),
        "records_in": view.counters.processed(),
        "nodes": nodes,
        "lag": lag,
        "restore": {"tasks_restoring": view.restoring(), "restored": restored, "remaining": remaining},
    })
}

pub(super) async fn status(State(view): State<Arc<AppView>>) -> Response {
    match tokio::task::spawn_blocking(move || snapshot(&view)).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => super::error(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
