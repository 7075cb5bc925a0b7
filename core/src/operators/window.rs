//! Windowed aggregation operators: time (tumbling, hopping), sliding and
//! session windows.
//!
//! Each keeps its windows in a store and an in-memory index of open
//! windows by the watermark at which they close, rebuilt from the store
//! when the task starts. When the watermark passes a window's close time,
//! the window is emitted (in [`Emit::OnWindowClose`] mode) and deleted.

use super::clock::{DueIndex, TimedOp, stored_keys_due_now};
use super::{Ctx, Data, Processor};
use crate::codec::RkyvData;
use crate::error::Result;
use crate::store::{StoreHandle, lock};
use crate::topology::{Emit, Windowed};
use std::hash::Hash;
use std::sync::Arc;

/// Adds a record to a window's aggregate (`None` for a new window).
pub(crate) type Fold<K, V, A> = dyn Fn(&K, V, Option<A>) -> A + Send + Sync;

/// Combines the aggregates of two sessions that a record bridges.
pub(crate) type Merge<K, A> = dyn Fn(&K, A, A) -> A + Send + Sync;

/// Keys of windowed stores.
pub(crate) trait WindowKey: Data + RkyvData + Hash + Eq {}
impl<T: Data + RkyvData + Hash + Eq> WindowKey for T {}

/// Emits `value` for a window, stamped with the window's latest record time.
fn emit<K, A>(
    ctx: &mut Ctx,
    next: &mut dyn Processor<Windowed<K>, Option<A>>,
    window: Windowed<K>,
    value: Option<A>,
    timestamp: i64,
) {
    let saved = std::mem::replace(&mut ctx.timestamp, timestamp);
    next.process(ctx, window, value);
    ctx.timestamp = saved;
}

/// Sends a late record to the late-record stream, or counts it as dropped.
fn late<K, V>(ctx: &mut Ctx, out: &mut LateOutput<K, V>, key: K, value: V) {
    match &mut out.routed {
        Some(p) => p.process(ctx, key, value),
        None => ctx.drop_late(&out.operator),
    }
}

/// Where a window operator's late records go: the stream declared with
/// `late_records()`, or else counted and reported as dropped by `operator`.
pub(crate) struct LateOutput<K, V> {
    pub(crate) operator: Arc<str>,
    pub(crate) routed: Option<Box<dyn Processor<K, V>>>,
}

/// Size, advance and grace of time windows, in ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowShape {
    pub(crate) size: i64,
    pub(crate) advance: i64,
    pub(crate) grace: i64,
}

/// Some open time windows of one key (those whose start falls in one
/// bucket): start, aggregate and latest record time, in start order.
type KeyWindows<A> = Vec<(i64, A, i64)>;

/// Tumbling and hopping windows. A key's open windows are stored in
/// buckets of consecutive starts, one store entry per (key, bucket), each
/// bucket as wide as the starts of one record's windows: a record updating
/// its `size / advance` windows costs one or two lookups, and the cost does
/// not grow with the number of windows open (a large out-of-orderness or
/// grace keeps many open).
pub(crate) struct TimeAggregate<K, V, A> {
    store: StoreHandle<(K, i64), KeyWindows<A>>,
    shape: WindowShape,
    /// Width of a bucket of window starts, in ms (a multiple of `advance`).
    bucket: i64,
    emit: Emit,
    fold: Arc<Fold<K, V, A>>,
    next: Box<dyn Processor<Windowed<K>, Option<A>>>,
    late: LateOutput<K, V>,
    /// ((key, bucket), window start) by close time; `None` for an entry
    /// found in the store at start, whose windows' close times are not
    /// known yet.
    due: DueIndex<((K, i64), Option<i64>)>,
}

impl<K: WindowKey, V: Data, A: Data + RkyvData> TimeAggregate<K, V, A> {
    pub(crate) fn new(
        store: StoreHandle<(K, i64), KeyWindows<A>>,
        shape: WindowShape,
        emit: Emit,
        fold: Arc<Fold<K, V, A>>,
        next: Box<dyn Processor<Windowed<K>, Option<A>>>,
        late: LateOutput<K, V>,
    ) -> Self {
        let per_record = (shape.size - 1) / shape.advance + 1;
        TimeAggregate {
            store,
            shape,
            bucket: per_record * shape.advance,
            emit,
            fold,
            next,
            late,
            due: DueIndex::new(),
        }
    }

