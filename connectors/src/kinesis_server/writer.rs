//! The group commit: one writer per endpoint takes every append that waits (from any request,
//! stream or shard), writes each shard's frames in one `write`, syncs each shard it wrote to once
//! (with `fsync = "always"`), publishes the records to readers and only then answers them all.
//! A `PutRecords` answer of success therefore means the records are on the disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::clock::Clock;
use super::metrics::ServerMetrics;
use super::streams::{StreamState, Streams};

/// Appends that wait for the writer, at most (requests past it wait to be queued; each shard's
/// own queue bound is what throttles).
pub(crate) const QUEUED_APPENDS: usize = 4096;
/// Appends one group commit takes at most.
const MAX_GROUP: usize = 1024;
/// How often retention is applied.
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// When shard logs are synced to the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Once per group commit, before any of its records is answered: a success survives a
    /// power loss.
    #[default]
    Always,
    /// Every `fsync_interval_ms`: a success survives a crash of runnel, and a power loss takes
    /// at most the last interval.
    Interval,
    /// Left to the operating system: a success survives a crash of runnel only.
    Never,
}

/// One record to append.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The shard's index.
    pub(crate) shard: u32,
    /// Its partition key.
    pub(crate) partition_key: String,
    /// Its bytes.
    pub(crate) data: Vec<u8>,
}

/// Where a record was stored: its counter and arrival, or `None` when writing failed.
pub(crate) type Stored = Option<(u64, i64)>;

/// Records of one request, for one stream, and who waits for them.
#[derive(Debug)]
pub(crate) struct Append {
    /// The stream.
    pub(crate) stream: Arc<StreamState>,
    /// The records, in the request's order.
    pub(crate) entries: Vec<Entry>,
    /// Told where each was stored, in the same order.
    pub(crate) reply: oneshot::Sender<Vec<Stored>>,
}

/// The writer's task.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) streams: Arc<Streams>,
    pub(crate) policy: FsyncPolicy,
    pub(crate) interval: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: ServerMetrics,
}

impl Writer {
    /// Writes until every sender is gone, then syncs what is left.
    pub(crate) async fn run(self, mut queued: mpsc::Receiver<Append>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut tick = tokio::time::interval(self.interval.min(TRIM_EVERY));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut trimmed = Instant::now();
        loop {
            tokio::select! {
                count = queued.recv_many(&mut group, MAX_GROUP) => {
                    if count == 0 {
                        break;
                    }
                    group = self.commit(group).await;
                }
                _ = tick.tick() => {
                    if self.policy == FsyncPolicy::Interval {
                        self.sync_all().await;
                    }
                    if trimmed.elapsed() >= TRIM_EVERY {
                        trimmed = Instant::now();
                        self.trim().await;
                    }
                }
            }
        }
        if self.policy != FsyncPolicy::Never {
            self.sync_all().await;
        }
    }

    /// Writes `group`, answers it, and hands back the emptied vector.
    async fn commit(&self, group: Vec<Append>) -> Vec<Append> {
        let started = Instant::now();
        let now = self.clock.now_ms();
        let sync = self.policy == FsyncPolicy::Always;
        let metrics = self.metrics.clone();
        let result = tokio::task::spawn_blocking(move || {
            let stored = write_group(&group, now, sync, &metrics);
            (group, stored)
        })
        .await;
        let Ok((mut group, stored)) = result else {
            tracing::error!("a kinesis_server group commit panicked");
            return Vec::with_capacity(MAX_GROUP);
        };
        self.metrics.group_commits.inc();
        self.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
        self.streams.changed.notify_one();
        for (append, stored) in group.drain(..).zip(stored) {
            for entry in &append.entries {
                append.stream.shards[entry.shard as usize].queued.fetch_sub(1, Ordering::AcqRel);
            }
            let _ = append.reply.send(stored);
        }
        group
    }

    async fn sync_all(&self) {
        let streams = self.streams.all();
        let fsyncs = self.metrics.fsyncs.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for shard in streams.iter().flat_map(|s| s.shards.iter()) {
                if let Ok(mut writer) = shard.log.writer.lock() {
                    if writer.dirty {
                        fsyncs.inc();
                    }
                    if let Err(error) = writer.sync() {
                        tracing::error!(shard = %shard.id, %error, "cannot sync a shard log");
                    }
                }
            }
        })
        .await;
    }

    async fn trim(&self) {
        let streams = self.streams.all();
        let now = self.clock.now_ms();
        let _ = tokio::task::spawn_blocking(move || {
            for stream in &streams {
                let before = now - i64::from(stream.meta.retention_hours) * 3_600_000;
                for shard in &stream.shards {
                    match shard.log.trim(before) {
                        Ok(0) => {}
                        Ok(count) => {
                            tracing::info!(stream = %stream.meta.name, shard = %shard.id, segments = count, "retention trimmed old segments")
                        }
                        Err(error) => tracing::warn!(stream = %stream.meta.name, shard = %shard.id, %error, "cannot trim a shard log"),
                    }
                }
            }
        })
        .await;
    }
}

