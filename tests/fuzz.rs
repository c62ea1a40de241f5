//! Fuzz target: the pipeline-file parser (see the `runnel-fuzz` crate). Any text, seeds of
//! `fuzz/corpus/pipeline/` and their mutations included, validates with the real registry or
//! fails with diagnostics; an error is located inside the file; nothing panics.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use runnel::{Pipeline, Registry, Role};

/// Cases: about 4 ms each in a debug build, most of it compiling the jq programs of blocks.
const CASES: u32 = 1000;

/// The environment `${...}` references read: values without newlines, as lines must keep their
/// numbers.
fn env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("example.org".into()),
        "PORT" => Some("9000".into()),
        "COUNT" => Some("5".into()),
        "EMPTY" => Some(String::new()),
        "TOKEN" => Some("s3cr3t".into()),
        _ => None,
    }
}

/// Parses `text` as the file `fuzz.toml`: every diagnostic is located inside the text and says
/// where (but for a TOML error without a position), and a file that fails has an error.
fn check(text: &str, registry: &Registry) -> Result<(), TestCaseError> {
    let diagnostics = match Pipeline::parse(text, Some("fuzz.toml".into()), registry, env) {
        Ok(pipeline) => pipeline.warnings().to_vec(),
        Err(error) => {
            prop_assert!(error.errors().next().is_some(), "failed without an error: {error}");
            error.diagnostics
        }
    };
    let lines: Vec<&str> = text.split('\n').collect();
    for diagnostic in &diagnostics {
        let Some(location) = &diagnostic.location else {
            // The toml crate gives some errors no position ("recursion limit").
            prop_assert!(diagnostic.message.starts_with("the file is not valid TOML: "), "not located: {}", diagnostic);
            continue;
        };
        let line = lines.get(location.line.wrapping_sub(1));
        prop_assert!(line.is_some(), "{diagnostic}: line {} of {}", location.line, lines.len());
        // Columns count in the text after `${...}` substitutions, which may be longer.
        if let Some(line) = line.filter(|line| !line.contains('$')) {
            prop_assert!((1..=line.chars().count() + 1).contains(&location.column), "{diagnostic}: column {} of {line:?}", location.column);
        }
        let position = format!("fuzz.toml:{}:{}: ", location.line, location.column);
        prop_assert!(diagnostic.to_string().starts_with(&position), "{diagnostic} does not start with {position}");
    }
    Ok(())
}

