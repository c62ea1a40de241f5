//! The `http_server` source against real clients (curl, and Python's `urllib` for signed
//! requests): routes and metadata, body formats and their errors, limits, auth, backpressure,
//! `accepted` against `delivered` answers, and SIGTERM with requests in flight.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::{Command, Stdio};
use std::time::Duration;

use runnel::connectors::HttpServerConfig;
use runnel::connectors::http_server::{RouteConfig, SignatureConfig, signature::sign, take_address};
use runnel::{MemoryOutput, PipelineBuilder, PipelineSettings, RunningPipeline, take_output};
use runnel_engine::{AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, RunContext, async_trait};
use serde_json::{Value, json};

use crate::support::{Killed, StallingSink, peers_required, pipeline, runnel_bin, wait_for};

const WAIT: Duration = Duration::from_secs(20);

/// What curl got: the status, the head (lower-cased) and the body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Whether curl is here; outside CI a missing curl skips the test.
pub(crate) fn have_curl() -> bool {
    let found = Command::new("curl").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found || !peers_required(), "curl is missing");
    found
}

/// Runs curl with `args` (a URL among them) and returns its answer, or `None` when it could
/// not connect.
pub(crate) fn curl(args: &[&str]) -> Option<Answer> {
    let out = Command::new("curl").args(["-s", "-i", "--max-time", "30"]).args(args).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Answer { status, head: head.to_ascii_lowercase(), body: body.to_owned() })
}

