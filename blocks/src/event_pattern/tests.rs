use super::*;
use serde_json::json;

/// (pattern, event, expected): every operator Lambda documents, each matching and not.
#[test]
fn the_operator_table() {
    let table = [
        // equals: strings exactly, numbers by their text, booleans; values in a list are ORed
        (r#"{"room": ["a", "b"]}"#, json!({"room": "b"}), true),
        (r#"{"room": ["a"]}"#, json!({"room": "A"}), false),
        (r#"{"n": [300]}"#, json!({"n": 300}), true),
        (r#"{"n": [300]}"#, json!({"n": 300.0}), false),
        (r#"{"n": ["300"]}"#, json!({"n": 300}), false),
        (r#"{"ok": [true]}"#, json!({"ok": true}), true),
        // a field holding an array matches if an element does
        (r#"{"tags": ["x"]}"#, json!({"tags": ["y", "x"]}), true),
        // null and the empty string
        (r#"{"v": [null]}"#, json!({"v": null}), true),
        (r#"{"v": [null]}"#, json!({}), false),
        (r#"{"v": [""]}"#, json!({"v": ""}), true),
        (r#"{"v": [""]}"#, json!({"v": null}), false),
        // prefix, suffix, equals-ignore-case
        (r#"{"r": [{"prefix": "us-"}]}"#, json!({"r": "us-east-1"}), true),
        (r#"{"r": [{"prefix": "us-"}]}"#, json!({"r": "eu-west-1"}), false),
        (r#"{"f": [{"suffix": ".png"}]}"#, json!({"f": "cat.png"}), true),
        (r#"{"f": [{"suffix": ".png"}]}"#, json!({"f": "cat.jpg"}), false),
        (r#"{"u": [{"equals-ignore-case": "Alice"}]}"#, json!({"u": "aLiCe"}), true),
        (r#"{"u": [{"equals-ignore-case": "Alice"}]}"#, json!({"u": "Bob"}), false),
        // anything-but: a value or a list; a missing field does not match
        (r#"{"s": [{"anything-but": "spam"}]}"#, json!({"s": "ham"}), true),
        (r#"{"s": [{"anything-but": "spam"}]}"#, json!({"s": "spam"}), false),
        (r#"{"s": [{"anything-but": ["spam", "eggs"]}]}"#, json!({"s": "eggs"}), false),
        (r#"{"s": [{"anything-but": [1, 2]}]}"#, json!({"s": 3}), true),
        (r#"{"s": [{"anything-but": "spam"}]}"#, json!({}), false),
        // numeric: equality and ranges, numbers only
        (r#"{"n": [{"numeric": ["=", 100]}]}"#, json!({"n": 100.0}), true),
        (r#"{"n": [{"numeric": [">", 10, "<=", 20]}]}"#, json!({"n": 20}), true),
        (r#"{"n": [{"numeric": [">", 10, "<=", 20]}]}"#, json!({"n": 10}), false),
        (r#"{"n": [{"numeric": [">", 10, "<=", 20]}]}"#, json!({"n": 21}), false),
        (r#"{"n": [{"numeric": [">=", 0]}]}"#, json!({"n": "5"}), false),
        // exists true and false
        (r#"{"e": [{"exists": true}]}"#, json!({"e": 0}), true),
        (r#"{"e": [{"exists": true}]}"#, json!({}), false),
        (r#"{"e": [{"exists": false}]}"#, json!({}), true),
        (r#"{"e": [{"exists": false}]}"#, json!({"e": null}), false),
        // nesting, and fields ANDed
        (r#"{"user": {"name": ["a"]}, "n": [1]}"#, json!({"user": {"name": "a"}, "n": 1}), true),
        (r#"{"user": {"name": ["a"]}, "n": [1]}"#, json!({"user": {"name": "a"}, "n": 2}), false),
        (r#"{"user": {"name": ["a"]}}"#, json!({"user": "a"}), false),
        // an empty pattern matches every object
        ("{}", json!({"anything": 1}), true),
    ];
    for (pattern, event, expected) in table {
        let compiled = EventPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(compiled.matches(&event), expected, "{pattern} on {event}");
    }
}

#[test]
fn bad_patterns_say_where_and_what() {
    let cases = [
        ("{\"a\": [", "the pattern is not JSON"),
        ("[1]", "a pattern must be a JSON object of fields, not an array"),
        (r#"{"a": "x"}"#, "at `a`: expected a list of matchers or a nested pattern, found a string"),
        (r#"{"a": {"b": []}}"#, "at `a.b`: a field's list of matchers must not be empty"),
        (r#"{"a": [{"wildcard": "x*"}]}"#, "at `a`: unknown operator `wildcard`"),
        (r#"{"a": [{"numeric": [">", "x"]}]}"#, "at `a`: `numeric`: \"x\" is not a number"),
        (r#"{"a": [{"numeric": ["~", 1]}]}"#, "at `a`: `numeric`: \"~\" is not one of"),
        (r#"{"a": [{"exists": "yes"}]}"#, "at `a`: `exists` takes true or false, not a string"),
        (r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#, "at `a`: a matcher object has exactly one operator, found 2"),
        (r#"{"a": [{"anything-but": [true]}]}"#, "at `a`: `anything-but` lists strings and numbers, not a boolean"),
    ];
    for (pattern, expected) in cases {
        let error = EventPattern::parse(pattern).expect_err(pattern).to_string();
        assert!(error.starts_with(expected), "{pattern}: {error}");
    }
}

#[test]
fn fields_can_be_looked_up_from_outside_an_object() {
    let pattern = EventPattern::parse(r#"{"data": {"kind": ["chat"]}, "partitionKey": [{"prefix": "room-"}]}"#).unwrap();
    let data = json!({"kind": "chat"});
    let key = json!("room-1");
    assert!(pattern.matches_fields(|name| match name {
        "data" => Some(&data),
        "partitionKey" => Some(&key),
        _ => None,
    }));
    assert!(pattern.names("data") && !pattern.names("kind"));
}
