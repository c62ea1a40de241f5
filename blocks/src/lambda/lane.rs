//! One lane of a shard: the records waiting in arrival order, the batch being worked on (split
//! into parts by bisect), and the open tumbling window. A lane has at most one invocation in
//! flight, so its records are handled in order. Pure bookkeeping: the block's task does the
//! invoking and the sending.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::failure::iso_seconds;
use super::record::Record;
use crate::time::Clock;

/// The largest payload of a synchronous invocation: a batch is cut before it.
pub(super) const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// The largest window state; past it the window ends early (§1.6).
pub(super) const MAX_STATE: usize = 1024 * 1024;

/// The wait before the first retry of a failed batch, doubled at each retry up to
/// [`MAX_BACKOFF`]: a function that keeps failing is not invoked in a tight loop.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What every lane follows, from the configuration.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) batch_size: usize,
    pub(super) batching_window: Duration,
    pub(super) bisect: bool,
    pub(super) retry_limit: Option<u32>,
    pub(super) max_age_ms: Option<i64>,
    pub(super) window_ms: Option<i64>,
}

/// Where an invocation stands in a tumbling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WindowCall {
    pub(super) start_ms: i64,
    /// `isFinalInvokeForWindow`.
    pub(super) last: bool,
    /// `isWindowTerminatedEarly`.
    pub(super) early: bool,
}

/// How urgently a lane's waiting records are to be invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pace {
    /// Batches wait for their size, their payload, the batching window or their window's end.
    Normal,
    /// Too much is held: batches do not wait for the batching window.
    Hurry,
    /// The input ended: every batch and window ends now.
    Draining,
}

/// A batch, or a part of one after bisecting, and its attempts so far.
#[derive(Debug)]
pub(super) struct Part {
    pub(super) records: Vec<Record>,
    /// Failed attempts that counted as retries.
    pub(super) retries: u32,
    /// Invocations of exactly these records.
    pub(super) invokes: u32,
    pub(super) window: Option<WindowCall>,
}

impl Part {
    fn new(records: Vec<Record>, window: Option<WindowCall>) -> Self {
        Self { records, retries: 0, invokes: 0, window }
    }
}

/// The tumbling window a lane is in.
#[derive(Debug)]
pub(super) struct OpenWindow {
    pub(super) start_ms: i64,
    pub(super) state: Value,
    /// Whether an invocation of this window succeeded (so a final one is owed).
    pub(super) invoked: bool,
    /// The state grew past [`MAX_STATE`]: the next invocation ends the window early.
    pub(super) early: bool,
}

/// One lane.
#[derive(Debug, Default)]
pub(super) struct Lane {
    queue: VecDeque<Record>,
    queued_bytes: usize,
    /// When the oldest waiting record arrived here, for the batching window.
    first_queued: Option<Instant>,
    /// The batch being worked on, in order: one part, or several after bisecting.
    work: VecDeque<Part>,
    /// Whether an invocation is in flight.
    pub(super) busy: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    pub(super) window: Option<OpenWindow>,
}

impl Lane {
    /// Adds a record that arrived at `now` to the waiting ones.
    pub(super) fn push(&mut self, record: Record, now: Instant) {
        self.queued_bytes += record.size;
        self.first_queued.get_or_insert(now);
        self.queue.push_back(record);
    }

