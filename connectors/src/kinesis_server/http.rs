//! The endpoint's HTTP side: `POST` to any path with `X-Amz-Target: Kinesis_20131202.<Operation>`
//! and an AWS JSON body (`application/x-amz-json-1.1`, or `1.0`). Checks go in kinesalite's
//! order: the body's size (413), an empty body (`SerializationException`, or
//! `UnknownOperationException` for a bad target), the content type (CBOR is refused with how to
//! turn it off in the Java SDKs), the JSON, the target, then the `Authorization` header
//! (`MissingAuthenticationTokenException` without one; the SigV4 signature is verified when
//! `credentials` are configured), then the operation. Every answer carries `x-amzn-RequestId`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::{Api, OPERATIONS};
use super::errors::ApiError;
use super::signature::{self, Credentials, Signed};
use crate::kinesis::wire::{CONTENT_TYPE, TARGET_PREFIX};

/// The content type of AWS JSON 1.0, which some SDKs send.
const JSON_10: &str = "application/x-amz-json-1.0";
/// The content type the Java SDKs send by default.
const CBOR: &str = "application/x-amz-cbor-1.1";
/// What CBOR clients are told.
pub(crate) const CBOR_HINT: &str = "runnel's Kinesis endpoint speaks AWS JSON 1.1 only, not CBOR: set AWS_CBOR_DISABLE=1 (or -Dcom.amazonaws.sdk.disableCbor) for the AWS SDK for Java v1, CBOR_ENABLED=false (or -Daws.cborEnabled=false) for v2.";

/// The endpoint and its limits.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) api: Api,
    pub(crate) max_body_bytes: usize,
    /// When not empty, signatures are verified with these.
    pub(crate) credentials: Vec<Credentials>,
}

/// The router: every path and method goes to [`handle`].
pub(crate) fn router(endpoint: Arc<Endpoint>) -> Router {
    Router::new().fallback(handle).with_state(endpoint)
}

async fn handle(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let content_type = content_type.split(';').next().unwrap_or_default().trim().to_owned();
    let answer_type = if content_type == JSON_10 { JSON_10 } else { CONTENT_TYPE };
    let mut response = match to_bytes(body, endpoint.max_body_bytes).await {
        Err(_) => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Ok(body) => match check(&parts, &content_type, &body, &endpoint.credentials) {
            Err(error) => error_response(&error, answer_type),
            Ok(operation) => match endpoint.api.call(operation, &body).await {
                Ok(json) => ([(header::CONTENT_TYPE, answer_type)], json).into_response(),
                Err(error) => error_response(&error, answer_type),
            },
        },
    };
    response.headers_mut().insert("x-amzn-RequestId", request_id());
    response
}

/// The operation a request names, once its headers and body pass.
fn check<'a>(parts: &'a Parts, content_type: &str, body: &[u8], credentials: &[Credentials]) -> Result<&'a str, ApiError> {
    let (headers, query): (&HeaderMap, Option<&str>) = (&parts.headers, parts.uri.query());
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let operation = target.strip_prefix(TARGET_PREFIX).filter(|op| OPERATIONS.contains(op));
    let unknown = || ApiError { kind: "UnknownOperationException", message: format!("Unknown operation '{target}'."), status: 400 };
    if body.is_empty() {
        return Err(if operation.is_some() { ApiError::serialization("The request has no body.") } else { unknown() });
    }
    if content_type == CBOR {
        return Err(ApiError::serialization(CBOR_HINT));
    }
    if ![CONTENT_TYPE, JSON_10].contains(&content_type) {
        return Err(ApiError::serialization(format!("Unsupported content type '{content_type}': send {CONTENT_TYPE}.")));
    }
    if !serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object()) {
        return Err(ApiError::serialization("Start of structure or map found where not expected."));
    }
    let operation = operation.ok_or_else(unknown)?;
    let signed_query = query.is_some_and(|q| q.contains("X-Amz-Algorithm"));
    if !headers.contains_key(header::AUTHORIZATION) && !signed_query {
        return Err(ApiError { kind: "MissingAuthenticationTokenException", message: "Missing Authentication Token".into(), status: 400 });
    }
    if !credentials.is_empty() {
        let pairs: Vec<(&str, &str)> = headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))).collect();
        let request = Signed { method: parts.method.as_str(), path: parts.uri.path(), query: query.unwrap_or_default(), headers: &pairs, body };
        signature::verify(&request, credentials)?;
    }
    Ok(operation)
}

fn error_response(error: &ApiError, content_type: &'static str) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::to_vec(&error.body()).unwrap_or_default();
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], Body::from(body)).into_response();
    if let Ok(kind) = HeaderValue::from_str(error.kind) {
        response.headers_mut().insert("x-amzn-ErrorType", kind);
    }
    response
}

/// A random id in the shape of a UUID, as AWS's request ids are.
fn request_id() -> HeaderValue {
    let id: u128 = rand::random();
    let hex = format!("{id:032x}");
    let text = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}
