//! Windowed aggregations: tumbling, hopping, sliding and session windows.
//!
//! Windows run on event time (see [`Stream::event_time`]) and close when
//! the task's watermark passes their end plus a grace period. A record that
//! arrives for a window already closed is *late*: it is dropped and counted
//! ([`Stats::late_dropped`](crate::runtime::Stats)), or sent to the stream
//! returned by [`WindowedStream::late_records`]. Results are emitted on every
//! update ([`Emit::OnWindowUpdate`], the default) or once per window when it
//! closes ([`Emit::OnWindowClose`]). Closed windows are deleted from the
//! store (and tombstoned in its changelog).
//!
//! The semantics are Kafka Streams': window bounds are aligned to the
//! epoch; a time window's `end` is exclusive, a sliding or session window's
//! `end` is the time of its last record (inclusive). With the default
//! out-of-orderness of zero, the watermark is Kafka's stream time.

use super::graph::{StoreDef, StoreLayout};
use super::table::{StoreKey, Table};
use super::{GroupedStream, Stream, lock};
use crate::codec::RkyvData;
use crate::operators::clock::{TimeDriven, Timed, TimedOp};
use crate::operators::window::{
    Fold, LateOutput, Merge, SessionAggregate, SlidingAggregate, TimeAggregate, WindowShape,
};
use crate::operators::{Data, NodeCell, Processor, Shared, TaskInit, Tracked};
use crate::record::millis;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A key and the window it was aggregated in.
///
/// # Examples
///
/// ```
/// use tributary::topology::Windowed;
/// let w = Windowed { key: "ann".to_string(), start: 0, end: 60_000 };
/// assert_eq!(serde_json::to_string(&w)?, r#"{"key":"ann","start":0,"end":60000}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// Start of the window, in ms (inclusive).
    pub start: i64,
    /// End of the window, in ms: exclusive for tumbling and hopping windows,
    /// the last record's time for sliding and session windows.
    pub end: i64,
}

/// When windowed results are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Emit {
    /// On every change of a window's aggregate (the default).
    #[default]
    OnWindowUpdate,
    /// Once per window, with its final aggregate, when the watermark passes
    /// the window's end plus grace.
    OnWindowClose,
}

/// Tumbling and hopping windows of a fixed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    size: i64,
    advance: i64,
    grace: i64,
}

impl TimeWindows {
    /// Adjacent, non-overlapping windows of `size`.
    pub fn tumbling(size: Duration) -> Self {
        let size = millis(size);
        TimeWindows {
            size,
            advance: size,
            grace: 0,
        }
    }

    /// Windows of `size` starting every `advance` (so a record is in
    /// `size / advance` windows).
    pub fn hopping(size: Duration, advance: Duration) -> Self {
        TimeWindows {
            size: millis(size),
            advance: millis(advance),
            grace: 0,
        }
    }

    /// Accepts records up to `grace` after a window's end (default 0).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }
}

/// Sliding windows: every distinct window of at most `difference` between
/// its records' times (Kafka Streams' `SlidingWindows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    difference: i64,
    grace: i64,
}

impl SlidingWindows {
    /// Windows `[t - difference, t]` ending at each record, and the windows
    /// starting just after each record that hold later records.
    pub fn with_difference(difference: Duration) -> Self {
        SlidingWindows {
            difference: millis(difference),
            grace: 0,
        }
    }

    /// Accepts records up to `grace` after a window's end (default 0).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }
}

/// Session windows: records of a key closer than `gap` to each other form
/// one session; a record that bridges two sessions merges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    gap: i64,
    grace: i64,
}

impl SessionWindows {
    /// Sessions closed by `gap` of inactivity.
    pub fn with_gap(gap: Duration) -> Self {
        SessionWindows {
            gap: millis(gap),
            grace: 0,
        }
    }

    /// Accepts records up to `grace` after a session could no longer grow
    /// (default 0).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }
}

