//! Tasks: one sub-topology for one partition number.
//!
//! A task owns partition `p` of every input of its sub-topology and a
//! private processing chain. [`Task::poll`] fetches a batch per input,
//! processes records in timestamp order across inputs (lowest head
//! timestamp first), and appends the outputs, one batch per output
//! partition. Its positions are committed by its worker after the outputs
//! are synced, which gives at-least-once delivery.

use super::alignment::Alignment;
use super::config::{OnDecodeError, OnProcessingError, dead_letter_headers as dlh};
use super::counters::TaskCounters;
use super::panics::{self, Panic};
use super::task_env::TaskEnv;
use super::task_env::TaskSettings;
use super::watermarks::Announcement;
use crate::error::{Error, Result};
use crate::log::{Log, TopicPartition};
use crate::operators::clock::{Clock, InputKind, TimeDriven};
use crate::operators::source::SourceProcessor;
use crate::operators::{Ctx, Output, TaskInit};
use crate::record::Batch;
use crate::record::{Header, Record};
use crate::store::meta::{Positions, clock_key};
use crate::store::restore;
use crate::store::{Registered, lock};
pub(crate) use crate::task_id::TaskId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tributary_state::StateBackend;

struct Input {
    tp: TopicPartition,
    /// Next offset to process.
    position: u64,
    /// Position the group last took (`u64::MAX`: none yet).
    committed: u64,
    buffer: Vec<Record>,
    cursor: usize,
    source: Box<dyn SourceProcessor>,
    /// The source's node.
    node: usize,
    /// Wall-clock time since which the input has had nothing to read.
    empty_since: Option<i64>,
    kind: InputKind,
    /// In a bounded run, the offset to read up to (input topics only).
    end: Option<u64>,
}

impl Input {
    fn head_timestamp(&self) -> Option<i64> {
        self.buffer.get(self.cursor).map(|r| r.timestamp)
    }
}

