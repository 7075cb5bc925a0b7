//! Application instances as separate processes, for tests that kill them.
//!
//! Each instance is the test binary run again with one environment
//! variable set, which makes its instance test (a `#[test]` that does
//! nothing in a plain run) start the application and [`report`] on it:
//! it prints a line when its tasks change (`tasks 0_1 1_1 ...`), when a
//! task processes its first record since it was assigned (`first 0_1 <unix
//! ms> <records restored>`), when its standby copies have read more
//! (`standby <records>`), and when it has stopped; it stops, committing,
//! when its standard input says `stop` or ends. The parent reads those
//! lines into [`Heard`].

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tributary::runtime::{RunningApp, TaskId};

/// The instance side: reports on `running` (see the module docs) until
/// told to stop, then shuts it down.
pub(crate) fn report(name: &str, running: RunningApp) {
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
    let mut standby = 0;
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
            let restored = stats.get(&t).map_or(0, |s| s.restored);
            say(format!("first {t} {} {restored}", tributary::now_millis()));
        }
        let read = running.stats().standby_records;
        if read != standby {
            standby = read;
            say(format!("standby {read}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = running.shutdown().unwrap();
    say(format!("stopped after {} records", stats.records_in));
}

/// A task's first record after it was assigned.
#[derive(Debug, Clone)]
pub(crate) struct First {
    pub(crate) instance: String,
    pub(crate) sub_topology: usize,
    pub(crate) partition: u32,
    /// Unix milliseconds.
    pub(crate) at: i64,
    /// Changelog records the task had restored (since the instance started).
    pub(crate) restored: u64,
}

/// What the instances said, by instance.
#[derive(Debug, Default)]
pub(crate) struct Heard {
    /// Each instance's tasks, as last said.
    pub(crate) tasks: BTreeMap<String, BTreeSet<(usize, u32)>>,
    /// When each instance last said it had a task it had not had before
    /// (unix ms, as heard).
    pub(crate) assigned: BTreeMap<(String, usize, u32), i64>,
    pub(crate) first: Vec<First>,
    /// Changelog records each instance's standby copies have read.
    pub(crate) standby: BTreeMap<String, u64>,
    pub(crate) stopped: BTreeSet<String>,
}

/// An instance process.
pub(crate) struct Instance {
    pub(crate) name: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Instance {
    /// Runs the test `test` of this binary again, with `variable` set to
    /// `spec`; what it says goes to `heard`, and all it prints to
    /// `<dir>/instance-<name>.log`.
    pub(crate) fn start(
        (test, variable, spec): (&str, &str, String),
        name: &str,
        dir: &std::path::Path,
        heard: &Arc<Mutex<Heard>>,
    ) -> Instance {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env(variable, spec)
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
                // (The first line follows libtest's "test <name> ... ".)
                let Some((_, said)) = line.split_once(&prefix) else {
                    continue;
                };
                let mut heard = heard.lock().unwrap();
                let words: Vec<&str> = said.split(' ').collect();
                match words.as_slice() {
                    ["tasks", list @ ..] => {
                        let set: BTreeSet<(usize, u32)> =
                            list.iter().filter_map(|t| task(t)).collect();
                        let now = tributary::now_millis();
                        let before = heard.tasks.get(&owner).cloned().unwrap_or_default();
                        for &(s, p) in set.difference(&before) {
                            heard.assigned.insert((owner.clone(), s, p), now);
                        }
                        heard.tasks.insert(owner.clone(), set);
                    }
                    ["first", t, at, restored] => {
                        let (sub_topology, partition) = task(t).unwrap();
                        heard.first.push(First {
                            instance: owner.clone(),
                            sub_topology,
                            partition,
                            at: at.parse().unwrap(),
                            restored: restored.parse().unwrap(),
                        });
                    }
                    ["standby", n] => {
                        heard.standby.insert(owner.clone(), n.parse().unwrap());
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
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Asks it to stop (it commits first) and waits for it.
    pub(crate) fn stop(&mut self) {
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
pub(crate) fn partitions(heard: &Heard) -> BTreeMap<String, BTreeSet<u32>> {
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

/// Waits until the instances `names` hold `each` of the `total` input
/// partitions each, all of them together; returns who holds what.
pub(crate) fn wait_for_spread(
    heard: &Arc<Mutex<Heard>>,
    names: &[&str],
    (each, total): (usize, u32),
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
                == total as usize;
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

/// Waits until an instance other than `killed` has processed a record of
/// one of `partitions` (sub-topology 0) at or after `since` (unix ms);
/// returns that first record.
pub(crate) fn wait_for_new_owner(
    heard: &Arc<Mutex<Heard>>,
    killed: &str,
    partitions: &BTreeSet<u32>,
    since: i64,
) -> First {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let first = heard
            .lock()
            .unwrap()
            .first
            .iter()
            .filter(|f| {
                f.instance != killed
                    && f.sub_topology == 0
                    && partitions.contains(&f.partition)
                    && f.at >= since
            })
            .min_by_key(|f| f.at)
            .cloned();
        if let Some(f) = first {
            return f;
        }
        assert!(
            Instant::now() < deadline,
            "no survivor processed {killed}'s partitions {partitions:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