/// Tumbling, hopping or sliding windows, for [`GroupedStream::windowed_by`]:
/// [`TimeWindows`] for any value type, [`SlidingWindows`] for values that
/// are [`RkyvData`] (sliding windows keep each key's recent records).
#[allow(private_bounds)]
pub trait WindowKind<K, V>: build::Build<K, V> {}
impl<K, V, W: build::Build<K, V>> WindowKind<K, V> for W {}

mod build {
    use super::*;

    /// How a kind of windows checks itself and builds its operator.
    pub(crate) trait Build<K, V>: Copy + Send + Sync + std::fmt::Debug + 'static {
        /// What is wrong with the windows' parameters, if anything.
        fn problem(&self) -> Option<String>;
        /// Adds the aggregation to the topology.
        fn aggregate<A: Data + RkyvData>(
            &self,
            stream: &Stream<K, V>,
            kind: &'static str,
            store: &str,
            emit: Emit,
            fold: Arc<Fold<K, V, A>>,
            late: LateCell<K, V>,
        ) -> Table<Windowed<K>, A>;
    }

    impl<K: StoreKey, V: Data> Build<K, V> for TimeWindows {
        fn problem(&self) -> Option<String> {
            (self.size <= 0 || self.advance <= 0 || self.advance > self.size).then(|| {
                format!(
                    "time windows need 0 < advance <= size (size {} ms, advance {} ms)",
                    self.size, self.advance
                )
            })
        }

        fn aggregate<A: Data + RkyvData>(
            &self,
            stream: &Stream<K, V>,
            kind: &'static str,
            store: &str,
            emit: Emit,
            fold: Arc<Fold<K, V, A>>,
            late: LateCell<K, V>,
        ) -> Table<Windowed<K>, A> {
            let shape = WindowShape {
                size: self.size,
                advance: self.advance,
                grace: self.grace,
            };
            let name = store.to_owned();
            let layout = StoreLayout::TimeWindows { size: self.size };
            add_node(
                stream,
                kind,
                (store, layout),
                self.grace,
                move |init, next| {
                    let late = late_processor(&late, init, &name)?;
                    let store = init.kv_store(&name)?;
                    Ok(TimeAggregate::new(
                        store,
                        shape,
                        emit,
                        Arc::clone(&fold),
                        next,
                        late,
                    ))
                },
            )
        }
    }

    impl<K: StoreKey, V: Data + RkyvData> Build<K, V> for SlidingWindows {
        fn problem(&self) -> Option<String> {
            (self.difference <= 0).then(|| "sliding windows need a positive time difference".into())
        }

        fn aggregate<A: Data + RkyvData>(
            &self,
            stream: &Stream<K, V>,
            kind: &'static str,
            store: &str,
            emit: Emit,
            fold: Arc<Fold<K, V, A>>,
            late: LateCell<K, V>,
        ) -> Table<Windowed<K>, A> {
            let (name, w) = (store.to_owned(), *self);
            add_node(
                stream,
                kind,
                (store, StoreLayout::Internal),
                1 + w.grace,
                move |init, next| {
                    let late = late_processor(&late, init, &name)?;
                    let store = init.kv_store(&name)?;
                    Ok(SlidingAggregate::new(
                        store,
                        w.difference,
                        w.grace,
                        emit,
                        Arc::clone(&fold),
                        next,
                        late,
                    ))
                },
            )
        }
    }
}

/// Where late records go, created on demand by `late_records()`: the
/// `late-records` node and its cell.
type LateCell<K, V> = Arc<OnceLock<(usize, Arc<NodeCell<K, V>>)>>;

/// The late-record output of a task's window operator (store `store`):
/// the declared stream (its node counting what passes), or a count of
/// records dropped.
fn late_processor<K: Data, V: Data>(
    cell: &LateCell<K, V>,
    init: &mut TaskInit<'_>,
    store: &str,
) -> crate::Result<LateOutput<K, V>> {
    let routed = match cell.get() {
        Some((node, cell)) => {
            let inner = cell.instantiate(init)?;
            Some(Box::new(Tracked { node: *node, inner }) as Box<dyn Processor<K, V>>)
        }
        None => None,
    };
    Ok(LateOutput {
        operator: Arc::from(store),
        routed,
    })
}

