//! Rules about the code's own structure that reviews would otherwise have to catch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::root;

/// The modules of a crate's `src/` folder that each top-level module names as `crate::other`.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut texts = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src exists") {
        let path = entry.expect("readable").path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut text = String::new();
        let mut files = vec![path];
        while let Some(file) = files.pop() {
            if file.is_dir() {
                files.extend(std::fs::read_dir(&file).expect("readable").map(|e| e.expect("readable").path()));
            } else if file.extension().is_some_and(|e| e == "rs") {
                // Code only: comments may name any module.
                let code = std::fs::read_to_string(&file).expect("readable");
                text.extend(code.lines().map(|l| l.split("//").next().unwrap_or_default()).flat_map(|l| [l, "\n"]));
            }
        }
        texts.insert(name, text);
    }
    let named = |text: &str, module: &str| {
        let path = format!("crate::{module}");
        let in_group = text.split("crate::{").skip(1).any(|group| {
            let group = group.split('}').next().unwrap_or_default();
            group.split(',').any(|item| item.trim().split("::").next() == Some(module))
        });
        text.match_indices(&path).any(|(at, _)| !text[at + path.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')) || in_group
    };
    texts.iter().map(|(name, text)| (name.clone(), texts.keys().filter(|other| *other != name && named(text, other)).cloned().collect())).collect()
}

/// The engine's modules form layers: no module imports one that imports it back, directly or
/// through others.
#[test]
fn engine_modules_import_each_other_without_a_cycle() {
    let graph = imports(&root().join("engine/src"));
    assert!(graph["block"].contains("emitter") && graph["runtime"].contains("exec"), "the import scan works: {graph:#?}");
    for start in graph.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack: Vec<Vec<&str>> = vec![vec![start.as_str()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = *path.last().expect("non-empty");
            for next in &graph[last] {
                if next == start {
                    panic!("import cycle: {} → {start}", path.join(" → "));
                }
                if seen.insert(next.as_str()) {
                    stack.push(path.iter().copied().chain([next.as_str()]).collect());
                }
            }
        }
    }
}