/// One node of a generated pipeline: a registered type with its example's fields, some
/// dropped or given other values, and inputs that may or may not exist.
#[derive(Debug, Clone)]
struct Node {
    entry: Index,
    name: &'static str,
    type_name: Option<&'static str>,
    fields: Vec<(Index, Option<&'static str>)>,
    inputs: Vec<(&'static str, &'static str, Option<&'static str>)>,
}

const NAMES: &[&str] = &["a", "b", "c", "chat", "out", "in", "errors", "x-y", "x_y", "bad name", "a.b", "", "日本"];
const PORTS: &[&str] = &["", ".errors", ".out", ".nope", ".", ".important", ".chat"];
/// Other values for a field: wrong types, out of range, bad jq, bad durations, interpolations.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1.5",
    "99999999999999999999",
    "1e400",
    "nan",
    "true",
    "\"\"",
    "\"x\"",
    "[]",
    "[1, \"a\"]",
    "{}",
    "{ a = 1 }",
    "'.a |'",
    "'.kind == \"chat\"'",
    "'def f: f; f'",
    "\"10s\"",
    "\"0s\"",
    "\"-1s\"",
    "\"99999999999999y\"",
    "\"${HOST}\"",
    "${PORT}",
    "${UNSET:-7}",
    "\"${UNSET}\"",
    "\"\\ud800\"",
    "1979-05-27T07:32:00Z",
];
const EDGES: &[&str] =
    &["capacity = 2", "capacity = 0", "when_full = \"drop_newest\"", "when_full = \"sometimes\"", "capacity = 99999999999999999999"];

fn node() -> impl Strategy<Value = Node> {
    let field = (any::<Index>(), prop::option::weighted(0.2, prop::sample::select(VALUES)));
    let input = (prop::sample::select(NAMES), prop::sample::select(PORTS), prop::option::weighted(0.2, prop::sample::select(EDGES)));
    (
        any::<Index>(),
        prop::sample::select(NAMES),
        prop::option::weighted(0.1, prop::sample::select(&["nope", "generator", "map", "stdout", "file"][..])),
        prop::collection::vec(field, 0..6),
        prop::collection::vec(input, 0..3),
    )
        .prop_map(|(entry, name, type_name, fields, inputs)| Node { entry, name, type_name, fields, inputs })
}

/// A pipeline of generated nodes, with or without `[pipeline]` settings, as TOML.
fn pipeline_text(registry: &Registry) -> impl Strategy<Value = String> + use<> {
    let entries: Vec<(Role, &'static str, &'static str)> = registry.entries().map(|e| (e.role, e.type_name, e.example)).collect();
    const SETTINGS: &[&str] = &["capacity = 4", "capacity = 0", "batch_size = 70000", "when_full = \"drop_newest\"", "chain = false", "colour = 1"];
    let settings = prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec(prop::sample::select(SETTINGS), 1..3)];
    (settings, prop::collection::vec(node(), 1..8)).prop_map(move |(settings, nodes)| {
        let mut text = String::new();
        if !settings.is_empty() {
            text.push_str("[pipeline]\n");
            settings.iter().for_each(|line| text.push_str(&format!("{line}\n")));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, node) in nodes.into_iter().enumerate() {
            let (role, type_name, example) = entries[node.entry.index(entries.len())];
            // A name used twice would be a TOML error, which the mutated seeds reach already.
            let name = if names.insert(node.name) { node.name.to_owned() } else { format!("{}{i}", node.name) };
            text.push_str(&format!("\n[{}.\"{name}\"]\ntype = \"{}\"\n", role.section(), node.type_name.unwrap_or(type_name)));
            if !node.inputs.is_empty() {
                let inputs: Vec<String> = node
                    .inputs
                    .iter()
                    .map(|(name, port, edge)| match edge {
                        Some(edge) => format!("{{ from = \"{name}{port}\", {edge} }}"),
                        None => format!("\"{name}{port}\""),
                    })
                    .collect();
                text.push_str(&format!("inputs = [{}]\n", inputs.join(", ")));
            }
            // The example's fields, each once, some with another value; then its first table.
            let lines: Vec<&str> = example.lines().filter(|line| !line.trim().is_empty()).collect();
            let table = lines.iter().position(|line| line.starts_with('[')).unwrap_or(lines.len());
            let mut written = std::collections::BTreeSet::new();
            for (index, value) in &node.fields {
                let Some(line) = lines[..table].get(index.index(table.max(1))) else { continue };
                let Some((key, _)) = line.split_once(" = ") else { continue };
                if written.insert(key) {
                    match value {
                        Some(value) => text.push_str(&format!("{key} = {value}\n")),
                        None => text.push_str(&format!("{line}\n")),
                    }
                }
            }
            if let Some(header) = lines.get(table).filter(|_| node.fields.len() > 1) {
                text.push_str(&format!("[{}.\"{name}\".{}\n", role.section(), &header[1..]));
                lines[table + 1..].iter().take_while(|line| !line.starts_with('[')).for_each(|line| text.push_str(&format!("{line}\n")));
            }
        }
        text
    })
}

/// Mutated seeds of `fuzz/corpus/pipeline/`, generated pipelines, and lines of TOML-ish tokens.
fn any_text(registry: &Registry) -> impl Strategy<Value = String> + use<> {
    const TOKENS: &[&[u8]] = &[
        b"[sources.",
        b"[blocks.",
        b"[sinks.",
        b"[[sinks]]",
        b"[pipeline]",
        b"type = ",
        b"inputs = [",
        b"\"]",
        b"= ",
        b".errors",
        b"${",
        b"${HOST}",
        b"${UNSET:-",
        b"$$",
        b"'''",
        b"\"\"\"",
        b"#",
        b"{ from = \"",
        b"capacity = ",
        b"when_full = ",
        b"on_error = ",
        b"\\u",
        b"condition = '",
        b"program = '",
        b".a |",
        b"\n[",
        b"=\n",
    ];
    let seeds = runnel_fuzz::corpus("pipeline");
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..30).prop_map(|tokens| tokens.concat());
    prop_oneof![
        3 => runnel_fuzz::mutated(&seeds, TOKENS).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        3 => pipeline_text(registry),
        1 => soup.prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

/// Any text validates or fails with located diagnostics, on a test thread's stack.
#[test]
fn fuzz_pipeline_files_validate_or_fail_located() {
    let registry = runnel::registry();
    let mut runner = TestRunner::new(runnel_fuzz::config("pipeline", CASES));
    if let Err(failure) = runner.run(&any_text(&registry), |text| check(&text, &registry)) {
        panic!("{failure}\n{runner}");
    }
}

/// Every seed of `fuzz/corpus/pipeline/` as it is: the ones named `bad-*` fail, the others
/// validate.
#[test]
fn fuzz_corpus_pipeline_files_validate_or_fail_located() {
    let registry = runnel::registry();
    for seed in runnel_fuzz::corpus("pipeline") {
        let text = String::from_utf8_lossy(&seed.bytes);
        if let Err(error) = check(&text, &registry) {
            panic!("{}: {error}", seed.name);
        }
        let valid = Pipeline::parse(&text, None, &registry, env).map_err(|e| e.to_string());
        assert_eq!(valid.is_ok(), !seed.name.starts_with("bad-"), "{}: {valid:?}", seed.name);
    }
}
