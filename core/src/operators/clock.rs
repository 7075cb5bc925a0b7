//! Event time inside a task: per-input watermarks and the task's watermark.
//!
//! An input's watermark is known in one of two ways:
//!
//! - **An input topic** ([`InputKind::Records`]): from the records'
//!   timestamps, as the largest seen minus the allowed out-of-orderness.
//!   Such an input is idle when it has had nothing to read for the
//!   configured idle timeout; it then stops holding the watermark back
//!   until records arrive on it again.
//! - **A repartition topic** ([`InputKind::Writers`]): from the watermarks
//!   that the tasks writing into it announce in it (see
//!   [`announce`](crate::runtime::watermarks)), as the smallest over the
//!   writers that are not idle. A partition that interleaves the output of
//!   several upstream tasks is only as far along as the slowest of them,
//!   as in Flink, so that a task that is merely behind (a slower thread, a
//!   larger partition, another instance) never makes the others' records
//!   late. An empty read of such a partition says nothing: it is idle only
//!   when all its writers say they are.
//!
//! The task's watermark is the smallest input watermark over the inputs
//! that are not idle (the largest, when all are idle), and never goes
//! back. When a bounded run ([`RunningApp::drain`](crate::RunningApp::drain))
//! has read an input to its end, that input's watermark is `i64::MAX`.
//!
//! Operators that act when time passes (closing windows, expiring join
//! buffers, timers of the processor API) implement [`TimeDriven`] and are
//! called by the task whenever the watermark moves, and on every poll for
//! wall-clock time.

use super::{Ctx, Processor};
use crate::codec::RkyvData;
use crate::store::{StoreHandle, lock};
use std::collections::BTreeMap;
use std::hash::Hash;

/// How an input's event time is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// From the timestamps of its records (an input topic).
    Records,
    /// From the watermarks announced by this many writers (a repartition topic).
    Writers(u32),
}

/// The event-time progress of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    /// Largest event time seen (`i64::MIN` before the first), and whether
    /// the input has been idle for the idle timeout.
    Records { max: i64, idle: bool },
    /// The last watermark each writer announced, and whether it is idle.
    Writers(Vec<(i64, bool)>),
}

/// The event-time clock of one task.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    inputs: Vec<Progress>,
    /// Inputs read to the end of a bounded run.
    ended: Vec<bool>,
    out_of_orderness: i64,
    watermark: i64,
}

impl Clock {
    pub(crate) fn new(inputs: &[InputKind], out_of_orderness: i64) -> Self {
        Clock {
            inputs: inputs
                .iter()
                .map(|k| match k {
                    InputKind::Records => Progress::Records {
                        max: i64::MIN,
                        idle: false,
                    },
                    InputKind::Writers(n) => {
                        Progress::Writers(vec![(i64::MIN, false); *n as usize])
                    }
                })
                .collect(),
            ended: vec![false; inputs.len()],
            out_of_orderness,
            watermark: i64::MIN,
        }
    }

    /// The task's watermark: no record at or before it is expected any more.
    pub(crate) fn watermark(&self) -> i64 {
        self.watermark
    }

    /// The allowed out-of-orderness, in ms.
    pub(crate) fn out_of_orderness(&self) -> i64 {
        self.out_of_orderness
    }

    /// True when every input is idle: the task says so downstream, so that
    /// it holds nobody back until it has records again.
    pub(crate) fn is_idle(&self) -> bool {
        (0..self.inputs.len()).all(|i| self.input_watermark(i).1)
    }

    /// Notes a record at `timestamp` on input `input` (an input topic's).
    pub(crate) fn observe(&mut self, input: usize, timestamp: i64) {
        if let Some(Progress::Records { max, idle }) = self.inputs.get_mut(input)
            && (timestamp > *max || *idle)
        {
            *max = (*max).max(timestamp);
            *idle = false;
            self.recompute();
        }
    }

    /// Marks input `input` idle (or active again). Only an input topic's
    /// own reads decide this; a repartition topic's writers say it.
    pub(crate) fn set_idle(&mut self, input: usize, now_idle: bool) {
        if let Some(Progress::Records { idle, .. }) = self.inputs.get_mut(input)
            && *idle != now_idle
        {
            *idle = now_idle;
            self.recompute();
        }
    }

    /// Notes the watermark `writer` announced on input `input` (a
    /// repartition topic's). Returns false if the input has no such writer.
    pub(crate) fn announce(
        &mut self,
        input: usize,
        writer: u32,
        watermark: i64,
        idle: bool,
    ) -> bool {
        let Some(Progress::Writers(ws)) = self.inputs.get_mut(input) else {
            return false;
        };
        let Some(w) = ws.get_mut(writer as usize) else {
            return false;
        };
        // A writer's watermark never goes back (a restarted writer may
        // announce an older one before it catches up).
        let next = (w.0.max(watermark), idle);
        if *w != next {
            *w = next;
            self.recompute();
        }
        true
    }

