//! Configuration of the `http_server` source.

use std::collections::HashSet;
use std::time::Duration;

use runnel_engine::ListenerLimits;
use serde::Deserialize;

use super::cors::CorsConfig;
use super::signature::SignatureConfig;
use crate::auth::AuthConfig;

/// An HTTP server that takes requests (webhooks) in: each route turns request bodies into
/// messages, and answers once they are in the pipeline (`ack = "accepted"`) or delivered
/// (`ack = "delivered"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// The address to listen on, such as `127.0.0.1:8080` (port 0 picks a free port).
    pub address: String,
    /// The routes requests may take; any other path is answered 404, another method 405.
    /// One route, `POST /events`, by default.
    #[serde(default = "default_routes")]
    pub routes: Vec<RouteConfig>,
    /// Folders served as files (`GET` and `HEAD`, with ranges), such as a page and the files a
    /// pipeline wrote; not messages, and without `auth`.
    #[serde(default)]
    pub files: Vec<FilesConfig>,
    /// When a request is answered: `accepted` (202 once its messages are in the pipeline),
    /// `delivered` (200 once every sink they reached confirmed them) or `reply` (with the reply
    /// of an `http_response` sink). Routes may choose their own.
    #[serde(default)]
    pub ack: AckMode,
    /// Who may send: a bearer token (or JWT) checked before the body is read; 401 otherwise.
    pub auth: Option<AuthConfig>,
    /// An HMAC signature of the body that every request must carry; 401 otherwise.
    pub signature: Option<SignatureConfig>,
    /// Request headers copied into each message's metadata (attribute `headers`, by lower-case
    /// name), such as `X-GitHub-Event`.
    #[serde(default)]
    pub headers: Vec<String>,
    /// If set, messages that are JSON objects get this field added, holding the attributes
    /// (`method`, `path`, `route`, the path parameters, `query`, `headers`), so that blocks (jq
    /// cannot read metadata) and stored messages know where each came from.
    pub request_field: Option<String>,
    /// Which other origins' pages may post (CORS); without it, browsers keep other origins'
    /// pages from reading the answers and from sending JSON.
    pub cors: Option<CorsConfig>,
    /// The largest body a request may send, in bytes; a larger one is answered 413 unread.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Requests handled at once, at most (reading their body, waiting for the pipeline or for
    /// delivery); one more is answered 503 with `Retry-After`. With `max_body_bytes`, this
    /// bounds the memory requests hold.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// How long a request waits for room in the pipeline, in milliseconds, before it is
    /// answered 503 with `Retry-After` (and none of its messages entered).
    #[serde(default = "default_backpressure_timeout_ms")]
    pub backpressure_timeout_ms: u64,
    /// With `ack = "delivered"` or `"reply"`: how long a request waits for its messages'
    /// delivery or its reply, in milliseconds, once they are in the pipeline; then it is answered
    /// 504 (they may still be delivered). Routes may set their own `timeout_ms`.
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// The `Retry-After` of 503 answers, in seconds.
    #[serde(default = "default_retry_after_secs")]
    pub retry_after_secs: u64,
    /// Connections open at once, at most: reading a request, being answered, or kept alive.
    /// One more is answered 503 and closed at once.
    #[serde(default = "default_max_pending_connections")]
    pub max_pending_connections: usize,
    /// Time a client has to send a complete request head, in milliseconds, from the connection
    /// or the previous response (also the keep-alive idle time).
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Time a connection may move no byte either way, in milliseconds, before it is closed; it
    /// must exceed `backpressure_timeout_ms` plus `delivery_timeout_ms`, which a request may
    /// spend waiting silently.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
}

/// A folder served as files under a path.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// The path the folder is served under, such as `/media` (`/media/a/b.webm` is
    /// `<dir>/a/b.webm`); `/` serves it for every path no route or other folder takes.
    pub path: String,
    /// The folder, relative to the pipeline file.
    pub dir: std::path::PathBuf,
}

