//! [`JqError`]: what can go wrong compiling or running a jq program, with positions inside the
//! program for compile errors.

use std::fmt;
use std::ops::Range;

use jaq_core::Exn;
use jaq_core::compile::{self, Undefined};
use jaq_core::load::{self, lex};
use jaq_json::Val;

/// Why a jq program could not be compiled or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JqError {
    /// The program has syntax errors, undefined names or imports.
    #[error("{}", compile_message(program, problems))]
    Compile {
        /// The program's text.
        program: String,
        /// Every problem found, in the order jaq reported them.
        problems: Vec<CompileProblem>,
    },
    /// The program raised an error while running: `error(...)`, a type error such as adding a
    /// number to a string, indexing a non-object.
    #[error("jq error: {message}")]
    Runtime {
        /// jq's message: the error's string, or the error value as JSON followed by
        /// `(not a string)`, as jq prints it.
        message: String,
    },
    /// The program called `halt` or `halt_error`.
    #[error("jq program called halt with exit code {code}")]
    Halted {
        /// The exit code it asked for.
        code: i32,
    },
    /// The program's output nests arrays and objects deeper than allowed.
    #[error("jq program's output is nested deeper than {limit} levels")]
    TooDeep {
        /// The limit, [`super::convert::MAX_DEPTH`].
        limit: usize,
    },
    /// The program overran its [`super::Limits`]: it ran too long, held too much memory or
    /// recursed too deep.
    #[error("jq program {0}")]
    OverBudget(super::Exceeded),
    /// jaq failed inside (a bug in jaq, such as an overflow in its time functions on a date
    /// millions of years away). The message fails; the block goes on.
    #[error("jq failed inside jaq: {message}")]
    Internal {
        /// jaq's panic message.
        message: String,
    },
    /// The program produced more outputs than allowed for one input.
    #[error("jq program produced more than {limit} outputs")]
    TooManyOutputs {
        /// The limit: [`super::MAX_OUTPUTS`], or 1 for [`super::JqProgram::run_in_place`].
        limit: usize,
    },
}

/// One problem found while compiling a jq program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileProblem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Where in the program.
    pub position: Position,
    /// What is wrong, without the position.
    pub message: String,
}

/// The kinds of [`CompileProblem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The program does not lex or parse.
    Syntax,
    /// The program uses a filter, variable or label that is not defined.
    Undefined,
    /// The program imports or includes a module; runnel does not load modules.
    Import,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "syntax error",
            Self::Undefined => "name error",
            Self::Import => "import error",
        })
    }
}

/// A position inside a jq program, as the pipeline file's diagnostics count: both 1-based,
/// columns in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`.
    pub(super) fn at(text: &str, offset: usize) -> Self {
        let before = text.get(..offset).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Self { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
    }

    /// "column 9" in a one-line program, "line 2, column 9" otherwise.
    fn describe(self, program: &str) -> String {
        if program.contains('\n') { format!("line {}, column {}", self.line, self.column) } else { format!("column {}", self.column) }
    }
}

/// Programs up to this long are quoted in full in error messages; longer or multi-line ones are
/// located by line and column only, so the message stays one readable line.
const QUOTE_LIMIT: usize = 80;

fn compile_message(program: &str, problems: &[CompileProblem]) -> String {
    let quoted = !program.contains('\n') && program.chars().count() <= QUOTE_LIMIT;
    let mut message = String::new();
    for (i, problem) in problems.iter().enumerate() {
        let at = problem.position.describe(program);
        let (kind, text) = (problem.kind, &problem.message);
        message += &match i {
            0 if quoted => format!("jq {kind} at {at} of `{program}`: {text}"),
            0 => format!("jq {kind} at {at}: {text}"),
            _ => format!("; {kind} at {at}: {text}"),
        };
    }
    message
}