/// A shard being written in this group: its frames and the counter of the first.
struct Pending {
    first: u64,
    frames: Vec<u8>,
    ok: bool,
}

/// Writes and (when `sync`) syncs every record of `group`; where each was stored.
fn write_group(group: &[Append], now: i64, sync: bool, metrics: &ServerMetrics) -> Vec<Vec<Stored>> {
    // Shards by the address of their stream and their index: the group holds every stream alive.
    let mut pending: HashMap<(usize, u32), Pending> = HashMap::new();
    let mut counters: Vec<Vec<Option<u64>>> = Vec::with_capacity(group.len());
    for append in group {
        let stream_key = Arc::as_ptr(&append.stream) as usize;
        let deleted = append.stream.deleted.load(Ordering::SeqCst);
        let mut of_append = Vec::with_capacity(append.entries.len());
        for entry in &append.entries {
            let shard = &append.stream.shards[entry.shard as usize];
            let Ok(mut writer) = shard.log.writer.lock() else {
                of_append.push(None);
                continue;
            };
            if deleted {
                of_append.push(None);
                continue;
            }
            let slot = pending.entry((stream_key, entry.shard)).or_insert_with(|| Pending { first: writer.next(), frames: Vec::new(), ok: true });
            of_append.push(Some(writer.append(&mut slot.frames, now, &entry.partition_key, &entry.data)));
        }
        counters.push(of_append);
    }
    // Write, then sync, each shard; then publish them all.
    let shards: Vec<((usize, u32), &Arc<StreamState>)> = {
        let mut seen: HashMap<(usize, u32), &Arc<StreamState>> = HashMap::new();
        for append in group {
            for entry in &append.entries {
                seen.entry((Arc::as_ptr(&append.stream) as usize, entry.shard)).or_insert(&append.stream);
            }
        }
        seen.into_iter().filter(|(key, _)| pending.contains_key(key)).collect()
    };
    let mut started = HashMap::new();
    for (key, stream) in &shards {
        let shard = &stream.shards[key.1 as usize];
        let Some(slot) = pending.get_mut(key) else { continue };
        let Ok(mut writer) = shard.log.writer.lock() else {
            slot.ok = false;
            continue;
        };
        match writer.write(&slot.frames, slot.first) {
            Ok(segment) => {
                started.insert(*key, segment);
            }
            Err(error) => {
                tracing::error!(stream = %stream.meta.name, shard = %shard.id, %error, "cannot write to a shard log");
                slot.ok = false;
            }
        }
    }
    if sync {
        for (key, stream) in &shards {
            let shard = &stream.shards[key.1 as usize];
            let Some(slot) = pending.get_mut(key).filter(|s| s.ok) else { continue };
            let Ok(mut writer) = shard.log.writer.lock() else { continue };
            metrics.fsyncs.inc();
            if let Err(error) = writer.sync() {
                // What was written may or may not be on the disk: the records are answered as
                // failed (a retry may store them twice, never lose them).
                tracing::error!(stream = %stream.meta.name, shard = %shard.id, %error, "cannot sync a shard log");
                slot.ok = false;
            }
        }
    }
    for (key, stream) in &shards {
        let shard = &stream.shards[key.1 as usize];
        let Ok(writer) = shard.log.writer.lock() else { continue };
        let Ok(mut published) = shard.log.published.lock() else { continue };
        if let Some(Some(segment)) = started.remove(key) {
            published.segments.push(segment);
        }
        published.next = writer.next();
        if pending.get(key).is_some_and(|s| s.ok) {
            published.last_arrival_ms = Some(now);
            if let Some(last) = published.segments.last_mut() {
                last.last_arrival_ms = now;
            }
        }
    }
    let mut bytes = 0;
    let mut put = 0;
    let stored = group
        .iter()
        .zip(counters)
        .map(|(append, counters)| {
            let stream_key = Arc::as_ptr(&append.stream) as usize;
            append
                .entries
                .iter()
                .zip(counters)
                .map(|(entry, counter)| {
                    let ok = pending.get(&(stream_key, entry.shard)).is_some_and(|s| s.ok);
                    let counter = counter.filter(|_| ok)?;
                    put += 1;
                    bytes += entry.data.len() + entry.partition_key.len();
                    Some((counter, now))
                })
                .collect()
        })
        .collect();
    metrics.records_put.inc_by(put);
    metrics.bytes_put.inc_by(bytes as u64);
    stored
}
