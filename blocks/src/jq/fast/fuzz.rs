//! Fuzz target: the jq fast path (see the `runnel-fuzz` crate). Programs generated in the fast
//! path's subset, on generated inputs, give what jaq gives through every way of running them;
//! any program text, seeds of `fuzz/corpus/jq/` and their mutations included, compiles or fails
//! with located problems, and runs without a panic.

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use super::{FastProgram, Stop};
use crate::jq::{JqError, JqProgram, Limits};

/// Cases per property: each program runs on several inputs, two ways.
const CASES: u32 = 300;

/// Tight limits for programs of any text, which may loop or grow forever.
const TIGHT: Limits = Limits { time: Duration::from_millis(50), memory: 16 * 1024 * 1024 };

/// What every way of running a program gave on one input: `run`, `run_first`, `run_bool` and
/// `run_in_place` (with the value it left).
#[derive(Debug)]
struct Runs {
    run: Result<Vec<Value>, JqError>,
    first: Result<Option<Value>, JqError>,
    truthy: Result<bool, JqError>,
    in_place: (Result<bool, JqError>, Value),
}

fn runs(program: &JqProgram, input: &Value) -> Runs {
    let mut value = input.clone();
    let in_place = program.run_in_place(&mut value);
    Runs { run: program.run(input), first: program.run_first(input), truthy: program.run_bool(input), in_place: (in_place, value) }
}

