//! runnel embedded in a program: a pipeline built in code with a custom Rust block, fed and read
//! through memory channels, inside the program's own tokio runtime.
//!
//! `cargo run --example embedded`

use runnel::connectors::{MemorySinkConfig, MemorySourceConfig};
use runnel::{BlockConfig, BuildContext, BuiltBlock, Emitter, FunctionBlock, Message, PipelineBuilder};
use runnel::{BuildError, async_trait};
use serde_json::json;

/// Counts the words of each message's `text` into `words`.
#[derive(Debug)]
struct WordCount;

impl FunctionBlock for WordCount {
    fn process(&mut self, mut message: Message, out: &mut Emitter) {
        match message.value()["text"].as_str().map(|t| t.split_whitespace().count()) {
            Some(words) => {
                message.value_mut()["words"] = json!(words);
                out.emit(message);
            }
            None => out.fail(message, "`text` is missing or not a string"),
        }
    }
}

/// The configuration that builds [`WordCount`].
#[derive(Debug)]
struct WordCountConfig;

#[async_trait]
impl BlockConfig for WordCountConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(runnel::BuiltBlock::function(WordCount))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (source, input) = MemorySourceConfig::channel();
    let (sink, mut output) = MemorySinkConfig::channel();
    let running =
        PipelineBuilder::new().source("in", source).block("count", ["in"], WordCountConfig).sink("out", ["count"], sink).build()?.start().await?;

    let feeder = tokio::spawn(async move {
        for text in ["hello world", "one two three", "runnel runs blocks"] {
            let _ = input.send(json!({ "text": text })).await;
        }
    });
    while let Some(message) = output.recv().await {
        println!("{}", message.value());
    }
    feeder.await?;
    running.wait().await?;
    Ok(())
}
