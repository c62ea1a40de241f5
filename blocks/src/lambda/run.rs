//! The `lambda` block's task: reads records into lanes, invokes the handler for each lane's due
//! batch (one future per batch in flight, never one per record), and sends what each answer
//! decides.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use hashbrown::HashMap;
use runnel_engine::{AckStatus, Block, BlockError, Message, Metadata, Output, RunContext, async_trait, sleep_until};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::config::LambdaConfig;
use super::failure::{Condition, Discard, iso_seconds, on_failure_record};
use super::filter::Filters;
use super::handler::{Handler, HandlerError};
use super::lane::{Lane, MAX_PAYLOAD, MAX_STATE, OpenWindow, Pace, Part, Settings};
use super::record::{EventSource, Record, lane_of, read};
use super::response::{Verdict, judge};
use crate::time::Clock;

const OUT_PORT: usize = 0;
const ON_FAILURE_PORT: usize = 1;
const WINDOWS_PORT: usize = 2;

/// Records held at most (waiting and being invoked), per lane of batch size, before the block
/// stops reading its input: enough to fill the next batches while one is in flight.
const HELD_BATCHES_PER_LANE: usize = 4;
/// Bytes of records held at most before the block stops reading (a few full payloads).
const MAX_HELD_BYTES: usize = 8 * MAX_PAYLOAD;

/// The running `lambda` block.
#[derive(Debug)]
pub(crate) struct Lambda {
    name: Arc<str>,
    handler: Arc<dyn Handler>,
    settings: Settings,
    report_failures: bool,
    source: EventSource,
    bootstrap_servers: Option<Arc<str>>,
    lanes_per_shard: usize,
    filters: Filters,
    clock: Clock,
    shards: Vec<Shard>,
    index: HashMap<Box<str>, usize>,
    held: usize,
    held_bytes: usize,
    max_held: usize,
}

#[derive(Debug)]
struct Shard {
    id: Arc<str>,
    /// The `eventSourceARN` of the shard's latest record.
    arn: Arc<str>,
    lanes: Vec<Lane>,
}

/// An invocation that finished.
struct Done {
    shard: usize,
    lane: usize,
    response: Result<Value, HandlerError>,
}

/// What one step decided to send.
#[derive(Default)]
struct Sends {
    out: Vec<Message>,
    on_failure: Vec<Message>,
    windows: Vec<Message>,
}

impl Lambda {
    pub(crate) fn new(config: LambdaConfig, name: Arc<str>, handler: Arc<dyn Handler>) -> Self {
        let settings = Settings {
            batch_size: config.batch_size,
            batching_window: config.maximum_batching_window.map_or(Duration::ZERO, |w| w.duration()),
            bisect: config.bisect_batch_on_function_error,
            retry_limit: config.retry_limit(),
            max_age_ms: config.maximum_record_age.map(|age| age.millis()),
            window_ms: config.window_ms(),
        };
        let max_held = (HELD_BATCHES_PER_LANE * config.batch_size * config.parallelization_factor).max(1024);
        Self {
            name,
            handler,
            report_failures: config.report_batch_item_failures,
            source: config.event_source,
            bootstrap_servers: config.bootstrap_servers.as_deref().map(Arc::from),
            lanes_per_shard: config.parallelization_factor.max(1),
            filters: Filters::new(&config.filter_criteria),
            settings,
            clock: Clock::new(),
            shards: Vec::new(),
            index: HashMap::new(),
            held: 0,
            held_bytes: 0,
            max_held,
        }
    }

    fn full(&self) -> bool {
        self.held >= self.max_held || self.held_bytes >= MAX_HELD_BYTES
    }

    /// Reads a batch of input: records join their lanes; the rest is filtered or failed.
    async fn accept(&mut self, batch: Vec<Message>, output: &mut Output) -> Result<(), BlockError> {
        let now = Instant::now();
        let mut failures = Vec::new();
        let mut filtered = 0;
        for message in batch {
            let placed = match read(self.source, &message) {
                Err(reason) => Err(reason),
                Ok(shape) if !self.filters.keep(self.source, &message, &shape) => Ok(None),
                Ok(shape) => {
                    let arn = message.value()["eventSourceARN"].as_str().unwrap_or_default();
                    let shard = self.shard(&shape.shard, arn);
                    let lane = lane_of(shape.partition_key, self.lanes_per_shard);
                    Ok(Some((shard, lane, shape.arrival_ms, Record::size_of(&message, &shape))))
                }
            };
            match placed {
                Err(reason) => failures.push((message, reason)),
                Ok(None) => {
                    filtered += 1;
                    message.ack(AckStatus::Dropped);
                }
                Ok(Some((shard, lane, arrival_ms, size))) => {
                    self.held += 1;
                    self.held_bytes += size;
                    self.shards[shard].lanes[lane].push(Record { message, arrival_ms, size }, now);
                }
            }
        }
        output.count_filtered(filtered);
        output.fail(failures).await
    }

