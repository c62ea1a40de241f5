//! The routes' handler. A request goes through, in order: the concurrency limit (503), auth
//! (401), the content type (415) and size (413) before the body is read, the signature (401)
//! and the body's decoding (400) after, then the wait for room in the pipeline (503 with
//! `Retry-After` past `backpressure_timeout_ms`), and, with `ack = "delivered"`, the wait for
//! delivery, or with `ack = "reply"`, the wait for the reply (see `reply`). Nothing enters the pipeline before every check passed, and a request enters it
//! whole or not at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use futures::StreamExt as _;
use prometheus::IntCounter;
use runnel_engine::{AckMetrics, AckStatus, AckTracker, Message, Metadata};
use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tower_http::services::ServeDir;

use super::body::{self, Decoded, Read};
use super::config::{AckMode, BodyFormat, FilesConfig, REQUEST_ID, RouteConfig, USER};
use super::cors::CorsConfig;
use super::metrics::ServerMetrics;
use super::multipart;
use super::pending::Waiting;
use super::signature::Verifier;
use crate::auth::AuthConfig;

/// A request's messages on their way to the source's task, which puts them in the pipeline.
#[derive(Debug)]
pub(crate) struct Submission {
    /// The messages, without origin or acknowledgement tokens yet.
    pub(crate) messages: Vec<Message>,
    /// With `ack = "delivered"`: the tracker whose one acknowledgement (for the whole request)
    /// the handler waits for.
    pub(crate) tracker: Option<AckTracker>,
    /// With `ack = "delivered"` or `"reply"`, where the handler waits until its messages are
    /// in the pipeline: the claim that whoever takes the submission first sets (the source, to
    /// send it, or the handler, to give up waiting, so a request answered 503 never enters the
    /// pipeline) and the signal that they entered. With `"accepted"`, `None`: the request is
    /// answered once queued, and the source's task sends everything queued, at shutdown too.
    pub(crate) handshake: Option<Handshake>,
}

/// How a waiting handler and the source's task agree on who has a submission.
#[derive(Debug)]
pub(crate) struct Handshake {
    /// Set by whoever takes the submission first.
    pub(crate) claim: Arc<AtomicBool>,
    /// Told once the messages are in the pipeline.
    pub(crate) entered: oneshot::Sender<()>,
}

/// What every request of the server shares.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) auth: Option<AuthConfig>,
    pub(crate) verifier: Option<Verifier>,
    pub(crate) headers: Vec<HeaderName>,
    pub(crate) request_field: Option<String>,
    pub(crate) cors: Option<CorsConfig>,
    pub(crate) max_body_bytes: usize,
    pub(crate) slots: Semaphore,
    pub(crate) backpressure_timeout: Duration,
    pub(crate) delivery_timeout: Duration,
    pub(crate) retry_after: HeaderValue,
    pub(crate) metrics: ServerMetrics,
    pub(crate) acks: AckMetrics,
    pub(crate) submissions: mpsc::Sender<Submission>,
}

/// One route, as its handler needs it.
#[derive(Debug)]
struct Route {
    path: String,
    /// Its method, for the metadata.
    method: Method,
    /// The metadata attributes of every request to a path without parameters, when no query
    /// and no header is kept: built once, shared by all those requests.
    fixed_attributes: Option<Arc<Map<String, Value>>>,
    /// The status of a request answered as the route's `ack` says, and its counter.
    ok: (u16, IntCounter),
    body: BodyFormat,
    ack: AckMode,
    /// How long a request waits for delivery or its reply.
    timeout: Duration,
    /// This route's own limit of requests handled at once, within the server's.
    slots: Option<Semaphore>,
}

