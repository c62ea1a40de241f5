//! Pipeline files: every mistake reported at once with file:line:column and the node's name,
//! one test per graph rule, and environment interpolation.

use std::num::NonZeroUsize;

use runnel::connectors::{MemorySinkConfig, MemorySourceConfig};
use runnel::{Pipeline, PipelineBuilder, PipelineSettings};

fn errors(toml: &str) -> Vec<String> {
    match Pipeline::parse(toml, Some("p.toml".into()), &runnel::registry(), |name| (name == "RATE").then(|| "5".into())) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
    }
}

fn has(errors: &[String], needle: &str) {
    assert!(errors.iter().any(|e| e.contains(needle)), "no error contains {needle:?}:\n{}", errors.join("\n"));
}

#[test]
fn a_file_with_several_mistakes_reports_all_of_them_with_positions() {
    let toml = r#"
[sources.gen]
type = "generator"
count = "many"

[blocks.keep]
type = "fliter"
inputs = ["gen"]

[blocks.shape]
type = "map"
inputs = ["nowhere"]
program = ".a"

[blocks.route_me]
type = "filter"
inputs = ["gen"]
condition = ".a"
colour = "red"

[blocks.sideways]
type = "filter"
inputs = ["ok.sideways"]
condition = ".a"

[sources.ok]
type = "memory"

[sinks.out]
type = "stdout"
"#;
    let errors = errors(toml);
    has(&errors, "p.toml:4:9: error: node `gen`: invalid type");
    has(&errors, "p.toml:7:8: error: node `keep`: unknown block type `fliter`");
    has(&errors, "p.toml:12:11: error: node `shape`: unknown input `nowhere`");
    has(&errors, "p.toml:23:11: error: node `sideways`: node `ok` has no output port `sideways` (its ports: out, errors)");
    has(&errors, "p.toml:19:1: error: node `route_me`: unknown field `colour`");
    has(&errors, "node `out`: missing `inputs`");
    assert!(errors.len() >= 6, "{errors:#?}");
}

#[test]
fn cycles_name_every_node_on_them() {
    let errors = errors(
        r#"
[sources.s]
type = "memory"
[blocks.a]
type = "map"
inputs = ["s", "c"]
program = "."
[blocks.b]
type = "map"
inputs = ["a"]
program = "."
[blocks.c]
type = "map"
inputs = ["b"]
program = "."
[sinks.out]
type = "memory"
inputs = ["c"]
"#,
    );
    has(&errors, "cycle through `a` → `b` → `c`");
}

#[test]
fn sources_take_no_inputs_and_names_are_unique() {
    let errors = errors(
        r#"
[sources.s]
type = "memory"
inputs = ["x"]
[blocks.s]
type = "map"
inputs = ["s"]
program = "."
[sinks.out]
type = "memory"
inputs = ["s"]
"#,
    );
    has(&errors, "node `s`: a source takes no `inputs`");
    has(&errors, "duplicate name: also a node in [sources]");
}

