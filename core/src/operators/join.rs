//! Join operators: windowed stream-stream, stream-table and table-table.

use super::clock::{DueIndex, TimeDriven};
use super::window::WindowKey;
use super::{Ctx, Data, Processor};
use crate::codec::RkyvData;
use crate::error::Result;
use crate::store::{StoreHandle, lock};
use std::sync::{Arc, Mutex};

/// Which records without a partner a join emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    /// Only pairs.
    Inner,
    /// Pairs, and left records without a partner.
    Left,
    /// Pairs, and records of either side without a partner.
    Outer,
}

impl JoinKind {
    fn emits_unmatched(self, left: bool) -> bool {
        match self {
            JoinKind::Inner => false,
            JoinKind::Left => left,
            JoinKind::Outer => true,
        }
    }
}

/// Computes a join result from the key and the values present.
pub(crate) type Joiner<K, V1, V2, VR> = dyn Fn(&K, Option<&V1>, Option<&V2>) -> VR + Send + Sync;

/// A buffered record of one join input: time, value, joined yet, emitted
/// without a partner yet.
type Buffered<V> = (i64, V, bool, bool);

/// Puts a record's value and its partner's in (left, right) order.
type Pair<VO, VT, V1, V2> = for<'a> fn(&'a VO, &'a VT) -> (Option<&'a V1>, Option<&'a V2>);

/// The join window in ms: a left record at `t` pairs with right records in
/// `[t - before, t + after]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinSpan {
    pub(crate) before: i64,
    pub(crate) after: i64,
    pub(crate) grace: i64,
}

/// A windowed stream-stream join, with Kafka Streams' semantics: each side
/// buffers its records per key; a record pairs with the other side's
/// buffered records inside the window; a left (outer: either) record that
/// found no partner is emitted alone only once its window has closed
/// (`t + after + grace` for a left record, `t + before + grace` for a
/// right one, passed by the watermark), so no premature unmatched result
/// is emitted. A record is late, and dropped, if its window has already
/// closed when it arrives.
pub(crate) struct StreamJoin<K, V1, V2, VR> {
    left: StoreHandle<K, Vec<Buffered<V1>>>,
    right: StoreHandle<K, Vec<Buffered<V2>>>,
    span: JoinSpan,
    kind: JoinKind,
    joiner: Arc<Joiner<K, V1, V2, VR>>,
    next: Box<dyn Processor<K, VR>>,
    /// Keys to look at, with the side (`true`: left).
    due: DueIndex<(bool, K)>,
}

