//! The running `ethereum` source: connects, checks the chain, subscribes to new heads, and for
//! each head fetches the branch that leads to it from the last block it knows (a gap after a
//! reconnection or a restart, or the new blocks of a reorganisation). `Chain` says what to
//! retract and what is deep enough to emit; each emitted block's logs come from `eth_getLogs`
//! by block hash, so a block's events are complete and belong to exactly that block.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use runnel_engine::{
    Ack, AckReceiver, AckStatus, AckTracker, Acks, Block, BlockError, Message, Metadata, Origin, Output, RunContext, SharedValue, Stream, Tokens,
    async_trait,
};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::abi::Abi;
use super::chain::{Chain, Header, Step};
use super::config::{FromBlock, Kind};
use super::metrics::ChainMetrics;
use super::rpc::{Notification, Rpc, RpcError, excerpt, quantity};
use super::state::StateFile;
use crate::progress::{Moved, Progress};
use crate::websocket::config::{KeepaliveConfig, ReconnectConfig};
use crate::websocket::connect::{Backoff, Endpoint, connect_with_retry, jitter_seed};

/// How often the state file is written while blocks finish.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// How many blocks' contents are fetched ahead of the one being emitted.
const FETCH_AHEAD: usize = 16;

/// The most blocks fetched backwards for one head: a restart far behind catches up in steps.
const MAX_BRANCH: usize = 10_000;

/// How many times a block's content is asked for (a node error, a malformed answer, no answer
/// in time) before the block goes to `errors`; the waits between double from [`RETRY_DELAY`].
const READ_ATTEMPTS: u32 = 4;

/// The first wait before asking for a block's content again.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// What the source does, from its configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) kind: Kind,
    /// The `address` and `topics` of `eth_getLogs`.
    pub(crate) filter: Map<String, Value>,
    pub(crate) abi: Option<Abi>,
    pub(crate) confirmations: u64,
    pub(crate) window: usize,
    pub(crate) from_block: FromBlock,
    pub(crate) chain_id: Option<u64>,
    pub(crate) request_timeout: Duration,
    pub(crate) reconnect: ReconnectConfig,
    pub(crate) keepalive: KeepaliveConfig,
}

/// The `ethereum` source node.
#[derive(Debug)]
pub struct EthereumSource {
    pub(crate) endpoint: Endpoint,
    pub(crate) settings: Settings,
    pub(crate) state: Option<StateFile>,
    pub(crate) metrics: ChainMetrics,
}

/// Why following stopped.
enum Stop {
    Shutdown,
    Lost(String),
}

/// Everything that lives across connections.
struct Follower {
    node: Arc<str>,
    settings: Settings,
    chain: Chain,
    /// What each emitted block still in the window emitted, to retract it.
    kept: VecDeque<(Header, Vec<SharedValue>)>,
    tracker: AckTracker,
    /// Acknowledgement batches in flight, each with the last block finished once it and all
    /// before it are: the state. A failed message stalls it, so a restart reads from the last
    /// block whose messages were all delivered.
    progress: Progress<Option<Header>>,
    /// The newest block whose messages were all sent: the position of the next batch.
    sent: Option<Header>,
    /// Batches of blocks that could not be read: they stall the state once acknowledged.
    unread: HashSet<u64>,
    next_seq: u64,
    saved: Option<Header>,
    chain_id: Option<u64>,
    stream: Arc<Stream>,
    metrics: ChainMetrics,
    state: Option<StateFile>,
}