#[test]
fn an_input_is_read_once() {
    let errors = errors(
        r#"
[sources.in]
type = "memory"
[blocks.twice]
type = "map"
inputs = ["in", "in"]
program = "."
[sinks.out]
type = "memory"
inputs = [
  "twice",
  { from = "twice.out", capacity = 2 },
  "twice.errors",
]
"#,
    );
    has(&errors, "p.toml:6:17: error: node `twice`: input `in` reads port `out` of `in`, as `in` before it does: every message would arrive twice");
    has(&errors, "p.toml:12:3: error: node `out`: input `twice.out` reads port `out` of `twice`, as `twice` before it does");
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn a_kafka_topic_pattern_that_cannot_compile_is_located_at_topics() {
    let errors = errors(
        r#"
[sources.k]
type = "kafka"
brokers = "127.0.0.1:9092"
topics = ["chat", "^rooms\\..*", "^foo("]
group_id = "g"
[sinks.out]
type = "memory"
inputs = ["k"]
"#,
    );
    has(
        &errors,
        "p.toml:5:10: error: node `k`: `topics`: `^foo(` starts with `^`, so it is a regular expression, and it does not compile: unclosed group",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

#[test]
fn edges_and_batches_too_big_to_allocate_are_errors() {
    // 2^61 batches passes tokio's semaphore limit: the channel would panic when created.
    let found = errors(
        r#"
[pipeline]
capacity = 2305843009213693952
[sources.s]
type = "memory"
[sinks.out]
type = "memory"
inputs = ["s", { from = "s.errors", capacity = 100000 }]
"#,
    );
    has(&found, "p.toml:3:12: error: [pipeline] `capacity` = 2305843009213693952 batches of `batch_size` = 128 messages would let an edge hold");
    has(&found, "p.toml:8:16: error: node `out`: input `s.errors`: `capacity` = 100000 batches of `batch_size` = 128 messages");
    has(&found, "would let an edge hold more than the 1048576 messages it may: lower `capacity` to 8192 or less");
    assert_eq!(found.len(), 2, "{found:#?}");
    let too_big = errors("[pipeline]\nbatch_size = 10000000\n[sources.s]\ntype = \"memory\"\n[sinks.out]\ntype = \"memory\"\ninputs = [\"s\"]\n");
    assert_eq!(too_big, vec!["p.toml:2:14: error: [pipeline] `batch_size` = 10000000 is more than the 65536 messages a batch may hold"]);

    let settings = PipelineSettings { capacity: NonZeroUsize::MAX, ..PipelineSettings::default() };
    let built = PipelineBuilder::new()
        .with_settings(settings)
        .source("s", MemorySourceConfig::default())
        .sink("out", ["s"], MemorySinkConfig::default())
        .build();
    let from_code: Vec<String> = built.expect_err("too big").diagnostics.iter().map(ToString::to_string).collect();
    has(&from_code, "error: settings: `capacity` = 18446744073709551615 batches");
}

#[test]
fn a_type_in_the_wrong_section_says_where_it_belongs() {
    let errors = errors("[sinks.g]\ntype = \"generator\"\ninputs = []\n");
    has(&errors, "`generator` belongs in [sources], not [sinks]");
}

#[test]
fn exclusive_resources_are_claimed_once() {
    let errors = errors(
        r#"
[sources.s]
type = "memory"
[sinks.a]
type = "file"
inputs = ["s"]
path = "/tmp/same.ndjson"
[sinks.b]
type = "file"
inputs = ["s"]
path = "/tmp/same.ndjson"
"#,
    );
    has(&errors, "file `/tmp/same.ndjson` is already used by node `a`");
    // Two spellings of one path are one file.
    let spelled_twice = self::errors(
        r#"
[sources.s]
type = "memory"
[sinks.a]
type = "file"
inputs = ["s"]
path = "out.ndjson"
[sinks.b]
type = "file"
inputs = ["s"]
path = "./logs/../out.ndjson"
"#,
    );
    has(&spelled_twice, "file `out.ndjson` is already used by node `a`");
}

#[test]
fn an_unread_output_is_a_warning_not_an_error() {
    let pipeline = Pipeline::parse(
        "[sources.s]\ntype = \"memory\"\n[sources.t]\ntype = \"memory\"\n[sinks.out]\ntype = \"memory\"\ninputs = [\"s\"]\n",
        Some("p.toml".into()),
        &runnel::registry(),
        |_| None,
    )
    .expect("valid");
    let warnings: Vec<String> = pipeline.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings, vec!["p.toml:3:10: warning: node `t`: nothing reads this node's output"]);
}

#[test]
fn environment_variables_fill_values_and_unset_ones_are_located() {
    let ok = Pipeline::parse(
        "[sources.s]\ntype = \"generator\"\nrate = ${RATE}\ncount = ${COUNT:-3}\n[sinks.out]\ntype = \"memory\"\ninputs = [\"s\"]\n",
        None,
        &runnel::registry(),
        |name| (name == "RATE").then(|| "5".into()),
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    let errors = errors("[sources.s]\ntype = \"generator\"\ncount = ${MISSING}\n");
    has(&errors, "p.toml:3:9: error: environment variable `MISSING` is not set");
}

#[test]
fn nested_defaults_expand_and_malformed_references_are_located() {
    let ok = Pipeline::parse(
        "[sources.s]\ntype = \"generator\"\ncount = ${COUNT:-${RATE:-1}}\nseed = ${SEED-7}\n[sinks.out]\ntype = \"memory\"\ninputs = [\"s\"]\n",
        None,
        &runnel::registry(),
        |name| (name == "RATE").then(|| "5".into()),
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    let errors = errors(
        r#"
[sources.s]
type = "websocket_server"
address = "${ ADDR }"
history = "${HISTORY-x"
path = "${PATH:?unset}"
static_dir = "${}"
"#,
    );
    has(&errors, "p.toml:4:12: error: `${ ADDR }`: ` ADDR ` is not a variable name");
    has(&errors, "p.toml:5:12: error: `${` is not closed on its line");
    has(&errors, "p.toml:6:9: error: `${PATH:?...}` is not supported");
    has(&errors, "p.toml:7:15: error: `${}` names no variable");
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn a_toml_syntax_error_is_located() {
    let errors = errors("[sources.s]\ntype = \"memory\"\ncount = \n");
    has(&errors, "p.toml:3:");
}

#[test]
fn a_toml_error_without_a_position_says_it_is_about_toml() {
    // The toml crate stops at keys of 80 parts or more, without saying where.
    let errors = errors(&format!("[sources.s]\ntype = \"memory\"\n{}b = 1\n", "a.".repeat(100)));
    assert_eq!(errors, ["error: the file is not valid TOML: recursion limit"]);
}

#[test]
fn bad_edge_options_and_policies_are_errors() {
    let errors = errors(
        r#"
[sources.s]
type = "memory"
[sinks.out]
type = "memory"
inputs = [{ from = "s", capacity = 0 }]
on_error = "explode"
"#,
    );
    has(&errors, "`inputs`:");
    has(&errors, "`on_error`: unknown variant `explode`");
}

#[test]
fn a_reference_to_a_missing_or_wrong_node_is_located_at_its_field() {
    let toml = r#"
[sources.ws]
type = "websocket_server"
address = "127.0.0.1:0"

[sources.gen]
type = "generator"
count = 1

[sinks.nowhere]
type = "websocket_server"
inputs = ["ws"]
server = "wss"
channel = "room/{room}"

[sinks.wrong]
type = "websocket_server"
inputs = ["gen"]
server = "gen"
channel = "room/{room}"
"#;
    let errors = errors(toml);
    has(&errors, "p.toml:13:10: error: node `nowhere`: `server = \"wss\"`: no node has that name");
    has(&errors, "p.toml:19:10: error: node `wrong`: `server = \"gen\"`: node `gen` is a source `generator`, not a `websocket_server`");
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn a_reference_to_an_existing_server_validates() {
    let toml = r#"
[sources.ws]
type = "websocket_server"
address = "127.0.0.1:0"

[sinks.back]
type = "websocket_server"
inputs = ["ws"]
server = "ws"
channel = "room/{room}"
"#;
    Pipeline::parse(toml, None, &runnel::registry(), |_| None).unwrap_or_else(|e| panic!("{e}"));
}
