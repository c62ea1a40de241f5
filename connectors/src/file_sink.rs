//! The `file` sink: NDJSON lines appended to (or replacing) a file.

use std::path::PathBuf;

use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Resource, Role, RunContext, async_trait};
use serde::Deserialize;
use tokio::fs::{File, OpenOptions};

use crate::sink_writer::{Target, write_all};

/// Writes each message as one line of JSON to a file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file to write; relative paths are relative to the pipeline file. Created if missing.
    pub path: PathBuf,
    /// Append to the file (the default) or truncate it when the pipeline starts.
    #[serde(default = "yes")]
    pub append: bool,
    /// Call fsync after every batch before acknowledging it, so acknowledged messages survive a
    /// power loss, not only a crash of runnel. Costs throughput.
    #[serde(default)]
    pub fsync: bool,
}

fn yes() -> bool {
    true
}

impl Component for FileSinkConfig {
    const TYPE: &'static str = "file";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "Writes NDJSON lines to a file; acknowledges a batch once it is written (and fsynced, if asked).";
    const EXAMPLE: &'static str = "path = \"out.ndjson\"\nappend = true\nfsync = false";
}

#[async_trait]
impl BlockConfig for FileSinkConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::path("file", &self.path)]
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let path = cx.resolve(&self.path);
        let mut options = OpenOptions::new();
        options.create(true);
        if self.append {
            options.append(true)
        } else {
            options.write(true).truncate(true)
        };
        let mut file = options.open(&path).await.map_err(|e| BuildError::Invalid(format!("cannot open {} for writing: {e}", path.display())))?;
        if self.append {
            end_partial_line(&mut file, &path).await.map_err(|e| BuildError::Invalid(format!("cannot read the end of {}: {e}", path.display())))?;
        }
        Ok(BuiltBlock::task(FileSink { file: file.into_std().await, fsync: self.fsync }))
    }
}

/// Ends a last line left unfinished (by a crash, a full disk) with a newline, so that the next
/// record starts on a line of its own and the partial line stays in the file, whole, to recover.
async fn end_partial_line(file: &mut File, path: &std::path::Path) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let length = file.metadata().await?.len();
    if length == 0 {
        return Ok(());
    }
    // An append-mode handle writes at the end whatever its position; a separate one reads.
    let mut reader = File::open(path).await?;
    reader.seek(std::io::SeekFrom::Start(length - 1)).await?;
    let mut last = [0_u8];
    reader.read_exact(&mut last).await?;
    if last[0] != b'\n' {
        tracing::warn!(path = %path.display(), length, "the file ended in an unfinished line: ended it with a newline, so the next record starts on a line of its own");
        file.write_all(b"\n").await?;
    }
    Ok(())
}

/// The running `file` sink.
#[derive(Debug)]
pub struct FileSink {
    file: std::fs::File,
    fsync: bool,
}

impl Target for FileSink {
    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write as _;
        (&self.file).write_all(bytes)?;
        if self.fsync { self.file.sync_data() } else { Ok(()) }
    }
}

#[async_trait]
impl Block for FileSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        write_all(std::sync::Arc::new(*self), &mut cx).await
    }
}
