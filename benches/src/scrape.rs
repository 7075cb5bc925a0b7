//! The harness's `--metrics`: applications serve HTTP, and a thread
//! scrapes `/metrics` every second while they run, as Prometheus would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tributary::Config;
use tributary::runtime::RunningApp;

/// Set by `--metrics`.
pub static METRICS: AtomicBool = AtomicBool::new(false);

/// `config` with HTTP on a free port when `--metrics` is on.
pub fn with_metrics(mut config: Config) -> Config {
    if METRICS.load(Ordering::Relaxed) {
        config.http = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    config
}

/// Scrapes `running`'s `/metrics` every second until dropped (nothing
/// when it serves no HTTP).
#[derive(Debug)]
pub struct Scraper {
    stop: Arc<AtomicBool>,
    scrapes: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Scraper {
    /// Starts scraping `running`, if it serves HTTP.
    pub fn start(running: &RunningApp) -> Scraper {
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicU64::new(0));
        let thread = running.http_addr().map(|addr| {
            let (stop, scrapes) = (Arc::clone(&stop), Arc::clone(&scrapes));
            std::thread::spawn(move || {
                let url = format!("http://{addr}/metrics");
                while !stop.load(Ordering::Relaxed) {
                    let body = ureq::get(&url)
                        .call()
                        .and_then(|mut r| r.body_mut().read_to_string());
                    if let Ok(text) = body {
                        assert!(text.contains("tributary_records_in_total"));
                        scrapes.fetch_add(1, Ordering::Relaxed);
                    }
                    for _ in 0..20 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
        });
        Scraper {
            stop,
            scrapes,
            thread,
        }
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if METRICS.load(Ordering::Relaxed) {
            tracing::info!(
                scrapes = self.scrapes.load(Ordering::Relaxed),
                "metrics scraped"
            );
        }
    }
}
