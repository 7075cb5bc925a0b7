//! Commits while a Kafka group rebalances: the broker refuses some, and the
//! member must say which refusals are the group being busy (retried by the
//! runtime at its next commit) and which are fencing, never a failure.

mod broker;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tributary::Error;
use tributary::group::{GroupEvent, Member, Membership, Subscription};
use tributary::log::{TopicConfig, TopicPartition, prelude::*};
use tributary_kafka::{KafkaGroups, KafkaLog};

/// Hands `member`'s pending events back as done, tracking what it owns.
fn settle(member: &dyn Member, owned: &mut Vec<TopicPartition>) {
    while let Some(event) = member.poll().unwrap() {
        match &event {
            GroupEvent::Assigned(tps) => owned.extend(tps.iter().cloned()),
            GroupEvent::Revoked(tps) | GroupEvent::Lost(tps) => {
                owned.retain(|tp| !tps.contains(tp))
            }
        }
        member.done(&event).unwrap();
    }
}

#[test]
fn commits_during_a_rebalance_are_busy_or_fenced_never_failures() {
    for (name, kind) in [
        ("noida", broker::Kind::Noida),
        ("tansu", broker::Kind::Tansu),
    ] {
        let broker = broker::Broker::start(kind);
        let log = KafkaLog::connect(broker.config()).unwrap();
        log.create_topic("t", &TopicConfig::new(4)).unwrap();
        let subs = [Subscription {
            topic: "t".into(),
            partitions: 4,
        }];
        let groups = KafkaGroups::new(broker.config());
        let a = groups.join("g", &subs).unwrap();
        let mut owned_a = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while owned_a.len() < 4 {
            assert!(Instant::now() < deadline, "a never got the partitions");
            settle(a.as_ref(), &mut owned_a);
            std::thread::sleep(Duration::from_millis(10));
        }
        let b = groups.join("g", &subs).unwrap();
        let mut owned_b = Vec::new();
        let mut outcomes: BTreeMap<&str, u32> = BTreeMap::new();
        let mut n = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while owned_b.is_empty() || owned_a.is_empty() {
            assert!(Instant::now() < deadline, "b never got partitions");
            settle(a.as_ref(), &mut owned_a);
            settle(b.as_ref(), &mut owned_b);
            n += 1;
            let positions: Vec<(TopicPartition, u64)> =
                owned_a.iter().map(|tp| (tp.clone(), 0)).collect();
            let outcome = match a.commit(&positions) {
                Ok(()) => "committed",
                Err(Error::GroupBusy { .. }) => "busy",
                Err(Error::Fenced { .. }) => "fenced",
                Err(e) => panic!("commit {n} failed: {e}"),
            };
            *outcomes.entry(outcome).or_default() += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!("{name}: commits during the rebalance: {outcomes:?}");
        // Once settled, each member's commits of what it owns are taken.
        for (member, owned) in [(&a, &owned_a), (&b, &owned_b)] {
            let positions: Vec<(TopicPartition, u64)> =
                owned.iter().map(|tp| (tp.clone(), 0)).collect();
            let deadline = Instant::now() + Duration::from_secs(20);
            while let Err(e) = member.commit(&positions) {
                assert!(
                    matches!(e, Error::GroupBusy { .. }) && Instant::now() < deadline,
                    "{name}: a settled member's commit failed: {e}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert_eq!(owned_a.len() + owned_b.len(), 4, "{name}");
        a.leave();
        b.leave();
    }
}
