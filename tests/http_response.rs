//! Request/response: `http_server` routes with `ack = "reply"`, answered by the `http_response`
//! sink, against real clients (curl, and Python's `httpx` from the venv scripts/test.sh
//! prepares): computed JSON, status and headers from fields, 204 for a filtered request, 500
//! with the reason for a failed one, 504 past the timeout, and concurrent requests each answered
//! with their own reply.

use std::process::{Command, Stdio};
use std::sync::Arc;

use runnel::connectors::http_response::metrics::REPLIES;
use runnel::connectors::http_server::take_address;
use runnel::connectors::{HttpResponseConfig, HttpServerConfig};
use runnel::{PipelineBuilder, RunningPipeline};
use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, RunContext, async_trait};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::http_server::{FailingSink, args, fields, have_curl, post, stop};
use crate::support::{peers_required, pipeline, root};

/// Sends each request of `requests` (`[method, url, headers, body or null]`) at once with
/// Python's `httpx` (asynchronously, one client), and returns `(status, headers, body)` per
/// request in order. `None`, with a note, when the venv is missing outside CI.
fn httpx(requests: &Value) -> Option<Vec<(u16, Value, String)>> {
    const SCRIPT: &str = r#"
import asyncio, json, sys, httpx
async def main():
    requests = json.load(sys.stdin)
    async with httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=100)) as client:
        async def one(method, url, headers, body):
            answer = await client.request(method, url, headers=headers, content=None if body is None else body.encode())
            return [answer.status_code, dict(answer.headers), answer.text]
        answers = await asyncio.gather(*(one(*request) for request in requests))
    for answer in answers:
        print(json.dumps(answer))
asyncio.run(main())
"#;
    let out = run_python(SCRIPT, requests)?;
    Some(out.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect())
}

