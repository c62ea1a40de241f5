//! The fast path against jaq: a table of programs and inputs chosen for jaq's corner cases, and
//! generated programs on generated inputs. Outputs are compared as JSON text, so `1` and `1.0`
//! differ, and errors by their messages.

use serde_json::{Value, json};

use super::{FastProgram, Stop};
use crate::jq::{JqError, JqProgram};

/// What a run gave: its output as JSON text (at most one), or its error message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Output(Option<String>),
    Error(String),
}

fn jaq(program: &str, input: &Value) -> Outcome {
    let program = JqProgram::new(program).unwrap().without_fast_path();
    match program.run(input) {
        Ok(values) => {
            assert!(values.len() <= 1, "a fast-path program with {} outputs: {values:?}", values.len());
            Outcome::Output(values.first().map(Value::to_string))
        }
        Err(JqError::Runtime { message }) => Outcome::Error(message),
        Err(other) => panic!("{other}"),
    }
}

/// The fast path's outcome, or `None` when it falls back to jaq for this input.
fn fast(program: &FastProgram, input: &Value) -> Option<Outcome> {
    match program.run(input) {
        Ok(value) => Some(Outcome::Output(value.map(|value| value.to_string()))),
        Err(Stop::Error(message)) => Some(Outcome::Error(message)),
        Err(Stop::Fallback) => None,
    }
}

/// [`fast`] through [`FastProgram::run_in_place`], checking that a value without output is left
/// as it was.
fn fast_in_place(program: &FastProgram, input: &Value) -> Option<Outcome> {
    let mut value = input.clone();
    let outcome = match program.run_in_place(&mut value) {
        Ok(true) => return Some(Outcome::Output(Some(value.to_string()))),
        Ok(false) => Some(Outcome::Output(None)),
        Err(Stop::Error(message)) => Some(Outcome::Error(message)),
        Err(Stop::Fallback) => None,
    };
    assert_eq!(&value, input, "changed without an output");
    outcome
}

fn translated(source: &str) -> FastProgram {
    JqProgram::new(source).unwrap_or_else(|e| panic!("{e}"));
    FastProgram::translate(source).unwrap_or_else(|| panic!("`{source}` is not translated"))
}

