//! Unit tests of the `http_response` sink: how a message becomes an answer, and its
//! configuration's problems.

use axum::response::Response;
use runnel_engine::{Message, error_record};
use serde_json::{Value, json};

use super::config::HttpResponseConfig;
use super::reply::Shape;

fn shape(toml: &str) -> Shape {
    Shape::new(&toml::from_str::<HttpResponseConfig>(toml).expect("config"))
}

/// The status, the named headers, and the body of `answer`.
async fn parts(answer: Response, headers: &[&str]) -> (u16, Vec<Option<String>>, Vec<u8>) {
    let status = answer.status().as_u16();
    let found = headers.iter().map(|name| answer.headers().get(*name).map(|v| v.to_str().expect("text").to_owned())).collect();
    let body = axum::body::to_bytes(answer.into_body(), usize::MAX).await.expect("a body");
    (status, found, body.to_vec())
}

#[tokio::test]
async fn the_message_is_the_json_body_with_200_by_default() {
    let answer = shape("").reply(&Message::new(json!({"sum": 3}))).expect("a reply");
    let (status, headers, body) = parts(answer, &["content-type"]).await;
    assert_eq!((status, headers, body), (200, vec![Some("application/json".into())], br#"{"sum":3}"#.to_vec()));
}

#[tokio::test]
async fn status_and_headers_come_from_fields_and_leave_the_body() {
    let shape = shape("status_field = \"status\"\nheaders_field = \"headers\"\nheaders = { \"Cache-Control\" = \"no-store\", \"X-A\" = \"1\" }");
    let message = Message::new(json!({"status": 201, "headers": {"Location": "/items/7", "X-A": 2}, "id": 7}));
    let (status, headers, body) = parts(shape.reply(&message).expect("a reply"), &["location", "cache-control", "x-a"]).await;
    assert_eq!(status, 201);
    assert_eq!(headers, [Some("/items/7".into()), Some("no-store".into()), Some("2".into())], "the message's replace the static ones");
    assert_eq!(body, br#"{"id":7}"#);
    // Without the fields, the defaults and the whole message.
    let (status, _, body) = parts(shape.reply(&Message::new(json!([1]))).expect("a reply"), &[]).await;
    assert_eq!((status, body), (200, b"[1]".to_vec()));
}

#[tokio::test]
async fn a_body_field_or_base64_bytes() {
    let shape = shape("body_field = \"out\"\nbase64_field = \"base64\"\nstatus_field = \"status\"");
    let bytes = Message::new(json!({"base64": "iVBORw0KGgoA/w==", "content_type": "image/png", "out": 1}));
    let (status, headers, body) = parts(shape.reply(&bytes).expect("a reply"), &["content-type"]).await;
    assert_eq!((status, headers, body), (200, vec![Some("image/png".into())], b"\x89PNG\r\n\x1a\n\x00\xff".to_vec()));
    let (_, headers, body) = parts(shape.reply(&Message::new(json!({"out": {"a": [1]}, "x": 2}))).expect("a reply"), &["content-type"]).await;
    assert_eq!((headers, body), (vec![Some("application/json".into())], br#"{"a":[1]}"#.to_vec()));
    let (status, headers, body) = parts(shape.reply(&Message::new(json!({"status": 204, "out": 1}))).expect("a reply"), &["content-type"]).await;
    assert_eq!((status, body), (204, Vec::new()), "204 has no body");
    assert_eq!(headers, [Some("application/json".into())]);
    let (_, headers, body) = parts(shape.reply(&Message::new(json!({"x": 2}))).expect("a reply"), &["content-type"]).await;
    assert_eq!((headers, body), (vec![None], Vec::new()), "no body field, no body");
}

#[test]
fn bad_replies_say_which_field() {
    let shape = shape("status_field = \"status\"\nheaders_field = \"headers\"\nbase64_field = \"b\"");
    let why = |value: Value| shape.reply(&Message::new(value)).expect_err("refused");
    assert_eq!(why(json!({"status": 99})), "field `status`: 99 is not an HTTP status (200 to 599)");
    assert_eq!(why(json!({"status": "200"})), "field `status`: \"200\" is not an HTTP status (200 to 599)");
    assert_eq!(why(json!({"headers": []})), "field `headers` is not an object of headers");
    assert_eq!(why(json!({"headers": {"bad name": "x"}})), "field `headers`: `bad name` is not a header name");
    assert_eq!(why(json!({"headers": {"x": true}})), "field `headers`: header `x` is not a string");
    assert_eq!(why(json!({"b": "%%%"})), "field `b` is not base64 text");
}

#[tokio::test]
async fn an_error_record_is_answered_500_with_its_reason() {
    let record = error_record("compute", Message::new(json!({"a": "x"})), "cannot add a string and a number");
    let (status, _, body) = parts(shape("").reply(&record).expect("a reply"), &[]).await;
    assert_eq!(status, 500);
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("JSON"), json!({"error": "cannot add a string and a number", "node": "compute"}));
}

#[test]
fn validation_reports_every_problem() {
    let config: HttpResponseConfig = toml::from_str(
        "status = 99\nheaders = { \"bad name\" = \"x\", ok = \"\\u0001\" }\nstatus_field = \"\"\nbody_field = \"b\"\nbase64_field = \"b\"",
    )
    .expect("config");
    assert_eq!(
        config.problems(),
        [
            "`status`: 99 is not a status from 200 to 599",
            "`headers`: `bad name` is not a header name",
            "`headers`: the value of `ok` is not a header value",
            "`status_field` must not be empty",
            "`base64_field` and `body_field` must be different fields",
        ]
    );
}
