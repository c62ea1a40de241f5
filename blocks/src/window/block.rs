//! The running `window` block: assigning messages to panes, the watermark, and emitting.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashMap;
use indexmap::IndexMap;
use runnel_engine::{Acks, Emitter, FunctionBlock, Message, Metadata};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::aggregate::{Accumulator, AggregateConfig, AggregateOp};
use super::{WindowConfig, WindowKind};
use crate::cap::Evictions;
use crate::time::{Clock, EventTime, TimeKind, key_of, key_text};

/// One open window of one key.
#[derive(Debug)]
struct Pane {
    end: i64,
    accumulators: Vec<Accumulator>,
    acks: Acks,
    /// The latest event in a session (its end is this plus the gap).
    last: i64,
}

/// The open panes of one key, by start.
#[derive(Debug)]
struct KeyPanes {
    key: Value,
    by_start: BTreeMap<i64, Pane>,
}

/// Every open pane, found by key text then start without copying the key, and the order they
/// close in: (end, key, start).
///
/// Keys are hashed rather than ordered: a key is looked up for every message, and one hash of a
/// short key costs less than the string comparisons of an ordered search.
#[derive(Debug, Default)]
struct Panes {
    by_key: HashMap<String, KeyPanes>,
    closing: BTreeSet<(i64, String, i64)>,
    open: usize,
}

impl Panes {
    /// The pane of `key_text` starting at `start`, opened with `end` if it is new.
    fn open(&mut self, key_text: &str, key: &Value, start: i64, end: i64, t: i64, aggregates: &Aggregates) -> &mut Pane {
        let panes = self.by_key.entry_ref(key_text).or_insert_with(|| KeyPanes { key: key.clone(), by_start: BTreeMap::new() });
        panes.by_start.entry(start).or_insert_with(|| {
            self.closing.insert((end, key_text.to_owned(), start));
            self.open += 1;
            Pane { end, accumulators: aggregates.values().map(|a| Accumulator::new(a.op)).collect(), acks: Acks::none(), last: t }
        })
    }

    /// Takes a pane out, with its key.
    fn remove(&mut self, key_text: &str, start: i64) -> Option<(Pane, Value)> {
        let panes = self.by_key.get_mut(key_text)?;
        let pane = panes.by_start.remove(&start)?;
        self.closing.remove(&(pane.end, key_text.to_owned(), start));
        self.open -= 1;
        let key = if panes.by_start.is_empty() { self.by_key.remove(key_text).map_or(Value::Null, |panes| panes.key) } else { panes.key.clone() };
        Some((pane, key))
    }

    /// Puts `t` into the key's session, merging the sessions it bridges.
    fn add_to_session(&mut self, aggregates: &Aggregates, gap: i64, (key_text, key): (&str, &Value), t: i64, values: &[Value], acks: Acks) {
        let mut start = t;
        let accumulators = aggregates.values().map(|a| Accumulator::new(a.op)).collect();
        let mut merged = Pane { end: t + gap, accumulators, acks: Acks::none(), last: t };
        for old in self.touching(key_text, t, gap) {
            let Some((pane, _)) = self.remove(key_text, old) else { continue };
            start = start.min(old);
            merged.last = merged.last.max(pane.last);
            merged.acks.merge(pane.acks);
            for (into, from) in merged.accumulators.iter_mut().zip(pane.accumulators) {
                merge(into, from);
            }
        }
        merged.end = merged.last + gap;
        let pane = self.open(key_text, key, start, merged.end, t, aggregates);
        *pane = merged;
        pane.add(values, acks);
    }

    /// The starts of `key_text`'s sessions that `t` falls into or touches.
    fn touching(&self, key_text: &str, t: i64, gap: i64) -> Vec<i64> {
        let Some(panes) = self.by_key.get(key_text) else { return Vec::new() };
        panes.by_start.iter().filter(|(start, pane)| **start - gap <= t && t <= pane.last + gap).map(|(start, _)| *start).collect()
    }
}

