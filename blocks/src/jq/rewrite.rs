//! jq syntax that jaq's parser does not read, rewritten into syntax it does before compiling:
//!
//! - `$__loc__` becomes the object jq gives it, `{"file": "<top-level>", "line": N}` (in an
//!   object construction, `{$__loc__}` becomes `{__loc__: {...}}`);
//! - a pattern entry `$name: pattern` (bind the field and destructure it) becomes
//!   `$name, name: pattern`;
//! - destructuring alternatives, `E as P1 ?// P2 | body`, become `E as $v` followed by each
//!   variable of the patterns bound to `null`, then `try ($v as P1 | body) catch ($v as P2 |
//!   body)` (the input kept aside for the `catch`): as in jq, an error in the patterns or the
//!   body of an alternative tries the next one, and the last one's error is the result's.
//!
//! Only a program that uses one of them is rewritten, and only when the original does not
//! compile, so every other program's errors keep their positions.

/// The rewritten text of `source`, if it uses syntax this module rewrites.
pub(super) fn rewrite(source: &str) -> Option<String> {
    let located = locations(source);
    let fields = pattern_fields(&located);
    let mut text = fields.unwrap_or_else(|| located.clone());
    for pass in [fold_sources, leading_dots] {
        if let Some(next) = pass(&text) {
            text = next;
        }
    }
    let mut changed = located != source || text != located;
    // One alternative at a time, leftmost first: the copies of its body hold the next ones.
    while let Some(next) = alternatives(&text) {
        text = next;
        changed = true;
    }
    changed.then_some(text)
}

/// A token of jq's syntax, as far as the rewrites need: its kind and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token<'s> {
    text: &'s str,
    start: usize,
    /// How many brackets are open around it.
    depth: usize,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Var,
    Str,
    Open,
    Close,
    Punct,
}

/// The tokens of `source`. Strings (with their interpolations) and comments are opaque.
fn tokens(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                i += bytes[i..].iter().position(|b| *b == b'\n').unwrap_or(bytes.len() - i);
                continue;
            }
            b'"' => {
                i = string_end(bytes, i + 1);
                Kind::Str
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                depth += 1;
                out.push(Token { text: &source[start..i], start, depth: depth - 1, kind: Kind::Open });
                continue;
            }
            b')' | b']' | b'}' => {
                i += 1;
                depth = depth.saturating_sub(1);
                Kind::Close
            }
            b'$' => {
                i += 1 + bytes[i + 1..].iter().take_while(|b| ident(**b)).count();
                Kind::Var
            }
            c if ident(c) => {
                i += bytes[i..].iter().take_while(|b| ident(**b)).count();
                Kind::Word
            }
            b'?' if source[i..].starts_with("?//") => {
                i += 3;
                Kind::Punct
            }
            b'|' | b'=' | b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b'?' => {
                i += 1 + bytes[i + 1..].iter().take_while(|b| b"=/".contains(b)).count();
                Kind::Punct
            }
            _ => {
                i += source[i..].chars().next().map_or(1, char::len_utf8);
                Kind::Punct
            }
        };
        out.push(Token { text: &source[start..i], start, depth, kind });
    }
    out
}