/// Whether two results are the same: outputs as JSON text (so `1` and `1.0` differ, and an
/// object's keys must come in the same order), errors by message.
fn same<T: std::fmt::Debug>(fast: &Result<T, JqError>, slow: &Result<T, JqError>) -> bool {
    match (fast, slow) {
        (Ok(a), Ok(b)) => format!("{a:?}") == format!("{b:?}"),
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

/// Runs `program` with and without its fast path on `input` and says how they differ, if they do.
fn difference(program: &JqProgram, input: &Value) -> Option<String> {
    if reaches_a_known_bug(program.source(), input) {
        return None;
    }
    let slow = program.clone().without_fast_path();
    let (fast, slow) = (runs(program, input), runs(&slow, input));
    let over_budget = |r: &Result<Vec<Value>, JqError>| matches!(r, Err(JqError::OverBudget(_)));
    if over_budget(&fast.run) || over_budget(&slow.run) {
        // How far a budget lets a program go depends on the machine's load.
        return None;
    }
    let agree = same(&fast.run, &slow.run)
        && same(&fast.first, &slow.first)
        && same(&fast.truthy, &slow.truthy)
        && same(&fast.in_place.0, &slow.in_place.0)
        && format!("{:?}", fast.in_place.1) == format!("{:?}", slow.in_place.1);
    (!agree).then(|| format!("`{}` on {input}:\nfast {fast:?}\njaq  {slow:?}", program.source()))
}

/// Whether running `source` on `input` might reach a known bug (see the `runnel-fuzz` crate
/// docs), skipped until it is fixed: TODO(jaq length overflow): `length` in a program that
/// writes 2^63 - 1, which may take the length of -2^63, where the fast path is right and jaq
/// panics in a debug build.
fn reaches_a_known_bug(source: &str, _input: &Value) -> bool {
    source.contains("length") && source.contains("9223372036854775807")
}

/// JSON values of the kinds and corners jq distinguishes. Not -2^63, whose `length` panics in
/// jaq's debug builds (see `length_of_the_smallest_integer_is_right_where_jaq_overflows`).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3_i64..=3).prop_map(Value::from),
        (-8_i32..=8).prop_map(|n| json!(f64::from(n) / 2.0)),
        prop::sample::select(vec![
            json!(i64::MAX),
            json!(i64::MIN + 1),
            json!(u64::MAX),
            json!(9_007_199_254_740_993_u64),
            json!(1e300),
            json!(-1e300),
            json!(-0.0),
            json!(0.1),
            json!(5e-324),
            json!(100.0),
        ]),
        prop::sample::select(&["", "a", "b", "k", "é", "ab", "日本", "\u{0}", "\u{feff}", "a\"b"][..]).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(&["a", "b", "k", "", "a b"][..]), inner, 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Paths that may stand left of `=`, `|=` and `+=`: `.` or a path starting at `.`.
const TARGETS: &[&str] = &[".", ".a", ".b", ".[0]", ".[-1]", ".a.b", ".a?", ".[1]?", ".[-1]?", ".b.a", r#".["k"]"#, ".[.k]", ".a[0]", ".[0].a"];

/// Programs in the fast path's subset (see the module docs of `fast`).
fn program() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(
        &[
            ".",
            ".a",
            ".b",
            ".k",
            ".a.b",
            ".[0]",
            ".[-1]",
            ".[5]",
            ".a?",
            ".[1]?",
            r#".["b"]"#,
            r#"."a b""#,
            ".[.k]",
            ".a[.k]?",
            ".[1.5]",
            "null",
            "true",
            "false",
            "0",
            "1",
            "-2",
            "1.5",
            "100.0",
            "-0.0",
            "0.5",
            "9223372036854775807",
            r#""a""#,
            r#""""#,
            r#""é\t""#,
            "[]",
            "{}",
            "length",
            "not",
            "empty",
        ][..],
    )
    .prop_map(str::to_owned);
    leaf.prop_recursive(4, 32, 3, |inner| {
        let op = prop::sample::select(&["==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "and", "or"][..]);
        let update = prop::sample::select(&["+=", "-=", "*=", "/=", "%="][..]);
        let index = prop::sample::select(&["0", "-1", "2", r#""k""#, r#""a""#, ".k", "null", "1.5"][..]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) | ({b})")),
            inner.clone().prop_map(|a| format!("select({a})")),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, t, e)| format!("if {c} then {t} else {e} end")),
            (inner.clone(), inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, t, d, e)| format!("if {c} then {t} elif {d} then {e} end")),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(a, b, k)| format!("{{a: ({a}), \"b\": ({b}), (({k})): 1, k}}")),
            (prop::sample::select(TARGETS), inner.clone()).prop_map(|(p, a)| format!("{p} = ({a})")),
            (prop::sample::select(TARGETS), inner.clone()).prop_map(|(p, a)| format!("{p} |= ({a})")),
            (prop::sample::select(TARGETS), update, inner.clone()).prop_map(|(p, op, a)| format!("{p} {op} ({a})")),
            inner.clone().prop_map(|a| format!("({a}).a")),
            (inner.clone(), index.clone()).prop_map(|(a, i)| format!("({a})[{i}]")),
            (inner.clone(), index).prop_map(|(a, i)| format!("({a})[{i}]?")),
            inner.prop_map(|a| format!("({a}) | length")),
        ]
        .prop_map(|compound| format!("({compound})"))
    })
}

/// Inputs that each program of any text runs on (a program that loops costs [`TIGHT`] on each).
fn fixed_inputs() -> Vec<Value> {
    vec![
        json!({"a": 1, "b": [1, 2.5, "x"], "k": "a", "kind": "chat", "text": "héllo", "items": [{"id": 1, "cents": 250}]}),
        json!([3, -1, 0.5, null, "s", [], {}, 9_223_372_036_854_775_807_i64]),
        json!("text"),
    ]
}

proptest! {
    #![proptest_config(runnel_fuzz::config("jq", CASES))]

    /// The fast path gives jaq's outputs and errors, through every way of running a program.
    #[test]
    fn fuzz_generated_programs_agree_with_jaq(source in program(), inputs in prop::collection::vec(value(), 1..12)) {
        prop_assert!(FastProgram::translate(&source).is_some(), "`{source}` is not translated");
        let program = JqProgram::new(source.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for input in &inputs {
            if let Some(difference) = difference(&program, input) {
                return Err(TestCaseError::fail(difference));
            }
        }
    }
}

/// Any text compiles, or fails with problems inside it; what compiles runs without a panic, and
/// the same with and without its fast path. On a test thread's stack: a program nested too
/// deep is refused before anything recurses into it.
#[test]
fn fuzz_program_text_compiles_or_fails_located() {
    let mut runner = TestRunner::new(runnel_fuzz::config("jq", CASES));
    if let Err(failure) = runner.run(&any_text(), |source| check_text(&source)) {
        panic!("{failure}\n{runner}");
    }
}

/// Mutated seeds of `fuzz/corpus/jq/`, programs of all of jq, and token soup.
fn any_text() -> impl Strategy<Value = String> {
    const TOKENS: &[&[u8]] = &[
        b".",
        b"|",
        b".[]",
        b"?",
        b"//",
        b"..",
        b";",
        b"(",
        b")",
        b"$x",
        b"$__loc__",
        b"as $x",
        b"def f: ",
        b"reduce",
        b"foreach",
        b"if",
        b"then",
        b"else",
        b"end",
        b"try",
        b"catch",
        b"label $l",
        b"break $l",
        b"\"\\(",
        b"@base64",
        b"length",
        b"empty",
        b"error",
        b"limit(",
        b"=",
        b"|=",
        b"+=",
        b"//=",
        b"and",
        b"or",
        b"not",
        b"-",
        b"*",
        b"%",
        b"import",
        b"include",
        b"#",
        b"\\u",
    ];
    let seeds = runnel_fuzz::corpus("jq");
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..24).prop_map(|tokens| tokens.concat());
    let mutated = runnel_fuzz::mutated(&seeds, TOKENS).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    prop_oneof![2 => mutated, 2 => any_program(), 1 => soup.prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())]
}

