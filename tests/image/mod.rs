//! The `image` block against a real thumbor (started by scripts/test.sh) and against Cloudinary's
//! official Python SDK as an oracle, with a local stand-in for Cloudinary's hosts. Images are
//! made and decoded with Pillow (`tools.py`), independently of the block's own measuring.

mod app;
mod cloudinary;
mod limits;
mod thumbor;

use std::path::{Path, PathBuf};
use std::process::Command;

use runnel::PipelineBuilder;
use runnel_connectors::image::ImageConfig;
use runnel_connectors::{MemorySinkConfig, MemorySourceConfig};
use serde_json::Value;

use crate::support::{peers_required, root};

/// A Python of scripts/test.sh named by `var`, if set (in CI a missing one fails the test).
fn python(var: &str) -> Option<PathBuf> {
    let found = std::env::var_os(var).map(PathBuf::from).filter(|p| p.exists());
    assert!(found.is_some() || !peers_required(), "{var} is not set; scripts/test.sh sets it");
    if found.is_none() {
        eprintln!("skipping: {var} is not set (run scripts/test.sh)");
    }
    found
}

/// Runs `tools.py command args` with `python`, returning its standard output.
fn tool(python: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut command = Command::new(python);
    command.arg(root().join("tests/image/tools.py")).args(args);
    let output = match stdin {
        None => command.output().expect("python runs"),
        Some(text) => {
            use std::io::Write as _;
            let mut child = command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("python runs");
            child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("writes");
            child.wait_with_output().expect("python ends")
        }
    };
    assert!(output.status.success(), "tools.py {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Fetches each URL and decodes it with Pillow: `{format, width, height, bytes, content_type}`
/// (or `{status}` for an error answer).
fn probe(python: &Path, urls: &[&str]) -> Vec<Value> {
    let mut args = vec!["probe"];
    args.extend(urls);
    tool(python, &args, None).lines().map(|line| serde_json::from_str(line).expect("JSON")).collect()
}

/// Runs `config` over `messages`: (what left `out`, what left `errors`).
async fn run(config: ImageConfig, messages: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    let (source, input) = MemorySourceConfig::channel();
    let (sink, out) = MemorySinkConfig::channel();
    let (dead_sink, dead) = MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("in", source)
        .block("img", ["in"], config)
        .sink("out", ["img"], sink)
        .sink("dead", ["img.errors"], dead_sink)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    for message in messages {
        input.send(message).await.expect("accepted");
    }
    drop(input.close());
    let (values, errors, done) = tokio::join!(out.collect_values(), dead.collect_values(), running.wait());
    done.expect("runs to the end");
    (values, errors)
}

fn config(toml: &str) -> ImageConfig {
    let config: ImageConfig = toml::from_str(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(config.problems(), Vec::<String>::new());
    config
}