    /// Whether the lane holds nothing: no record waiting or being worked on, and no window
    /// owing its final invocation.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.work.is_empty() && !self.window.as_ref().is_some_and(|open| open.invoked || open.early)
    }

    /// When the lane should next be looked at, if it waits for time: a retry's backoff, the
    /// batching window, or the end of a tumbling window.
    pub(super) fn deadline(&self, settings: &Settings, clock: &Clock) -> Option<Instant> {
        if self.busy {
            return None;
        }
        if !self.work.is_empty() {
            return self.retry_at;
        }
        let batching = self.first_queued.filter(|_| !self.queue.is_empty()).map(|first| first + settings.batching_window);
        let window_end = settings.window_ms.and_then(|length| {
            let start = match (&self.window, self.queue.front()) {
                (Some(open), _) if open.invoked => open.start_ms,
                (_, Some(record)) => record.arrival_ms.div_euclid(length) * length,
                _ => return None,
            };
            Some(clock.instant(start + length))
        });
        [batching, window_end].into_iter().flatten().min()
    }

    /// Whether a part is due to be invoked now ([`Lane::front`]), forming one from the waiting
    /// records if a batch is due. `pace` says what not to wait for: the input ended
    /// ([`Pace::Draining`]: batches and windows end now), or too much is held ([`Pace::Hurry`]:
    /// batches do not wait for the batching window, windows keep their time).
    pub(super) fn next(&mut self, settings: &Settings, now: Instant, now_ms: i64, pace: Pace) -> bool {
        if self.busy || self.retry_at.is_some_and(|at| at > now) {
            return false;
        }
        if self.work.is_empty() {
            let part = match settings.window_ms {
                Some(length) => self.form_window_part(settings, length, now, now_ms, pace),
                None => self.batch_due(settings, now, pace).then(|| Part::new(self.take_batch(settings, |_| true), None)),
            };
            let Some(part) = part else { return false };
            self.work.push_back(part);
        }
        true
    }

    /// The part being worked on.
    pub(super) fn front(&self) -> Option<&Part> {
        self.work.front()
    }

    /// Marks the front part as invoked and returns its Kafka event.
    pub(super) fn start_kafka(&mut self, bootstrap_servers: Option<&str>) -> Value {
        self.busy = true;
        let Some(part) = self.work.front_mut() else { return super::kafka::event(&[], bootstrap_servers) };
        part.invokes += 1;
        super::kafka::event(&part.records, bootstrap_servers)
    }

    /// Marks the front part as invoked and returns its event: `{"Records": [...]}`, with the
    /// window's fields under a tumbling window.
    pub(super) fn start(&mut self, shard: &str, arn: &str, window_ms: Option<i64>) -> Value {
        self.busy = true;
        let Some(part) = self.work.front_mut() else { return json!({"Records": []}) };
        part.invokes += 1;
        let records: Vec<Value> = part.records.iter().map(|record| record.message.value().clone()).collect();
        let mut event = serde_json::Map::new();
        event.insert("Records".into(), Value::Array(records));
        if let (Some(call), Some(length)) = (part.window, window_ms) {
            let state = self.window.as_ref().map_or_else(|| json!({}), |open| open.state.clone());
            event.insert("window".into(), json!({"start": iso_seconds(call.start_ms), "end": iso_seconds(call.start_ms + length)}));
            event.insert("state".into(), state);
            event.insert("shardId".into(), json!(shard));
            event.insert("eventSourceARN".into(), json!(arn));
            event.insert("isFinalInvokeForWindow".into(), json!(call.last));
            event.insert("isWindowTerminatedEarly".into(), json!(call.early));
        }
        Value::Object(event)
    }

    fn batch_due(&self, settings: &Settings, now: Instant, pace: Pace) -> bool {
        !self.queue.is_empty()
            && (pace != Pace::Normal
                || self.queue.len() >= settings.batch_size
                || self.queued_bytes >= MAX_PAYLOAD
                || self.first_queued.is_some_and(|first| first + settings.batching_window <= now))
    }

    /// Takes a batch from the front of the queue: records `belongs` accepts, up to the batch
    /// size and the payload limit (one record at least).
    fn take_batch(&mut self, settings: &Settings, belongs: impl Fn(&Record) -> bool) -> Vec<Record> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(record) = self.queue.front() {
            let fits = batch.is_empty() || (batch.len() < settings.batch_size && bytes + record.size <= MAX_PAYLOAD);
            if !fits || !belongs(record) {
                break;
            }
            bytes += record.size;
            batch.extend(self.queue.pop_front());
        }
        self.queued_bytes -= bytes;
        // What is left has waited as long as what was taken: it is due at the next check.
        if self.queue.is_empty() {
            self.first_queued = None;
        }
        batch
    }

    fn form_window_part(&mut self, settings: &Settings, length: i64, now: Instant, now_ms: i64, pace: Pace) -> Option<Part> {
        let draining = pace == Pace::Draining;
        let front_start = self.queue.front().map(|record| record.arrival_ms.div_euclid(length) * length);
        if let Some(open) = &self.window {
            let ended = draining || now_ms >= open.start_ms + length || front_start.is_some_and(|start| start != open.start_ms);
            if open.early || (open.invoked && ended && front_start != Some(open.start_ms)) {
                let call = WindowCall { start_ms: open.start_ms, last: true, early: open.early };
                return Some(Part::new(Vec::new(), Some(call)));
            }
            if !open.invoked && front_start.is_some_and(|start| start != open.start_ms) {
                self.window = None;
            }
        }
        let start = front_start?;
        let in_window = |record: &Record| record.arrival_ms.div_euclid(length) * length == start;
        // Arrival times are about in order: a later window's record at the back closes this one.
        let later_waiting = self.queue.back().is_some_and(|record| record.arrival_ms >= start + length);
        let due = self.batch_due(settings, now, pace) || later_waiting || now_ms >= start + length;
        if !due {
            return None;
        }
        let records = self.take_batch(settings, in_window);
        let more_of_it = self.queue.front().is_some_and(in_window);
        let last = !more_of_it && (draining || now_ms >= start + length || !self.queue.is_empty());
        self.window.get_or_insert_with(|| OpenWindow { start_ms: start, state: json!({}), invoked: false, early: false });
        Some(Part::new(records, Some(WindowCall { start_ms: start, last, early: false })))
    }
}