/// A running task.
pub(crate) struct Task {
    pub(crate) id: TaskId,
    /// The span of everything the task logs (`task` and `app` fields).
    pub(crate) span: tracing::Span,
    inputs: Vec<Input>,
    ctx: Ctx,
    dead_letter_slot: Option<usize>,
    settings: TaskSettings,
    stores: Vec<Registered>,
    state: Option<Arc<dyn StateBackend>>,
    changelog: Batch,
    /// Largest timestamp processed (stamps changelog records).
    max_timestamp: i64,
    /// Operators called when time passes, with their nodes.
    timers: Vec<(usize, Arc<std::sync::Mutex<dyn TimeDriven>>)>,
    /// Watermark the timers were last called at.
    timers_at: i64,
    /// Records processed since the task started.
    pub(crate) records_in: u64,
    /// The task's counters, kept by the application beyond this task's life.
    counters: Arc<TaskCounters>,
    /// Late records per operator already added to `counters`.
    late_counted: BTreeMap<String, u64>,
    /// The state directory's writer id (signs changelog markers).
    writer: Arc<str>,
    /// Output slots of the repartition topics the task writes, which get
    /// its watermark announcements.
    announce_to: Vec<usize>,
    /// The watermark and idleness last announced.
    announced: Option<(i64, bool)>,
    /// Announce again even if nothing changed (after a commit).
    announce_due: bool,
    /// The task's sub-topology's alignment, if the task writes a
    /// repartition topic.
    alignment: Option<Arc<Alignment>>,
    /// True when the last poll waited for slower siblings.
    pub(crate) held_back: bool,
    /// True once processing failed part-way (a panic, an undecodable
    /// record, a failed append): the task's outputs and state may hold part
    /// of a record's effects, so it must not commit.
    pub(crate) broken: bool,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Task {
    /// Creates the task: instantiates its chain, brings its stores in line
    /// with their changelogs, and finds its start positions (from local
    /// state, else the changelog markers, else the group's committed
    /// positions, else the reset policy).
    pub(crate) fn new(
        id: TaskId,
        env: &TaskEnv,
        committed: &BTreeMap<TopicPartition, u64>,
    ) -> Result<Task> {
        panics::install_hook();
        let span = tracing::info_span!("task", app = %env.settings.app, task = %id);
        let _entered = span.enter();
        let sources = &env.sources[id.sub_topology];
        let partitions = &env.partitions;
        let settings = env.settings.clone();
        let log = env.log.as_ref();
        let state = env.state.as_ref();
        let counters = env.counters.of(id);
        let mut init = TaskInit {
            partition: id.partition,
            partitions,
            outputs: Vec::new(),
            state,
            stores: crate::store::Registry::new(settings.store_cache_memory),
            timers: Vec::new(),
            node: 0,
            shared: HashMap::new(),
        };
        let mut sourced = Vec::new();
        for s in sources {
            if partitions.get(&s.topic).is_none_or(|&n| id.partition >= n) {
                continue;
            }
            let source = (s.factory)(&mut init)?;
            let tp = TopicPartition::new(s.topic.clone(), id.partition);
            sourced.push((tp, s.node, source));
        }
        counters.set_inputs(sourced.iter().map(|(tp, _, _)| tp.clone()).collect());
        let stores = std::mem::take(&mut init.stores.stores);
        let mut recovered: Option<Positions> = None;
        let mut recovered_clock = None;
        if let (Some(state), false) = (state, stores.is_empty()) {
            let prepared = restore::prepare(
                log,
                state,
                (&settings.app, id, &env.writer),
                &stores,
                settings.restore_memory,
                restore::Progress {
                    restored: &counters.restored,
                    remaining: &counters.restore_remaining,
                },
            )?;
            recovered = prepared.positions;
            recovered_clock = prepared.clock;
        }
        let mut inputs = Vec::new();
        for (tp, node, source) in sourced {
            let from_state = recovered
                .as_ref()
                .and_then(|r| r.iter().find(|(t, _)| *t == tp))
                .map(|(_, o)| *o);
            let (start, end) = log.offsets(&tp.topic, tp.partition)?;
            let position = match from_state.or_else(|| committed.get(&tp).copied()) {
                Some(o) if o > end => return Err(past_end(&settings.app, &tp, o, end)),
                Some(o) => o,
                None => match settings.offset_reset {
                    super::config::OffsetReset::Earliest => start,
                    super::config::OffsetReset::Latest => end,
                },
            };
            let kind = match settings.writers.get(&tp.topic) {
                Some(&n) => InputKind::Writers(n),
                None => InputKind::Records,
            };
            // What the group holds, which the position restored from the
            // state may be past (a commit of the group refused after the
            // state's): the next commit then sends it, even if no record
            // moves the input again. `u64::MAX` when the group has none.
            let group_has = committed.get(&tp).copied().unwrap_or(u64::MAX);
            inputs.push(Input {
                tp,
                position,
                committed: group_has,
                buffer: Vec::new(),
                cursor: 0,
                source,
                node,
                empty_since: None,
                kind,
                end: None,
            });
        }
        let dead_letters = settings.on_decode_error == OnDecodeError::DeadLetter
            || settings.on_processing_error == OnProcessingError::DeadLetter;
        let dead_letter_slot = match &settings.dead_letter_topic {
            Some(t) if dead_letters => Some(init.output(t)?),
            _ => None,
        };
        let kinds: Vec<InputKind> = inputs.iter().map(|i| i.kind).collect();
        let mut clock = Clock::new(&kinds, settings.out_of_orderness);
        let saved = match (recovered_clock, state) {
            (Some(c), _) => Some(c),
            (None, Some(state)) => state.meta(&clock_key(id))?,
            (None, None) => None,
        };
        if let Some(saved) = saved {
            clock.restore(&saved);
            if clock.at_end() {
                tracing::warn!(
                    task = %id,
                    "this application was run to the end of its inputs (a bounded run), which \
                     ended its event time: records that arrive now are late for its windows and \
                     joins; reset it (Config::replay_from, or `tributary groups reset \
                     --reset-state`) to process new input"
                );
            }
        }
        let announce_to: Vec<usize> = init
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, (topic, _))| settings.writers.contains_key(topic))
            .map(|(slot, _)| slot)
            .collect();
        let timers_at = clock.watermark();
        let alignment = if announce_to.is_empty() {
            None
        } else {
            env.alignments.get(&id.sub_topology).cloned()
        };
        if let Some(a) = &alignment {
            a.join(id.partition);
        }
        let mut ctx = Ctx::new(&init.outputs, clock);
        ctx.node_records = vec![0; settings.node_names.len()];
        ctx.input_topics = inputs.iter().map(|i| i.tp.topic.clone()).collect();
        drop(_entered);
        Ok(Task {
            id,
            span,
            inputs,
            ctx,
            timers: init.timers,
            timers_at,
            dead_letter_slot,
            settings,
            stores,
            state: state.cloned(),
            changelog: Batch::new(),
            max_timestamp: i64::MIN,
            records_in: 0,
            counters,
            late_counted: BTreeMap::new(),
            writer: Arc::clone(&env.writer),
            alignment,
            announce_to,
            announced: None,
            announce_due: false,
            held_back: false,
            broken: false,
        })
    }

    /// True when the task reads `tp`.
    pub(crate) fn reads(&self, tp: &TopicPartition) -> bool {
        self.inputs.iter().any(|i| &i.tp == tp)
    }

    /// True when a store's write cache holds so many changes that the task
    /// should commit before its interval is up.
    pub(crate) fn wants_commit(&self) -> bool {
        self.stores.iter().any(|s| lock(&s.store).wants_flush())
    }

    /// Fetches, processes up to `max_poll_records` records and appends the
    /// outputs (with the task's watermark announcements). Returns the
    /// number of records handled, watermark announcements included: zero
    /// means there was nothing to do.
    ///
    /// A failure while fetching leaves the task as it was (it may still
    /// commit what it processed before); a failure while processing marks
    /// it [`broken`](Self::broken).
    pub(crate) fn poll(&mut self, log: &dyn Log, now: i64) -> Result<usize> {
        self.ctx.now = now;
        for i in 0..self.inputs.len() {
            self.fetch(log, i, now)?;
        }
        let processed = self.process(log);
        self.broken |= processed.is_err();
        processed
    }

    /// Processes the fetched records (see [`poll`](Self::poll)).
    fn process(&mut self, log: &dyn Log) -> Result<usize> {
        self.fire_timers()?;
        let mut n = 0;
        let mut records = 0;
        let wm = self.ctx.clock.watermark();
        self.held_back = self
            .alignment
            .as_ref()
            .is_some_and(|a| a.holds_back(self.id.partition, wm));
        let limit = if self.held_back {
            0
        } else {
            self.settings.max_poll_records
        };
        while n < limit {
            let next = self
                .inputs
                .iter()
                .enumerate()
                .filter_map(|(i, inp)| inp.head_timestamp().map(|t| (t, i)))
                .min();
            let Some((_, i)) = next else { break };
            let input = &mut self.inputs[i];
            let record = &input.buffer[input.cursor];
            input.cursor += 1;
            input.position = record.offset + 1;
            n += 1;
            if let InputKind::Writers(_) = input.kind
                && let Some(announcement) = Announcement::parse(record)
            {
                match announcement {
                    Ok(a) => {
                        if !self.ctx.clock.announce(i, a.writer, a.watermark, a.idle) {
                            tracing::warn!(
                                task = %self.id, input = %input.tp, offset = record.offset,
                                writer = a.writer,
                                "watermark announcement from a task this one does not read \
                                 from (was the upstream partition count changed?); ignored"
                            );
                        }
                    }
                    Err(e) => tracing::warn!(
                        task = %self.id, input = %input.tp, offset = record.offset,
                        "{e}; ignored"
                    ),
                }
                self.fire_timers()?;
                continue;
            }
            records += 1;
            if let Some(n) = self.ctx.node_records.get_mut(input.node) {
                *n += 1;
            }
            self.max_timestamp = self.max_timestamp.max(record.timestamp);
            self.ctx.input = i;
            self.ctx.offset = record.offset;
            self.ctx.node = input.node;
            let ctx = &mut self.ctx;
            match panics::catch(|| input.source.process(ctx, record)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => match self.dead_letter_slot {
                    Some(slot) if self.settings.on_decode_error == OnDecodeError::DeadLetter => {
                        tracing::warn!(
                            input = %input.tp, offset = record.offset, error = %e,
                            "record sent to the dead-letter topic"
                        );
                        dead_letter(&mut self.ctx, slot, &input.tp, record, &e.to_string(), &[]);
                        self.counters.dead_lettered.fetch_add(1, Relaxed);
                    }
                    _ => {
                        return Err(Error::Decode {
                            topic: input.tp.topic.clone(),
                            partition: input.tp.partition,
                            offset: record.offset,
                            source: e,
                        });
                    }
                },
                Err(Panic(message)) => {
                    let operator = &self.settings.node_names[self.ctx.node];
                    let during = format!(
                        "on record {}/{}@{}",
                        input.tp.topic, input.tp.partition, record.offset
                    );
                    match self.dead_letter_slot {
                        Some(slot)
                            if self.settings.on_processing_error
                                == OnProcessingError::DeadLetter =>
                        {
                            tracing::error!(
                                task = %self.id, operator = %operator, input = %input.tp,
                                offset = record.offset,
                                "user code panicked ({message}); record sent to the dead-letter topic"
                            );
                            let task = self.id.to_string();
                            let extra = [(dlh::OPERATOR, operator.as_str()), (dlh::TASK, &task)];
                            dead_letter(&mut self.ctx, slot, &input.tp, record, &message, &extra);
                            self.counters.dead_lettered.fetch_add(1, Relaxed);
                        }
                        _ => return Err(self.panicked(message, during)),
                    }
                }
            }
            self.fire_timers()?;
            if let Some(e) = self.ctx.error.take() {
                return Err(e);
            }
        }
        for (node, t) in &self.timers {
            self.ctx.node = *node;
            let ctx = &mut self.ctx;
            if let Err(Panic(message)) = panics::catch(|| lock(t).on_wall_clock(ctx)) {
                return Err(self.panicked(message, "firing wall-clock timers".into()));
            }
        }
        if let Some(e) = self.ctx.error.take() {
            return Err(e);
        }
        self.records_in += records;
        self.counters.processed.fetch_add(records, Relaxed);
        self.announce();
        if let Some(a) = &self.alignment {
            let clock = &self.ctx.clock;
            a.publish(
                self.id.partition,
                clock.watermark(),
                clock.is_idle() || clock.at_end(),
            );
        }
        self.flush(log)?;
        Ok(n)
    }

    /// Refills input `i`'s buffer once it has been processed, and keeps its
    /// idleness and (in a bounded run) its end up to date.
    fn fetch(&mut self, log: &dyn Log, i: usize, now: i64) -> Result<()> {
        let input = &mut self.inputs[i];
        if input.cursor < input.buffer.len() || self.ctx.clock.input_ended(i) {
            return Ok(());
        }
        input.buffer.clear();
        input.cursor = 0;
        if input.end.is_some_and(|end| input.position >= end) {
            self.ctx.clock.end_input(i);
            return Ok(());
        }
        let (topic, p) = (&input.tp.topic, input.tp.partition);
        match log.fetch(
            topic,
            p,
            input.position,
            self.settings.fetch_max_bytes,
            &mut input.buffer,
        ) {
            Err(Error::OffsetOutOfRange { start, .. }) if input.position < start => {
                tracing::warn!(
                    task = %self.id, input = %input.tp, position = input.position, start,
                    "position was deleted by retention; continuing from the first record held"
                );
                input.position = start;
                log.fetch(
                    topic,
                    p,
                    start,
                    self.settings.fetch_max_bytes,
                    &mut input.buffer,
                )?;
            }
            Err(Error::OffsetOutOfRange { end, .. }) if input.position > end => {
                return Err(past_end(&self.settings.app, &input.tp, input.position, end));
            }
            r => r?,
        }
        if let Some(end) = input.end {
            let keep = input.buffer.partition_point(|r| r.offset < end);
            input.buffer.truncate(keep);
            if keep == 0 {
                self.ctx.clock.end_input(i);
                return Ok(());
            }
        }
        if input.buffer.is_empty() {
            let since = *input.empty_since.get_or_insert(now);
            if now - since >= self.settings.idle_timeout {
                self.ctx.clock.set_idle(i, true);
            }
        } else {
            input.empty_since = None;
            self.ctx.clock.set_idle(i, false);
        }
        Ok(())
    }

    /// Calls the time-driven operators if the watermark moved.
    fn fire_timers(&mut self) -> Result<()> {
        let wm = self.ctx.clock.watermark();
        if wm > self.timers_at {
            self.timers_at = wm;
            for (node, t) in &self.timers {
                self.ctx.node = *node;
                let ctx = &mut self.ctx;
                if let Err(Panic(message)) = panics::catch(|| lock(t).on_watermark(ctx)) {
                    let during = format!("firing event-time timers at watermark {wm}");
                    return Err(self.panicked(message, during));
                }
            }
        }
        Ok(())
    }

    /// The error for a panic in the operator the task was in (`ctx.node`)
    /// while doing what `during` says (always fatal for timers: there is
    /// no input record to send to the dead-letter topic).
    fn panicked(&self, message: String, during: String) -> Error {
        Error::UserCodePanicked {
            task: self.id.to_string(),
            operator: self.settings.node_names[self.ctx.node].clone(),
            during,
            message,
        }
    }

    /// Records dropped as late since the task started.
    pub(crate) fn late_dropped(&self) -> u64 {
        self.ctx.late.total()
    }

    /// Records dropped as late since the task started, per operator.
    pub(crate) fn late_by_operator(&self) -> impl Iterator<Item = (&str, u64)> {
        self.ctx.late.by_operator()
    }

    /// Adds the late records counted since the last call to the task's
    /// counters.
    fn count_late(&mut self) {
        for (op, n) in self.ctx.late.by_operator() {
            let counted = self.late_counted.entry(op.to_owned()).or_default();
            self.counters.add_late(op, n - *counted);
            *counted = n;
        }
    }

    /// Closes the task (after a commit, or without one when it was lost):
    /// reports late records not reported yet, and stops holding its
    /// siblings back. Its state stays on disk with its checkpoint.
    pub(crate) fn close(mut self) {
        self.counters.set_inputs(Vec::new());
        let ooo = self.ctx.clock.out_of_orderness();
        self.ctx.late.report_rest(ooo);
        self.count_late();
        if let Some(a) = &self.alignment {
            a.leave(self.id.partition);
        }
    }

    /// Starts a bounded run: the task reads each input topic up to the
    /// offset `ends` gives it (repartition topics: until every writer has
    /// announced the end), then its event time ends, which closes every
    /// window and fires every event-time timer.
    pub(crate) fn drain_to(&mut self, ends: &HashMap<TopicPartition, u64>) {
        for input in &mut self.inputs {
            if input.kind == InputKind::Records {
                input.end = Some(ends.get(&input.tp).copied().unwrap_or(input.position));
            }
        }
    }

    /// True when a bounded run is over for this task: every input read to
    /// its end, event time ended (windows emitted), and the end announced
    /// downstream.
    pub(crate) fn finished(&self) -> bool {
        self.ctx.clock.at_end()
            && self.timers_at == i64::MAX
            && (self.announce_to.is_empty() || self.announced.is_some_and(|(wm, _)| wm == i64::MAX))
            && self.inputs.iter().all(|i| i.cursor >= i.buffer.len())
    }

    /// Announces the task's watermark into the repartition topics it
    /// writes, if it changed (or a commit asked for it): after the records
    /// written before it, in every partition.
    fn announce(&mut self) {
        if self.announce_to.is_empty() {
            return;
        }
        let now = (self.ctx.clock.watermark(), self.ctx.clock.is_idle());
        if self.announced == Some(now) && !self.announce_due {
            return;
        }
        self.announced = Some(now);
        self.announce_due = false;
        let a = Announcement {
            writer: self.id.partition,
            watermark: now.0,
            idle: now.1,
        };
        let ts = self.max_timestamp.max(0);
        for &slot in &self.announce_to {
            let out = &mut self.ctx.outputs[slot];
            for batch in &mut out.batches {
                a.push(batch, ts);
            }
            out.announcements += 1;
        }
    }

    /// Appends buffered outputs to the log.
    fn flush(&mut self, log: &dyn Log) -> Result<()> {
        for out in &mut self.ctx.outputs {
            let mut records = 0;
            for (p, batch) in out.batches.iter_mut().enumerate() {
                if !batch.is_empty() {
                    records += batch.len() - out.announcements;
                    log.send(&out.topic, p as u32, batch)?;
                    batch.clear();
                    out.dirty[p] = true;
                }
            }
            out.announcements = 0;
            self.counters.add_out(&out.topic, records as u64);
        }
        self.counters.add_node_records(&mut self.ctx.node_records);
        Ok(())
    }

    /// What the commit of the task works on ([`commit`](super::commit)).
    /// Starting a commit makes the next poll announce the watermark again
    /// and counts the late records so far.
    pub(crate) fn commit_view(&mut self) -> CommitView<'_> {
        self.announce_due = true;
        self.count_late();
        let moved = self.inputs.iter().any(|i| i.position != i.committed);
        CommitView {
            id: self.id,
            app: &self.settings.app,
            outputs: &mut self.ctx.outputs,
            stores: &self.stores,
            state: self.state.as_deref(),
            changelog: &mut self.changelog,
            positions: self
                .inputs
                .iter()
                .map(|i| (i.tp.clone(), i.position))
                .collect(),
            moved,
            clock: self.ctx.clock.encode(),
            writer: &self.writer,
            timestamp: self.max_timestamp.max(0),
        }
    }

    /// The inputs' positions that moved since the group last took them.
    pub(crate) fn uncommitted(&self) -> impl Iterator<Item = (TopicPartition, u64)> + '_ {
        self.inputs
            .iter()
            .filter(|i| i.position != i.committed)
            .map(|i| (i.tp.clone(), i.position))
    }

    /// Marks the inputs' positions committed (the group took them).
    pub(crate) fn mark_committed(&mut self) {
        for i in &mut self.inputs {
            i.committed = i.position;
        }
    }
}