impl<K, V1, V2, VR> StreamJoin<K, V1, V2, VR>
where
    K: WindowKey,
    V1: Data + RkyvData,
    V2: Data + RkyvData,
    VR: Data,
{
    pub(crate) fn new(
        left: StoreHandle<K, Vec<Buffered<V1>>>,
        right: StoreHandle<K, Vec<Buffered<V2>>>,
        span: JoinSpan,
        kind: JoinKind,
        joiner: Arc<Joiner<K, V1, V2, VR>>,
        next: Box<dyn Processor<K, VR>>,
    ) -> Self {
        StreamJoin {
            left,
            right,
            span,
            kind,
            joiner,
            next,
            due: DueIndex::new(),
        }
    }

    /// For a record of one side at `t`: the lookback and lookahead of its
    /// window, in that side's terms.
    fn reach(&self, left: bool) -> (i64, i64) {
        if left {
            (self.span.before, self.span.after)
        } else {
            (self.span.after, self.span.before)
        }
    }

    /// When a record of one side at `t` may be emitted alone, and when it
    /// can be forgotten.
    fn deadlines(&self, left: bool, t: i64) -> (i64, i64) {
        let (back, ahead) = self.reach(left);
        let g = self.span.grace;
        (t + ahead + g + 1, t + back + ahead + g + 1)
    }

    fn load(&mut self) -> Result<()> {
        let (left, right) = (&self.left, &self.right);
        self.due.load_once(|| {
            let l = lock(left).stored_keys()?.into_iter().map(|k| (true, k));
            let r = lock(right).stored_keys()?.into_iter().map(|k| (false, k));
            Ok(l.chain(r).map(|item| (i64::MIN, item)).collect())
        })
    }

    fn emit(&mut self, ctx: &mut Ctx, key: &K, v1: Option<&V1>, v2: Option<&V2>, ts: i64) {
        let out = (self.joiner)(key, v1, v2);
        let saved = std::mem::replace(&mut ctx.timestamp, ts);
        self.next.process(ctx, key.clone(), out);
        ctx.timestamp = saved;
    }

    /// Handles a record of one side (`left`): pairs it with the other
    /// side's buffered records inside its window, then buffers it.
    /// `pair` puts the two values in (left, right) order.
    #[allow(clippy::too_many_arguments)]
    fn probe<VO: Data + RkyvData, VT: Data + RkyvData>(
        &mut self,
        ctx: &mut Ctx,
        left: bool,
        key: K,
        value: VO,
        own: &StoreHandle<K, Vec<Buffered<VO>>>,
        other: &StoreHandle<K, Vec<Buffered<VT>>>,
        pair: Pair<VO, VT, V1, V2>,
    ) -> Result<()> {
        self.load()?;
        let (t, wm) = (ctx.timestamp, ctx.clock.watermark());
        let (emit_at, forget_at) = self.deadlines(left, t);
        if emit_at <= wm {
            ctx.late_dropped += 1;
            return Ok(());
        }
        let (back, ahead) = self.reach(left);
        let window = t - back..=t + ahead;
        let mut matched = false;
        let mut others = lock(other);
        let pairs = others
            .get(&key)?
            .is_some_and(|b| b.iter().any(|r| window.contains(&r.0)));
        if pairs && let Some(buffer) = others.entry(&key)? {
            for r in buffer.iter_mut().filter(|r| window.contains(&r.0)) {
                let (l, rv) = pair(&value, &r.1);
                self.emit(ctx, &key, l, rv, t.max(r.0));
                r.2 = true;
                matched = true;
            }
        }
        drop(others);
        lock(own)
            .entry(&key)?
            .get_or_insert_with(Vec::new)
            .push((t, value, matched, false));
        let first = if matched { forget_at } else { emit_at };
        self.due.add(first, (left, key));
        Ok(())
    }

    pub(crate) fn process_left(&mut self, ctx: &mut Ctx, key: K, value: V1) -> Result<()> {
        let (own, other) = (Arc::clone(&self.left), Arc::clone(&self.right));
        self.probe(ctx, true, key, value, &own, &other, |l, r| {
            (Some(l), Some(r))
        })
    }

    pub(crate) fn process_right(&mut self, ctx: &mut Ctx, key: K, value: V2) -> Result<()> {
        let (own, other) = (Arc::clone(&self.right), Arc::clone(&self.left));
        self.probe(ctx, false, key, value, &own, &other, |r, l| {
            (Some(l), Some(r))
        })
    }

    /// Takes out of one side's buffer for `key` the unmatched records whose
    /// window closed (returned, to be emitted alone), forgets the records no
    /// later record can pair with, and schedules the key's next deadline.
    fn expire<V: Data + RkyvData>(
        &mut self,
        wm: i64,
        left: bool,
        key: K,
        store: &StoreHandle<K, Vec<Buffered<V>>>,
    ) -> Result<Vec<(i64, V)>> {
        let emits = self.kind.emits_unmatched(left);
        let mut store = lock(store);
        let acts = |r: &Buffered<V>| {
            let (emit_at, forget_at) = self.deadlines(left, r.0);
            (emits && !r.2 && !r.3 && emit_at <= wm) || forget_at <= wm
        };
        let mut alone = Vec::new();
        let mut next_due = None::<i64>;
        let stale = match store.get(&key)? {
            None => return Ok(alone),
            Some(b) if b.iter().any(acts) => true,
            Some(b) => {
                // Nothing to do yet: only reschedule.
                next_due = b.iter().map(|r| self.next_deadline(left, emits, r)).min();
                false
            }
        };
        if !stale {
            drop(store);
            if let Some(due) = next_due {
                self.due.add(due, (left, key));
            }
            return Ok(alone);
        }
        let slot = store.entry(&key)?;
        let buffer = slot.take().unwrap_or_default();
        let mut kept = Vec::with_capacity(buffer.len());
        for mut r in buffer {
            let (emit_at, forget_at) = self.deadlines(left, r.0);
            let alone_now = emits && !r.2 && !r.3 && emit_at <= wm;
            r.3 |= alone_now;
            if forget_at <= wm {
                if alone_now {
                    alone.push((r.0, r.1));
                }
                continue;
            }
            if alone_now {
                alone.push((r.0, r.1.clone()));
            }
            let due = self.next_deadline(left, emits, &r);
            next_due = Some(next_due.map_or(due, |d| d.min(due)));
            kept.push(r);
        }
        if !kept.is_empty() {
            *slot = Some(kept);
        }
        drop(store);
        if let Some(due) = next_due {
            self.due.add(due, (left, key));
        }
        Ok(alone)
    }

    /// The next time a buffered record needs attention.
    fn next_deadline<V>(&self, left: bool, emits: bool, r: &Buffered<V>) -> i64 {
        let (emit_at, forget_at) = self.deadlines(left, r.0);
        if emits && !r.2 && !r.3 {
            emit_at
        } else {
            forget_at
        }
    }

    fn try_expire(&mut self, ctx: &mut Ctx) -> Result<()> {
        self.load()?;
        let wm = ctx.clock.watermark();
        for (left, key) in self.due.due(wm) {
            if left {
                let store = Arc::clone(&self.left);
                for (t, v) in self.expire(wm, true, key.clone(), &store)? {
                    self.emit(ctx, &key, Some(&v), None, t);
                }
            } else {
                let store = Arc::clone(&self.right);
                for (t, v) in self.expire(wm, false, key.clone(), &store)? {
                    self.emit(ctx, &key, None, Some(&v), t);
                }
            }
        }
        Ok(())
    }
}