/// The router of `routes`, and of the folders in `files`: paths with several methods share one
/// entry; other paths are 404 (or a file of the folder served at `/`).
pub(crate) fn router(server: Arc<Server>, routes: &[RouteConfig], ack: AckMode, files: &[FilesConfig]) -> Router {
    let mut by_path: Vec<(String, MethodRouter, Vec<String>)> = Vec::new();
    for config in routes {
        let timeout = config.timeout_ms.map_or(server.delivery_timeout, Duration::from_millis);
        let slots = config.max_concurrent_requests.map(Semaphore::new);
        let method = Method::from_bytes(config.method.to_ascii_uppercase().as_bytes()).unwrap_or(Method::POST);
        let fixed_attributes = (!config.path.contains('{') && server.headers.is_empty()).then(|| {
            let mut attributes = Map::new();
            attributes.insert("method".into(), Value::from(method.as_str()));
            attributes.insert("path".into(), Value::from(config.path.as_str()));
            attributes.insert("route".into(), Value::from(config.path.as_str()));
            Arc::new(attributes)
        });
        let route_ack = config.ack.unwrap_or(ack);
        let ok_status = done(route_ack, 0).status().as_u16();
        let ok = (ok_status, server.metrics.counter(&config.path, ok_status));
        let route = Arc::new(Route {
            path: config.path.clone(),
            method: method.clone(),
            fixed_attributes,
            ok,
            body: config.body,
            ack: route_ack,
            timeout,
            slots,
        });
        let filter = MethodFilter::try_from(method).unwrap_or(MethodFilter::POST);
        let server = server.clone();
        let handler = move |request: Request| handle(server, route, request);
        let name = config.method.to_ascii_uppercase();
        match by_path.iter_mut().find(|(path, _, _)| *path == config.path) {
            Some((_, methods, names)) => {
                *methods = std::mem::take(methods).on(filter, handler);
                names.push(name);
            }
            None => by_path.push((config.path.clone(), on(filter, handler), vec![name])),
        }
    }
    if let Some(cors) = &server.cors {
        for (_, methods, names) in &mut by_path {
            let (cors, names) = (cors.clone(), names.join(", "));
            let preflight = move |headers: HeaderMap| async move { cors.preflight(&headers, &names) };
            *methods = std::mem::take(methods).on(MethodFilter::OPTIONS, preflight);
        }
    }
    let fallback = move || async move {
        server.metrics.answered("none", 404);
        error(StatusCode::NOT_FOUND, "no route takes this path")
    };
    let mut router = by_path.into_iter().fold(Router::new(), |router, (path, methods, _)| router.route(&path, methods));
    let mut root = None;
    for folder in files {
        // tower-http's ServeDir answers only paths inside the folder (`..` is refused), with
        // ranges (a video seeks) and the content type of the file's extension.
        let serve = ServeDir::new(&folder.dir).append_index_html_on_directories(true).call_fallback_on_method_not_allowed(true);
        if folder.path == "/" {
            root = Some(serve);
        } else {
            router = router.nest_service(&folder.path, serve);
        }
    }
    match root {
        Some(serve) => router.fallback_service(serve.fallback(axum::routing::any(fallback))),
        None => router.fallback(fallback),
    }
}

async fn handle(server: Arc<Server>, route: Arc<Route>, request: Request) -> Response {
    let _in_flight = InFlight::new(&server.metrics.in_flight);
    let origin = server.cors.as_ref().map(|cors| cors.allowed(request.headers()));
    let mut response = answer(&server, &route, request).await;
    if let (Some(cors), Some(origin)) = (&server.cors, origin) {
        cors.decorate(origin, &mut response);
    }
    match response.status().as_u16() {
        status if status == route.ok.0 => route.ok.1.inc(),
        status => server.metrics.answered(&route.path, status),
    }
    response
}

async fn answer(server: &Server, route: &Route, request: Request) -> Response {
    let Ok(_slot) = server.slots.try_acquire() else {
        return unavailable(server, "too many requests at once");
    };
    let _route_slot = match route.slots.as_ref().map(Semaphore::try_acquire) {
        Some(Err(_)) => return unavailable(server, "too many requests at once on this route"),
        Some(Ok(slot)) => Some(slot),
        None => None,
    };
    let (mut parts, body) = request.into_parts();
    let (decoded, query, user) = match receive(server, route, &parts, body).await {
        Ok(received) => received,
        Err(response) => return *response,
    };
    let count = decoded.len();
    let fixed = route.fixed_attributes.as_ref().filter(|_| {
        query.is_empty() && user.is_none() && route.ack != AckMode::Reply && parts.method == route.method && parts.uri.path() == route.path
    });
    let (attributes, waiting) = match fixed {
        Some(fixed) if count > 0 => (Arc::clone(fixed), None),
        _ => {
            let mut attributes = match attributes(server, route, &mut parts, query).await {
                Ok(attributes) => attributes,
                Err(response) => return *response,
            };
            if let Some(user) = user {
                attributes.insert(USER.into(), Value::from(user));
            }
            if count == 0 {
                return done(route.ack, 0);
            }
            let waiting = (route.ack == AckMode::Reply).then(Waiting::register);
            if let Some(waiting) = &waiting {
                attributes.insert(REQUEST_ID.into(), Value::from(waiting.id));
            }
            (Arc::new(attributes), waiting)
        }
    };
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let messages = decoded
        .into_iter()
        .map(|(mut value, exact, size)| {
            if let (Some(field), Value::Object(object)) = (&server.request_field, &mut value) {
                object.insert(field.clone(), Value::Object((*attributes).clone()));
            }
            let meta = Metadata {
                timestamp: Some(timestamp),
                attributes: Some(attributes.clone()),
                size: u32::try_from(size).unwrap_or(u32::MAX),
                exact_numbers: exact,
                ..Metadata::default()
            };
            Message::with_meta(value, meta)
        })
        .collect();
    submit(server, route, messages, count, waiting).await
}