/// curl in a blocking thread, for the async tests.
pub(crate) async fn post(args: Vec<String>) -> Answer {
    tokio::task::spawn_blocking(move || curl(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.expect("joins").expect("curl connects")
}

fn put(mut args: Vec<String>) -> Vec<String> {
    args.extend(["-X".into(), "PUT".into()]);
    args
}

pub(crate) fn args(url: String, content_type: &str, body: &str) -> Vec<String> {
    vec![url, "-H".into(), format!("Content-Type: {content_type}"), "--data-binary".into(), body.into()]
}

async fn recv(output: &mut MemoryOutput) -> runnel::Message {
    tokio::time::timeout(WAIT, output.recv()).await.expect("a message in time").expect("the sink runs")
}

pub(crate) async fn stop(running: RunningPipeline) {
    running.shutdown_token().cancel();
    tokio::time::timeout(WAIT, running.wait()).await.expect("stops in time").expect("stops cleanly");
}

const HOOKS: &str = r#"
[sources.hooks]
type = "http_server"
address = "127.0.0.1:0"
max_body_bytes = 300
headers = ["X-GitHub-Event"]
request_field = "http"
routes = [{ path = "/events" }, { path = "/hooks/{name}", body = "json" }, { method = "PUT", path = "/hooks/{name}", body = "ndjson" }]

[sinks.out]
type = "memory"
inputs = ["hooks"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_bodies_and_metadata() {
    if !have_curl() {
        return;
    }
    let running = pipeline(HOOKS).start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let mut out = take_output(running.resources(), "out").expect("out");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("push.json");
    std::fs::write(&file, r#"{"ref": "refs/heads/main", "size": 18446744073709551616}"#).expect("writes");

    // A JSON file, with a path parameter, a query and a selected header.
    let mut push = args(format!("http://{addr}/hooks/github?delivery=7&tag=a&tag=b"), "application/json", &format!("@{}", file.display()));
    push.extend(["-H".into(), "X-GitHub-Event: push".into()]);
    let answer = post(push).await;
    assert_eq!((answer.status, answer.json()), (202, json!({"accepted": 1})), "{answer:?}");
    let message = recv(&mut out).await;
    assert_eq!(message.value()["ref"], "refs/heads/main");
    let attributes = Value::Object(message.meta().attributes.as_deref().cloned().unwrap_or_default());
    assert_eq!(message.value()["http"], attributes, "request_field holds the attributes");
    assert_eq!(
        attributes,
        json!({"method": "POST", "path": "/hooks/github", "route": "/hooks/{name}", "name": "github",
               "query": {"delivery": "7", "tag": ["a", "b"]}, "headers": {"x-github-event": "push"}})
    );
    assert_eq!(message.meta().origin.node(), Some("hooks"));
    assert!(message.meta().exact_numbers.is_some(), "the big number keeps its literal");

    // NDJSON (another method on the same path), then a JSON array on the default route.
    let answer = post(put(args(format!("http://{addr}/hooks/gitlab"), "application/x-ndjson", "{\"n\":1}\n\n{\"n\":2}\r\n{\"n\":3}"))).await;
    assert_eq!((answer.status, answer.json()), (202, json!({"accepted": 3})), "{answer:?}");
    for n in 1..=3 {
        let message = recv(&mut out).await;
        assert_eq!((message.value()["n"].as_i64(), message.meta().attribute("name")), (Some(n), Some(&json!("gitlab"))));
    }
    let answer = post(args(format!("http://{addr}/events"), "application/json", r#"[{"n": 4}, {"n": 5}]"#)).await;
    assert_eq!((answer.status, answer.json()), (202, json!({"accepted": 2})));
    assert_eq!(recv(&mut out).await.value()["n"], 4);
    assert_eq!(recv(&mut out).await.value()["n"], 5);

    // Refused: nothing enters. A bad NDJSON line is named, a form is not JSON, a body over
    // max_body_bytes (300) is 413, an unknown path 404, a GET 405.
    let answer = post(put(args(format!("http://{addr}/hooks/x"), "application/x-ndjson", "{\"n\":1}\n{\"n\":\n{\"n\":3}"))).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.json()["error"].as_str().is_some_and(|e| e.starts_with("invalid JSON on line 2: ")), "{answer:?}");
    let answer = post(args(format!("http://{addr}/events"), "application/json", "{\"n\": ")).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"].as_str().is_some_and(|e| e.starts_with("invalid JSON: EOF")), "{answer:?}");
    let answer = post(vec![format!("http://{addr}/events"), "-d".into(), "n=1".into()]).await;
    assert_eq!(answer.status, 415, "{answer:?}");
    assert!(answer.body.contains("application/x-www-form-urlencoded"), "{answer:?}");
    let answer = post(args(format!("http://{addr}/events"), "application/json", &format!("\"{}\"", "x".repeat(400)))).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(post(args(format!("http://{addr}/nowhere"), "application/json", "{}")).await.status, 404);
    assert_eq!(post(vec![format!("http://{addr}/events")]).await.status, 405);
    let answer = post(args(format!("http://{addr}/events"), "application/json", r#"{"n": "after"}"#)).await;
    assert_eq!(answer.status, 202);
    assert_eq!(recv(&mut out).await.value()["n"], "after", "none of the refused requests entered");

    let exposition = prometheus::TextEncoder::new().encode_to_string(&running.metrics().registry().gather()).expect("encodes");
    for (labels, count) in [
        ("route=\"/hooks/{name}\",status=\"202\"", 2),
        ("route=\"/hooks/{name}\",status=\"400\"", 1),
        ("route=\"/events\",status=\"202\"", 2),
        ("route=\"/events\",status=\"413\"", 1),
        ("route=\"/events\",status=\"415\"", 1),
        ("route=\"none\",status=\"404\"", 1),
    ] {
        let sample = format!("runnel_http_server_requests_total{{node=\"hooks\",{labels}}} {count}\n");
        assert!(exposition.contains(&sample), "{sample} in {exposition}");
    }
    crate::support::assert_promtool_accepts(&exposition);
    stop(running).await;
}

/// A sink that fails every message.
#[derive(Debug, Clone)]
pub(crate) struct FailingSink;

#[async_trait]
impl BlockConfig for FailingSink {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for FailingSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            runnel_engine::ack_batch(batch, AckStatus::Failed);
        }
        Ok(())
    }
}

fn server(toml: &str) -> HttpServerConfig {
    toml::from_str(&format!("address = \"127.0.0.1:0\"\n{toml}")).expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_answers_once_the_file_sink_wrote_accepted_before() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let toml = format!(
        "[sources.hooks]\ntype = \"http_server\"\naddress = \"127.0.0.1:0\"\nack = \"delivered\"\nroutes = [{{ path = \"/events\" }}, {{ path = \"/fast\", ack = \"accepted\" }}]\n\
         [sinks.file]\ntype = \"file\"\ninputs = [\"hooks\"]\npath = \"{}\"\n",
        out.display()
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    for n in 1..=3 {
        let answer = post(args(format!("http://{addr}/events"), "application/x-ndjson", &format!("{{\"n\":{n}}}\n{{\"m\":{n}}}\n"))).await;
        assert_eq!((answer.status, answer.json()), (200, json!({"delivered": 2})), "{answer:?}");
        let written = std::fs::read_to_string(&out).expect("the file exists once written");
        assert!(written.ends_with(&format!("{{\"n\":{n}}}\n{{\"m\":{n}}}\n")), "written when answered: {written}");
    }
    let answer = post(args(format!("http://{addr}/fast"), "application/json", "{\"fast\":true}")).await;
    assert_eq!((answer.status, answer.json()), (202, json!({"accepted": 1})));
    stop(running).await;
    assert!(std::fs::read_to_string(&out).expect("reads").ends_with("{\"fast\":true}\n"), "accepted, then delivered at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_answers_500() {
    if !have_curl() {
        return;
    }
    let running = PipelineBuilder::new()
        .source("hooks", server("ack = \"delivered\""))
        .sink("broken", ["hooks"], FailingSink)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let answer = post(args(format!("http://{addr}/events"), "application/json", "[1, 2]")).await;
    assert_eq!(answer.status, 500, "{answer:?}");
    assert_eq!(answer.json(), json!({"error": "a sink failed to deliver a message of this request"}));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pipeline_makes_clients_wait_then_answers_503_with_retry_after() {
    if !have_curl() {
        return;
    }
    let sink = StallingSink::new();
    let one = NonZeroUsize::MIN;
    let settings = PipelineSettings { capacity: one, batch_size: one, ..PipelineSettings::default() };
    let running = PipelineBuilder::new()
        .with_settings(settings)
        .source("hooks", server("backpressure_timeout_ms = 300\nretry_after_secs = 7"))
        .sink("stall", ["hooks"], sink.clone())
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    // The sink reads nothing: one message fills the edge, the source holds the next and queues
    // a few more (each answered 202 once queued: the source sends what it queued, at shutdown
    // too); the others wait for room, and get 503 once backpressure_timeout_ms has passed.
    let requests: Vec<_> =
        (0..24).map(|n| tokio::spawn(post(args(format!("http://{addr}/events"), "application/json", &format!("{{\"n\":{n}}}"))))).collect();
    let started = std::time::Instant::now();
    let (mut accepted, mut refused) = (0, 0);
    for request in requests {
        let answer = tokio::time::timeout(Duration::from_secs(5), request).await.expect("every request is answered").expect("joins");
        match answer.status {
            202 => accepted += 1,
            503 => {
                assert!(answer.head.contains("retry-after: 7"), "{answer:?}");
                assert!(started.elapsed() >= Duration::from_millis(300), "answered after the wait");
                refused += 1;
            }
            _ => panic!("{answer:?}"),
        }
    }
    assert!(refused >= 3 && accepted >= 2, "{accepted} accepted, {refused} refused");
    sink.gate.add_permits(1000);
    stop(running).await;
    assert_eq!(sink.received(), accepted, "exactly the requests not refused entered");
}

#[tokio::test]
async fn with_delivered_answers_a_request_the_source_never_took_is_refused_and_never_enters() {
    if !have_curl() {
        return;
    }
    let sink = StallingSink::new();
    let one = NonZeroUsize::MIN;
    let settings = PipelineSettings { capacity: one, batch_size: one, ..PipelineSettings::default() };
    let running = PipelineBuilder::new()
        .with_settings(settings)
        .source("hooks", server("ack = \"delivered\"\nbackpressure_timeout_ms = 300"))
        .sink("stall", ["hooks"], sink.clone())
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    // One message fills the edge, the source takes the next and waits to send it; the others
    // stay queued, and their handlers give up on them after the wait: 503, and they never enter.
    let requests: Vec<_> =
        (0..6).map(|n| tokio::spawn(post(args(format!("http://{addr}/events"), "application/json", &format!("{{\"n\":{n}}}"))))).collect();
    let (mut refused, mut waiting) = (0, Vec::new());
    for mut request in requests {
        match tokio::time::timeout(Duration::from_secs(3), &mut request).await {
            Ok(answer) => {
                let answer = answer.expect("joins");
                assert_eq!(answer.status, 503, "{answer:?}");
                refused += 1;
            }
            Err(_) => waiting.push(request),
        }
    }
    assert_eq!((refused, waiting.len()), (4, 2), "two in the pipeline wait for delivery");
    sink.gate.add_permits(1000);
    for request in waiting {
        assert_eq!(request.await.expect("joins").status, 200, "delivered");
    }
    stop(running).await;
    assert_eq!(sink.received(), 2, "exactly the requests not refused entered");
}

/// Python's `urllib` (no package needed) posting each request of `requests`
/// (`[url, headers, body]`) and printing `[status, body]` per request as a JSON line.
const URLLIB: &str = r#"
import json, sys, urllib.request, urllib.error
for url, headers, body in json.load(sys.stdin):
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            print(json.dumps([response.status, response.read().decode()]))
    except urllib.error.HTTPError as error:
        print(json.dumps([error.code, error.read().decode()]))
"#;

/// Sends `requests` with Python's `urllib`; `None` when there is no Python (outside CI).
async fn urllib(requests: &Value) -> Option<Vec<(u16, Value)>> {
    let input = requests.to_string();
    tokio::task::spawn_blocking(move || {
        let spawned = Command::new("python3").args(["-c", URLLIB]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        let Ok(mut child) = spawned else {
            assert!(!peers_required(), "python3 is missing");
            return None;
        };
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("writes");
        let out = child.wait_with_output().expect("finishes");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str::<(u16, String)>(l).expect("a JSON line")).collect::<Vec<_>>();
        Some(lines.into_iter().map(|(status, body)| (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))).collect())
    })
    .await
    .expect("joins")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_and_hmac_signatures_refuse_with_401_before_anything_enters() {
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::channel();
    let signature =
        r#"signature = { header = "X-Hub-Signature-256", algorithm = "sha256", secret = "It's a Secret to Everybody", prefix = "sha256=" }"#;
    let running = PipelineBuilder::new()
        .source("hooks", server(&format!("auth = {{ tokens = [\"let-me-in\"] }}\n{signature}")))
        .sink("out", ["hooks"], sink)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let config: SignatureConfig =
        toml::from_str("header = \"X-Hub-Signature-256\"\nsecret = \"It's a Secret to Everybody\"\nprefix = \"sha256=\"").expect("config");
    let url = format!("http://{addr}/events");
    let body = r#"{"action":"opened"}"#;
    let signed = sign(&config, body.as_bytes());
    let headers = |token: &str, signature: &str| {
        let mut headers = json!({"Content-Type": "application/json", "Authorization": format!("Bearer {token}")});
        if !signature.is_empty() {
            headers["X-Hub-Signature-256"] = json!(signature);
        }
        headers
    };
    let requests = json!([
        [url, {"Content-Type": "application/json"}, body],
        [url, headers("guess", &signed), body],
        [url, headers("let-me-in", ""), body],
        [url, headers("let-me-in", &sign(&config, b"another body")), body],
        [url, headers("let-me-in", "sha256=zz"), body],
        [url, headers("let-me-in", &signed), body],
    ]);
    let Some(answers) = urllib(&requests).await else { return };
    let expected = [
        (401, "a token is required"),
        (401, "the token is not valid"),
        (401, "a signature is required in header `X-Hub-Signature-256`"),
        (401, "the signature does not match the body"),
        (401, "the signature is not hexadecimal"),
    ];
    for ((status, body), (want, error)) in answers.iter().zip(expected) {
        assert_eq!((*status, body), (want, &json!({"error": error})));
    }
    assert_eq!(answers[5], (202, json!({"accepted": 1})));
    assert_eq!(recv(&mut out).await.value(), &json!({"action": "opened"}), "the first message is the one that passed");
    stop(running).await;
}

/// The address the binary's `http_server` logged it listens on, and a thread that reads the rest
/// of its standard error.
pub(crate) fn listening_address(stderr: std::process::ChildStderr) -> (SocketAddr, std::thread::JoinHandle<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if line.contains("http server listening") {
                let port: String = line.rsplit("127.0.0.1:").next().unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
                let _ = tx.send(format!("127.0.0.1:{port}"));
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    match rx.recv_timeout(WAIT) {
        Ok(addr) => (addr.parse().expect("an address"), reader),
        Err(_) => panic!("runnel never said where it listens: {}", reader.join().unwrap_or_default()),
    }
}

#[test]
fn sigterm_with_requests_in_flight_loses_no_answered_message() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let file = dir.path().join("p.toml");
    // Port 0: a port picked ahead could be taken meanwhile by another program on the machine.
    let toml = format!(
        "[sources.hooks]\ntype = \"http_server\"\naddress = \"127.0.0.1:0\"\nack = \"delivered\"\n\
         routes = [{{ path = \"/events\" }}, {{ path = \"/fast\", ack = \"accepted\" }}, {{ path = \"/reply\", ack = \"reply\" }}]\n\
         [blocks.pass]\ntype = \"map\"\ninputs = [\"hooks\"]\nprogram = \".\"\n\
         [blocks.replies]\ntype = \"filter\"\ninputs = [\"pass\"]\ncondition = \".reply == true and .second == null\"\n\
         [sinks.answer]\ntype = \"http_response\"\ninputs = [\"replies\"]\n\
         [sinks.file]\ntype = \"file\"\ninputs = [\"pass\"]\npath = \"{}\"\n",
        out.display()
    );
    std::fs::write(&file, toml).expect("writes");
    let child =
        Command::new(runnel_bin()).args(["run", "--no-metrics", file.to_str().expect("utf-8")]).stderr(Stdio::piped()).spawn().expect("starts");
    let mut child = Killed(child);
    let (addr, stderr) = listening_address(child.0.stderr.take().expect("piped"));
    let clients: Vec<_> = (0..6_u64)
        .map(|client| {
            std::thread::spawn(move || {
                let mut answered = Vec::new();
                for i in 0..100_000_u64 {
                    let id = client * 1_000_000 + i;
                    // Delivered, accepted, and request/response (answered 200 with the first message
                    // by the http_response sink, the file sink writing both).
                    let route = ["events", "fast", "reply"][(i % 3) as usize];
                    let body = format!("{{\"id\":{id},\"reply\":{0}}}\n{{\"id\":{id},\"second\":true}}", route == "reply");
                    let url = format!("http://{addr}/{route}");
                    let answer = curl(&[url.as_str(), "-H", "Content-Type: application/x-ndjson", "--data-binary", &body]);
                    match answer {
                        Some(answer) if route == "reply" && answer.status == 200 => {
                            assert_eq!(answer.json(), json!({"id": id, "reply": true}), "its own reply");
                            answered.push(id);
                        }
                        Some(answer) if answer.status == 200 || answer.status == 202 => answered.push(id),
                        Some(answer) if answer.status == 503 => break,
                        Some(answer) => panic!("{answer:?}"),
                        None => break,
                    }
                }
                answered
            })
        })
        .collect();
    wait_for("some messages to be written", 30, || std::fs::read_to_string(&out).ok().filter(|t| t.lines().count() >= 100));
    let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let answered: Vec<u64> = clients.into_iter().flat_map(|c| c.join().expect("client thread")).collect();
    let exited = wait_for("the process to exit", 30, || child.0.try_wait().expect("waits"));
    let stderr = stderr.join().expect("the stderr reader");
    assert!(exited.success(), "exit {exited:?}: {stderr}");
    let written: std::collections::HashSet<(u64, bool)> = std::fs::read_to_string(&out)
        .expect("reads")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("whole JSON lines"))
        .map(|v| (v["id"].as_u64().expect("id"), v["second"] == true))
        .collect();
    assert!(answered.len() >= 50, "{} answered", answered.len());
    for id in &answered {
        assert!(written.contains(&(*id, false)) && written.contains(&(*id, true)), "request {id} was answered 2xx but is not in the file");
    }
}

/// The fields serde knows for `T`, from its refusal of an unknown one (`deny_unknown_fields`).
pub(crate) fn fields<T: serde::de::DeserializeOwned>() -> Vec<String> {
    let Err(error) = toml::from_str::<T>("not_a_field = 1") else { panic!("an unknown field is refused") };
    let message = error.to_string();
    // serde says "expected `a` or `b`", or "expected one of `a`, `b`, `c`".
    let expected = message.split("expected ").nth(1).unwrap_or_else(|| panic!("{message}"));
    let expected = expected.lines().next().unwrap_or_default().trim_start_matches("one of ");
    expected.split(", ").flat_map(|f| f.split(" or ")).map(|f| f.trim().trim_matches('`').to_owned()).filter(|f| !f.is_empty()).collect()
}

/// Every field of the source, its routes and its signature has a row in docs/connectors.md.
#[test]
fn docs_list_every_field() {
    let text = std::fs::read_to_string(crate::support::root().join("docs/connectors.md")).expect("reads");
    let section = text.split("\n## `http_server` source\n").nth(1).expect("a section").split("\n## ").next().unwrap_or_default();
    let rows = [
        ("", fields::<HttpServerConfig>()),
        ("routes[].", fields::<RouteConfig>()),
        ("signature.", fields::<SignatureConfig>()),
        ("auth.", fields::<runnel::connectors::http_server::AuthConfig>()),
        ("cors.", fields::<runnel::connectors::http_server::CorsConfig>()),
    ];
    for (prefix, names) in rows {
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            // A table field has rows of its own: `auth.tokens`, `routes[].path`.
            let listed = [format!("| `{prefix}{name}` |"), format!("| `{prefix}{name}."), format!("| `{prefix}{name}[].")];
            assert!(listed.iter().any(|row| section.contains(row)), "no row for `{prefix}{name}`");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_arrive_in_base64_and_query_tokens_stay_out_of_metadata() {
    if !have_curl() {
        return;
    }
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::channel();
    let config = server("auth = { tokens = [\"let-me-in\"] }\nroutes = [{ path = \"/uploads/{*file}\", body = \"binary\" }]");
    let running = PipelineBuilder::new().source("hooks", config).sink("out", ["hooks"], sink).build().expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("logo.png");
    std::fs::write(&file, b"\x89PNG\r\n\x1a\n\x00\xff").expect("writes");
    let upload = args(format!("http://{addr}/uploads/img/logo.png?token=let-me-in&v=2"), "image/png", &format!("@{}", file.display()));
    let answer = post(upload).await;
    assert_eq!((answer.status, answer.json()), (202, json!({"accepted": 1})), "{answer:?}");
    let message = recv(&mut out).await;
    assert_eq!(message.value(), &json!({"base64": "iVBORw0KGgoA/w==", "content_type": "image/png", "bytes": 10}));
    assert_eq!(message.meta().attribute("file"), Some(&json!("img/logo.png")));
    assert_eq!(message.meta().attribute("query"), Some(&json!({"v": "2"})), "the token is not copied");
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_concurrent_requests_one_more_is_503_at_once() {
    if !have_curl() {
        return;
    }
    let sink = StallingSink::new();
    let config = server("ack = \"delivered\"\nmax_concurrent_requests = 1\nretry_after_secs = 3");
    let running =
        PipelineBuilder::new().source("hooks", config).sink("stall", ["hooks"], sink.clone()).build().expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let metrics = running.metrics().clone();
    let first = tokio::spawn(post(args(format!("http://{addr}/events"), "application/json", "{\"n\":1}")));
    let in_flight = || metrics.total(runnel::connectors::http_server::metrics::IN_FLIGHT, Some(("node", "hooks")));
    let deadline = std::time::Instant::now() + WAIT;
    while in_flight() < 1.0 {
        assert!(std::time::Instant::now() < deadline, "the first request is never handled");
        tokio::task::yield_now().await;
    }
    let second = post(args(format!("http://{addr}/events"), "application/json", "{\"n\":2}")).await;
    assert_eq!((second.status, second.json()), (503, json!({"error": "too many requests at once"})));
    assert!(second.head.contains("retry-after: 3"), "{second:?}");
    sink.gate.add_permits(1000);
    let first = first.await.expect("joins");
    assert_eq!((first.status, first.json()), (200, json!({"delivered": 1})), "answered once the sink took it");
    stop(running).await;
    assert_eq!(sink.received(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_not_confirmed_in_time_is_504() {
    if !have_curl() {
        return;
    }
    let sink = StallingSink::new();
    let config = server("ack = \"delivered\"\ndelivery_timeout_ms = 200");
    let running =
        PipelineBuilder::new().source("hooks", config).sink("stall", ["hooks"], sink.clone()).build().expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let answer = post(args(format!("http://{addr}/events"), "application/json", "{\"n\":1}")).await;
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(answer.json(), json!({"error": "delivery not confirmed in time; the messages may still be delivered"}));
    sink.gate.add_permits(1000);
    stop(running).await;
    assert_eq!(sink.received(), 1, "it was in the pipeline, and delivered later");
}

/// `pipelines/webhooks.toml` takes a signed GitHub push and a ping, and files them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_example_files_signed_github_deliveries() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(crate::support::root().join("pipelines/webhooks.toml")).expect("reads");
    // Its files land in the pipeline file's folder.
    let file = dir.path().join("webhooks.toml");
    let secret = "a-secret-of-at-least-16-bytes";
    let env = |name: &str| match name {
        "LISTEN" => Some("127.0.0.1:0".to_owned()),
        "GITHUB_WEBHOOK_SECRET" => Some(secret.to_owned()),
        _ => None,
    };
    let running = runnel::Pipeline::parse(&text, Some(file), &runnel::registry(), env).expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let config: SignatureConfig =
        toml::from_str(&format!("header = \"X-Hub-Signature-256\"\nsecret = \"{secret}\"\nprefix = \"sha256=\"")).expect("config");
    for (event, body) in
        [("push", r#"{"ref":"refs/heads/main","pusher":{"name":"ann"},"commits":[{},{}]}"#), ("ping", r#"{"zen":"Keep it simple."}"#)]
    {
        let mut request = args(format!("http://{addr}/hooks/github"), "application/json", body);
        let headers = [
            format!("X-GitHub-Event: {event}"),
            format!("X-GitHub-Delivery: d-{event}"),
            format!("X-Hub-Signature-256: {}", sign(&config, body.as_bytes())),
        ];
        request.extend(headers.into_iter().flat_map(|h| ["-H".to_owned(), h]));
        let answer = post(request).await;
        assert_eq!((answer.status, answer.json()), (200, json!({"delivered": 1})), "{answer:?}");
    }
    let pushes = std::fs::read_to_string(dir.path().join("pushes.ndjson")).expect("written before the answer");
    assert_eq!(pushes, "{\"delivery\":\"d-push\",\"ref\":\"refs/heads/main\",\"pusher\":\"ann\",\"commits\":2}\n");
    let other: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("other-events.ndjson")).expect("written")).expect("JSON");
    assert_eq!((other["zen"].as_str(), other["request"]["headers"]["x-github-event"].as_str()), (Some("Keep it simple."), Some("ping")));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_lets_allowed_origins_post_and_answers_their_preflights() {
    if !have_curl() {
        return;
    }
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::channel();
    let config = server(
        "cors = { origins = [\"https://app.example.com\"], max_age_secs = 60 }\nroutes = [{ path = \"/events\" }, { method = \"PUT\", path = \"/events\" }]",
    );
    let running = PipelineBuilder::new().source("hooks", config).sink("out", ["hooks"], sink).build().expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let url = format!("http://{addr}/events");
    let preflight = |origin: &str| {
        vec![
            url.clone(),
            "-X".into(),
            "OPTIONS".into(),
            "-H".into(),
            format!("Origin: {origin}"),
            "-H".into(),
            "Access-Control-Request-Method: POST".into(),
            "-H".into(),
            "Access-Control-Request-Headers: content-type".into(),
        ]
    };
    let answer = post(preflight("https://app.example.com")).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    for expected in [
        "access-control-allow-origin: https://app.example.com",
        "access-control-allow-methods: post, put",
        "access-control-allow-headers: content-type",
        "access-control-max-age: 60",
    ] {
        assert!(answer.head.contains(expected), "{expected} in {answer:?}");
    }
    assert_eq!(post(preflight("https://evil.example.com")).await.status, 403);
    let mut request = args(url.clone(), "application/json", "{\"n\":1}");
    request.extend(["-H".into(), "Origin: https://app.example.com".into()]);
    let answer = post(request).await;
    assert_eq!(answer.status, 202);
    assert!(answer.head.contains("access-control-allow-origin: https://app.example.com"), "{answer:?}");
    let mut request = args(url, "application/json", "{\"n\":2}");
    request.extend(["-H".into(), "Origin: https://evil.example.com".into()]);
    let answer = post(request).await;
    assert!(!answer.head.contains("access-control-allow-origin"), "the browser keeps the answer from the page: {answer:?}");
    assert_eq!(recv(&mut out).await.value()["n"], 1);
    stop(running).await;
}

/// Stripe's own library (the `stripe` package) is the oracle: it verifies the header runnel
/// makes, and signs the requests runnel takes or refuses (sent with `httpx`).
const STRIPE: &str = r#"
import json, sys, time, httpx, stripe
given = json.load(sys.stdin)
url, secret, body = given["url"], given["secret"], given["body"]
signing = stripe.WebhookSignature
answers = [signing.verify_header(body, given["runnel_header"], secret, 300)]
headers = [
    signing.generate_signature_header(body, secret),
    signing.generate_signature_header(body, secret, timestamp=int(time.time()) - 600),
    signing.generate_signature_header(body, "whsec_another-secret-000"),
]
for header in headers:
    answer = httpx.post(url, content=body.encode(), headers={"Content-Type": "application/json", "Stripe-Signature": header})
    answers.append([answer.status_code, answer.json()])
print(json.dumps(answers))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_signed_webhooks_pass_and_replays_outside_the_tolerance_are_401() {
    let secret = "whsec_test_0123456789abcdef";
    let signature = format!("signature = {{ header = \"Stripe-Signature\", scheme = \"stripe\", secret = \"{secret}\", tolerance_secs = 300 }}");
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("hooks", server(&signature))
        .sink("out", ["hooks"], sink)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let body = r#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    let config: SignatureConfig =
        toml::from_str(&format!("header = \"Stripe-Signature\"\nscheme = \"stripe\"\nsecret = \"{secret}\"")).expect("config");
    let input = json!({"url": format!("http://{addr}/events"), "secret": secret, "body": body, "runnel_header": sign(&config, body.as_bytes())});
    let Some(printed) = tokio::task::spawn_blocking(move || crate::http_response::run_python(STRIPE, &input)).await.expect("joins") else { return };
    let answers: Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!(answers[0], true, "stripe verifies runnel's header");
    assert_eq!(answers[1], json!([202, {"accepted": 1}]));
    let replay = answers[2][1]["error"].as_str().unwrap_or_default();
    assert_eq!(answers[2][0], 401, "{answers}");
    assert!(replay.starts_with("the signature's time is 60") && replay.ends_with("past the tolerance of 300 s"), "{replay}");
    assert_eq!(answers[3], json!([401, {"error": "the signature does not match the body"}]));
    assert_eq!(recv(&mut out).await.value()["id"], "evt_1");
    stop(running).await;
    assert!(out.recv().await.is_none(), "the refused requests did not enter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_with_curl_become_a_message_per_file_and_a_cut_form_is_400() {
    if !have_curl() {
        return;
    }
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::channel();
    let config = server("max_body_bytes = 2000\nroutes = [{ path = \"/uploads\", body = \"multipart\" }]");
    let running = PipelineBuilder::new().source("hooks", config).sink("out", ["hooks"], sink).build().expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "hooks").expect("listening");
    let url = format!("http://{addr}/uploads");
    let dir = tempfile::tempdir().expect("tempdir");
    let (logo, notes) = (dir.path().join("logo.png"), dir.path().join("notes.txt"));
    std::fs::write(&logo, b"\x89PNG\r\n\x1a\n\x00\xff").expect("writes");
    std::fs::write(&notes, "sea and sun").expect("writes");
    let form = |extra: &[String]| {
        let mut args = vec![url.clone(), "-F".into(), "title=holiday".into(), "-F".into(), format!("photo=@{};type=image/png", logo.display())];
        args.extend_from_slice(extra);
        args
    };
    let answer = post(form(&["-F".into(), format!("notes=@{}", notes.display())])).await;
    assert_eq!((answer.status, answer.json()), (202, json!({"accepted": 2})), "{answer:?}");
    let photo = recv(&mut out).await;
    assert_eq!(
        photo.value(),
        &json!({"base64": "iVBORw0KGgoA/w==", "content_type": "image/png", "bytes": 10, "file_name": "logo.png", "field": "photo", "form": {"title": "holiday"}})
    );
    let text = recv(&mut out).await;
    assert_eq!((text.value()["file_name"].as_str(), text.value()["content_type"].as_str()), (Some("notes.txt"), Some("text/plain")));

    // The same form cut short, sent as it is: 400 naming the problem, nothing enters.
    let boundary = "------------------------runnelcut";
    let whole = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--{boundary}--\r\n"
    );
    let cut = dir.path().join("cut");
    std::fs::write(&cut, &whole.as_bytes()[..whole.len() - 30]).expect("writes");
    let answer = post(args(url.clone(), &format!("multipart/form-data; boundary={boundary}"), &format!("@{}", cut.display()))).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    let reason = answer.json()["error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(reason, "invalid multipart body: field \"photo\" received with incomplete data");
    let answer = post(args(url.clone(), "multipart/form-data", "x")).await;
    assert_eq!((answer.status, answer.json()), (400, json!({"error": "invalid multipart body: multipart boundary not found in Content-Type"})));
    // Over max_body_bytes (2000): 413.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7_u8; 3000]).expect("writes");
    let answer = post(form(&["-F".into(), format!("big=@{}", big.display())])).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(post(args(url, "application/json", "{}")).await.status, 415, "the route reads forms only");
    stop(running).await;
    assert!(out.recv().await.is_none(), "none of the refused requests entered");
}

/// `files`: a folder served under a path (with ranges, as a video player asks), a folder at `/`
/// for every other path; nothing outside the folder, even through `..` or an encoded `..`; and
/// the JWT's subject becomes the `user` attribute of the route's messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_are_served_with_ranges_and_the_jwt_subject_is_the_user() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (site, media) = (dir.path().join("site"), dir.path().join("media"));
    std::fs::create_dir_all(media.join("ann")).expect("folders");
    std::fs::create_dir_all(&site).expect("folders");
    std::fs::write(site.join("index.html"), "<title>the page</title>").expect("writes");
    std::fs::write(media.join("ann/clip.webm"), b"0123456789").expect("writes");
    std::fs::write(dir.path().join("secret.txt"), "not served").expect("writes");
    let secret = "a-secret-of-at-least-16-bytes";
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::channel();
    let config = server(&format!(
        "auth = {{ hmac_secret = \"{secret}\" }}\nrequest_field = \"request\"\nroutes = [{{ path = \"/api/events\" }}]\n\
         files = [{{ path = \"/media\", dir = \"{}\" }}, {{ path = \"/\", dir = \"{}\" }}]",
        media.display(),
        site.display()
    ));
    let running = PipelineBuilder::new().source("web", config).sink("out", ["web"], sink).build().expect("valid").start().await.expect("starts");
    let addr = take_address(running.resources(), "web").expect("listening");
    let get = |args: Vec<String>| post(args);
    let page = get(vec![format!("http://{addr}/")]).await;
    assert_eq!((page.status, page.body.as_str()), (200, "<title>the page</title>"));
    assert!(page.head.contains("content-type: text/html"), "{page:?}");
    let part = get(vec!["-H".into(), "Range: bytes=2-5".into(), format!("http://{addr}/media/ann/clip.webm")]).await;
    assert_eq!((part.status, part.body.as_str()), (206, "2345"));
    assert!(part.head.contains("content-type: video/webm") && part.head.contains("content-range: bytes 2-5/10"), "{part:?}");
    for path in ["/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media/ann/../../secret.txt", "/..%2fsecret.txt"] {
        let answer = get(vec!["--path-as-is".into(), format!("http://{addr}{path}")]).await;
        assert!(answer.status == 404 || answer.status == 400, "{path}: {answer:?}");
        assert!(!answer.body.contains("not served"), "{path}");
    }
    assert_eq!(get(vec![format!("http://{addr}/media/nobody.webm")]).await.status, 404);
    // The routes still need a token; the token's subject is the messages' `user`.
    assert_eq!(get(vec!["-d".into(), "{}".into(), format!("http://{addr}/api/events")]).await.status, 401);
    let jwt = runnel_connectors::websocket_server::sign_jwt(secret.as_bytes(), &json!({"sub": "ann", "exp": 4_000_000_000_u64}));
    let sent = get(vec![
        "-H".into(),
        format!("Authorization: Bearer {jwt}"),
        "-H".into(),
        "Content-Type: application/json".into(),
        "-d".into(),
        "{\"n\": 1}".into(),
        format!("http://{addr}/api/events"),
    ])
    .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let message = recv(&mut out).await;
    assert_eq!(message.meta().attribute("user"), Some(&json!("ann")));
    assert_eq!(message.value()["request"]["user"], "ann");
    stop(running).await;
}
