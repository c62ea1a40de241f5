//! The Kafka source's consumer callbacks: rebalances, commits and statistics.
//!
//! librdkafka calls them from inside the consumer's poll, which the source's own task drives, so
//! the state they share with the task ([`State`]) is never contended; it sits behind a mutex only
//! because the context must be `Sync`.
//!
//! When partitions are revoked, the callback first waits (at most `revoke_timeout`) for the
//! messages of those partitions still in flight downstream. The source's task is inside this
//! callback, so the callback drains the acknowledgements itself: on a multi-threaded runtime (the
//! one `runnel run` uses) it steps out of the worker with `block_in_place` while the rest of the
//! pipeline keeps running; on a current-thread runtime nothing else can run, so it takes the
//! acknowledgements already there and does not wait. Then it commits what finished, synchronously,
//! and forgets the partitions: acknowledgements that arrive later are ignored, and the partitions'
//! next owner reads the unfinished messages again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::metrics::KafkaMetrics;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};
use runnel_engine::{AckReceiver, Readiness};

use super::health::ClientHealth;
use tokio::runtime::{Handle, RuntimeFlavor};

use super::offsets::{Commit, Offsets};

/// What the source's task and the consumer's callbacks share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) offsets: Offsets,
    /// The acknowledgements of the source's messages; taken out while someone awaits them.
    pub(crate) acks: Option<AckReceiver>,
    /// Partitions paused after a failure, by slot, with when to read them again.
    pub(crate) paused: HashMap<usize, Instant>,
}

impl State {
    /// Applies every acknowledgement already received.
    pub(crate) fn drain_acks(&mut self) {
        let Some(acks) = self.acks.as_mut() else { return };
        while let Ok(ack) = acks.try_recv() {
            self.offsets.ack(ack.id, ack.status);
        }
    }
}

/// The consumer's context.
#[derive(Debug)]
pub(crate) struct SourceContext {
    node: Arc<str>,
    state: Mutex<State>,
    metrics: KafkaMetrics,
    revoke_timeout: Duration,
    health: ClientHealth,
}

impl SourceContext {
    pub(crate) fn new(node: Arc<str>, acks: AckReceiver, metrics: KafkaMetrics, revoke_timeout: Duration, readiness: Readiness) -> Self {
        let state = State { offsets: Offsets::default(), acks: Some(acks), paused: HashMap::new() };
        let health = ClientHealth::new(node.clone(), readiness);
        Self { node, state: Mutex::new(state), metrics, revoke_timeout, health }
    }

    /// The consumer heard from a broker.
    pub(crate) fn reached(&self) {
        self.health.reached();
    }