/// The checks a request passes before its messages may enter, in order: auth (401), content
/// type (415), size (413), signature (401), decoding (400). Returns the decoded values and the
/// query, the auth token taken out, and the subject of the request's JWT.
async fn receive(server: &Server, route: &Route, parts: &Parts, body: Body) -> Result<Received, Box<Response>> {
    let mut query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let mut user = None;
    if let Some(auth) = &server.auth {
        match auth.check(&parts.headers, &query) {
            Ok(identity) => user = identity.subject,
            Err(refusal) => {
                let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"runnel\"")];
                return Err(Box::new((challenge, error(StatusCode::UNAUTHORIZED, &refusal.to_string())).into_response()));
            }
        }
        // The token stays out of the messages' metadata.
        query.retain(|(key, _)| *key != auth.query_parameter);
    }
    let content_type = match parts.headers.get(header::CONTENT_TYPE).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => return Err(Box::new(error(StatusCode::BAD_REQUEST, "the content type is not text"))),
    };
    let read =
        body::reading(route.body, content_type).map_err(|refusal| Box::new(error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &refusal.to_string())))?;
    let bytes = read_body(body, content_length(&parts.headers), server.max_body_bytes).await?;
    if let Some(verifier) = &server.verifier {
        verifier.verify(&parts.headers, &bytes).map_err(|refusal| Box::new(error(StatusCode::UNAUTHORIZED, &refusal.to_string())))?;
    }
    if route.ack == AckMode::Reply && bytes.is_empty() && read != Read::Binary {
        // A request without a body (`GET /users/{id}`) still asks for a reply: one empty object,
        // which `request_field` can fill with the path parameters and query.
        return Ok((vec![(Value::Object(Map::new()), None, 0)], query, user));
    }
    let decoded = match (read, content_type) {
        (Read::Multipart, Some(content_type)) => multipart::decode(content_type, bytes).await,
        _ => body::decode(read, content_type, &bytes),
    };
    let decoded = decoded.map_err(|refusal| Box::new(error(StatusCode::BAD_REQUEST, &refusal.to_string())))?;
    Ok((decoded, query, user))
}

/// What [`receive`] took from a request: its decoded values, its query, its JWT's subject.
type Received = (Vec<Decoded>, Vec<(String, String)>, Option<String>);

/// Counts a request in flight while it lives: a handler whose client went away is dropped
/// mid-way, and must not stay counted.
struct InFlight<'a>(&'a prometheus::IntGauge);

impl<'a> InFlight<'a> {
    fn new(gauge: &'a prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Waits for room in the pipeline, then (with `delivered`) for delivery or (with `reply`) for the
/// reply, and answers.
async fn submit(server: &Server, route: &Route, messages: Vec<Message>, count: usize, waiting: Option<Waiting>) -> Response {
    let (tracker, outcome) = match route.ack {
        AckMode::Accepted => (None, None),
        AckMode::Delivered | AckMode::Reply => {
            let (tracker, acks) = AckTracker::channel(Some(server.acks.clone()));
            (Some(tracker), Some(acks))
        }
    };
    let deadline = Instant::now() + server.backpressure_timeout;
    let Some(mut outcome) = outcome else {
        // Queued is as good as in the pipeline: the source's task sends what is queued even
        // when the pipeline shuts down.
        let submission = Submission { messages, tracker: None, handshake: None };
        return match tokio::time::timeout_at(deadline, server.submissions.send(submission)).await {
            Err(_) => unavailable(server, "the pipeline is full"),
            Ok(Err(_)) => unavailable(server, "the server is shutting down"),
            Ok(Ok(())) => done(AckMode::Accepted, count),
        };
    };
    let outcome = &mut outcome;
    let claim = Arc::new(AtomicBool::new(false));
    let (entered, mut in_pipeline) = oneshot::channel();
    let submission = Submission { messages, tracker, handshake: Some(Handshake { claim: claim.clone(), entered }) };
    match tokio::time::timeout_at(deadline, server.submissions.send(submission)).await {
        Err(_) => return unavailable(server, "the pipeline is full"),
        Ok(Err(_)) => return unavailable(server, "the server is shutting down"),
        Ok(Ok(())) => {}
    }
    let entered = match tokio::time::timeout_at(deadline, &mut in_pipeline).await {
        Ok(result) => result.is_ok(),
        // The source has not taken it: it never will. Taken, it is being sent: wait for that.
        Err(_) if !claim.swap(true, Ordering::AcqRel) => return unavailable(server, "the pipeline is full"),
        Err(_) => in_pipeline.await.is_ok(),
    };
    if !entered {
        return unavailable(server, "the server is shutting down");
    }
    if let Some(waiting) = waiting {
        return super::reply::wait(waiting, outcome, route.timeout)
            .await
            .unwrap_or_else(|| unavailable(server, "the pipeline stopped before the request was answered"));
    }
    match tokio::time::timeout(route.timeout, outcome.recv()).await {
        Err(_) => error(StatusCode::GATEWAY_TIMEOUT, "delivery not confirmed in time; the messages may still be delivered"),
        Ok(Some(ack)) if ack.status.is_done() => done(AckMode::Delivered, count),
        Ok(Some(ack)) if ack.status == AckStatus::Failed => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "a sink failed to deliver a message of this request")
        }
        Ok(_) => unavailable(server, "the pipeline stopped before the messages were delivered"),
    }
}

