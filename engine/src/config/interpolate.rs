//! `${...}` environment interpolation in pipeline files, with the forms shells and Compose files
//! use:
//!
//! | form | gives |
//! |---|---|
//! | `${VAR}` | the variable's value; an error if it is unset |
//! | `${VAR:-default}` | the default if the variable is unset or empty |
//! | `${VAR-default}` | the default only if the variable is unset |
//! | `$$` | a literal `$` (also inside defaults) |
//!
//! A default may itself hold references (`${A:-${B:-x}}`), which are only looked up when the
//! default is used, and `{...}` pairs (`${OPTS:-{ a = 1 }}`: braces in a default must balance).
//! A `$` that is not followed by `{` or `$` stays as it is, so jq's `$var` needs no escaping.
//! Anything else that starts with `${` is an error located at its `$`: a reference must close on
//! its line, name a variable (letters, digits and `_`, not starting with a digit, no spaces), and
//! use one of the forms above.
//!
//! Interpolation works on the raw text before parsing, so any value (a number, a list) can come
//! from the environment; TOML comments are left as they are (a commented-out line may name a
//! variable that is not set), as users of Vector asked of it. Lines keep their numbers, so positions in later errors stay right
//! (columns shift only after a substitution on the same line).

/// A `${...}` that cannot be expanded, at the byte offset of its `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterpolationError {
    /// Byte offset of the `$`.
    pub(crate) offset: usize,
    /// What is wrong.
    pub(crate) problem: Problem,
}

/// What is wrong with a `${...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Problem {
    /// `${VAR}` names an unset variable and has no default.
    #[error("environment variable `{name}` is not set and has no default (write ${{{name}:-default}})")]
    Unset {
        /// The variable's name.
        name: String,
    },
    /// No `}` closes the reference on its line.
    #[error("`${{` is not closed on its line (write `$${{` for a literal `${{`)")]
    Unclosed,
    /// `${}`.
    #[error("`${{}}` names no variable")]
    Empty,
    /// What stands between the braces is not a variable name.
    #[error(
        "`${{{body}}}`: `{body}` is not a variable name (letters, digits and `_`, not starting with a digit, no spaces; write `$${{` for a literal `${{`, as in a JavaScript template literal)"
    )]
    BadName {
        /// The text between the braces.
        body: String,
    },
    /// A shell form other than `-` and `:-` (`:?`, `+`, `#`...).
    #[error("`${{{name}{operator}...}}` is not supported: write `${{{name}}}`, `${{{name}:-default}}` or `${{{name}-default}}`")]
    Unsupported {
        /// The variable's name.
        name: String,
        /// The operator after it.
        operator: String,
    },
}

/// Replaces every `${...}` in `text`, looking variables up with `lookup`; reports every reference
/// that cannot be expanded.
pub(crate) fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Vec<InterpolationError>> {
    let mut expander = Expander { text, pos: 0, lookup, errors: Vec::new() };
    let out = expander.expand_all();
    if expander.errors.is_empty() { Ok(out) } else { Err(expander.errors) }
}

/// Where the expander is in the TOML text, which decides whether a `#` starts a comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Toml {
    Outside,
    /// `"..."`
    Basic,
    /// `'...'`
    Literal,
    /// `"""..."""`
    MultiBasic,
    /// `'''...'''`
    MultiLiteral,
    /// `# ...` up to the line's end.
    Comment,
}

impl Toml {
    /// At one of `#`, `"`, `'`, `\\` or a newline starting `rest`: the state after it, and how
    /// many bytes it takes (an escape takes the escaped character too).
    fn next(self, rest: &str) -> (Self, usize) {
        let triple = |quote: &str| rest.starts_with(quote);
        let escape = rest.chars().nth(1).map_or(1, |c| 1 + c.len_utf8());
        match (self, rest.as_bytes()[0]) {
            (Self::Outside, b'#') => (Self::Comment, 1),
            (Self::Outside, b'"') if triple("\"\"\"") => (Self::MultiBasic, 3),
            (Self::Outside, b'"') => (Self::Basic, 1),
            (Self::Outside, b'\'') if triple("'''") => (Self::MultiLiteral, 3),
            (Self::Outside, b'\'') => (Self::Literal, 1),
            (Self::Basic | Self::MultiBasic, b'\\') => (self, escape),
            (Self::Basic, b'"') | (Self::Literal, b'\'') => (Self::Outside, 1),
            (Self::MultiBasic, b'"') if triple("\"\"\"") => (Self::Outside, 3),
            (Self::MultiLiteral, b'\'') if triple("'''") => (Self::Outside, 3),
            // A single-line string that does not close is the TOML parser's to report.
            (Self::Basic | Self::Literal, b'\n') => (Self::Outside, 1),
            (state, _) => (state, 1),
        }
    }
}

