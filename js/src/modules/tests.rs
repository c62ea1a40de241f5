//! The modules in a pipeline: handlers that import them, run by the `function` block.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use runnel_engine::{BlockConfig, PipelineBuilder};
use serde_json::{Value, json};

use super::store::Store;
use crate::tests::{Collected, Values, config, run};

/// A block whose store is `store` and whose handler is `code`, with more fields in `extra`.
fn block(store: &Path, extra: &str, code: &str) -> crate::FunctionConfig {
    config(&format!("kvstore = '{}'\n{extra}\ncode = '''\n{code}\n'''", store.display()))
}

fn error_texts(errors: &[Value]) -> Vec<&str> {
    errors.iter().map(|e| e["error"].as_str().expect("an error text")).collect()
}

#[tokio::test]
async fn kvstore_sets_gets_counts_and_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let code = r#"import kvstore from "kvstore";
import { incrCounter, getCounter } from "kvstore";
export default async (event) => {
  const before = await kvstore.get(event.key);
  await kvstore.set(event.key, { n: event.n, tags: ["a"] });
  const after = await kvstore.getItem(event.key);
  const count = await incrCounter("events", event.n);
  const removed = await kvstore.removeItem("gone");
  await kvstore.setItem("gone", "x");
  return { before, after, count, total: await getCounter("events"), removed };
};"#;
    let outcome = run(block(&dir.path().join("kv.sqlite"), "", code), vec![json!({"key": "k", "n": 2}), json!({"key": "k", "n": 3})]).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(
        outcome.out,
        [
            json!({"before": null, "after": {"n": 2, "tags": ["a"]}, "count": 2, "total": 2, "removed": false}),
            json!({"before": {"n": 2, "tags": ["a"]}, "after": {"n": 3, "tags": ["a"]}, "count": 5, "total": 5, "removed": true}),
        ]
    );
}

#[tokio::test]
async fn kvstore_refuses_values_and_ttls_it_cannot_keep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let code = r#"import kvstore from "kvstore";
export default async (event) => {
  if (event.case === "undefined") await kvstore.set("k", undefined);
  if (event.case === "ttl") await kvstore.set("k", 1, -5);
  if (event.case === "unit") await kvstore.set("k", 1, { ttl: "soon" });
  if (event.case === "fraction") await kvstore.incrCounter("k", 0.5);
  return event;
};"#;
    let cases = ["undefined", "ttl", "unit", "fraction"].map(|case| json!({"case": case}));
    let outcome = run(block(&dir.path().join("kv.sqlite"), "", code), cases.to_vec()).await;
    let errors = error_texts(&outcome.errors);
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].starts_with("TypeError: kvstore.set(\"k\"): the value is undefined"), "{errors:?}");
    assert!(errors[1].contains("positive number of minutes, not -5"), "{errors:?}");
    assert!(errors[2].contains("`soon` is not a duration"), "{errors:?}");
    assert!(errors[3].contains("must be a whole number, not 0.5"), "{errors:?}");
}

#[tokio::test]
async fn kvstore_contents_survive_a_restart_and_ttls_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/kvstore.sqlite");
    let first = r#"import kvstore from "kvstore";