    fn close_time(&self, start: i64) -> i64 {
        start.saturating_add(self.shape.size + self.shape.grace)
    }

    fn load(&mut self) -> Result<()> {
        let store = &self.store;
        self.due.load_once(|| {
            Ok(stored_keys_due_now(store)?
                .into_iter()
                .map(|(due, k)| (due, (k, None)))
                .collect())
        })
    }

    /// Adds the record to its windows whose start is in `bucket`, from
    /// `start` to `last`; true if any was still open.
    #[allow(clippy::too_many_arguments)]
    fn add_to_bucket(
        &mut self,
        ctx: &mut Ctx,
        key: &K,
        value: &V,
        bucket: i64,
        mut start: i64,
        last: i64,
    ) -> Result<bool> {
        let (wm, ts) = (ctx.clock.watermark(), ctx.timestamp);
        let WindowShape { size, advance, .. } = self.shape;
        let entry_key = (key.clone(), bucket);
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        let slot = store.entry(&entry_key)?;
        let windows = slot.get_or_insert_with(Vec::new);
        let mut accepted = false;
        while start <= last {
            let close = self.close_time(start);
            if start + size > ts && close > wm {
                accepted = true;
                let (at, agg, max_ts) = match windows.binary_search_by_key(&start, |w| w.0) {
                    Ok(at) => {
                        let (_, agg, max_ts) = windows.remove(at);
                        (at, Some(agg), max_ts.max(ts))
                    }
                    Err(at) => {
                        self.due.add(close, (entry_key.clone(), Some(start)));
                        (at, None, ts)
                    }
                };
                let agg = (self.fold)(key, value.clone(), agg);
                let out = (self.emit == Emit::OnWindowUpdate).then(|| agg.clone());
                windows.insert(at, (start, agg, max_ts));
                if let Some(out) = out {
                    let w = Windowed {
                        key: key.clone(),
                        start,
                        end: start + size,
                    };
                    emit(ctx, &mut *self.next, w, Some(out), max_ts);
                }
            }
            start += advance;
        }
        if windows.is_empty() {
            *slot = None;
        }
        Ok(accepted)
    }
}

impl<K: WindowKey, V: Data, A: Data + RkyvData> TimedOp<K, V> for TimeAggregate<K, V, A> {
    fn try_process(&mut self, ctx: &mut Ctx, key: K, value: V) -> Result<()> {
        self.load()?;
        let ts = ctx.timestamp;
        let WindowShape { size, advance, .. } = self.shape;
        let last = ts - ts.rem_euclid(advance);
        let mut start = last - (size - 1) / advance * advance;
        let mut accepted = false;
        // The record's window starts span at most two buckets.
        while start <= last {
            let bucket = start.div_euclid(self.bucket);
            let bucket_last = last.min((bucket + 1) * self.bucket - advance);
            accepted |= self.add_to_bucket(ctx, &key, &value, bucket, start, bucket_last)?;
            start = bucket_last + advance;
        }
        if !accepted {
            late(ctx, &mut self.late, key, value);
        }
        Ok(())
    }