impl<K, V1, V2, VR> TimeDriven for StreamJoin<K, V1, V2, VR>
where
    K: WindowKey,
    V1: Data + RkyvData,
    V2: Data + RkyvData,
    VR: Data,
{
    fn on_watermark(&mut self, ctx: &mut Ctx) {
        if let Err(e) = self.try_expire(ctx) {
            ctx.fail(e);
        }
    }
}

/// The left input of a [`StreamJoin`].
pub(crate) struct LeftInput<T>(pub(crate) Arc<Mutex<T>>);
/// The right input of a [`StreamJoin`].
pub(crate) struct RightInput<T>(pub(crate) Arc<Mutex<T>>);

impl<K, V1, V2, VR> Processor<K, V1> for LeftInput<StreamJoin<K, V1, V2, VR>>
where
    K: WindowKey,
    V1: Data + RkyvData,
    V2: Data + RkyvData,
    VR: Data,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V1) {
        if let Err(e) = lock(&self.0).process_left(ctx, key, value) {
            ctx.fail(e);
        }
    }
}

impl<K, V1, V2, VR> Processor<K, V2> for RightInput<StreamJoin<K, V1, V2, VR>>
where
    K: WindowKey,
    V1: Data + RkyvData,
    V2: Data + RkyvData,
    VR: Data,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V2) {
        if let Err(e) = lock(&self.0).process_right(ctx, key, value) {
            ctx.fail(e);
        }
    }
}

/// The result of a stream record and the table's value, or `None` to emit nothing.
pub(crate) type TableLookup<K, V, VT, VR> = dyn Fn(&K, V, Option<&VT>) -> Option<VR> + Send + Sync;

/// A stream-table join: each stream record looks its key up in the table's
/// store; table updates emit nothing.
pub(crate) struct StreamTableJoin<K, V, VT, VR> {
    pub(crate) table: StoreHandle<K, VT>,
    /// The result for a record and the table's value, or `None` to emit nothing.
    pub(crate) joiner: Arc<TableLookup<K, V, VT, VR>>,
    pub(crate) next: Box<dyn Processor<K, VR>>,
}

