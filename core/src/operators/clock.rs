//! Event time inside a task: per-input watermarks and the task's watermark.
//!
//! Each input partition of a task tracks the largest event time seen on
//! it. The task's watermark is the smallest of those over the inputs that
//! are not idle (the largest, when all are idle), minus the allowed
//! out-of-orderness, and never goes back.
//! An input is idle when it has had nothing to read for the configured
//! idle timeout; it then stops holding the watermark back until records
//! arrive on it again.
//!
//! Operators that act when time passes (closing windows, expiring join
//! buffers, timers of the processor API) implement [`TimeDriven`] and are
//! called by the task whenever the watermark moves, and on every poll for
//! wall-clock time.

use super::{Ctx, Processor};
use std::collections::BTreeMap;

/// The event-time clock of one task.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    /// Largest event time seen per input (`i64::MIN` before the first).
    max: Vec<i64>,
    idle: Vec<bool>,
    out_of_orderness: i64,
    watermark: i64,
}

impl Clock {
    pub(crate) fn new(inputs: usize, out_of_orderness: i64) -> Self {
        Clock {
            max: vec![i64::MIN; inputs],
            idle: vec![false; inputs],
            out_of_orderness,
            watermark: i64::MIN,
        }
    }

    /// The task's watermark: no record at or before it is expected any more.
    pub(crate) fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Notes a record at `timestamp` on input `input`.
    pub(crate) fn observe(&mut self, input: usize, timestamp: i64) {
        if let Some(m) = self.max.get_mut(input)
            && timestamp > *m
        {
            *m = timestamp;
            self.idle[input] = false;
            self.recompute();
        }
    }

    /// Marks input `input` idle (or active again).
    pub(crate) fn set_idle(&mut self, input: usize, idle: bool) {
        if let Some(i) = self.idle.get_mut(input)
            && *i != idle
        {
            *i = idle;
            self.recompute();
        }
    }

    fn recompute(&mut self) {
        // When every input is idle, none holds the watermark back: it
        // follows the largest time seen.
        let low = self
            .max
            .iter()
            .zip(&self.idle)
            .filter(|(_, idle)| !**idle)
            .map(|(m, _)| *m)
            .min()
            .or_else(|| self.max.iter().copied().max());
        if let Some(low) = low
            && low != i64::MIN
        {
            self.watermark = self
                .watermark
                .max(low.saturating_sub(self.out_of_orderness));
        }
    }

    /// The per-input maxima and the watermark, for the task's checkpoint.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * (self.max.len() + 1));
        out.extend_from_slice(&self.watermark.to_le_bytes());
        for m in &self.max {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out
    }

    /// Restores what [`encode`](Self::encode) wrote, if it fits this task.
    pub(crate) fn restore(&mut self, bytes: &[u8]) {
        let values: Vec<i64> = bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        if values.len() == self.max.len() + 1 {
            self.watermark = values[0];
            self.max.copy_from_slice(&values[1..]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_is_the_minimum_over_active_inputs_minus_out_of_orderness() {
        let mut c = Clock::new(2, 10);
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
        let mut d = Clock::new(2, 10);
        d.restore(&c.encode());
        assert_eq!(d.watermark(), 290);
        d.observe(0, 400);
        assert_eq!(d.watermark(), 290);
    }
}
