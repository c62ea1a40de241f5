//! One accepted connection: hyper's HTTP/1 with the header-read timeout, under the idle timeout,
//! until the connection closes or becomes a WebSocket (hyper then hands the socket over, and the
//! connection stops counting as pending).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus::IntGauge;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::ListenerLimits;
use super::progress::{Progress, Tracked};

/// A connection's place under `max_pending`, and in the gauge of pending connections, until
/// it is dropped.
#[derive(Debug)]
pub(super) struct Pending {
    _slot: OwnedSemaphorePermit,
    gauge: IntGauge,
}

impl Pending {
    pub(super) fn new(slot: OwnedSemaphorePermit, gauge: IntGauge) -> Self {
        gauge.inc();
        Self { _slot: slot, gauge }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Serves `stream` until it closes, is upgraded, goes idle past `limits.idle_timeout`, or
/// finishes after `finish` (the listener is stopping).
pub(super) async fn serve(
    stream: TcpStream,
    remote: SocketAddr,
    router: TowerToHyperService<Router>,
    limits: ListenerLimits,
    finish: CancellationToken,
    pending: Pending,
) {
    // Small frames must not wait for Nagle's algorithm: WebSockets are for realtime.
    let _ = stream.set_nodelay(true);
    let progress = Arc::new(Progress::new());
    let io = TokioIo::new(Tracked::new(stream, progress.clone()));
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        router.call(request)
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(io, service).with_upgrades();
    let stalled = progress.stalled(limits.idle_timeout);
    tokio::pin!(connection, stalled);
    let mut finishing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%remote, %error, timeout = error.is_timeout(), "connection closed");
                }
                break;
            }
            () = &mut stalled => {
                tracing::debug!(%remote, idle_timeout = ?limits.idle_timeout, "idle connection closed");
                break;
            }
            () = finish.cancelled(), if !finishing => {
                finishing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    // An upgraded socket lives on in its WebSocket: it need not be watched any more.
    progress.finish();
    drop(pending);
}