type Aggregates = IndexMap<String, AggregateConfig>;

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
            panes: Panes::default(),
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

    /// Emits every pane whose end is at or before `watermark`, oldest first.
    fn close_until(&mut self, watermark: i64, out: &mut Emitter) {
        while let Some((end, _, _)) = self.panes.closing.first() {
            if *end > watermark {
                break;
            }
            self.emit_first(out);
        }
    }

    fn emit_first(&mut self, out: &mut Emitter) {
        let Some((end, key_text, start)) = self.panes.closing.first().cloned() else { return };
        let Some((pane, key)) = self.panes.remove(&key_text, start) else { return };
        let mut value = Map::new();
        value.insert("window".into(), json!({ "start": start, "end": end }));
        if self.group_by.is_some() {
            value.insert("key".into(), key);
        }
        for (name, accumulator) in self.aggregates.keys().zip(pane.accumulators) {
            value.insert(name.clone(), accumulator.finish());
        }
        let meta = Metadata { timestamp: Some(start), key: Some(key_text.into_bytes().into()), ..Metadata::default() };
        let mut message = Message::with_meta(Value::Object(value), meta);
        message.acks = pane.acks;
        out.emit(message);
    }

    fn enforce_cap(&mut self, out: &mut Emitter) {
        while self.panes.open > self.max_open {
            self.emit_first(out);
            let consequence = "window block reached max_open_windows; emitting the oldest windows early (raise the cap or shorten the windows)";
            self.evictions.record(out, "max_open_windows", self.max_open, consequence);
        }
    }
}

impl Pane {
    fn add(&mut self, values: &[Value], acks: Acks) {
        for (accumulator, value) in self.accumulators.iter_mut().zip(values) {
            accumulator.add(value);
        }
        self.acks.merge(acks);
    }
}

fn merge(into: &mut Accumulator, from: Accumulator) {
    match (into, from) {
        (Accumulator::Count(a), Accumulator::Count(b)) => *a += b,
        (Accumulator::Sum(a), Accumulator::Sum(b)) => *a += b,
        (Accumulator::Min(a), Accumulator::Min(b)) => *a = [*a, b].into_iter().flatten().reduce(f64::min),
        (Accumulator::Max(a), Accumulator::Max(b)) => *a = [*a, b].into_iter().flatten().reduce(f64::max),
        (Accumulator::Avg { sum, count }, Accumulator::Avg { sum: s, count: c }) => {
            *sum += s;
            *count += c;
        }
        (Accumulator::Distinct(a), Accumulator::Distinct(b)) => a.extend(b),
        (Accumulator::Collect(a), Accumulator::Collect(b)) => a.extend(b),
        (Accumulator::CountBy(a), Accumulator::CountBy(b)) => {
            for (k, n) in b {
                *a.entry(k).or_insert(0) += n;
            }
        }
        _ => {}
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
        let key_text = key_text(&key);
        match self.kind {
            WindowKind::Session => {
                self.panes.add_to_session(&self.aggregates, self.gap, (&key_text, &key), t, &self.values, acks);
            }
            WindowKind::Tumbling | WindowKind::Sliding => {
                let mut acks = acks;
                while let Some(start) = starts.next() {
                    let pane = self.panes.open(&key_text, &key, start, start + self.size, t, &self.aggregates);
                    // Every window holding the message answers for it.
                    let share = if starts.peek().is_some() { acks.clone() } else { acks.take() };
                    pane.add(&self.values, share);
                }
            }
        }
        drop(key_text);
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
        if self.time != TimeKind::Processing {
            return None;
        }
        self.panes.closing.first().map(|(end, _, _)| self.clock.instant(*end))
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Emitter) {
        let now = self.clock.at(now);
        self.close_until(now, out);
    }

    fn on_close(&mut self, out: &mut Emitter) {
        while !self.panes.closing.is_empty() {
            self.emit_first(out);
        }
    }

    fn state_size(&self) -> usize {
        self.panes.open
    }
}
