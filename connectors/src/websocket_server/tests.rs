//! Unit tests of the server's pure parts: templates, tokens, requests, queues and the hub.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use axum::http::HeaderMap;
use runnel_engine::{BlockConfig, Metadata};
use serde_json::{Value, json};

use super::auth::{AuthConfig, AuthError, Identity, sign_jwt, verify_jwt};
use super::client::{Client, Close};
use super::config::{SlowConsumer, WebSocketServerConfig};
use super::http::{inside, safe_relative};
use super::hub::{Hub, Settings, SubscribeError};
use super::metrics::{SUBSCRIPTIONS_REFUSED, ServerMetrics};
use super::protocol::{self, BadRequest, Request};
use super::template::Template;

fn template(text: &str) -> Template {
    Template::try_from(text.to_owned()).expect("a valid template")
}

#[test]
fn templates_read_fields_then_attributes() {
    let mut meta = Metadata::default();
    meta.set_attribute("client_id", json!("c7"));
    let value = json!({"room": "lobby", "n": 3, "from": {"user": "ann"}});
    assert_eq!(template("chat/pub/{room}").render(&value, None), Ok("chat/pub/lobby".to_owned()));
    assert_eq!(template("chat/in/{client_id}").render(&value, Some(&meta)), Ok("chat/in/c7".to_owned()));
    assert_eq!(template("{from.user}-{n}").render(&value, None), Ok("ann-3".to_owned()));
    let missing = template("chat/pub/{room}").render(&json!({}), None).unwrap_err();
    assert!(missing.contains("no `room`"), "{missing}");
    assert!(template("x/{from}").render(&value, None).is_err(), "objects are not channel names");
    for bad in ["", "a/{", "a/{}", "a}", "{a..b}"] {
        assert!(Template::try_from(bad.to_owned()).is_err(), "{bad:?}");
    }
    assert_eq!(template("chat/in/{client_id}").prefix(), "chat/in/");
}

#[test]
fn tokens_come_from_the_bearer_header_or_the_query() {
    let auth: AuthConfig = toml::from_str("tokens = [\"s3cret\"]").expect("config");
    let mut headers = HeaderMap::new();
    assert_eq!(auth.check(&headers, &[]), Err(AuthError::Missing));
    assert!(auth.check(&headers, &[("token".into(), "s3cret".into())]).is_ok());
    assert_eq!(auth.check(&headers, &[("token".into(), "nope".into())]), Err(AuthError::Invalid));
    headers.insert("authorization", "Bearer s3cret".parse().expect("header"));
    assert!(auth.check(&headers, &[]).is_ok());
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let auth: AuthConfig = toml::from_str("tokens = [\"s3cret\"]").expect("config");
    for value in ["bearer s3cret", "BEARER s3cret", "bEaReR   s3cret ", "Bearer s3cret"] {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value.parse().expect("header"));
        assert_eq!(auth.check(&headers, &[]), Ok(Identity::default()), "{value:?}");
    }
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Basic s3cret".parse().expect("header"));
    assert_eq!(auth.check(&headers, &[]), Err(AuthError::Missing), "another scheme carries no bearer token");
}

const SECRET: &[u8] = b"0123456789abcdef-secret";
const LEEWAY: f64 = 30.0;

fn verify(claims: Value, now: f64) -> Result<Option<String>, AuthError> {
    verify_jwt(SECRET, &sign_jwt(SECRET, &claims), now, LEEWAY).map(|identity| identity.subject)
}

