//! A Kafka-protocol broker on loopback for one test: started by
//! `scripts/kafka-broker.sh` (which installs it on first use) and stopped
//! when the guard drops.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use tributary_kafka::KafkaConfig;

/// A running broker; stopped on drop.
pub(crate) struct Broker {
    pid: String,
    port: u16,
    _dir: Option<tempfile::TempDir>,
}

/// Which broker (see `scripts/kafka-broker.sh`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// Correct groups and commits; wrong ListOffsets(latest).
    Tansu,
    /// Correct offsets and topic configurations; a member killed with
    /// SIGKILL is never removed from its group.
    Noida,
    /// Correct groups (a dead member's partitions move within the session
    /// timeout), commits and offsets; no compaction.
    Nisshi,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-broker.sh")
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python interpreter that has `confluent-kafka` (installed beside the
/// brokers on first use).
pub(crate) fn python() -> PathBuf {
    let out = Command::new("bash")
        .arg(script())
        .arg("python")
        .output()
        .expect("running scripts/kafka-broker.sh");
    assert!(
        out.status.success(),
        "installing confluent-kafka: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

impl Broker {
    /// Starts a broker of `kind` on a free port.
    pub(crate) fn start(kind: Kind) -> Broker {
        Broker::start_with(kind, &[])
    }

    /// Starts a broker of `kind` on a free port, with `args` added to its
    /// command line (nisshi: `--cert`/`--key` for TLS, `--authentication`).
    pub(crate) fn start_with(kind: Kind, args: &[&str]) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let mut broker = Broker::start_in(kind, dir.path(), free_port(), (&[], args));
        broker._dir = Some(dir);
        broker
    }

    /// Starts a broker of `kind` on `port` with its data in `dir` (which
    /// it keeps: a broker started there again finds it), with environment
    /// variables for `scripts/kafka-broker.sh` (`NISSHI_STORAGE`) and
    /// `args` for the broker.
    pub(crate) fn start_in(
        kind: Kind,
        dir: &std::path::Path,
        port: u16,
        (env, args): (&[(&str, &str)], &[&str]),
    ) -> Broker {
        let name = match kind {
            Kind::Tansu => "tansu",
            Kind::Noida => "noida",
            Kind::Nisshi => "nisshi",
        };
        let out = Command::new("bash")
            .arg(script())
            .args(["start", name, &port.to_string()])
            .arg(dir)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("running scripts/kafka-broker.sh");
        assert!(
            out.status.success(),
            "starting {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Broker {
            pid,
            port,
            _dir: None,
        }
    }

    /// Adds a SCRAM-SHA-512 user to this nisshi broker (which must not
    /// require authentication yet, and must store users: `NISSHI_STORAGE`
    /// `sqlite://...`).
    pub(crate) fn add_user(&self, name: &str, password: &str) {
        let out = Command::new("bash")
            .arg(script())
            .args(["user", &self.port.to_string(), name, password])
            .output()
            .expect("running scripts/kafka-broker.sh");
        assert!(
            out.status.success(),
            "adding user {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A client configuration for this broker (short timeouts for tests).
    pub(crate) fn config(&self) -> KafkaConfig {
        client(&self.address())
    }

    /// The broker's `HOST:PORT`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A client configuration for the broker at `address`, with the tests'
/// short timeouts (a member that stops heartbeating leaves the group after
/// 6 s).
pub(crate) fn client(address: &str) -> KafkaConfig {
    KafkaConfig::new(address)
        .timeout(std::time::Duration::from_secs(10))
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.pid])
            .status();
    }
}