/// A task's parts that its commit writes (see [`Task::commit_view`]).
pub(crate) struct CommitView<'a> {
    pub(crate) id: TaskId,
    /// The application id (prefix of the changelog topics).
    pub(crate) app: &'a str,
    pub(crate) outputs: &'a mut [Output],
    pub(crate) stores: &'a [Registered],
    pub(crate) state: Option<&'a dyn StateBackend>,
    /// A buffer for changelog batches.
    pub(crate) changelog: &'a mut Batch,
    /// The input positions reached.
    pub(crate) positions: Positions,
    /// True when an input moved since the last commit.
    pub(crate) moved: bool,
    /// The encoded event-time clock.
    pub(crate) clock: Vec<u8>,
    /// The state directory's writer id.
    pub(crate) writer: &'a str,
    /// The largest event time processed (stamps changelog records).
    pub(crate) timestamp: i64,
}

/// The error (logged) for a position past the end of its partition.
fn past_end(group: &str, tp: &TopicPartition, position: u64, end: u64) -> Error {
    let e = Error::PositionPastEnd {
        group: group.to_owned(),
        topic: tp.topic.clone(),
        partition: tp.partition,
        position,
        end,
    };
    tracing::error!(input = %tp, position, end, "{e}");
    e
}

/// Writes `record`, bytes intact, to the dead-letter topic, with `error`,
/// where it came from and the `extra` headers.
fn dead_letter(
    ctx: &mut Ctx,
    slot: usize,
    tp: &TopicPartition,
    record: &Record,
    error: &str,
    extra: &[(&str, &str)],
) {
    let mut headers = record.headers.clone();
    headers.push(Header::new(dlh::ERROR, error.to_owned()));
    for (name, value) in extra {
        headers.push(Header::new(*name, value.to_string()));
    }
    headers.push(Header::new(dlh::TOPIC, tp.topic.clone()));
    headers.push(Header::new(dlh::PARTITION, tp.partition.to_string()));
    headers.push(Header::new(dlh::OFFSET, record.offset.to_string()));
    let out = &mut ctx.outputs[slot];
    let p = tp.partition as usize % out.batches.len();
    out.batches[p].push(
        record.timestamp,
        record.key.as_deref(),
        record.value.as_deref(),
        &headers,
    );
}
