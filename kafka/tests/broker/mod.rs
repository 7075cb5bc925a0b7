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

/// Runs `scripts/kafka-broker.sh` as `args` sets it up, failing the test
/// with `what` and the script's errors if it fails; returns what it
/// printed, trimmed.
fn run_script(what: &str, args: impl FnOnce(&mut Command) -> &mut Command) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(script());
    let out = args(&mut cmd)
        .output()
        .expect("running scripts/kafka-broker.sh");
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
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
    PathBuf::from(run_script("installing confluent-kafka", |c| {
        c.arg("python")
    }))
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
        let pid = run_script(&format!("starting {name}"), |c| {
            c.args(["start", name, &port.to_string()])
                .arg(dir)
                .args(args)
                .envs(env.iter().copied())
        });
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
        run_script(&format!("adding user {name}"), |c| {
            c.args(["user", &self.port.to_string(), name, password])
        });
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
