use axum::http::HeaderMap;
use serde_json::json;

use super::body::{BodyError, Read, decode, reading};
use super::config::{BodyFormat, HttpServerConfig};
use super::pending::{Waiting, take};
use super::signature::{SignatureConfig, SignatureError, sign, sign_at};

fn values(read: Read, body: &str) -> Result<Vec<serde_json::Value>, BodyError> {
    decode(read, None, body.as_bytes()).map(|d| d.into_iter().map(|(v, _, _)| v).collect())
}

#[test]
fn content_types_choose_how_a_body_is_read() {
    assert_eq!(reading(BodyFormat::Auto, None), Ok(Read::SplitArrays));
    assert_eq!(reading(BodyFormat::Auto, Some("application/json; charset=utf-8")), Ok(Read::SplitArrays));
    assert_eq!(reading(BodyFormat::Auto, Some("application/vnd.github+json")), Ok(Read::SplitArrays));
    assert_eq!(reading(BodyFormat::Auto, Some("Application/X-NDJSON")), Ok(Read::Lines));
    assert_eq!(reading(BodyFormat::Json, Some("application/json")), Ok(Read::Document));
    assert_eq!(reading(BodyFormat::Ndjson, Some("text/plain")), Ok(Read::Lines));
    let refused = reading(BodyFormat::Auto, Some("application/x-www-form-urlencoded")).expect_err("a form is not JSON");
    assert_eq!(
        refused.to_string(),
        "content type `application/x-www-form-urlencoded` is not JSON (`application/json`), NDJSON (`application/x-ndjson`) or `multipart/form-data`"
    );
    assert!(reading(BodyFormat::Ndjson, Some("application/json")).is_err());
}

