//! The hub a `websocket_server` source and its sinks share: connected clients, channel
//! subscriptions and history, and the queue of what clients publish.
//!
//! The source creates the hub when it is built and registers it in the pipeline's `Resources`
//! under its node name; each sink looks it up when built. Every node holding the hub holds a
//! [`Lease`]; when the last one is dropped (the last sink has delivered everything, or the
//! pipeline stopped), every client gets what is queued for it and a close frame.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use runnel_engine::{CancellationToken, Resources};
use serde_json::Value;
use tokio::sync::mpsc;

use super::client::{Client, Close, Pushed};
use super::config::SlowConsumer;
use super::metrics::ServerMetrics;
use super::protocol;
use super::template::Template;

/// What clients send that becomes the source's output, in arrival order. Bounded: when the
/// pipeline is slow, connections stop reading, and TCP slows the clients down.
const INBOUND_CAPACITY: usize = 1024;

/// Something a client did that the source turns into a message.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A message published on `channel`.
    Publish { client: Arc<Client>, channel: Arc<str>, data: Value, exact: Option<Arc<runnel_engine::ExactNumbers>>, size: usize },
    /// A lifecycle event (`connected`, `subscribed`, `unsubscribed`, `disconnected`).
    Event { client: Arc<Client>, value: Value, channel: Option<Arc<str>> },
    /// A frame that is not JSON.
    Invalid { client: Arc<Client>, text: String, error: String },
}

/// The hub's settings, from the source's configuration.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) queue: usize,
    pub(crate) slow_consumer: SlowConsumer,
    pub(crate) envelope: bool,
    pub(crate) history: usize,
    pub(crate) private_channel: Option<Template>,
    pub(crate) default_channel: Option<Arc<str>>,
    pub(crate) max_connections: usize,
    pub(crate) max_subscriptions: usize,
    pub(crate) ping_interval: std::time::Duration,
    pub(crate) pong_timeout: std::time::Duration,
}

#[derive(Debug, Default)]
struct Channel {
    subscribers: Vec<Arc<Client>>,
    /// The JSON text of the last delivered messages.
    history: VecDeque<Utf8Bytes>,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<Arc<str>, Arc<Client>>,
    channels: HashMap<Arc<str>, Channel>,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) settings: Settings,
    state: Mutex<State>,
    inbound: mpsc::Sender<Inbound>,
    metrics: ServerMetrics,
    next_id: AtomicU64,
    connections: AtomicUsize,
    holders: AtomicUsize,
    /// Cancelled when the last lease is dropped.
    pub(crate) closed: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the maps consistent, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `Resources` key of the hub of the server called `server`.
pub(crate) fn resource_key(server: &str) -> String {
    format!("websocket_server:{server}")
}

/// The hub of the server called `server`, if the pipeline has one (built before the caller).
pub(crate) fn find(resources: &Resources, server: &str) -> Option<Arc<Hub>> {
    resources.get::<Arc<Hub>>(&resource_key(server))
}

impl Hub {
    pub(crate) fn new(settings: Settings, metrics: ServerMetrics) -> (Arc<Self>, mpsc::Receiver<Inbound>) {
        let (inbound, rx) = mpsc::channel(INBOUND_CAPACITY);
        let hub = Self {
            settings,
            state: Mutex::default(),
            inbound,
            metrics,
            next_id: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            holders: AtomicUsize::new(0),
            closed: CancellationToken::new(),
        };
        (Arc::new(hub), rx)
    }

    /// The server's metric handles.
    pub(crate) fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// A lease that keeps the clients connected while held.
    pub(crate) fn lease(self: &Arc<Self>) -> Lease {
        self.holders.fetch_add(1, Ordering::AcqRel);
        Lease(self.clone())
    }