/// One route: a method and a path whose requests become messages.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The HTTP method, such as `POST` or `PUT`.
    #[serde(default = "default_method")]
    pub method: String,
    /// The path, with parameters in braces: `/hooks/{name}` matches `/hooks/github`, and each
    /// message gets the attribute `name` = `"github"`.
    pub path: String,
    /// How the body becomes messages.
    #[serde(default)]
    pub body: BodyFormat,
    /// This route's acknowledgement mode, instead of the server's `ack`.
    pub ack: Option<AckMode>,
    /// How long this route's requests wait for delivery (`ack = "delivered"`) or for their
    /// reply (`ack = "reply"`), in milliseconds, instead of `delivery_timeout_ms`; then they are
    /// answered 504.
    pub timeout_ms: Option<u64>,
    /// Requests of this route handled at once, at most, within the server's
    /// `max_concurrent_requests`; one more is answered 503 with `Retry-After`. Keeps a slow
    /// route (one waiting for replies) from taking every request slot of the server.
    pub max_concurrent_requests: Option<usize>,
}

/// When a request is answered.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AckMode {
    /// 202 Accepted once the request's messages are in the pipeline. The default.
    #[default]
    Accepted,
    /// 200 OK once every sink a message reached confirmed it (or a block dropped it on
    /// purpose); 500 if a sink failed one.
    Delivered,
    /// Request/response: the answer is the reply an `http_response` sink makes from the
    /// request's message (its status, headers and body); 204 if every sink confirmed the
    /// messages without a reply (a filter dropped them), 500 if one failed, 504 if no reply
    /// came in time.
    Reply,
}

/// How a request body becomes messages.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// By the `Content-Type`: NDJSON (`application/x-ndjson`, `application/jsonl`...) is one
    /// message per line; JSON (`application/json`, `*/*+json`, or no type) is one message, or
    /// one per element if the document is an array; `multipart/form-data` as `multipart`. The
    /// default.
    #[default]
    Auto,
    /// One JSON document, one message (an array too).
    Json,
    /// A JSON array, one message per element.
    JsonArray,
    /// One JSON document per line.
    Ndjson,
    /// Any bytes (an upload), whatever the content type: one message
    /// `{"base64": <the bytes>, "content_type": <the request's, or null>, "bytes": <count>}`.
    Binary,
    /// `multipart/form-data` (a browser form, `curl -F`): one message per file, as `binary`
    /// with `file_name`, `field` and the form's text fields in `form`; a form without files is
    /// one message `{"form": {...}}`. `auto` reads it too.
    Multipart,
}

/// Attribute names the server sets itself, which path parameters may not take.
pub(crate) const RESERVED_ATTRIBUTES: [&str; 7] = ["method", "path", "route", "query", "headers", USER, REQUEST_ID];

/// The attribute with the subject (`sub`) of the request's JWT, when it has one.
pub(crate) const USER: &str = "user";

/// The attribute that carries, on a route with `ack = "reply"`, the id of the request that waits
/// for the message's reply.
pub const REQUEST_ID: &str = "request_id";

/// Methods a route may name.
const METHODS: [&str; 5] = ["POST", "PUT", "PATCH", "DELETE", "GET"];

