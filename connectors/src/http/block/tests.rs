//! Unit tests of the `http` block's pure parts: paths, answer formats, the cache, validation.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde_json::json;

use super::cache::{Cache, Cached, Lookup};
use super::config::{FieldPath, HttpBlockConfig, ResponseFormat};
use super::response::decode;

fn path(text: &str) -> FieldPath {
    FieldPath::try_from(text.to_owned()).expect("a valid path")
}

#[test]
fn paths_set_values_creating_objects_and_refuse_non_objects() {
    let mut value = json!({"user": "ann", "geo": {"old": 1}});
    path(".enrich.profile").set(&mut value, json!({"name": "Ann"})).expect("sets");
    path("geo").set(&mut value, json!("new")).expect("replaces");
    assert_eq!(value, json!({"user": "ann", "geo": "new", "enrich": {"profile": {"name": "Ann"}}}));
    assert_eq!(path("user.name").set(&mut value, json!(1)), Err("cannot set `user.name`: `.user` is not an object".to_owned()));
    assert_eq!(path("a").set(&mut json!([1]), json!(1)), Err("cannot set `a`: the message is not an object".to_owned()));
    for bad in ["", ".", "a..b", "a."] {
        assert!(FieldPath::try_from(bad.to_owned()).is_err(), "{bad:?}");
    }
}

#[test]
fn auto_reads_answers_by_content_type() {
    let ct = |text: &'static str| Some(HeaderValue::from_static(text));
    let auto = ResponseFormat::Auto;
    assert_eq!(decode(auto, ct("application/json; charset=utf-8").as_ref(), br#"{"a":1}"#), Ok(json!({"a": 1})));
    assert_eq!(decode(auto, ct("application/problem+json").as_ref(), b"[1]"), Ok(json!([1])));
    assert_eq!(decode(auto, ct("text/plain").as_ref(), "héllo".as_bytes()), Ok(json!("héllo")));
    assert_eq!(decode(auto, ct("application/xml").as_ref(), b"<a/>"), Ok(json!("<a/>")));
    assert_eq!(decode(auto, ct("image/png").as_ref(), &[0x89, b'P', b'N', b'G']), Ok(json!("iVBORw==")));
    assert_eq!(decode(auto, None, &[0, 255]), Ok(json!("AP8=")), "no content type: bytes");
    assert_eq!(decode(auto, ct("text/plain; charset=latin1").as_ref(), &[0xe9]), Ok(json!("6Q==")), "not UTF-8: bytes");
    assert_eq!(decode(auto, ct("application/json").as_ref(), b""), Ok(json!(null)), "204 No Content");
    let bad = decode(auto, ct("application/json").as_ref(), b"{nope").expect_err("not JSON");
    assert!(bad.starts_with("the answer is not JSON"), "{bad}");
}

#[test]
fn fixed_formats_ignore_the_content_type() {
    let html = Some(HeaderValue::from_static("text/html"));
    assert_eq!(decode(ResponseFormat::Json, html.as_ref(), b"{\"a\":1}"), Ok(json!({"a": 1})));
    assert_eq!(decode(ResponseFormat::Text, None, b"{\"a\":1}"), Ok(json!("{\"a\":1}")));
    assert_eq!(decode(ResponseFormat::Base64, html.as_ref(), b"hi"), Ok(json!("aGk=")));
    assert!(decode(ResponseFormat::Text, None, &[0xff]).expect_err("not UTF-8").contains("not UTF-8"));
}

fn cached(n: u16) -> Arc<Cached> {
    Arc::new(Cached { response: json!(n), status: n })
}

fn put(cache: &Cache, key: &str, n: u16) {
    match cache.lookup(key) {
        Lookup::Miss(filling) => filling.fill(cached(n)),
        other => panic!("{key}: {other:?}"),
    }
}

/// The live answer's status, if any (a miss's pending mark is taken away at once).
fn get(cache: &Cache, key: &str) -> Option<u16> {
    match cache.lookup(key) {
        Lookup::Hit(cached) => Some(cached.status),
        Lookup::Miss(_) => None,
        Lookup::Wait(_) => panic!("{key} is pending"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_cache_forgets_after_its_ttl_and_past_its_bound() {
    let cache = Cache::new(Duration::from_secs(10), 2);
    put(&cache, "a", 1);
    tokio::time::advance(Duration::from_secs(4)).await;
    put(&cache, "b", 2);
    assert_eq!(get(&cache, "a"), Some(1));
    tokio::time::advance(Duration::from_secs(2)).await;
    put(&cache, "c", 3);
    assert_eq!(get(&cache, "a"), None, "the oldest goes past max_entries");
    assert_eq!((get(&cache, "b"), cache.len()), (Some(2), 2));
    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(get(&cache, "b"), None, "b expired");
    assert_eq!(get(&cache, "c"), Some(3));
    put(&cache, "b", 4);
    assert_eq!((get(&cache, "b"), cache.len()), (Some(4), 2), "b stored again; its expired place went");
    tokio::time::advance(Duration::from_secs(20)).await;
    put(&cache, "d", 5);
    assert_eq!(cache.len(), 1, "expired entries are dropped as new ones come");
}

#[tokio::test]
async fn calls_for_a_pending_key_wait_for_its_answer_or_ask_when_it_fails() {
    let cache = Cache::new(Duration::from_secs(10), 10);
    let Lookup::Miss(first) = cache.lookup("k") else { panic!("a miss") };
    let Lookup::Wait(mut waiting) = cache.lookup("k") else { panic!("pending") };
    first.fill(cached(7));
    assert_eq!(waiting.wait_for(Option::is_some).await.expect("announced").as_ref().map(|c| c.status), Some(7));
    assert_eq!(get(&cache, "k"), Some(7));

    let Lookup::Miss(failing) = cache.lookup("f") else { panic!("a miss") };
    let Lookup::Wait(mut waiting) = cache.lookup("f") else { panic!("pending") };
    drop(failing);
    assert!(waiting.wait_for(Option::is_some).await.is_err(), "the channel closes without an answer");
    assert!(matches!(cache.lookup("f"), Lookup::Miss(_)), "the next call asks");
}

fn config(toml: &str) -> HttpBlockConfig {
    toml::from_str(toml).expect("a valid http block")
}

#[test]
fn validation_collects_every_problem() {
    let bad = config(
        "url = \"ftp://h/{x}\"\nresponse_at = \"r\"\nbody = \".\"\nheaders = { \"bad name\" = \"v\" }\nconcurrency = 0\nretry_initial_backoff_ms = 10\nretry_max_backoff_ms = 5\ncache = { key = \".k\", ttl = 0, max_entries = 0 }",
    );
    let problems = bad.problems();
    assert_eq!(problems.len(), 7, "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("GET request has no body")), "{problems:?}");
    let good = config("url = \"http://h/{x}\"\nmethod = \"POST\"\nbody = \"{id}\"\nresponse_at = \"r\"\nstatus_at = \"s\"");
    assert_eq!(good.problems(), Vec::<String>::new());
    assert_eq!((good.concurrency, good.ordered, good.response_format), (16, true, ResponseFormat::Auto));
    assert!(toml::from_str::<HttpBlockConfig>("url = \"http://h\"\nresponse_at = \"r\"\nretries = 3").is_err(), "unknown fields are refused");
    assert!(toml::from_str::<HttpBlockConfig>("url = \"http://h\"").is_err(), "response_at is required");
}
