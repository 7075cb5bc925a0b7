//! Scale-out and failover with real processes on a Kafka-protocol broker.
//!
//! Three processes run the shop application (an aggregation, a stream-table
//! join, a windowed count and a repartition: the pipeline of the rebalance
//! suite) as one consumer group on a 6-partition input, two partitions
//! each, while input keeps arriving. One is killed with SIGKILL: the group
//! gives its partitions to the two survivors (within the session timeout),
//! which restore the state from the changelogs and go on. Then a fourth
//! process joins and the partitions are spread again, two each. The final
//! value of every key of every output must equal a single uninterrupted
//! instance's on the embedded log; records written twice (at-least-once:
//! what the killed process wrote after its last commit) are counted and
//! reported, as is the time from the kill to the first record a new owner
//! processed.
//!
//! Each process is this test binary run again with [`INSTANCE`] set, so
//! that it runs only [`shop_instance`].

mod broker;
#[path = "../../core/tests/shop/mod.rs"]
mod shop;

use shop::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tributary::App;
use tributary::log::{EmbeddedLog, Log};
use tributary::runtime::TaskId;
use tributary_kafka::{KafkaGroups, KafkaLog};

/// Set in an instance process: `NAME,BROKER,STATE_DIR`.
const INSTANCE: &str = "TRIBUTARY_SHOP_INSTANCE";