    /// A connection slot, if fewer than `max_connections` clients are connected.
    pub(crate) fn reserve(self: &Arc<Self>) -> Option<Slot> {
        let taken = self.connections.fetch_add(1, Ordering::AcqRel);
        if taken >= self.settings.max_connections {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self.clone()))
    }

    /// Hands something a client did to the source; waits while the pipeline is busy. Returns
    /// false once the source has stopped.
    pub(crate) async fn publish(&self, inbound: Inbound) -> bool {
        self.inbound.send(inbound).await.is_ok()
    }

    /// The private channel of `client_id`, if the server has private channels.
    pub(crate) fn private_channel(&self, client_id: &str) -> Option<Arc<str>> {
        let template = self.settings.private_channel.as_ref()?;
        let value = serde_json::json!({"client_id": client_id});
        template.render(&value, None).ok().map(Arc::from)
    }

    fn is_private(&self, channel: &str) -> bool {
        self.settings.private_channel.as_ref().is_some_and(|t| channel.starts_with(t.prefix()))
    }

    /// Registers a new client: queues its welcome and subscribes it to its private channel.
    pub(crate) fn join(&self, user: Option<Arc<str>>) -> Arc<Client> {
        let id: Arc<str> = Arc::from(format!("c{}", self.next_id.fetch_add(1, Ordering::Relaxed)));
        let client = Arc::new(Client::new(id.clone(), user, self.settings.queue, self.settings.slow_consumer));
        let private = self.private_channel(&id);
        client.push(&[protocol::welcome(&id, client.user.as_deref(), private.as_deref())]);
        let mut state = lock(&self.state);
        state.clients.insert(id, client.clone());
        if let Some(channel) = private {
            client.add_channel(&channel);
            state.channels.entry(channel).or_default().subscribers.push(client.clone());
        }
        // Checked under the lock `close_all` takes after cancelling: a client joining while the
        // server closes is either closed here or found there.
        if self.closed.is_cancelled() {
            client.close(Close::Shutdown);
        }
        drop(state);
        self.metrics.clients.inc();
        client
    }

    /// Subscribes `client` to `channel` and queues the confirmation and the channel's history,
    /// atomically with deliveries: the client gets every message exactly once, from history or
    /// live. Returns whether it is a new subscription.
    ///
    /// # Errors
    /// Why the subscription is refused (a bad name, someone else's private channel, too many
    /// subscriptions), also counted in `runnel_websocket_server_subscriptions_refused_total`.
    pub(crate) fn subscribe(&self, client: &Arc<Client>, channel: &str) -> Result<bool, SubscribeError> {
        let subscribed = self.try_subscribe(client, channel);
        if let Err(error) = &subscribed {
            self.metrics.subscriptions_refused(error.reason()).inc();
        }
        subscribed
    }

    fn try_subscribe(&self, client: &Arc<Client>, channel: &str) -> Result<bool, SubscribeError> {
        check_name(channel).map_err(SubscribeError::BadName)?;
        if self.is_private(channel) {
            return Err(SubscribeError::Private(channel.to_owned()));
        }
        let channel: Arc<str> = Arc::from(channel);
        // The private channel, subscribed on joining, does not count.
        let max = self.settings.max_subscriptions.saturating_add(usize::from(self.settings.private_channel.is_some()));
        let mut state = lock(&self.state);
        let new = client.add_channel_within(&channel, max).ok_or(SubscribeError::TooMany(self.settings.max_subscriptions))?;
        let entry = state.channels.entry(channel.clone()).or_default();
        if new {
            entry.subscribers.push(client.clone());
        }
        let mut frames = Vec::with_capacity(entry.history.len() + 1);
        frames.push(protocol::subscribed(&channel, entry.history.len()));
        frames.extend(entry.history.iter().map(|data| protocol::delivery(self.settings.envelope, &channel, data, true)));
        let pushed = client.push(&frames);
        drop(state);
        self.count(pushed);
        Ok(new)
    }

    /// Ends `client`'s subscription to `channel`; false if it had none.
    pub(crate) fn unsubscribe(&self, client: &Arc<Client>, channel: &str) -> bool {
        if self.is_private(channel) || !client.remove_channel(channel) {
            return false;
        }
        let mut state = lock(&self.state);
        remove_subscriber(&mut state, channel, &client.id);
        drop(state);
        client.push(&[protocol::unsubscribed(channel)]);
        true
    }

    /// Forgets `client`; returns the channels it was subscribed to.
    pub(crate) fn leave(&self, client: &Arc<Client>) -> BTreeSet<Arc<str>> {
        let channels = client.take_channels();
        let mut state = lock(&self.state);
        state.clients.remove(&client.id);
        for channel in &channels {
            remove_subscriber(&mut state, channel, &client.id);
        }
        drop(state);
        self.metrics.clients.dec();
        channels
    }

    /// Delivers messages (their JSON text) to `channel`'s subscribers, and keeps them in its
    /// history if `record`. Returns how many subscribers they reached and whether they were
    /// recorded.
    pub(crate) fn deliver(&self, channel: &str, data: &[Utf8Bytes], record: bool) -> (usize, bool) {
        let envelope = self.settings.envelope;
        let frames: Vec<Utf8Bytes> = data.iter().map(|d| protocol::delivery(envelope, channel, d, false)).collect();
        let record = record && self.settings.history > 0 && !self.is_private(channel);
        let mut state = lock(&self.state);
        let entry = if record { Some(state.channels.entry(Arc::from(channel)).or_default()) } else { state.channels.get_mut(channel) };
        let Some(entry) = entry else { return (0, false) };
        let mut total = Pushed::default();
        for subscriber in &entry.subscribers {
            let pushed = subscriber.push(&frames);
            total.dropped += pushed.dropped;
        }
        let reached = entry.subscribers.len();
        if record {
            keep(&mut entry.history, data, self.settings.history);
        }
        drop(state);
        self.count(total);
        self.metrics.frames_sent.inc_by((reached * frames.len()) as u64);
        (reached, record)
    }

    /// Adds a stored message to `channel`'s history (when the server starts).
    pub(crate) fn seed(&self, channel: &str, data: Utf8Bytes) {
        let mut state = lock(&self.state);
        let entry = state.channels.entry(Arc::from(channel)).or_default();
        keep(&mut entry.history, &[data], self.settings.history);
    }

    fn count(&self, pushed: Pushed) {
        if pushed.dropped > 0 {
            self.metrics.frames_dropped.inc_by(pushed.dropped as u64);
        }
    }

    /// Lets every client finish what is queued for it, then closes its connection.
    fn close_all(&self) {
        self.closed.cancel();
        let clients: Vec<Arc<Client>> = lock(&self.state).clients.values().cloned().collect();
        for client in clients {
            client.close(Close::Shutdown);
        }
    }
}