fn default_routes() -> Vec<RouteConfig> {
    vec![RouteConfig {
        method: default_method(),
        path: "/events".to_owned(),
        body: BodyFormat::Auto,
        ack: None,
        timeout_ms: None,
        max_concurrent_requests: None,
    }]
}
fn default_method() -> String {
    "POST".to_owned()
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_max_concurrent_requests() -> usize {
    256
}
fn default_backpressure_timeout_ms() -> u64 {
    5_000
}
fn default_delivery_timeout_ms() -> u64 {
    30_000
}
fn default_retry_after_secs() -> u64 {
    1
}
fn default_max_pending_connections() -> usize {
    512
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}

impl HttpServerConfig {
    /// The limits of its listener.
    pub(crate) fn listener_limits(&self) -> ListenerLimits {
        ListenerLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_pending: self.max_pending_connections,
        }
    }

    /// Every problem `validate` reports.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.address.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!("`address` `{}` is not an IP address and port", self.address));
        }
        for files in &self.files {
            let path = files.path.as_str();
            if !path.starts_with('/') || path.contains(['{', '}', '*']) || (path.len() > 1 && path.ends_with('/')) {
                problems.push(format!("`files`: `{path}` must be a plain path starting with `/`, without a trailing `/` or parameters"));
            } else if self.routes.iter().any(|route| route.path == path || route.path.starts_with(&format!("{path}/")) && path != "/") {
                problems.push(format!("`files`: `{path}` is also a route's path"));
            }
        }
        if self.files.iter().filter(|f| f.path == "/").count() > 1
            || self.files.iter().enumerate().any(|(i, f)| self.files[..i].iter().any(|g| g.path == f.path))
        {
            problems.push("`files`: a path is listed twice".to_owned());
        }
        if self.routes.is_empty() {
            problems.push("`routes` needs at least one route".to_owned());
        }
        problems.extend(route_problems(&self.routes));
        let limits = [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_concurrent_requests", self.max_concurrent_requests as u64),
            ("max_pending_connections", self.max_pending_connections as u64),
            ("backpressure_timeout_ms", self.backpressure_timeout_ms),
            ("delivery_timeout_ms", self.delivery_timeout_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
        ];
        for (field, value) in limits {
            if value == 0 {
                problems.push(format!("`{field}` must be at least 1"));
            }
        }
        let longest = self.routes.iter().filter_map(|r| r.timeout_ms).fold(self.delivery_timeout_ms, u64::max);
        if self.idle_timeout_ms <= self.backpressure_timeout_ms.saturating_add(longest) {
            problems.push(
                "`idle_timeout_ms` must exceed `backpressure_timeout_ms` + `delivery_timeout_ms` (and each route's `timeout_ms`), or waiting requests are cut"
                    .to_owned(),
            );
        }
        for header in &self.headers {
            if axum::http::HeaderName::try_from(header.as_str()).is_err() {
                problems.push(format!("`headers`: `{header}` is not a header name"));
            }
        }
        if let Some(auth) = &self.auth {
            problems.extend(auth.problems());
        }
        if let Some(signature) = &self.signature {
            problems.extend(signature.problems());
        }
        if let Some(cors) = &self.cors {
            problems.extend(cors.problems());
        }
        problems
    }
}

/// Problems with the routes: methods, paths that axum would refuse (it panics on them),
/// duplicates, parameters named like the server's own attributes.
fn route_problems(routes: &[RouteConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut paths = matchit::Router::new();
    let mut seen = HashSet::new();
    let mut inserted = HashSet::new();
    for route in routes {
        let method = route.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            problems.push(format!("route `{}`: method `{}` is not one of {}", route.path, route.method, METHODS.join(", ")));
        }
        if route.timeout_ms == Some(0) {
            problems.push(format!("route `{}`: `timeout_ms` must be at least 1", route.path));
        }
        if route.max_concurrent_requests == Some(0) {
            problems.push(format!("route `{}`: `max_concurrent_requests` must be at least 1", route.path));
        }
        if !route.path.starts_with('/') {
            problems.push(format!("route `{}`: the path must start with `/`", route.path));
            continue;
        }
        if !seen.insert((method, route.path.clone())) {
            problems.push(format!("route `{} {}` is listed twice", route.method, route.path));
        }
        // The same path with another method shares one entry; a conflict is between paths.
        if inserted.insert(route.path.as_str()) {
            if let Err(error) = paths.insert(route.path.as_str(), ()) {
                problems.push(format!("route `{}`: {error}", route.path));
            }
        }
        for name in parameters(&route.path) {
            if RESERVED_ATTRIBUTES.contains(&name) {
                problems.push(format!("route `{}`: parameter `{{{name}}}` takes the name of an attribute the server sets", route.path));
            }
        }
    }
    problems
}

/// The parameter names of a route path: `{name}` and `{*rest}`.
pub(crate) fn parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}')).map(|name| name.trim_start_matches('*'))
}
