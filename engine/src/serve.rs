//! The monitoring endpoint: `/metrics` (Prometheus text format), `/health` and `/ready`.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;

use crate::health::{Phase, PhaseHandle};

#[derive(Clone)]
struct Monitor {
    registry: Registry,
    phase: PhaseHandle,
}

/// Serves `/metrics`, `/health` and `/ready` on `listener` until `shutdown` completes.
///
/// - `/metrics`: every metric of `registry`, as `text/plain; version=0.0.4`.
/// - `/health`: 200 `{"ok":true}` while the process can serve, 503 once the pipeline stopped.
/// - `/ready`: 200 while every node runs and none says it cannot work (a source that cannot
///   reach its broker); 503 while starting or draining, or naming the nodes that cannot work.
///
/// # Errors
/// The server's I/O error.
pub async fn serve_metrics(
    listener: TcpListener,
    registry: Registry,
    phase: PhaseHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(Monitor { registry, phase });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn metrics(State(monitor): State<Monitor>) -> impl IntoResponse {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&monitor.registry.gather(), &mut body) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn health(State(monitor): State<Monitor>) -> impl IntoResponse {
    match monitor.phase.get() {
        Phase::Stopped => (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], r#"{"ok":false}"#),
        _ => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"ok":true}"#),
    }
}

async fn ready(State(monitor): State<Monitor>) -> impl IntoResponse {
    let phase = monitor.phase.get();
    let ready = monitor.phase.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({"ready": ready, "phase": format!("{phase:?}"), "unready": monitor.phase.unready_nodes()});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string())
}