fn same_as_jaq(cases: &[(&str, Value)]) {
    let mut differences = Vec::new();
    for (source, input) in cases {
        let expected = jaq(source, input);
        let program = translated(source);
        assert_eq!(fast_in_place(&program, input), fast(&program, input), "`{source}` on {input} in place");
        match fast(&program, input) {
            Some(outcome) if outcome == expected => {}
            Some(outcome) => differences.push(format!("`{source}` on {input}: fast {outcome:?}, jaq {expected:?}")),
            None => differences.push(format!("`{source}` on {input}: fell back")),
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn paths_read_as_in_jaq() {
    same_as_jaq(&[
        (".", json!({"a": 1})),
        (".a", json!({"a": 1})),
        (".a", json!({})),
        (".a.b", json!({"a": {"b": [1]}})),
        (".a.b", json!({"a": "str"})),
        (".a.b", json!("str")),
        (".a?", json!("str")),
        (".a?.b", json!({"a": "s"})),
        (".a.b?", json!({"a": "s"})),
        (r#"."a b""#, json!({"a b": 2})),
        (r#".["a"]"#, json!({"a": 1})),
        (".[0]", json!([1, 2])),
        (".[0]", json!(null)),
        (".[-1]", json!([1, 2, 3])),
        (".[-5]", json!([1, 2, 3])),
        (".[9]", json!([1])),
        (".[0]", json!({"a": 1})),
        (".[0]", json!("abc")),
        (r#".["a"]"#, json!([1])),
        (".[1.5]", json!([1, 2])),
        (".[0]?", json!(true)),
        (".a[.i]", json!({"a": [5, 6], "i": 1})),
        (".a[.i]", json!({"a": [5, 6]})),
        (".a[.i?]", json!({"a": [5, 6], "i": 1})),
        (".a.b.c", json!({"a": null})),
        ("(.a).b", json!({"a": {"b": 2}})),
        (".a | .b", json!({"a": {"b": 1}})),
        ("{a: .x} | .a", json!({"x": [1]})),
    ]);
}

#[test]
fn literals_and_comparisons_as_in_jaq() {
    same_as_jaq(&[
        ("null", json!(1)),
        ("true", json!(1)),
        ("1.5", json!(null)),
        ("-1", json!(null)),
        ("100.0", json!(null)),
        ("-0.0", json!(null)),
        (r#""a\tb\u00e9""#, json!(null)),
        (r#""""#, json!(null)),
        (r#".kind == "chat""#, json!({"kind": "chat"})),
        (r#".kind == "chat""#, json!({"kind": "join"})),
        (r#".kind == "chat""#, json!("chat")),
        (". == 1", json!(1.0)),
        ("1 < 1.5", json!(null)),
        (r#". < "a""#, json!([])),
        ("{} < []", json!(null)),
        ("[] < {}", json!(null)),
        (r#"{"a":1} < {"b":0}"#, json!(null)),
        (r#"{"a":2} < {"a":1,"b":0}"#, json!(null)),
        ("[1,2] < [1,2,0]", json!(null)),
        ("null < false", json!(null)),
        ("true < 0", json!(null)),
        (r#". == {"a":1}"#, json!({"a": 1.0})),
        (".a != .b", json!({"a": [1, {"x": null}], "b": [1, {"x": null}]})),
        (r#". >= "b""#, json!("ab")),
        (". <= -0.0", json!(0)),
        (". > 1", json!(18446744073709551615_u64)),
    ]);
}

#[test]
fn logic_select_and_if_as_in_jaq() {
    same_as_jaq(&[
        (".a and .b", json!({"a": 1, "b": null})),
        (".a or .b", json!({"a": null, "b": 0})),
        (".a and .b.c", json!({"a": false, "b": "s"})),
        (".a or .b.c", json!({"a": false, "b": "s"})),
        ("true and empty", json!(null)),
        ("not", json!([])),
        ("not", json!(null)),
        (".a | not", json!({"a": false})),
        ("select(.a)", json!({"a": 0})),
        ("select(.a)", json!({"a": false})),
        ("select(.a?)", json!("s")),
        ("select(.a.b)", json!({"a": 1})),
        ("if .a then 1 end", json!({"a": false})),
        ("if .a then 1 elif .b then 2 else 3 end", json!({"b": 1})),
        ("if .a.b then 1 else 2 end", json!({"a": 1})),
    ]);
}

#[test]
fn arithmetic_and_length_as_in_jaq() {
    same_as_jaq(&[
        (".a + .b", json!({"a": 1, "b": 2})),
        (".a + .b", json!({"a": 1, "b": 2.5})),
        (".a + .b", json!({"a": "x", "b": "y"})),
        (".a + .b", json!({"a": [1], "b": [2]})),
        (".a + .b", json!({"a": {"x": 1}, "b": {"x": 2, "y": 3}})),
        (".a + null", json!({"a": 5})),
        ("null + null", json!(null)),
        (r#"1 + "a""#, json!(null)),
        (r#""a" + 1.5"#, json!(null)),
        (r#"[1,"x",{"k":null}] + 1"#, json!(null)),
        (r#""a\u007fb\n" + 1"#, json!(null)),
        ("4 / 2", json!(null)),
        ("10 / 4", json!(null)),
        ("1.5 * 2", json!(null)),
        ("7 % 2", json!(null)),
        (". % 2", json!(-7)),
        (". % -2", json!(7.5)),
        ("5 % 0", json!(null)),
        (". - [1]", json!([1, 1.0, 2])),
        ("{} - 1", json!(null)),
        (". - 1", json!(null)),
        (". * 2", json!("ab")),
        (". * 0", json!("ab")),
        (". * 1.5", json!("ab")),
        (r#"{"a":{"b":1}} * {"a":{"c":2}}"#, json!(null)),
        ("-.", json!(true)),
        ("-.a", json!({"a": 3})),
        ("- 1.5", json!(null)),
        ("length", json!(null)),
        ("length", json!(true)),
        ("length", json!(-3.5)),
        ("length", json!(-3)),
        ("length", json!("héllo")),
        ("length", json!([1, 2])),
        ("length", json!({"a": 1})),
        (".text | length", json!({"text": "日本語"})),
        ("(.a?) + (.b.c)", json!("s")),
        ("(.b.c) + (.a?)", json!("s")),
        ("(.b.c) + (.d.e)", json!({"b": 1, "d": 2})),
    ]);
}

/// Builtins the prelude redefines or routes through natives since the fast path was written
/// (`length` on numbers, `==` and `!=` between two computed values, `*` of two objects): both
/// paths still agree.
#[test]
fn redefined_builtins_as_on_jaq() {
    same_as_jaq(&[
        ("length", json!(-0.0)),
        ("length", json!(1e308)),
        ("-. | length", json!(-1.5)),
        (".a == .b", json!({"a": [1, {"x": null}], "b": [1, {"x": null}]})),
        (".a == .b", json!({"a": 1, "b": 1.0})),
        (".a != .b", json!({"a": {"k": [2]}, "b": {"k": [3]}})),
        (".a != .b", json!({"a": "x"})),
        ("[.a == .b, .b != .a]", json!({"a": null, "b": false})),
        ("{n: (.a == .a)}", json!({"a": [[[]]]})),
        (".a * .b", json!({"a": {"x": {"y": 1}}, "b": {"x": {"z": 2}}})),
        (".a * .b", json!({"a": {"x": 1}, "b": 2})),
    ]);
}

#[test]
fn construction_as_in_jaq() {
    same_as_jaq(&[
        ("[.a, .b]", json!({"a": 1})),
        ("[.a?, .b]", json!("x")),
        ("[.a?, 1]", json!("x")),
        ("[]", json!(1)),
        ("[.]", json!(1)),
        ("{a: 1, b: 2, a: 3}", json!(null)),
        ("{a}", json!({"a": 5})),
        (r#"{"a b": 1}"#, json!(null)),
        ("{(.k): .v}", json!({"k": "x", "v": 1})),
        ("{a: .x?, b: 1}", json!("s")),
        ("{a: .q.r, b: .x?}", json!("s")),
        ("{a: .q.r, b: .x.y}", json!({"q": 1, "x": 2})),
        ("{}", json!(1)),
    ]);
}

#[test]
fn assignments_as_in_jaq() {
    same_as_jaq(&[
        (".len = (.text | length)", json!({"text": "héllo", "kind": "chat"})),
        (".len = (.text | length)", json!({"kind": "join"})),
        (".len = (.text | length)", json!({"text": true})),
        (".a = 1", json!(null)),
        (".a = 1", json!([])),
        (".a.b = 1", json!({"a": "s"})),
        (".a.b = 1", json!({"a": null})),
        (".a.b = 1", json!({"a": {"c": 0}})),
        (".[2] = 1", json!([])),
        (".[-1] = 9", json!([1, 2])),
        (".[-3] = 1", json!([1, 2])),
        (".[0].a = 1", json!([{}])),
        (".[5]? = 5", json!([1, 2])),
        (r#".["a"]? = 5"#, json!([1, 2])),
        (".[null] = 5", json!([1, 2])),
        (".a? = 1", json!("s")),
        (".a.b? = 1", json!({})),
        (".a |= . + 1", json!({"a": 1})),
        (".a.b |= . + 1", json!({"a": {"b": 1}})),
        (".a |= empty", json!({"a": 1, "b": 2})),
        (".[0] |= select(. > 1)", json!([1, 2])),
        (".a |= length", json!({"a": "xyz"})),
        (".x += 1", json!({})),
        (".x += 1", json!({"x": "s"})),
        (".x -= 1", json!({"x": 5})),
        (".a *= 2", json!({"a": "ab"})),
        (". = 1", json!(null)),
        (". |= . + 1", json!(1)),
        (".a = empty", json!({})),
        (".a = .b", json!({"b": [1]})),
        (".[.k] = 1", json!({"k": "z"})),
        (".[.k?] = 1", json!("s")),
        (".[.k.j] = 1", json!({"k": "s"})),
        (".a = 1 | .b = 2", json!({})),
    ]);
}

/// jq reads a fractional position rounded down (a slice's end rounded up); both paths do.
#[test]
fn fractional_positions_round_as_in_jq() {
    let cases = [
        (".[1.5]", json!([10, 11, 12]), json!(11)),
        (".[.k]", json!({"k": 0.9}), json!(null)),
        (".a[.i]", json!({"a": ["x", "y"], "i": -0.5}), json!("y")),
        (".[1.2] = 5", json!([0, 1, 2]), json!([0, 5, 2])),
        (".[2.7] |= . + 1", json!([0, 1, 2]), json!([0, 1, 3])),
    ];
    for (source, input, expected) in &cases {
        assert_eq!(JqProgram::new(*source).unwrap().run(input).unwrap(), std::slice::from_ref(expected), "`{source}` on {input}");
    }
    same_as_jaq(&cases.map(|(source, input, _)| (source, input)));
    let on_jaq = JqProgram::new("[.[1.2:3.5], .[nan], .[:nan]]").unwrap();
    assert_eq!(on_jaq.run(&json!([0, 1, 2, 3, 4])).unwrap(), [json!([[1, 2, 3], null, [0, 1, 2, 3, 4]])]);
}

/// `%` on truncated integers and string repetition by jq's counts: both paths agree, and give
/// jq's answers.
#[test]
fn remainders_and_repetitions_as_in_jq() {
    let cases = [
        (".a % .b", json!({"a": 7.9, "b": 2}), json!(1)),
        (".a % .b", json!({"a": -7, "b": 2.5}), json!(-1)),
        (".s * .n", json!({"s": "ab", "n": 0}), json!("")),
        (".s * .n", json!({"s": "ab", "n": 2.7}), json!("abab")),
        (".n * .s", json!({"s": "ab", "n": -0.5}), json!(null)),
        (".x %= 3", json!({"x": 10.5}), json!({"x": 1})),
    ];
    for (source, input, expected) in &cases {
        assert_eq!(JqProgram::new(*source).unwrap().run(input).unwrap(), std::slice::from_ref(expected), "`{source}` on {input}");
    }
    same_as_jaq(&cases.map(|(source, input, _)| (source, input)));
    let zero = (".a % .b", json!({"a": 1, "b": 0.5}));
    assert_eq!(jaq(zero.0, &zero.1), Outcome::Error("number (1) and number (0.5) cannot be divided (remainder) because the divisor is zero".into()));
    same_as_jaq(&[zero]);
}

/// jq grows `null` into the container a path needs and an array to hold a position past its
/// end; both paths do, and agree on the errors for positions jq refuses.
#[test]
fn assignments_grow_values_as_jq_does() {
    let cases = [
        (".a.b = 1", json!(null), json!({"a": {"b": 1}})),
        (".tags[2] = \"x\"", json!({"id": 7}), json!({"id": 7, "tags": [null, null, "x"]})),
        (".[1].n += 2", json!([]), json!([null, {"n": 2}])),
        (".a[0] |= 5", json!({"a": null}), json!({"a": [5]})),
        (".m.k |= empty", json!(null), json!({"m": {}})),
        (".[0].a.b = true", json!(null), json!([{"a": {"b": true}}])),
    ];
    for (source, input, expected) in &cases {
        assert_eq!(JqProgram::new(*source).unwrap().run(input).unwrap(), std::slice::from_ref(expected), "`{source}` on {input}");
    }
    same_as_jaq(&cases.map(|(source, input, _)| (source, input)));
    let refused = [(".a[-2] = 1", json!(null), "Out of bounds negative array index"), (".[600000000] = 1", json!([]), "Array index too large")];
    for (source, input, message) in &refused {
        assert_eq!(jaq(source, input), Outcome::Error((*message).into()), "`{source}` on {input}");
    }
    same_as_jaq(&refused.map(|(source, input, _)| (source, input)));
}

#[test]
fn what_the_fast_path_leaves_to_jaq_gives_jaqs_answer() {
    let cases = [
        (". + 1", json!(i64::MAX)),
        (". - 1", json!(i64::MIN)),
        ("-.", json!(i64::MIN)),
        (". + 1", json!(u64::MAX)),
        ("1 / 0", json!(null)),
        ("{(.k): 1}", json!({"k": 1})),
        (".[.k] = 1", json!({"k": null})),
        (".[0] = 1", json!({"a": 1})),
        (r#". / ",""#, json!("a,b")),
        (". * 100000", json!("ab")),
        (".t[.s]", json!({"t": "abcd", "s": {"start": 1}})),
    ];
    for (source, input) in cases {
        assert_eq!(fast(&translated(source), &input), None, "`{source}` on {input} should fall back");
        let program = JqProgram::new(source).unwrap();
        let slow = program.clone().without_fast_path();
        assert_eq!(program.run(&input), slow.run(&input), "`{source}` on {input}");
    }
}

#[test]
fn programs_outside_the_subset_are_not_translated() {
    let outside = [
        ".[]",
        ".a, .b",
        ".a // 1",
        "try .a",
        "(.a)?",
        "reduce .[] as $x (0; . + $x)",
        ". as $x | $x",
        r#""\(.a)""#,
        "@base64",
        "def f: 1; f",
        ".[1:]",
        "map(.)",
        "1e3",
        "1.50",
        "100000000000000000000",
        r#"error("x")"#,
        "first",
        "1 as $x | {$x}",
        "tostring",
        "..",
        "label $f | 1",
        ".a //= 1",
        ".a[]",
        r#"@base64 "x""#,
        "(.a | .b) = 1",
    ];
    for source in outside {
        JqProgram::new(source).unwrap_or_else(|e| panic!("{e}"));
        assert!(FastProgram::translate(source).is_none(), "`{source}` was translated");
    }
}

#[test]
fn programs_nested_deeper_than_the_limit_run_on_jaq() {
    let arrays = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    assert!(FastProgram::translate(&arrays(63)).is_some());
    assert!(FastProgram::translate(&arrays(64)).is_none());
    assert!(FastProgram::translate(&format!("{} = 1", ".a".repeat(64))).is_none(), "an assignment counts its path");
    // jaq refuses outputs nested deeper than 256 levels.
    let deep = JqProgram::new(arrays(300)).unwrap().run(&json!(null));
    assert_eq!(deep, Err(JqError::TooDeep { limit: 256 }));
}

#[test]
fn run_in_place_leaves_the_output_in_the_value() {
    let program = JqProgram::new(".len = (.text | length)").unwrap();
    assert!(program.single_output());
    let mut value = json!({"text": "héllo"});
    assert_eq!(program.run_in_place(&mut value), Ok(true));
    assert_eq!(value, json!({"text": "héllo", "len": 5}));
    let mut value = json!({"text": true});
    assert_eq!(program.run_in_place(&mut value).unwrap_err().to_string(), "jq error: true has no length");
    assert_eq!(value, json!({"text": true}));

    let select = JqProgram::new("select(.n > 1)").unwrap();
    let mut value = json!({"n": 1});
    assert_eq!(select.run_in_place(&mut value), Ok(false));
    assert_eq!(value, json!({"n": 1}));

    // Without a fast path: jaq's single output, or an error for several.
    let split = JqProgram::new(".items[]").unwrap();
    assert!(!split.single_output());
    let mut value = json!({"items": [1]});
    assert_eq!(split.run_in_place(&mut value), Ok(true));
    assert_eq!(value, json!(1));
    let mut value = json!({"items": [1, 2]});
    assert_eq!(split.run_in_place(&mut value), Err(JqError::TooManyOutputs { limit: 1 }));
    assert_eq!(value, json!({"items": [1, 2]}));
}

#[test]
fn length_of_the_smallest_integer_is_right_where_jaq_overflows() {
    // jaq computes `i64::MIN.abs()`: a panic in debug builds, `i64::MIN` in release builds.
    assert_eq!(fast(&translated("length"), &json!(i64::MIN)), Some(Outcome::Output(Some("9223372036854775808".into()))));
}

#[test]
fn job_programs_use_the_fast_path_through_jq_program() {
    let input = json!({"id": 7, "kind": "chat", "room": "room-3", "user": "user-9", "text": "see you at noon", "ts": 1});
    for source in [r#".kind == "chat""#, ".len = (.text | length)", ".room", ".ts"] {
        let program = JqProgram::new(source).unwrap();
        assert!(program.has_fast_path(), "{source}");
        let slow = program.clone().without_fast_path();
        assert!(!slow.has_fast_path());
        assert_eq!(program.run(&input), slow.run(&input), "{source}");
        assert_eq!(program.run_bool(&input), slow.run_bool(&input), "{source}");
        assert_eq!(program.run_first(&input), slow.run_first(&input), "{source}");
    }
    let error = JqProgram::new(".a.b").unwrap().run_bool(&json!({"a": "x"})).unwrap_err();
    assert_eq!(error.to_string(), r#"jq error: cannot index "x" with "b""#);
}

/// Generated programs on generated inputs. Error messages that show an object may list its
/// keys in another order than jaq (see the module docs of `fast`), so those are compared as
/// errors only.
#[test]
fn generated_programs_agree_with_jaq() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let inputs: Vec<Value> = (0..24).map(|_| rng.value(3)).collect();
    let mut compared = 0;
    for _ in 0..250 {
        let source = rng.expr(3);
        let Some(program) = FastProgram::translate(&source) else { panic!("`{source}` is not translated") };
        let slow = JqProgram::new(source.as_str()).unwrap_or_else(|e| panic!("{e}")).without_fast_path();
        for input in &inputs {
            assert_eq!(fast_in_place(&program, input), fast(&program, input), "`{source}` on {input} in place");
            let Some(outcome) = fast(&program, input) else { continue };
            let expected = match slow.run(input) {
                Ok(values) => Outcome::Output(values.first().map(Value::to_string)),
                Err(error) => Outcome::Error(error.to_string().trim_start_matches("jq error: ").to_owned()),
            };
            match (&outcome, &expected) {
                (Outcome::Error(a), Outcome::Error(b)) if a.contains('{') || b.contains('{') => {}
                _ => assert_eq!(outcome, expected, "`{source}` on {input}"),
            }
            compared += 1;
        }
    }
    assert!(compared > 4000, "only {compared} comparisons did not fall back");
}

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[(self.next() % choices.len() as u64) as usize]
    }

    fn value(&mut self, depth: u32) -> Value {
        let kinds = if depth == 0 { 6 } else { 9 };
        match self.next() % kinds {
            0 => Value::Null,
            1 => Value::Bool(self.next().is_multiple_of(2)),
            2 => json!((self.next() % 7) as i64 - 3),
            3 => json!(((self.next() % 9) as f64 - 4.0) / 2.0),
            4 => json!(self.pick(&["", "a", "b", "é", "ab"])),
            5 => json!(self.pick(&["a", "b", "k"])),
            6 | 7 => Value::Array((0..self.next() % 4).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let mut fields = serde_json::Map::new();
                for key in ["a", "b", "k"] {
                    if self.next().is_multiple_of(2) {
                        fields.insert(key.to_owned(), self.value(depth - 1));
                    }
                }
                Value::Object(fields)
            }
        }
    }

    fn expr(&mut self, depth: u32) -> String {
        const LEAVES: &[&str] = &[
            ".",
            ".a",
            ".b",
            ".k",
            ".a.b",
            ".[0]",
            ".[-1]",
            ".a?",
            ".[1]?",
            r#".["b"]"#,
            ".[.k]",
            ".a[.k]?",
            "null",
            "true",
            "false",
            "0",
            "1",
            "-2",
            "1.5",
            r#""a""#,
            r#""""#,
            "[]",
            "{}",
            "length",
            "not",
            "empty",
        ];
        if depth == 0 || self.next().is_multiple_of(4) {
            return self.pick(LEAVES).to_owned();
        }
        let (a, b) = (self.expr(depth - 1), self.expr(depth - 1));
        let compound = match self.next() % 16 {
            0..=3 => {
                let op = self.pick(&["==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "and", "or"]);
                format!("({a}) {op} ({b})")
            }
            4 => format!("-({a})"),
            5 => format!("({a}) | ({b})"),
            6 => format!("select({a})"),
            7 => format!("if {a} then {b} else {} end", self.expr(depth - 1)),
            8 => format!("[{a}, {b}]"),
            9 => format!("{{a: ({a}), \"b\": ({b}), (\"k\"): 1}}"),
            10 => format!("{}  = ({a})", self.pick(&[".a", ".[0]", ".a.b", ".a?", ".[-1]?", "."])),
            11 => format!("{} |= ({a})", self.pick(&[".a", ".[0]", ".b.a", ".[1]?"])),
            12 => format!("{} {} ({a})", self.pick(&[".a", ".[0]"]), self.pick(&["+=", "-=", "*=", "%="])),
            13 => format!("({a}).a"),
            14 => format!("({a})[{}]", self.pick(&["0", "-1", r#""k""#])),
            _ => format!("({a}) | length"),
        };
        format!("({compound})")
    }
}

#[test]
fn constant_paths_are_read_by_reference() {
    for source in [".a", ".a.b", r#"."a b""#, ".[0]", ".[-1]?", r#".["k"].a?"#] {
        assert!(matches!(translated(source).expr, super::Expr::Get(_)), "{source}");
    }
    for source in [".[.k]", "(.a).b", "{a: 1}.a"] {
        assert!(matches!(translated(source).expr, super::Expr::Path(..)), "{source}");
    }
}

#[test]
fn error_messages_show_built_objects_with_their_keys_in_order() {
    let (source, input) = ("{b: 1, a: 2} + 1", json!(null));
    assert_eq!(jaq(source, &input), Outcome::Error(r#"cannot calculate {"b":1,"a":2} + 1"#.into()));
    assert_eq!(fast(&translated(source), &input), Some(Outcome::Error(r#"cannot calculate {"b":1,"a":2} + 1"#.into())));
}
