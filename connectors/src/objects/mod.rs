//! The `objects` block: uploads and job outputs kept as files in a folder (the embedded object
//! store; an `http_server` serves the folder with `files`). Each message's bytes, base64 in a
//! field (as the `http_server` gives an upload), are written under a key filled from a template
//! whose values must each be a safe name, so message text can never reach outside the folder
//! (`..`, `/`, an absolute path) or name a hidden file. A file is written whole under a temporary
//! name, synced, then linked into place: a reader never sees half a file, an existing file is
//! not replaced unless `overwrite`, and a written file survives a crash once its message goes on.
//!
//! - [`config`]: [`ObjectsConfig`], its fields and their checks.
//! - `key`: keys from templates, checked.

pub mod config;
mod key;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use runnel_engine::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, Role, RunContext, async_trait};
use serde_json::{Value, json};

pub use self::config::ObjectsConfig;

/// The placeholder of a new random id.
const OBJECT_ID: &str = "object_id";

impl Component for ObjectsConfig {
    const TYPE: &'static str = "objects";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Writes each message's bytes (base64 in a field) as a file in a folder, under a key of checked names; sets the file's key, path, size and URL.";
    const EXAMPLE: &'static str = r#"dir = "media"
key = "{user}/{object_id}.{extension}"
data = "base64"
result_at = "object"
url_prefix = "/media/""#;
}

#[async_trait]
impl BlockConfig for ObjectsConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let dir = cx.resolve(&self.dir);
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::Invalid(format!("cannot make the folder {}: {e}", dir.display())))?;
        let with_id = self.key.fields().any(|field| field == OBJECT_ID);
        Ok(BuiltBlock::task(Objects { config: self.clone(), dir, with_id }))
    }
}

/// The running block.
struct Objects {
    config: ObjectsConfig,
    dir: PathBuf,
    /// Whether keys take a new id.
    with_id: bool,
}

/// A file to write, and the message it came from.
struct Pending {
    message: Message,
    key: String,
    bytes: Vec<u8>,
}

#[async_trait]
impl Block for Objects {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            let mut failures = Vec::new();
            let mut pending = Vec::with_capacity(batch.len());
            for message in batch {
                match self.prepare(&message) {
                    Ok((key, bytes)) => pending.push(Pending { message, key, bytes }),
                    Err(error) => failures.push((message, error)),
                }
            }
            let (dir, overwrite) = (self.dir.clone(), self.config.overwrite);
            let written = tokio::task::spawn_blocking(move || {
                pending.into_iter().map(|file| (write(&dir, &file.key, &file.bytes, overwrite), file)).collect::<Vec<_>>()
            })
            .await
            .map_err(BlockError::other)?;
            let mut out = Vec::with_capacity(written.len());
            for (result, Pending { mut message, key, bytes }) in written {
                match result {
                    Ok(path) => {
                        let value = message.value_mut();
                        if !self.config.keep_data {
                            self.config.data.take(value);
                        }
                        let url = self.config.url_prefix.as_ref().map(|prefix| format!("{prefix}{key}"));
                        let object = json!({"key": key, "path": path.display().to_string(), "bytes": bytes.len(), "url": url});
                        match self.config.result_at.set(value, object) {
                            Ok(()) => out.push(message),
                            Err(error) => failures.push((message, error)),
                        }
                    }
                    Err(error) => failures.push((message, error)),
                }
            }
            if !out.is_empty() {
                cx.output.send(out).await?;
            }
            cx.output.fail(failures).await?;
        }
        Ok(())
    }
}

impl Objects {
    /// The key and the bytes of a message's file.
    fn prepare(&self, message: &Message) -> Result<(String, Vec<u8>), String> {
        let data = match self.config.data.get(message.value()) {
            Some(Value::String(text)) => text,
            _ => return Err(format!("`{}` does not hold base64 text", self.config.data)),
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| format!("`{}` is not base64: {e}", self.config.data))?;
        let key = if self.with_id {
            let mut meta = message.meta().clone();
            meta.set_attribute(OBJECT_ID, Value::String(uuid::Uuid::new_v4().simple().to_string()));
            key::fill(&self.config.key, message.value(), &meta)
        } else {
            key::fill(&self.config.key, message.value(), message.meta())
        };
        Ok((key.map_err(|e| format!("`key`: {e}"))?, bytes))
    }
}

/// Writes `bytes` as `dir/key`: into a temporary file beside it, synced, then linked into
/// place (refused if a file is there, unless `overwrite`), and the folder synced.
fn write(dir: &Path, key: &str, bytes: &[u8], overwrite: bool) -> Result<PathBuf, String> {
    let path = dir.join(key);
    let folder = path.parent().unwrap_or(dir);
    std::fs::create_dir_all(folder).map_err(|e| format!("cannot make the folder {}: {e}", folder.display()))?;
    let temporary = folder.join(format!(".{}.part", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        if overwrite { std::fs::rename(&temporary, &path) } else { std::fs::hard_link(&temporary, &path) }
    })();
    let _ = std::fs::remove_file(&temporary);
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(format!("`{key}` exists already (set `overwrite` to replace it)"));
        }
        Err(error) => return Err(format!("cannot write {}: {error}", path.display())),
    }
    std::fs::File::open(folder).and_then(|f| f.sync_all()).map_err(|e| format!("cannot sync {}: {e}", folder.display()))?;
    Ok(path)
}
