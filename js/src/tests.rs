//! The `function` block in a pipeline: a source of given values (each tracked for
//! acknowledgement), the block, and sinks on `out`, `errors` and a named port.

use std::sync::{Arc, Mutex, PoisonError};

use runnel_engine::AckStatus::{Delivered, Dropped};
use runnel_engine::{
    Ack, AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Message, PipelineBuilder, RunContext, async_trait,
};
use serde_json::{Value, json};

use super::*;

mod shapes;

pub(crate) fn config(text: &str) -> FunctionConfig {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// What came out: the values on `out`, on `alerts`, the error records, each input's final ack.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) out: Vec<Value>,
    pub(crate) alerts: Vec<Value>,
    pub(crate) errors: Vec<Value>,
    pub(crate) acks: Vec<AckStatus>,
}

pub(crate) async fn run(block: FunctionConfig, inputs: Vec<Value>) -> Outcome {
    run_in_batches(block, inputs, usize::MAX).await
}

/// As [`run`], with the inputs sent in batches of `size`.
async fn run_in_batches(block: FunctionConfig, inputs: Vec<Value>, size: usize) -> Outcome {
    let (out, alerts, errors) = (Collected::default(), Collected::default(), Collected::default());
    let acks = Arc::new(Mutex::new(Vec::new()));
    let alerts_port = block.ports.iter().any(|p| p == "alerts");
    let mut builder = PipelineBuilder::new()
        .source("in", Values { values: inputs, acks: acks.clone(), size })
        .block("block", ["in"], block)
        .sink("out", ["block"], out.clone())
        .sink("errors", ["block.errors"], errors.clone());
    if alerts_port {
        builder = builder.sink("alerts", ["block.alerts"], alerts.clone());
    }
    builder.build().expect("valid").start().await.expect("starts").wait().await.expect("runs");
    let mut acks = std::mem::take(&mut *acks.lock().unwrap_or_else(PoisonError::into_inner));
    acks.sort_by_key(|ack: &Ack| ack.id);
    Outcome { out: out.take(), alerts: alerts.take(), errors: errors.take(), acks: acks.into_iter().map(|a| a.status).collect() }
}