/// The stream of late records: one `late-records` node however often it
/// is asked for.
fn late_stream<K: Data, V: Data>(stream: &Stream<K, V>, cell: &LateCell<K, V>) -> Stream<K, V> {
    let (node, node_cell) = cell.get_or_init(|| {
        let node = lock(&stream.graph).add_node("late-records", None, vec![stream.node], None);
        (node, NodeCell::new())
    });
    Stream::new(Arc::clone(&stream.graph), *node, Arc::clone(node_cell))
}

/// A grouped stream cut into tumbling, hopping or sliding windows, ready
/// for an aggregation; see [`GroupedStream::windowed_by`].
pub struct WindowedStream<K, V, W> {
    stream: Stream<K, V>,
    windows: W,
    emit: Emit,
    late: LateCell<K, V>,
}

impl<K, V, W: std::fmt::Debug> std::fmt::Debug for WindowedStream<K, V, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedStream")
            .field("windows", &self.windows)
            .field("emit", &self.emit)
            .finish_non_exhaustive()
    }
}

/// A grouped stream cut into session windows, ready for an aggregation;
/// see [`GroupedStream::session_windowed_by`].
pub struct SessionWindowedStream<K, V> {
    stream: Stream<K, V>,
    windows: SessionWindows,
    emit: Emit,
    late: LateCell<K, V>,
}

impl<K, V> std::fmt::Debug for SessionWindowedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedStream")
            .field("windows", &self.windows)
            .field("emit", &self.emit)
            .finish_non_exhaustive()
    }
}

impl<K: StoreKey, V: Data> GroupedStream<K, V> {
    /// Cuts the stream into tumbling, hopping or sliding windows.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// use tributary::topology::{Emit, TimeWindows, Windowed};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("clicks", Utf8, Utf8)
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::tumbling(Duration::from_secs(60)))
    ///     .emit(Emit::OnWindowClose)
    ///     .count("clicks-per-minute")
    ///     .to_stream()
    ///     .to("counts", Json, Json);
    /// let driver = TestDriver::new(b.build()?)?;
    /// let clicks = driver.input("clicks", Utf8, Utf8);
    /// clicks.pipe_at("ann".to_string(), "/".to_string(), 1_000)?;
    /// clicks.pipe_at("ann".to_string(), "/a".to_string(), 59_000)?;
    /// clicks.pipe_at("bob".to_string(), "/".to_string(), 61_000)?; // closes [0, 60 s)
    /// let counts: Vec<(Windowed<String>, u64)> = driver.output("counts", Json, Json).read_key_values()?;
    /// assert_eq!(counts, vec![(Windowed { key: "ann".to_string(), start: 0, end: 60_000 }, 2)]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn windowed_by<W: WindowKind<K, V>>(&self, windows: W) -> WindowedStream<K, V, W> {
        if let Some(p) = windows.problem() {
            lock(&self.stream.graph).errors.push(p);
        }
        WindowedStream {
            stream: self.stream.clone(),
            windows,
            emit: Emit::default(),
            late: Arc::default(),
        }
    }

    /// Cuts the stream into session windows.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tributary::{Topology, testing::TestDriver, codec::{Json, Utf8}};
    /// use tributary::topology::{SessionWindows, Windowed};
    /// let mut b = Topology::builder("app");
    /// b.stream::<String, String>("views", Utf8, Utf8)
    ///     .group_by_key()
    ///     .session_windowed_by(
    ///         SessionWindows::with_gap(Duration::from_secs(30)).grace(Duration::from_secs(60)),
    ///     )
    ///     .count("sessions")
    ///     .changes()
    ///     .to("session-counts", Json, tributary::codec::Optional(Json));
    /// let driver = TestDriver::new(b.build()?)?;
    /// let views = driver.input("views", Utf8, Utf8);
    /// views.pipe_at("ann".to_string(), "a".to_string(), 0)?;
    /// views.pipe_at("ann".to_string(), "b".to_string(), 60_000)?;
    /// views.pipe_at("ann".to_string(), "c".to_string(), 30_000)?; // late, within grace: bridges both
    /// let out: Vec<(Windowed<String>, Option<u64>)> =
    ///     driver.output("session-counts", Json, tributary::codec::Optional(Json)).read_key_values()?;
    /// let w = |start, end| Windowed { key: "ann".to_string(), start, end };
    /// assert_eq!(out, vec![
    ///     (w(0, 0), Some(1)),
    ///     (w(60_000, 60_000), Some(1)),
    ///     (w(0, 0), None),
    ///     (w(60_000, 60_000), None),
    ///     (w(0, 60_000), Some(3)),
    /// ]);
    /// # Ok::<(), tributary::Error>(())
    /// ```
    pub fn session_windowed_by(&self, windows: SessionWindows) -> SessionWindowedStream<K, V> {
        if windows.gap <= 0 {
            lock(&self.stream.graph)
                .errors
                .push("session windows need a positive gap".into());
        }
        SessionWindowedStream {
            stream: self.stream.clone(),
            windows,
            emit: Emit::default(),
            late: Arc::default(),
        }
    }
}

