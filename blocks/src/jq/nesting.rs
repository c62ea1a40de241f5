//! How deeply a jq program's text nests, measured before jaq sees it.
//!
//! jaq's lexer, parser and compiler recurse once per level of a program's syntax tree, and so
//! do runnel's instrumenting, fast-path translation and both interpreters: a program nested a
//! few thousand levels deep (`[[[…]]]`, `- - - .`, `if . then if . then …`, a chain such as
//! `1 + 1 + …`) would overflow the stack and abort the process. This scan bounds the depth of
//! the tree the text can parse to, without recursing itself, so that such a program is refused
//! with a located error, like jq 1.x's parser refuses one past its stack of 10,000.
//!
//! The bound counts, along the path from the top to each point of the text, every open bracket
//! (`(`, `[`, `{`, and `\(` inside a string) plus every operator and keyword met so far inside
//! each of them: an operator chain parses to a tree as deep as it is long, and an update of a
//! path (`.a.b.c = 1`) recurses once per part. Commas and colons between an object's entries do
//! not nest (jaq keeps the entries in a list). It is an upper bound: real programs stay far
//! below [`MAX_NESTING`].

use super::error::{CompileProblem, Position, ProblemKind};

/// The deepest nesting a program may have, counted as the module docs say.
pub const MAX_NESTING: usize = 1000;

/// The words that open a level of the syntax tree.
const KEYWORDS: [&str; 10] = ["if", "elif", "try", "catch", "reduce", "foreach", "label", "def", "and", "or"];

/// One open bracket: what closes it and what it has seen.
struct Level {
    /// `)`, `]` or `}`; `)` for a string interpolation.
    close: u8,
    /// Whether this level is a `\(...)` inside a string, which resumes the string when closed.
    interpolation: bool,
    /// Operators and keywords met inside it.
    operators: usize,
    /// Parts of the path being read (`.a`, `[0]` after a term), until the next operator.
    path: usize,
}

impl Level {
    fn new(close: u8, interpolation: bool) -> Self {
        Self { close, interpolation, operators: 0, path: 0 }
    }
}

/// The scan's state: the open levels and the depth they add up to.
struct Scan {
    levels: Vec<Level>,
    /// Every level below the top one, plus every level's operators and path parts.
    depth: usize,
    /// Whether the last token ended a term, so that a `[` indexes it rather than opening an array.
    after_term: bool,
}

impl Scan {
    fn top(&mut self) -> &mut Level {
        self.levels.last_mut().unwrap_or_else(|| unreachable!("the outermost level is never closed"))
    }

    fn open(&mut self, close: u8, interpolation: bool) {
        if close == b']' && self.after_term {
            self.path_part();
        }
        self.levels.push(Level::new(close, interpolation));
        self.depth += 1;
        self.after_term = false;
    }

    /// Closes the top level if `close` closes it: whether it was an interpolation.
    fn close(&mut self, close: u8) -> Option<bool> {
        if self.levels.len() < 2 || self.top().close != close {
            // A stray closer is jaq's to report.
            return None;
        }
        let closed = self.levels.pop()?;
        self.depth -= 1 + closed.operators + closed.path;
        self.after_term = true;
        Some(closed.interpolation)
    }

    fn operator(&mut self) {
        let top = self.top();
        let path = std::mem::take(&mut top.path);
        top.operators += 1;
        self.depth = self.depth + 1 - path;
        self.after_term = false;
    }

    /// A `,`, `:` or `;`: ends the path being read, adds no level.
    fn separator(&mut self) {
        let path = std::mem::take(&mut self.top().path);
        self.depth -= path;
        self.after_term = false;
    }

    fn path_part(&mut self) {
        self.top().path += 1;
        self.depth += 1;
    }
}

