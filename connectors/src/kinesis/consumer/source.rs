//! The running `kinesis` source. One task reads every shard: a `GetRecords` call per shard in
//! flight at most (all shards at once), each answer sent on as a batch whose acknowledgement
//! moves that shard's checkpoint. A shard read to its end (closed by resharding) is finished once
//! its records are all acknowledged; its children start then, from their first record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use runnel_engine::{Ack, AckTracker, Block, BlockError, Message, Metadata, Origin, Output, Readiness, RunContext, Stream, async_trait};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{CallError, Client, GetRecords, GetShardIterator, ListShards, Records, ShardIterator, ShardList};
use super::config::StartingPosition;
use super::lineage;
use super::metrics::ConsumerMetrics;
use crate::progress::{Moved, Progress};
use crate::state_file;

/// Batch ids carry the shard's slot in their high bits, so an acknowledgement finds its shard.
const SLOT_SHIFT: u32 = 40;

/// The longest wait between two tries of a failing call.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The state file's format.
const STATE_VERSION: u32 = 1;

/// What the source does, from its configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) stream: String,
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) starting: StartingPosition,
    pub(crate) timestamp: Option<f64>,
    pub(crate) limit: u32,
    pub(crate) poll_interval: Duration,
    pub(crate) discovery_interval: Duration,
    pub(crate) checkpoint_interval: Duration,
}

/// The `kinesis` source node.
#[derive(Debug)]
pub struct KinesisSource {
    pub(crate) client: Client,
    pub(crate) settings: Settings,
    pub(crate) state: Option<PathBuf>,
    pub(crate) metrics: ConsumerMetrics,
}

/// The checkpoints file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoints {
    stream: String,
    shards: BTreeMap<String, Saved>,
}

/// One shard's checkpoint.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    /// The last sequence number before which every record is acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sequence_number: Option<String>,
    /// Read to its end and every record acknowledged: its children may start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    finished: bool,
}

/// Where a shard's next iterator starts.
#[derive(Debug, Clone)]
enum Start {
    After(String),
    TrimHorizon,
    Latest,
    At(f64),
}

impl Start {
    fn request<'a>(&'a self, stream: &'a str, shard_id: &'a str) -> GetShardIterator<'a> {
        let (kind, sequence, timestamp) = match self {
            Self::After(sequence) => ("AFTER_SEQUENCE_NUMBER", Some(sequence.as_str()), None),
            Self::TrimHorizon => ("TRIM_HORIZON", None, None),
            Self::Latest => ("LATEST", None, None),
            Self::At(at) => ("AT_TIMESTAMP", None, Some(*at)),
        };
        GetShardIterator { stream_name: stream, shard_id, shard_iterator_type: kind, starting_sequence_number: sequence, timestamp }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    /// Read to its end; waiting for the acknowledgements of what was read.
    Closed,
    Finished,
}

/// A shard being read.
struct Shard {
    id: Arc<str>,
    index: Option<i32>,
    progress: Progress<String>,
    phase: Phase,
    iterator: Option<String>,
    /// The last record read, where a new iterator resumes after an expired one.
    last_read: Option<String>,
    /// Whether a shard without a checkpoint starts at the configured position (it existed when
    /// the source first started) or at its first record (resharding made it since).
    configured_start: bool,
    due: Instant,
    busy: bool,
    batches: u64,
    backoff: Duration,
    behind: prometheus::IntGauge,
}

/// One `GetRecords` call's outcome.
struct Fetched {
    slot: usize,
    result: Result<Records, CallError>,
}

