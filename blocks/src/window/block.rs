//! The running `window` block: assigning messages to panes, the watermark, and emitting.

use runnel_engine::{Emitter, FunctionBlock, Message, Metadata};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::aggregate::{AggregateConfig, AggregateOp};
use super::pane::{Aggregates, Panes};
use super::{WindowConfig, WindowKind};
use crate::cap::Evictions;
use crate::time::{Clock, EventTime, TimeKind, key_of, key_text};

/// The running `window` block.
#[derive(Debug)]
pub struct Window {
    kind: WindowKind,
    size: i64,
    slide: i64,
    gap: i64,
    time: TimeKind,
    event_time: EventTime,
    group_by: Option<crate::jq::JqProgram>,
    lateness: i64,
    aggregates: Aggregates,
    /// The current message's aggregate inputs, kept to reuse the allocation.
    values: Vec<Value>,
    max_open: usize,
    clock: Clock,
    panes: Panes,
    max_event_time: Option<i64>,
    evictions: Evictions,
}

const LATE_PORT: usize = 1;

/// The most windows one call emits when many are due at once (the watermark passing an end
/// that a million keys share, or the end of input). The rest wait for the engine to send these:
/// it calls back at once (a deadline that has passed, or [`FunctionBlock::flushing`]), so what
/// waits to be sent stays at about an edge's worth (8 batches of 128) instead of every window.
const EMIT_AT_ONCE: usize = 1024;

impl Window {
    /// A window block for a validated `config`.
    pub fn new(config: WindowConfig) -> Self {
        let mut aggregates = config.aggregates;
        if aggregates.is_empty() {
            aggregates.insert("count".to_owned(), AggregateConfig { op: AggregateOp::Count, field: None });
        }
        Self {
            kind: config.kind,
            size: config.size.map_or(1, |s| s.millis().max(1)),
            slide: config.slide.or(config.size).map_or(1, |s| s.millis().max(1)),
            gap: config.gap.map_or(1, |s| s.millis().max(1)),
            time: config.time,
            event_time: EventTime::new(config.time_field),
            group_by: config.group_by,
            lateness: config.allowed_lateness.map_or(0, |s| s.millis()),
            values: Vec::with_capacity(aggregates.len()),
            aggregates,
            max_open: config.max_open_windows.max(1),
            clock: Clock::new(),
            panes: Panes::new(config.kind, config.size.map_or(1, |s| s.millis().max(1))),
            max_event_time: None,
            evictions: Evictions::default(),
        }
    }

    /// Everything with an end at or before this has been (or is being) emitted.
    fn watermark(&self) -> Option<i64> {
        match self.time {
            TimeKind::Event => self.max_event_time.map(|t| t - self.lateness),
            TimeKind::Processing => Some(self.clock.now_ms()),
        }
    }

    /// The starts of the fixed windows holding `t` that are still open under `watermark`,
    /// oldest first.
    fn starts(&self, t: i64, watermark: Option<i64>) -> impl Iterator<Item = i64> + use<> {
        let last = t.div_euclid(self.slide) * self.slide;
        // The oldest window holding `t` starts after `t - size`; a tumbling window is the only
        // one (and a division less, on every message).
        let mut first =
            if self.size == self.slide { last } else { last - (last - (t - self.size)).saturating_sub(1).div_euclid(self.slide) * self.slide };
        if let Some(w) = watermark {
            // A window is still open while its end is after the watermark.
            while first <= last && first + self.size <= w {
                first += self.slide;
            }
        }
        let slide = self.slide;
        std::iter::successors(Some(first), move |s| Some(s + slide)).take_while(move |s| *s <= last)
    }

    /// Whether a window is due: its end is at or before the watermark, but it has not been
    /// emitted yet (more were due than one call emits).
    fn due(&self) -> bool {
        self.panes.first_end().is_some_and(|end| self.watermark().is_some_and(|w| end <= w))
    }

    /// Emits the panes whose end is at or before `watermark`, oldest first, at most
    /// [`EMIT_AT_ONCE`] of them.
    fn close_until(&mut self, watermark: i64, out: &mut Emitter) {
        for _ in 0..EMIT_AT_ONCE {
            if self.panes.first_end().is_none_or(|end| end > watermark) {
                break;
            }
            self.emit_first(out);
        }
    }

