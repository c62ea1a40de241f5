//! The running `bigchaindb` source. The event stream has no replay, so it is used as a doorbell
//! only: an event at height `h` means blocks up to `h` are committed, and the source reads every
//! height from the one after the last it finished up to `h` through the HTTP API
//! (`GET /api/v1/blocks/<height>`), in order. After a (re)connection it reads forward until a
//! height the API does not have yet. So a reconnection or a restart leaves no gap, and each
//! height is read once per run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use runnel_blocks::JqProgram;
use runnel_engine::{
    Ack, AckStatus, AckTracker, Block, BlockError, CancellationToken, Message, Metadata, Origin, Output, RunContext, Stream, async_trait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;

use super::config::Operation;
use crate::progress::{Moved, Progress};
use crate::state_file;
use crate::websocket::config::{KeepaliveConfig, ReconnectConfig};
use crate::websocket::connect::{Backoff, Endpoint, Liveness, Tick, connect_with_retry, jitter_seed};

/// How often the state file is written while heights finish.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What the source does, from its configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) api: String,
    pub(crate) fetch: bool,
    pub(crate) operations: Vec<Operation>,
    pub(crate) asset_ids: Vec<String>,
    pub(crate) condition: Option<JqProgram>,
    pub(crate) from_height: Option<u64>,
    pub(crate) reconnect: ReconnectConfig,
    pub(crate) keepalive: KeepaliveConfig,
}

/// The `bigchaindb` source node.
#[derive(Debug)]
pub struct BigchainDbSource {
    /// The stream, when `stream_url` names it; otherwise found with `GET <url>/api/v1/` at start.
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) config: super::BigchainDbSourceConfig,
    pub(crate) client: reqwest::Client,
    pub(crate) settings: Settings,
    pub(crate) state: Option<PathBuf>,
}

/// The state file's contents (format version [`STATE_VERSION`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    finished_height: u64,
}

const STATE_VERSION: u32 = 1;

/// A block as the API gives it.
#[derive(Debug, Deserialize)]
struct ApiBlock {
    height: u64,
    transactions: Vec<Value>,
}

/// What a fetch of a height found.
enum Fetched {
    Block(ApiBlock),
    NotYet,
}

struct Reader {
    node: Arc<str>,
    settings: Settings,
    client: reqwest::Client,
    tracker: AckTracker,
    stream: Arc<Stream>,
    /// The next height to read; unknown on a first start without `from_height` until an event.
    next: Option<u64>,
    /// Heights sent and not yet acknowledged, and the last height finished with all before it.
    progress: Progress<u64>,
    saved: Option<u64>,
    state: Option<PathBuf>,
}

#[async_trait]
impl Block for BigchainDbSource {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Self { endpoint, config, client, settings, state } = *self;
        let (tracker, mut acks) = cx.ack_tracker();
        let RunContext { name, mut output, shutdown, .. } = cx;
        let mut backoff = Backoff::new(settings.reconnect, jitter_seed(&name));
        let endpoint = match endpoint {
            Some(endpoint) => endpoint,
            None => match discover(&config, &client, &settings.api, &mut backoff, &shutdown, &name).await? {
                Some(endpoint) => endpoint,
                None => return Ok(()),
            },
        };
        let finished = match &state {
            Some(path) => state_file::load_json::<Saved>(path, STATE_VERSION).map_err(BlockError::other)?.map(|saved| saved.finished_height),
            None => None,
        };
        let next = finished.map(|h| h + 1).or(settings.from_height);
        if let Some(finished) = finished {
            tracing::info!(node = %name, height = finished, "resuming after the last finished height");
        }
        let stream = Stream::new(name.clone(), Some(endpoint.url().clone()));
        let mut reader =
            Reader { node: name.clone(), settings, client, tracker, stream, next, progress: Progress::new(finished), saved: finished, state };
        let mut after_loss = false;
        let mut save = tokio::time::interval(SAVE_EVERY);
        'connections: loop {
            let Some(connection) = connect_with_retry(&endpoint, &mut backoff, Some(&shutdown), after_loss).await else { break };
            after_loss = true;
            // What was committed while no connection was open.
            if reader.next.is_some() {
                match reader.catch_up(None, &mut output, &shutdown).await? {
                    Some(()) => {}
                    None => break,
                }
            }
            backoff.reset();
            let (mut write, mut read) = connection.split();
            let mut liveness = Liveness::new(reader.settings.keepalive);
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break 'connections,
                    Some(ack) = acks.recv() => reader.acked(ack),
                    _ = save.tick() => reader.save(),
                    tick = liveness.tick() => match tick {
                        Tick::Ping => if write.send(Frame::Ping(Default::default())).await.is_err() { break },
                        Tick::Dead => break,
                    },
                    frame = read.next() => {
                        liveness.seen();
                        let text = match frame {
                            Some(Ok(Frame::Text(text))) => text,
                            Some(Ok(Frame::Close(_)) | Err(_)) | None => break,
                            Some(Ok(_)) => continue,
                        };
                        let Some(height) = serde_json::from_str::<Value>(&text).ok().and_then(|event| event["height"].as_u64()) else {
                            // The next event, or the next connection, reads what it announced.
                            tracing::warn!(node = %name, frame = %excerpt(text.as_bytes()), "an event that is not JSON with a `height` was skipped");
                            continue;
                        };
                        if reader.catch_up(Some(height), &mut output, &shutdown).await?.is_none() {
                            break 'connections;
                        }
                    }
                }
            }
            tracing::warn!(node = %name, "the event stream was lost; reconnecting");
        }
        drop(output);
        reader.tracker = AckTracker::new(None, None);
        while !reader.progress.is_drained() {
            match acks.recv().await {
                Some(ack) => reader.acked(ack),
                None => break,
            }
        }
        reader.save();
        Ok(())
    }
}

