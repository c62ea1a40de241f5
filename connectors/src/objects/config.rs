//! The `objects` block's configuration and its checks.

use std::path::PathBuf;

use serde::Deserialize;

use crate::field_path::FieldPath;
use crate::template::Template;

/// The `objects` block: each message's bytes (base64 in a field) written as a file in a folder.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsConfig {
    /// The folder, relative to the pipeline file; created if missing.
    pub dir: PathBuf,
    /// The file's key (its path under `dir`), a template of the message's fields whose values
    /// are each a safe name; `{object_id}` is a new random id for each file.
    pub key: Template,
    /// The field that holds the bytes, base64-encoded (as the `http_server` gives an upload).
    #[serde(default = "default_data")]
    pub data: FieldPath,
    /// Whether `data` stays in the message after the file is written (by default it goes:
    /// blocks downstream get the file's path, not its bytes).
    #[serde(default)]
    pub keep_data: bool,
    /// Where `{key, path, bytes, url}` of the written file goes in the message.
    #[serde(default = "default_result_at")]
    pub result_at: FieldPath,
    /// Prefix of the file's `url` (such as `/media/`, where an `http_server` serves `dir`).
    #[serde(default)]
    pub url_prefix: Option<String>,
    /// Whether a file may replace one with the same key (by default the message fails).
    #[serde(default)]
    pub overwrite: bool,
}

fn default_data() -> FieldPath {
    FieldPath::try_from("base64".to_owned()).unwrap_or_else(|_| unreachable!("a valid path"))
}

fn default_result_at() -> FieldPath {
    FieldPath::try_from("object".to_owned()).unwrap_or_else(|_| unreachable!("a valid path"))
}

impl ObjectsConfig {
    /// Every problem with the configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = super::key::check_template(&self.key).err().into_iter().collect();
        if self.dir.as_os_str().is_empty() {
            problems.push("`dir` is empty: name the folder the files go in".to_owned());
        }
        problems
    }
}
