//! The running `window` block: assigning messages to panes, the watermark, and emitting.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use runnel_engine::{Acks, Emitter, FunctionBlock, Message, Metadata};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::aggregate::{Accumulator, AggregateConfig, AggregateOp};
use super::{WindowConfig, WindowKind};
use crate::cap::Evictions;
use crate::time::{Clock, EventTime, TimeKind, key_of};

/// One open window of one key.
#[derive(Debug)]
struct Pane {
    end: i64,
    key: Value,
    accumulators: Vec<Accumulator>,
    acks: Acks,
    /// The latest event in a session (its end is this plus the gap).
    last: i64,
}

/// Panes are found by (key, start) and closed in order of (end, key, start).
type PaneId = (String, i64);

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
    aggregates: IndexMap<String, AggregateConfig>,
    max_open: usize,
    clock: Clock,
    panes: BTreeMap<PaneId, Pane>,
    closing: BTreeSet<(i64, String, i64)>,
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
            aggregates,
            max_open: config.max_open_windows.max(1),
            clock: Clock::new(),
            panes: BTreeMap::new(),
            closing: BTreeSet::new(),
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

    /// The starts of the fixed windows holding `t`.
    fn starts(&self, t: i64) -> Vec<i64> {
        let last = t.div_euclid(self.slide) * self.slide;
        let mut starts = Vec::new();
        let mut start = last;
        while start + self.size > t {
            starts.push(start);
            start -= self.slide;
        }
        starts.reverse();
        starts
    }

    fn extract(&self, message: &Message) -> Result<(i64, String, Value, Vec<Value>), String> {
        let t = match self.time {
            TimeKind::Event => self.event_time.of(message)?,
            TimeKind::Processing => self.clock.now_ms(),
        };
        let (key_text, key) = key_of(self.group_by.as_ref(), message)?;
        let values = self
            .aggregates
            .iter()
            .map(|(name, aggregate)| aggregate.extract(message.value()).map_err(|e| format!("aggregate `{name}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((t, key_text, key, values))
    }

    fn new_pane(&self, end: i64, key: &Value, last: i64) -> Pane {
        let accumulators = self.aggregates.values().map(|a| Accumulator::new(a.op)).collect();
        Pane { end, key: key.clone(), accumulators, acks: Acks::none(), last }
    }

    fn add_to(&mut self, id: PaneId, end: i64, key: &Value, t: i64, values: &[Value], acks: Acks) {
        if !self.panes.contains_key(&id) {
            let pane = self.new_pane(end, key, t);
            self.closing.insert((end, id.0.clone(), id.1));
            self.panes.insert(id.clone(), pane);
        }
        if let Some(pane) = self.panes.get_mut(&id) {
            for (accumulator, value) in pane.accumulators.iter_mut().zip(values) {
                accumulator.add(value);
            }
            pane.acks.merge(acks);
        }
    }

    /// Puts `t` into the key's session, merging the sessions it bridges.
    fn add_to_session(&mut self, key_text: String, key: &Value, t: i64, values: &[Value], acks: Acks) {
        let touching: Vec<PaneId> = self
            .panes
            .range((key_text.clone(), i64::MIN)..=(key_text.clone(), i64::MAX))
            .filter(|((_, start), pane)| *start - self.gap <= t && t <= pane.last + self.gap)
            .map(|(id, _)| id.clone())
            .collect();
        let mut merged = self.new_pane(t + self.gap, key, t);
        let mut start = t;
        for id in touching {
            let Some(pane) = self.panes.remove(&id) else { continue };
            self.closing.remove(&(pane.end, id.0.clone(), id.1));
            start = start.min(id.1);
            merged.last = merged.last.max(pane.last);
            merged.acks.merge(pane.acks);
            for (into, from) in merged.accumulators.iter_mut().zip(pane.accumulators) {
                merge(into, from);
            }
        }
        for (accumulator, value) in merged.accumulators.iter_mut().zip(values) {
            accumulator.add(value);
        }
        merged.acks.merge(acks);
        merged.end = merged.last + self.gap;
        self.closing.insert((merged.end, key_text.clone(), start));
        self.panes.insert((key_text, start), merged);
    }

    /// Emits every pane whose end is at or before `watermark`, oldest first.
    fn close_until(&mut self, watermark: i64, out: &mut Emitter) {
        while let Some((end, _, _)) = self.closing.first() {
            if *end > watermark {
                break;
            }
            self.emit_first(out);
        }
    }

    fn emit_first(&mut self, out: &mut Emitter) {
        let Some((end, key_text, start)) = self.closing.pop_first() else { return };
        let Some(pane) = self.panes.remove(&(key_text.clone(), start)) else { return };
        let mut value = Map::new();
        value.insert("window".into(), json!({ "start": start, "end": end }));
        if self.group_by.is_some() {
            value.insert("key".into(), pane.key);
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
        while self.panes.len() > self.max_open {
            self.emit_first(out);
            let consequence = "window block reached max_open_windows; emitting the oldest windows early (raise the cap or shorten the windows)";
            self.evictions.record(out, "max_open_windows", self.max_open, consequence);
        }
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
        let (t, key_text, key, values) = match self.extract(&message) {
            Ok(extracted) => extracted,
            Err(error) => return out.fail(message, error),
        };
        let watermark = self.watermark();
        let acks = message.acks.take();
        match self.kind {
            WindowKind::Session => {
                if watermark.is_some_and(|w| t + self.gap <= w) {
                    message.acks = acks;
                    return out.emit_to(LATE_PORT, message);
                }
                self.add_to_session(key_text, &key, t, &values, acks);
            }
            WindowKind::Tumbling | WindowKind::Sliding => {
                let starts: Vec<i64> =
                    self.starts(t).into_iter().filter(|s| watermark.is_none_or(|w| s + self.size > w)).collect();
                let Some((&last, rest)) = starts.split_last() else {
                    message.acks = acks;
                    return out.emit_to(LATE_PORT, message);
                };
                for &start in rest {
                    self.add_to((key_text.clone(), start), start + self.size, &key, t, &values, acks.clone());
                }
                self.add_to((key_text, last), last + self.size, &key, t, &values, acks);
            }
        }
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
        self.closing.first().map(|(end, _, _)| self.clock.instant(*end))
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Emitter) {
        let now = self.clock.at(now);
        self.close_until(now, out);
    }

    fn on_close(&mut self, out: &mut Emitter) {
        while !self.closing.is_empty() {
            self.emit_first(out);
        }
    }

    fn state_size(&self) -> usize {
        self.panes.len()
    }
}