    fn try_advance(&mut self, ctx: &mut Ctx) -> Result<()> {
        self.load()?;
        let wm = ctx.clock.watermark();
        let due = self.due.due(wm);
        if due.is_empty() {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        for (entry_key, start) in due {
            // An entry's windows may have closed with an earlier item of it.
            let first = store
                .get(&entry_key)?
                .and_then(|ws| ws.first())
                .map(|w| w.0);
            match first.map(|s| self.close_time(s)) {
                None => continue,
                Some(close) if close > wm => {
                    if start.is_none() {
                        self.due.add(close, (entry_key, None));
                    }
                    continue;
                }
                Some(_) => {}
            }
            let slot = store.entry(&entry_key)?;
            let mut windows = slot.take().unwrap_or_default();
            let open = windows.partition_point(|w| self.close_time(w.0) <= wm);
            let kept = windows.split_off(open);
            if start.is_none()
                && let Some(w) = kept.first()
            {
                self.due
                    .add(self.close_time(w.0), (entry_key.clone(), None));
            }
            if !kept.is_empty() {
                *slot = Some(kept);
            }
            if self.emit == Emit::OnWindowClose {
                for (start, agg, max_ts) in windows {
                    let end = start + self.shape.size;
                    let w = Windowed {
                        key: entry_key.0.clone(),
                        start,
                        end,
                    };
                    emit(ctx, &mut *self.next, w, Some(agg), max_ts);
                }
            }
        }
        Ok(())
    }
}

/// The sliding-window state of one key: its records still inside an open
/// window (time order, then arrival order), and the end of the last window
/// emitted on close.
type SlidingState<V> = (Vec<(i64, V)>, i64);

/// Sliding windows: keeps each key's recent records and derives the
/// windows from their times, so any aggregation works without a
/// subtraction. A key's windows are `[t - d, t]` for each record time `t`,
/// and `[t + 1, t + 1 + d]` for each `t` followed by a record within `d + 1`.
pub(crate) struct SlidingAggregate<K, V, A> {
    store: StoreHandle<K, SlidingState<V>>,
    difference: i64,
    grace: i64,
    emit: Emit,
    fold: Arc<Fold<K, V, A>>,
    next: Box<dyn Processor<Windowed<K>, Option<A>>>,
    late: LateOutput<K, V>,
    due: DueIndex<K>,
}

impl<K: WindowKey, V: Data + RkyvData, A: Data> SlidingAggregate<K, V, A> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: StoreHandle<K, SlidingState<V>>,
        difference: i64,
        grace: i64,
        emit: Emit,
        fold: Arc<Fold<K, V, A>>,
        next: Box<dyn Processor<Windowed<K>, Option<A>>>,
        late: LateOutput<K, V>,
    ) -> Self {
        SlidingAggregate {
            store,
            difference,
            grace,
            emit,
            fold,
            next,
            late,
            due: DueIndex::new(),
        }
    }

    /// The windows of a key with records at `times` (sorted), as (start, end).
    fn windows(&self, times: &[i64]) -> Vec<(i64, i64)> {
        let d = self.difference;
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(times.len() * 2);
        for &t in times {
            out.push((t - d, t));
            // The first record after `t` opens `t`'s right window if it is close enough.
            let later = times.partition_point(|&u| u <= t);
            if times.get(later).is_some_and(|&u| u <= t + 1 + d) {
                out.push((t + 1, t + 1 + d));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The aggregate and latest time of the records in `[start, end]`.
    fn aggregate(&self, key: &K, records: &[(i64, V)], start: i64, end: i64) -> Option<(A, i64)> {
        let mut agg: Option<A> = None;
        let mut max_ts = i64::MIN;
        for (t, v) in records.iter().filter(|(t, _)| (start..=end).contains(t)) {
            agg = Some((self.fold)(key, v.clone(), agg));
            max_ts = max_ts.max(*t);
        }
        agg.map(|a| (a, max_ts))
    }

    /// When the key's state next needs attention: its earliest window to
    /// close, or its earliest record to expire.
    fn next_due(&self, records: &[(i64, V)], emitted_until: i64) -> Option<i64> {
        let times: Vec<i64> = records.iter().map(|(t, _)| *t).collect();
        let close = self
            .windows(&times)
            .into_iter()
            .filter(|(_, e)| *e > emitted_until)
            .map(|(_, e)| e + 1 + self.grace)
            .min();
        let expire = times.first().map(|t| t + self.difference + 2 + self.grace);
        match (close, expire) {
            (Some(c), Some(e)) => Some(c.min(e)),
            (c, e) => c.or(e),
        }
    }

    fn load(&mut self) -> Result<()> {
        let store = &self.store;
        self.due.load_once(|| stored_keys_due_now(store))
    }
}

impl<K: WindowKey, V: Data + RkyvData, A: Data> TimedOp<K, V> for SlidingAggregate<K, V, A> {
    fn try_process(&mut self, ctx: &mut Ctx, key: K, value: V) -> Result<()> {
        self.load()?;
        let (wm, ts) = (ctx.clock.watermark(), ctx.timestamp);
        if ts + 1 + self.grace <= wm {
            late(ctx, &mut self.late, key, value);
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        let slot = store.entry(&key)?;
        let (mut records, emitted_until) = slot.take().unwrap_or((Vec::new(), i64::MIN));
        let before: Vec<i64> = records.iter().map(|(t, _)| *t).collect();
        let at = records.partition_point(|(t, _)| *t <= ts);
        records.insert(at, (ts, value));
        let times: Vec<i64> = records.iter().map(|(t, _)| *t).collect();
        let mut updates = Vec::new();
        if self.emit == Emit::OnWindowUpdate {
            let old = self.windows(&before);
            for (s, e) in self.windows(&times) {
                let contains = s <= ts && ts <= e;
                if (contains || old.binary_search(&(s, e)).is_err())
                    && let Some(agg) = self.aggregate(&key, &records, s, e)
                {
                    updates.push((s, e, agg));
                }
            }
        }
        if let Some(due) = self.next_due(&records, emitted_until) {
            self.due.add(due, key.clone());
        }
        *slot = Some((records, emitted_until));
        drop(store);
        for (start, end, (agg, max_ts)) in updates {
            let w = Windowed {
                key: key.clone(),
                start,
                end,
            };
            emit(ctx, &mut *self.next, w, Some(agg), max_ts);
        }
        Ok(())
    }

    fn try_advance(&mut self, ctx: &mut Ctx) -> Result<()> {
        self.load()?;
        let wm = ctx.clock.watermark();
        let due = self.due.due(wm);
        if due.is_empty() {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        let closed_until = wm - 1 - self.grace;
        for key in due {
            let slot = store.entry(&key)?;
            let Some((mut records, emitted_until)) = slot.take() else {
                continue;
            };
            if emitted_until >= closed_until {
                *slot = Some((records, emitted_until));
                continue;
            }
            let mut closed = Vec::new();
            if self.emit == Emit::OnWindowClose {
                let times: Vec<i64> = records.iter().map(|(t, _)| *t).collect();
                for (s, e) in self.windows(&times) {
                    if e > emitted_until
                        && e <= closed_until
                        && let Some(agg) = self.aggregate(&key, &records, s, e)
                    {
                        closed.push((e, s, agg));
                    }
                }
                closed.sort_by_key(|(e, s, _)| (*e, *s));
            }
            let expire_before = wm - self.difference - 2 - self.grace;
            records.retain(|(t, _)| *t > expire_before);
            if !records.is_empty() {
                if let Some(due) = self.next_due(&records, closed_until) {
                    self.due.add(due, key.clone());
                }
                *slot = Some((records, closed_until));
            }
            for (end, start, (agg, max_ts)) in closed {
                let w = Windowed {
                    key: key.clone(),
                    start,
                    end,
                };
                emit(ctx, &mut *self.next, w, Some(agg), max_ts);
            }
        }
        Ok(())
    }
}

/// One session of a key: start, end (last record), aggregate, latest time.
type Session<A> = (i64, i64, A, i64);

/// Session windows: each key's open sessions, merged when a record
/// bridges them.
pub(crate) struct SessionAggregate<K, V, A> {
    store: StoreHandle<K, Vec<Session<A>>>,
    gap: i64,
    grace: i64,
    emit: Emit,
    fold: Arc<Fold<K, V, A>>,
    merge: Arc<Merge<K, A>>,
    next: Box<dyn Processor<Windowed<K>, Option<A>>>,
    late: LateOutput<K, V>,
    /// Keys by the close time of a session of theirs; `loaded` for keys
    /// found in the store at start, whose sessions' close times are not
    /// in the index yet.
    due: DueIndex<(K, Loaded)>,
}

/// Whether a session's entry in the due index is a key found in the store
/// at start rather than a session's close time.
type Loaded = bool;

impl<K: WindowKey, V: Data, A: Data + RkyvData> SessionAggregate<K, V, A> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: StoreHandle<K, Vec<Session<A>>>,
        gap: i64,
        grace: i64,
        emit: Emit,
        fold: Arc<Fold<K, V, A>>,
        merge: Arc<Merge<K, A>>,
        next: Box<dyn Processor<Windowed<K>, Option<A>>>,
        late: LateOutput<K, V>,
    ) -> Self {
        SessionAggregate {
            store,
            gap,
            grace,
            emit,
            fold,
            merge,
            next,
            late,
            due: DueIndex::new(),
        }
    }

    /// The watermark at which a session ending at `end` can no longer grow.
    fn close_time(&self, end: i64) -> i64 {
        end + self.gap + 1 + self.grace
    }

    fn load(&mut self) -> Result<()> {
        let store = &self.store;
        self.due.load_once(|| {
            Ok(stored_keys_due_now(store)?
                .into_iter()
                .map(|(due, k)| (due, (k, true)))
                .collect())
        })
    }
}

impl<K: WindowKey, V: Data, A: Data + RkyvData> TimedOp<K, V> for SessionAggregate<K, V, A> {
    fn try_process(&mut self, ctx: &mut Ctx, key: K, value: V) -> Result<()> {
        self.load()?;
        let (wm, ts) = (ctx.clock.watermark(), ctx.timestamp);
        if ts + 1 + self.grace <= wm {
            late(ctx, &mut self.late, key, value);
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        let slot = store.entry(&key)?;
        let mut sessions = slot.take().unwrap_or_default();
        let (mut start, mut end, mut max_ts) = (ts, ts, ts);
        let mut agg: Option<A> = None;
        let mut merged = Vec::new();
        // The sessions the record bridges, taken out in start order; the
        // others stay where they are (no new vector per record).
        let gap = self.gap;
        for (s, e, a, m) in sessions.extract_if(.., |(s, e, ..)| *e >= ts - gap && *s <= ts + gap) {
            start = start.min(s);
            end = end.max(e);
            max_ts = max_ts.max(m);
            agg = Some(match agg {
                Some(prev) => (self.merge)(&key, prev, a),
                None => a,
            });
            merged.push((s, e));
        }
        let agg = (self.fold)(&key, value, agg);
        let out = (self.emit == Emit::OnWindowUpdate).then(|| agg.clone());
        let at = sessions.partition_point(|(s, ..)| *s < start);
        sessions.insert(at, (start, end, agg, max_ts));
        *slot = Some(sessions);
        drop(store);
        self.due.add(self.close_time(end), (key.clone(), false));
        if let Some(out) = out {
            for (s, e) in merged {
                let w = Windowed {
                    key: key.clone(),
                    start: s,
                    end: e,
                };
                emit(ctx, &mut *self.next, w, None, max_ts);
            }
            emit(
                ctx,
                &mut *self.next,
                Windowed { key, start, end },
                Some(out),
                max_ts,
            );
        }
        Ok(())
    }

    fn try_advance(&mut self, ctx: &mut Ctx) -> Result<()> {
        self.load()?;
        let wm = ctx.clock.watermark();
        let due = self.due.due(wm);
        if due.is_empty() {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let mut store = lock(&store);
        for (key, loaded) in due {
            // Every session has an entry at its close time, added when its
            // end was last set, so most entries are stale (the session grew
            // since): those are read, not taken, which would mark the key
            // changed. A key loaded at start gets an entry for its first
            // open session, and then for the next, as TimeAggregate does.
            let Some(sessions) = store.get(&key)? else {
                continue;
            };
            let first_close = sessions.iter().map(|(_, e, ..)| self.close_time(*e)).min();
            match first_close {
                Some(close) if close > wm => {
                    if loaded {
                        self.due.add(close, (key, true));
                    }
                    continue;
                }
                _ => {}
            }
            let slot = store.entry(&key)?;
            let Some(mut open) = slot.take() else {
                continue;
            };
            let closed: Vec<_> = open
                .extract_if(.., |(_, e, ..)| self.close_time(*e) <= wm)
                .collect();
            if let Some(close) = open.iter().map(|(_, e, ..)| self.close_time(*e)).min() {
                if loaded {
                    self.due.add(close, (key.clone(), true));
                }
                *slot = Some(open);
            }
            if self.emit == Emit::OnWindowClose {
                for (start, end, agg, max_ts) in closed {
                    let w = Windowed {
                        key: key.clone(),
                        start,
                        end,
                    };
                    emit(ctx, &mut *self.next, w, Some(agg), max_ts);
                }
            }
        }
        Ok(())
    }
}
