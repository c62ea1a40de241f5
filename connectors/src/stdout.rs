//! The `stdout` sink: NDJSON lines on standard output.

use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Role, RunContext, async_trait};
use serde::Deserialize;

use crate::sink_writer::write_all;

/// Writes each message as one line of JSON to standard output.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {}

impl Component for StdoutConfig {
    const TYPE: &'static str = "stdout";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "Writes NDJSON lines to standard output, flushing after every batch.";
    const EXAMPLE: &'static str = "";
}

#[async_trait]
impl BlockConfig for StdoutConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Stdout))
    }
}

/// The running `stdout` sink.
#[derive(Debug)]
pub struct Stdout;

#[async_trait]
impl Block for Stdout {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        write_all(std::sync::Arc::new(std::io::stdout()), &mut cx).await
    }
}
