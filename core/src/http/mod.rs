//! The HTTP server of a running application, on [`Config::http`](crate::Config::http):
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /` | the status page: the topology drawn, with live rates, lag and restores |
//! | `GET /metrics` | Prometheus metrics (OpenMetrics text) |
//! | `GET /health/live` | 200 while the application runs; 503 once it stops or failed |
//! | `GET /health/ready` | 200 when every assigned task has restored and the group settled; else 503 |
//! | `GET /stores` | the stores, and which are served |
//! | `GET /stores/{store}/{key}` | one key's entry, as JSON |
//! | `GET /stores/{store}?prefix=&from=&to=&after=&limit=` | entries in key order, a page at a time |
//! | `GET /topology` | the topology's description, as JSON |
//! | `GET /status` | what the status page shows, as JSON |
//!
//! Stores are served once the application asks for it
//! ([`App::serve_store`](crate::App::serve_store)), which gives their key
//! and value types. Errors are JSON `{"error": "..."}`: 404 for an unknown
//! or unserved store and for a key with no entry, 400 for a key or a query
//! parameter that does not parse; 500 only when reading the state fails.

pub(crate) mod instances;
mod metrics;
mod status;
mod stores;

use crate::error::{Error, Result};
use crate::runtime::view::AppView;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

/// The server, running on its own thread until stopped, and a thread that
/// samples rates and advertises the instance every second.
#[derive(Debug)]
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    sampling: Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `addr` (failing at once if it cannot) and serves `view`.
    pub(crate) fn start(addr: SocketAddr, view: Arc<AppView>) -> Result<HttpServer> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::io(format!("serving HTTP on {addr}"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("setting up the HTTP listener", e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::io("reading the HTTP listener's address", e))?;
        let _ = view.http.set(bound);
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let (view, sampling) = (Arc::clone(&view), Arc::clone(&sampling));
            std::thread::Builder::new()
                .name("tributary-http-sampler".into())
                .spawn(move || sample(&view, bound, &sampling))
                .map_err(|e| Error::io("spawning the HTTP sampler thread", e))?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the HTTP runtime", e))?;
        let thread = std::thread::Builder::new()
            .name("tributary-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "HTTP listener failed; not serving");
                            return;
                        }
                    };
                    let app = routes(view);
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "HTTP server failed");
                    }
                });
            })
            .map_err(|e| Error::io("spawning the HTTP thread", e))?;
        tracing::info!(address = %bound, "serving HTTP (metrics, health, stores, status page)");
        Ok(HttpServer {
            addr: bound,
            stop: Some(stop),
            thread: Some(thread),
            sampling,
            sampler: Some(sampler),
        })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Every second until `running` turns false: samples the rates and
/// advertises the instance's tasks; withdraws the advertisement at the end.
fn sample(view: &AppView, http: SocketAddr, running: &std::sync::atomic::AtomicBool) {
    let mut advertised = None;
    let mut last = std::time::Instant::now() - std::time::Duration::from_secs(1);
    while running.load(std::sync::atomic::Ordering::Acquire) {
        if last.elapsed() >= std::time::Duration::from_secs(1) {
            last = std::time::Instant::now();
            view.sample();
            instances::advertise(view, http, &mut advertised);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    instances::withdraw(view, http);
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.sampling
            .store(false, std::sync::atomic::Ordering::Release);
        if let Some(t) = self.sampler.take() {
            let _ = t.join();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn routes(view: Arc<AppView>) -> Router {
    Router::new()
        .route("/", get(status::page))
        .route("/status", get(status::status))
        .route("/topology", get(status::topology))
        .route("/metrics", get(metrics::metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/stores", get(stores::list))
        .route("/stores/{store}", get(stores::scan))
        .route("/stores/{store}/{key}", get(stores::get))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such route; see GET / or /metrics",
            )
        })
        .with_state(view)
}

/// A JSON error answer.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn live(axum::extract::State(view): axum::extract::State<Arc<AppView>>) -> Response {
    if view.stopping() {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the application has stopped",
        )
    } else {
        Json(json!({ "status": "live" })).into_response()
    }
}

async fn ready(axum::extract::State(view): axum::extract::State<Arc<AppView>>) -> Response {
    let body = json!({
        "ready": view.ready(),
        "restoring_tasks": view.restoring(),
        "group_settled": view.member.settled(),
        "stopping": view.stopping(),
    });
    let status = if view.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