/// Adds below `stream` a node whose operator also acts when time passes
/// (a [`TimedOp`] made by `make`), keeping its state in the store `store`.
pub(super) fn timed_node<K: Data, V: Data, K2: Data, V2: Data, T>(
    stream: &Stream<K, V>,
    kind: &'static str,
    (store, layout): (&str, StoreLayout),
    make: impl Fn(&mut TaskInit<'_>, Box<dyn Processor<K2, V2>>) -> crate::Result<T>
    + Send
    + Sync
    + 'static,
) -> Stream<K2, V2>
where
    T: TimedOp<K, V> + 'static,
{
    let out = stream.child(kind, vec![stream.node], None, move |init, next| {
        let op = Arc::new(Mutex::new(Timed::new(make(init, next)?)));
        init.on_time(Arc::clone(&op) as Arc<Mutex<dyn TimeDriven>>);
        Ok(Box::new(Shared(op)) as Box<dyn Processor<K, V>>)
    });
    lock(&stream.graph).stores.push(StoreDef {
        name: store.to_owned(),
        node: out.node,
        layout,
    });
    out
}

/// Adds the aggregation node of a windowed stream and registers its store;
/// its windows close `closes_after` ms after their end.
fn add_node<K: StoreKey, V: Data, A: Data + RkyvData, T>(
    stream: &Stream<K, V>,
    kind: &'static str,
    (store, layout): (&str, StoreLayout),
    closes_after: i64,
    make: impl Fn(&mut TaskInit<'_>, Box<dyn Processor<Windowed<K>, Option<A>>>) -> crate::Result<T>
    + Send
    + Sync
    + 'static,
) -> Table<Windowed<K>, A>
where
    T: TimedOp<K, V> + 'static,
{
    let changes = timed_node(stream, kind, (store, layout), make);
    lock(&stream.graph)
        .window_closes
        .insert(changes.node, closes_after);
    Table::derived(changes)
}

impl<K: StoreKey, V: Data, W: WindowKind<K, V>> WindowedStream<K, V, W> {
    /// Chooses when results are emitted (default [`Emit::OnWindowUpdate`]).
    pub fn emit(mut self, emit: Emit) -> Self {
        self.emit = emit;
        self
    }

    /// The records that arrived after all their windows had closed (without
    /// this, they are dropped and counted in `Stats::late_dropped`).
    pub fn late_records(&self) -> Stream<K, V> {
        late_stream(&self.stream, &self.late)
    }

    /// Counts records per key and window, in the store `store`.
    pub fn count(&self, store: &str) -> Table<Windowed<K>, u64> {
        self.fold(
            store,
            "window-count",
            Arc::new(|_k: &K, _v: V, n: Option<u64>| n.unwrap_or(0) + 1),
        )
    }

    /// Folds records per key and window into an aggregate starting at `init()`.
    pub fn aggregate<A: Data + RkyvData>(
        &self,
        store: &str,
        init: impl Fn() -> A + Send + Sync + 'static,
        add: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> Table<Windowed<K>, A> {
        self.fold(
            store,
            "window-aggregate",
            Arc::new(move |k: &K, v: V, a: Option<A>| add(k, v, a.unwrap_or_else(&init))),
        )
    }

    /// Combines records per key and window with `f`.
    pub fn reduce(
        &self,
        store: &str,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> Table<Windowed<K>, V>
    where
        V: RkyvData,
    {
        self.fold(
            store,
            "window-reduce",
            Arc::new(move |_k: &K, v: V, acc: Option<V>| match acc {
                Some(a) => f(a, v),
                None => v,
            }),
        )
    }

    fn fold<A: Data + RkyvData>(
        &self,
        store: &str,
        kind: &'static str,
        fold: Arc<Fold<K, V, A>>,
    ) -> Table<Windowed<K>, A> {
        let late = Arc::clone(&self.late);
        self.windows
            .aggregate(&self.stream, kind, store, self.emit, fold, late)
    }
}

impl<K: StoreKey, V: Data> SessionWindowedStream<K, V> {
    /// Chooses when results are emitted (default [`Emit::OnWindowUpdate`]).
    /// On update, a merge emits a deletion (`None`) for each merged session
    /// before the new session's aggregate.
    pub fn emit(mut self, emit: Emit) -> Self {
        self.emit = emit;
        self
    }

    /// The records that arrived after their session had closed.
    pub fn late_records(&self) -> Stream<K, V> {
        late_stream(&self.stream, &self.late)
    }

    /// Counts records per key and session, in the store `store`.
    pub fn count(&self, store: &str) -> Table<Windowed<K>, u64> {
        self.fold(
            store,
            "session-count",
            Arc::new(|_k: &K, _v: V, n: Option<u64>| n.unwrap_or(0) + 1),
            Arc::new(|_k: &K, a: u64, b: u64| a + b),
        )
    }

    /// Folds records per key and session into an aggregate starting at
    /// `init()`; `merge` combines the aggregates of sessions a record joins.
    pub fn aggregate<A: Data + RkyvData>(
        &self,
        store: &str,
        init: impl Fn() -> A + Send + Sync + 'static,
        add: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        merge: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
    ) -> Table<Windowed<K>, A> {
        self.fold(
            store,
            "session-aggregate",
            Arc::new(move |k: &K, v: V, a: Option<A>| add(k, v, a.unwrap_or_else(&init))),
            Arc::new(merge),
        )
    }

    /// Combines records per key and session with `f` (also used to merge sessions).
    pub fn reduce(
        &self,
        store: &str,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> Table<Windowed<K>, V>
    where
        V: RkyvData,
    {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        self.fold(
            store,
            "session-reduce",
            Arc::new(move |_k: &K, v: V, acc: Option<V>| match acc {
                Some(a) => f(a, v),
                None => v,
            }),
            Arc::new(move |_k: &K, a: V, b: V| g(a, b)),
        )
    }

    fn fold<A: Data + RkyvData>(
        &self,
        store: &str,
        kind: &'static str,
        fold: Arc<Fold<K, V, A>>,
        merge: Arc<Merge<K, A>>,
    ) -> Table<Windowed<K>, A> {
        let (name, emit, late, w) = (
            store.to_owned(),
            self.emit,
            Arc::clone(&self.late),
            self.windows,
        );
        let closes_after = w.gap + 1 + w.grace;
        add_node(
            &self.stream,
            kind,
            (store, StoreLayout::Sessions),
            closes_after,
            move |init, next| {
                let late = late_processor(&late, init, &name)?;
                Ok(SessionAggregate::new(
                    init.kv_store(&name)?,
                    w.gap,
                    w.grace,
                    emit,
                    Arc::clone(&fold),
                    Arc::clone(&merge),
                    next,
                    late,
                ))
            },
        )
    }
}