    /// The index of shard `id`, added if new; its ARN follows its latest record's.
    fn shard(&mut self, id: &str, arn: &str) -> usize {
        if let Some(&index) = self.index.get(id) {
            if &*self.shards[index].arn != arn {
                self.shards[index].arn = Arc::from(arn);
            }
            return index;
        }
        let lanes = (0..self.lanes_per_shard).map(|_| Lane::default()).collect();
        self.shards.push(Shard { id: Arc::from(id), arn: Arc::from(arn), lanes });
        self.index.insert(id.into(), self.shards.len() - 1);
        self.shards.len() - 1
    }

    /// Starts an invocation on every lane whose batch is due; discards parts too old to invoke.
    fn start_due(&mut self, draining: bool, in_flight: &mut FuturesUnordered<BoxFuture<'static, Done>>, sends: &mut Sends) {
        let now = Instant::now();
        let now_ms = self.clock.now_ms();
        let pace = match (draining, self.full()) {
            (true, _) => Pace::Draining,
            (false, true) => Pace::Hurry,
            (false, false) => Pace::Normal,
        };
        for shard_index in 0..self.shards.len() {
            for lane_index in 0..self.lanes_per_shard {
                loop {
                    let shard = &mut self.shards[shard_index];
                    let lane = &mut shard.lanes[lane_index];
                    if !lane.next(&self.settings, now, now_ms, pace) {
                        break;
                    }
                    let max_age = self.settings.max_age_ms;
                    let too_old =
                        lane.front().is_some_and(|part| part.records.iter().any(|r| max_age.is_some_and(|age| now_ms - r.arrival_ms > age)));
                    if too_old {
                        let part = lane.discard_front();
                        self.discard(shard_index, lane_index, part, Condition::RecordAgeExceeded, now_ms, sends);
                        continue;
                    }
                    let event = match self.source {
                        EventSource::Kinesis => lane.start(&shard.id, &shard.arn, self.settings.window_ms),
                        EventSource::Kafka => lane.start_kafka(self.bootstrap_servers.as_deref()),
                    };
                    let handler = Arc::clone(&self.handler);
                    in_flight.push(Box::pin(async move {
                        let response = handler.invoke(event).await;
                        Done { shard: shard_index, lane: lane_index, response }
                    }));
                    break;
                }
            }
        }
    }

    /// Applies the answer of a finished invocation.
    fn complete(&mut self, done: Done, sends: &mut Sends) {
        let now = Instant::now();
        let now_ms = self.clock.now_ms();
        let window = self.settings.window_ms.is_some();
        let (shard, lane) = (done.shard, done.lane);
        let Some(part) = self.shards[shard].lanes[lane].front() else { return };
        match judge(done.response, &part.records, self.report_failures, window) {
            Verdict::Success { state } => {
                if let Some(part) = self.shards[shard].lanes[lane].succeeded() {
                    self.window_progress(shard, lane, &part, state, sends);
                    self.release(part.records, sends);
                }
            }
            Verdict::Partial { ok, state } => {
                let lane_state = &mut self.shards[shard].lanes[lane];
                if let (Some(state), Some(open)) = (state, lane_state.window.as_mut()) {
                    open.state = state;
                    open.invoked = true;
                }
                let (records, exhausted) = lane_state.partly_succeeded(ok, &self.settings, now);
                self.release(records, sends);
                self.discard(shard, lane, exhausted, Condition::RetryAttemptsExhausted, now_ms, sends);
            }
            Verdict::Failure(reason) => {
                let exhausted = self.shards[shard].lanes[lane].failed(&self.settings, now);
                let id = &self.shards[shard].id;
                match &exhausted {
                    Some(part) => {
                        tracing::warn!(node = %self.name, shard = %id, %reason, records = part.records.len(), "batch discarded after its retries")
                    }
                    None => tracing::debug!(node = %self.name, shard = %id, %reason, "invocation failed"),
                }
                self.discard(shard, lane, exhausted, Condition::RetryAttemptsExhausted, now_ms, sends);
            }
        }
    }

