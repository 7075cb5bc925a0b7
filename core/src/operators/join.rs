//! Join operators: windowed stream-stream, stream-table and table-table.

use super::clock::{DueIndex, TimeDriven};
use super::window::WindowKey;
use super::{Ctx, Data, Processor};
use crate::codec::RkyvData;
use crate::error::Result;
use crate::store::{StoreHandle, lock};
use std::collections::HashMap;
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
///
/// Each side's buffer for a key is kept in time order (arrival order for
/// equal times), so that a probe finds its window by binary search and an
/// expiry looks at the records that are due only: a hot key's cost per
/// record does not grow with how many records it has buffered.
pub(crate) struct StreamJoin<K, V1, V2, VR> {
    left: StoreHandle<K, Vec<Buffered<V1>>>,
    right: StoreHandle<K, Vec<Buffered<V2>>>,
    span: JoinSpan,
    kind: JoinKind,
    joiner: Arc<Joiner<K, V1, V2, VR>>,
    next: Box<dyn Processor<K, VR>>,
    /// Keys to look at, with the side (`true`: left).
    due: DueIndex<(bool, K)>,
    /// The earliest time each (side, key) is due at in `due`, so that a
    /// key is scheduled once, not once per record it buffers.
    scheduled: HashMap<(bool, K), i64>,
    /// The join's name, for late-record reports.
    name: Arc<str>,
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
        name: Arc<str>,
    ) -> Self {
        StreamJoin {
            name,
            left,
            right,
            span,
            kind,
            joiner,
            next,
            due: DueIndex::new(),
            scheduled: HashMap::new(),
        }
    }

    /// Makes sure (side, key) is looked at by `due`.
    fn schedule(&mut self, due: i64, left: bool, key: K) {
        let item = (left, key);
        if self.scheduled.get(&item).is_none_or(|&at| due < at) {
            self.scheduled.insert(item.clone(), due);
            self.due.add(due, item);
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
        let mut found = Vec::new();
        self.due.load_once(|| {
            let l = lock(left).stored_keys()?.into_iter().map(|k| (true, k));
            let r = lock(right).stored_keys()?.into_iter().map(|k| (false, k));
            found = l.chain(r).collect();
            Ok(Vec::new())
        })?;
        for (left, key) in found {
            self.schedule(i64::MIN, left, key);
        }
        Ok(())
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
            ctx.drop_late(&self.name);
            return Ok(());
        }
        let (back, ahead) = self.reach(left);
        let (from, to) = (t - back, t + ahead);
        let mut matched = false;
        let mut others = lock(other);
        let in_window = |b: &[Buffered<VT>]| {
            let start = b.partition_point(|r| r.0 < from);
            let end = b.partition_point(|r| r.0 <= to);
            start..end
        };
        let pairs = others.get(&key)?.is_some_and(|b| !in_window(b).is_empty());
        if pairs && let Some(buffer) = others.entry(&key)? {
            let range = in_window(buffer);
            for r in &mut buffer[range] {
                let (l, rv) = pair(&value, &r.1);
                self.emit(ctx, &key, l, rv, t.max(r.0));
                r.2 = true;
                matched = true;
            }
        }
        drop(others);
        let mut own = lock(own);
        let buffer = own.entry(&key)?.get_or_insert_with(Vec::new);
        let at = buffer.partition_point(|r| r.0 <= t);
        buffer.insert(at, (t, value, matched, false));
        drop(own);
        let first = if matched { forget_at } else { emit_at };
        self.schedule(first, left, key);
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
    /// The buffer is in time order, and both deadlines grow with time: what
    /// is due is a prefix.
    fn expire<V: Data + RkyvData>(
        &mut self,
        wm: i64,
        left: bool,
        key: K,
        store: &StoreHandle<K, Vec<Buffered<V>>>,
    ) -> Result<Vec<(i64, V)>> {
        let emits = self.kind.emits_unmatched(left);
        let mut store = lock(store);
        // Records [..forget) can be forgotten; [..emit) are past their
        // window, and are emitted alone if they found no partner.
        let due = |b: &[Buffered<V>]| {
            let forget = b.partition_point(|r| self.deadlines(left, r.0).1 <= wm);
            let emit = if emits {
                b.partition_point(|r| self.deadlines(left, r.0).0 <= wm)
            } else {
                0
            };
            (forget, emit.max(forget))
        };
        let lone = |r: &Buffered<V>| !r.2 && !r.3;
        // The next deadline: the first record's forgetting, or the first
        // record still waiting to be emitted alone.
        let next = |b: &[Buffered<V>]| {
            let forget = b.first().map(|r| self.deadlines(left, r.0).1);
            let emit = if emits {
                b.iter()
                    .find(|r| lone(r))
                    .map(|r| self.deadlines(left, r.0).0)
            } else {
                None
            };
            forget.into_iter().chain(emit).min()
        };
        let mut alone = Vec::new();
        let (stale, mut next_due) = match store.get(&key)? {
            None => return Ok(alone),
            Some(b) => {
                let (forget, emit) = due(b);
                let stale = forget > 0 || b[forget..emit].iter().any(lone);
                (stale, if stale { None } else { next(b) })
            }
        };
        if stale {
            let slot = store.entry(&key)?;
            if let Some(buffer) = slot.as_mut() {
                let (forget, emit) = due(buffer);
                for r in &mut buffer[forget..emit] {
                    if lone(r) {
                        r.3 = true;
                        alone.push((r.0, r.1.clone()));
                    }
                }
                for r in buffer.drain(..forget) {
                    if emits && !r.2 && !r.3 {
                        alone.push((r.0, r.1));
                    }
                }
                alone.sort_by_key(|a| a.0);
                next_due = next(buffer);
                if buffer.is_empty() {
                    *slot = None;
                }
            }
        }
        drop(store);
        if let Some(due) = next_due {
            self.schedule(due, left, key);
        }
        Ok(alone)
    }

    fn try_expire(&mut self, ctx: &mut Ctx) -> Result<()> {
        self.load()?;
        let wm = ctx.clock.watermark();
        for (left, key) in self.due.due(wm) {
            let item = (left, key);
            match self.scheduled.get(&item) {
                // Scheduled again at another time since: a stale entry.
                Some(&at) if at > wm => continue,
                Some(_) => {
                    self.scheduled.remove(&item);
                }
                None => continue,
            }
            let (left, key) = item;
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
