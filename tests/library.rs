//! runnel as a library: the same TOML or a builder, a custom block written in Rust, run inside
//! the caller's tokio runtime.

use runnel::{BlockConfig, BuildContext, Emitter, FunctionBlock, Message, PipelineBuilder};
use runnel_connectors::{MemorySinkConfig, MemorySourceConfig};
use runnel_engine::async_trait;
use serde_json::json;

/// A custom block: uppercases `text`, fails messages without one.
#[derive(Debug)]
struct Shout;

impl FunctionBlock for Shout {
    fn process(&mut self, mut message: Message, out: &mut Emitter) {
        let Some(text) = message.value()["text"].as_str().map(str::to_uppercase) else {
            out.fail(message, "no `text` field");
            return;
        };
        message.value_mut()["text"] = json!(text);
        out.emit(message);
    }
}

#[derive(Debug)]
struct ShoutConfig;

#[async_trait]
impl BlockConfig for ShoutConfig {
    async fn build(&self, _: &BuildContext) -> Result<runnel::BuiltBlock, runnel_engine::BuildError> {
        Ok(runnel::BuiltBlock::function(Shout))
    }
}

#[tokio::test]
async fn a_custom_block_runs_in_a_built_pipeline() {
    let (source, input) = MemorySourceConfig::channel();
    let (sink, output) = MemorySinkConfig::channel();
    let (errors, error_output) = MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("in", source)
        .block("shout", ["in"], ShoutConfig)
        .sink("out", ["shout"], sink)
        .sink("dead", ["shout.errors"], errors)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    input.send(json!({"text": "hello"})).await.expect("accepted");
    input.send(json!({"nothing": true})).await.expect("accepted");
    drop(input);
    let (values, dead, done) = tokio::join!(output.collect_values(), error_output.collect_values(), running.wait());
    done.expect("clean");
    assert_eq!(values, vec![json!({"text": "HELLO"})]);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["error"], "no `text` field");
    assert_eq!(dead[0]["node"], "shout");
}
