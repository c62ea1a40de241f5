//! Unit tests of the `http` sink's pure parts: URL templates, signing, validation.

use serde_json::json;

use super::batches::Batches;
use super::client::Signer;
use super::config::{Algorithm, BatchConfig, Encoding, HttpSinkConfig, SigningConfig};
use super::template::{RenderError, UrlTemplate};

fn template(text: &str) -> UrlTemplate {
    UrlTemplate::try_from(text.to_owned()).expect("parses")
}

#[test]
fn a_url_template_fills_and_encodes_fields() {
    let t = template("http://h/rooms/{room}?user={.from.user}&n={n}");
    let url = t.render(&json!({"room": "a/b c", "from": {"user": "é&x=1"}, "n": 3})).expect("renders");
    assert_eq!(url, "http://h/rooms/a%2Fb%20c?user=%C3%A9%26x%3D1&n=3");
    assert_eq!(t.render(&json!({"room": "r", "n": 1})), Err(RenderError::Missing("from.user".into())));
    assert_eq!(t.render(&json!({"room": [1], "from": {"user": "u"}, "n": 1})), Err(RenderError::NotScalar("room".into())));
    assert!(template("https://h/x").is_fixed());
}

#[test]
fn bad_templates_are_refused() {
    assert!(UrlTemplate::try_from("http://h/{room".to_owned()).is_err());
    assert!(UrlTemplate::try_from("http://h/{}".to_owned()).is_err());
    assert!(UrlTemplate::try_from("http://h/room}".to_owned()).is_err());
    assert_eq!(template("ftp://h/{x}").problems().len(), 1);
    assert_eq!(template("not a url {x}").problems().len(), 1);
    assert!(template("http://h:8080/{x}").problems().is_empty());
}

#[test]
fn signatures_are_github_style_hmacs() {
    let config = SigningConfig {
        secret: "It's a Secret to Everybody".into(),
        header: "X-Hub-Signature-256".into(),
        algorithm: Algorithm::Sha256,
        prefix: None,
    };
    // GitHub's documented example (docs "Validating webhook deliveries").
    let signed = Signer::new(&config).expect("valid").sign(b"Hello, World!");
    assert_eq!(signed, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    let sha1 = SigningConfig { algorithm: Algorithm::Sha1, prefix: Some("v1,".into()), ..config };
    let signed = Signer::new(&sha1).expect("valid").sign(b"Hello, World!");
    assert!(signed.to_str().expect("text").starts_with("v1,") && signed.len() == 3 + 40, "{signed:?}");
}

#[test]
fn validation_collects_every_problem() {
    let config: HttpSinkConfig = toml::from_str(
        "url = \"http://h/{x}\"\nheaders = { \"bad name\" = \"v\" }\nbatch = { max_events = 0 }\nrequest = { concurrency = 0, retry_initial_backoff_ms = 10, retry_max_backoff_ms = 5 }\nsigning = { secret = \"\" }",
    )
    .expect("parses");
    let problems = config.problems();
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(toml::from_str::<HttpSinkConfig>("url = \"http://h\"\nretries = 3").is_err(), "unknown fields are refused");
}

fn bodies(config: BatchConfig, encoding: Encoding, values: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut batches = Batches::new(config, encoding);
    let mut sealed = Vec::new();
    for value in values {
        let url = value["to"].as_str().expect("a URL").to_owned();
        sealed.extend(batches.push(url, runnel_engine::Message::new(value.clone())));
    }
    sealed.extend(batches.take_all());
    sealed.into_iter().map(|(url, b)| (url, String::from_utf8(b.body.to_vec()).expect("text"))).collect()
}

#[test]
fn batches_seal_per_url_at_a_count_or_a_size() {
    let by_count = BatchConfig { max_events: 2, max_bytes: 1 << 20, timeout_ms: 1_000 };
    let values = [json!({"to": "a"}), json!({"to": "b"}), json!({"to": "a"})];
    let mut sealed = bodies(by_count, Encoding::Json, &values);
    sealed.sort();
    assert_eq!(sealed, vec![("a".into(), r#"[{"to":"a"},{"to":"a"}]"#.into()), ("b".into(), r#"[{"to":"b"}]"#.into())]);
    let one = BatchConfig { max_events: 1, ..by_count };
    assert_eq!(bodies(one, Encoding::Json, &values[..1]), vec![("a".into(), r#"{"to":"a"}"#.into())], "one message goes alone");
    let by_size = BatchConfig { max_events: 100, max_bytes: 24, timeout_ms: 1_000 };
    let lines = bodies(by_size, Encoding::Ndjson, &[json!({"to": "a"}), json!({"to": "a"}), json!({"to": "a"})]);
    assert_eq!(lines, vec![("a".into(), "{\"to\":\"a\"}\n{\"to\":\"a\"}\n".into()), ("a".into(), "{\"to\":\"a\"}\n".into())]);
}

#[test]
fn retry_after_is_seconds_or_an_http_date() {
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
    let wait = |value| super::client::retry_after(value, now);
    assert_eq!(wait(" 120 "), Some(std::time::Duration::from_secs(120)));
    assert_eq!(wait("Wed, 21 Oct 2015 07:28:07 GMT"), Some(std::time::Duration::from_secs(7)));
    assert_eq!(wait("Wednesday, 21-Oct-15 07:29:00 GMT"), Some(std::time::Duration::from_secs(60)), "RFC 850's form");
    assert_eq!(wait("Wed Oct 21 07:28:30 2015"), Some(std::time::Duration::from_secs(30)), "asctime's form");
    assert_eq!(wait("Wed, 21 Oct 2015 07:00:00 GMT"), Some(std::time::Duration::ZERO), "past: no wait");
    assert_eq!(wait("soon"), None);
    assert_eq!(wait("-1"), None);
}
