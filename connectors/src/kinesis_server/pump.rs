//! The source side: every record stored in a shard log goes into the pipeline as the
//! Lambda-shaped record message ([`crate::kinesis::record`]), in batches of up to the pipeline's
//! batch size, one shard at a time; each batch is tracked as one acknowledgement. A shard's
//! checkpoint moves past a batch once it and every batch before it are delivered or dropped on
//! purpose; a failed or abandoned batch stops that shard's checkpoint for the rest of the run, so
//! a restart emits it again (at least once, never lost).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runnel_engine::{AckReceiver, AckStatus, AckTracker, BlockError, CancellationToken, Message, Output};

use super::checkpoint::{Checkpoints, StreamCheckpoint};
use super::sequence;
use super::shard_log::Hint;
use super::streams::{StreamState, Streams};
use crate::kinesis::record::{KinesisRecord, RecordContext};

/// Checkpoints are written at most this often while records flow (and at shutdown).
const SAVE_EVERY: Duration = Duration::from_millis(200);
/// Bytes of one batch read from a shard, about, at most.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Batches in flight per shard at most: past it the shard waits for acknowledgements.
const MAX_IN_FLIGHT: usize = 64;

/// One shard being emitted.
#[derive(Debug)]
struct Cursor {
    stream: Arc<StreamState>,
    context: Arc<RecordContext>,
    index: u32,
    /// The next record to read.
    read: u64,
    hint: Option<Hint>,
    /// Batches in flight, in order: id, the record after the batch, whether finished.
    batches: VecDeque<(u64, u64, bool)>,
    /// The checkpoint: everything before it is finished.
    done: u64,
    /// A batch failed: the checkpoint stays for the rest of the run.
    stuck: bool,
}

/// Reads the shard logs into the pipeline and keeps the checkpoints.
#[derive(Debug)]
pub(crate) struct Pump {
    pub(crate) streams: Arc<Streams>,
    pub(crate) node: Arc<str>,
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) checkpoints: Checkpoints,
    cursors: HashMap<(String, u32), Cursor>,
    batches: HashMap<u64, (String, u32)>,
    next_batch: u64,
    dirty: bool,
    saved: Instant,
}

impl Pump {
    /// A pump starting from `checkpoints` (in which the build put the first run's positions).
    pub(crate) fn new(streams: Arc<Streams>, node: Arc<str>, region: String, account: String, checkpoints: Checkpoints) -> Self {
        Self {
            streams,
            node,
            region,
            account,
            checkpoints,
            cursors: HashMap::new(),
            batches: HashMap::new(),
            next_batch: 0,
            dirty: false,
            saved: Instant::now(),
        }
    }