export default async () => {
  await kvstore.set("kept", { since: 1 });
  await kvstore.set("brief", "soon gone", { ttl: "300ms" });
  await kvstore.set("minutes", "here", 10);
  return { hits: await kvstore.incrCounter("hits", 1, "300ms"), brief: await kvstore.get("brief") };
};"#;
    let outcome = run(block(&path, "", first), vec![json!({})]).await;
    assert_eq!(outcome.out, [json!({"hits": 1, "brief": "soon gone"})], "{:?}", outcome.errors);
    // The engine's thread lets go of the store as it ends, just after the pipeline.
    let started = Instant::now();
    while Store::is_open(&path) {
        assert!(started.elapsed() < Duration::from_secs(10), "the store stayed open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Wait for the TTL to pass, reading the file as the next run will (a bounded poll).
    let reader = Store::open(Some(&path), || {
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis()).expect("ms")
    })
    .expect("opens");
    let started = Instant::now();
    while reader.get("brief").expect("reads").is_some() {
        assert!(started.elapsed() < Duration::from_secs(10), "`brief` did not expire");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(reader);

    let second = r#"import kvstore from "kvstore";
export default async () => ({
  kept: await kvstore.get("kept"), brief: await kvstore.get("brief"), minutes: await kvstore.get("minutes"),
  hits: await kvstore.getCounter("hits"),
});"#;
    let outcome = run(block(&path, "", second), vec![json!({})]).await;
    assert_eq!(outcome.out, [json!({"kept": {"since": 1}, "brief": null, "minutes": "here", "hits": 0})], "{:?}", outcome.errors);
}

#[tokio::test]
async fn two_blocks_share_one_store_and_their_increments_all_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kv.sqlite");
    let code = r#"import kvstore from "kvstore";
export default async (event) => ({ n: await kvstore.incrCounter("shared") });"#;
    let (left, right) = (Collected::default(), Collected::default());
    let count = 300;
    PipelineBuilder::new()
        .source("in", Values { values: (0..count).map(|i| json!({"i": i})).collect(), acks: Arc::default(), size: usize::MAX })
        .block("left", ["in"], block(&path, "", code))
        .block("right", ["in"], block(&path, "", code))
        .sink("left_out", ["left"], left.clone())
        .sink("right_out", ["right"], right.clone())
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts")
        .wait()
        .await
        .expect("runs");
    let mut seen: Vec<i64> = left.take().into_iter().chain(right.take()).map(|v| v["n"].as_i64().expect("a count")).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=2 * count).collect::<Vec<_>>(), "every increment returned a value of its own");
}