/// Runs `script` with the Python of the venv scripts/test.sh prepares (`httpx`, `stripe`),
/// `input` as JSON on its standard input, and returns its standard output. `None`, with a note,
/// when the venv is missing outside CI.
pub(crate) fn run_python(script: &str, input: &Value) -> Option<String> {
    let python = std::env::var_os("RUNNEL_HTTP_PYTHON").map(std::path::PathBuf::from).or_else(|| {
        let venv = root().join(".peers/http/bin/python");
        venv.exists().then_some(venv)
    });
    let Some(python) = python else {
        assert!(!peers_required(), "RUNNEL_HTTP_PYTHON is not set; scripts/test.sh installs httpx");
        eprintln!("skipping the Python client: RUNNEL_HTTP_PYTHON is not set (run scripts/test.sh)");
        return None;
    };
    let mut child =
        Command::new(python).args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("python runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.to_string().as_bytes()).expect("writes");
    let out = child.wait_with_output().expect("finishes");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn httpx_async(requests: Value) -> Option<Vec<(u16, Value, String)>> {
    tokio::task::spawn_blocking(move || httpx(&requests)).await.expect("joins")
}

const COMPUTE: &str = r#"
[sources.api]
type = "http_server"
address = "127.0.0.1:0"
ack = "reply"
request_field = "request"
routes = [{ path = "/sum/{name}" }, { method = "GET", path = "/square" }]

[blocks.compute]
type = "map"
inputs = ["api"]
program = 'if .request.route == "/square" then {square: (.request.query.n | tonumber | . * .)} else {sum: (.a + .b), who: .request.name} end'

[sinks.reply]
type = "http_response"
inputs = ["compute"]
"#;

async fn start(toml: &str) -> (RunningPipeline, String) {
    let running = pipeline(toml).start().await.expect("starts");
    let addr = take_address(running.resources(), "api").expect("listening");
    (running, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_answers_computed_json_to_curl_and_httpx() {
    if !have_curl() {
        return;
    }
    let (running, base) = start(COMPUTE).await;
    let answer = post(args(format!("{base}/sum/ann"), "application/json", r#"{"a": 1, "b": 2}"#)).await;
    assert_eq!((answer.status, answer.json()), (200, json!({"sum": 3, "who": "ann"})), "{answer:?}");
    assert!(answer.head.contains("content-type: application/json"), "{answer:?}");
    let requests = json!([
        ["GET", format!("{base}/square?n=7"), {}, null],
        ["POST", format!("{base}/sum/bob"), {"Content-Type": "application/json"}, r#"{"a": 40, "b": 2}"#],
    ]);
    if let Some(answers) = httpx_async(requests).await {
        let answers: Vec<(u16, Value)> = answers.into_iter().map(|(status, _, body)| (status, serde_json::from_str(&body).expect("JSON"))).collect();
        assert_eq!(answers, [(200, json!({"square": 49})), (200, json!({"sum": 42, "who": "bob"}))]);
    }
    let exposition = prometheus::TextEncoder::new().encode_to_string(&running.metrics().registry().gather()).expect("encodes");
    let answered = if std::env::var_os("RUNNEL_HTTP_PYTHON").is_some() || root().join(".peers/http/bin/python").exists() { 3 } else { 1 };
    let sample = format!("{REPLIES}{{node=\"reply\",outcome=\"answered\"}} {answered}\n");
    assert!(exposition.contains(&sample), "{sample} in {exposition}");
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_their_own_reply() {
    let (running, base) = start(COMPUTE).await;
    // Sent at once, their messages share batches in the map and the sink: each answer must be
    // the one computed from its own request.
    let requests: Vec<Value> = (0..60).map(|n| json!(["GET", format!("{base}/square?n={n}"), {}, null])).collect();
    if let Some(answers) = httpx_async(Value::from(requests)).await {
        for (n, (status, _, body)) in answers.into_iter().enumerate() {
            let n = n as u64;
            assert_eq!((status, serde_json::from_str::<Value>(&body).expect("JSON")), (200, json!({"square": n * n})));
        }
    }
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_headers_come_from_fields_and_a_filtered_request_is_204() {
    if !have_curl() {
        return;
    }
    let toml = r#"
[sources.api]
type = "http_server"
address = "127.0.0.1:0"
routes = [{ path = "/items", ack = "reply" }]

[blocks.keep]
type = "filter"
inputs = ["api"]
condition = ".keep"

[blocks.shape]
type = "map"
inputs = ["keep"]
program = '{status: 201, headers: {"Location": "/items/\(.id)", "X-Count": 1}, id}'

[sinks.reply]
type = "http_response"
inputs = ["shape"]
status_field = "status"
headers_field = "headers"
headers = { "Cache-Control" = "no-store" }
"#;
    let (running, base) = start(toml).await;
    let answer = post(args(format!("{base}/items"), "application/json", r#"{"id": 7, "keep": true}"#)).await;
    assert_eq!((answer.status, answer.json()), (201, json!({"id": 7})), "{answer:?}");
    for header in ["location: /items/7", "x-count: 1", "cache-control: no-store", "content-type: application/json"] {
        assert!(answer.head.contains(header), "{header} in {answer:?}");
    }
    let answer = post(args(format!("{base}/items"), "application/json", r#"{"id": 8, "keep": false}"#)).await;
    assert_eq!((answer.status, answer.body.as_str()), (204, ""), "filtered: every sink confirmed, no reply: {answer:?}");
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_is_500_with_the_reason() {
    if !have_curl() {
        return;
    }
    // The map's errors port feeds the sink: its error records are answered 500 with the reason.
    let toml = r#"
[sources.api]
type = "http_server"
address = "127.0.0.1:0"
ack = "reply"

[blocks.compute]
type = "map"
inputs = ["api"]
program = '{sum: (.a + .b)}'

[sinks.reply]
type = "http_response"
inputs = ["compute", "compute.errors"]
"#;
    let (running, base) = start(toml).await;
    let answer = post(args(format!("{base}/events"), "application/json", r#"{"a": "x", "b": 1}"#)).await;
    assert_eq!(answer.status, 500, "{answer:?}");
    let body = answer.json();
    assert_eq!(body["node"], "compute", "{answer:?}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("cannot") || e.contains("add")), "the jq error: {answer:?}");
    let answer = post(args(format!("{base}/events"), "application/json", r#"{"a": 1, "b": 2}"#)).await;
    assert_eq!((answer.status, answer.json()), (200, json!({"sum": 3})));
    stop(running).await;

    // A sink that fails the message, and no reply: 500 too.
    let config: HttpServerConfig = toml::from_str("address = \"127.0.0.1:0\"\nack = \"reply\"").expect("config");
    let running =
        PipelineBuilder::new().source("api", config).sink("broken", ["api"], FailingSink).build().expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "api").expect("listening");
    let answer = post(args(format!("http://{addr}/events"), "application/json", "{}")).await;
    assert_eq!(answer.status, 500, "{answer:?}");
    assert_eq!(answer.json(), json!({"error": "a block or sink failed a message of this request before any reply"}));
    stop(running).await;
}

/// A block that passes one batch on per permit of its gate.
#[derive(Debug, Clone)]
struct Gate(Arc<Semaphore>);

#[async_trait]
impl BlockConfig for Gate {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for Gate {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            self.0.acquire().await.map_err(BlockError::other)?.forget();
            cx.output.send(batch).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reply_in_time_is_504_and_the_late_reply_is_counted_not_failed() {
    if !have_curl() {
        return;
    }
    let gate = Gate(Arc::new(Semaphore::new(0)));
    let server: HttpServerConfig =
        toml::from_str("address = \"127.0.0.1:0\"\nroutes = [{ path = \"/slow\", ack = \"reply\", timeout_ms = 300 }]").expect("config");
    let reply: HttpResponseConfig = toml::from_str("").expect("config");
    let running = PipelineBuilder::new()
        .source("api", server)
        .block("gate", ["api"], gate.clone())
        .sink("reply", ["gate"], reply)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let addr = take_address(running.resources(), "api").expect("listening");
    let started = std::time::Instant::now();
    let answer = post(args(format!("http://{addr}/slow"), "application/json", "{\"n\": 1}")).await;
    assert_eq!((answer.status, answer.json()), (504, json!({"error": "no reply in time"})), "{answer:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    gate.0.add_permits(1000);
    let metrics = running.metrics().clone();
    let unanswerable = || metrics.total(REPLIES, Some(("node", "reply")));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while unanswerable() < 1.0 {
        assert!(std::time::Instant::now() < deadline, "the late reply is never counted");
        tokio::task::yield_now().await;
    }
    let exposition = prometheus::TextEncoder::new().encode_to_string(&metrics.registry().gather()).expect("encodes");
    assert!(exposition.contains(&format!("{REPLIES}{{node=\"reply\",outcome=\"unanswerable\"}} 1\n")), "{exposition}");
    assert_eq!(metrics.errors_total("reply"), 0, "not an error of the pipeline");
    stop(running).await;
}

/// Every field of the sink has a row in docs/connectors.md.
#[test]
fn docs_list_every_field() {
    let text = std::fs::read_to_string(root().join("docs/connectors.md")).expect("reads");
    let section = text.split("\n## `http_response` sink\n").nth(1).expect("a section").split("\n## ").next().unwrap_or_default();
    let names = fields::<HttpResponseConfig>();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(section.contains(&format!("| `{name}` |")), "no row for `{name}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_answered_with_bytes_from_a_base64_field() {
    if !have_curl() {
        return;
    }
    // An echo of uploads: the binary body's message holds `base64` and `content_type`.
    let toml = r#"
[sources.api]
type = "http_server"
address = "127.0.0.1:0"
routes = [{ path = "/echo", body = "binary", ack = "reply" }]

[sinks.reply]
type = "http_response"
inputs = ["api"]
base64_field = "base64"
headers = { "X-Echo" = "yes" }
"#;
    let (running, base) = start(toml).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (upload, back) = (dir.path().join("logo.png"), dir.path().join("back.png"));
    let bytes = b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary";
    std::fs::write(&upload, bytes).expect("writes");
    let args = [
        format!("{base}/echo"),
        "-H".into(),
        "Content-Type: image/png".into(),
        "--data-binary".into(),
        format!("@{}", upload.display()),
        "-o".into(),
        back.display().to_string(),
        "-D".into(),
        "-".into(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new("curl").arg("-s").args(args).output().expect("curl runs")).await.expect("joins");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: image/png") && head.contains("x-echo: yes"), "{head}");
    assert_eq!(std::fs::read(&back).expect("written"), bytes, "the same bytes came back");
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_s_own_limit_keeps_waiting_requests_from_taking_every_slot() {
    if !have_curl() {
        return;
    }
    let gate = Gate(Arc::new(Semaphore::new(0)));
    let server: HttpServerConfig = toml::from_str(
        "address = \"127.0.0.1:0\"\nroutes = [{ path = \"/slow\", ack = \"reply\", max_concurrent_requests = 1 }, { path = \"/events\" }]",
    )
    .expect("config");
    let reply: HttpResponseConfig = toml::from_str("").expect("config");
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("api", server)
        .block("gate", ["api"], gate.clone())
        .sink("reply", ["gate"], reply)
        .sink("out", ["api"], sink)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let addr = take_address(running.resources(), "api").expect("listening");
    let first = tokio::spawn(post(args(format!("http://{addr}/slow"), "application/json", "{\"n\": 1}")));
    // The first request is in the pipeline (the memory sink has it) and waits for its reply.
    let entered = tokio::time::timeout(std::time::Duration::from_secs(20), out.recv()).await.expect("in time").expect("a message");
    assert_eq!(entered.value()["n"], 1);
    let second = post(args(format!("http://{addr}/slow"), "application/json", "{\"n\": 2}")).await;
    assert_eq!((second.status, second.json()), (503, json!({"error": "too many requests at once on this route"})), "{second:?}");
    assert!(second.head.contains("retry-after: 1"), "{second:?}");
    let other = post(args(format!("http://{addr}/events"), "application/json", "{\"n\": 3}")).await;
    assert_eq!(other.status, 202, "other routes still have slots: {other:?}");
    gate.0.add_permits(1000);
    let first = first.await.expect("joins");
    assert_eq!((first.status, first.json()), (200, json!({"n": 1})), "{first:?}");
    stop(running).await;
}