/// Everything the running source keeps.
struct Reader {
    node: Arc<str>,
    client: Arc<Client>,
    settings: Settings,
    stream: Arc<Stream>,
    tracker: AckTracker,
    shards: Vec<Shard>,
    /// Every listed shard and its parents, from the last `ListShards`.
    listed: BTreeMap<String, Vec<String>>,
    /// Shards finished in this run or an earlier one.
    finished: BTreeSet<String>,
    /// Checkpoints read at start, for the shards not started yet.
    saved: BTreeMap<String, Saved>,
    /// Whether the source has started before (a state file exists).
    resumed: bool,
    /// Shards that existed at a first start: they begin at the configured position.
    first_listing: Option<BTreeSet<String>>,
    state: Option<PathBuf>,
    dirty: bool,
    metrics: ConsumerMetrics,
    readiness: Readiness,
    /// The ARN and role of the records' Lambda shape.
    source_arn: Arc<str>,
    role_arn: Arc<str>,
}

#[async_trait]
impl Block for KinesisSource {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Self { client, settings, state, metrics } = *self;
        let (tracker, mut acks) = cx.ack_tracker();
        let RunContext { name, mut output, shutdown, batch_size, readiness, .. } = cx;
        let loaded = match &state {
            Some(path) => state_file::load_json::<Checkpoints>(path, STATE_VERSION).map_err(|e| BlockError::other(e.to_string()))?,
            None => None,
        };
        if let Some(loaded) = &loaded
            && loaded.stream != settings.stream
        {
            return Err(BlockError::other(format!(
                "the checkpoints in {} are of stream `{}`, not `{}`: remove the file to start over",
                state.as_deref().unwrap_or_else(|| std::path::Path::new("?")).display(),
                loaded.stream,
                settings.stream
            )));
        }
        let resumed = loaded.is_some();
        let saved = loaded.map(|l| l.shards).unwrap_or_default();
        let finished = saved.iter().filter(|(_, s)| s.finished).map(|(id, _)| id.clone()).collect();
        let source_arn = format!("arn:aws:kinesis:{}:{}:stream/{}", settings.region, settings.account, settings.stream).into();
        let role_arn = format!("arn:aws:iam::{}:role/runnel", settings.account).into();
        let mut reader = Reader {
            stream: Stream::new(name.clone(), Some(settings.stream.as_str().into())),
            node: name,
            client: Arc::new(client),
            settings,
            tracker,
            shards: Vec::new(),
            listed: BTreeMap::new(),
            finished,
            saved,
            resumed,
            first_listing: None,
            state,
            dirty: false,
            metrics,
            readiness,
            source_arn,
            role_arn,
        };
        reader.readiness.set(false);
        let mut calls: FuturesUnordered<BoxFuture<'static, Fetched>> = FuturesUnordered::new();
        let mut next_discovery = Instant::now();
        let mut discovery_backoff = Duration::from_millis(100);
        let mut next_save = Instant::now() + reader.settings.checkpoint_interval;
        loop {
            if Instant::now() >= next_discovery {
                next_discovery = match reader.discover(&shutdown).await {
                    Ok(()) => {
                        discovery_backoff = Duration::from_millis(100);
                        Instant::now() + reader.settings.discovery_interval
                    }
                    Err(error) => {
                        tracing::warn!(node = %reader.node, %error, "cannot list the stream's shards; trying again");
                        discovery_backoff = (discovery_backoff * 2).min(MAX_BACKOFF);
                        Instant::now() + discovery_backoff
                    }
                };
            }
            reader.start_due(&mut calls);
            let wake = reader.next_due().unwrap_or(next_discovery).min(next_discovery).min(next_save);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(ack) = acks.recv() => {
                    if reader.acked(ack) {
                        next_discovery = Instant::now();
                    }
                }
                Some(fetched) = calls.next(), if !calls.is_empty() => {
                    if reader.fetched(fetched, &mut output, batch_size.get()).await? {
                        next_discovery = Instant::now();
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
            }
            if Instant::now() >= next_save {
                reader.save();
                next_save = Instant::now() + reader.settings.checkpoint_interval;
            }
        }
        // What was sent finishes as the pipeline drains: its acknowledgements still move the
        // checkpoints.
        drop(calls);
        drop(output);
        reader.tracker = AckTracker::new(None, None);
        while reader.shards.iter().any(|shard| !shard.progress.is_drained()) {
            match acks.recv().await {
                Some(ack) => {
                    reader.acked(ack);
                }
                None => break,
            }
        }
        reader.dirty = true;
        reader.save();
        Ok(())
    }
}