/// Where the string whose text starts at `from` ends (past its closing quote), stepping over
/// escapes and interpolations (which may hold strings of their own).
fn string_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\\' if bytes.get(i + 1) == Some(&b'(') => {
                let mut open = 1;
                i += 2;
                while i < bytes.len() && open > 0 {
                    match bytes[i] {
                        b'(' => open += 1,
                        b')' => open -= 1,
                        b'"' => {
                            i = string_end(bytes, i + 1);
                            continue;
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `source` with each `$__loc__` replaced by its value, inside interpolations too.
fn locations(source: &str) -> String {
    const NAME: &str = "$__loc__";
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for (at, _) in source.match_indices(NAME) {
        let after = &source[at + NAME.len()..];
        if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') || in_string_text(source, at) {
            continue;
        }
        let line = source[..at].matches('\n').count() + 1;
        let value = format!("{{\"file\":\"<top-level>\",\"line\":{line}}}");
        let before = source[..at].trim_end();
        let shorthand = (before.ends_with('{') || before.ends_with(',')) && after.trim_start().starts_with([',', '}']) && in_object(source, at);
        out.push_str(&source[last..at]);
        out.push_str(&if shorthand { format!("__loc__: {value}") } else { value });
        last = at + NAME.len();
    }
    out.push_str(&source[last..]);
    out
}

/// Whether byte `at` of `source` is inside the text of a string (not an interpolation) or a
/// comment.
fn in_string_text(source: &str, at: usize) -> bool {
    let bytes = source.as_bytes();
    // The parentheses open in each interpolation entered, innermost last; empty in code.
    let mut interpolations: Vec<usize> = Vec::new();
    let mut in_text = false;
    let mut i = 0;
    while i < at {
        match (in_text, bytes[i]) {
            (true, b'"') => in_text = false,
            (true, b'\\') if bytes.get(i + 1) == Some(&b'(') => {
                interpolations.push(0);
                in_text = false;
                i += 1;
            }
            (true, b'\\') => i += 1,
            (false, b'"') => in_text = true,
            (false, b'#') => match bytes[i..at].iter().position(|b| *b == b'\n') {
                Some(n) => i += n,
                None => return true,
            },
            (false, b'(') => {
                if let Some(open) = interpolations.last_mut() {
                    *open += 1;
                }
            }
            (false, b')') => match interpolations.last_mut() {
                Some(0) => {
                    interpolations.pop();
                    in_text = true;
                }
                Some(open) => *open -= 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    in_text
}

/// Whether the innermost bracket open at byte `at` is a `{`.
fn in_object(source: &str, at: usize) -> bool {
    let mut open = Vec::new();
    for t in tokens(source).iter().take_while(|t| t.start < at) {
        match t.kind {
            Kind::Open => open.push(t.text),
            Kind::Close => {
                open.pop();
            }
            _ => {}
        }
    }
    open.last() == Some(&"{")
}

/// `source` with each pattern entry `$name: pattern` written `$name, name: pattern`, or `None`
/// when there is none.
fn pattern_fields(source: &str) -> Option<String> {
    let tokens = tokens(source);
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for (i, t) in tokens.iter().enumerate() {
        let entry = t.kind == Kind::Var
            && tokens.get(i + 1).is_some_and(|n| n.text == ":")
            && i > 0
            && (tokens[i - 1].text == "{" || tokens[i - 1].text == ",")
            && in_object(source, t.start);
        if entry {
            out.push_str(&source[last..t.start + t.text.len()]);
            out.push_str(&format!(", {}", &t.text[1..]));
            last = t.start + t.text.len();
        }
    }
    (last > 0).then(|| {
        out.push_str(&source[last..]);
        out
    })
}

/// `source` with the source of each `reduce` and `foreach` in parentheses: jq reads
/// `reduce .[] / .[] as $x (...)` with `.[] / .[]` as the source, jaq only a term.
fn fold_sources(source: &str) -> Option<String> {
    let tokens = tokens(source);
    let mut inserts = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Word || !(t.text == "reduce" || t.text == "foreach") {
            continue;
        }
        let ends = |n: &&Token<'_>| (n.depth == t.depth && n.text == "as") || (n.kind == Kind::Close && n.depth < t.depth);
        let Some(binder) = tokens[i + 1..].iter().find(ends) else { continue };
        let between = &tokens[i + 1..].iter().take_while(|n| n.start < binder.start).collect::<Vec<_>>();
        let simple = between.iter().all(|n| n.depth > t.depth || !matches!(n.kind, Kind::Punct) || n.text == "." || n.text == "?");
        if let (true, false, Some(last)) = (binder.text == "as", simple, between.last()) {
            inserts.push((tokens[i + 1].start, "("));
            inserts.push((last.start + last.text.len(), ")"));
        }
    }
    insert(source, inserts)
}

/// `source` with a `0` before each number written from its point (`.5`), which jaq does not read.
fn leading_dots(source: &str) -> Option<String> {
    let tokens = tokens(source);
    let mut inserts = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let number_follows = tokens.get(i + 1).is_some_and(|n| n.start == t.start + 1 && n.text.bytes().all(|b| b.is_ascii_digit()));
        let after_term = i > 0 && matches!(tokens[i - 1].kind, Kind::Word | Kind::Var | Kind::Str | Kind::Close);
        if t.text == "." && number_follows && !after_term {
            inserts.push((t.start, "0"));
        }
    }
    insert(source, inserts)
}

/// `source` with each text inserted at its byte offset; `None` for none.
fn insert(source: &str, mut inserts: Vec<(usize, &str)>) -> Option<String> {
    if inserts.is_empty() {
        return None;
    }
    // Stable: texts at one offset keep their order (`)` of an inner fold before `)` of an outer).
    inserts.sort_by_key(|(at, _)| *at);
    let mut out = String::with_capacity(source.len() + inserts.len() * 2);
    let mut last = 0;
    for (at, text) in inserts {
        out.push_str(&source[last..at]);
        out.push_str(text);
        last = at;
    }
    out.push_str(&source[last..]);
    Some(out)
}

/// The words that end a body at the depth it started.
const BODY_ENDS: [&str; 5] = ["then", "elif", "else", "end", "catch"];

/// `source` with its first destructuring alternative rewritten, or `None` when it has none.
fn alternatives(source: &str) -> Option<String> {
    let tokens = tokens(source);
    let alt = tokens.iter().position(|t| t.text == "?//")?;
    let depth = tokens[alt].depth;
    let binder = tokens[..alt].iter().rposition(|t| t.text == "as" && t.depth == depth)?;
    let pipe = alt + tokens[alt..].iter().position(|t| t.depth == depth && t.text == "|")?;
    let mut patterns = vec![source[tokens[binder].start + 2..tokens[alt].start].trim()];
    let mut from = alt;
    for (i, t) in tokens.iter().enumerate().take(pipe + 1).skip(alt + 1) {
        if t.depth == depth && (t.text == "?//" || i == pipe) {
            patterns.push(source[tokens[from].start + tokens[from].text.len()..t.start].trim());
            from = i;
        }
    }
    let body_end = tokens[pipe + 1..]
        .iter()
        .find(|t| match t.kind {
            Kind::Close => t.depth < depth,
            _ => t.depth == depth && (t.text == ";" || BODY_ENDS.contains(&t.text)),
        })
        .map_or(source.len(), |t| t.start);
    let body = &source[tokens[pipe].start + 1..body_end];
    let mut variables: Vec<&str> = tokens[binder + 1..pipe].iter().filter(|t| t.kind == Kind::Var).map(|t| t.text).collect();
    variables.sort_unstable();
    variables.dedup();
    let nulls: String = variables.iter().map(|v| format!("null as {v} | ")).collect();
    let mut tried = format!("$__runnel_alt as {} |{body}", patterns[patterns.len() - 1]);
    for pattern in patterns[..patterns.len() - 1].iter().rev() {
        tried = format!("try ($__runnel_alt as {pattern} |{body}) catch ($__runnel_in | {tried})");
    }
    let rewritten = format!(" $__runnel_alt | {nulls}. as $__runnel_in | {tried}");
    Some(format!("{}{rewritten}{}", &source[..tokens[binder].start + 2], &source[body_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_without_jq_only_syntax_are_left_alone() {
        for source in [".a", ". as [$a] | $a", r#""$__loc__ \(.)""#, ".a?//1", "# $__loc__\n."] {
            assert_eq!(rewrite(source), None, "{source}");
        }
    }

    #[test]
    fn locations_name_their_line() {
        assert_eq!(rewrite("$__loc__").as_deref(), Some(r#"{"file":"<top-level>","line":1}"#));
        assert_eq!(
            rewrite(".\n| {a, $__loc__}").as_deref(),
            Some(
                r#".
| {a, __loc__: {"file":"<top-level>","line":2}}"#
            )
        );
        assert_eq!(rewrite(r#""at \($__loc__.line)""#).as_deref(), Some(r#""at \({"file":"<top-level>","line":1}.line)""#));
    }

    #[test]
    fn fold_sources_may_be_expressions_and_numbers_may_start_with_a_point() {
        assert_eq!(rewrite("reduce .[] * 2 as $x (0; . + $x)").as_deref(), Some("reduce (.[] * 2) as $x (0; . + $x)"));
        assert_eq!(rewrite("[foreach .a[] as $x (0; .)]"), None);
        assert_eq!(rewrite("select(. > .5)").as_deref(), Some("select(. > 0.5)"));
        assert_eq!(rewrite("[.5, -.25]").as_deref(), Some("[0.5, -0.25]"));
        let nested = "reduce (reduce .[] - 1 as $y (0; .)) + 1 as $x (0; .)";
        assert_eq!(rewrite(nested).as_deref(), Some("reduce ((reduce (.[] - 1) as $y (0; .)) + 1) as $x (0; .)"));
    }

    #[test]
    fn a_bound_field_can_be_destructured_too() {
        assert_eq!(rewrite(". as {$a, $b: [$c]} | $c").as_deref(), Some(". as {$a, $b, b: [$c]} | $c"));
    }

    #[test]
    fn alternatives_try_each_pattern_in_turn() {
        let rewritten = rewrite(". as [$a] ?// $b | [$a, $b]").expect("rewritten");
        assert_eq!(
            rewritten,
            ". as $__runnel_alt | null as $a | null as $b | . as $__runnel_in | try ($__runnel_alt as [$a] | [$a, $b]) catch ($__runnel_in | $__runnel_alt as $b | [$a, $b])"
        );
        let bounded = rewrite("[.[] as [$a] ?// $a | $a], 1").expect("rewritten");
        assert!(bounded.ends_with("$__runnel_alt as $a | $a)], 1"), "{bounded}");
    }
}
