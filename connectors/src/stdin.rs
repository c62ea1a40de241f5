//! The `stdin` source: NDJSON lines from standard input.

use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Resource, Role, RunContext, async_trait};
use serde::Deserialize;

use crate::ndjson::{DEFAULT_MAX_LINE_BYTES, LineDecoder, LineReader, read_into};

/// Reads newline-delimited JSON from standard input until it closes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// The longest line read, in bytes: a longer one goes to the `errors` port with its line
    /// number and first bytes, without being buffered whole.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

impl Default for StdinConfig {
    fn default() -> Self {
        Self { max_line_bytes: DEFAULT_MAX_LINE_BYTES }
    }
}

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}

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

    fn validate(&self) -> Vec<String> {
        if self.max_line_bytes == 0 { vec!["`max_line_bytes` must be at least 1".into()] } else { Vec::new() }
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Stdin { max_line_bytes: self.max_line_bytes }))
    }
}

/// The running `stdin` source.
#[derive(Debug)]
pub struct Stdin {
    max_line_bytes: usize,
}

#[async_trait]
impl Block for Stdin {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let decoder = LineDecoder::new(cx.name.clone(), "stdin".into(), cx.ack_metrics_tracker());
        read_into(LineReader::new(tokio::io::stdin()).max_line_bytes(self.max_line_bytes), decoder, &mut cx).await
    }
}
