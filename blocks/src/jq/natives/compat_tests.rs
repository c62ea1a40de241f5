//! The prelude, natives and rewrites against jq 1.8's behaviour, on small cases of our own.

use serde_json::{Value, json};

use crate::jq::JqProgram;

/// Runs each `(program, input, outputs)` and collects every difference.
fn check(cases: &[(&str, Value, Value)]) {
    let mut differences = Vec::new();
    for (source, input, expected) in cases {
        let program = JqProgram::new(*source).unwrap_or_else(|e| panic!("`{source}`: {e}"));
        let outputs = program.run(input).map(Value::Array).map_err(|e| e.to_string());
        if outputs.as_ref() != Ok(expected) {
            differences.push(format!("`{source}` on {input}: {outputs:?}, expected {expected}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn membership_index_and_join() {
    check(&[
        ("[.[] | IN(2, 3)]", json!([1, 2, 3]), json!([[false, true, true]])),
        ("IN(.[]; 5, 6)", json!([1, 6]), json!([true])),
        ("INDEX(.id)", json!([{"id": 7, "n": "a"}, {"id": "x"}]), json!([{"7": {"id": 7, "n": "a"}, "x": {"id": "x"}}])),
        ("INDEX(.[]; .k) | keys", json!([{"k": "b"}, {"k": "a"}]), json!([["a", "b"]])),
        ("[JOIN({\"1\": \"one\"}; .[]; tostring)]", json!([1, 2]), json!([[[1, "one"], [2, null]]])),
        ("JOIN({\"a\": 1}; .name)", json!([{"name": "a"}]), json!([[[{"name": "a"}, 1]]])),
        ("[JOIN({\"a\": \"b\"}; .[]; .; add)]", json!(["a"]), json!([["ab"]])),
    ]);
}

#[test]
fn formats_jaq_lacks() {
    check(&[
        ("@csv", json!(["a,b", 1.5, null, true, "say \"hi\""]), json!(["\"a,b\",1.5,,true,\"say \"\"hi\"\"\""])),
        ("@tsv", json!(["x\ty", "back\\slash", 3]), json!(["x\\ty\tback\\\\slash\t3"])),
        ("@base32", json!("runnel"), json!(["OJ2W43TFNQ======"])),
        ("@base32d", json!("OJ2W43TFNQ"), json!(["runnel"])),
        ("try @csv catch .", json!([[1]]), json!(["array ([1]) is not valid in a csv row"])),
    ]);
}

#[test]
fn streams_round_trip() {
    check(&[
        ("[tostream]", json!({"a": [1, {"b": null}]}), json!([[[["a", 0], 1], [["a", 1, "b"], null], [["a", 1, "b"]], [["a", 1]], [["a"]]]])),
        ("[tostream] | fromstream(.[])", json!({"x": [true, []], "y": "z"}), json!([{"x": [true, []], "y": "z"}])),
        ("fromstream(tostream)", json!(4), json!([4])),
        ("[1 | truncate_stream([[0], 1], [[1, 0], 2], [[1, 0]], [[1]])]", json!(null), json!([[[[0], 2], [[0]]]])),
    ]);
}

#[test]
fn strings_as_in_jq() {
    check(&[
        ("[.[] | trimstr(\"ab\")]", json!(["abxab", "ab", "xaby"]), json!([["x", "", "xaby"]])),
        ("try ltrimstr(1) catch .", json!("a"), json!(["startswith() requires string inputs"])),
        ("try rtrimstr(\"a\") catch .", json!(3), json!(["endswith() requires string inputs"])),
        ("try trim catch .", json!(3), json!(["trim input must be a string"])),
        ("[.[] | join(\"-\")]", json!([[null, "a", null], [1, true, "x"], []]), json!([["-a-", "1-true-x", ""]])),
        ("try join(\",\") catch .", json!(["a", {"b": 1}]), json!(["string (\"a,\") and object ({\"b\":1}) cannot be added"])),
        ("[splits(\"A+\"; \"i\")]", json!("xaAy"), json!([["x", "y"]])),
        ("[65, 97] | map(ascii) | add", json!(null), json!(["Aa"])),
        ("[.[] | try tonumber catch \"no\"]", json!(["12", " 1", "1e2", ".5", "+3", "4x", true]), json!([[12, "no", 100.0, 0.5, 3, "no", "no"]])),
        ("[.[] | try toboolean catch .]", json!(["true", false, "no"]), json!([[true, false, "string (\"no\") cannot be parsed as a boolean"]])),
        ("[-1, 65, 1114112, 55296] | implode | explode", json!(null), json!([[65533, 65, 65533, 65533]])),
        ("try utf8bytelength catch .", json!([1]), json!(["array ([1]) only strings have UTF-8 byte length"])),
        ("try _strindices(\"a\") catch .", json!(5), json!(["number (5) cannot be searched, as it is not a string"])),
    ]);
}

#[test]
fn generators_refuse_negative_counts() {
    check(&[
        ("[limit(0; 1, 2)], [skip(1; 1, 2)], [nth(1; 5, 6, 7)]", json!(null), json!([[], [2], [6]])),
        ("try limit(-1; 1) catch .", json!(null), json!(["limit doesn't support negative count"])),
        ("try skip(-2; 1) catch .", json!(null), json!(["skip doesn't support negative count"])),
        ("[nth(0, 2; range(5))]", json!(null), json!([[0, 2]])),
        ("try nth(-1; 1) catch .", json!(null), json!(["nth doesn't support negative indices"])),
        ("try flatten(-1) catch .", json!([[1]]), json!(["flatten depth must not be negative"])),
        ("flatten(1)", json!([[1, [2]], 3]), json!([[1, [2], 3]])),
    ]);
}

#[test]
fn paths_deletions_and_picks() {
    check(&[
        ("del(.[0], .[2])", json!([1, 2, 3, 4]), json!([[2, 4]])),
        ("del(.[-1], .[1:3])", json!([0, 1, 2, 3, 4]), json!([[0, 3]])),
        ("del(.a, .a.b)", json!({"a": {"b": 1}, "c": 2}), json!([{"c": 2}])),
        ("try delpaths(5) catch .", json!({}), json!(["Paths must be specified as an array"])),
        (".[1, 3] |= empty", json!([0, 1, 2, 3, 4]), json!([[0, 2, 4]])),
        ("pick(.a.b, .[\"c\"])", json!({"a": {"b": 1, "x": 2}, "c": 3, "d": 4}), json!([{"a": {"b": 1}, "c": 3}])),
        ("pick(first)", json!([5, 6]), json!([[5]])),
        ("try pick(last) catch .", json!([5, 6]), json!(["Out of bounds negative array index"])),
        ("setpath([\"a\", 1]; 9)", json!(null), json!([{"a": [null, 9]}])),
        ("try setpath([[0]]; 1) catch .", json!([]), json!(["Cannot update field at array index of array"])),
        ("try getpath([range(10001) | 0]) catch .", json!(null), json!(["Path too deep"])),
        ("[leaf_paths]", json!({"a": [1], "b": {}}), json!([[["a", 0]]])),
        ("has(nan)", json!([1]), json!([false])),
    ]);
}

#[test]
fn entries_with_other_key_names() {
    check(&[
        (
            "from_entries",
            json!([{"Key": "a", "Value": 1}, {"name": "b", "value": 2}, {"Name": "c"}, {"k": "d", "v": 4}]),
            json!([{"a": 1, "b": 2, "c": null, "d": 4}]),
        ),
        ("from_entries", json!([{"key": null, "value": 1}, {"key": 2, "value": 3}, {"key": false}]), json!([{"null": 1, "2": 3, "false": null}])),
    ]);
}

#[test]
fn what_a_message_has_in_place_of_jqs_environment() {
    check(&[
        (
            "[have_decnum, have_literal_numbers, (builtins | length > 100), (builtins | any(startswith(\"_\")))]",
            json!(null),
            json!([[true, true, true, false]]),
        ),
        (
            "try input catch ., [inputs], input_filename, $__loc__",
            json!(null),
            json!(["No more inputs", [], null, {"file": "<top-level>", "line": 1}]),
        ),
        ("$ENV | type", json!(null), json!(["object"])),
        ("[.[] | fromjson | isnan]", json!(["nan", "NaN"]), json!([[true, true]])),
        ("try fromjson catch .", json!("1 2"), json!(["Unexpected extra JSON values (while parsing '1 2')"])),
        ("try fromjson catch .", json!(format!("{}{}", "[".repeat(10_001), "]".repeat(10_001))), json!(["Exceeds depth limit for parsing"])),
    ]);
}

#[test]
fn dates_accept_short_broken_down_times() {
    check(&[
        ("mktime", json!([2001, 1, 3]), json!([981158400])),
        ("strftime(\"%Y-%m-%d\")", json!([2001, 1, 3]), json!(["2001-02-03"])),
        ("try mktime catch .", json!("x"), json!(["mktime requires parsed datetime inputs"])),
        ("try strftime(1) catch .", json!(0), json!(["strftime/1 requires a string format"])),
    ]);
}

#[test]
fn numbers_in_text_are_written_as_jq_writes_them() {
    check(&[
        ("[.n / 2 | tostring, tojson], \"\\(.n * 0.5) of \\(.n / 4)\"", json!({"n": 4}), json!([["2", "2"], "2 of 1"])),
        ("{a: (.n / 3)} | tojson", json!({"n": 3}), json!(["{\"a\":1}"])),
        ("[infinite, -infinite, nan] | tojson", json!(null), json!(["[1.7976931348623157e+308,-1.7976931348623157e+308,null]"])),
        ("\"\\(.)\"", json!(0.25), json!(["0.25"])),
        ("10 / 4 * 2 | [@text, @json, @html, @uri, @sh, @base64]", json!(null), json!([["5", "5", "5", "5", "5", "NQ=="]])),
        ("@sh", json!(["a'b", 1, null]), json!(["'a'\\''b' 1 null"])),
        ("try @sh catch .", json!([{}]), json!(["object ({}) can not be escaped for shell"])),
    ]);
}

#[test]
fn caught_errors_read_as_in_jq() {
    check(&[
        ("try .[] catch .", json!(7), json!(["Cannot iterate over number (7)"])),
        ("try .a catch .", json!([1]), json!(["Cannot index array with string (\"a\")"])),
        ("try (-.) catch .", json!("abcdefghijklmnopqrstuvwxyz0123"), json!(["string (\"abcdefghijklmnopqrstuvwx...\") cannot be negated"])),
        ("try ({} - 1) catch .", json!(null), json!(["object ({}) and number (1) cannot be subtracted"])),
        ("try (.a + 1) catch . | length > 0", json!({"a": "x"}), json!([true])),
    ]);
    // An error no `catch` sees keeps jaq's wording, as the fast path writes it.
    let program = JqProgram::new(".[]").unwrap();
    assert_eq!(program.run(&json!(7)).unwrap_err().to_string(), "jq error: cannot use 7 as iterable (array or object)");
}

#[test]
fn syntax_jq_reads_and_jaq_does_not() {
    check(&[
        (".[] as [$a] ?// $a | $a", json!([[1], 2]), json!([1, 2])),
        (". as {$a, $b: [$c]} | [$a, $b, $c]", json!({"a": 1, "b": [2]}), json!([[1, [2], 2]])),
        ("[.[] as {x: $v} ?// [$v] | $v]", json!([{"x": 1}, [2]]), json!([[1, 2]])),
        ("try (. as [$a] ?// {a: $a} | $a) catch \"neither\"", json!("s"), json!(["neither"])),
        ("reduce .[] * 2 as $x (0; . + $x)", json!([1, 2]), json!([6])),
        ("[.[] | select(. > .5)]", json!([0.25, 0.75]), json!([[0.75]])),
        ("{a: 1, $__loc__}", json!(null), json!([{"a": 1, "__loc__": {"file": "<top-level>", "line": 1}}])),
    ]);
}

#[test]
fn slices_of_null_are_null() {
    check(&[
        ("[.[] | .[1:3]?]", json!([null, "abcd", [1, 2, 3], {}, 5]), json!([[null, "bc", [2, 3]]])),
        ("[.a[1:], .[:2][0], .b[-1:][0]]", json!(null), json!([[null, null, null]])),
        ("try .[1:2] catch \"object\"", json!({"a": 1}), json!(["object"])),
        // Paths and updates through a slice are unchanged by the guard.
        (".[1:3][0] = 9", json!([0, 1, 2, 3]), json!([[0, 9, 2, 3]])),
        (".[1:][1:][0] |= . + 10", json!([0, 1, 2]), json!([[0, 1, 12]])),
        ("path(.[1:3][0])", json!([0, 1, 2]), json!([[{"start": 1, "end": 3}, 0]])),
        ("del(.[1:3])", json!([0, 1, 2, 3]), json!([[0, 3]])),
        (".[1:3] = [\"x\"]", json!(null), json!([["x"]])),
        // A bound read from the input keeps jaq's slice.
        ("try (.a | .[.n:]) catch \"no\"", json!({"a": null}), json!(["no"])),
    ]);
}

#[test]
fn setpath_refuses_a_number_as_an_object_key() {
    check(&[
        ("try setpath([\"a\", 0]; 1) catch .", json!({"a": {"b": 2}}), json!(["Cannot index object with number (0)"])),
        ("setpath([\"a\", 1, \"b\"]; 1)", json!({}), json!([{"a": [null, {"b": 1}]}])),
        ("setpath([0, \"k\"]; true)", json!([{"k": false}]), json!([[{"k": true}]])),
        ("try setpath([1]; 1) catch .", json!([]), json!([[null, 1]])),
    ]);
}

#[test]
fn length_keeps_a_literal_beyond_floats() {
    check(&[
        ("[1E+1000, -1E+1000] | map(length | tojson)", json!(null), json!([["1E+1000", "1E+1000"]])),
        ("[.[] | length]", json!([-2, -0.5, "héllo", [1, 2], {"a": 1}, null]), json!([[2, 0.5, 5, 2, 1, 0]])),
        ("[.[] | length]", json!([i64::MIN, -0.0]), json!([[9223372036854775808_u64, 0.0]])),
        ("try length catch \"none\"", json!(true), json!(["none"])),
    ]);
}

/// `[[...[]...]]`, `levels` arrays around an empty one, built by the program.
fn nested(levels: usize, object: bool) -> String {
    let wrap = if object { "{a: .}" } else { "[.]" };
    let empty = if object { "{}" } else { "[]" };
    format!("(reduce range({levels}) as $_ ({empty}; {wrap}))")
}

/// Values 10,000 deep are walked on a stack as large as the `runnel` binary's workers have.
#[test]
fn values_deeper_than_jq_walks_are_its_errors() {
    let worker = std::thread::Builder::new().stack_size(64 << 20).spawn(deep_values).expect("spawns");
    worker.join().expect("the checks pass");
}

fn deep_values() {
    let (arrays, objects) = (nested(10_001, false), nested(10_001, true));
    let (ok_arrays, ok_objects) = (nested(10_000, false), nested(10_000, true));
    check(&[
        (&format!("try ({arrays} as $x | $x == $x) catch ."), json!(null), json!(["Equality check too deep"])),
        (&format!("try ({arrays} as $x | $x != $x) catch ."), json!(null), json!(["Equality check too deep"])),
        (&format!("{arrays} as $x | [$x == null, $x == [], $x != 1]"), json!(null), json!([[false, false, true]])),
        (&format!("{ok_arrays} as $x | $x == $x"), json!(null), json!([true])),
        (&format!("try ({arrays} as $x | [$x, 1, $x] | sort) catch ."), json!(null), json!(["Comparison too deep"])),
        (&format!("try ({objects} as $x | [$x, $x] | unique) catch ."), json!(null), json!(["Comparison too deep"])),
        (&format!("{arrays} as $x | [$x, 2] | sort | .[0]"), json!(null), json!([2])),
        (&format!("{ok_objects} as $x | [$x, $x] | unique | length"), json!(null), json!([1])),
        (&format!("try ({arrays} as $x | $x | contains($x)) catch ."), json!(null), json!(["Containment check too deep"])),
        (&format!("{arrays} | contains([[]])"), json!(null), json!([true])),
        (&format!("try ({objects} as $x | $x * $x) catch ."), json!(null), json!(["Object merge too deep"])),
        (&format!("{ok_objects} as $x | $x * $x | length"), json!(null), json!([1])),
        (
            &format!("{arrays} | tojson | [contains(\"<skipped: too deep>\"), length]"),
            json!(null),
            json!([[true, 2 * 10_001 + "<skipped: too deep>".len()]]),
        ),
        (&format!("{ok_arrays} | tojson | contains(\"<skipped: too deep>\")"), json!(null), json!([false])),
    ]);
}