impl Reader {
    /// Lists the shards, and starts those whose parents are finished.
    async fn discover(&mut self, shutdown: &CancellationToken) -> Result<(), CallError> {
        let mut listed = BTreeMap::new();
        let mut token = None;
        loop {
            let input = match token.take() {
                None => ListShards { stream_name: Some(&self.settings.stream), next_token: None },
                Some(token) => ListShards { stream_name: None, next_token: Some(token) },
            };
            let page: ShardList = tokio::select! {
                page = self.client.call("ListShards", &input) => page,
                () = shutdown.cancelled() => return Ok(()),
            }
            .inspect_err(|_| self.metrics.request_errors.inc())?;
            for shard in &page.shards {
                listed.insert(shard.shard_id.clone(), lineage::parents(shard));
            }
            match page.next_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        if self.readiness.set(true) {
            tracing::info!(node = %self.node, shards = listed.len(), stream = %self.settings.stream, "reading the stream");
        }
        if self.first_listing.is_none() {
            self.first_listing = Some(if self.resumed {
                self.saved.iter().filter(|(_, s)| s.sequence_number.is_none() && !s.finished).map(|(id, _)| id.clone()).collect()
            } else {
                listed.keys().cloned().collect()
            });
        }
        self.listed = listed;
        self.promote();
        Ok(())
    }

    /// Starts the listed shards whose parents are all finished.
    fn promote(&mut self) {
        let started: BTreeSet<String> = self.shards.iter().map(|shard| shard.id.to_string()).collect();
        let ready: Vec<String> = lineage::ready(&self.listed, &started, &self.finished).into_iter().map(str::to_owned).collect();
        for id in ready {
            let saved = self.saved.remove(&id).unwrap_or_default();
            let configured_start = self.first_listing.as_ref().is_some_and(|first| first.contains(&id));
            tracing::debug!(node = %self.node, shard = %id, checkpoint = ?saved.sequence_number, "starting a shard");
            let behind = self.metrics.behind.with_label_values(&[&*self.node, id.as_str()]);
            self.shards.push(Shard {
                index: lineage::index(&id),
                id: id.into(),
                progress: Progress::new(saved.sequence_number),
                phase: Phase::Reading,
                iterator: None,
                last_read: None,
                configured_start,
                due: Instant::now(),
                busy: false,
                batches: 0,
                backoff: Duration::ZERO,
                behind,
            });
            self.dirty = true;
        }
        self.metrics.shards.set(i64::try_from(self.shards.iter().filter(|s| s.phase != Phase::Finished).count()).unwrap_or(i64::MAX));
    }

    /// When the next idle shard is due.
    fn next_due(&self) -> Option<Instant> {
        self.shards.iter().filter(|s| s.phase == Phase::Reading && !s.busy).map(|s| s.due).min()
    }

    /// Starts a call for every shard that is due.
    fn start_due(&mut self, calls: &mut FuturesUnordered<BoxFuture<'static, Fetched>>) {
        let now = Instant::now();
        for (slot, shard) in self.shards.iter_mut().enumerate() {
            if shard.phase != Phase::Reading || shard.busy || shard.due > now {
                continue;
            }
            shard.busy = true;
            let start = match (&shard.iterator, &shard.last_read, shard.progress.finished()) {
                (Some(_), _, _) => None,
                (None, Some(sequence), _) | (None, None, Some(sequence)) => Some(Start::After(sequence.clone())),
                (None, None, None) if !shard.configured_start => Some(Start::TrimHorizon),
                (None, None, None) => Some(match self.settings.starting {
                    StartingPosition::TrimHorizon => Start::TrimHorizon,
                    StartingPosition::Latest => Start::Latest,
                    StartingPosition::AtTimestamp => Start::At(self.settings.timestamp.unwrap_or_default()),
                }),
            };
            let client = Arc::clone(&self.client);
            let stream = self.settings.stream.clone();
            let shard_id = Arc::clone(&shard.id);
            let iterator = shard.iterator.clone();
            let limit = self.settings.limit;
            calls.push(Box::pin(async move {
                let result = fetch(&client, &stream, &shard_id, iterator, start, limit).await;
                Fetched { slot, result }
            }));
        }
    }

    /// Handles a call's outcome; sends what it read. Returns whether a shard closed, so that
    /// the shard list is read again for its children.
    async fn fetched(&mut self, fetched: Fetched, output: &mut Output, batch_size: usize) -> Result<bool, BlockError> {
        let Fetched { slot, result } = fetched;
        let node = Arc::clone(&self.node);
        let shard = &mut self.shards[slot];
        shard.busy = false;
        let records = match result {
            Ok(records) => records,
            Err(error) => {
                self.metrics.request_errors.inc();
                if error.kind() == Some("ExpiredIteratorException") {
                    tracing::debug!(node = %node, shard = %shard.id, "the shard iterator expired; getting a new one");
                    shard.iterator = None;
                    shard.due = Instant::now();
                } else {
                    shard.iterator = None;
                    shard.backoff = (shard.backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
                    shard.due = Instant::now() + shard.backoff;
                    if error.is_transient() {
                        tracing::warn!(node = %node, shard = %shard.id, %error, retry_in = ?shard.backoff, "reading a shard failed");
                    } else {
                        tracing::error!(node = %node, shard = %shard.id, %error, retry_in = ?shard.backoff, "reading a shard failed: check the stream and the credentials");
                    }
                }
                return Ok(false);
            }
        };
        shard.backoff = Duration::ZERO;
        self.metrics.get_records.inc();
        let behind = records.millis_behind_latest.unwrap_or(0);
        shard.behind.set(behind);
        let caught_up = records.records.is_empty() && behind == 0;
        shard.due = if caught_up { Instant::now() + self.settings.poll_interval } else { Instant::now() };
        shard.iterator = records.next_shard_iterator;
        let closed = shard.iterator.is_none();
        if closed {
            shard.phase = Phase::Closed;
            tracing::info!(node = %node, shard = %shard.id, children = records.child_shards.as_ref().map_or(0, Vec::len), "a shard is read to its end");
        }
        if let Some(last) = records.records.last() {
            let id = (slot as u64) << SLOT_SHIFT | shard.batches;
            shard.batches += 1;
            shard.last_read = Some(last.sequence_number.clone());
            shard.progress.sent(id, last.sequence_number.clone());
            self.metrics.records.inc_by(records.records.len() as u64);
            let tokens = self.tracker.batch_at(id, records.records.len(), std::time::Instant::now());
            let shard_id = Arc::clone(&shard.id);
            let index = shard.index;
            let mut batch = Vec::with_capacity(records.records.len().min(batch_size));
            for (record, acks) in records.records.into_iter().zip(tokens) {
                let mut message = self.message(&shard_id, index, record);
                message.acks = acks;
                batch.push(message);
                if batch.len() == batch_size {
                    output.send(std::mem::replace(&mut batch, Vec::with_capacity(batch_size))).await?;
                }
            }
            if !batch.is_empty() {
                output.send(batch).await?;
            }
        }
        Ok(closed && self.finish_closed())
    }

    /// A record as Lambda's Kinesis event record, with its metadata.
    fn message(&self, shard_id: &str, index: Option<i32>, record: super::client::Record) -> Message {
        let super::client::Record { sequence_number, approximate_arrival_timestamp, data, partition_key } = record;
        let mut attributes = Map::with_capacity(3);
        attributes.insert("stream".into(), Value::String(self.settings.stream.clone()));
        attributes.insert("shard_id".into(), Value::String(shard_id.to_owned()));
        attributes.insert("sequence_number".into(), Value::String(sequence_number.clone()));
        let meta = Metadata {
            key: Some(Bytes::from(partition_key.clone().into_bytes())),
            // Milliseconds: the arrival time is whole milliseconds in seconds.
            #[allow(clippy::cast_possible_truncation)]
            timestamp: Some((approximate_arrival_timestamp * 1000.0).round() as i64),
            origin: Origin { from: Some(Arc::clone(&self.stream)), partition: index, offset: None },
            attributes: Some(Arc::new(attributes)),
            size: u32::try_from(data.len() * 3 / 4).unwrap_or(u32::MAX),
            ..Metadata::default()
        };
        let value = json!({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": partition_key,
                "sequenceNumber": sequence_number,
                "data": data,
                "approximateArrivalTimestamp": approximate_arrival_timestamp,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": format!("{shard_id}:{sequence_number}"),
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": &*self.role_arn,
            "awsRegion": self.settings.region,
            "eventSourceARN": &*self.source_arn,
        });
        Message::with_meta(value, meta)
    }

    /// Records an acknowledgement. Returns whether a shard finished (its children may start).
    fn acked(&mut self, ack: Ack) -> bool {
        let slot = usize::try_from(ack.id >> SLOT_SHIFT).unwrap_or(usize::MAX);
        let Some(shard) = self.shards.get_mut(slot) else { return false };
        match shard.progress.acked(ack.id, ack.status) {
            Moved::Yes => self.dirty = true,
            Moved::Stalled(status) => {
                self.dirty = true;
                tracing::warn!(node = %self.node, shard = %shard.id, ?status, "records failed downstream: this shard's checkpoint stays before them, so a restart reads them again");
            }
            Moved::No => {}
        }
        shard.phase == Phase::Closed && self.finish_closed()
    }

    /// Marks the closed shards whose records are all acknowledged as finished, and starts their
    /// children. Returns whether one finished.
    fn finish_closed(&mut self) -> bool {
        let mut any = false;
        for shard in &mut self.shards {
            if shard.phase == Phase::Closed && shard.progress.is_drained() && !shard.progress.is_stalled() {
                shard.phase = Phase::Finished;
                self.finished.insert(shard.id.to_string());
                tracing::info!(node = %self.node, shard = %shard.id, "a closed shard is finished; its children may start");
                any = true;
            }
        }
        if any {
            self.dirty = true;
            self.save();
            self.promote();
        }
        any
    }

    /// Writes the checkpoints when they moved.
    fn save(&mut self) {
        let Some(path) = &self.state else { return };
        if !self.dirty {
            return;
        }
        let mut shards: BTreeMap<String, Saved> = self.saved.clone();
        for shard in &self.shards {
            let finished = shard.phase == Phase::Finished;
            shards.insert(shard.id.to_string(), Saved { sequence_number: shard.progress.finished().cloned(), finished });
        }
        for id in &self.finished {
            shards.entry(id.clone()).or_default().finished = true;
        }
        // A finished shard no longer listed is past retention: nothing will ask for it again.
        if !self.listed.is_empty() {
            shards.retain(|id, saved| !saved.finished || self.listed.contains_key(id));
        }
        let checkpoints = Checkpoints { stream: self.settings.stream.clone(), shards };
        match state_file::save_json(path, STATE_VERSION, &checkpoints) {
            Ok(()) => self.dirty = false,
            Err(error) => tracing::warn!(node = %self.node, %error, "cannot write the checkpoints; trying again later"),
        }
    }
}

/// Gets an iterator if needed, then reads one batch.
async fn fetch(
    client: &Client,
    stream: &str,
    shard_id: &str,
    iterator: Option<String>,
    start: Option<Start>,
    limit: u32,
) -> Result<Records, CallError> {
    let iterator = match (iterator, start) {
        (Some(iterator), _) => iterator,
        (None, start) => {
            let start = start.unwrap_or(Start::TrimHorizon);
            let got: ShardIterator = client.call("GetShardIterator", &start.request(stream, shard_id)).await?;
            got.shard_iterator
        }
    };
    client.call("GetRecords", &GetRecords { shard_iterator: &iterator, limit }).await
}