#[async_trait]
impl Block for EthereumSource {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Self { endpoint, settings, state, metrics } = *self;
        let (tracker, mut acks) = cx.ack_tracker();
        let RunContext { name, mut output, shutdown, batch_size, .. } = cx;
        let loaded = match &state {
            Some(state) => state.load().map_err(|e| BlockError::other(e.to_string()))?,
            None => None,
        };
        let (chain, chain_id, finished) = match loaded {
            Some((chain_id, finished)) => {
                tracing::info!(node = %name, block = finished.number, "resuming after the last finished block");
                (Chain::resumed(settings.window, settings.confirmations, finished.clone()), Some(chain_id), Some(finished))
            }
            None => (Chain::new(settings.window, settings.confirmations), None, None),
        };
        let stream = Stream::new(name.clone(), Some(endpoint.url().clone()));
        let mut follower = Follower {
            node: name.clone(),
            settings,
            chain,
            kept: VecDeque::new(),
            tracker,
            progress: Progress::new(Some(finished.clone())),
            sent: finished.clone(),
            unread: HashSet::new(),
            next_seq: 0,
            saved: finished,
            chain_id,
            stream,
            metrics,
            state,
        };
        let mut backoff = Backoff::new(follower.settings.reconnect, jitter_seed(&name));
        let mut after_loss = false;
        loop {
            let Some(connection) = connect_with_retry(&endpoint, &mut backoff, Some(&shutdown), after_loss).await else { break };
            after_loss = true;
            follower.metrics.connected.set(1);
            let (rpc, notifications, task) = Rpc::start(connection, follower.settings.request_timeout, follower.settings.keepalive, &name);
            let stopped = follower.follow(&rpc, notifications, &mut acks, &mut output, &shutdown, batch_size.get(), &mut backoff).await;
            task.abort();
            follower.metrics.connected.set(0);
            match stopped? {
                Stop::Shutdown => break,
                Stop::Lost(why) => tracing::warn!(node = %name, %why, "connection to the node lost; reconnecting"),
            }
        }
        // The messages in flight finish as the pipeline drains: their acknowledgements still
        // move the state.
        drop(output);
        follower.tracker = AckTracker::new(None, None);
        while !follower.progress.is_drained() {
            match acks.recv().await {
                Some(ack) => follower.acked(ack),
                None => break,
            }
        }
        follower.save();
        Ok(())
    }
}