/// What became of the front part after its invocation.
impl Lane {
    /// The invocation of the front part succeeded: the part, done.
    pub(super) fn succeeded(&mut self) -> Option<Part> {
        self.busy = false;
        self.backoff = Duration::ZERO;
        self.retry_at = None;
        self.work.pop_front()
    }

    /// The first `ok` records of the front part succeeded (returned); the rest are retried,
    /// right away as a split under bisect, else after a backoff as a retry. Also returns the
    /// rest when that retry was one too many (to discard).
    pub(super) fn partly_succeeded(&mut self, ok: usize, settings: &Settings, now: Instant) -> (Vec<Record>, Option<Part>) {
        self.busy = false;
        let Some(part) = self.work.front_mut() else { return (Vec::new(), None) };
        let done: Vec<Record> = part.records.drain(..ok.min(part.records.len())).collect();
        if settings.bisect {
            self.retry_at = None;
            return (done, None);
        }
        (done, self.count_retry(settings, now))
    }

    /// The front part failed: split in two under bisect (not a retry), else retried after a
    /// backoff. Returns the part when the retry was one too many (to discard).
    pub(super) fn failed(&mut self, settings: &Settings, now: Instant) -> Option<Part> {
        self.busy = false;
        let splits = settings.bisect && self.work.front().is_some_and(|part| part.records.len() > 1);
        if !splits {
            return self.count_retry(settings, now);
        }
        let mut part = self.work.pop_front()?;
        let second = part.records.split_off(part.records.len() / 2);
        let first_call = part.window.map(|call| WindowCall { last: false, ..call });
        let first = Part { records: part.records, retries: part.retries, invokes: 0, window: first_call };
        let second = Part { records: second, retries: part.retries, invokes: 0, window: part.window };
        self.work.push_front(second);
        self.work.push_front(first);
        self.retry_at = None;
        None
    }

    /// Takes the front part away, to discard it (its records are too old).
    pub(super) fn discard_front(&mut self) -> Option<Part> {
        self.retry_at = None;
        self.work.pop_front()
    }

    fn count_retry(&mut self, settings: &Settings, now: Instant) -> Option<Part> {
        let part = self.work.front_mut()?;
        part.retries += 1;
        if settings.retry_limit.is_some_and(|limit| part.retries > limit) {
            self.retry_at = None;
            self.backoff = Duration::ZERO;
            return self.work.pop_front();
        }
        self.backoff = if self.backoff.is_zero() { FIRST_BACKOFF } else { (self.backoff * 2).min(MAX_BACKOFF) };
        self.retry_at = Some(now + self.backoff);
        None
    }
}
