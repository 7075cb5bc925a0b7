//! Standby replicas: with `standby_replicas = 1`, each instance keeps a
//! copy of the state of the tasks another instance runs, so that when
//! one of those tasks fails over to it, it restores only what the copy had
//! not yet applied; the results stay those of one uninterrupted instance.

mod shop;

use shop::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary::group::ScriptedGroup;

/// Waits until the copy of `partitions` in `standby`'s state equals the
/// state in `owner`'s.
fn wait_for_copies(standby: &Stores, owner: &Stores, what: &str) {
    assert_eq!(standby.len(), owner.len());
    assert!(
        standby == owner,
        "{what}: the standby copy differs from the owner's state: {}",
        standby
            .iter()
            .filter(|(k, v)| owner.get(*k) != Some(*v))
            .map(|((s, p), v)| format!(
                "{s}/{p}: {} entries vs {}",
                v.len(),
                owner[&(s.clone(), *p)].len()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn a_failed_over_task_restores_only_what_its_standby_copy_lacked() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (expected_outputs, expected_stores, _) = reference(&dir.path().join("reference"));

    let dir = dir.path().join("group");
    let log = open_log(&dir);
    let group = ScriptedGroup::new(Arc::clone(&log));
    let start = |name: &str| {
        let mut config = config(&dir, name);
        config.standby_replicas = 1;
        start_in_group(&log, &group, config, name)
    };
    let (a, b) = (start("a"), start("b"));
    let (readers_a, readers_b) = (readers(&a), readers(&b));
    group.assign("a", &[0, 1, 2]).unwrap();
    group.assign("b", &[3, 4, 5]).unwrap();
    produce(log.as_ref(), 0, CLICKS / 2);
    for running in [&a, &b] {
        running
            .wait_until_caught_up(Duration::from_secs(120))
            .unwrap();
    }
    wait_for_commits(log.as_ref(), Duration::from_secs(60));

    // Each instance comes to hold a copy of the other's tasks.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copies = [
            (
                store_contents(&readers_b, &[0, 1, 2]),
                store_contents(&readers_a, &[0, 1, 2]),
            ),
            (
                store_contents(&readers_a, &[3, 4, 5]),
                store_contents(&readers_b, &[3, 4, 5]),
            ),
        ];
        if copies.iter().all(|(copy, owner)| copy == owner) {
            break;
        }
        if Instant::now() > deadline {
            for (copy, owner) in &copies {
                wait_for_copies(copy, owner, "after 60 s");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let copied_up_to = changelog_records(log.as_ref(), 1);
    assert!(copied_up_to > 1000, "{copied_up_to} changelog records");

    // Input goes on; `a` fails: its partition 1 moves to `b` without a
    // commit (as after a crash).
    produce(log.as_ref(), CLICKS / 2, CLICKS * 3 / 4);
    std::thread::sleep(Duration::from_millis(300));
    group.lose("a", &[1]).unwrap();
    let changelogs = changelog_records(log.as_ref(), 1);
    let before = restored_of(&b, 1);
    group.assign("b", &[1]).unwrap();
    b.wait_until_restored(Duration::from_secs(60)).unwrap();
    let restored = restored_of(&b, 1) - before;
    assert!(
        restored <= changelogs - copied_up_to,
        "partition 1 failed over to the instance with its standby copy, which had {copied_up_to} \
         of its {changelogs} changelog records, and restored {restored}"
    );
    eprintln!(
        "failover: restored {restored} changelog records of {changelogs} (the copy had \
         {copied_up_to} before the last input)"
    );

    // And a clean move the other way, then the rest of the input.
    group.revoke("b", &[4]).unwrap();
    group.assign("a", &[4]).unwrap();
    produce(log.as_ref(), CLICKS * 3 / 4, CLICKS);
    for running in [&a, &b] {
        running
            .wait_until_caught_up(Duration::from_secs(120))
            .unwrap();
        assert!(!running.is_stopping());
    }
    let owned = [group.owned("a"), group.owned("b")];
    assert_eq!(owned, [vec![0, 2, 4], vec![1, 3, 5]]);
    for running in [a, b] {
        let stats = running.shutdown().unwrap();
        assert_eq!(stats.late_dropped, 0);
    }
    assert_outputs_equal(&final_outputs(log.as_ref()), &expected_outputs);
    let mut stores = store_contents(&readers_a, &owned[0]);
    stores.extend(store_contents(&readers_b, &owned[1]));
    assert_stores_equal(&stores, &expected_stores);
}
