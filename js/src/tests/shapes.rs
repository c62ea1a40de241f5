//! The handler shapes users bring (Lambda's and PubNub's), and several workers.

use runnel_engine::AckStatus::{Delivered, Dropped};
use serde_json::json;

use super::{config, run, run_in_batches};

#[tokio::test]
async fn a_lambda_handler_file_runs_unchanged_with_a_lambda_context_and_its_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("index.mjs");
    std::fs::write(
        &file,
        r#"// As written for AWS Lambda's Node.js runtime.
export const handler = async (event, context) => {
  const remaining = context.getRemainingTimeInMillis();
  return {
    statusCode: 200,
    body: JSON.stringify({ echo: event.text }),
    fn: context.functionName,
    request: /^[0-9a-f-]{36}$/.test(context.awsRequestId),
    memory: context.memoryLimitInMB,
    inTime: remaining > 0 && remaining <= 3000,
    table: process.env.TABLE,
    frozen: Object.isFrozen(process.env),
  };
};
"#,
    )
    .expect("writes");
    let block = config(&format!("file = '{}'\ntimeout = \"3s\"\nmemory_mib = 32\nenv = {{ TABLE = \"orders\" }}", file.display()));
    let outcome = run(block, vec![json!({"text": "hi"})]).await;
    assert_eq!(
        outcome.out,
        [json!({"statusCode": 200, "body": "{\"echo\":\"hi\"}", "fn": "block", "request": true, "memory": "32", "inTime": true,
               "table": "orders", "frozen": true})]
    );
}

#[tokio::test]
async fn before_publish_changes_or_aborts_each_publication() {
    let block = config(
        r#"shape = "before_publish"
code = '''
export default (request) => {
  if (request.message.text.includes("spam")) return request.abort();
  request.message.text = request.message.text.replace(/darn/g, "****");
  return request.ok();
};
'''"#,
    );
    let inputs = vec![json!({"text": "darn it"}), json!({"text": "buy spam"}), json!({"text": "fine"})];
    let outcome = run(block, inputs).await;
    assert_eq!(outcome.out, [json!({"text": "**** it"}), json!({"text": "fine"})]);
    assert_eq!(outcome.acks, [Delivered, Dropped, Delivered]);
}

#[tokio::test]
async fn after_publish_sees_a_copy_and_cannot_change_delivery() {
    let block = config(
        r#"shape = "after_publish"
code = '''
let seen = 0;
export default async (request) => {
  seen += 1;
  request.message.text = "changed " + seen;
  return request.ok();
};
'''"#,
    );
    let outcome = run(block, vec![json!({"text": "a"}), json!({"text": "b"})]).await;
    assert_eq!(outcome.out, [json!({"text": "a"}), json!({"text": "b"})]);
}

#[tokio::test]
async fn a_publish_handler_that_settles_neither_way_fails_its_message() {
    let block = config("shape = \"before_publish\"\ncode = 'export default (request) => request.message'");
    let outcome = run(block, vec![json!({"text": "a"})]).await;
    assert!(outcome.out.is_empty());
    let error = outcome.errors[0]["error"].as_str().expect("an error");
    assert!(error.contains("without request.ok() or request.abort()"), "{error}");
}

#[tokio::test]
async fn on_request_answers_with_the_status_and_body_sent() {
    let block = config(
        r#"shape = "on_request"
code = '''
export default async (request, response) => {
  const body = await request.json();
  if (!body.name) return response.send({ error: "name missing" }, 400);
  response.headers["x-greeting"] = "yes";
  return response.send({ hello: body.name, raw: request.body.length });
};
'''"#,
    );
    let outcome = run(block, vec![json!({"name": "ada"}), json!({})]).await;
    assert_eq!(
        outcome.out,
        [
            json!({"status": 200, "headers": {"x-greeting": "yes"}, "body": {"hello": "ada", "raw": 14}}),
            json!({"status": 400, "headers": {}, "body": {"error": "name missing"}})
        ]
    );
}

#[test]
fn a_shape_names_the_export_it_needs() {
    let block = config("shape = \"lambda\"\ncode = 'export default (e) => e'");
    let error = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
        let built = runnel_engine::PipelineBuilder::new()
            .source("in", super::Values { values: Vec::new(), acks: std::sync::Arc::default(), size: 1 })
            .block("block", ["in"], block)
            .sink("out", ["block"], super::Collected::default())
            .build()
            .expect("valid");
        built.start().await.expect_err("does not start").to_string()
    });
    assert!(error.contains("a `lambda` handler is the export `handler`"), "{error}");
}

#[tokio::test]
async fn several_workers_share_the_batches_and_keep_their_order() {
    let block = config(
        r#"workers = 2
code = '''
const me = Math.random().toString(36).slice(2);
export default (event) => {
  const until = Date.now() + 2;
  while (Date.now() < until) {}
  return { n: event.n, worker: me };
};
'''"#,
    );
    let inputs: Vec<_> = (0..60).map(|n| json!({"n": n})).collect();
    let outcome = run_in_batches(block, inputs, 5).await;
    let order: Vec<u64> = outcome.out.iter().map(|v| v["n"].as_u64().expect("n")).collect();
    assert_eq!(order, (0..60).collect::<Vec<_>>());
    let workers: std::collections::BTreeSet<&str> = outcome.out.iter().map(|v| v["worker"].as_str().expect("worker")).collect();
    assert_eq!(workers.len(), 2, "each worker has its own engine and module state: {workers:?}");
}

#[tokio::test]
async fn a_handler_emitting_a_million_messages_fails_that_message_and_the_rest_flow() {
    let block = config(
        r#"memory_mib = 256
code = '''
export default (event) => event.flood ? Array.from({ length: 1000000 }, (_, i) => ({ i })) : event;
'''"#,
    );
    let outcome = run(block, vec![json!({"n": 1}), json!({"flood": true}), json!({"n": 3})]).await;
    assert_eq!(outcome.out, [json!({"n": 1}), json!({"n": 3})]);
    let error = outcome.errors[0]["error"].as_str().expect("an error");
    assert!(error.contains("returned 1000000 messages, more than `max_outputs` (1000)"), "{error}");
}