/// A local HTTP server: `/echo` answers a POST with what it got, `/status/418` with a teapot,
/// `/never` never, and `/hop` redirects to `localhost` (a name the allowlists leave out).
async fn server() -> std::net::SocketAddr {
    async fn echo(headers: HeaderMap, body: String) -> (StatusCode, HeaderMap, String) {
        let got: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        let mut reply = HeaderMap::new();
        reply.insert(header::CONTENT_TYPE, "application/json".parse().expect("a header value"));
        reply.insert("x-seen", headers.get("x-test").cloned().unwrap_or_else(|| "none".parse().expect("a header value")));
        (StatusCode::CREATED, reply, json!({"got": got}).to_string())
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    let hop = format!("http://localhost:{}/echo", addr.port());
    let app = Router::new()
        .route("/echo", post(echo))
        .route("/status/418", get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }))
        .route("/never", get(std::future::pending::<String>))
        .route("/hop", get(move || async move { (StatusCode::FOUND, [(header::LOCATION, hop)], "") }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn fetch_sends_json_and_reads_status_headers_and_body() {
    let addr = server().await;
    let code = format!(
        r#"import xhr from "xhr";
export default async (event) => {{
  const response = await fetch("http://{addr}/echo", {{
    method: "post", headers: {{ "Content-Type": "application/json", "X-Test": "yes" }}, body: JSON.stringify(event),
  }});
  const teapot = await xhr.fetch("http://{addr}/status/418");
  return {{
    status: response.status, ok: response.ok, seen: response.headers.get("X-Seen"), type: response.headers["content-type"],
    json: await response.json(), teapot: [teapot.status, teapot.ok, teapot.statusText, await teapot.text(), teapot.body],
  }};
}};"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = run(block(&dir.path().join("kv.sqlite"), "", &code), vec![json!({"text": "héllo", "n": [1, 2]})]).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(
        outcome.out,
        [json!({
            "status": 201, "ok": true, "seen": "yes", "type": "application/json", "json": {"got": {"text": "héllo", "n": [1, 2]}},
            "teapot": [418, false, "I'm a teapot", "short and stout", "short and stout"],
        })]
    );
}

#[tokio::test]
async fn a_fetch_that_gets_no_answer_fails_its_message_at_the_timeout_and_the_rest_flow() {
    let addr = server().await;
    let code = format!(
        r#"export default async (event) => {{
  if (event.wait) await fetch("http://{addr}/never");
  if (event.short) return fetch("http://{addr}/never", {{ timeout: 50 }}).catch((e) => ({{ caught: e.message }}));
  return event;
}};"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let inputs = vec![json!({"wait": true}), json!({"id": 1}), json!({"wait": true}), json!({"short": true}), json!({"id": 2})];
    let outcome = run(block(&dir.path().join("kv.sqlite"), "timeout = \"300ms\"", &code), inputs).await;
    let elapsed = started.elapsed();
    let caught = format!("fetch http://{addr}/never: no response before its `timeout` (50ms)");
    assert_eq!(outcome.out, [json!({"id": 1}), json!({"caught": caught}), json!({"id": 2})]);
    let errors = error_texts(&outcome.errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
    // The fetch rejects at the deadline, or the invocation is stopped there: either way the
    // message fails at the block's timeout.
    let at_timeout = |e: &&str| e.contains("ran past its timeout of 300ms") || e.contains("/never: no response before the handler's timeout");
    assert!(errors.iter().all(at_timeout), "{errors:?}");
    assert!(elapsed < Duration::from_secs(5), "two timeouts of 300 ms took {elapsed:?}");
}

#[tokio::test]
async fn fetches_past_the_cap_and_to_hosts_not_listed_are_refused() {
    let addr = server().await;
    let port = addr.port();
    let code = format!(
        r#"const attempt = (url) => fetch(url).then((r) => r.status, (e) => e.message);
export default async (event) => {{
  if (event.case === "cap") {{
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await attempt("http://127.0.0.1:{port}/status/418"));
    return results;
  }}
  if (event.case === "host") return [await attempt("http://localhost:{port}/status/418")];
  if (event.case === "redirect") return [await attempt("http://127.0.0.1:{port}/hop")];
  return [await attempt("file:///etc/passwd")];
}};"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("max_fetches = 2\nfetch_hosts = [\"127.0.0.1:{port}\"]");
    let cases = ["cap", "cap", "host", "redirect", "scheme"].map(|case| json!({"case": case}));
    let outcome = run(block(&dir.path().join("kv.sqlite"), &extra, &code), cases.to_vec()).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let cap = format!("fetch http://127.0.0.1:{port}/status/418: more than `max_fetches` (2) fetches in one invocation");
    assert_eq!(outcome.out[..6], [json!(418), json!(418), json!(cap), json!(418), json!(418), json!(cap)], "the count starts again per message");
    let refusals: Vec<&str> = outcome.out[6..].iter().map(|v| v.as_str().unwrap_or_default()).collect();
    assert!(refusals[0].ends_with("the host is not in the block's `fetch_hosts`"), "{refusals:?}");
    assert!(refusals[1].contains("whose host is not in the block's `fetch_hosts`"), "{refusals:?}");
    assert!(refusals[2].ends_with("only http and https URLs can be fetched"), "{refusals:?}");
    let bad = config("code = 'export default (e) => e'\nfetch_hosts = ['http://x.com/', 'a.com:99999', 'b.com:8080', '[::1]:80']");
    let problems = bad.validate();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("`http://x.com/` is not a host") && problems[1].contains("`a.com:99999`"), "{problems:?}");
}

#[tokio::test]
async fn crypto_matches_known_vectors_and_codec_round_trips() {
    let code = r#"import crypto from "crypto";
import { hmac } from "crypto";
import base64 from "codec/base64";
import qs from "codec/query_string";
import auth from "codec/auth";
import codec from "codec";
export default async () => ({
  rfc4231: await hmac("Jefe", "what do ya want for nothing?", crypto.ALGORITHM.HMAC_SHA256, "hex"),
  rfc4231b64: await crypto.hmac("Jefe", "what do ya want for nothing?", "sha256"),
  sha1: await crypto.sha1("abc"),
  sha256: await crypto.sha256("abc"),
  sha512: (await crypto.sha512("abc")).slice(0, 16),
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
  base64: [base64.btoa("héllo ✓"), base64.atob(base64.btoa("héllo ✓")), atob("aGk"), btoa("hi"), codec.base64.atob("Pz8-")],
  query: [qs.parse("a=1&b=x%20y&b=z+w&c", { a: "0", d: "4" }), qs.stringify({ q: "a b&c", n: 3, list: ["x", "é"] })],
  escape: [qs.escape("a b/é"), qs.unescape("a%20b%2F%C3%A9")],
  basic: auth.basic("many", "blocks"),
});"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = run(block(&dir.path().join("kv.sqlite"), "", code), vec![json!({})]).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(
        outcome.out,
        [json!({
            "rfc4231": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "rfc4231b64": "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=",
            "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
            "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha512": "ddaf35a193617aba",
            "uuid": true,
            "base64": ["aMOpbGxvIOKckw==", "héllo ✓", "hi", "aGk=", "??>"],
            "query": [{"a": "1", "d": "4", "b": ["x y", "z w"], "c": ""}, "q=a%20b%26c&n=3&list=x&list=%C3%A9"],
            "escape": ["a%20b%2F%C3%A9", "a b/é"],
            "basic": "Basic bWFueTpibG9ja3M=",
        })]
    );
}

