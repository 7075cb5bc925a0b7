//! Watermark alignment: the tasks of a sub-topology that write repartition
//! topics stay within a bounded event-time drift of each other.
//!
//! A repartition topic's reader is only as far along in event time as the
//! slowest task writing into it, so whatever a faster writer sends ahead
//! waits in the reader's state (open windows, join buffers) until the
//! slowest catches up. Under a backlog the writers run far apart (a small
//! partition is read to its end while a large one is still at its start),
//! and that state would grow with the backlog. So, as Flink's watermark
//! alignment does for sources, a writer whose watermark is more than
//! [`Config::max_watermark_drift`](super::Config::max_watermark_drift)
//! ahead of the slowest of its siblings that is not idle pauses until it is
//! not. Results do not change (event time decides them); only the order in
//! which tasks work does. The slowest task never pauses, so some task
//! always progresses. Alignment holds among the tasks of one process: a
//! task that another instance runs (or that is not assigned at all) holds
//! no one back, and a task holds its siblings back from the moment it is
//! assigned (it [joins](Alignment::join)) until it is closed (it
//! [leaves](Alignment::leave)).

use std::sync::atomic::{AtomicI64, Ordering};

/// The published watermarks of one sub-topology's tasks, by partition.
#[derive(Debug)]
pub(crate) struct Alignment {
    /// Each task's watermark (`i64::MAX` when idle or at its end).
    marks: Vec<AtomicI64>,
    drift: i64,
}

impl Alignment {
    /// Alignment among `tasks` tasks, which may drift `drift` ms apart.
    /// None has joined yet.
    pub(crate) fn new(tasks: u32, drift: i64) -> Self {
        Alignment {
            marks: (0..tasks).map(|_| AtomicI64::new(i64::MAX)).collect(),
            drift,
        }
    }

    /// Task `task` runs in this process from now on: until it publishes a
    /// watermark, it holds the others back.
    pub(crate) fn join(&self, task: u32) {
        if let Some(m) = self.marks.get(task as usize) {
            m.store(i64::MIN, Ordering::Relaxed);
        }
    }

    /// Task `task` no longer runs in this process: it holds no one back.
    pub(crate) fn leave(&self, task: u32) {
        self.publish(task, i64::MAX, true);
    }

    /// Publishes task `task`'s watermark; an idle task (or one at the end
    /// of a bounded run) holds no one back.
    pub(crate) fn publish(&self, task: u32, watermark: i64, idle: bool) {
        if let Some(m) = self.marks.get(task as usize) {
            m.store(if idle { i64::MAX } else { watermark }, Ordering::Relaxed);
        }
    }

    /// True when task `task`, at `watermark`, is too far ahead of the
    /// slowest of the others and should wait.
    pub(crate) fn holds_back(&self, task: u32, watermark: i64) -> bool {
        if self.drift == i64::MAX || watermark == i64::MIN {
            return false;
        }
        let floor = self
            .marks
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != task as usize)
            .map(|(_, m)| m.load(Ordering::Relaxed))
            .min()
            .unwrap_or(i64::MAX);
        floor != i64::MAX && watermark > floor.saturating_add(self.drift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fastest_waits_and_the_slowest_never_does() {
        let a = Alignment::new(3, 10);
        assert!(!a.holds_back(0, 100), "no other task runs here");
        (0..3).for_each(|t| a.join(t));
        a.publish(0, 100, false);
        assert!(a.holds_back(0, 100), "tasks 1 and 2 have not started");
        a.publish(1, 95, false);
        a.publish(2, 0, true);
        assert!(!a.holds_back(0, 100), "within 10 of task 1; task 2 is idle");
        a.publish(0, 120, false);
        assert!(a.holds_back(0, 120));
        assert!(!a.holds_back(1, 95), "the slowest");
        a.publish(1, 0, true);
        assert!(!a.holds_back(0, 120), "all others idle");
        a.leave(1);
        a.publish(2, 0, false);
        assert!(a.holds_back(0, 120), "task 2 is behind again");
        a.leave(2);
        assert!(!a.holds_back(0, 120), "the others left");
        assert!(
            !Alignment::new(2, i64::MAX).holds_back(0, 5),
            "alignment off"
        );
    }
}