/// How deep `source` nests at most; `Err` locating the first point nested deeper than
/// [`MAX_NESTING`].
pub(super) fn check(source: &str) -> Result<usize, CompileProblem> {
    let bytes = source.as_bytes();
    let mut scan = Scan { levels: vec![Level::new(0, false)], depth: 0, after_term: false };
    let mut deepest = 0;
    let mut i = 0;
    let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        match c {
            b'#' => i = comment_end(bytes, i),
            b'"' => i = string(&mut scan, bytes, i + 1),
            b'(' => (scan.open(b')', false), i += 1).1,
            b'[' => {
                scan.open(b']', false);
                i += 1;
            }
            b'{' => {
                scan.open(b'}', false);
                i += 1;
            }
            b')' | b']' | b'}' => match scan.close(c) {
                // Back inside the string that holds the interpolation.
                Some(true) => i = string(&mut scan, bytes, i + 1),
                Some(false) | None => i += 1,
            },
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let end = i + bytes[i..].iter().take_while(|b| ident(b) || **b == b':').count();
                let word = source[i..end].trim_end_matches(':');
                if KEYWORDS.contains(&word) {
                    scan.operator();
                } else {
                    scan.after_term = !["then", "else", "as"].contains(&word);
                }
                i = end;
            }
            // Each part of a path such as `.a.b` is a level of an update (`.a.b = 1`).
            b'.' if bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') => {
                scan.path_part();
                scan.after_term = true;
                i += 1 + bytes[i + 1..].iter().take_while(|b| ident(b)).count();
            }
            b'.' => {
                scan.after_term = true;
                i += if bytes.get(i + 1) == Some(&b'.') { 2 } else { 1 };
            }
            // `$x`, `@csv`, numbers: a word's tail does not nest.
            b'$' | b'@' | b'0'..=b'9' => {
                scan.after_term = true;
                i += 1 + bytes[i + 1..].iter().take_while(|b| ident(b) || **b == b'.').count();
            }
            // `x?` keeps reading a path: `.a?.b`.
            b'?' if bytes.get(i + 1) != Some(&b'/') => {
                scan.after_term = true;
                i += 1;
            }
            // Entries of an object are a list; elsewhere `,` is an operator.
            b',' | b':' if scan.top().close == b'}' => {
                scan.separator();
                i += 1;
            }
            b';' | b':' => {
                scan.separator();
                i += 1;
            }
            // One operator, read as jaq's lexer does: `|=` and `//=` are one, `--` two.
            b'|' | b'=' | b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b',' | b'?' => {
                scan.operator();
                let tail = |b: &u8| b"|=!<>+*/%".contains(b);
                i += 1 + if c == b',' { 0 } else { bytes[i + 1..].iter().take_while(|b| tail(b)).count() };
            }
            _ => i += 1,
        }
        if scan.depth > MAX_NESTING {
            return Err(CompileProblem {
                kind: ProblemKind::Syntax,
                position: Position::at(source, start),
                message: format!("program nests deeper than {MAX_NESTING} levels"),
            });
        }
        deepest = deepest.max(scan.depth);
    }
    Ok(deepest)
}

/// Reads a string's text from `from` (just past its opening quote or an interpolation's `)`):
/// where the scan resumes, past the string or inside a `\(` it opens.
fn string(scan: &mut Scan, bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                scan.after_term = true;
                return i + 1;
            }
            b'\\' if bytes.get(i + 1) == Some(&b'(') => {
                scan.after_term = false;
                scan.open(b')', true);
                return i + 2;
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Where a comment starting at `start` ends: past its line, and past every following line
/// while a line ends with an odd number of backslashes, as jaq's lexer reads comments.
fn comment_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    loop {
        let line_end = bytes[i..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |n| i + n);
        let line = &bytes[i..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let backslashes = line.iter().rev().take_while(|b| **b == b'\\').count();
        i = (line_end + 1).min(bytes.len());
        if backslashes % 2 == 0 || i >= bytes.len() {
            return i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(source: &str) -> bool {
        check(source).is_ok()
    }

    #[test]
    fn real_programs_are_far_below_the_limit() {
        assert_eq!(check("[.a, (.b | -.c)]"), Ok(6));
        for source in [
            ".",
            "{user: .user, text: (.text | ascii_downcase), n: (.items | length)}",
            "def f: if . > 1 then . - 1 | f else . end; f",
            "reduce .[] as $x (0; . + $x)",
            "\"\\(.a) and \\(.b | \"\\(.c)\")\" # a comment with ((((",
            ".a.b.c[0][1:2]?",
        ] {
            assert!(depth_ok(source), "{source}");
        }
    }

    #[test]
    fn an_object_of_many_entries_is_flat() {
        let entries: Vec<String> = (0..5000).map(|i| format!("k{i}: .v{i}")).collect();
        assert!(depth_ok(&format!("{{{}}}", entries.join(", "))));
    }

    #[test]
    fn every_kind_of_nesting_counts() {
        let n = MAX_NESTING + 1;
        for source in [
            format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            format!("{}.", "- ".repeat(n)),
            format!("{}.{}", "if . then ".repeat(n), " end".repeat(n)),
            format!("1{}", " + 1".repeat(n)),
            format!(".{}", " | .".repeat(n)),
            format!("[1{}]", ", 1".repeat(n)),
            format!("{}1{}", "\"\\(".repeat(n), ")\"".repeat(n)),
            format!("{}.{}", "{a: ".repeat(n), "}".repeat(n)),
            format!("{}.", "try ".repeat(n)),
            format!("{}1", "def f: ".repeat(n)),
        ] {
            assert!(!depth_ok(&source), "{}…", &source[..40]);
        }
    }

    #[test]
    fn the_error_locates_where_the_limit_is_passed() {
        let source = format!("# nested\n{}1{}", "[".repeat(MAX_NESTING + 5), "]".repeat(MAX_NESTING + 5));
        let problem = check(&source).expect_err("too deep");
        assert_eq!(problem.position, Position { line: 2, column: MAX_NESTING + 1 });
        assert_eq!(problem.message, "program nests deeper than 1000 levels");
    }

    #[test]
    fn a_comment_continued_by_a_backslash_hides_its_next_line() {
        let hidden = "[".repeat(MAX_NESTING + 1);
        assert!(depth_ok(&format!("# a comment \\\n{hidden}\n.")));
        assert!(!depth_ok(&format!("# a comment \\\\\n{hidden}\n.")));
    }
}
