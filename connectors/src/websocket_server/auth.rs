//! Who may connect: a token from the `Authorization: Bearer` header or a query parameter,
//! checked against configured tokens or verified as an HS256 JWT signed with a shared secret.
//! The check runs before the WebSocket upgrade, so a refused client gets HTTP 401 and never a
//! WebSocket.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

/// How clients prove who they are.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Tokens that let a client in (shared secrets; use `${VAR}` to keep them out of the file).
    #[serde(default)]
    pub tokens: Vec<String>,
    /// A secret that signs HS256 JSON Web Tokens: a valid, unexpired JWT lets a client in, and
    /// its `sub` claim becomes the client's `user`.
    pub hmac_secret: Option<String>,
    /// The query parameter that carries the token for clients that cannot set headers
    /// (browsers): `ws://host/ws?token=...`.
    #[serde(default = "default_parameter")]
    pub query_parameter: String,
}

fn default_parameter() -> String {
    "token".to_owned()
}

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
        problems
    }

    /// Checks the token the request carries.
    ///
    /// # Errors
    /// [`AuthError`] saying why the client is refused.
    pub fn check(&self, headers: &HeaderMap, query: &[(String, String)]) -> Result<Identity, AuthError> {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let from_query = query.iter().find(|(k, _)| *k == self.query_parameter).map(|(_, v)| v.as_str());
        let token = bearer.or(from_query).filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        if self.tokens.iter().any(|known| constant_time_eq(known.as_bytes(), token.as_bytes())) {
            return Ok(Identity::default());
        }
        match &self.hmac_secret {
            Some(secret) => verify_jwt(secret.as_bytes(), token, now_secs()),
            None => Err(AuthError::Invalid),
        }
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies an HS256 JWT: the signature, `alg`, `exp` and `nbf` (seconds since the epoch).
pub(crate) fn verify_jwt(secret: &[u8], token: &str, now: i64) -> Result<Identity, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(AuthError::Invalid);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| AuthError::Invalid);
    let json = |part: &str| -> Result<Value, AuthError> { serde_json::from_slice(&decode(part)?).map_err(|_| AuthError::Invalid) };
    if json(header)?["alg"] != "HS256" {
        return Err(AuthError::Invalid);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| AuthError::Invalid)?;
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&decode(signature)?).map_err(|_| AuthError::Invalid)?;
    let claims = json(payload)?;
    if claims.get("exp").and_then(Value::as_i64).is_some_and(|exp| exp <= now) {
        return Err(AuthError::Expired);
    }
    if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now) {
        return Err(AuthError::Invalid);
    }
    Ok(Identity { subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned) })
}

/// Signs `claims` as an HS256 JWT (for tests and for tools that mint tokens).
pub fn sign_jwt(secret: &[u8], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}