/// Programs of all of jq, in and out of the fast path's subset: its built-in functions (those
/// written natively in jaq above all), generators, variables, definitions, `try`, `reduce`,
/// paths and formats. Not `now`, `debug` or `stderr`.
fn any_program() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        program(),
        prop::sample::select(
            &[
                ".[]",
                ".[]?",
                "..",
                "$__loc__",
                "keys",
                "tostring",
                "tojson",
                "fromjson",
                "add",
                "sort",
                "reverse",
                "to_entries",
                "from_entries",
                "type",
                "[paths]",
                "flatten",
                "unique",
                "min",
                "max",
                "floor",
                "round",
                "abs",
                "explode",
                "implode",
                "ascii_downcase",
                "utf8bytelength",
                "@base64",
                "@base64d",
                "@json",
                "@text",
                "@csv",
                "@tsv",
                "@html",
                "@uri",
                "@sh",
                "gmtime",
                "mktime",
                "todate",
                "fromdate",
                "todateiso8601",
                "fromdateiso8601",
                r#"strftime("%Y-%m-%dT%H:%M:%SZ")"#,
                r#"strptime("%Y-%m-%d")"#,
                r#"ltrimstr("a")"#,
                r#"rtrimstr("b")"#,
                r#"startswith("a")"#,
                r#"split(",")"#,
                r#"[splits("a")]"#,
                r#"test("a.")"#,
                r#"sub("a"; "b")"#,
                "infinite",
                "nan",
                "isnan",
                "[tostream]",
                r#"getpath(["a", 0])"#,
                "input",
                "error",
                r#"error("x")"#,
                "halt_error",
                "[limit(2; .[]?)]",
                "first(.[]?)",
                "[range(3)]",
                "[range(.)?]",
                "tojson | fromjson",
                "@base64 | @base64d",
                "[.[]?] | implode",
                "indices(1)",
                "index(\"a\")",
                "splits(\"(\")",
                "ascii",
                "@text \"\\(.)\"",
                "getpath([\"a\", \"b\", 0])",
                "[.. | numbers]",
                "env | type",
                "input_line_number",
                "significand",
                "logb",
                "gamma",
            ][..],
        )
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 24, 3, |inner| {
        let pair = (inner.clone(), inner.clone());
        prop_oneof![
            pair.clone().prop_map(|(a, b)| format!("{a}, {b}")),
            pair.clone().prop_map(|(a, b)| format!("{a} // {b}")),
            pair.clone().prop_map(|(a, b)| format!("{a} | {b}")),
            pair.clone().prop_map(|(a, b)| format!("try {a} catch {b}")),
            inner.clone().prop_map(|a| format!("({a})?")),
            pair.clone().prop_map(|(a, b)| format!("reduce ({a}) as $x ({b}; [., $x])")),
            pair.clone().prop_map(|(a, b)| format!("[foreach ({a}) as $x ({b}; [$x]; .)]")),
            pair.clone().prop_map(|(a, b)| format!("({a}) as $x | {b} | [$x, .]")),
            pair.clone().prop_map(|(a, b)| format!("({a}) as [$p, {{a: $q}}] | [$p, $q, {b}]")),
            pair.clone().prop_map(|(a, b)| format!("\"<\\({a})|\\({b})>\"")),
            pair.clone().prop_map(|(a, b)| format!("def f(g): {a} | g; f({b})")),
            inner.clone().prop_map(|a| format!("[{a}]")),
            inner.clone().prop_map(|a| format!("({a})[1:]")),
            inner.clone().prop_map(|a| format!("({a})[:-1]")),
            inner.clone().prop_map(|a| format!("map({a})")),
            inner.clone().prop_map(|a| format!("[limit(3; {a})]")),
            inner.clone().prop_map(|a| format!("[path({a})]")),
            inner.clone().prop_map(|a| format!("del({a})")),
            inner.clone().prop_map(|a| format!("with_entries({a})")),
            inner.clone().prop_map(|a| format!("label $out | {a} | ., break $out")),
            pair.clone().prop_map(|(a, b)| format!("({a}) |= {b}")),
            pair.clone().prop_map(|(a, b)| format!("({a}) += {b}")),
            pair.clone().prop_map(|(a, b)| format!("({a}) //= {b}")),
            pair.clone().prop_map(|(a, b)| format!("setpath([\"a\"]; {a}) | {b}")),
            pair.prop_map(|(a, b)| format!("if {a} then {b} end")),
            inner.prop_map(|a| format!("[recurse(if type == \"array\" then .[] else empty end)] | {a}")),
        ]
        .prop_map(|compound| format!("({compound})"))
    })
}

