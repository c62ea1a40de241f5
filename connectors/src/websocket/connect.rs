//! Connecting as a WebSocket client: the endpoint (URL, handshake headers, TLS), reconnection
//! with exponential backoff and jitter, and ping/pong liveness.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use runnel_engine::CancellationToken;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::config::{KeepaliveConfig, ReconnectConfig};

/// A client connection.
pub(crate) type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL or a header cannot be used in a handshake.
    #[error("invalid request: {0}")]
    Request(String),
    /// TLS could not be set up (the `ca_file`, or rustls's settings).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The attempt took longer than `connect_timeout_ms`.
    #[error("connecting took longer than {0:?}")]
    Timeout(Duration),
    /// The TCP connection, TLS or the WebSocket handshake failed.
    #[error(transparent)]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// Where and how to connect; built once, used for every attempt.
#[derive(Clone)]
pub(crate) struct Endpoint {
    url: Arc<str>,
    headers: Vec<(HeaderName, HeaderValue)>,
    connector: Option<Connector>,
    config: WebSocketConfig,
    timeout: Duration,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("url", &self.url).field("tls", &self.connector.is_some()).finish()
    }
}

impl Endpoint {
    pub(crate) fn new(
        url: &str,
        headers: &BTreeMap<String, String>,
        ca_file: Option<&Path>,
        max_message_bytes: usize,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::try_from(name.as_str()).map_err(|e| ConnectError::Request(e.to_string()))?;
                let value = HeaderValue::try_from(value.as_str()).map_err(|e| ConnectError::Request(e.to_string()))?;
                Ok((name, value))
            })
            .collect::<Result<_, ConnectError>>()?;
        let connector = if url.starts_with("wss://") { Some(Connector::Rustls(crate::tls::client_config(ca_file)?)) } else { None };
        let config = WebSocketConfig::default().max_message_size(Some(max_message_bytes)).max_frame_size(Some(max_message_bytes));
        Ok(Self { url: Arc::from(url), headers, connector, config, timeout })
    }

    /// The URL, for logs and message origins.
    pub(crate) fn url(&self) -> &Arc<str> {
        &self.url
    }

    /// One connection attempt.
    pub(crate) async fn connect(&self) -> Result<WsStream, ConnectError> {
        let mut request = (*self.url).into_client_request()?;
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let attempt = tokio_tungstenite::connect_async_tls_with_config(request, Some(self.config), true, self.connector.clone());
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(connected) => Ok(connected?.0),
            Err(_) => Err(ConnectError::Timeout(self.timeout)),
        }
    }
}

/// Delays between connection attempts: doubling from `initial` to `max`, each drawn between
/// half and all of the current step (jitter).
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
    rng: SmallRng,
}

impl Backoff {
    pub(crate) fn new(config: ReconnectConfig, seed: u64) -> Self {
        let initial = Duration::from_millis(config.initial_ms);
        Self { initial, max: Duration::from_millis(config.max_ms), step: initial, rng: SmallRng::seed_from_u64(seed) }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        half + half.mul_f64(self.rng.random::<f64>())
    }

    /// After a successful connection, the next loss starts from the first step again.
    pub(crate) fn reset(&mut self) {
        self.step = self.initial;
    }
}

/// Connects, retrying with `backoff` until it succeeds, or until `shutdown` (if given) fires:
/// then `None`. After a lost connection (`after_loss`), it waits a backoff delay first, so that a
/// server that accepts and drops at once is not hammered. Failed attempts are logged with the
/// delay before the next one. The caller resets `backoff` once a connection proved healthy.
pub(crate) async fn connect_with_retry(
    endpoint: &Endpoint,
    backoff: &mut Backoff,
    shutdown: Option<&CancellationToken>,
    after_loss: bool,
) -> Option<WsStream> {
    let never = CancellationToken::new();
    let shutdown = shutdown.unwrap_or(&never);
    if after_loss {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
    let mut attempt = 0_u32;
    loop {
        attempt += 1;
        let result = tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            result = endpoint.connect() => result,
        };
        match result {
            Ok(stream) => {
                tracing::info!(url = %endpoint.url(), attempt, "websocket connected");
                return Some(stream);
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(url = %endpoint.url(), attempt, %error, retry_in = ?delay, "websocket connection failed");
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// What the keepalive timer asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tick {
    /// The connection has been quiet: send a ping.
    Ping,
    /// Nothing arrived in time after a ping: the connection is dead.
    Dead,
}

/// Ping/pong liveness of one connection: pings after quiet periods, and a deadline for an
/// answer. Any frame read counts as an answer.
#[derive(Debug)]
pub(crate) struct Liveness {
    interval: Option<Duration>,
    timeout: Duration,
    next_ping: Instant,
    answer_due: Option<Instant>,
}

impl Liveness {
    pub(crate) fn new(config: KeepaliveConfig) -> Self {
        let interval = (config.interval_ms > 0).then(|| Duration::from_millis(config.interval_ms));
        let next_ping = Instant::now() + interval.unwrap_or(Duration::ZERO);
        Self { interval, timeout: Duration::from_millis(config.timeout_ms), next_ping, answer_due: None }
    }

    /// Something arrived: the connection is alive.
    pub(crate) fn seen(&mut self) {
        self.answer_due = None;
        if let Some(interval) = self.interval {
            self.next_ping = Instant::now() + interval;
        }
    }

    /// Waits for the next keepalive event; never completes when pings are off. Cancel-safe.
    pub(crate) async fn tick(&mut self) -> Tick {
        let Some(interval) = self.interval else { return std::future::pending().await };
        match self.answer_due {
            Some(due) if due <= self.next_ping => {
                tokio::time::sleep_until(due).await;
                Tick::Dead
            }
            _ => {
                tokio::time::sleep_until(self.next_ping).await;
                let now = Instant::now();
                self.next_ping = now + interval;
                self.answer_due.get_or_insert(now + self.timeout);
                Tick::Ping
            }
        }
    }
}

/// A seed for jitter that differs between processes and nodes.
pub(crate) fn jitter_seed(name: &str) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    name.bytes().fold(nanos ^ u64::from(std::process::id()), |h, b| h.rotate_left(5) ^ u64::from(b))
}
