//! The monitoring endpoint: `/metrics` (Prometheus text format), `/health` and `/ready`, on an
//! [`HttpListener`] with [`ListenerLimits::MONITORING`] in `runnel run`.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;

use crate::health::{Phase, PhaseHandle};
use crate::listen::{HttpListener, ListenerLimits};
use crate::metrics::PipelineMetrics;

#[derive(Clone)]
struct Monitor {
    registry: Registry,
    phase: PhaseHandle,
}

/// Serves `/metrics`, `/health` and `/ready` on `listener` within `limits` until `shutdown`
/// completes, as the listener `metrics` (the `listener` label of its own metrics).
///
/// - `/metrics`: every metric of `metrics`, as `text/plain; version=0.0.4`.
/// - `/health`: 200 `{"ok":true}` while the process can serve, 503 once the pipeline stopped.
/// - `/ready`: 200 while every node runs and none says it cannot work (a source that cannot
///   reach its broker); 503 while starting or draining, or naming the nodes that cannot work.
///
/// It returns once `shutdown` has completed and the connections have finished.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: &PipelineMetrics,
    phase: PhaseHandle,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let app = Router::new()
        .route("/metrics", get(exposition))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(Monitor { registry: metrics.registry().clone(), phase });
    HttpListener::new(listener, "metrics", limits, metrics).serve(app, shutdown).await;
}

async fn exposition(State(monitor): State<Monitor>) -> impl IntoResponse {
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