    /// A window invocation succeeded: keep the new state, or send the window's result after
    /// its final invocation.
    fn window_progress(&mut self, shard: usize, lane: usize, part: &Part, state: Option<Value>, sends: &mut Sends) {
        let (Some(call), Some(length)) = (part.window, self.settings.window_ms) else { return };
        let shard = &mut self.shards[shard];
        let Some(open) = shard.lanes[lane].window.as_mut() else { return };
        let state = state.unwrap_or_else(|| json!({}));
        if !call.last {
            open.early = state_size(&state) > MAX_STATE;
            open.state = state;
            open.invoked = true;
            return;
        }
        let result = json!({
            "window": {"start": iso_seconds(call.start_ms), "end": iso_seconds(call.start_ms + length)},
            "shardId": &*shard.id,
            "eventSourceARN": &*shard.arn,
            "state": state,
            "isWindowTerminatedEarly": call.early,
        });
        sends.windows.push(Message::with_meta(result, Metadata::default()));
        if call.early {
            // The same window goes on with a fresh state (§1.6).
            *open = OpenWindow { start_ms: call.start_ms, state: json!({}), invoked: false, early: false };
        } else {
            shard.lanes[lane].window = None;
        }
    }

    /// Processed records go out as they came, with their acknowledgements.
    fn release(&mut self, records: Vec<Record>, sends: &mut Sends) {
        for record in records {
            self.held -= 1;
            self.held_bytes -= record.size;
            sends.out.push(record.message);
        }
    }

    fn discard(&mut self, shard: usize, lane: usize, part: Option<Part>, condition: Condition, now_ms: i64, sends: &mut Sends) {
        let Some(part) = part else { return };
        if part.window.is_some_and(|call| call.last) {
            // A part that held records and carried "final" (the end of a batch, or of a
            // bisected one) leaves the window open: what succeeded before built its state, and
            // the window's final invocation comes next, without records. A final invocation
            // without records that failed closes the window: its state is lost with it.
            let open = &mut self.shards[shard].lanes[lane].window;
            let owed = !part.records.is_empty() && open.as_ref().is_some_and(|open| open.invoked || open.early);
            if !owed {
                *open = None;
            }
        }
        self.discard_records(shard, part, condition, now_ms, sends);
    }

    fn discard_records(&mut self, shard: usize, part: Part, condition: Condition, now_ms: i64, sends: &mut Sends) {
        if part.records.is_empty() {
            return;
        }
        for record in &part.records {
            self.held -= 1;
            self.held_bytes -= record.size;
        }
        let discard = Discard {
            function: &self.name,
            shard: &self.shards[shard].id,
            condition,
            invokes: part.invokes,
            now_ms,
            source: self.source,
            bootstrap_servers: self.bootstrap_servers.as_deref(),
        };
        sends.on_failure.push(on_failure_record(&discard, part.records));
    }

    fn deadline(&self) -> Option<Instant> {
        self.shards.iter().flat_map(|shard| shard.lanes.iter()).filter_map(|lane| lane.deadline(&self.settings, &self.clock)).min()
    }

    fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| shard.lanes.iter().all(Lane::is_empty))
    }
}

/// A state's size as JSON text, counted without building the text.
fn state_size(state: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, state);
    count.0
}

#[async_trait]
impl Block for Lambda {
    async fn run(mut self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let RunContext { mut input, mut output, shutdown, .. } = cx;
        let mut in_flight: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
        let mut input_done = false;
        let mut stopping = false;
        loop {
            let mut sends = Sends::default();
            if !stopping {
                self.start_due(input_done, &mut in_flight, &mut sends);
            }
            send(&mut output, sends).await?;
            if input_done && in_flight.is_empty() && (stopping || self.is_empty()) {
                break;
            }
            let deadline = if stopping { None } else { self.deadline() };
            let mut sends = Sends::default();
            tokio::select! {
                batch = input.next(), if !input_done && (stopping || !self.full()) => match batch {
                    // Once stopping, what arrives is dropped unresolved: abandoned, to be read again.
                    Some(batch) if stopping => drop(batch),
                    Some(batch) => self.accept(batch, &mut output).await?,
                    None => input_done = true,
                },
                Some(done) = in_flight.next(), if !in_flight.is_empty() => self.complete(done, &mut sends),
                () = sleep_until(deadline) => {}
                () = shutdown.cancelled(), if !stopping => stopping = true,
            }
            send(&mut output, sends).await?;
        }
        Ok(())
    }
}

async fn send(output: &mut Output, sends: Sends) -> Result<(), BlockError> {
    output.send_to(OUT_PORT, sends.out).await?;
    output.send_to(ON_FAILURE_PORT, sends.on_failure).await?;
    output.send_to(WINDOWS_PORT, sends.windows).await?;
    Ok(())
}
