//! The running `function` block, and its registration: validation compiles inline code, the
//! build loads the handler on its thread, and each batch goes there and back.

use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::FuturesOrdered;
use runnel_engine::{
    AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, Role, RunContext, async_trait,
};
use serde_json::Value as Json;

use crate::config::{FunctionConfig, OUT};
use crate::engine::{Failure, Limits, Source};
use crate::shape::Invocation;
use crate::worker::{Done, Worker};

impl Component for FunctionConfig {
    const TYPE: &'static str = "function";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Runs a JavaScript handler per message (an ES module's default export, sync or async, sandboxed in QuickJS): it returns the message, several, none, or {port, message}.";
    const EXAMPLE: &'static str = r#"code = '''
export default (event, meta) => {
  if (event.kind !== "chat") return null;
  return { ...event, text: event.text.trim(), room: meta.attributes.room ?? event.room };
};
'''
timeout = "1s"
memory_mib = 64"#;
}

#[async_trait]
impl BlockConfig for FunctionConfig {
    fn outputs(&self) -> Vec<String> {
        std::iter::once(OUT.to_owned()).chain(self.ports.iter().cloned()).collect()
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = self.problems();
        if let Some(code) = &self.code
            && let Err(error) = crate::engine::compile("code", code)
        {
            problems.push(format!("`code` does not compile: {error}"));
        }
        problems
    }

    fn validate_files(&self, base_dir: &std::path::Path) -> Vec<String> {
        match (&self.code, &self.file) {
            (None, Some(file)) => crate::engine::file_problems(base_dir, file, "file"),
            _ => Vec::new(),
        }
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let invocation = Invocation::new(&cx.name, self.memory_mib, self.timeout, self.env.clone());
        let modules = crate::modules::Modules::new(cx, self.kvstore.as_deref(), self.fetch_rules());
        let source = Source::read(self.code.as_deref(), self.file.as_deref(), cx, self.shape, invocation, modules)?;
        let limits = Limits { timeout: self.timeout.duration(), memory: self.memory_mib.saturating_mul(1024 * 1024), max_outputs: self.max_outputs };
        let workers = futures::future::try_join_all((0..self.worker_count()).map(|i| Worker::start(&cx.name, i, source.clone(), limits)))
            .await
            .map_err(BuildError::Invalid)?;
        Ok(BuiltBlock::task(Function { config: Arc::new(self.clone()), workers }))
    }
}

/// Batches queued or running on each worker, at most.
const IN_FLIGHT_PER_WORKER: usize = 2;

/// The running block.
struct Function {
    config: Arc<FunctionConfig>,
    workers: Vec<Worker>,
}

#[async_trait]
impl Block for Function {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let ports: Vec<(String, usize)> =
            self.config.outputs().into_iter().filter_map(|name| cx.output.port_id(&name).map(|id| (name, id))).collect();
        let keep = self.workers.first().is_some_and(|w| w.shape().keeps_message());
        // Each batch goes to the next worker in turn, and their results are handed on in the
        // order the batches came. Two per worker are in flight, so that a worker that is done
        // starts its next batch at once rather than wait for its results to be handed on.
        let mut in_flight = FuturesOrdered::new();
        let mut next_worker = 0;
        let mut input_open = true;
        loop {
            tokio::select! {
                batch = cx.input.next(), if input_open && in_flight.len() < IN_FLIGHT_PER_WORKER * self.workers.len() => match batch {
                    Some(batch) => {
                        in_flight.push_back(self.workers[next_worker].run(batch));
                        next_worker = (next_worker + 1) % self.workers.len();
                    }
                    None => input_open = false,
                },
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let done = done.map_err(BlockError::other)?;
                    self.settle(done, &ports, keep, &mut cx).await?;
                }
                else => break,
            }
        }
        Ok(())
    }
}

impl Function {
    /// Hands on what the handler made of one batch: its messages to their ports, failures to
    /// `errors`, drops acknowledged.
    async fn settle(&self, done: Vec<Done>, ports: &[(String, usize)], keep: bool, cx: &mut RunContext) -> Result<(), BlockError> {
        let mut out: Vec<Vec<Message>> = vec![Vec::new(); ports.len()];
        let mut failures = Vec::new();
        let mut dropped = 0;
        for (message, result) in done {
            let values = match result {
                Ok(None | Some(Json::Null)) => Vec::new(),
                Ok(Some(_)) if keep => {
                    out[0].push(message);
                    continue;
                }
                Ok(Some(Json::Array(items))) => items,
                Ok(Some(value)) => vec![value],
                Err(Failure::Error(error)) => {
                    failures.push((message, error));
                    continue;
                }
                Err(Failure::TimedOut { .. }) => {
                    failures.push((message, format!("the handler ran past its timeout of {}", self.config.timeout)));
                    continue;
                }
            };
            let routed: Result<Vec<(usize, Json)>, String> = values.into_iter().map(|value| route(value, ports)).collect();
            match routed {
                Err(error) => failures.push((message, error)),
                Ok(routed) if routed.is_empty() => {
                    dropped += 1;
                    message.ack(AckStatus::Dropped);
                }
                Ok(mut routed) => {
                    let last = routed.pop();
                    for (port, value) in routed {
                        out[port].push(message.derive(value));
                    }
                    if let Some((port, value)) = last {
                        let mut message = message;
                        message.set_value(value);
                        out[port].push(message);
                    }
                }
            }
        }
        cx.output.count_filtered(dropped);
        for ((_, id), batch) in ports.iter().zip(out) {
            if !batch.is_empty() {
                cx.output.send_to(*id, batch).await?;
            }
        }
        cx.output.fail(failures).await?;
        Ok(())
    }
}

/// Where a returned value goes: `{port, message}` to that port (one of `ports`), anything else
/// to `out`.
fn route(value: Json, ports: &[(String, usize)]) -> Result<(usize, Json), String> {
    if let Json::Object(object) = &value
        && object.len() == 2
        && let (Some(Json::String(port)), Some(_)) = (object.get("port"), object.get("message"))
    {
        let Some(at) = ports.iter().position(|(name, _)| name == port) else {
            return Err(format!("the handler sent to the port `{port}`, which is not in `ports`"));
        };
        let Json::Object(mut object) = value else { unreachable!("matched as an object") };
        return Ok((at, object.remove("message").unwrap_or_default()));
    }
    Ok((0, value))
}