#[test]
fn only_runnel_modules_and_local_files_can_be_imported() {
    for name in ["fs", "codec/nope", "/etc/passwd", "https://example.com/x.js"] {
        let problems = config(&format!("code = '''\nimport x from \"{name}\";\nexport default () => x;\n'''")).validate();
        assert!(problems.len() == 1 && problems[0].contains("only runnel's modules"), "{name}: {problems:?}");
    }
    let fine = "import kvstore from 'kvstore';\nimport { hmac } from 'crypto';\nimport { tag } from './lib/tag.js';\nexport default (e) => e;";
    assert_eq!(config(&format!("code = \"\"\"\n{fine}\n\"\"\"")).validate(), Vec::<String>::new(), "files are read when the pipeline starts");
}

/// What the tests' log subscriber wrote (installed once, for every thread of the process).
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Captured(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        buffer
    })
}

struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn console_writes_to_the_log_with_the_node_and_holds_back_a_flood() {
    let log = log();
    let code = r#"export default (event) => {
  console.log("marker-7f3a", event.n, { room: "lobby" });
  console.error(new TypeError("marker-error-7f3a"));
  if (event.flood) for (let i = 0; i < 500; i++) console.warn("flood-7f3a", i);
  return null;
};"#;
    let dir = tempfile::tempdir().expect("tempdir");
    run(block(&dir.path().join("kv.sqlite"), "", code), vec![json!({"n": 1}), json!({"n": 2, "flood": true})]).await;
    let text = String::from_utf8_lossy(&log.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    assert!(text.lines().any(|l| l.contains(" INFO ") && l.contains("marker-7f3a 1 {\"room\":\"lobby\"}") && l.contains("node=\"block\"")), "{text}");
    assert!(text.lines().any(|l| l.contains(" ERROR ") && l.contains("TypeError: marker-error-7f3a")), "{text}");
    let flood = text.lines().filter(|l| l.contains("flood-7f3a")).count();
    assert!((90..500).contains(&flood), "a burst of about 100 lines, not all 500: {flood}");
    assert!(text.lines().any(|l| l.contains("lines held back") && l.contains("held_back=")), "{text}");
}

#[test]
fn the_store_is_in_the_state_folder_unless_the_block_names_a_file() {
    let cx = |state_dir: Option<&str>| runnel_engine::BuildContext {
        name: Arc::from("block"),
        base_dir: "pipelines".into(),
        state_dir: state_dir.map(Into::into),
        resources: runnel_engine::Resources::default(),
        metrics: runnel_engine::PipelineMetrics::new(),
    };
    let default = config("code = 'export default (e) => e'");
    let named = config("code = 'export default (e) => e'\nkvstore = 'data/kv.sqlite'");
    assert_eq!(
        super::store_path(default.kvstore.as_deref(), &cx(Some("pipelines/.runnel/chat"))),
        Some("pipelines/.runnel/chat/kvstore.sqlite".into())
    );
    assert_eq!(super::store_path(named.kvstore.as_deref(), &cx(Some("pipelines/.runnel/chat"))), Some("pipelines/data/kv.sqlite".into()));
    assert_eq!(super::store_path(default.kvstore.as_deref(), &cx(None)), None, "in memory");
}