    /// The shared state. A panic while it was held leaves it usable: every change is a single
    /// step on plain data.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn metrics(&self) -> &KafkaMetrics {
        &self.metrics
    }

    /// Stores `commits` as the offsets librdkafka commits (every `commit_interval_ms`, and when
    /// partitions are revoked or the consumer closes).
    pub(crate) fn store<C: Consumer<Self>>(&self, consumer: &C, commits: &[Commit]) {
        if commits.is_empty() {
            return;
        }
        if let Err(error) = consumer.store_offsets(&offset_list(commits)) {
            // A partition revoked meanwhile: its next owner reads from the last commit.
            tracing::debug!(node = %self.node, %error, "offsets not stored");
        }
    }

    /// Stores `commits` and commits them now, waiting for the broker.
    pub(crate) fn commit_now<C: Consumer<Self>>(&self, consumer: &C, commits: &[Commit]) {
        if commits.is_empty() {
            return;
        }
        self.store(consumer, commits);
        // librdkafka reports synchronous commits only to their caller.
        self.count_commit(&consumer.commit(&offset_list(commits), CommitMode::Sync));
    }

    fn count_commit(&self, result: &KafkaResult<()>) {
        match result {
            Ok(()) => self.metrics.commits("ok").inc(),
            Err(error) => {
                self.metrics.commits("error").inc();
                tracing::warn!(node = %self.node, %error, "offset commit failed; the next one will include these offsets");
            }
        }
    }

    fn assign(&self, list: &TopicPartitionList) {
        self.metrics.rebalances("assign").inc();
        let mut state = self.lock();
        for element in list.elements() {
            match state.offsets.slot(element.topic(), element.partition()) {
                Ok(slot) => state.offsets.assign(slot),
                Err(error) => tracing::error!(node = %self.node, %error, "partition not tracked"),
            }
        }
        tracing::info!(node = %self.node, partitions = list.count(), "partitions assigned");
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, list: &TopicPartitionList) {
        self.metrics.rebalances("revoke").inc();
        let slots: Vec<usize> = {
            let state = self.lock();
            list.elements().iter().filter_map(|e| state.offsets.find(e.topic(), e.partition())).collect()
        };
        self.wait_for(&slots);
        let (commits, given_up) = {
            let mut state = self.lock();
            state.drain_acks();
            (state.offsets.take_commits(Some(&slots)), state.offsets.pending_in(&slots))
        };
        self.commit_now(consumer, &commits);
        let mut state = self.lock();
        for slot in &slots {
            state.offsets.revoke(*slot);
            state.paused.remove(slot);
            let partition = state.offsets.partition(*slot);
            self.metrics.remove_lag(&partition.topic, partition.partition);
        }
        if given_up > 0 {
            tracing::warn!(node = %self.node, given_up, "partitions revoked with messages still in flight; their next owner reads them again");
        } else {
            tracing::info!(node = %self.node, partitions = list.count(), "partitions revoked");
        }
    }

    /// Waits, at most `revoke_timeout`, until the messages of `slots` in flight have finished.
    fn wait_for(&self, slots: &[usize]) {
        let mut acks = {
            let mut state = self.lock();
            state.drain_acks();
            if state.offsets.pending_in(slots) == 0 {
                return;
            }
            match state.acks.take() {
                Some(acks) => acks,
                None => return,
            }
        };
        let deadline = tokio::time::Instant::now() + self.revoke_timeout;
        let wait = async {
            loop {
                match tokio::time::timeout_at(deadline, acks.recv()).await {
                    Ok(Some(ack)) => {
                        let mut state = self.lock();
                        state.offsets.ack(ack.id, ack.status);
                        if state.offsets.pending_in(slots) == 0 {
                            return;
                        }
                    }
                    Ok(None) | Err(_) => return,
                }
            }
        };
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(wait));
            }
            _ => drop(wait),
        }
        self.lock().acks = Some(acks);
    }
}

fn offset_list(commits: &[Commit]) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(commits.len());
    for commit in commits {
        // Only an offset of the wrong kind fails, and these are all absolute.
        let _ = list.add_partition_offset(&commit.topic, commit.partition, Offset::Offset(commit.offset));
    }
    list
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.health.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.health.error(&error, reason);
    }

    /// The lag of every owned partition: the high watermark minus the committed offset, or,
    /// before the group's first commit in the partition, every message it still holds.
    fn stats(&self, statistics: Statistics) {
        self.health.stats(&statistics);
        let state = self.lock();
        for (topic, stats) in &statistics.topics {
            for (partition, stats) in &stats.partitions {
                let owned = state.offsets.find(topic, *partition).is_some_and(|s| state.offsets.partition(s).is_assigned());
                let lag = match stats.consumer_lag {
                    lag if lag >= 0 => lag,
                    _ if stats.hi_offset >= 0 && stats.lo_offset >= 0 => stats.hi_offset - stats.lo_offset,
                    _ => continue,
                };
                if owned {
                    self.metrics.lag(topic, *partition).set(lag);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.revoke(consumer, list);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                self.health.reached();
                self.assign(list);
                // A partition paused for a rewind and then revoked must not come back paused: its
                // pause was forgotten with the rest of its state.
                if let Err(error) = consumer.resume(list) {
                    tracing::debug!(node = %self.node, %error, "cannot resume assigned partitions");
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!(node = %self.node, %error, "rebalance failed"),
        }
    }

    /// Results of librdkafka's periodic commits of the stored offsets.
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        // Nothing new was stored since the last commit: no commit was made.
        if let Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) = result {
            return;
        }
        self.count_commit(&result);
    }
}