#[test]
fn jwts_are_verified_with_the_secret_and_their_times() {
    let token = sign_jwt(SECRET, &json!({"sub": "ann", "exp": 2_000}));
    assert_eq!(verify_jwt(SECRET, &token, 1_000.0, LEEWAY).map(|i| i.subject), Ok(Some("ann".to_owned())));
    assert_eq!(verify_jwt(SECRET, &token, 2_030.0, LEEWAY), Err(AuthError::Expired));
    assert_eq!(verify_jwt(b"another-secret-of-16", &token, 1_000.0, LEEWAY), Err(AuthError::Invalid));
    let (head, rest) = token.split_once('.').expect("three parts");
    let forged_claims = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, r#"{"sub":"root"}"#);
    let forged = format!("{head}.{forged_claims}.{}", rest.split_once('.').expect("signature").1);
    assert_eq!(verify_jwt(SECRET, &forged, 1_000.0, LEEWAY), Err(AuthError::Invalid));
    let unsigned = format!("{}.{forged_claims}.", base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, r#"{"alg":"none"}"#));
    assert_eq!(verify_jwt(SECRET, &unsigned, 1_000.0, LEEWAY), Err(AuthError::Invalid));
    assert_eq!(verify(json!({"nbf": 5_000}), 1_000.0), Err(AuthError::Invalid));
}

#[test]
fn registered_claims_follow_rfc_7519_with_a_leeway() {
    let now = 1_700_000_000.25;
    // NumericDates may be fractional: an hour ago plus half a second is still an hour ago.
    assert_eq!(verify(json!({"exp": now - 3_600.0 + 0.5}), now), Err(AuthError::Expired));
    assert_eq!(verify(json!({"exp": now + 0.5, "sub": "ann"}), now), Ok(Some("ann".to_owned())));
    // The leeway: expired 29.5 s ago still passes, 30.5 s ago does not; the same for `nbf`.
    assert_eq!(verify(json!({"exp": now - 29.5}), now), Ok(None));
    assert_eq!(verify(json!({"exp": now - 30.5}), now), Err(AuthError::Expired));
    assert_eq!(verify(json!({"nbf": now + 29.5}), now), Ok(None));
    assert_eq!(verify(json!({"nbf": now + 30.5}), now), Err(AuthError::Invalid));
    // A date that is not a number makes the token invalid, instead of never expiring.
    for exp in [json!("soon"), json!(null), json!([1]), json!({"at": 1}), json!(true)] {
        assert_eq!(verify(json!({"exp": exp.clone(), "sub": "eve"}), now), Err(AuthError::Invalid), "exp = {exp}");
        assert_eq!(verify(json!({"nbf": exp.clone()}), now), Err(AuthError::Invalid), "nbf = {exp}");
    }
    // A subject that is not a string is invalid: it must not fall back to the `user` parameter.
    for sub in [json!(42), json!(null), json!(["root"]), json!({"name": "root"})] {
        assert_eq!(verify(json!({"sub": sub.clone()}), now), Err(AuthError::Invalid), "sub = {sub}");
    }
}

#[test]
fn the_leeway_is_configurable_and_small() {
    let auth: AuthConfig = toml::from_str("hmac_secret = \"0123456789abcdef-secret\"").expect("config");
    assert_eq!(auth.leeway_ms, 30_000);
    assert!(auth.problems().is_empty());
    let lax: AuthConfig = toml::from_str("hmac_secret = \"0123456789abcdef-secret\"\nleeway_ms = 3600000").expect("config");
    assert_eq!(lax.problems(), vec!["`auth.leeway_ms` must be at most 300000 (5 minutes)".to_owned()]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
    let expired = sign_jwt(SECRET, &json!({"sub": "ann", "exp": now - 10.0}));
    let strict: AuthConfig = toml::from_str("hmac_secret = \"0123456789abcdef-secret\"\nleeway_ms = 0").expect("config");
    assert_eq!(auth.check(&HeaderMap::new(), &[("token".into(), expired.clone())]).map(|i| i.subject), Ok(Some("ann".to_owned())));
    assert_eq!(strict.check(&HeaderMap::new(), &[("token".into(), expired)]), Err(AuthError::Expired));
}

#[test]
fn requests_parse_and_bare_values_are_publications() {
    assert_eq!(protocol::parse(r#"{"op":"subscribe","channel":"a"}"#), Ok(Request::Subscribe("a".into())));
    assert_eq!(
        protocol::parse(r#"{"op":"publish","channel":"a","data":{"x":1}}"#),
        Ok(Request::Publish { channel: Some("a".into()), data: json!({"x": 1}), exact: None })
    );
    assert_eq!(protocol::parse(r#"{"x":1}"#), Ok(Request::Publish { channel: None, data: json!({"x": 1}), exact: None }));
    assert!(matches!(protocol::parse("{nope"), Err(BadRequest::NotJson(_))));
    assert!(matches!(protocol::parse(r#"{"op":"subscribe"}"#), Err(BadRequest::Refused(_))));
    assert!(matches!(protocol::parse(r#"{"op":"dance"}"#), Err(BadRequest::Refused(_))));
    let frame = protocol::delivery(true, "a/b", r#"{"x":1}"#, true);
    let parsed: Value = serde_json::from_str(frame.as_str()).expect("JSON");
    assert_eq!(parsed, json!({"channel": "a/b", "data": {"x": 1}, "history": true}));
}

fn frames(texts: &[&str]) -> Vec<Utf8Bytes> {
    texts.iter().map(|t| Utf8Bytes::from(*t)).collect()
}

async fn drain(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    client.next(&mut out).await;
    out.iter().map(|f| f.as_str().to_owned()).collect()
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_frames() {
    let client = Client::new(Arc::from("c1"), None, 3, SlowConsumer::DropOldest);
    assert_eq!(client.push(&frames(&["1", "2"])).dropped, 0);
    assert_eq!(client.push(&frames(&["3", "4"])).dropped, 1);
    assert_eq!(client.push(&frames(&["5", "6", "7", "8"])).dropped, 4);
    assert_eq!(drain(&client).await, ["6", "7", "8"]);
}

#[tokio::test]
async fn a_full_queue_disconnects_under_the_disconnect_policy() {
    let client = Client::new(Arc::from("c1"), None, 2, SlowConsumer::Disconnect);
    client.push(&frames(&["1", "2"]));
    let pushed = client.push(&frames(&["3"]));
    assert!(pushed.disconnected);
    assert!(client.kill.is_cancelled());
    let mut out = Vec::new();
    assert_eq!(client.next(&mut out).await, Some(Close::SlowConsumer));
    assert!(out.is_empty(), "nothing more is written to a slow consumer");
}

#[tokio::test]
async fn a_closing_client_gets_its_queue_first() {
    let client = Client::new(Arc::from("c1"), None, 8, SlowConsumer::DropOldest);
    client.push(&frames(&["1"]));
    client.close(Close::Shutdown);
    assert_eq!(drain(&client).await, ["1"]);
    let mut out = Vec::new();
    assert_eq!(client.next(&mut out).await, Some(Close::Shutdown));
}

fn hub(history: usize) -> Arc<Hub> {
    hub_counting(history, &runnel_engine::PipelineMetrics::new())
}

/// A hub whose metrics are recorded in `metrics`.
fn hub_counting(history: usize, metrics: &runnel_engine::PipelineMetrics) -> Arc<Hub> {
    let settings = Settings {
        queue: 64,
        slow_consumer: SlowConsumer::DropOldest,
        envelope: true,
        history,
        private_channel: Some(template("in/{client_id}")),
        default_channel: None,
        max_connections: 2,
        max_subscriptions: 2,
        ping_interval: std::time::Duration::from_secs(30),
        pong_timeout: std::time::Duration::from_secs(10),
    };
    Hub::new(settings, ServerMetrics::register(metrics, "ws")).0
}

#[tokio::test]
async fn subscribers_get_history_then_live_messages_once() {
    let hub = hub(2);
    assert_eq!(hub.deliver("room", &frames(&["1", "2", "3"]), true), (0, true));
    let client = hub.join(Some(Arc::from("ann")));
    assert_eq!(hub.subscribe(&client, "room"), Ok(true));
    assert_eq!(hub.deliver("room", &frames(&["4"]), true), (1, true));
    let got = drain(&client).await;
    assert!(got[0].contains(r#""op":"welcome""#) && got[0].contains(r#""client_id":"c1""#), "{got:?}");
    assert!(got[1].contains(r#""op":"subscribed""#) && got[1].contains(r#""history":2"#), "{got:?}");
    assert_eq!(
        &got[2..],
        [r#"{"channel":"room","data":2,"history":true}"#, r#"{"channel":"room","data":3,"history":true}"#, r#"{"channel":"room","data":4}"#,]
    );
}

#[tokio::test]
async fn private_channels_reach_one_client_and_cannot_be_joined() {
    let hub = hub(5);
    let ann = hub.join(None);
    let bob = hub.join(None);
    assert!(hub.subscribe(&bob, "in/c1").is_err(), "bob cannot listen to ann's channel");
    assert_eq!(hub.deliver("in/c1", &frames(&["9"]), true), (1, false), "private channels keep no history");
    let got = drain(&ann).await;
    assert_eq!(got.last().map(String::as_str), Some(r#"{"channel":"in/c1","data":9}"#));
    assert_eq!(drain(&bob).await.len(), 1, "bob only got his welcome");
    assert_eq!(hub.leave(&ann).into_iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["in/c1"]);
    assert_eq!(hub.deliver("in/c1", &frames(&["10"]), true), (0, false));
}

#[test]
fn subscriptions_per_client_are_limited_and_refusals_counted() {
    let metrics = runnel_engine::PipelineMetrics::new();
    let hub = hub_counting(0, &metrics);
    let ann = hub.join(None);
    assert_eq!(hub.subscribe(&ann, "a"), Ok(true));
    assert_eq!(hub.subscribe(&ann, "b"), Ok(true), "the private channel does not count");
    assert_eq!(hub.subscribe(&ann, "c"), Err(SubscribeError::TooMany(2)));
    assert_eq!(hub.subscribe(&ann, "a"), Ok(false), "subscribing again takes no room");
    assert!(hub.unsubscribe(&ann, "a"));
    assert_eq!(hub.subscribe(&ann, "c"), Ok(true));
    assert_eq!(hub.subscribe(&ann, "in/c2"), Err(SubscribeError::Private("in/c2".into())));
    assert_eq!(hub.deliver("c", &frames(&["1"]), false), (1, false));
    assert_eq!(hub.deliver("a", &frames(&["2"]), false), (0, false));
    let refused = |reason| metrics.total(SUBSCRIPTIONS_REFUSED, Some(("reason", reason)));
    assert_eq!((refused("max_subscriptions"), refused("private")), (1.0, 1.0));
}

#[test]
fn connections_are_limited() {
    let hub = hub(0);
    let first = hub.reserve();
    let second = hub.reserve();
    assert!(first.is_some() && second.is_some());
    assert!(hub.reserve().is_none());
    drop(first);
    assert!(hub.reserve().is_some());
}

#[test]
fn static_paths_stay_inside_the_folder() {
    assert_eq!(safe_relative("/").as_deref(), Some("index.html"));
    assert_eq!(safe_relative("/app.js").as_deref(), Some("app.js"));
    assert_eq!(safe_relative("/css/").as_deref(), Some("css/index.html"));
    for bad in ["/../etc/passwd", "/a/../../b", "/.git/config", "/a\\..\\b"] {
        assert_eq!(safe_relative(bad), None, "{bad}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn links_in_the_static_folder_may_not_lead_out_of_it() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret"), "s3cret").expect("writes");
    let site = tempfile::tempdir().expect("tempdir");
    let dir = site.path().join("www");
    std::fs::create_dir_all(dir.join("css")).expect("creates");
    std::fs::create_dir(site.path().join("www2")).expect("creates");
    std::fs::write(dir.join("index.html"), "<h1>hi</h1>").expect("writes");
    std::fs::write(dir.join(".env"), "TOKEN=x").expect("writes");
    std::fs::write(site.path().join("www2/page.html"), "next door").expect("writes");
    let link = |target: &std::path::Path, name: &str| std::os::unix::fs::symlink(target, dir.join(name)).expect("links");
    link(&outside.path().join("secret"), "secret");
    link(outside.path(), "out");
    link(std::path::Path::new("../www2/page.html"), "sibling");
    link(std::path::Path::new("/etc/passwd"), "passwd");
    link(std::path::Path::new("index.html"), "home.html");
    link(std::path::Path::new(".env"), "env");
    link(std::path::Path::new("../www/css"), "styles");

    assert_eq!(inside(&dir, "index.html").await, Some(dir.canonicalize().expect("exists").join("index.html")));
    assert!(inside(&dir, "home.html").await.is_some(), "a link inside the folder is served");
    assert!(inside(&dir, "styles").await.is_some(), "a link that leaves and comes back in is served");
    for escaping in ["secret", "out/secret", "sibling", "passwd", "env", "missing.html"] {
        assert_eq!(inside(&dir, escaping).await, None, "{escaping}");
    }
    let linked_root = site.path().join("linked");
    std::os::unix::fs::symlink(&dir, &linked_root).expect("links");
    assert!(inside(&linked_root, "index.html").await.is_some(), "the folder itself may be a link");
}

#[test]
fn the_configuration_is_checked() {
    let config: WebSocketServerConfig = toml::from_str(
        r#"address = "nowhere"
        path = "ws"
        queue = 4
        max_subscriptions = 0
        max_pending_connections = 0
        header_read_timeout_ms = 0
        private_channel = "{client_id}"
        history = { size = 8, file = "log.ndjson" }
        auth = { hmac_secret = "short" }"#,
    )
    .expect("deserialises");
    let problems = config.validate();
    for expected in [
        "`address`",
        "`path`",
        "cannot exceed `queue`",
        "needs `history.channel`",
        "`private_channel`",
        "16 bytes",
        "`max_subscriptions`",
        "`max_pending_connections`",
        "`header_read_timeout_ms`",
    ] {
        assert!(problems.iter().any(|p| p.contains(expected)), "{expected} not in {problems:?}");
    }
}

#[test]
fn the_listener_limits_default_to_bounded_values() {
    let config: WebSocketServerConfig = toml::from_str(r#"address = "127.0.0.1:0""#).expect("deserialises");
    let limits = config.listener_limits();
    assert_eq!(limits.header_read_timeout, std::time::Duration::from_secs(10));
    assert_eq!(limits.idle_timeout, std::time::Duration::from_secs(60));
    assert_eq!(limits.max_pending, 512);
    assert!(config.validate().is_empty());
}

#[tokio::test]
async fn a_history_line_that_is_not_utf8_is_skipped_and_the_rest_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("log.ndjson");
    std::fs::write(&file, b"{\"room\":\"r\",\"n\":1}\n{\"room\":\"r\",\"n\":\"\xff\"}\n\n{\"room\":\"r\",\"n\":3}\n{\"room\":").expect("writes");
    let hub = hub(8);
    super::source::seed_history(&hub, &file, &template("{room}")).await.expect("a bad line does not stop the server");
    let client = hub.join(None);
    assert_eq!(hub.subscribe(&client, "r"), Ok(true));
    let got = drain(&client).await;
    assert!(got[1].contains(r#""history":2"#), "the two good lines: {got:?}");
}
