//! `GET /stores...`: the stores of a running application, as JSON.

use super::{error, instances};
use crate::runtime::view::AppView;
use crate::store::json_view::{JsonView, QueryError};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::sync::Arc;

/// Entries per page unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

/// The query of a scan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScanQuery {
    /// Keys whose text starts with this.
    prefix: Option<String>,
    /// Keys at or after this one.
    from: Option<String>,
    /// Keys before this one.
    to: Option<String>,
    /// Keys after this one (the `next` of the previous page).
    after: Option<String>,
    /// Entries per page.
    limit: Option<usize>,
}

pub(super) async fn list(State(view): State<Arc<AppView>>) -> Response {
    let stores: Vec<Value> = view
        .store_names
        .iter()
        .map(|s| json!({"name": s, "served": view.stores.contains_key(s)}))
        .collect();
    Json(json!({ "stores": stores })).into_response()
}

/// The served store `name`, or the 404 answer.
fn served(view: &AppView, name: &str) -> Result<Arc<dyn JsonView>, Response> {
    if let Some(s) = view.stores.get(name) {
        return Ok(Arc::clone(s));
    }
    let message = if view.store_names.iter().any(|s| s == name) {
        format!(
            "store '{name}' is not served over HTTP; the application serves it with \
             App::serve_store::<K, V>(\"{name}\")"
        )
    } else {
        let served: Vec<&str> = view.stores.keys().map(String::as_str).collect();
        format!(
            "no store named '{name}'; stores served: {}",
            if served.is_empty() {
                "none".to_owned()
            } else {
                served.join(", ")
            }
        )
    };
    Err(error(StatusCode::NOT_FOUND, message))
}

/// A request's query and served store, or the 400 or 404 answer.
fn request<Q>(
    view: &AppView,
    store: &str,
    query: Result<Query<Q>, QueryRejection>,
) -> Result<(Q, Arc<dyn JsonView>), Response> {
    let Query(q) = query.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok((q, served(view, store)?))
}

fn failed(e: QueryError) -> Response {
    match e {
        QueryError::BadKey(m) => error(StatusCode::BAD_REQUEST, m),
        QueryError::Failed(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The query of a key lookup.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GetQuery {
    /// Answer from this instance only (how instances ask each other).
    #[serde(default)]
    local: bool,
}

pub(super) async fn get(
    State(view): State<Arc<AppView>>,
    Path((store, key)): Path<(String, String)>,
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Response {
    let (q, s) = match request(&view, &store, query) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let answer =
        tokio::task::spawn_blocking(move || lookup(&view, s.as_ref(), &store, &key, q.local)).await;
    match answer {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => failed(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Looks `key` up here, then, unless `local`, in the instances that hold
/// the store's other partitions.
fn lookup(
    view: &AppView,
    s: &dyn JsonView,
    store: &str,
    key: &str,
    local: bool,
) -> Result<Response, QueryError> {
    let held = view.held_partitions(store, s.partitions());
    if let Some(value) = s.get(key, &held)? {
        return Ok(Json(json!({"store": store, "key": key, "value": value})).into_response());
    }
    let own = view.http.get().copied();
    let mut asked = Vec::new();
    if let (false, Some(own)) = (local, own)
        && !instances::holds_all(view, store, s.partitions())
    {
        for addr in instances::holders(view, own, store)? {
            asked.push(addr.to_string());
            let url = format!(
                "http://{addr}/stores/{}/{}?local=true",
                encode(store),
                encode(key)
            );
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(5)))
                .build()
                .into();
            match agent.get(&url).call() {
                Ok(mut r) if r.status() == 200 => {
                    let mut body: Value = match r.body_mut().read_json() {
                        Ok(b) => b,
                        Err(_) => continue,
                    };
                    body["instance"] = json!(addr.to_string());
                    return Ok(Json(body).into_response());
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(instance = %addr, error = %e, "asking another instance"),
            }
        }
    }
    let elsewhere = if asked.is_empty() {
        String::new()
    } else {
        format!(
            " (nor has any of the instances asked: {})",
            asked.join(", ")
        )
    };
    Ok(error(
        StatusCode::NOT_FOUND,
        format!("store '{store}' has no entry for key '{key}'{elsewhere}"),
    ))
}

/// `text` for a URL path segment: unreserved characters kept, the rest
/// percent-encoded.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) async fn scan(
    State(view): State<Arc<AppView>>,
    Path(store): Path<String>,
    query: Result<Query<ScanQuery>, QueryRejection>,
) -> Response {
    let (q, s) = match request(&view, &store, query) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        );
    }
    let held = view.held_partitions(&store, s.partitions());
    let answer = tokio::task::spawn_blocking(move || page(s.as_ref(), &held, &q, limit)).await;
    match answer {
        Ok(Ok((entries, next))) => {
            Json(json!({"store": store, "entries": entries, "next": next})).into_response()
        }
        Ok(Err(e)) => failed(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// One page of entries in key order, and the `after` of the next page.
fn page(
    store: &dyn JsonView,
    held: &[u32],
    q: &ScanQuery,
    limit: usize,
) -> Result<(Vec<Value>, Option<String>), QueryError> {
    let bound = |text: &Option<String>| text.as_deref().map(|t| store.key(t)).transpose();
    let (from, to, after) = (bound(&q.from)?, bound(&q.to)?, bound(&q.after)?);
    let mut entries: Vec<(Value, Value)> = store
        .entries(held)?
        .into_iter()
        .filter(|(k, _)| {
            q.prefix
                .as_deref()
                .is_none_or(|p| key_text(k).starts_with(p))
                && from
                    .as_ref()
                    .is_none_or(|f| compare(k, f) != Ordering::Less)
                && to.as_ref().is_none_or(|t| compare(k, t) == Ordering::Less)
                && after
                    .as_ref()
                    .is_none_or(|a| compare(k, a) == Ordering::Greater)
        })
        .collect();
    entries.sort_by(|a, b| compare(&a.0, &b.0));
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = more
        .then(|| entries.last().map(|(k, _)| key_text(k)))
        .flatten();
    let entries = entries
        .into_iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    Ok((entries, next))
}

/// A key as text: a string key itself, any other as JSON.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Key order: numbers by value, strings by text, arrays element by
/// element, anything else by its JSON text.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&y.as_f64().unwrap_or(0.0)),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => a.to_string().cmp(&b.to_string()),
    }
}
