//! The `stdin` source: NDJSON lines from standard input.

use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Resource, Role, RunContext, async_trait};
use serde::Deserialize;

use crate::ndjson::{LineDecoder, LineReader, read_into};

/// Reads newline-delimited JSON from standard input until it closes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {}

impl Component for StdinConfig {
    const TYPE: &'static str = "stdin";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "Reads NDJSON lines from standard input until it closes.";
    const EXAMPLE: &'static str = "";
}

#[async_trait]
impl BlockConfig for StdinConfig {
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::new("stdin", "-")]
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Stdin))
    }
}

/// The running `stdin` source.
#[derive(Debug)]
pub struct Stdin;

#[async_trait]
impl Block for Stdin {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let decoder = LineDecoder::new(cx.name.clone(), "stdin".into(), cx.ack_metrics_tracker());
        read_into(LineReader::new(tokio::io::stdin()), decoder, &mut cx, None).await
    }
}
