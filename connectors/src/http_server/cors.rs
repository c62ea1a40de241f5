//! CORS, for pages that post to the server from another origin: allowed origins get
//! `Access-Control-Allow-Origin` on every answer of a route, and a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) is answered 204 with the route's methods; a preflight from
//! another origin is answered 403. Credentials (cookies) are not allowed across origins.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Which other origins' pages may post to the server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed, such as `https://app.example.com` (scheme, host and port, no path);
    /// `*` allows any.
    pub origins: Vec<String>,
    /// How long a browser may keep a preflight's answer, in seconds.
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
}

fn default_max_age_secs() -> u64 {
    600
}

impl CorsConfig {
    /// Problems with the configuration.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.origins.is_empty() {
            problems.push("`cors.origins` needs at least one origin (or `*`)".to_owned());
        }
        for origin in &self.origins {
            let valid = origin == "*" || (origin.contains("://") && !origin.ends_with('/') && HeaderValue::try_from(origin.as_str()).is_ok());
            if !valid {
                problems.push(format!("`cors.origins`: `{origin}` is not `*` or an origin such as `https://app.example.com`"));
            }
        }
        problems
    }

    /// The `Access-Control-Allow-Origin` for a request with these headers, if its origin is allowed.
    pub(crate) fn allowed(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let origin = request.get(header::ORIGIN)?;
        if self.origins.iter().any(|o| o == "*") {
            return Some(HeaderValue::from_static("*"));
        }
        self.origins.iter().any(|o| o.as_bytes() == origin.as_bytes()).then(|| origin.clone())
    }

    /// Adds the CORS headers to the answer of a request from an allowed origin.
    pub(crate) fn decorate(&self, allowed: Option<HeaderValue>, response: &mut Response) {
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = allowed {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after"));
        }
    }

    /// The answer to a preflight for a route whose methods are `methods` (`POST, PUT`).
    pub(crate) fn preflight(&self, request: &HeaderMap, methods: &str) -> Response {
        let Some(origin) = self.allowed(request) else {
            return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if let Ok(methods) = HeaderValue::try_from(methods) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(self.max_age_secs));
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        response
    }
}
