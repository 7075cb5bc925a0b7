//! TLS and SASL through librdkafka's own properties, against a broker that
//! requires them (nisshi with a self-signed certificate, and with SCRAM
//! client authentication): a Tributary application reads, writes, joins
//! its group and commits as on a plain listener, and a client that does
//! not trust the certificate, or gives a wrong password, fails with an
//! error that says so (librdkafka's own report of the cause, which the
//! failed operation's error only calls a "broker transport failure").

mod broker;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tributary::codec::{Json, Utf8};
use tributary::log::{Log, TopicConfig, prelude::*};
use tributary::{App, Batch, Config, Topology};
use tributary_kafka::{KafkaConfig, KafkaGroups, KafkaLog};

/// A self-signed certificate for 127.0.0.1 and its key, made with the
/// `openssl` command (`scripts/setup.sh` installs it).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Doubles every value of `in` into `out`, as a bounded run in group
/// `tls-app`; returns the output's values in order.
fn double(kafka: &KafkaConfig, dir: &Path) -> Vec<i64> {
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(kafka.clone()).unwrap());
    for t in ["in", "out"] {
        log.create_topic(t, &TopicConfig::new(1)).unwrap();
    }
    let mut batch = Batch::new();
    for i in 0..100i64 {
        batch.push(0, Some(b"k"), Some(i.to_string().as_bytes()), &[]);
    }
    log.append("in", 0, &batch).unwrap();
    log.flush("in", 0).unwrap();
    let mut b = Topology::builder("tls-app");
    b.stream::<String, i64>("in", Utf8, Json)
        .map_values(|v| v * 2)
        .to("out", Utf8, Json);
    let config = Config {
        threads: 1,
        state_dir: dir.join("state"),
        ..Config::default()
    };
    let stats = App::new(b.build().unwrap(), Arc::clone(&log), config)
        .unwrap()
        .with_membership(Arc::new(KafkaGroups::new(kafka.clone())))
        .run_to_end()
        .unwrap();
    assert_eq!(stats.records_in, 100);
    let committed = log.committed_offsets("tls-app").unwrap();
    assert_eq!(committed.values().copied().collect::<Vec<_>>(), vec![100]);
    let mut records = Vec::new();
    log.fetch("out", 0, 0, 1 << 20, &mut records).unwrap();
    records
        .iter()
        .map(|r| {
            std::str::from_utf8(r.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

fn expected() -> Vec<i64> {
    (0..100).map(|i| i * 2).collect()
}

/// A client of `broker` with a short request timeout.
fn client(broker: &broker::Broker) -> KafkaConfig {
    broker.config().timeout(Duration::from_secs(5))
}

#[test]
fn an_application_runs_over_tls_and_an_untrusting_client_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let broker = broker::Broker::start_with(
        broker::Kind::Nisshi,
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let tls = client(&broker)
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", cert.to_str().unwrap());
    assert_eq!(double(&tls, dir.path()), expected());

    // Without the certificate as a trusted authority: an error, not a hang.
    let untrusting = KafkaLog::connect(client(&broker).set("security.protocol", "ssl")).unwrap();
    let err = untrusting.offsets("in", 0).unwrap_err();
    eprintln!("a client that does not trust the certificate: {err}");
    assert!(
        err.to_string().contains("certificate verify failed"),
        "{err}"
    );
    // And a plain-text client on the TLS listener.
    let plain = KafkaLog::connect(client(&broker)).unwrap();
    let err = plain.offsets("in", 0).unwrap_err();
    eprintln!("a plain-text client: {err}");
}

#[test]
fn an_application_authenticates_with_scram_over_tls_and_a_wrong_password_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let data = dir.path().join("broker");
    let port = broker::free_port();
    // SCRAM users live in the broker's SQLite storage: added while it
    // does not require authentication yet, then it restarts requiring it.
    let storage = [("NISSHI_STORAGE", "sqlite://nisshi.db")];
    {
        let open = broker::Broker::start_in(broker::Kind::Nisshi, &data, port, (&storage, &[]));
        open.add_user("alice", "wonderland");
    }
    let tls = [
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let args: Vec<&str> = ["--authentication"].into_iter().chain(tls).collect();
    let broker = broker::Broker::start_in(broker::Kind::Nisshi, &data, port, (&storage, &args));
    let sasl = |password: &str| {
        client(&broker)
            .set("security.protocol", "sasl_ssl")
            .set("ssl.ca.location", cert.to_str().unwrap())
            .set("sasl.mechanisms", "SCRAM-SHA-512")
            .set("sasl.username", "alice")
            .set("sasl.password", password)
    };
    assert_eq!(double(&sasl("wonderland"), dir.path()), expected());

    let intruder = KafkaLog::connect(sasl("looking-glass")).unwrap();
    let err = intruder.offsets("in", 0).unwrap_err();
    eprintln!("a client with a wrong password: {err}");
    assert!(
        err.to_string().contains("SCRAM authentication failed"),
        "{err}"
    );
}
