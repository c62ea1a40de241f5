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

/// An asynchronous block: waits until `limit` calls are in flight together (so it hangs unless
/// the engine runs that many at once), then finishes them in reverse order.
#[derive(Debug)]
struct Gathering {
    barrier: std::sync::Arc<tokio::sync::Barrier>,
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl runnel_engine::AsyncFunctionBlock for Gathering {
    async fn process(&self, mut message: Message, out: &mut Emitter) {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        self.barrier.wait().await;
        let n = message.value()["n"].as_u64().expect("numbered");
        for _ in 0..(4 - n % 4) * 20 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, SeqCst);
        if n == 13 {
            return out.fail(message, "unlucky");
        }
        message.value_mut()["seen"] = json!(true);
        out.emit(message);
    }
}

#[derive(Debug)]
struct GatheringConfig {
    ordered: bool,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl BlockConfig for GatheringConfig {
    async fn build(&self, _: &BuildContext) -> Result<runnel::BuiltBlock, runnel_engine::BuildError> {
        let block = Gathering { barrier: std::sync::Arc::new(tokio::sync::Barrier::new(4)), in_flight: Default::default(), most: self.most.clone() };
        Ok(runnel::BuiltBlock::concurrent(block, std::num::NonZeroUsize::new(4).expect("4"), self.ordered))
    }
}

#[tokio::test]
async fn an_async_block_runs_calls_at_once_up_to_its_limit_and_keeps_order_when_asked() {
    for ordered in [true, false] {
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (source, input) = MemorySourceConfig::channel();
        let (sink, output) = MemorySinkConfig::channel();
        let (errors, error_output) = MemorySinkConfig::channel();
        let running = PipelineBuilder::new()
            .source("in", source)
            .block("gather", ["in"], GatheringConfig { ordered, most: most.clone() })
            .sink("out", ["gather"], sink)
            .sink("dead", ["gather.errors"], errors)
            .build()
            .expect("valid")
            .start()
            .await
            .expect("starts");
        for n in 0..16 {
            input.send(json!({"n": n})).await.expect("accepted");
        }
        drop(input);
        let collected = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            tokio::join!(output.collect_values(), error_output.collect_values(), running.wait())
        });
        let (values, dead, done) = collected.await.expect("four calls at once let every barrier open");
        done.expect("clean");
        let numbers: Vec<u64> = values.iter().map(|v| v["n"].as_u64().expect("n")).collect();
        let expected: Vec<u64> = (0..16).filter(|n| *n != 13).collect();
        if ordered {
            assert_eq!(numbers, expected);
        } else {
            let mut sorted = numbers.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, expected);
        }
        assert!(values.iter().all(|v| v["seen"] == json!(true)));
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0]["error"], "unlucky");
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 4, "never more than the limit at once");
    }
}