impl Follower {
    /// Follows the node on one connection until it is lost or the pipeline shuts down.
    #[allow(clippy::too_many_arguments)]
    async fn follow(
        &mut self,
        rpc: &Rpc,
        mut notifications: mpsc::Receiver<Notification>,
        acks: &mut AckReceiver,
        output: &mut Output,
        shutdown: &runnel_engine::CancellationToken,
        batch: usize,
        backoff: &mut Backoff,
    ) -> Result<Stop, BlockError> {
        let chain_id = match rpc.call("eth_chainId", json!([])).await {
            Ok(id) => quantity(&id).ok_or_else(|| BlockError::other(format!("`eth_chainId` answered {id}, not a quantity")))?,
            Err(error) => return Ok(Stop::Lost(error.to_string())),
        };
        if let Some(expected) = self.settings.chain_id.filter(|expected| *expected != chain_id) {
            return Err(BlockError::other(format!("the node is on chain {chain_id}, and `chain_id` = {expected}")));
        }
        if let Some(saved) = self.chain_id.filter(|saved| *saved != chain_id) {
            return Err(BlockError::other(format!(
                "the node is on chain {chain_id}, and the state file was written on chain {saved}: remove it to start over"
            )));
        }
        self.chain_id = Some(chain_id);
        let subscription = match rpc.call("eth_subscribe", json!(["newHeads"])).await {
            Ok(Value::String(id)) => id,
            Ok(other) => return Err(BlockError::other(format!("`eth_subscribe` answered {other}, not a subscription id"))),
            Err(error) => return Ok(Stop::Lost(error.to_string())),
        };
        // What happened while disconnected, up to the node's head now.
        match rpc.call("eth_getBlockByNumber", json!(["latest", false])).await {
            Ok(head) => {
                if let Some(stop) = self.on_head(rpc, head, output, batch).await? {
                    return Ok(stop);
                }
            }
            Err(error) => return Ok(Stop::Lost(error.to_string())),
        }
        backoff.reset();
        let mut save = tokio::time::interval(SAVE_EVERY);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(Stop::Shutdown),
                Some(ack) = acks.recv() => self.acked(ack),
                note = notifications.recv() => match note {
                    None => return Ok(Stop::Lost("the node closed the connection".into())),
                    Some((id, head)) if id == subscription => {
                        if let Some(stop) = self.on_head(rpc, head, output, batch).await? {
                            return Ok(stop);
                        }
                    }
                    Some(_) => {}
                },
                _ = save.tick() => self.save(),
            }
        }
    }

    /// A new head: fetches the branch leading to it, applies it, emits and retracts.
    async fn on_head(&mut self, rpc: &Rpc, head: Value, output: &mut Output, batch: usize) -> Result<Option<Stop>, BlockError> {
        let head = match header(head) {
            Ok(head) => head,
            Err(problem) => {
                tracing::warn!(node = %self.node, %problem, "a new head was skipped: the next one fetches what it missed");
                return Ok(None);
            }
        };
        self.metrics.head.set(i64::try_from(head.0.number).unwrap_or(i64::MAX));
        if self.chain.knows(head.0.number, &head.0.hash) {
            return Ok(None);
        }
        if let FromBlock::Number(first) = self.settings.from_block {
            if self.chain.tip().is_none() && head.0.number < first {
                return Ok(None);
            }
        }
        let (number, hash) = (head.0.number, head.0.hash.clone());
        let branch = match self.branch(rpc, head).await {
            Ok(branch) => branch,
            Err(RpcError::Lost) => return Ok(Some(Stop::Lost("the connection was lost".into()))),
            Err(error) => {
                tracing::warn!(node = %self.node, head = number, %hash, %error, "cannot fetch the blocks before a new head; trying again at the next one");
                return Ok(None);
            }
        };
        if self.chain.tip().is_some_and(|tip| branch[0].0.number <= tip.number) {
            self.metrics.reorgs.inc();
            tracing::info!(node = %self.node, from = branch[0].0.number, "chain reorganisation");
        }
        let raw: HashMap<String, Value> = branch.iter().map(|(h, v)| (h.hash.clone(), v.clone())).collect();
        let (steps, error) = self.chain.apply(branch.into_iter().map(|(h, _)| h).collect());
        if let Some(error) = error {
            tracing::error!(node = %self.node, %error);
        }
        // Each block's content is fetched a few blocks ahead (a catch-up reads many), and
        // applied in order; what is ready goes out a batch at a time.
        let (kind, filter) = (self.settings.kind, Arc::new(self.settings.filter.clone()));
        let (raw, node) = (Arc::new(raw), Arc::clone(&self.node));
        let mut contents = futures::stream::iter(steps.into_iter().map(|step| {
            let (rpc, filter, raw, node) = (rpc.clone(), Arc::clone(&filter), Arc::clone(&raw), Arc::clone(&node));
            async move {
                let content = match &step {
                    Step::Retract(_) => Ok(Vec::new()),
                    Step::Emit(block) => read(&rpc, kind, &filter, block, raw.get(&block.hash), &node).await,
                };
                (step, content)
            }
        }))
        .buffered(FETCH_AHEAD);
        let mut messages = Vec::new();
        let mut failures = Vec::new();
        while let Some((step, content)) = contents.next().await {
            match (step, content) {
                (Step::Retract(block), _) => self.retract(&block, &mut messages),
                (Step::Emit(block), Ok(values)) => self.emit(&block, values, &mut messages, &mut failures),
                (_, Err(RpcError::Lost)) => return Ok(Some(Stop::Lost("the connection was lost".into()))),
                (Step::Emit(block), Err(error)) => self.unread(&block, &error, &mut failures),
            }
            while messages.len() >= batch {
                let rest = messages.split_off(batch);
                output.send(std::mem::replace(&mut messages, rest)).await?;
            }
            if !failures.is_empty() {
                // What came before goes out first.
                output.send(std::mem::take(&mut messages)).await?;
                output.fail(std::mem::take(&mut failures)).await?;
            }
        }
        if !messages.is_empty() {
            output.send(messages).await?;
        }
        Ok(None)
    }

    /// The headers from the block after the last known one up to `head`, oldest first, each
    /// with its JSON.
    async fn branch(&self, rpc: &Rpc, head: (Header, Value)) -> Result<Vec<(Header, Value)>, RpcError> {
        if let Some(gap) = self.gap(rpc, &head).await? {
            return Ok(gap);
        }
        let mut branch = VecDeque::from([head]);
        while branch.len() < MAX_BRANCH {
            let first = &branch[0].0;
            if first.number == 0 || self.chain.knows(first.number - 1, &first.parent) {
                break;
            }
            match (self.chain.oldest(), &self.settings.from_block) {
                (Some(oldest), _) if first.number <= oldest.number => break,
                (None, FromBlock::Latest) => break,
                (None, FromBlock::Number(start)) if first.number <= *start => break,
                _ => {}
            }
            let parent = match rpc.call("eth_getBlockByHash", json!([first.parent, false])).await? {
                Value::Null => {
                    let reason = format!("no block {} (the parent of block {}; the node may be reorganising)", first.parent, first.number);
                    return Err(RpcError::Malformed { method: "eth_getBlockByHash".into(), reason });
                }
                parent => header(parent).map_err(|reason| RpcError::Malformed { method: "eth_getBlockByHash".into(), reason })?,
            };
            self.metrics.backfilled.inc();
            branch.push_front(parent);
        }
        Ok(branch.into())
    }

    /// A long gap (a restart, a long disconnection) read quickly: the headers between the
    /// last known block and `head` fetched by number, [`FETCH_AHEAD`] at a time, and kept only
    /// if they link from the last known block to `head` by their parent hashes. `None` when
    /// the gap is short or does not link (a reorganisation while it was read): the walk by
    /// parent hash then finds the branch.
    async fn gap(&self, rpc: &Rpc, head: &(Header, Value)) -> Result<Option<Vec<(Header, Value)>>, RpcError> {
        let (first, mut parent) = match (self.chain.tip(), &self.settings.from_block) {
            (Some(tip), _) => (tip.number + 1, Some(tip.hash.clone())),
            (None, FromBlock::Number(start)) => (*start, None),
            (None, FromBlock::Latest) => return Ok(None),
        };
        let count = head.0.number.saturating_sub(first);
        if count < 2 || count as usize >= MAX_BRANCH {
            return Ok(None);
        }
        let headers: Vec<Result<Value, RpcError>> = futures::stream::iter((first..head.0.number).map(|n| {
            let rpc = rpc.clone();
            async move { rpc.call("eth_getBlockByNumber", json!([format!("0x{n:x}"), false])).await }
        }))
        .buffered(FETCH_AHEAD)
        .collect()
        .await;
        let mut gap = Vec::with_capacity(headers.len() + 1);
        for fetched in headers {
            let Ok((header, raw)) = header(fetched?) else { return Ok(None) };
            if parent.as_ref().is_some_and(|parent| *parent != header.parent) {
                return Ok(None);
            }
            parent = Some(header.hash.clone());
            gap.push((header, raw));
        }
        if parent.as_ref() != Some(&head.0.parent) {
            return Ok(None);
        }
        self.metrics.backfilled.inc_by(gap.len() as u64);
        gap.push(head.clone());
        Ok(Some(gap))
    }

    /// The messages of `block`, kept for a retraction, tracked for the state; a log that the
    /// ABI does not decode goes to `failures`.
    fn emit(&mut self, block: &Header, values: Vec<Value>, messages: &mut Vec<Message>, failures: &mut Vec<(Message, String)>) {
        let values: Vec<Result<Value, (Value, String)>> = match self.settings.kind {
            Kind::Heads => values.into_iter().map(|header| Ok(with_removed(header, false))).collect(),
            Kind::Logs => values.into_iter().map(|log| self.log_message(block, log)).collect(),
        };
        let (tokens, meta) = self.track(block, Some(block.clone()), false, values.len());
        let mut kept = Vec::with_capacity(values.len());
        for (value, acks) in values.into_iter().zip(tokens) {
            match value {
                Ok(value) => {
                    let mut message = Message::with_meta(value, meta.clone());
                    message.acks = acks;
                    kept.push(message.shared_value());
                    messages.push(message);
                }
                Err((value, reason)) => {
                    let mut message = Message::with_meta(value, meta.clone());
                    message.acks = acks;
                    failures.push((message, reason));
                }
            }
        }
        self.kept.push_back((block.clone(), kept));
        let tip = self.chain.tip().map_or(block.number, |tip| tip.number);
        while self.kept.front().is_some_and(|(kept, _)| kept.number + (self.settings.window as u64) < tip) {
            self.kept.pop_front();
        }
    }

    /// A log as a message: the node's fields, with `removed`, and the event decoded when there
    /// is an ABI; with one, a log of an event it does not declare, or that does not decode,
    /// is a failure, with the reason.
    fn log_message(&self, block: &Header, log: Value) -> Result<Value, (Value, String)> {
        let mut log = with_removed(log, false);
        let Some(abi) = &self.settings.abi else { return Ok(log) };
        let Value::Object(fields) = &mut log else {
            return Err((log, format!("block {} ({}): a log that is not an object", block.number, block.hash)));
        };
        match abi.decode(fields) {
            Ok((event, args)) => {
                fields.insert("event".into(), event);
                fields.insert("args".into(), args);
                Ok(log)
            }
            Err(error) => {
                let index = fields.get("logIndex").and_then(quantity).map_or_else(|| "?".to_owned(), |i| i.to_string());
                Err((log, format!("block {} ({}), log {index}: {error}", block.number, block.hash)))
            }
        }
    }

    /// A block whose content could not be read: a failure naming it, so that it is seen (in
    /// `errors`, or as `on_error` says), and the state stays before it.
    fn unread(&mut self, block: &Header, error: &RpcError, failures: &mut Vec<(Message, String)>) {
        let reason = format!("cannot read block {} ({}) after {READ_ATTEMPTS} attempts: {error}", block.number, block.hash);
        tracing::error!(node = %self.node, block = block.number, hash = %block.hash, %error, "cannot read a block: the state stays before it, so a restart reads it again");
        let (mut tokens, meta) = self.track(block, Some(block.clone()), true, 1);
        let value = json!({"number": block.number, "hash": block.hash, "parentHash": block.parent});
        let mut message = Message::with_meta(value, meta);
        message.acks = tokens.next().unwrap_or_else(Acks::none);
        failures.push((message, reason));
    }

    /// Retractions of what `block` emitted: the same messages, with `removed: true`.
    fn retract(&mut self, block: &Header, messages: &mut Vec<Message>) {
        let Some(at) = self.kept.iter().position(|(kept, _)| kept.hash == block.hash) else { return };
        let (_, values) = self.kept.remove(at).unwrap_or_else(|| unreachable!("found"));
        self.metrics.retracted.inc_by(values.len() as u64);
        let (tokens, meta) = self.track(block, None, false, values.len());
        for (value, acks) in values.into_iter().zip(tokens) {
            let mut message = Message::with_meta(with_removed(Value::clone(&value), true), meta.clone());
            message.acks = acks;
            messages.push(message);
        }
    }

    /// An acknowledgement batch of `count` messages of `block`: their tokens and metadata.
    fn track(&mut self, block: &Header, finishes: Option<Header>, unread: bool, count: usize) -> (Tokens, Metadata) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let tokens = self.tracker.batch_at(seq, count, std::time::Instant::now());
        if let Some(block) = finishes {
            self.sent = Some(block);
        }
        if unread {
            self.unread.insert(seq);
        }
        self.progress.sent(seq, self.sent.clone());
        let meta =
            Metadata { key: Some(bytes::Bytes::from(block.hash.clone())), origin: Origin::at(&self.stream, block.number), ..Metadata::default() };
        (tokens, meta)
    }

    /// Records an acknowledgement; the state moves past every block whose messages, and all
    /// before them, are finished.
    fn acked(&mut self, ack: Ack) {
        let status = if self.unread.remove(&ack.id) { AckStatus::Failed } else { ack.status };
        match self.progress.acked(ack.id, status) {
            Moved::Yes => {
                if let Some(Some(block)) = self.progress.finished() {
                    self.metrics.finished.set(i64::try_from(block.number).unwrap_or(i64::MAX));
                }
            }
            Moved::Stalled(status) => {
                tracing::warn!(node = %self.node, seq = ack.id, %status, "a message failed: the state stays before it, so a restart reads it again");
            }
            Moved::No => {}
        }
    }

    /// Writes the state when it moved.
    fn save(&mut self) {
        let (Some(state), Some(Some(finished)), Some(chain_id)) = (&self.state, self.progress.finished(), self.chain_id) else { return };
        if self.saved.as_ref() == Some(finished) {
            return;
        }
        match state.save(chain_id, finished) {
            Ok(()) => self.saved = Some(finished.clone()),
            Err(error) => tracing::warn!(node = %self.node, %error, path = %state.path().display(), "cannot write the state"),
        }
    }
}