impl Reader {
    /// Reads every height from the next one: up to `upto` (an event's height, which the API
    /// will have), or, without one, until the API does not have the next height yet. `None`
    /// when the pipeline shuts down meanwhile.
    async fn catch_up(&mut self, upto: Option<u64>, output: &mut Output, shutdown: &CancellationToken) -> Result<Option<()>, BlockError> {
        let next = *self.next.get_or_insert(upto.unwrap_or(1));
        let mut height = next;
        loop {
            if upto.is_some_and(|upto| height > upto) {
                return Ok(Some(()));
            }
            let block = match self.fetch(height, upto.is_some(), shutdown).await {
                Some(Fetched::Block(block)) => block,
                Some(Fetched::NotYet) => return Ok(Some(())),
                None => return Ok(None),
            };
            self.emit(block, output).await?;
            height += 1;
            self.next = Some(height);
        }
    }

    /// Fetches a height. With `committed` (an event announced it), a 404 means the API lags
    /// behind the stream: retried with backoff, with a warning now and then, until it answers,
    /// since skipping would lose transactions. Any other failure (an error status, an answer
    /// that is not a block) is retried the same way, and warned of at once; a warning is
    /// repeated when the problem changes, or after 30 s.
    /// `None` on shutdown.
    async fn fetch(&self, height: u64, committed: bool, shutdown: &CancellationToken) -> Option<Fetched> {
        let url = format!("{}/api/v1/blocks/{height}", self.settings.api);
        let mut delay = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        // When the last warning was, and what it said.
        let mut warned: Option<(Duration, String)> = None;
        loop {
            let outcome = match self.client.get(&url).send().await {
                Ok(answer) if answer.status() == reqwest::StatusCode::NOT_FOUND => Err(None),
                Ok(answer) => {
                    let status = answer.status();
                    match answer.bytes().await {
                        Ok(body) if status.is_success() => match serde_json::from_slice::<ApiBlock>(&body) {
                            Ok(block) if block.height == height => Ok(block),
                            Ok(block) => Err(Some(format!("asked for height {height}, got {}", block.height))),
                            Err(error) => Err(Some(format!("not a block ({error}): {}", excerpt(&body)))),
                        },
                        Ok(body) => Err(Some(format!("HTTP {status}: {}", excerpt(&body)))),
                        Err(error) => Err(Some(format!("HTTP {status}, and the body cannot be read: {error}"))),
                    }
                }
                Err(error) => Err(Some(error.to_string())),
            };
            match outcome {
                Ok(block) => return Some(Fetched::Block(block)),
                Err(None) if !committed => return Some(Fetched::NotYet),
                Err(problem) => {
                    let lagging = problem.is_none();
                    let problem = problem.unwrap_or_else(|| "404: the API does not know it yet".into());
                    let due = match &warned {
                        Some((at, said)) => *said != problem || waited >= *at + Duration::from_secs(30),
                        // A lagging API is usual for a moment; anything else is said at once.
                        None => !lagging || waited >= Duration::from_secs(5),
                    };
                    if due {
                        tracing::warn!(node = %self.node, height, %url, %problem, waited = ?waited, "cannot read a committed block yet; retrying");
                        warned = Some((waited, problem));
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            waited += delay;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// The block's transactions that pass the filters, as one acknowledgement batch.
    async fn emit(&mut self, block: ApiBlock, output: &mut Output) -> Result<(), BlockError> {
        let height = block.height;
        let mut values = Vec::new();
        for transaction in block.transactions {
            let operation = transaction["operation"].as_str().unwrap_or_default();
            let id = transaction["id"].as_str().unwrap_or_default().to_owned();
            let asset_id = if operation == "CREATE" { id.clone() } else { transaction["asset"]["id"].as_str().unwrap_or_default().to_owned() };
            if !self.settings.operations.is_empty() && !self.settings.operations.iter().any(|o| o.as_str() == operation) {
                continue;
            }
            if !self.settings.asset_ids.is_empty() && !self.settings.asset_ids.contains(&asset_id) {
                continue;
            }
            let mut value = json!({"height": height, "asset_id": asset_id, "transaction_id": id});
            if self.settings.fetch {
                value["transaction"] = transaction;
            }
            values.push(value);
        }
        let tokens = self.tracker.batch_at(height, values.len(), std::time::Instant::now());
        self.progress.sent(height, height);
        let mut messages = Vec::with_capacity(values.len());
        let mut failures = Vec::new();
        for (value, acks) in values.into_iter().zip(tokens) {
            let key = value["asset_id"].as_str().map(|id| bytes::Bytes::from(id.to_owned()));
            let mut message = Message::with_meta(value, Metadata { key, origin: Origin::at(&self.stream, height), ..Metadata::default() });
            message.acks = acks;
            match &self.settings.condition {
                None => messages.push(message),
                Some(condition) => match condition.run_bool(message.value()) {
                    Ok(true) => messages.push(message),
                    Ok(false) => message.ack(AckStatus::Dropped),
                    Err(error) => failures.push((message, format!("`condition`: {error}"))),
                },
            }
        }
        if !messages.is_empty() {
            output.send(messages).await?;
        }
        if !failures.is_empty() {
            output.fail(failures).await?;
        }
        Ok(())
    }

    /// Records an acknowledgement; the state moves past every height whose messages, and all
    /// before them, are finished.
    fn acked(&mut self, ack: Ack) {
        if let Moved::Stalled(status) = self.progress.acked(ack.id, ack.status) {
            let height = self.progress.finished().map_or(0, |h| h + 1);
            tracing::warn!(node = %self.node, height, %status, "a message failed downstream: the state stays before it, so a restart reads it again");
        }
    }

    fn save(&mut self) {
        let (Some(path), Some(&finished)) = (&self.state, self.progress.finished()) else { return };
        if self.saved == Some(finished) {
            return;
        }
        match state_file::save_json(path, STATE_VERSION, &Saved { finished_height: finished }) {
            Ok(()) => self.saved = Some(finished),
            Err(error) => tracing::warn!(node = %self.node, %error, path = %path.display(), "cannot write the state"),
        }
    }
}

/// The stream's endpoint, asked of the node until it answers; `None` on shutdown.
async fn discover(
    config: &super::BigchainDbSourceConfig,
    client: &reqwest::Client,
    api: &str,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
    node: &str,
) -> Result<Option<Endpoint>, BlockError> {
    loop {
        match super::discover(client, api).await {
            Ok(url) => {
                let problems = config.connection(&url).problems();
                if let Some(problem) = problems.first() {
                    return Err(BlockError::other(format!("the node's `streams` URL {url}: {}", problem.replace("`url`", "it"))));
                }
                let endpoint = config.connection(&url).endpoint(std::path::Path::to_owned).map_err(|e| BlockError::other(e.to_string()))?;
                return Ok(Some(endpoint));
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%node, %error, retry_in = ?delay, "cannot find the event stream (set `stream_url` to skip this)");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// The start of a body, for a log line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}