impl<K, V, VT, VR> Processor<K, V> for StreamTableJoin<K, V, VT, VR>
where
    K: WindowKey,
    V: Send,
    VT: RkyvData + Send + 'static,
    VR: Send,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: V) {
        let out = {
            let mut table = lock(&self.table);
            match table.get(&key) {
                Ok(found) => (self.joiner)(&key, value, found),
                Err(e) => return ctx.fail(e),
            }
        };
        if let Some(out) = out {
            self.next.process(ctx, key, out);
        }
    }
}

/// A table-table join: an update on either side looks the key up in the
/// other side's store and emits the joined table's new value for the key
/// (`None` deletes it), following Kafka Streams' KTable join semantics.
pub(crate) struct TableJoin<K, V1, V2, VR> {
    pub(crate) left: StoreHandle<K, V1>,
    pub(crate) right: StoreHandle<K, V2>,
    pub(crate) kind: JoinKind,
    pub(crate) joiner: Arc<Joiner<K, V1, V2, VR>>,
    pub(crate) next: Box<dyn Processor<K, Option<VR>>>,
}

impl<K, V1, V2, VR> TableJoin<K, V1, V2, VR>
where
    K: WindowKey,
    V1: RkyvData + Send + 'static,
    V2: RkyvData + Send + 'static,
    VR: Send,
{
    /// The joined value for the key, if an update of the left side (`left`)
    /// or of the right side is to emit one: `Some(None)` emits a deletion.
    fn result(&self, key: &K, l: Option<&V1>, r: Option<&V2>, left: bool) -> Option<Option<VR>> {
        let (updated, other) = if left {
            (l.is_some(), r.is_some())
        } else {
            (r.is_some(), l.is_some())
        };
        let join = || Some((self.joiner)(key, l, r));
        match self.kind {
            // Inner: nothing while the other side is absent.
            JoinKind::Inner if !other => None,
            JoinKind::Inner => Some(if updated { join() } else { None }),
            // Left: every left update; right updates only under a left value.
            JoinKind::Left if left => Some(if updated { join() } else { None }),
            JoinKind::Left if l.is_none() => None,
            JoinKind::Left => Some(join()),
            JoinKind::Outer if l.is_none() && r.is_none() => Some(None),
            JoinKind::Outer => Some(join()),
        }
    }

    fn update(
        &mut self,
        ctx: &mut Ctx,
        key: K,
        left: Option<V1>,
        right: Option<V2>,
        is_left: bool,
    ) {
        let out = if is_left {
            let mut other = lock(&self.right);
            match other.get(&key) {
                Ok(r) => self.result(&key, left.as_ref(), r, true),
                Err(e) => return ctx.fail(e),
            }
        } else {
            let mut other = lock(&self.left);
            match other.get(&key) {
                Ok(l) => self.result(&key, l, right.as_ref(), false),
                Err(e) => return ctx.fail(e),
            }
        };
        if let Some(out) = out {
            self.next.process(ctx, key, out);
        }
    }
}

impl<K, V1, V2, VR> Processor<K, Option<V1>> for LeftInput<TableJoin<K, V1, V2, VR>>
where
    K: WindowKey,
    V1: RkyvData + Send + 'static,
    V2: RkyvData + Send + 'static,
    VR: Send,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: Option<V1>) {
        lock(&self.0).update(ctx, key, value, None, true);
    }
}

impl<K, V1, V2, VR> Processor<K, Option<V2>> for RightInput<TableJoin<K, V1, V2, VR>>
where
    K: WindowKey,
    V1: RkyvData + Send + 'static,
    V2: RkyvData + Send + 'static,
    VR: Send,
{
    fn process(&mut self, ctx: &mut Ctx, key: K, value: Option<V2>) {
        lock(&self.0).update(ctx, key, None, value, false);
    }
}
