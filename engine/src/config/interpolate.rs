//! `${VAR}` and `${VAR:-default}` environment interpolation in pipeline files.
//!
//! Interpolation works on the raw text before parsing, so any value (a number, a list) can come
//! from the environment. `$$` writes a literal `$`. Lines keep their numbers, so positions in
//! later errors stay right (columns shift only after a substitution on the same line).

/// A `${VAR}` that names an unset variable and has no default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unset {
    /// Byte offset of the `$`.
    pub(crate) offset: usize,
    /// The variable's name.
    pub(crate) name: String,
}

/// Replaces every `${...}` in `text`, looking variables up with `lookup`.
pub(crate) fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Vec<Unset>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
            offset += at + 2;
            continue;
        }
        let close = tail.strip_prefix("${").and_then(|inner| inner.find('}').map(|end| (inner, end)));
        let Some((inner, end)) = close.filter(|(inner, end)| is_reference(&inner[..*end])) else {
            out.push('$');
            rest = &tail[1..];
            offset += at + 1;
            continue;
        };
        let body = &inner[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        match lookup(name).filter(|v| !v.is_empty() || default.is_none()).or(default.map(str::to_owned)) {
            Some(value) => out.push_str(&value),
            None => errors.push(Unset { offset: offset + at, name: name.to_owned() }),
        }
        let consumed = at + 2 + end + 1;
        rest = &rest[consumed..];
        offset += consumed;
    }
    out.push_str(rest);
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn is_reference(body: &str) -> bool {
    let name = body.split_once(":-").map_or(body, |(name, _)| name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.org".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        let text = "a = \"${HOST}\"\nb = ${PORT:-9000}\nc = \"${EMPTY:-x}\"";
        assert_eq!(interpolate(text, env).as_deref(), Ok("a = \"example.org\"\nb = 9000\nc = \"x\""));
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar_and_lone_dollars_stay() {
        assert_eq!(interpolate("p = '$$HOME $5 ${not valid}'", env).as_deref(), Ok("p = '$HOME $5 ${not valid}'"));
    }

    #[test]
    fn every_unset_variable_is_reported_with_its_offset() {
        let errors = interpolate("a = ${ONE}\nb = ${TWO}", env).unwrap_err();
        assert_eq!(errors, vec![Unset { offset: 4, name: "ONE".into() }, Unset { offset: 15, name: "TWO".into() }]);
    }
}