    /// Marks input `input` as read to the end of a bounded run.
    pub(crate) fn end_input(&mut self, input: usize) {
        if let Some(e) = self.ended.get_mut(input)
            && !*e
        {
            *e = true;
            self.recompute();
        }
    }

    /// True once input `input` has been read to the end of a bounded run.
    pub(crate) fn input_ended(&self, input: usize) -> bool {
        self.ended.get(input).copied().unwrap_or(false)
    }

    /// True when every input has been read to its end (a bounded run).
    pub(crate) fn at_end(&self) -> bool {
        self.watermark == i64::MAX
    }

    /// Input `input`'s watermark, and whether it is idle.
    fn input_watermark(&self, input: usize) -> (i64, bool) {
        if self.ended[input] {
            return (i64::MAX, false);
        }
        match &self.inputs[input] {
            Progress::Records { max, idle } => {
                let wm = if *max == i64::MIN {
                    i64::MIN
                } else {
                    max.saturating_sub(self.out_of_orderness)
                };
                (wm, *idle)
            }
            Progress::Writers(ws) => {
                let active = ws.iter().filter(|w| !w.1).map(|w| w.0).min();
                match active {
                    Some(wm) => (wm, false),
                    None => (ws.iter().map(|w| w.0).max().unwrap_or(i64::MIN), true),
                }
            }
        }
    }

    fn recompute(&mut self) {
        // When every input is idle, none holds the watermark back: it
        // follows the most advanced one.
        let (mut active, mut any) = (None::<i64>, None::<i64>);
        for i in 0..self.inputs.len() {
            let (wm, idle) = self.input_watermark(i);
            any = Some(any.map_or(wm, |a| a.max(wm)));
            if !idle {
                active = Some(active.map_or(wm, |a| a.min(wm)));
            }
        }
        if let Some(low) = active.or(any) {
            self.watermark = self.watermark.max(low);
        }
    }

    /// The watermark and each input's progress, for the task's checkpoint.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.watermark.to_le_bytes());
        for p in &self.inputs {
            match p {
                Progress::Records { max, .. } => out.extend_from_slice(&max.to_le_bytes()),
                Progress::Writers(ws) => {
                    for (wm, _) in ws {
                        out.extend_from_slice(&wm.to_le_bytes());
                    }
                }
            }
        }
        out
    }

    /// Restores what [`encode`](Self::encode) wrote, if it fits this task
    /// (else only the watermark, which never goes back). Idleness is not
    /// restored: writers announce it again when they start.
    pub(crate) fn restore(&mut self, bytes: &[u8]) {
        let values: Vec<i64> = bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let Some((&watermark, rest)) = values.split_first() else {
            return;
        };
        self.watermark = watermark;
        let slots: usize = self
            .inputs
            .iter()
            .map(|p| match p {
                Progress::Records { .. } => 1,
                Progress::Writers(ws) => ws.len(),
            })
            .sum();
        if rest.len() != slots {
            return;
        }
        let mut it = rest.iter().copied();
        for p in &mut self.inputs {
            match p {
                Progress::Records { max, .. } => *max = it.next().unwrap_or(i64::MIN),
                Progress::Writers(ws) => {
                    for w in ws {
                        w.0 = it.next().unwrap_or(i64::MIN);
                    }
                }
            }
        }
    }
}

/// An operator that acts when event time or wall-clock time passes.
pub(crate) trait TimeDriven: Send {
    /// Called after the watermark (`ctx.clock.watermark()`) moved forward.
    fn on_watermark(&mut self, ctx: &mut Ctx);
    /// Called on every poll with the wall-clock time in `ctx.now`.
    fn on_wall_clock(&mut self, _ctx: &mut Ctx) {}
}

/// An operator with one input that also acts when time passes, and whose
/// steps can fail (a store error); a failure stops the task. Wrapped in
/// [`Timed`], it is both a [`Processor`] and [`TimeDriven`].
pub(crate) trait TimedOp<K, V>: Send {
    /// Handles one record.
    fn try_process(&mut self, ctx: &mut Ctx, key: K, value: V) -> crate::Result<()>;
    /// Acts on the watermark having moved forward.
    fn try_advance(&mut self, ctx: &mut Ctx) -> crate::Result<()>;
}

/// A [`TimedOp`] as the task drives it.
pub(crate) struct Timed<T, K, V>(T, std::marker::PhantomData<fn(K, V)>);

impl<T, K, V> Timed<T, K, V> {
    pub(crate) fn new(op: T) -> Self {
        Timed(op, std::marker::PhantomData)
    }
}

impl<K, V, T: TimedOp<K, V>> Processor<K, V> for Timed<T, K, V> {
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        if let Err(e) = self.0.try_process(ctx, key, value) {
            ctx.fail(e);
        }
    }
}

impl<K, V, T: TimedOp<K, V>> TimeDriven for Timed<T, K, V> {
    fn on_watermark(&mut self, ctx: &mut Ctx) {
        if let Err(e) = self.0.try_advance(ctx) {
            ctx.fail(e);
        }
    }
}

