//! Who may connect: a token from the `Authorization: Bearer` header or a query parameter,
//! checked against configured tokens or verified as an HS256 JWT signed with a shared secret.
//! Shared by the HTTP listeners of the `websocket_server` source (checked before the upgrade, so
//! a refused client gets HTTP 401 and never a WebSocket) and the `http_server` source (checked
//! before the body is read).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

/// How clients prove who they are.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Tokens that let a client in (shared secrets; use `${VAR}` to keep them out of the file).
    #[serde(default)]
    pub tokens: Vec<String>,
    /// A secret that signs HS256 JSON Web Tokens: a JWT with a valid signature whose `exp` has
    /// not passed and whose `nbf` has (both within `leeway_ms`) lets a client in, and its `sub`
    /// claim becomes the client's `user`.
    pub hmac_secret: Option<String>,
    /// The query parameter that carries the token for clients that cannot set headers
    /// (browsers): `ws://host/ws?token=...`.
    #[serde(default = "default_parameter")]
    pub query_parameter: String,
    /// How far apart the server's clock and the JWT issuer's may be, in milliseconds: a JWT is
    /// still accepted this long after its `exp`, and already this long before its `nbf`. At
    /// most 5 minutes; 30 seconds by default.
    #[serde(default = "default_leeway_ms")]
    pub leeway_ms: u64,
}

fn default_parameter() -> String {
    "token".to_owned()
}

fn default_leeway_ms() -> u64 {
    30_000
}

/// The largest `leeway_ms`: more would keep expired tokens working for long.
const MAX_LEEWAY_MS: u64 = 300_000;

/// Why a client was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token in the header or the query.
    #[error("a token is required")]
    Missing,
    /// The token matches no configured token and is no valid JWT.
    #[error("the token is not valid")]
    Invalid,
    /// A JWT that was valid once.
    #[error("the token has expired")]
    Expired,
}

/// A client that passed the check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The JWT's subject, when the token is a JWT that has one.
    pub subject: Option<String>,
}

impl AuthConfig {
    /// Problems with the configuration.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tokens.is_empty() && self.hmac_secret.is_none() {
            problems.push("`auth` needs `tokens` or `hmac_secret`".to_owned());
        }
        if self.tokens.iter().any(String::is_empty) {
            problems.push("`auth.tokens` cannot hold an empty token".to_owned());
        }
        if self.hmac_secret.as_deref().is_some_and(|s| s.len() < 16) {
            problems.push("`auth.hmac_secret` must be at least 16 bytes long".to_owned());
        }
        if self.leeway_ms > MAX_LEEWAY_MS {
            problems.push(format!("`auth.leeway_ms` must be at most {MAX_LEEWAY_MS} (5 minutes)"));
        }
        problems
    }

    /// Checks the token the request carries.
    ///
    /// # Errors
    /// [`AuthError`] saying why the client is refused.
    pub fn check(&self, headers: &HeaderMap, query: &[(String, String)]) -> Result<Identity, AuthError> {
        let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
        let from_query = query.iter().find(|(k, _)| *k == self.query_parameter).map(|(_, v)| v.as_str());
        let token = bearer.or(from_query).filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        if self.tokens.iter().any(|known| constant_time_eq(known.as_bytes(), token.as_bytes())) {
            return Ok(Identity::default());
        }
        match &self.hmac_secret {
            Some(secret) => verify_jwt(secret.as_bytes(), token, now_secs(), self.leeway_ms as f64 / 1000.0),
            None => Err(AuthError::Invalid),
        }
    }
}

/// The credentials of an `Authorization` value in the `Bearer` scheme, whose name is
/// case-insensitive (RFC 7235 §2.1: `bearer`, `BEARER`).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Seconds since the epoch, with their fraction.
fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies an HS256 JWT at `now` (seconds since the epoch), allowing `leeway` seconds of clock
/// skew. jsonwebtoken checks its form, its `alg` and its signature; the registered claims are
/// checked here, on top, because jsonwebtoken rounds a fractional `exp` or `nbf` to whole seconds
/// and skips a `sub` that is not a string, where RFC 7519 makes a NumericDate any JSON number
/// (§2) and `sub` a string (§4.1.2): a claim of the wrong type makes the token invalid. `aud` and
/// `iss` are not checked (the server has no audience or issuer to compare them with).
pub(crate) fn verify_jwt(secret: &[u8], token: &str, now: f64, leeway: f64) -> Result<Identity, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(secret);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|_| AuthError::Invalid)?.claims;
    let date = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(value) => value.as_f64().map(Some).ok_or(AuthError::Invalid),
    };
    // RFC 7519 §4.1.4: the current time must be before `exp`.
    if date("exp")?.is_some_and(|exp| now >= exp + leeway) {
        return Err(AuthError::Expired);
    }
    // §4.1.5: and not before `nbf`.
    if date("nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(AuthError::Invalid);
    }
    let subject = match claims.get("sub") {
        None => None,
        Some(Value::String(subject)) => Some(subject.clone()),
        Some(_) => return Err(AuthError::Invalid),
    };
    Ok(Identity { subject })
}

/// Signs `claims` as an HS256 JWT (for tests and for tools that mint tokens).
///
/// # Panics
/// Never in practice: an HMAC key signs any JSON value.
pub fn sign_jwt(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).expect("an HMAC key signs any JSON value")
}