fn check_text(source: &str) -> Result<(), TestCaseError> {
    let program = match JqProgram::new(source) {
        Ok(program) => program.with_limits(TIGHT),
        Err(JqError::Compile { problems, .. }) => {
            prop_assert!(!problems.is_empty(), "`{source}`: a compile error without problems");
            let lines: Vec<&str> = source.split('\n').collect();
            for problem in problems {
                let position = problem.position;
                let line = lines.get(position.line.wrapping_sub(1));
                prop_assert!(
                    line.is_some_and(|line| (1..=line.chars().count() + 1).contains(&position.column)),
                    "`{source}`: {problem:?} is outside the program"
                );
            }
            return Ok(());
        }
        Err(other) => return Err(TestCaseError::fail(format!("`{source}`: {other:?} from compiling"))),
    };
    for input in fixed_inputs() {
        if reaches_a_known_bug(source, &input) {
            continue;
        }
        if program.has_fast_path() {
            if let Some(difference) = difference(&program, &input) {
                return Err(TestCaseError::fail(difference));
            }
        } else if let Ok(outputs) = program.run(&input) {
            prop_assert!(outputs.len() <= crate::jq::MAX_OUTPUTS);
        }
    }
    Ok(())
}

/// Every seed of `fuzz/corpus/jq/` as it is.
#[test]
fn fuzz_corpus_programs_compile_or_fail_located() {
    for seed in runnel_fuzz::corpus("jq") {
        if let Err(error) = check_text(&String::from_utf8_lossy(&seed.bytes)) {
            panic!("{}: {error}", seed.name);
        }
    }
}

/// The generators stay in the subset and reach its corners: programs that the fast path does
/// not translate, or that fall back to jaq on most inputs, would test nothing.
#[test]
fn fuzz_generated_programs_are_translated_and_mostly_run_fast() {
    let mut runner = TestRunner::deterministic();
    let (mut outputs, mut errors, mut fallbacks) = (0, 0, 0);
    for _ in 0..500 {
        let source = program().new_tree(&mut runner).expect("generates").current();
        let input = value().new_tree(&mut runner).expect("generates").current();
        let fast = FastProgram::translate(&source).unwrap_or_else(|| panic!("`{source}` is not translated"));
        match fast.run(&input) {
            Ok(Some(_)) => outputs += 1,
            Ok(None) | Err(Stop::Error(_)) => errors += 1,
            Err(Stop::Fallback) => fallbacks += 1,
        }
    }
    assert!(outputs > 100 && errors > 100 && fallbacks < 100, "{outputs} outputs, {errors} errors or none, {fallbacks} fallbacks");
}
