//! The `file` source: NDJSON lines from a file, optionally following lines appended later.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Role, RunContext, async_trait};
use serde::Deserialize;

use crate::ndjson::{LineDecoder, LineReader, read_into};

/// Reads newline-delimited JSON from a file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// The file to read; relative paths are relative to the pipeline file.
    pub path: PathBuf,
    /// Keep reading lines appended to the file after its end, until shutdown (like `tail -f`).
    #[serde(default)]
    pub follow: bool,
    /// How often a following source looks for appended lines, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
}

fn default_poll_ms() -> u64 {
    250
}

impl Component for FileSourceConfig {
    const TYPE: &'static str = "file";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "Reads NDJSON lines from a file; a malformed line is an error naming file and line.";
    const EXAMPLE: &'static str = "path = \"events.ndjson\"\nfollow = false";
}

#[async_trait]
impl BlockConfig for FileSourceConfig {
    fn validate(&self) -> Vec<String> {
        if self.poll_interval_ms == 0 { vec!["`poll_interval_ms` must be at least 1".into()] } else { Vec::new() }
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let path = cx.resolve(&self.path);
        let file = tokio::fs::File::open(&path).await.map_err(|e| BuildError::Invalid(format!("cannot open {}: {e}", path.display())))?;
        let follow = self.follow.then(|| Duration::from_millis(self.poll_interval_ms));
        Ok(BuiltBlock::task(FileSource { file, path, follow }))
    }
}

/// The running `file` source.
#[derive(Debug)]
pub struct FileSource {
    file: tokio::fs::File,
    path: PathBuf,
    follow: Option<Duration>,
}

#[async_trait]
impl Block for FileSource {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let stream: Arc<str> = Arc::from(self.path.display().to_string());
        let decoder = LineDecoder::new(cx.name.clone(), stream, cx.ack_metrics_tracker());
        let reader = LineReader::new(self.file);
        let reader = if self.follow.is_some() { reader.following() } else { reader };
        read_into(reader, decoder, &mut cx, self.follow).await
    }
}
