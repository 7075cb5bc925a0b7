//! The status page in a real browser: headless Chromium, driven through
//! ChromeDriver (both installed by `scripts/browser.sh`), loads `/` from a
//! running application; the diagram holds every node of `describe()`, and
//! a node's rate changes while input flows. A screenshot is kept in
//! `CARGO_TARGET_TMPDIR` as a test artifact.

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tributary::Batch;
use tributary::codec::{Json, Utf8};
use tributary::log::{EmbeddedLog, TopicConfig, prelude::*};
use tributary::{App, Config, Topology};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn topology() -> Topology {
    let mut b = Topology::builder("clicks-page");
    let clicks = b
        .stream::<String, String>("clicks", Utf8, Utf8)
        .filter(|_, page| !page.is_empty());
    clicks.to("kept", Utf8, Utf8);
    clicks
        .group_by("by-page", |_, page| page.clone())
        .count("per-page")
        .to_stream()
        .to("counts", Utf8, Json);
    b.build().unwrap()
}

/// ChromeDriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: scripts/browser.sh installs Chromium and ChromeDriver \
                 (scripts/test.sh runs it)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{url}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1100",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": CHROMIUM, "args": args }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

/// Each drawn operator's name and the rate the page shows for it.
const READ_NODES: &str = r#"
    const out = {};
    for (const text of document.querySelectorAll('#diagram text')) {
        const spans = text.querySelectorAll('tspan');
        if (spans.length === 3) {
            out[spans[0].textContent] = Number(spans[2].getAttribute('data-rate') ?? -1);
        }
    }
    return out;
"#;

async fn nodes(client: &Client) -> serde_json::Map<String, Value> {
    match client.execute(READ_NODES, vec![]).await.unwrap() {
        Value::Object(m) => m,
        other => panic!("unexpected answer {other}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_status_page_draws_the_topology_and_its_rates_move() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
    for t in ["clicks", "kept", "counts"] {
        log.create_topic(t, &TopicConfig::new(2)).unwrap();
    }
    let config = Config {
        threads: 2,
        state_dir: dir.path().join("state"),
        http: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    };
    let running = App::new(topology(), Arc::clone(&log) as Arc<dyn Log>, config)
        .unwrap()
        .start()
        .unwrap();
    let page = format!("http://{}/", running.http_addr().unwrap());
    let driver = Driver::start();
    let client = browser(&driver, &dir.path().join("chromium")).await;
    client.goto(&page).await.unwrap();

    // Every node of the description is drawn; nothing flows yet.
    let description = topology().describe();
    let expected: BTreeSet<String> = description.nodes.iter().map(|n| n.name.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let drawn = nodes(&client).await;
        if drawn.values().all(|r| r.as_f64() >= Some(0.0)) && !drawn.is_empty() {
            break drawn;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed rates: {drawn:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(before.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let source = &description
        .nodes
        .iter()
        .find(|n| n.kind == "source")
        .unwrap()
        .name;
    assert_eq!(before[source].as_f64(), Some(0.0), "no input yet");

    // Input flows: the source's rate moves off 0 on the page itself.
    let flowing = Arc::new(AtomicBool::new(true));
    let producer = {
        let (log, flowing) = (Arc::clone(&log), Arc::clone(&flowing));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while flowing.load(Ordering::Relaxed) {
                let mut b = Batch::new();
                for _ in 0..200 {
                    let page = format!("/page-{}", i % 50);
                    b.push(
                        0,
                        Some(format!("user-{i}").as_bytes()),
                        Some(page.as_bytes()),
                        &[],
                    );
                    i += 1;
                }
                log.append("clicks", (i % 2) as u32, &b).unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let during = loop {
        let drawn = nodes(&client).await;
        if drawn[source].as_f64().is_some_and(|r| r > 0.0) {
            break drawn;
        }
        assert!(
            Instant::now() < deadline,
            "the source's rate never moved: {drawn:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let shown = client
        .execute(
            "return [...document.querySelectorAll('#diagram tspan')].map(t => t.textContent).join('|')",
            vec![],
        )
        .await
        .unwrap();
    assert!(shown.as_str().unwrap().contains("rec/s"), "{shown}");
    let png = client.screenshot().await.unwrap();
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&artifact, &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    eprintln!("screenshot of the status page: {}", artifact.display());
    client.close().await.unwrap();
    flowing.store(false, Ordering::Relaxed);
    producer.join().unwrap();
    assert!(during[source].as_f64().unwrap() > 0.0);
    running.shutdown().unwrap();
}