#[test]
fn bodies_become_one_or_many_values() {
    assert_eq!(values(Read::SplitArrays, r#"{"a": 1}"#), Ok(vec![json!({"a": 1})]));
    assert_eq!(values(Read::SplitArrays, "[1, {\"b\": 2}]"), Ok(vec![json!(1), json!({"b": 2})]));
    assert_eq!(values(Read::Document, "[1, 2]"), Ok(vec![json!([1, 2])]));
    assert_eq!(values(Read::Array, "{}"), Err(BodyError::NotArray));
    assert_eq!(values(Read::Lines, "{\"a\": 1}\r\n\n  \n[2]\n"), Ok(vec![json!({"a": 1}), json!([2])]));
    assert_eq!(values(Read::Lines, ""), Ok(vec![]));
    let sizes: Vec<usize> = decode(Read::Lines, None, b"{\"a\":1}\n22\n").expect("NDJSON").into_iter().map(|(_, _, s)| s).collect();
    assert_eq!(sizes, [7, 2]);
}

#[test]
fn binary_bodies_are_one_message_in_base64() {
    assert_eq!(reading(BodyFormat::Binary, Some("image/png")), Ok(Read::Binary));
    let decoded = decode(Read::Binary, Some("image/png"), b"\x89PNG\xff").expect("any bytes");
    assert_eq!(decoded[0].0, json!({"base64": "iVBOR/8=", "content_type": "image/png", "bytes": 5}));
    assert_eq!(decoded[0].2, 5);
}

#[test]
fn a_bad_body_says_where() {
    let error = values(Read::Lines, "{\"a\": 1}\n{\"a\": 2}\n{\"a\": \n").expect_err("line 3 is cut");
    assert!(matches!(&error, BodyError::Line { line: 3, .. }), "{error}");
    assert!(error.to_string().starts_with("invalid JSON on line 3: "), "{error}");
    assert!(matches!(values(Read::SplitArrays, "{nope}"), Err(BodyError::Json(_))));
    assert_eq!(decode(Read::Document, None, b"\"a\xff\"").map(|_| ()), Err(BodyError::NotUtf8(3)));
}

#[test]
fn numbers_keep_their_literals() {
    let decoded = decode(Read::SplitArrays, None, b"[1e400, 0.1000000000000000055511151231257827]").expect("JSON");
    assert!(decoded.iter().all(|(_, exact, _)| exact.is_some()));
}

fn github(secret: &str) -> SignatureConfig {
    toml::from_str(&format!("header = \"X-Hub-Signature-256\"\nsecret = \"{secret}\"\nprefix = \"sha256=\"")).expect("config")
}

#[test]
fn signatures_match_github_s() {
    // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
    let config = github("It's a Secret to Everybody");
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(sign(&config, b"Hello, World!"), expected);
    let mut headers = HeaderMap::new();
    let verifier = config.verifier();
    assert_eq!(verifier.verify(&headers, b"Hello, World!"), Err(SignatureError::Missing("X-Hub-Signature-256".into())));
    headers.insert("x-hub-signature-256", expected.parse().expect("header"));
    assert_eq!(verifier.verify(&headers, b"Hello, World!"), Ok(()));
    assert_eq!(verifier.verify(&headers, b"Hello, World?"), Err(SignatureError::Mismatch));
    headers.insert("x-hub-signature-256", "sha256=75zz".parse().expect("header"));
    assert_eq!(verifier.verify(&headers, b"Hello, World!"), Err(SignatureError::Malformed("hexadecimal")));
    headers.insert("x-hub-signature-256", "757107ea".parse().expect("header"));
    assert!(matches!(verifier.verify(&headers, b"Hello, World!"), Err(SignatureError::Missing(_))), "no prefix");
}

#[test]
fn base64_signatures_verify() {
    let config: SignatureConfig =
        toml::from_str("header = \"X-Shopify-Hmac-Sha256\"\nsecret = \"0123456789abcdef\"\nencoding = \"base64\"\nalgorithm = \"sha512\"")
            .expect("config");
    let mut headers = HeaderMap::new();
    headers.insert("x-shopify-hmac-sha256", sign(&config, b"{}").parse().expect("header"));
    assert_eq!(config.verifier().verify(&headers, b"{}"), Ok(()));
}

fn problems(toml: &str) -> Vec<String> {
    toml::from_str::<HttpServerConfig>(toml).expect("config").problems()
}

#[test]
fn validation_reports_every_problem() {
    assert_eq!(problems("address = \"127.0.0.1:0\""), Vec::<String>::new());
    let found = problems(
        r#"address = "nowhere"
max_body_bytes = 0
headers = ["bad header"]
signature = { header = "X-Sig", secret = "short" }
routes = [
  { method = "POST", path = "/hooks/{name}" },
  { method = "POST", path = "/hooks/{name}" },
  { method = "PUT", path = "/hooks/{other}" },
  { method = "GET", path = "/x/{route}" },
  { method = "FETCH", path = "relative" },
  { path = "/waits", ack = "reply", timeout_ms = 0, max_concurrent_requests = 0 },
  { path = "/long", timeout_ms = 90000 },
]"#,
    );
    let expected = [
        "`address` `nowhere` is not an IP address and port",
        "route `POST /hooks/{name}` is listed twice",
        "route `/hooks/{other}`:",
        "route `/x/{route}`: parameter `{route}`",
        "route `relative`: method `FETCH`",
        "route `relative`: the path must start with `/`",
        "route `/waits`: `timeout_ms` must be at least 1",
        "route `/waits`: `max_concurrent_requests` must be at least 1",
        "`idle_timeout_ms` must exceed `backpressure_timeout_ms` + `delivery_timeout_ms` (and each route's `timeout_ms`)",
        "`max_body_bytes` must be at least 1",
        "`headers`: `bad header`",
        "`signature.secret` must be at least 16 bytes long",
    ];
    for problem in expected {
        assert!(found.iter().any(|f| f.starts_with(problem)), "{problem} not in {found:#?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn a_waiting_request_is_answered_once_and_forgotten_when_dropped() {
    let (first, second) = (Waiting::register(), Waiting::register());
    assert_ne!(first.id, second.id);
    let slots = take([Some(first.id), Some(first.id), None].into_iter());
    assert_eq!(slots.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, false], "a slot is taken once");
    let id = second.id;
    drop(second);
    assert!(take([Some(id)].into_iter())[0].is_none(), "a request that stopped waiting has no slot");
}

fn stripe(tolerance: u64) -> SignatureConfig {
    toml::from_str(&format!("header = \"Stripe-Signature\"\nscheme = \"stripe\"\nsecret = \"whsec_0123456789abcdef\"\ntolerance_secs = {tolerance}"))
        .expect("config")
}

#[test]
fn stripe_signatures_sign_the_time_and_body_and_expire() {
    let config = stripe(300);
    let verifier = config.verifier();
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let now = 1_700_000_000;
    let header = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("stripe-signature", value.parse().expect("header"));
        headers
    };
    let signed = sign_at(&config, body, now);
    assert!(signed.starts_with("t=1700000000,v1=") && signed.len() == "t=1700000000,v1=".len() + 64, "{signed}");
    assert_eq!(verifier.verify_at(&header(&signed), body, now + 10), Ok(()));
    // Several signatures (a secret being rolled) and test-mode `v0` entries: any `v1` may match.
    let rolled = format!("t={now},v0=abcd,v1={},{}", "00".repeat(32), signed.split_once(",").expect("two parts").1);
    assert_eq!(verifier.verify_at(&header(&rolled), body, now), Ok(()));
    assert_eq!(verifier.verify_at(&header(&signed), b"{}", now), Err(SignatureError::Mismatch));
    let replayed = verifier.verify_at(&header(&signed), body, now + 301);
    assert_eq!(replayed, Err(SignatureError::Stale { age: 301, tolerance: 300 }));
    assert_eq!(replayed.expect_err("stale").to_string(), "the signature's time is 301 s from now, past the tolerance of 300 s");
    assert!(matches!(verifier.verify_at(&header(&signed), body, now - 400), Err(SignatureError::Stale { .. })), "from the future");
    // The time is signed: moving it breaks the signature.
    let moved = signed.replacen("t=1700000000", "t=1700000300", 1);
    assert_eq!(verifier.verify_at(&header(&moved), body, now + 300), Err(SignatureError::Mismatch));
    for malformed in ["v1=00", "t=soon,v1=00", "t=1700000000", "t=1700000000,v1=zz", "garbage"] {
        assert!(matches!(verifier.verify_at(&header(malformed), body, now), Err(SignatureError::Malformed(_))), "{malformed}");
    }
    assert!(matches!(verifier.verify_at(&HeaderMap::new(), body, now), Err(SignatureError::Missing(_))));
    let wrong: SignatureConfig =
        toml::from_str("header = \"Stripe-Signature\"\nscheme = \"stripe\"\nsecret = \"0123456789abcdef\"\nprefix = \"v1=\"\ntolerance_secs = 0")
            .expect("config");
    assert_eq!(wrong.problems().len(), 2, "{:?}", wrong.problems());
}

const FORM: &str = "multipart/form-data; boundary=XyZ";

fn form_body() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n");
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\x00\xff\r\n");
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nsea\r\n");
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nsun\r\n");
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"notes\"; filename=\"n.txt\"\r\n\r\nhi\r\n");
    body.extend_from_slice(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"empty\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n",
    );
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

#[tokio::test]
async fn multipart_forms_are_one_message_per_file_with_the_text_fields() {
    assert_eq!(reading(BodyFormat::Auto, Some(FORM)), Ok(Read::Multipart));
    assert_eq!(reading(BodyFormat::Multipart, Some(FORM)), Ok(Read::Multipart));
    assert!(reading(BodyFormat::Multipart, Some("application/json")).is_err());
    let decoded = super::multipart::decode(FORM, form_body()).await.expect("a form");
    let form = json!({"title": "holiday", "tag": ["sea", "sun"]});
    let expected = [
        json!({"base64": "iVBORw0KGgoA/w==", "content_type": "image/png", "bytes": 10, "file_name": "a.png", "field": "photo", "form": form}),
        json!({"base64": "aGk=", "content_type": null, "bytes": 2, "file_name": "n.txt", "field": "notes", "form": form}),
    ];
    assert_eq!(decoded.iter().map(|(v, _, _)| v.clone()).collect::<Vec<_>>(), expected, "the empty file input is skipped");
    assert_eq!(decoded[0].2, 10);
    let text_only = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n".to_vec();
    let decoded = super::multipart::decode(FORM, text_only).await.expect("a form");
    assert_eq!(decoded[0].0, json!({"form": {"a": "1"}}));
}

#[tokio::test]
async fn a_cut_or_malformed_multipart_body_is_refused_whole() {
    let body = form_body();
    let cut = body[..body.len() / 2].to_vec();
    let error = super::multipart::decode(FORM, cut).await.expect_err("cut short");
    assert!(error.to_string().starts_with("invalid multipart body: "), "{error}");
    let error = super::multipart::decode("multipart/form-data", body.clone()).await.expect_err("no boundary");
    assert_eq!(error.to_string(), "invalid multipart body: multipart boundary not found in Content-Type");
    let latin1 = b"--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\ncaf\xe9\r\n--XyZ--\r\n".to_vec();
    let error = super::multipart::decode(FORM, latin1).await.expect_err("not UTF-8");
    assert_eq!(error.to_string(), "invalid multipart body: form field `t` is not UTF-8 text");
    let error = super::multipart::decode(FORM, b"no parts at all".to_vec()).await.expect_err("garbage");
    assert!(error.to_string().starts_with("invalid multipart body: "), "{error}");
}
