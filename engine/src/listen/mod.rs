//! [`HttpListener`]: the accept loop of every HTTP listener runnel opens (the monitoring endpoint,
//! the `websocket_server` source), with [`ListenerLimits`] on the connections that are not
//! WebSockets: a client that opens connections and never finishes a request must not hold them,
//! nor the process's file descriptors, for ever.
//!
//! - `connection`: one accepted connection, served by hyper until it closes or is upgraded.
//! - `progress`: when a connection last moved a byte, for the idle timeout.

mod connection;
mod progress;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::log_limit::LogLimiter;
use crate::metrics::{ListenerMetrics, PipelineMetrics};
use connection::Pending;

/// What an [`HttpListener`] allows connections that are not (yet) WebSockets. An upgraded
/// WebSocket leaves these limits: its server has its own (`max_connections`, pings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Time a client has to send a complete request head, counted from the accept and, on a
    /// kept-alive connection, from the end of the previous response (hyper's
    /// `header_read_timeout`). A client that sends half a request line is closed after it, and
    /// so is a kept-alive connection that sends nothing more: this is also the keep-alive idle
    /// timeout, as Go's `IdleTimeout` defaults to its `ReadHeaderTimeout`.
    pub header_read_timeout: Duration,
    /// Time a connection may move no byte either way, whatever it is doing (a client that
    /// stops reading a response, or never finishes a body) before it is closed.
    pub idle_timeout: Duration,
    /// Connections that are not WebSockets, at most: reading a request, answering one, or kept
    /// alive between two. One more is answered `503 Service Unavailable` and closed as soon as
    /// it is accepted, counted in `runnel_listener_connections_refused_total{reason="max_pending"}`.
    pub max_pending: usize,
}

impl ListenerLimits {
    /// The monitoring endpoint's (`/metrics`, `/health`, `/ready`), whose clients are a few
    /// scrapers and probes that send a request as soon as they connect: 10 s to send a request
    /// head (and idle keep-alive), 30 s without progress, 64 connections.
    pub const MONITORING: Self = Self { header_read_timeout: Duration::from_secs(10), idle_timeout: Duration::from_secs(30), max_pending: 64 };
}

/// A TCP listener that serves an axum [`Router`] over HTTP/1.1, with upgrades (WebSockets),
/// within its [`ListenerLimits`]. Every request carries the client's address as
/// `axum::extract::ConnectInfo<SocketAddr>`, and `TCP_NODELAY` is set on every connection.
///
/// A failed `accept()` (`EMFILE` at the process's open-file limit, `ENFILE`, `ENOBUFS`) is
/// counted in `runnel_listener_accept_errors_total`, logged at most every 5 s with the count of
/// the ones held back, and followed by a pause (10 ms, doubling up to 1 s, until an accept
/// succeeds) so the loop does not spin while the condition lasts.
#[derive(Debug)]
pub struct HttpListener {
    tcp: TcpListener,
    name: Arc<str>,
    limits: ListenerLimits,
    metrics: ListenerMetrics,
}

impl HttpListener {
    /// Serves on `tcp`. `name` names the listener in logs and in the `listener` label of its
    /// metrics, which are registered on `metrics`: `metrics` for the monitoring endpoint, the
    /// node's name for a `websocket_server`.
    pub fn new(tcp: TcpListener, name: &str, limits: ListenerLimits, metrics: &PipelineMetrics) -> Self {
        Self { tcp, name: Arc::from(name), limits, metrics: metrics.listener(name) }
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// The socket's, as [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves `router` until `shutdown` completes; then stops accepting, asks every connection
    /// to finish (an idle one closes, a request in flight is answered), and returns once they
    /// have. Dropping the future instead closes every connection that is not a WebSocket.
    pub async fn serve(self, router: Router, shutdown: impl Future<Output = ()>) {
        let Self { tcp, name, limits, metrics } = self;
        let service = TowerToHyperService::new(router);
        let slots = Arc::new(Semaphore::new(limits.max_pending));
        let finish = CancellationToken::new();
        let mut connections = JoinSet::new();
        let mut refusals = LogLimiter::default();
        let mut failures = AcceptFailures::default();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                Some(joined) = connections.join_next() => {
                    report(&name, joined);
                    continue;
                }
                accepted = tcp.accept() => accepted,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    let Some(pause) = failures.record(&name, &metrics, &error) else { continue };
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            failures.succeeded();
            match slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let pending = Pending::new(slot, metrics.pending.clone());
                    connections.spawn(connection::serve(stream, remote, service.clone(), limits, finish.clone(), pending));
                }
                Err(_) => {
                    metrics.refused_max_pending.inc();
                    if let Some(held_back) = refusals.check(1) {
                        let max_pending = limits.max_pending;
                        tracing::warn!(listener = %name, %remote, max_pending, held_back, "connection refused: max_pending connections are open that are not WebSockets (yet)");
                    }
                    refuse(stream);
                }
            }
        }
        drop(tcp);
        finish.cancel();
        while let Some(joined) = connections.join_next().await {
            report(&name, joined);
        }
    }
}

/// What a refused connection reads before the server closes it.
const REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 21\r\nconnection: close\r\n\r\ntoo many connections\n";

/// Answers 503 and closes, without waiting: the answer is written directly to the fresh socket,
/// whose send buffer is empty (the tokio stream would first wait to learn it is writable).
fn refuse(stream: TcpStream) {
    if let Ok(stream) = stream.into_std() {
        let _ = (&stream).write(REFUSAL);
    }
}

/// A connection task that panicked: a bug in a handler, which must not go unseen.
fn report(name: &str, joined: Result<(), JoinError>) {
    if let Err(error) = joined {
        if error.is_panic() {
            tracing::error!(listener = %name, %error, "a connection's task panicked");
        }
    }
}

/// Failed accepts in a row: their log limit and the pause before the next attempt.
#[derive(Debug)]
struct AcceptFailures {
    logs: LogLimiter,
    pause: Duration,
}

impl AcceptFailures {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    /// Counts and logs a failed accept; returns how long to wait before the next one, or `None`
    /// when the failure was the one connection's (it left before it was accepted).
    fn record(&mut self, name: &str, metrics: &ListenerMetrics, error: &io::Error) -> Option<Duration> {
        if is_connection_error(error) {
            tracing::debug!(listener = %name, %error, "a connection was lost before it was accepted");
            return None;
        }
        metrics.accept_errors.inc();
        let pause = self.pause;
        if let Some(held_back) = self.logs.check(1) {
            tracing::warn!(listener = %name, %error, held_back, ?pause, "cannot accept connections (at the open-file limit?); retrying");
        }
        self.pause = (self.pause * 2).min(Self::MAX_PAUSE);
        Some(pause)
    }

    fn succeeded(&mut self) {
        self.pause = Self::FIRST_PAUSE;
    }
}

impl Default for AcceptFailures {
    fn default() -> Self {
        Self { logs: LogLimiter::default(), pause: Self::FIRST_PAUSE }
    }
}

/// Errors of the one connection being accepted, not of the listener.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset)
}