#[tokio::test]
async fn a_handler_returns_a_message_several_none_or_one_for_a_port() {
    let block = config(
        r#"ports = ["alerts"]
code = '''
export default (event) => {
  switch (event.kind) {
    case "one": return { ...event, seen: true };
    case "many": return [1, 2, 3].map((n) => ({ n }));
    case "none": return null;
    case "nothing": return;
    case "alert": return { port: "alerts", message: { alert: event.text } };
    default: return [];
  }
};
'''"#,
    );
    let inputs = vec![
        json!({"kind": "one", "text": "hi"}),
        json!({"kind": "many"}),
        json!({"kind": "none"}),
        json!({"kind": "nothing"}),
        json!({"kind": "alert", "text": "fire"}),
        json!({"kind": "empty"}),
    ];
    let outcome = run(block, inputs).await;
    assert_eq!(outcome.out, [json!({"kind": "one", "text": "hi", "seen": true}), json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
    assert_eq!(outcome.alerts, [json!({"alert": "fire"})]);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.acks, [Delivered, Delivered, Dropped, Dropped, Delivered, Dropped]);
}

#[tokio::test]
async fn async_handlers_are_awaited_and_numbers_keep_their_kind() {
    let block = config(
        r#"code = '''
const later = (value) => new Promise((resolve) => resolve(value));
export default async (event, meta) => ({ twice: await later(event.n * 2), half: event.n / 2, big: event.big, key: meta.key });
'''"#,
    );
    let outcome = run(block, vec![json!({"n": 3, "big": 12345678901i64})]).await;
    assert_eq!(outcome.out, [json!({"twice": 6, "half": 1.5, "big": 12345678901i64, "key": null})]);
}

#[tokio::test]
async fn a_thrown_error_fails_its_message_with_the_stack_and_the_rest_goes_on() {
    let block = config(
        r#"code = '''
export default async (event) => {
  if (event.bad) throw new TypeError("bad event " + event.id);
  if (event.reject) return Promise.reject(new RangeError("no room"));
  return event;
};
'''"#,
    );
    let outcome = run(block, vec![json!({"id": 1}), json!({"id": 2, "bad": true}), json!({"id": 3, "reject": true}), json!({"id": 4})]).await;
    assert_eq!(outcome.out, [json!({"id": 1}), json!({"id": 4})]);
    let errors: Vec<&str> = outcome.errors.iter().map(|e| e["error"].as_str().expect("an error")).collect();
    assert!(errors[0].starts_with("TypeError: bad event 2") && errors[0].contains("block.js:2:"), "{errors:?}");
    assert!(errors[1].starts_with("RangeError: no room") && errors[1].contains("block.js:3:"), "{errors:?}");
    assert_eq!(outcome.acks, [Delivered; 4], "failures end on the errors port");
}

#[tokio::test]
async fn a_handler_past_its_time_or_memory_fails_that_message_only() {
    let block = config(
        r#"timeout = "100ms"
memory_mib = 16
code = '''
let calls = 0;
export default async (event) => {
  calls += 1;
  if (event.spin) for (;;) {}
  if (event.wait) await new Promise(() => {});
  if (event.hog) { const held = []; for (;;) held.push(new Array(100000).fill(calls)); }
  return { calls };
};
'''"#,
    );
    let outcome = run(block, vec![json!({"spin": true}), json!({}), json!({"hog": true}), json!({}), json!({"wait": true}), json!({})]).await;
    let errors: Vec<&str> = outcome.errors.iter().map(|e| e["error"].as_str().expect("an error")).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("ran past its timeout of 100ms"), "{errors:?}");
    assert!(errors[1].contains("out of memory"), "{errors:?}");
    assert!(errors[2].contains("ran past its timeout of 100ms"), "{errors:?}");
    assert_eq!(outcome.out[..2], [json!({"calls": 2}), json!({"calls": 4})], "the module's state goes on after a loop and an allocation");
    assert_eq!(outcome.out.len(), 3, "after a handler that waits past its time, a fresh engine: {:?}", outcome.out);
}

#[test]
fn a_syntax_error_is_a_validation_error_with_its_line_and_column() {
    let block = config("code = '''\nexport default (event) => {\n  return event +;\n};\n'''");
    let problems = block.validate();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("`code` does not compile: SyntaxError") && problems[0].contains("code:2:"), "{problems:?}");
    assert!(config("code = 'x'\nfile = 'y.js'").validate().iter().any(|p| p.contains("not both")));
}

#[tokio::test]
async fn a_file_imports_modules_beside_it_and_nothing_outside_its_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("handlers");
    std::fs::create_dir_all(root.join("lib")).expect("folders");
    std::fs::write(root.join("lib/tag.js"), "export const tag = (m) => ({ ...m, tagged: true });\n").expect("writes");
    std::fs::write(root.join("handler.js"), "import { tag } from './lib/tag.js';\nexport default (event) => tag(event);\n").expect("writes");
    std::fs::write(root.join("escape.js"), "import secret from '../secret.js';\nexport default () => secret;\n").expect("writes");
    std::fs::write(dir.path().join("secret.js"), "export default 'no';\n").expect("writes");
    let block = config(&format!("file = '{}'", root.join("handler.js").display()));
    assert_eq!(run(block, vec![json!({"a": 1})]).await.out, [json!({"a": 1, "tagged": true})]);
    let escape = config(&format!("file = '{}'", root.join("escape.js").display()));
    let error = PipelineBuilder::new()
        .source("in", Values { values: Vec::new(), acks: Arc::default(), size: 1 })
        .block("block", ["in"], escape)
        .sink("out", ["block"], Collected::default())
        .build()
        .expect("valid")
        .start()
        .await
        .expect_err("does not start")
        .to_string();
    assert!(error.contains("outside the handler's folder"), "{error}");
}

/// A source that sends `values` in batches of `size`, then waits for every acknowledgement.
#[derive(Debug)]
pub(crate) struct Values {
    pub(crate) values: Vec<Value>,
    pub(crate) acks: Arc<Mutex<Vec<Ack>>>,
    pub(crate) size: usize,
}

#[async_trait]
impl BlockConfig for Values {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Values { values: self.values.clone(), acks: self.acks.clone(), size: self.size }))
    }
}

#[async_trait]
impl Block for Values {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let (tracker, mut received) = cx.ack_tracker();
        let mut output = cx.output;
        let mut messages = (0..).zip(self.values).map(|(id, value)| {
            let mut message = Message::new(value);
            message.acks = tracker.token(id);
            message
        });
        loop {
            let batch: Vec<Message> = messages.by_ref().take(self.size).collect();
            if batch.is_empty() {
                break;
            }
            output.send(batch).await?;
        }
        drop((output, tracker));
        while let Some(ack) = received.recv().await {
            self.acks.lock().unwrap_or_else(PoisonError::into_inner).push(ack);
        }
        Ok(())
    }
}

/// A sink that keeps the values it receives and acknowledges them as delivered.
#[derive(Clone, Debug, Default)]
pub(crate) struct Collected(Arc<Mutex<Vec<Value>>>);

impl Collected {
    pub(crate) fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl BlockConfig for Collected {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for Collected {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            for message in batch {
                self.0.lock().unwrap_or_else(PoisonError::into_inner).push(message.value().clone());
                message.ack(AckStatus::Delivered);
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn values_cross_as_json_does_keys_named_like_prototype_parts_stay_data_and_a_throwing_getter_fails_its_message() {
    let block = config(
        r#"code = '''
export default (event) => {
  if (event.kind === "getter") return { get broken() { throw new TypeError("no value here"); } };
  if (event.kind === "hidden") {
    const out = { shown: 1, skipped: undefined, f() {} };
    Object.defineProperty(out, "hidden", { value: 2, enumerable: false });
    out[Symbol("s")] = 3;
    return out;
  }
  return { ...event, proto: Object.getPrototypeOf(event) === Object.prototype, keys: Object.keys(event) };
};
'''"#,
    );
    let inputs = vec![
        json!({"__proto__": {"polluted": true}, "constructor": "c", "n": 1, "nested": {"a": [1, "x", null]}}),
        json!({"kind": "getter"}),
        json!({"kind": "hidden"}),
    ];
    let outcome = run(block, inputs).await;
    assert_eq!(outcome.out.len(), 2, "{outcome:?}");
    let first = &outcome.out[0];
    assert_eq!(first["__proto__"], json!({"polluted": true}), "an own property, as JSON.parse makes it");
    assert_eq!(first["proto"], json!(true), "the prototype is untouched");
    assert_eq!(first["nested"], json!({"a": [1, "x", null]}));
    assert_eq!(first["keys"], json!(["__proto__", "constructor", "n", "nested"]));
    assert_eq!(outcome.out[1], json!({"shown": 1}), "only own, enumerable, string-keyed values");
    assert_eq!(outcome.errors.len(), 1, "{outcome:?}");
    assert!(outcome.errors[0].to_string().contains("no value here"), "{}", outcome.errors[0]);
}