    /// Emits until the shutdown; then waits for what is in flight to be acknowledged (the
    /// pipeline drains) and saves the checkpoints.
    pub(crate) async fn run(
        mut self,
        tracker: AckTracker,
        mut acks: AckReceiver,
        mut output: Output,
        shutdown: CancellationToken,
        batch_size: usize,
    ) -> Result<(), BlockError> {
        loop {
            self.follow_streams();
            while let Ok(ack) = acks.try_recv() {
                self.ack(ack.id, ack.status);
            }
            let sent = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                sent = self.emit(&tracker, &mut output, batch_size) => sent?,
            };
            self.save_if_due(false);
            if sent {
                continue;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(ack) = acks.recv() => self.ack(ack.id, ack.status),
                () = self.streams.changed.notified() => {}
                () = tokio::time::sleep(SAVE_EVERY), if self.dirty => {}
            }
        }
        drop(output);
        drop(tracker);
        while let Some(ack) = acks.recv().await {
            self.ack(ack.id, ack.status);
        }
        self.save_if_due(true);
        Ok(())
    }

    /// Starts emitting new streams and forgets deleted ones.
    fn follow_streams(&mut self) {
        let streams = self.streams.all();
        self.cursors.retain(|(name, _), cursor| streams.iter().any(|s| Arc::ptr_eq(s, &cursor.stream) && s.meta.name == *name));
        self.checkpoints.streams.retain(|name, _| streams.iter().any(|s| s.meta.name == *name));
        for stream in streams {
            let name = &stream.meta.name;
            if self.cursors.contains_key(&(name.clone(), 0)) {
                continue;
            }
            let checkpoint = self.checkpoints.streams.entry(name.clone()).or_default();
            if checkpoint.created_ms != stream.meta.created_ms {
                // Created while running (or again, under the same name): all of it.
                *checkpoint = StreamCheckpoint { created_ms: stream.meta.created_ms, shards: vec![0; stream.shards.len()] };
                self.dirty = true;
            }
            checkpoint.shards.resize(stream.shards.len(), 0);
            let context = Arc::new(RecordContext::new(Arc::clone(&self.node), name, &self.region, &self.account));
            for shard in &stream.shards {
                let at = checkpoint.shards[shard.index as usize];
                shard.delivered.send_replace(at);
                let cursor = Cursor {
                    stream: Arc::clone(&stream),
                    context: Arc::clone(&context),
                    index: shard.index,
                    read: at,
                    hint: None,
                    batches: VecDeque::new(),
                    done: at,
                    stuck: false,
                };
                self.cursors.insert((name.clone(), shard.index), cursor);
            }
        }
    }

    /// Sends a batch from every shard that has records and room; whether any was sent.
    async fn emit(&mut self, tracker: &AckTracker, output: &mut Output, batch_size: usize) -> Result<bool, BlockError> {
        let mut sent = false;
        let keys: Vec<(String, u32)> = self.cursors.keys().cloned().collect();
        for key in keys {
            let Some(cursor) = self.cursors.get_mut(&key) else { continue };
            if cursor.batches.len() >= MAX_IN_FLIGHT || cursor.read >= cursor.stream.shards[cursor.index as usize].log.snapshot().next {
                continue;
            }
            let (stream, index, from, hint) = (Arc::clone(&cursor.stream), cursor.index as usize, cursor.read, cursor.hint);
            let read = tokio::task::spawn_blocking(move || stream.shards[index].log.read(from, batch_size, MAX_BATCH_BYTES, hint)).await;
            let batch = match read {
                Ok(Ok(batch)) => batch,
                Ok(Err(error)) => {
                    tracing::error!(stream = %key.0, shard = index, %error, "cannot read a shard log");
                    continue;
                }
                Err(error) => return Err(BlockError::other(format!("reading a shard log failed: {error}"))),
            };
            if batch.records.is_empty() {
                // Trimmed past what was to be read: go on from what is kept.
                if batch.next > cursor.read {
                    tracing::warn!(stream = %key.0, shard = index, from = cursor.read, to = batch.next, "records were trimmed by retention before they were emitted");
                    cursor.read = batch.next;
                }
                continue;
            }
            let id = self.next_batch;
            self.next_batch += 1;
            let now = std::time::Instant::now();
            let tokens = tracker.batch_at(id, batch.records.len(), now);
            let shard = &cursor.stream.shards[index];
            let created_ms = cursor.stream.meta.created_ms;
            let messages: Vec<Message> = batch
                .records
                .iter()
                .zip(tokens)
                .map(|(record, acks)| {
                    let sequence_number = sequence::sequence_number(created_ms, shard.index, record.counter);
                    let mut message = cursor.context.message(&KinesisRecord {
                        shard_id: &shard.id,
                        shard_index: shard.index as i32,
                        sequence_number: &sequence_number,
                        partition_key: &record.partition_key,
                        data: &record.data,
                        arrival_ms: record.arrival_ms,
                        counter: Some(record.counter),
                    });
                    message.acks = acks;
                    message
                })
                .collect();
            if !cursor.stuck {
                cursor.batches.push_back((id, batch.next, false));
                self.batches.insert(id, key.clone());
            }
            cursor.read = batch.next;
            cursor.hint = batch.hint;
            output.send(messages).await?;
            sent = true;
        }
        Ok(sent)
    }

    /// Records the outcome of batch `id`.
    fn ack(&mut self, id: u64, status: AckStatus) {
        let Some(key) = self.batches.remove(&id) else { return };
        let Some(cursor) = self.cursors.get_mut(&key) else { return };
        let Ok(index) = cursor.batches.binary_search_by_key(&id, |b| b.0) else { return };
        if !status.is_done() {
            tracing::warn!(stream = %key.0, shard = key.1, %status, at = cursor.done, "a batch was not delivered: the shard's checkpoint stays before it until a restart");
            cursor.stuck = true;
            for (id, _, _) in cursor.batches.drain(..) {
                self.batches.remove(&id);
            }
            return;
        }
        cursor.batches[index].2 = true;
        while let Some(&(_, end, true)) = cursor.batches.front() {
            cursor.done = end;
            cursor.batches.pop_front();
        }
        cursor.stream.shards[cursor.index as usize].delivered.send_replace(cursor.done);
        if let Some(checkpoint) = self.checkpoints.streams.get_mut(&key.0).filter(|c| c.created_ms == cursor.stream.meta.created_ms) {
            if let Some(slot) = checkpoint.shards.get_mut(key.1 as usize) {
                if *slot != cursor.done {
                    *slot = cursor.done;
                    self.dirty = true;
                }
            }
        }
    }

    fn save_if_due(&mut self, now: bool) {
        if !self.dirty || (!now && self.saved.elapsed() < SAVE_EVERY) {
            return;
        }
        match self.checkpoints.save() {
            Ok(()) => {
                self.dirty = false;
                self.saved = Instant::now();
            }
            Err(error) => tracing::error!(path = %self.checkpoints.path().display(), %error, "cannot save the kinesis_server checkpoints"),
        }
    }
}