/// Why a reference or default stopped early.
enum Stop {
    /// The line (or the text) ended before the closing `}`; the reference that owns the default
    /// reports it.
    LineEnded,
    /// An error was reported already.
    Reported,
}

struct Expander<'a, F> {
    text: &'a str,
    /// Where the expander is, always at a char boundary (every position it stops at is an
    /// ASCII delimiter).
    pos: usize,
    lookup: F,
    errors: Vec<InterpolationError>,
}

impl<F: Fn(&str) -> Option<String>> Expander<'_, F> {
    /// The whole text, expanded; after a malformed reference, goes on past it. TOML comments
    /// are copied as they are: a commented-out line may name a variable that is not set.
    fn expand_all(&mut self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut toml = Toml::Outside;
        loop {
            let rest = &self.text[self.pos..];
            let Some(at) = rest.find(['$', '#', '"', '\'', '\\', '\n']) else {
                out.push_str(rest);
                return out;
            };
            out.push_str(&rest[..at]);
            self.pos += at;
            let rest = &rest[at..];
            if rest.starts_with('$') {
                let start = self.pos;
                match self.dollar(true) {
                    Ok(piece) => out.push_str(&piece),
                    Err(Stop::LineEnded | Stop::Reported) => self.skip_past(start),
                }
                continue;
            }
            let (next, len) = toml.next(rest);
            let len = if next == Toml::Comment { rest.find('\n').unwrap_or(rest.len()) } else { len };
            out.push_str(&rest[..len]);
            self.pos += len;
            toml = if next == Toml::Comment { Toml::Outside } else { next };
        }
    }

    /// At a `$`: `$$`, a reference, or a lone `$`. Returns what it stands for (empty when not
    /// `evaluate`d).
    fn dollar(&mut self, evaluate: bool) -> Result<String, Stop> {
        let rest = &self.text[self.pos..];
        if rest.starts_with("$$") {
            self.pos += 2;
            Ok("$".to_owned())
        } else if rest.starts_with("${") {
            self.reference(evaluate)
        } else {
            self.pos += 1;
            Ok("$".to_owned())
        }
    }

    /// At `${`: a whole reference, up to its closing `}`.
    fn reference(&mut self, evaluate: bool) -> Result<String, Stop> {
        let start = self.pos;
        let name_start = start + 2;
        let name_len = self.text[name_start..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        let name = &self.text[name_start..name_start + name_len];
        let after = &self.text[name_start + name_len..];
        let valid = name.bytes().next().is_some_and(|b| !b.is_ascii_digit());
        let (unset_only, operator_len) = match after.as_bytes() {
            [b'}', ..] if valid => (None, 0),
            [b':', b'-', ..] if valid => (Some(false), 2),
            [b'-', ..] if valid => (Some(true), 1),
            _ => return Err(self.malformed(start, name, valid)),
        };
        self.pos = name_start + name_len + operator_len;
        let value = if evaluate { (self.lookup)(name) } else { None };
        let Some(unset_only) = unset_only else {
            self.pos += 1;
            return match value {
                Some(value) => Ok(value),
                None if evaluate => {
                    self.errors.push(InterpolationError { offset: start, problem: Problem::Unset { name: name.to_owned() } });
                    Ok(String::new())
                }
                None => Ok(String::new()),
            };
        };
        let use_default = evaluate && value.as_ref().is_none_or(|v| !unset_only && v.is_empty());
        let default = match self.default(use_default) {
            Ok(default) => default,
            Err(Stop::LineEnded) => return Err(self.report(start, Problem::Unclosed)),
            Err(Stop::Reported) => return Err(Stop::Reported),
        };
        Ok(if use_default { default } else { value.unwrap_or_default() })
    }

    /// After `:-` or `-`: the default, up to the `}` that closes the reference (consumed).
    fn default(&mut self, evaluate: bool) -> Result<String, Stop> {
        let mut out = String::new();
        let mut depth = 0_usize;
        loop {
            let rest = &self.text[self.pos..];
            let Some(at) = rest.find(['$', '{', '}', '\n']) else {
                return Err(Stop::LineEnded);
            };
            out.push_str(&rest[..at]);
            self.pos += at;
            match rest.as_bytes()[at] {
                b'$' => out.push_str(&self.dollar(evaluate)?),
                b'\n' => return Err(Stop::LineEnded),
                b'{' => {
                    depth += 1;
                    out.push('{');
                    self.pos += 1;
                }
                _ if depth == 0 => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => {
                    depth -= 1;
                    out.push('}');
                    self.pos += 1;
                }
            }
        }
    }

    /// Reports a reference at `start` whose name or operator is wrong, saying what is wrong.
    fn malformed(&mut self, start: usize, name: &str, valid: bool) -> Stop {
        let line = &self.text[start..self.text[start..].find('\n').map_or(self.text.len(), |end| start + end)];
        let problem = match line.find('}') {
            None => Problem::Unclosed,
            Some(2) => Problem::Empty,
            Some(close) => {
                let after_name = &line[2 + name.len()..];
                let operator_len = if after_name.starts_with(':') { 2 } else { 1 };
                match after_name.get(..operator_len) {
                    Some(operator) if valid && operator.bytes().all(|b| b":?+=#%/^,@-".contains(&b)) => {
                        Problem::Unsupported { name: name.to_owned(), operator: operator.to_owned() }
                    }
                    _ => Problem::BadName { body: line[2..close].to_owned() },
                }
            }
        };
        self.report(start, problem)
    }

    fn report(&mut self, offset: usize, problem: Problem) -> Stop {
        self.errors.push(InterpolationError { offset, problem });
        Stop::Reported
    }

    /// After a malformed reference at `start`: goes on after the first `}` on its line, or at
    /// the line's end.
    fn skip_past(&mut self, start: usize) {
        let line_end = self.text[start..].find('\n').map_or(self.text.len(), |end| start + end);
        self.pos = self.text[start..line_end].find('}').map_or(line_end, |close| start + close + 1);
    }
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

    fn problems(text: &str) -> Vec<(usize, String)> {
        interpolate(text, env).expect_err("errors").into_iter().map(|e| (e.offset, e.problem.to_string())).collect()
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        let text = "a = \"${HOST}\"\nb = ${PORT:-9000}\nc = \"${EMPTY:-x}\"";
        assert_eq!(interpolate(text, env).as_deref(), Ok("a = \"example.org\"\nb = 9000\nc = \"x\""));
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar_and_lone_dollars_stay() {
        assert_eq!(
            interpolate("p = '$$HOME $5 $x $${HOST} $$${HOST} $$$${HOST} $'", env).as_deref(),
            Ok("p = '$HOME $5 $x ${HOST} $example.org $${HOST} $'")
        );
    }

    #[test]
    fn a_dash_default_applies_only_when_unset_and_colon_dash_also_when_empty() {
        assert_eq!(interpolate("${EMPTY-x}|${EMPTY:-x}|${NONE-x}|${NONE:-x}|${HOST-x}|${EMPTY}", env).as_deref(), Ok("|x|x|x|example.org|"));
        assert_eq!(interpolate("${NONE-}|${NONE:-}", env).as_deref(), Ok("|"));
    }

    #[test]
    fn defaults_nest_and_are_only_looked_up_when_used() {
        assert_eq!(interpolate("${A:-${B:-x}}", env).as_deref(), Ok("x"));
        assert_eq!(interpolate("${A:-${HOST:-x}/a}", env).as_deref(), Ok("example.org/a"));
        assert_eq!(interpolate("${HOST:-${UNSET_AND_NO_DEFAULT}}", env).as_deref(), Ok("example.org"));
        assert_eq!(interpolate("${A-$${B}}", env).as_deref(), Ok("${B}"));
        assert_eq!(interpolate("o = ${OPTS:-{ a = 1, b = { c = 2 } }}", env).as_deref(), Ok("o = { a = 1, b = { c = 2 } }"));
        assert_eq!(problems("${A:-${B}}"), vec![(5, "environment variable `B` is not set and has no default (write ${B:-default})".to_owned())]);
    }

    #[test]
    fn every_unset_variable_is_reported_with_its_offset() {
        let errors = interpolate("a = ${ONE}\nb = ${TWO}", env).unwrap_err();
        let names: Vec<(usize, Problem)> = errors.into_iter().map(|e| (e.offset, e.problem)).collect();
        assert_eq!(names, vec![(4, Problem::Unset { name: "ONE".into() }), (15, Problem::Unset { name: "TWO".into() })]);
    }

    #[test]
    fn malformed_references_are_errors_at_their_dollar() {
        assert_eq!(
            problems("a = \"${ HOST }\""),
            vec![(5, "`${ HOST }`: ` HOST ` is not a variable name (letters, digits and `_`, not starting with a digit, no spaces; write `$${` for a literal `${`, as in a JavaScript template literal)".into())]
        );
        assert_eq!(problems("a = \"${HOST\"\nb = 1 }"), vec![(5, "`${` is not closed on its line (write `$${` for a literal `${`)".into())]);
        assert_eq!(problems("x ${}"), vec![(2, "`${}` names no variable".into())]);
        assert_eq!(
            problems("${1A}"),
            vec![(0, "`${1A}`: `1A` is not a variable name (letters, digits and `_`, not starting with a digit, no spaces; write `$${` for a literal `${`, as in a JavaScript template literal)".into())]
        );
        assert_eq!(
            problems("${A.B}")[0].1,
            "`${A.B}`: `A.B` is not a variable name (letters, digits and `_`, not starting with a digit, no spaces; write `$${` for a literal `${`, as in a JavaScript template literal)"
        );
        assert_eq!(problems("${A:?no}"), vec![(0, "`${A:?...}` is not supported: write `${A}`, `${A:-default}` or `${A-default}`".into())]);
        assert_eq!(problems("${A+x}")[0].1, "`${A+...}` is not supported: write `${A}`, `${A:-default}` or `${A-default}`");
        assert_eq!(problems("${A:-x")[0], (0, "`${` is not closed on its line (write `$${` for a literal `${`)".into()));
    }

    #[test]
    fn a_bad_reference_inside_a_default_is_reported_once_where_it_is() {
        assert_eq!(problems("${A:-${ B }}").len(), 1);
        assert_eq!(problems("${A:-${ B }}")[0].0, 5);
        assert_eq!(problems("${A:-${B:-x}")[0], (0, "`${` is not closed on its line (write `$${` for a literal `${`)".into()));
        assert_eq!(problems("${A:-${B")[0].0, 5);
        assert_eq!(problems("${A:-{x}").len(), 1);
    }

    #[test]
    fn comments_are_not_interpolated_but_a_hash_inside_a_string_is_no_comment() {
        let text = "# token = \"${UNSET}\"\na = \"#${HOST}\" # ${UNSET} $$\nb = '#${HOST}'\nc = \"\"\"\n# ${HOST}\n\"\"\"\n";
        assert_eq!(
            interpolate(text, env).as_deref(),
            Ok("# token = \"${UNSET}\"\na = \"#example.org\" # ${UNSET} $$\nb = '#example.org'\nc = \"\"\"\n# example.org\n\"\"\"\n")
        );
        let escaped = "a = \"\\\" # ${HOST}\" # ${UNSET}\nm = '''\n'# ${HOST}\n'''";
        assert_eq!(interpolate(escaped, env).as_deref(), Ok("a = \"\\\" # example.org\" # ${UNSET}\nm = '''\n'# example.org\n'''"));
        assert_eq!(interpolate("a = \"unclosed\n# ${UNSET}", env).as_deref(), Ok("a = \"unclosed\n# ${UNSET}"));
    }

    #[test]
    fn errors_on_several_lines_are_all_reported_and_text_after_them_is_still_read() {
        let found = problems("a = ${ A }\nb = ${B\nc = ${HOST} ${C}\n");
        let offsets: Vec<usize> = found.iter().map(|(offset, _)| *offset).collect();
        assert_eq!(offsets, vec![4, 15, 31]);
    }
}