impl std::fmt::Debug for dyn TimeDriven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimeDriven")
    }
}

/// Items (windows, buffered records, timers) by the watermark at which
/// they are due; `loaded` tells whether the index was rebuilt from the
/// store since the task started.
pub(crate) struct DueIndex<T> {
    by_close: BTreeMap<i64, Vec<T>>,
    loaded: bool,
}

impl<T> DueIndex<T> {
    pub(crate) fn new() -> Self {
        DueIndex {
            by_close: BTreeMap::new(),
            loaded: false,
        }
    }

    /// Fills the index from `items` (due time, item) the first time it is
    /// called: after a restart, the operator's state is in its store.
    pub(crate) fn load_once(
        &mut self,
        items: impl FnOnce() -> crate::Result<Vec<(i64, T)>>,
    ) -> crate::Result<()> {
        if !self.loaded {
            self.loaded = true;
            for (due, item) in items()? {
                self.add(due, item);
            }
        }
        Ok(())
    }

    pub(crate) fn add(&mut self, close: i64, item: T) {
        self.by_close.entry(close).or_default().push(item);
    }

    /// Removes and returns the items due at `watermark`, earliest first.
    pub(crate) fn due(&mut self, watermark: i64) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(e) = self.by_close.first_entry() {
            if *e.key() > watermark {
                break;
            }
            out.extend(e.remove());
        }
        out
    }
}

/// Every key of a store, due at once (their state tells what is due when).
pub(crate) fn stored_keys_due_now<K, S>(store: &StoreHandle<K, S>) -> crate::Result<Vec<(i64, K)>>
where
    K: RkyvData + Hash + Eq + Clone + Send + 'static,
    S: RkyvData + Send + 'static,
{
    Ok(lock(store)
        .stored_keys()?
        .into_iter()
        .map(|k| (i64::MIN, k))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_is_the_minimum_over_active_inputs_minus_out_of_orderness() {
        let mut c = Clock::new(&[InputKind::Records; 2], 10);
        c.observe(0, 100);
        assert_eq!(c.watermark(), i64::MIN, "input 1 has seen nothing yet");
        c.observe(1, 50);
        assert_eq!(c.watermark(), 40);
        c.observe(1, 30);
        assert_eq!(c.watermark(), 40, "an older record does not move it");
        c.set_idle(1, true);
        assert_eq!(c.watermark(), 90, "an idle input stops holding it back");
        c.observe(1, 60);
        assert_eq!(c.watermark(), 90, "the watermark never goes back");
        c.observe(1, 200);
        assert_eq!(c.watermark(), 90);
        c.observe(0, 300);
        assert_eq!(c.watermark(), 190);
        c.set_idle(0, true);
        c.set_idle(1, true);
        assert_eq!(c.watermark(), 290, "all idle: the largest time seen");
        let mut d = Clock::new(&[InputKind::Records; 2], 10);
        d.restore(&c.encode());
        assert_eq!(d.watermark(), 290);
        d.observe(0, 400);
        assert_eq!(d.watermark(), 290);
    }

    #[test]
    fn a_repartition_input_is_as_far_as_its_slowest_writer() {
        let mut c = Clock::new(&[InputKind::Writers(3)], 10);
        assert!(c.announce(0, 0, 500, false));
        assert!(c.announce(0, 2, 700, false));
        assert_eq!(c.watermark(), i64::MIN, "writer 1 has said nothing yet");
        c.announce(0, 1, 100, false);
        assert_eq!(
            c.watermark(),
            100,
            "no out-of-orderness on top: writers subtracted it"
        );
        c.announce(0, 1, 50, false);
        assert_eq!(c.watermark(), 100, "a writer's watermark never goes back");
        c.set_idle(0, true);
        assert_eq!(
            c.watermark(),
            100,
            "an empty read of a repartition partition is not idleness"
        );
        c.announce(0, 1, 100, true);
        assert_eq!(c.watermark(), 500, "an idle writer holds nobody back");
        assert!(!c.is_idle());
        c.announce(0, 0, 500, true);
        c.announce(0, 2, 700, true);
        assert!(c.is_idle());
        assert_eq!(c.watermark(), 700, "all idle: the most advanced writer");
        assert!(!c.announce(0, 3, 900, false), "no writer 3");
        let mut d = Clock::new(&[InputKind::Writers(3)], 10);
        d.restore(&c.encode());
        assert_eq!(d.watermark(), 700);
    }

    #[test]
    fn ended_inputs_release_the_watermark() {
        let mut c = Clock::new(&[InputKind::Records, InputKind::Writers(1)], 10);
        c.observe(0, 100);
        c.announce(1, 0, 40, false);
        assert_eq!(c.watermark(), 40);
        c.end_input(1);
        assert_eq!(c.watermark(), 90);
        assert!(!c.at_end());
        c.end_input(0);
        assert!(c.at_end());
    }
}