impl JqError {
    /// Turns a jaq exception into an error. Never call `jaq_core::unwrap_valr` instead: on
    /// `halt` it exits the process.
    pub(super) fn from_exception(exception: Exn<'_, Val>) -> Self {
        let exception = match exception.get_err() {
            Ok(error) => return Self::Runtime { message: runtime_message(error.into_val()) },
            Err(exception) => exception,
        };
        match exception.get_halt() {
            Ok(code) => Self::Halted { code },
            // jaq's own control flow (tail calls, `break`) never escapes a filter; if it did,
            // that is jaq's bug, reported rather than panicked on.
            Err(internal) => Self::Runtime { message: format!("internal jaq exception: {internal:?}") },
        }
    }
}

/// jq prints string errors as they are and other error values as JSON.
fn runtime_message(value: Val) -> String {
    match value {
        Val::TStr(text) => String::from_utf8_lossy(&text).into_owned(),
        other => format!("{other} (not a string)"),
    }
}

/// The byte range of `part` in `whole`, if `part` is a slice of it. jaq reports problems as
/// slices of the text it read, which may in principle be its own definitions rather than ours.
fn span_in(whole: &str, part: &str) -> Option<Range<usize>> {
    let (start, end) = (whole.as_ptr() as usize, whole.as_ptr() as usize + whole.len());
    let part_start = part.as_ptr() as usize;
    (part_start >= start && part_start + part.len() <= end).then(|| load::span(whole, part))
}

fn problem(kind: ProblemKind, program: &str, offset: usize, message: String) -> CompileProblem {
    CompileProblem { kind, position: Position::at(program, offset), message }
}

pub(super) fn load_problems(program: &str, errors: load::Errors<&str, ()>) -> Vec<CompileProblem> {
    let mut problems = Vec::new();
    for (_file, error) in errors {
        match error {
            load::Error::Io(imports) => problems.extend(imports.into_iter().map(|(path, why)| {
                let offset = span_in(program, path).map_or(0, |span| span.start);
                problem(ProblemKind::Import, program, offset, format!("cannot import `{path}`: {why}"))
            })),
            load::Error::Lex(lex_errors) => {
                problems.extend(lex_errors.into_iter().map(|(expected, rest)| lex_problem(program, &expected, rest)));
            }
            load::Error::Parse(parse_errors) => problems.extend(parse_errors.into_iter().map(|(expected, token)| {
                let offset = span_in(program, token).map_or(program.len(), |span| span.start);
                let found = if token.is_empty() { "unexpected end of input".to_owned() } else { format!("unexpected token `{token}`") };
                problem(ProblemKind::Syntax, program, offset, format!("expected {}, {found}", expected.as_str()))
            })),
        }
    }
    problems
}

/// A lexer error; `rest` is the program from the offending character on.
fn lex_problem(program: &str, expected: &lex::Expect<&str>, rest: &str) -> CompileProblem {
    let offset = span_in(program, rest).map_or(program.len(), |span| span.start);
    let mut message = format!("expected {}, ", expected.as_str());
    match rest.chars().next() {
        None => message += "unexpected end of input",
        Some(found) => message += &format!("unexpected character {found:?}"),
    }
    if let lex::Expect::Delim(open) = expected {
        if let Some(span) = span_in(program, open) {
            let opened = Position::at(program, span.start).describe(program);
            message += &format!(" (`{open}` opened at {opened})");
        }
    }
    problem(ProblemKind::Syntax, program, offset, message)
}

pub(super) fn compile_problems(program: &str, errors: compile::Errors<&str, ()>) -> Vec<CompileProblem> {
    let undefined = errors.into_iter().flat_map(|(_file, names)| names);
    undefined
        .map(|(name, what)| {
            let offset = span_in(program, name).map_or(0, |span| span.start);
            let message = match what {
                Undefined::Filter(arity) => format!("undefined filter {name}/{arity}"),
                other => format!("undefined {} {name}", other.as_str()),
            };
            problem(ProblemKind::Undefined, program, offset, message)
        })
        .collect()
}