/// Reads at most `max` bytes; a body that says or turns out to be larger is answered 413.
async fn read_body(body: Body, length: Option<u64>, max: usize) -> Result<Vec<u8>, Box<Response>> {
    let too_large = || Box::new(error(StatusCode::PAYLOAD_TOO_LARGE, &format!("the body is larger than {max} bytes")));
    if length.is_some_and(|length| length > max as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(length.map_or(0, |l| l as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, &format!("cannot read the body: {e}"))))?;
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The metadata attributes of a request's messages: `method`, `path`, `route`, the path
/// parameters, `query` and the selected `headers` (when there are any).
async fn attributes(server: &Server, route: &Route, parts: &mut Parts, query: Vec<(String, String)>) -> Result<Map<String, Value>, Box<Response>> {
    let params = RawPathParams::from_request_parts(parts, &()).await.map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, &e.body_text())))?;
    let mut attributes = Map::new();
    attributes.insert("method".into(), Value::from(parts.method.as_str()));
    attributes.insert("path".into(), Value::from(parts.uri.path()));
    attributes.insert("route".into(), Value::from(route.path.as_str()));
    for (name, value) in &params {
        attributes.insert(name.to_owned(), Value::from(value));
    }
    if !query.is_empty() {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut order = Vec::new();
        for (key, value) in query {
            if !values.contains_key(&key) {
                order.push(key.clone());
            }
            values.entry(key).or_default().push(value);
        }
        // A parameter given once is a string, given several times an array.
        let query: Map<String, Value> = order
            .into_iter()
            .filter_map(|key| {
                let mut list = values.remove(&key)?;
                let value = if list.len() == 1 { Value::from(list.remove(0)) } else { Value::from(list) };
                Some((key, value))
            })
            .collect();
        attributes.insert("query".into(), Value::Object(query));
    }
    let headers: Map<String, Value> =
        server.headers.iter().filter_map(|name| Some((name.as_str().to_owned(), Value::from(parts.headers.get(name)?.to_str().ok()?)))).collect();
    if !headers.is_empty() {
        attributes.insert("headers".into(), Value::Object(headers));
    }
    Ok(attributes)
}

/// The answer to a request whose `count` messages are in the pipeline (202) or delivered (200).
fn done(ack: AckMode, count: usize) -> Response {
    let (status, body) = match ack {
        AckMode::Accepted => (StatusCode::ACCEPTED, format!("{{\"accepted\":{count}}}\n")),
        AckMode::Delivered => (StatusCode::OK, format!("{{\"delivered\":{count}}}\n")),
        AckMode::Reply => return StatusCode::NO_CONTENT.into_response(),
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// 503 with `Retry-After`: nothing of the request entered the pipeline.
fn unavailable(server: &Server, why: &str) -> Response {
    ([(header::RETRY_AFTER, server.retry_after.clone())], error(StatusCode::SERVICE_UNAVAILABLE, why)).into_response()
}

/// An answer whose JSON body says `why`.
pub(crate) fn error(status: StatusCode, why: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], format!("{}\n", json!({"error": why}))).into_response()
}