    fn emit_first(&mut self, out: &mut Emitter) {
        let Some(closed) = self.panes.pop_first() else { return };
        let (start, end) = (closed.pane.start, closed.pane.end);
        let mut value = Map::new();
        value.insert("window".into(), json!({ "start": start, "end": end }));
        if self.group_by.is_some() {
            value.insert("key".into(), closed.key.value());
        }
        let (results, acks) = closed.pane.finish();
        for (name, result) in self.aggregates.keys().zip(results) {
            value.insert(name.clone(), result);
        }
        let meta = Metadata { timestamp: Some(start), key: Some(closed.key.text.into_bytes().into()), ..Metadata::default() };
        let mut message = Message::with_meta(Value::Object(value), meta);
        message.acks = acks;
        out.emit(message);
    }

    fn enforce_cap(&mut self, out: &mut Emitter) {
        while self.panes.open() > self.max_open && self.panes.first_end().is_some() {
            // A window that was due anyway goes first, and is no eviction.
            let due = self.due();
            self.emit_first(out);
            if due {
                continue;
            }
            let consequence = "window block reached max_open_windows; emitting the oldest windows early (raise the cap or shorten the windows)";
            self.evictions.record(out, "max_open_windows", self.max_open, consequence);
        }
    }
}

impl FunctionBlock for Window {
    fn process(&mut self, mut message: Message, out: &mut Emitter) {
        let t = match self.time {
            TimeKind::Event => match self.event_time.of(&message) {
                Ok(t) => t,
                Err(error) => return out.fail(message, error),
            },
            TimeKind::Processing => self.clock.now_ms(),
        };
        let watermark = self.watermark();
        let mut starts = self.starts(t, watermark).peekable();
        let late = match self.kind {
            WindowKind::Session => watermark.is_some_and(|w| t + self.gap <= w),
            WindowKind::Tumbling | WindowKind::Sliding => starts.peek().is_none(),
        };
        if late {
            return out.emit_to(LATE_PORT, message);
        }
        let acks = message.acks.take();
        let key = match key_of(self.group_by.as_ref(), &message) {
            Ok(key) => key,
            Err(error) => {
                message.acks = acks;
                return out.fail(message, error);
            }
        };
        self.values.clear();
        for (name, aggregate) in &self.aggregates {
            match aggregate.extract(message.value()) {
                Ok(value) => self.values.push(value),
                Err(error) => {
                    let error = format!("aggregate `{name}`: {error}");
                    drop(key);
                    message.acks = acks;
                    return out.fail(message, error);
                }
            }
        }
        let id = match self.panes.key(&key_text(&key), &key) {
            Ok(id) => id,
            Err(error) => {
                drop(key);
                message.acks = acks;
                return out.fail(message, error);
            }
        };
        match self.kind {
            WindowKind::Session => self.panes.add_to_session(id, (t, watermark), self.gap, &self.aggregates, &self.values, acks),
            WindowKind::Tumbling | WindowKind::Sliding => {
                let mut acks = acks;
                while let Some(start) = starts.next() {
                    let pane = self.panes.fixed(id, start, start + self.size, &self.aggregates);
                    // Every window holding the message answers for it.
                    let share = if starts.peek().is_some() { acks.clone() } else { acks.take() };
                    pane.add(&self.values, share);
                }
            }
        }
        drop(key);
        drop(message);
        if self.time == TimeKind::Event {
            self.max_event_time = Some(self.max_event_time.map_or(t, |m| m.max(t)));
            if let Some(watermark) = self.watermark() {
                self.close_until(watermark, out);
            }
        }
        self.enforce_cap(out);
    }

    fn deadline(&self) -> Option<Instant> {
        match self.time {
            TimeKind::Processing => self.panes.first_end().map(|end| self.clock.instant(end)),
            // Windows left due by the last message are emitted as soon as those are sent.
            TimeKind::Event => self.due().then(Instant::now),
        }
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Emitter) {
        let watermark = match self.time {
            TimeKind::Processing => Some(self.clock.at(now)),
            TimeKind::Event => self.watermark(),
        };
        if let Some(watermark) = watermark {
            self.close_until(watermark, out);
        }
    }

    fn on_close(&mut self, out: &mut Emitter) {
        for _ in 0..EMIT_AT_ONCE {
            if self.panes.first_end().is_none() {
                break;
            }
            self.emit_first(out);
        }
    }

    fn flushing(&self) -> bool {
        self.panes.first_end().is_some()
    }

    fn state_size(&self) -> usize {
        self.panes.open()
    }
}
