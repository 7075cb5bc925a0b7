//! Tasks that come and go: two instances of a stateful application on one
//! embedded log, under a scripted group that moves partitions between them
//! while input arrives (cleanly and by "losing" them), end with the outputs
//! and the stores of one uninterrupted instance.

mod shop;

use shop::*;
use std::sync::Arc;
use std::time::Duration;
use tributary::group::ScriptedGroup;

const CHUNKS: u64 = 30;
const MOVES: usize = 24;

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn partitions_moving_between_two_instances_change_no_result() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (expected_outputs, expected_stores, expected_in) = reference(&dir.path().join("reference"));

    let dir = dir.path().join("group");
    let log = open_log(&dir);
    let group = ScriptedGroup::new(Arc::clone(&log));
    let start = |name: &str| start_in_group(&log, &group, config(&dir, name), name);
    let instances = [("a", start("a")), ("b", start("b"))];
    let readers: Vec<_> = instances.iter().map(|(_, r)| readers(r)).collect();
    group.assign("a", &[0, 1]).unwrap();
    group.assign("b", &[2, 3]).unwrap();

    // Another script: REBALANCE_SEED=N.
    let seed = std::env::var("REBALANCE_SEED").map_or(42, |s| s.parse().unwrap());
    let mut rng = Lcg(seed);
    // For each partition, the changelog records there were when each
    // instance last gave it up (the instance's local state is that far).
    let mut left_at: Vec<[Option<u64>; 2]> = vec![[None; 2]; PARTITIONS as usize];
    let (mut lost, mut returns) = (0, 0);
    let per_chunk = CLICKS / CHUNKS;
    let mut produced = 0;
    for step in 0..MOVES {
        if produced < CLICKS {
            let n = per_chunk * (1 + rng.next(2));
            let to = (produced + n).min(CLICKS);
            produce(log.as_ref(), produced, to);
            produced = to;
        }
        std::thread::sleep(Duration::from_millis(rng.next(120)));
        let p = rng.next(PARTITIONS as u64) as u32;
        let from = if group.owned("a").contains(&p) { 0 } else { 1 };
        let to = 1 - from;
        if rng.next(3) == 0 {
            group.lose(instances[from].0, &[p]).unwrap();
            lost += 1;
        } else {
            group.revoke(instances[from].0, &[p]).unwrap();
        }
        left_at[p as usize][from] = Some(changelog_records(log.as_ref(), p));
        let running = &instances[to].1;
        let restored_before: u64 = restored_of(running, p);
        let changelogs = changelog_records(log.as_ref(), p);
        group.assign(instances[to].0, &[p]).unwrap();
        running
            .wait_until_restored(Duration::from_secs(60))
            .unwrap();
        let restored = restored_of(running, p) - restored_before;
        if let Some(had) = left_at[p as usize][to] {
            // Back where it was: only what the other instance wrote since
            // is restored.
            assert!(
                restored <= changelogs - had,
                "step {step}: partition {p} came back to instance {to}, which had its \
                 changelogs up to {had} of {changelogs} records, and restored {restored}"
            );
            if had > 0 {
                returns += 1;
            }
        } else {
            assert_eq!(
                restored, changelogs,
                "step {step}: first time on instance {to}"
            );
        }
        assert!(
            !instances.iter().any(|(_, r)| r.is_stopping()),
            "step {step}"
        );
    }
    produce(log.as_ref(), produced, CLICKS);
    assert!(lost >= 3 && returns >= 3, "lost {lost}, returns {returns}");

    for (_, running) in &instances {
        running
            .wait_until_caught_up(Duration::from_secs(120))
            .unwrap();
    }
    let owned = [group.owned("a"), group.owned("b")];
    let mut records_in = 0;
    for (_, running) in instances {
        let stats = running.shutdown().unwrap();
        assert_eq!(stats.late_dropped, 0);
        records_in += stats.records_in;
    }
    // Counters outlive the tasks that moved away: every record counts once
    // at least (more where a lost task's work was redone).
    assert!(
        records_in >= expected_in,
        "{records_in} records counted, {expected_in} by one instance"
    );
    assert_eq!(
        owned[0].len() + owned[1].len(),
        PARTITIONS as usize,
        "{owned:?}"
    );

    let outputs = final_outputs(log.as_ref());
    assert_outputs_equal(&outputs, &expected_outputs);
    let mut stores = store_contents(&readers[0], &owned[0]);
    stores.extend(store_contents(&readers[1], &owned[1]));
    assert_stores_equal(&stores, &expected_stores);
}

/// A group that cannot take commits for a while, as a Kafka group during a
/// rebalance, stops nothing and loses nothing: the instance keeps running,
/// and the positions go to the group with a later commit.
#[test]
fn positions_the_busy_group_refused_go_with_a_later_commit() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (expected_outputs, expected_stores, _) = reference(&dir.path().join("reference"));

    let dir = dir.path().join("group");
    let log = open_log(&dir);
    let group = ScriptedGroup::new(Arc::clone(&log));
    let running = start_in_group(&log, &group, config(&dir, "a"), "a");
    let readers = readers(&running);
    let all: Vec<u32> = (0..PARTITIONS).collect();
    group.assign("a", &all).unwrap();
    produce(log.as_ref(), 0, CLICKS / 2);
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    // The second half is processed while the group refuses: the last
    // positions are those of a refused commit, and no later record moves
    // them again.
    group.refuse_commits("a", 8);
    produce(log.as_ref(), CLICKS / 2, CLICKS);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while group.commits_to_refuse("a") > 0 {
        assert!(!running.is_stopping(), "the instance stopped");
        assert!(
            std::time::Instant::now() < deadline,
            "{} refusals left",
            group.commits_to_refuse("a")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running
        .wait_until_caught_up(Duration::from_secs(120))
        .unwrap();
    wait_for_commits(log.as_ref(), Duration::from_secs(60));
    assert!(!running.is_stopping());
    let stats = running.shutdown().unwrap();
    assert_eq!(stats.late_dropped, 0);
    assert_eq!(stats.commits_deferred, 8);

    assert_outputs_equal(&final_outputs(log.as_ref()), &expected_outputs);
    assert_stores_equal(&store_contents(&readers, &all), &expected_stores);
}
