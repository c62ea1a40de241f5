//! The `file` source: NDJSON lines from a file, optionally following lines appended later.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Role, RunContext, async_trait};
use serde::Deserialize;

use crate::ndjson::{DEFAULT_MAX_LINE_BYTES, LineDecoder, LineReader, read_into};

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
    /// The longest line read, in bytes: a longer one goes to the `errors` port with its line
    /// number and first bytes, without being buffered whole.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
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
        let mut problems = Vec::new();
        if self.poll_interval_ms == 0 {
            problems.push("`poll_interval_ms` must be at least 1".into());
        }
        if self.max_line_bytes == 0 {
            problems.push("`max_line_bytes` must be at least 1".into());
        }
        problems
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let path = cx.resolve(&self.path);
        let cannot = |e: std::io::Error| BuildError::Invalid(format!("cannot open {}: {e}", path.display()));
        let file = tokio::fs::File::open(&path).await.map_err(cannot)?;
        if file.metadata().await.map_err(cannot)?.is_dir() {
            return Err(BuildError::Invalid(format!("cannot read {}: it is a directory, not a file", path.display())));
        }
        let follow = self.follow.then(|| Duration::from_millis(self.poll_interval_ms));
        Ok(BuiltBlock::task(FileSource { file, path, follow, max_line_bytes: self.max_line_bytes }))
    }
}

/// The running `file` source.
#[derive(Debug)]
pub struct FileSource {
    file: tokio::fs::File,
    path: PathBuf,
    follow: Option<Duration>,
    max_line_bytes: usize,
}

#[async_trait]
impl Block for FileSource {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let stream: Arc<str> = Arc::from(self.path.display().to_string());
        let decoder = LineDecoder::new(cx.name.clone(), stream, cx.ack_metrics_tracker());
        let reader = LineReader::new(self.file).max_line_bytes(self.max_line_bytes);
        let reader = if self.follow.is_some() { reader.following() } else { reader };
        read_into(reader, decoder, &mut cx, self.follow).await
    }
}