fn keep(history: &mut VecDeque<Utf8Bytes>, data: &[Utf8Bytes], size: usize) {
    history.extend(data.iter().cloned());
    let excess = history.len().saturating_sub(size);
    history.drain(..excess);
}

fn remove_subscriber(state: &mut State, channel: &str, client_id: &str) {
    if let Some(entry) = state.channels.get_mut(channel) {
        entry.subscribers.retain(|c| &*c.id != client_id);
        if entry.subscribers.is_empty() && entry.history.is_empty() {
            state.channels.remove(channel);
        }
    }
}

/// Why a client's subscription is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SubscribeError {
    /// The channel name is empty or too long.
    #[error("{0}")]
    BadName(String),
    /// Another client's private channel.
    #[error("`{0}` is a private channel")]
    Private(String),
    /// The client has `max_subscriptions` already.
    #[error("at most {0} subscriptions per client: unsubscribe from one first")]
    TooMany(usize),
}

impl SubscribeError {
    /// The `reason` label of `runnel_websocket_server_subscriptions_refused_total`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::BadName(_) => "invalid_name",
            Self::Private(_) => "private",
            Self::TooMany(_) => "max_subscriptions",
        }
    }
}

/// Checks a channel name a client sent.
pub(crate) fn check_name(channel: &str) -> Result<(), String> {
    if channel.is_empty() || channel.len() > super::template::MAX_CHANNEL_BYTES {
        return Err(format!("a channel name must have 1 to {} bytes", super::template::MAX_CHANNEL_BYTES));
    }
    Ok(())
}

/// Held by each node that uses the hub; the last one dropped closes every connection.
#[derive(Debug)]
pub(crate) struct Lease(Arc<Hub>);

impl Drop for Lease {
    fn drop(&mut self) {
        if self.0.holders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.close_all();
        }
    }
}

/// One of the `max_connections` connection slots, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Hub>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