/// What `block` holds for the source, asked for up to [`READ_ATTEMPTS`] times.
async fn read(rpc: &Rpc, kind: Kind, filter: &Map<String, Value>, block: &Header, raw: Option<&Value>, node: &str) -> Result<Vec<Value>, RpcError> {
    let mut delay = RETRY_DELAY;
    let mut attempt = 1;
    loop {
        match content(rpc, kind, filter, block, raw).await {
            Err(error) if error != RpcError::Lost && attempt < READ_ATTEMPTS => {
                tracing::warn!(%node, block = block.number, hash = %block.hash, %error, attempt, "cannot read a block; asking again");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// What `block` holds for the source: its header, or its logs that match `filter`.
async fn content(rpc: &Rpc, kind: Kind, filter: &Map<String, Value>, block: &Header, raw: Option<&Value>) -> Result<Vec<Value>, RpcError> {
    match kind {
        Kind::Heads => {
            let header = match raw {
                Some(raw) => raw.clone(),
                None => rpc.call("eth_getBlockByHash", json!([block.hash, false])).await?,
            };
            match header {
                Value::Object(_) => Ok(vec![header]),
                other => {
                    Err(RpcError::Malformed { method: "eth_getBlockByHash".into(), reason: format!("not a block: {}", excerpt(&other.to_string())) })
                }
            }
        }
        Kind::Logs => {
            let mut filter = filter.clone();
            filter.insert("blockHash".into(), Value::from(block.hash.as_str()));
            match rpc.call("eth_getLogs", json!([filter])).await? {
                Value::Array(logs) if logs.iter().all(Value::is_object) => Ok(logs),
                other => {
                    Err(RpcError::Malformed { method: "eth_getLogs".into(), reason: format!("not a list of logs: {}", excerpt(&other.to_string())) })
                }
            }
        }
    }
}

/// A header's number, hash and parent hash, with its JSON; which is missing otherwise.
fn header(value: Value) -> Result<(Header, Value), String> {
    let field = |name: &str| value.get(name).ok_or_else(|| format!("a header without `{name}`: {}", excerpt(&value.to_string())));
    let number = quantity(field("number")?).ok_or_else(|| format!("a header whose `number` is not a quantity: {}", excerpt(&value.to_string())))?;
    let text = |name: &str| field(name)?.as_str().map(str::to_owned).ok_or_else(|| format!("a header whose `{name}` is not a string"));
    let (hash, parent) = (text("hash")?, text("parentHash")?);
    Ok((Header { number, hash, parent }, value))
}

fn with_removed(mut value: Value, removed: bool) -> Value {
    if let Value::Object(fields) = &mut value {
        // Nodes send `removed` in logs: set in place rather than replaced.
        match fields.get_mut("removed") {
            Some(field) => *field = Value::Bool(removed),
            None => {
                fields.insert("removed".into(), Value::Bool(removed));
            }
        }
    }
    value
}