/// The body of one instance process (does nothing in a plain test run).
/// Runs the shop on the broker in the group "shop"; prints a line when its
/// tasks change (`tasks 0_1 1_1 ...`), when a task processes its first
/// record since it was assigned (`first 0_1 <unix ms>`), and when it has
/// stopped; stops, committing, when its standard input says `stop` or ends.
#[test]
fn shop_instance() {
    let Ok(spec) = std::env::var(INSTANCE) else {
        return;
    };
    let [name, address, dir]: [&str; 3] = spec
        .split(',')
        .collect::<Vec<_>>()
        .try_into()
        .expect("NAME,BROKER,STATE_DIR");
    init_tracing();
    let kafka = broker::client(address);
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(kafka.clone()).unwrap());
    let running = App::new(topology(), log, config(dir.as_ref(), name))
        .unwrap()
        .with_membership(Arc::new(KafkaGroups::new(kafka)))
        .start()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).unwrap_or(0) > 0 && line.trim() != "stop" {
                line.clear();
            }
            stop.store(true, Ordering::Release);
        });
    }
    let say = |what: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "instance {name}: {what}").unwrap();
        out.flush().unwrap();
    };
    let mut tasks = BTreeSet::new();
    // Records a task had processed when it was assigned; removed once it
    // processed more.
    let mut waiting: BTreeMap<TaskId, u64> = BTreeMap::new();
    while !stop.load(Ordering::Acquire) {
        assert!(!running.is_stopping(), "instance {name} failed");
        let stats = running.task_stats();
        let processed = |t: &TaskId| stats.get(t).map_or(0, |s| s.records_in);
        let now = running.assigned_tasks();
        if now != tasks {
            for t in now.difference(&tasks) {
                waiting.insert(*t, processed(t));
            }
            waiting.retain(|t, _| now.contains(t));
            let list: Vec<String> = now.iter().map(ToString::to_string).collect();
            say(format!("tasks {}", list.join(" ")));
            tasks = now;
        }
        let started: Vec<_> = waiting
            .iter()
            .filter(|(t, at)| processed(t) > **at)
            .map(|(t, _)| *t)
            .collect();
        for t in started {
            waiting.remove(&t);
            say(format!("first {t} {}", tributary::now_millis()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = running.shutdown().unwrap();
    say(format!("stopped after {} records", stats.records_in));
}

/// What the instances said, by instance.
#[derive(Default)]
struct Heard {
    /// Each instance's tasks, as last said.
    tasks: BTreeMap<String, BTreeSet<(usize, u32)>>,
    /// (instance, sub-topology, partition, unix ms) of each first record.
    first: Vec<(String, usize, u32, i64)>,
    stopped: BTreeSet<String>,
}

/// An instance process.
struct Instance {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Instance {
    fn start(
        name: &str,
        broker: &broker::Broker,
        dir: &std::path::Path,
        heard: &Arc<Mutex<Heard>>,
    ) -> Instance {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "shop_instance",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(
                INSTANCE,
                format!("{name},{},{}", broker.address(), dir.display()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let heard = Arc::clone(heard);
        let prefix = format!("instance {name}: ");
        let owner = name.to_owned();
        // Everything it prints (its log lines too: RUST_LOG=tributary=debug)
        // is kept beside its state, for when the test fails.
        let mut kept = std::fs::File::create(dir.join(format!("instance-{name}.log"))).unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(kept, "{line}");
                // (The first line follows libtest's "test shop_instance ... ".)
                let Some((_, said)) = line.split_once(&prefix) else {
                    continue;
                };
                let mut heard = heard.lock().unwrap();
                let words: Vec<&str> = said.split(' ').collect();
                match words.as_slice() {
                    ["tasks", list @ ..] => {
                        let set = list.iter().filter_map(|t| task(t)).collect();
                        heard.tasks.insert(owner.clone(), set);
                    }
                    ["first", t, at] => {
                        let (s, p) = task(t).unwrap();
                        heard.first.push((owner.clone(), s, p, at.parse().unwrap()));
                    }
                    ["stopped", ..] => {
                        heard.stopped.insert(owner.clone());
                    }
                    _ => {}
                }
            }
        });
        let stdin = child.stdin.take();
        Instance {
            name: name.to_owned(),
            child,
            stdin,
        }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Asks it to stop (it commits first) and waits for it.
    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "stop");
        }
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "instance {} ended with {status}",
            self.name
        );
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `"0_3"` as (sub-topology, partition).
fn task(t: &str) -> Option<(usize, u32)> {
    let (s, p) = t.split_once('_')?;
    Some((s.parse().ok()?, p.parse().ok()?))
}

/// The input partitions (sub-topology 0) each instance holds.
fn partitions(heard: &Heard) -> BTreeMap<String, BTreeSet<u32>> {
    heard
        .tasks
        .iter()
        .map(|(name, tasks)| {
            let ps = tasks
                .iter()
                .filter(|(s, _)| *s == 0)
                .map(|(_, p)| *p)
                .collect();
            (name.clone(), ps)
        })
        .collect()
}

/// Waits until the instances `names` hold `each` input partitions each,
/// all of them together; returns who holds what.
fn wait_for_spread(
    heard: &Arc<Mutex<Heard>>,
    names: &[&str],
    each: usize,
    timeout: Duration,
) -> BTreeMap<String, BTreeSet<u32>> {
    let deadline = Instant::now() + timeout;
    loop {
        let held = partitions(&heard.lock().unwrap());
        let ok = names
            .iter()
            .all(|n| held.get(*n).is_some_and(|ps| ps.len() == each))
            && names
                .iter()
                .flat_map(|n| held[*n].iter().copied())
                .collect::<BTreeSet<u32>>()
                .len()
                == PARTITIONS as usize;
        if ok {
            return held
                .into_iter()
                .filter(|(n, _)| names.contains(&n.as_str()))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "partitions not spread over {names:?} {each} each after {timeout:?}: {held:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Records in each output topic.
fn output_records(log: &dyn Log) -> BTreeMap<&'static str, u64> {
    OUTPUTS
        .iter()
        .map(|t| {
            let n = (0..PARTITIONS)
                .map(|p| {
                    let (start, end) = log.offsets(t, p).unwrap();
                    end - start
                })
                .sum();
            (*t, n)
        })
        .collect()
}

#[test]
fn three_processes_survive_a_kill_and_a_fourth_joining() {
    if std::env::var_os(INSTANCE).is_some() {
        return;
    }
    init_tracing();
    // Kept when the test fails: the instances' logs are in it.
    let dir = tempfile::tempdir().unwrap().keep();
    eprintln!("state and instance logs in {}", dir.display());
    let (expected_outputs, _, _) = reference(&dir.as_path().join("reference"));
    let expected_records =
        output_records(&EmbeddedLog::open(dir.as_path().join("reference").join("log")).unwrap());

    // nisshi: noida never removes a killed member from the group.
    let broker = broker::Broker::start(broker::Kind::Nisshi);
    let log: Arc<dyn Log> = Arc::new(KafkaLog::connect(broker.config()).unwrap());
    setup(log.as_ref());
    let heard = Arc::new(Mutex::new(Heard::default()));
    let mut instances: BTreeMap<&str, Instance> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, Instance::start(n, &broker, dir.as_path(), &heard)))
        .collect();

    // Input keeps arriving: 600 clicks every 100 ms, 10 s in all.
    let producing = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let chunk = CLICKS / 100;
            for i in 0..100 {
                produce(log.as_ref(), i * chunk, (i + 1) * chunk);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let held = wait_for_spread(&heard, &["a", "b", "c"], 2, Duration::from_secs(60));
    eprintln!("three instances: {held:?}");

    // SIGKILL one while input flows.
    let lost = held["c"].clone();
    instances.get_mut("c").unwrap().kill();
    let killed_at = tributary::now_millis();
    let held = wait_for_spread(&heard, &["a", "b"], 3, Duration::from_secs(60));
    eprintln!("after the kill of c: {held:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let resumed = loop {
        let first: Vec<i64> = heard
            .lock()
            .unwrap()
            .first
            .iter()
            .filter(|(who, s, p, at)| who != "c" && *s == 0 && lost.contains(p) && *at >= killed_at)
            .map(|(.., at)| *at)
            .collect();
        if let Some(at) = first.iter().min() {
            break at - killed_at;
        }
        assert!(
            Instant::now() < deadline,
            "no survivor processed c's partitions {lost:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("kill to the first record processed by a new owner: {resumed} ms");

    // A fourth instance joins.
    instances.insert("d", Instance::start("d", &broker, dir.as_path(), &heard));
    let held = wait_for_spread(&heard, &["a", "b", "d"], 2, Duration::from_secs(60));
    eprintln!("after d joined: {held:?}");

    producing.join().unwrap();
    wait_for_commits(log.as_ref(), Duration::from_secs(120));
    for name in ["a", "b", "d"] {
        instances.get_mut(name).unwrap().stop();
    }
    assert_eq!(
        heard.lock().unwrap().stopped,
        ["a", "b", "d"].iter().map(|n| n.to_string()).collect()
    );

    assert_outputs_equal(&final_outputs(log.as_ref()), &expected_outputs);
    let records = output_records(log.as_ref());
    for topic in OUTPUTS {
        assert!(
            records[topic] >= expected_records[topic],
            "{topic}: {} records, fewer than the reference's {}",
            records[topic],
            expected_records[topic]
        );
    }
    let duplicates: BTreeMap<_, u64> = OUTPUTS
        .iter()
        .map(|t| (*t, records[t] - expected_records[t]))
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!(
        "final outputs equal the reference; records written again (at-least-once): {duplicates:?} \
         of {expected_records:?}; kill to resumed processing: {resumed} ms"
    );
}
