//! A message into the HTTP answer it stands for: status, headers, and a JSON or bytes body.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use runnel_engine::Message;
use serde_json::{Map, Value, json};

use super::config::{HttpResponseConfig, valid_status};

/// How messages become answers, from the sink's configuration.
#[derive(Debug)]
pub(crate) struct Shape {
    status: StatusCode,
    status_field: Option<String>,
    headers: HeaderMap,
    headers_field: Option<String>,
    body_field: Option<String>,
    base64_field: Option<String>,
    content_type_field: String,
}

impl Shape {
    /// The shape `config` describes; `validate` checked its status and headers.
    pub(crate) fn new(config: &HttpResponseConfig) -> Self {
        let headers = config
            .headers
            .iter()
            .filter_map(|(name, value)| Some((HeaderName::try_from(name.as_str()).ok()?, HeaderValue::try_from(value.as_str()).ok()?)))
            .collect();
        Self {
            status: valid_status(u64::from(config.status)).unwrap_or(StatusCode::OK),
            status_field: config.status_field.clone(),
            headers,
            headers_field: config.headers_field.clone(),
            body_field: config.body_field.clone(),
            base64_field: config.base64_field.clone(),
            content_type_field: config.content_type_field.clone(),
        }
    }

    /// The answer `message` stands for.
    ///
    /// # Errors
    /// What is wrong with the message as a reply (a status that is not one, a header that cannot
    /// be sent, base64 that is not), naming the field.
    pub(crate) fn reply(&self, message: &Message) -> Result<Response, String> {
        if let Some(record) = error_record(message.value()) {
            return Ok(json_answer(StatusCode::INTERNAL_SERVER_ERROR, &record));
        }
        let object = message.value().as_object();
        let field = |name: &Option<String>| object?.get(name.as_deref()?);
        let status = match field(&self.status_field) {
            None => self.status,
            Some(value) => value
                .as_u64()
                .and_then(valid_status)
                .ok_or_else(|| format!("field `{}`: {value} is not an HTTP status (200 to 599)", self.status_field.as_deref().unwrap_or_default()))?,
        };
        let mut headers = self.headers.clone();
        if let Some(value) = field(&self.headers_field) {
            self.add_headers(value, &mut headers)?;
        }
        let body = if let Some(encoded) = field(&self.base64_field) {
            let bytes = encoded
                .as_str()
                .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
                .ok_or_else(|| format!("field `{}` is not base64 text", self.base64_field.as_deref().unwrap_or_default()))?;
            if !headers.contains_key(CONTENT_TYPE) {
                let kind = object.and_then(|o| o.get(&self.content_type_field)).and_then(Value::as_str).unwrap_or("application/octet-stream");
                let kind = HeaderValue::try_from(kind).map_err(|_| format!("field `{}` is not a content type", self.content_type_field))?;
                headers.insert(CONTENT_TYPE, kind);
            }
            Body::from(bytes)
        } else {
            match self.json_body(message) {
                Some(text) => {
                    headers.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static("application/json"));
                    Body::from(text)
                }
                None => Body::empty(),
            }
        };
        let mut answer = Response::new(if allows_body(status) { body } else { Body::empty() });
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        Ok(answer)
    }

    fn add_headers(&self, value: &Value, headers: &mut HeaderMap) -> Result<(), String> {
        let name = self.headers_field.as_deref().unwrap_or_default();
        let Value::Object(fields) = value else { return Err(format!("field `{name}` is not an object of headers")) };
        for (key, value) in fields {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => return Err(format!("field `{name}`: header `{key}` is not a string")),
            };
            let key = HeaderName::try_from(key.as_str()).map_err(|_| format!("field `{name}`: `{key}` is not a header name"))?;
            let text = HeaderValue::try_from(text).map_err(|_| format!("field `{name}`: the value of `{key}` is not a header value"))?;
            headers.insert(key, text);
        }
        Ok(())
    }

    /// The JSON text of the body, with the message's exact number literals; `None` for none.
    fn json_body(&self, message: &Message) -> Option<Vec<u8>> {
        let value = message.value();
        let body = match (&self.body_field, value) {
            (Some(field), Value::Object(object)) => Some(object.get(field)?.clone()),
            (Some(_), _) => return None,
            (None, Value::Object(object)) if self.has_taken_fields(object) => {
                let taken = [&self.status_field, &self.headers_field];
                let rest: Map<String, Value> = object
                    .iter()
                    .filter(|(key, _)| !taken.iter().any(|t| t.as_deref() == Some(key.as_str())))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Some(Value::Object(rest))
            }
            (None, _) => None,
        };
        let mut out = Vec::with_capacity(128);
        let written = match body {
            Some(body) => crate::codec::encode(&Message::with_meta(body, message.meta().clone()), &mut out),
            None => crate::codec::encode(message, &mut out),
        };
        // A value parsed from JSON or computed by jq always writes.
        written.ok().map(|()| out)
    }

    fn has_taken_fields(&self, object: &Map<String, Value>) -> bool {
        [&self.status_field, &self.headers_field].iter().any(|field| field.as_deref().is_some_and(|f| object.contains_key(f)))
    }
}

/// `{"error", "node"}` of an error record (what a block sends on its `errors` port), which is
/// answered 500 with its reason.
fn error_record(value: &Value) -> Option<Value> {
    let record = value.as_object()?;
    let (error, node) = (record.get("error")?.as_str()?, record.get("node")?.as_str()?);
    (record.get("origin")?.is_object() && record.contains_key("message")).then(|| json!({"error": error, "node": node}))
}

/// Statuses whose answers carry no body.
fn allows_body(status: StatusCode) -> bool {
    status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED
}

/// An answer with `value` as its JSON body.
pub(crate) fn json_answer(status: StatusCode, value: &Value) -> Response {
    let mut answer = Response::new(Body::from(format!("{value}\n")));
    *answer.status_mut() = status;
    answer.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}
