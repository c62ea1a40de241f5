//! jq programs, compiled once with [jaq](https://github.com/01mf02/jaq) and run on message values.
//!
//! A [`JqProgram`] is parsed and compiled when the configuration is deserialised, so a syntax
//! error is reported with the pipeline file's other problems, located inside the expression.
//! The compiled filter is shared behind an [`Arc`]; running it converts the message's JSON value
//! into jaq's own value type and back (module `convert`), since jaq values cannot cross threads.
//!
//! Converting costs several microseconds on a small message, more than the rest of a simple
//! pipeline. So programs in a common single-output subset of jq (paths, literals, comparisons,
//! arithmetic, `length`, `select`, `if`, object and array construction, assignments) are also
//! translated into a native form that runs directly on the JSON value (module `fast`), with the
//! same results and error messages; everything else runs on jaq.

mod budget;
mod convert;
pub use convert::MAX_DEPTH;
mod error;
mod fast;
mod instrument;
mod natives;
mod nesting;
pub use nesting::MAX_NESTING;
mod program_config;
mod repeat;
mod rewrite;
#[cfg(test)]
mod suite;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Lexer, Loader, Parser};
use jaq_core::{Compiler, Ctx, ValT, Vars, data::JustLut};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::Value;

pub use budget::{Exceeded, Limits, MAX_VALUE_DEPTH};
pub use error::{CompileProblem, JqError, Position, ProblemKind};

/// What jaq calls the data a filter runs with: here only jaq's values and its lookup table
/// (no `input`/`inputs`, which would need a stream of further inputs).
type Data = JustLut<Val>;

/// How many outputs one run may produce before it fails with [`JqError::TooManyOutputs`].
///
/// One message becomes at most this many (`map` emits one message per output), and a whole
/// input batch is sent on as one batch, so this bounds what one batch can grow to:
/// 128 messages × 10,000 outputs. It also stops generators such as `repeat(1)` early.
pub const MAX_OUTPUTS: usize = 10_000;

/// The stack jaq compiles a program on: [`MAX_NESTING`] levels of its deepest construct need
/// about a quarter of it in a debug build.
const COMPILE_STACK: usize = 64 * 1024 * 1024;

/// Programs nesting up to this deep run on the caller's stack as it is.
const SHALLOW: usize = 64;

/// The stack one level of a program's nesting may take while it runs, in a debug build.
const STACK_PER_LEVEL: usize = 16 * 1024;

/// A jq program, compiled once and cheap to clone.
///
/// Each evaluation (one message) runs within [`Limits`]: a program that loops, grows without
/// bound or recurses too deep fails its message with [`JqError::OverBudget`] instead of stalling
/// or aborting the process.
///
/// It deserialises from a string, or from a table `{ source = "...", timeout_ms = 1000,
/// max_memory_mb = 64 }` to change the limits, so a configuration field can hold one:
///
/// ```
/// # use runnel_blocks::JqProgram;
/// # use serde_json::json;
/// let program = JqProgram::new(".items[] | {id: .}")?;
/// assert_eq!(program.run(&json!({"items": [1, 2]}))?, vec![json!({"id": 1}), json!({"id": 2})]);
///
/// let error = JqProgram::new(".kind ==").unwrap_err();
/// assert_eq!(error.to_string(), "jq syntax error at column 9 of `.kind ==`: expected term, unexpected end of input");
/// # Ok::<(), runnel_blocks::JqError>(())
/// ```
#[derive(Clone)]
pub struct JqProgram {
    source: Arc<str>,
    /// The program instrumented with the budget's checkpoints (module `instrument`).
    filter: Arc<jaq_core::Filter<Data>>,
    limits: Limits,
    /// The same program for the native fast path, when it is in the subset that has one.
    fast: Option<Arc<fast::FastProgram>>,
    /// How deep the program's text nests ([`nesting::check`]): the interpreters recurse as deep.
    nesting: usize,
}

impl JqProgram {
    /// Parses and compiles `source` with jq's standard library (jaq's `core`, `std` and `json`
    /// definitions). Compiling takes about a millisecond, so do it once.
    ///
    /// # Errors
    /// [`JqError::Compile`] listing every syntax error, undefined name and failed import, each
    /// with its line and column in `source`.
    pub fn new(source: impl Into<Arc<str>>) -> Result<Self, JqError> {
        let source = source.into();
        let nesting = nesting::check(&source).map_err(|problem| JqError::Compile { program: source.to_string(), problems: vec![problem] })?;
        // jaq and the translations recurse once per level of the program: on a stack of their
        // own, a program at the nesting limit compiles on any thread.
        stacker::grow(COMPILE_STACK, || {
            // jq syntax jaq does not read is rewritten (module `rewrite`) only when the program
            // does not compile as it is; its errors are reported on the original text.
            let (filter, text) = match compile(&source) {
                Ok(filter) => (filter, Cow::Borrowed(&*source)),
                Err(problems) => match rewrite::rewrite(&source).and_then(|text| Some((compile(&text).ok()?, text))) {
                    Some((filter, text)) => (filter, Cow::Owned(text)),
                    None => return Err(JqError::Compile { program: source.to_string(), problems }),
                },
            };
            let filter = compile_instrumented(&text).unwrap_or_else(|| {
                tracing::warn!(program = %source, "jq program could not be instrumented for its time and memory budget; it runs without");
                filter
            });
            let fast = fast::FastProgram::translate(&text).map(Arc::new);
            Ok(Self { source: source.clone(), filter: Arc::new(filter), limits: Limits::default(), fast, nesting })
        })
    }

    /// The same program without the budget's checkpoints: for the benchmark measuring their cost.
    #[doc(hidden)]
    pub fn without_budget(source: &str) -> Result<Self, JqError> {
        let nesting = nesting::check(source).map_err(|problem| JqError::Compile { program: source.to_string(), problems: vec![problem] })?;
        let filter = compile(source).map_err(|problems| JqError::Compile { program: source.to_string(), problems })?;
        Ok(Self { source: source.into(), filter: Arc::new(filter), limits: Limits::default(), fast: None, nesting })
    }

    /// The same program with other limits for each evaluation.
    #[must_use]
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// The limits of each evaluation.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The same program, always run on jaq: for benchmarks and tests comparing both paths.
    #[doc(hidden)]
    pub fn without_fast_path(self) -> Self {
        Self { fast: None, ..self }
    }

    /// Whether the program has a native fast path (see the module docs).
    #[doc(hidden)]
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Whether the program is known to have at most one output on any input: the programs of
    /// the fast path (module docs). Those run best with [`JqProgram::run_in_place`].
    pub fn single_output(&self) -> bool {
        self.fast.is_some()
    }

    /// The program's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the program on `input` and collects every output.
    ///
    /// # Errors
    /// [`JqError::Runtime`] when the program raises an error (outputs before it are discarded),
    /// [`JqError::Halted`] when it calls `halt`, [`JqError::TooManyOutputs`] past [`MAX_OUTPUTS`].
    pub fn run(&self, input: &Value) -> Result<Vec<Value>, JqError> {
        if let Some(output) = self.run_fast(input) {
            return output.map(|value| value.map(Cow::into_owned).into_iter().collect());
        }
        let mut values = Vec::new();
        self.each_output(input, |output| {
            if values.len() == MAX_OUTPUTS {
                return Err(JqError::TooManyOutputs { limit: MAX_OUTPUTS });
            }
            values.push(convert::from_val(&output?).map_err(|_| JqError::TooDeep { limit: convert::MAX_DEPTH })?);
            Ok(true)
        })?;
        Ok(values)
    }

    /// Runs the program on `value` and leaves its output there: `Ok(true)` when it has one,
    /// `Ok(false)` when it has none. Assignments such as `.len = (.text | length)` change
    /// `value` in place, where [`JqProgram::run`] copies it first.
    ///
    /// ```
    /// # use runnel_blocks::JqProgram;
    /// # use serde_json::json;
    /// let program = JqProgram::new(".len = (.text | length)")?;
    /// let mut value = json!({"text": "héllo"});
    /// assert!(program.run_in_place(&mut value)?);
    /// assert_eq!(value, json!({"text": "héllo", "len": 5}));
    /// # Ok::<(), runnel_blocks::JqError>(())
    /// ```
    ///
    /// # Errors
    /// As [`JqProgram::run`], and [`JqError::TooManyOutputs`] (with a limit of 1) when the
    /// program has several outputs (see [`JqProgram::single_output`]). `value` is unchanged
    /// unless this returns `Ok(true)`.
    pub fn run_in_place(&self, value: &mut Value) -> Result<bool, JqError> {
        if let Some(fast) = &self.fast {
            match self.stacked(|| fast.run_in_place(value)) {
                Ok(output) => return Ok(output),
                Err(fast::Stop::Error(message)) => return Err(JqError::Runtime { message }),
                Err(fast::Stop::Fallback) => {}
            }
        }
        let mut outputs = Vec::with_capacity(1);
        self.each_output(value, |output| {
            if !outputs.is_empty() {
                return Err(JqError::TooManyOutputs { limit: 1 });
            }
            outputs.push(convert::from_val(&output?).map_err(|_| JqError::TooDeep { limit: convert::MAX_DEPTH })?);
            Ok(true)
        })?;
        match outputs.pop() {
            Some(output) => {
                *value = output;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether the program's first output on `input` is truthy (neither `false` nor `null`);
    /// `false` when it has no output. Later outputs are not computed, as in jq's `first(f)`,
    /// and nothing is converted back to JSON.
    ///
    /// # Errors
    /// As [`JqProgram::run`], for errors raised before the first output.
    pub fn run_bool(&self, input: &Value) -> Result<bool, JqError> {
        if let Some(fast) = &self.fast {
            match self.stacked(|| fast.run_bool(input)) {
                Ok(truthy) => return Ok(truthy.unwrap_or(false)),
                Err(fast::Stop::Error(message)) => return Err(JqError::Runtime { message }),
                Err(fast::Stop::Fallback) => {}
            }
        }
        let mut truthy = false;
        self.each_output(input, |output| {
            truthy = output?.as_bool();
            Ok(false)
        })?;
        Ok(truthy)
    }

    /// The program's first output on `input`, if any (later outputs are not computed): for keys
    /// and fields read by stateful blocks.
    ///
    /// # Errors
    /// As [`JqProgram::run`], for errors raised before the first output.
    pub fn run_first(&self, input: &Value) -> Result<Option<Value>, JqError> {
        if let Some(output) = self.run_fast(input) {
            return output.map(|value| value.map(Cow::into_owned));
        }
        let mut first = None;
        self.each_output(input, |output| {
            first = Some(convert::from_val(&output?).map_err(|_| JqError::TooDeep { limit: convert::MAX_DEPTH })?);
            Ok(false)
        })?;
        Ok(first)
    }

    /// As [`JqProgram::run_first`], borrowing the output from `input` (or the program) when the
    /// fast path can: a path such as `.room` costs no copy.
    ///
    /// # Errors
    /// As [`JqProgram::run_first`].
    pub fn run_first_ref<'a>(&'a self, input: &'a Value) -> Result<Option<Cow<'a, Value>>, JqError> {
        match self.run_fast(input) {
            Some(output) => output,
            None => self.run_first(input).map(|value| value.map(Cow::Owned)),
        }
    }

    /// The output of a program that reads its input or a constant (`.`, `.room`, `.a.b`, a
    /// literal) as a plain reference, without the general machinery: small results move faster
    /// than a `Cow` of a value through layers of `Result` and `Option`. `None` for any other
    /// program, or an input that needs jaq; `Some(Ok(None))` when there is no output.
    ///
    /// # Errors
    /// As [`JqProgram::run_first`].
    pub fn run_ref<'a>(&'a self, input: &'a Value) -> Option<Result<Option<&'a Value>, JqError>> {
        match self.stacked(|| self.fast.as_ref()?.borrow(input))? {
            Ok(output) => Some(Ok(output)),
            Err(fast::Stop::Error(message)) => Some(Err(JqError::Runtime { message })),
            Err(fast::Stop::Fallback) => None,
        }
    }

    /// The program's output on the fast path, or `None` when it has none or this input needs jaq.
    fn run_fast<'a>(&'a self, input: &'a Value) -> Option<Result<Option<Cow<'a, Value>>, JqError>> {
        let fast = self.fast.as_ref()?;
        match self.stacked(|| fast.run(input)) {
            Ok(output) => Some(Ok(output)),
            Err(fast::Stop::Error(message)) => Some(Err(JqError::Runtime { message })),
            Err(fast::Stop::Fallback) => None,
        }
    }

    /// Feeds each output to `f` until it returns `Ok(false)` or an error. jaq's values and context
    /// are not `Send`, so they live only inside this call.
    /// The evaluation runs within the program's [`Limits`].
    fn each_output(&self, input: &Value, mut f: impl FnMut(Result<Val, JqError>) -> Result<bool, JqError>) -> Result<(), JqError> {
        self.stacked(|| {
            budget::within(self.limits, || {
                let ctx = Ctx::<Data>::new(&self.filter.lut, globals());
                for output in self.filter.id.run((ctx, convert::to_val(input))) {
                    if !f(output.map_err(JqError::from_exception))? {
                        break;
                    }
                }
                Ok(())
            })
        })
        .unwrap_or_else(|stopped| match stopped {
            budget::Stopped::Over(exceeded) => Err(JqError::OverBudget(exceeded)),
            budget::Stopped::Panicked(message) => Err(JqError::Internal { message }),
        })
    }

    /// Runs `evaluate`, which recurses as deep as the program nests, on a stack with room for
    /// it: a program nested deeper than most runs on a stack of its own when the thread's is
    /// short, so that even one at [`MAX_NESTING`] runs on a 2 MiB tokio worker.
    fn stacked<T>(&self, evaluate: impl FnOnce() -> T) -> T {
        if self.nesting <= SHALLOW {
            return evaluate();
        }
        let needed = budget::STACK_RESERVE + self.nesting * STACK_PER_LEVEL;
        stacker::maybe_grow(needed, needed * 2, evaluate)
    }
}

impl fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JqProgram").field(&self.source).finish()
    }
}

impl fmt::Display for JqProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for JqProgram {
    /// Programs are equal when their texts are.
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for JqProgram {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(program_config::ProgramVisitor)
    }
}

impl TryFrom<String> for JqProgram {
    type Error = JqError;

    fn try_from(source: String) -> Result<Self, JqError> {
        Self::new(source)
    }
}

impl FromStr for JqProgram {
    type Err = JqError;

    fn from_str(source: &str) -> Result<Self, JqError> {
        Self::new(source)
    }
}

/// Loads `source` with jq's library (module `natives`: jaq's definitions and runnel's prelude)
/// and compiles it with its native filters. jaq reports problems as slices of `source`, which
/// [`error`] turns into positions.
fn compile(source: &str) -> Result<jaq_core::Filter<Data>, Vec<CompileProblem>> {
    // The arena holds the text of imported modules; the default loader imports none.
    let arena = Arena::default();
    let modules =
        Loader::new(natives::defs()).load(&arena, File { code: source, path: () }).map_err(|errors| error::load_problems(source, errors))?;
    compiler().compile(modules).map_err(|errors| error::compile_problems(source, errors))
}

/// A compiler with the library's natives and its global variables ([`GLOBALS`]).
fn compiler<'s>() -> Compiler<&'s str, Data> {
    let funs = natives::funs().into_iter().chain([budget::tick(), repeat::mul()]);
    Compiler::default().with_funs(funs).with_global_vars(GLOBALS)
}

/// The global variables of every program, bound by [`globals`].
const GLOBALS: [&str; 1] = ["$ENV"];

/// The values of [`GLOBALS`]: `$ENV` is the process's environment, read once per thread.
fn globals() -> Vars<Val> {
    thread_local! {
        static ENV: Val = Val::obj(std::env::vars().map(|(k, v)| (Val::utf8_str(k.into_bytes()), Val::utf8_str(v.into_bytes()))).collect());
    }
    Vars::new([ENV.with(Val::clone)])
}

/// `source`, which [`compile`] accepted, instrumented with the budget's checkpoints: parsed here,
/// its body made a definition of the prelude, which the loaded program calls (see module
/// `instrument`). `None` if that fails, which it should not for a program [`compile`] accepted.
fn compile_instrumented(source: &str) -> Option<jaq_core::Filter<Data>> {
    let tokens = Lexer::new(source).lex().ok()?;
    let main = Parser::new(&tokens).parse(Parser::term).ok()?;
    let names = natives::funs().iter().filter(|(_, args, _)| !args.is_empty()).map(|(name, _, _)| *name).collect();
    let natives = instrument::Natives { names, jq_arithmetic: true };
    let defs = instrument::instrument(natives::jaq_defs(), natives::prelude_defs(), main, &natives);
    let arena = Arena::default();
    let modules = Loader::new(defs).load(&arena, File { code: instrument::MAIN, path: () }).ok()?;
    compiler().compile(modules).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    /// Programs nested [`MAX_NESTING`] levels deep, one for each way of nesting.
    fn nested_at_the_limit() -> Vec<String> {
        let n = MAX_NESTING / 2 - 1;
        let m = MAX_NESTING - 1;
        vec![
            format!("{}1{}", "[".repeat(m), "]".repeat(m)),
            format!("{}1{}", "(".repeat(m), ")".repeat(m)),
            format!("{}.", "- ".repeat(m)),
            format!("{}.{}", "if . then ".repeat(m), " end".repeat(m)),
            format!("1{}", " + 1".repeat(m)),
            format!(".{}", " | .".repeat(m)),
            format!("[1{}]", ", 1".repeat(m - 1)),
            format!("{}1{}", "\"\\(".repeat(m), ")\"".repeat(m)),
            format!("{}.{}", "{a: ".repeat(m), "}".repeat(m)),
            format!("{}.", "try ".repeat(m)),
            format!("{}1{}", "def f: ".repeat(m), "; f".repeat(m)),
            format!("{}.{}", "reduce . as $x (.; ".repeat(n), ")".repeat(n)),
            format!("{}.{}", "first(".repeat(m), ")".repeat(m)),
            format!(". as $x {}| $x", "| . as $x ".repeat(n)),
            format!("{}.", "label $f | ".repeat(n)),
            format!("{}.{}", "{a: ".repeat(m), "}".repeat(m)) + " | .a",
            format!(".a{}", " |= .".repeat(m)),
            format!("{} = 1", ".a".repeat(m)),
            format!(".{} |= 1", "[0]".repeat(m)),
            format!("{} |= 1", ".a?".repeat(m / 2)),
        ]
    }

    /// On a 2 MiB thread, such as a tokio worker, evaluation moves to a stack of its own; on
    /// one just as big as [`JqProgram::stacked`] asks for, it stays, which checks that
    /// [`STACK_PER_LEVEL`] is enough.
    #[test]
    fn a_program_nested_to_the_limit_compiles_and_runs_on_any_stack() {
        let just_enough = budget::STACK_RESERVE + MAX_NESTING * STACK_PER_LEVEL + 256 * 1024;
        for stack in [2 * 1024 * 1024, just_enough] {
            for source in nested_at_the_limit() {
                let thread = std::thread::Builder::new().stack_size(stack);
                let outcome = thread
                    .spawn(move || {
                        let program = JqProgram::new(source.as_str()).unwrap_or_else(|e| panic!("{}…: {e}", &source[..30]));
                        let outputs = program.run(&json!(null));
                        assert!(!matches!(outputs, Err(JqError::OverBudget(_))), "{}…: {outputs:?}", &source[..30]);
                    })
                    .expect("spawns")
                    .join();
                assert!(outcome.is_ok());
            }
        }
    }

    #[test]
    fn a_program_nested_past_the_limit_is_refused_where_it_passes_it() {
        let source = format!("{}1{}", "[".repeat(MAX_NESTING * 10), "]".repeat(MAX_NESTING * 10));
        let error = JqProgram::new(source.as_str()).expect_err("too deep");
        assert_eq!(error.to_string(), "jq syntax error at column 1001: program nests deeper than 1000 levels");
        for source in [format!("{} = 1", ".a".repeat(5000)), format!(".{} |= 1", "[0]".repeat(5000))] {
            let error = JqProgram::new(source.as_str()).expect_err("too deep");
            assert!(error.to_string().ends_with("program nests deeper than 1000 levels"), "{error}");
        }
    }

    #[test]
    fn an_output_nested_too_deep_fails_the_message_instead_of_the_process() {
        for source in ["reduce range(5000) as $i (.; {a: .})", "[limit(3000; repeat(.))] | reduce .[] as $x (null; [.])"] {
            let program = JqProgram::new(source).expect("compiles");
            // On a test thread's small stack, the value is refused as it is built; on a
            // worker's, as it is converted.
            let too_deep = |error: &JqError| matches!(error, JqError::TooDeep { limit: MAX_DEPTH } | JqError::OverBudget(Exceeded::Depth(_)));
            assert!(program.run(&json!(1)).is_err_and(|e| too_deep(&e)), "{source}");
            let mut value = json!(1);
            assert!(program.run_in_place(&mut value).is_err_and(|e| too_deep(&e)), "{source}");
        }
        let shallow = JqProgram::new("reduce range(255) as $i (.; [.])").expect("compiles");
        assert_eq!(shallow.run(&json!(1)).expect("within the limit").len(), 1);
    }

    fn over_budget(source: &str, limits: Limits) -> Exceeded {
        let program = JqProgram::new(source).expect("compiles").with_limits(limits);
        match program.run(&json!({"a": 1})) {
            Err(JqError::OverBudget(exceeded)) => exceeded,
            other => panic!("`{source}` should overrun its budget, got {other:?}"),
        }
    }

    const SHORT: Limits = Limits { time: Duration::from_millis(50), memory: 64 * 1024 * 1024 };

    #[test]
    fn string_repetition_past_what_memory_can_address_is_jqs_error() {
        let program = JqProgram::new(".text * .n").expect("compiles");
        let error = program.run(&json!({"text": "ab", "n": 9_223_372_036_854_775_807_i64})).expect_err("too long");
        assert_eq!(error.to_string(), "jq error: Repeat string result too long");
        let caught = JqProgram::new("try (.text * 1000000000000000000000000000000) catch .").expect("compiles");
        assert_eq!(caught.run(&json!({"text": "ab"})).expect("caught"), vec![json!("Repeat string result too long")]);
    }

    /// jaq-std 3.0 turns seconds into microseconds with an overflowing multiplication, which
    /// panics in a debug build (and gives a wrong date in a release build).
    #[cfg(debug_assertions)]
    #[test]
    fn a_panic_inside_jaq_fails_the_message_not_the_block() {
        let program = JqProgram::new(".t | gmtime").expect("compiles");
        let error = program.run(&json!({"t": 9_223_372_036_854_775_807_i64})).expect_err("jaq overflows");
        assert!(matches!(error, JqError::Internal { .. }), "{error:?}");
        assert!(error.to_string().starts_with("jq failed inside jaq: "), "{error}");
        assert_eq!(program.run(&json!({"t": 0})).expect("still runs"), vec![json!([1970, 0, 1, 0, 0, 0, 4, 0])]);
    }

    #[test]
    fn multiplication_keeps_jaqs_results() {
        for source in
            ["(.a, .b) * (.c, .d)", "\"ab\" * 3", "{a: {b: 1}} * {a: {c: 2}}", "{a: 3} | .a *= (2, 4) | .a", "{a: \"x\"} | .a *= 2", "[1] * 2"]
        {
            let instrumented = JqProgram::new(source).expect("compiles").without_fast_path();
            let plain = JqProgram::without_budget(source).expect("compiles");
            assert_eq!(instrumented.run(&json!(null)), plain.run(&json!(null)), "{source}");
        }
    }

    /// With several outputs on both sides, `*`, `/` and `%` vary the right side slowest, as
    /// jq does; jaq varies the left side slowest.
    #[test]
    fn arithmetic_pairs_outputs_in_jqs_order() {
        let run = |source: &str| JqProgram::new(source).expect("compiles").run(&json!({"a": 3, "b": 4})).expect("runs");
        assert_eq!(run("[(1, 2) * (10, 100)]"), vec![json!([10, 20, 100, 200])]);
        assert_eq!(run("[(.a, .b) / (8, 16)]"), vec![json!([0.375, 0.5, 0.1875, 0.25])]);
        assert_eq!(run("[(7, 8) % (.a, .b)]"), vec![json!([1, 2, 3, 0])]);
        assert_eq!(run("[(1, 2) - (10, 20)]"), vec![json!([-9, -19, -8, -18])], "`-` keeps jaq's order");
        let plain = JqProgram::without_budget("[(1, 2) * (10, 100)]").expect("compiles");
        assert_eq!(plain.run(&json!(null)).expect("runs"), vec![json!([10, 100, 20, 200])], "jaq's own order differs");
    }

    /// Where jq 1.8 and jaq disagree on `*`, `/` and `%`, runnel follows jq.
    #[test]
    fn arithmetic_follows_jq_where_jaq_differs() {
        let run = |source: &str| JqProgram::new(source).expect("compiles").run(&json!(null)).map_err(|e| e.to_string());
        assert_eq!(run("[\"ab\" * (0, 1.9, -1, nan)]"), Ok(vec![json!(["", "ab", null, null])]));
        assert_eq!(run("[5.5 % 2, -7 % 2.9, infinite % 3]"), Ok(vec![json!([1, -1, 1])]));
        assert_eq!(run("try (4 / 0) catch ."), Ok(vec![json!("number (4) and number (0) cannot be divided because the divisor is zero")]));
        assert_eq!(
            run("try (4 % 0.4) catch ."),
            Ok(vec![json!("number (4) and number (0.4) cannot be divided (remainder) because the divisor is zero")])
        );
        assert_eq!(run("try (\"x\" * 3000000000) catch ."), Ok(vec![json!("Repeat string result too long")]));
        assert_eq!(run("[nan, infinite] | map(isnan)"), Ok(vec![json!([true, false])]), "jaq's own definitions keep its arithmetic");
        assert_eq!(run("\"a,b\" / \",\""), Ok(vec![json!(["a", "b"])]));
    }

    #[test]
    fn a_program_that_never_ends_fails_its_message_at_the_time_budget() {
        for source in [
            "until(false; .)",
            "def f: f; f",
            "def f: def g: f; g; f",
            "reduce range(1e15) as $i (0; . + $i)",
            "last(range(1e15))",
            "[limit(5; repeat(1) | select(false))]",
            "try until(false; .) catch \"caught\"",
            "label $out | repeat(.) | if false then break $out else empty end",
            "{a: (def loop: loop; loop)}",
            "\"\\(until(false; .))\"",
        ] {
            let started = std::time::Instant::now();
            assert_eq!(over_budget(source, SHORT), Exceeded::Time(SHORT.time), "{source}");
            assert!(started.elapsed() < Duration::from_secs(5), "`{source}` took {:?}", started.elapsed());
        }
    }

    #[test]
    fn a_program_that_grows_without_bound_fails_its_message_at_the_memory_budget() {
        let roomy = Limits { time: Duration::from_secs(60), memory: 16 * 1024 * 1024 };
        for source in ["[range(1e9)]", "[repeat(\"abcdefgh\")]", "reduce range(1e9) as $i ([]; . + [$i])", "[range(1e9) | tostring]"] {
            assert_eq!(over_budget(source, roomy), Exceeded::Memory(roomy.memory), "{source}");
        }
        for source in ["\"ab\" * 10000000", "\"ab\" * 1000000000", "{s: \"ab\"} | .s *= 1000000000", "10000000 * \"ab\""] {
            assert_eq!(over_budget(source, roomy), Exceeded::Memory(roomy.memory), "{source}");
        }
        let error = JqError::OverBudget(Exceeded::Memory(roomy.memory));
        assert_eq!(error.to_string(), "jq program allocated more than its memory budget of 16 MiB");
    }

    /// A value nested far deeper than jq's 10,000 levels fails its message: jaq would overflow the
    /// stack printing, comparing or freeing it.
    #[test]
    fn a_value_nested_past_what_the_stack_can_walk_fails_its_message() {
        let worker = std::thread::Builder::new().stack_size(64 << 20);
        let outcome = worker
            .spawn(|| {
                let roomy = Limits { time: Duration::from_secs(120), ..Limits::default() };
                for source in ["reduce range(20000) as $i ([]; [.]) | tojson | length", "reduce range(20000) as $i (0; {a: 1, b: .}) | . == ."] {
                    assert_eq!(over_budget(source, roomy), Exceeded::Depth(MAX_VALUE_DEPTH), "{source}");
                }
                let program = JqProgram::new("reduce range(9000) as $i ([]; [.]) | flatten").unwrap().with_limits(roomy);
                assert_eq!(program.run(&json!(null)).unwrap(), [json!([])]);
            })
            .expect("spawns")
            .join();
        assert!(outcome.is_ok());
    }

    #[test]
    fn deep_recursion_fails_its_message_instead_of_overflowing_the_stack() {
        let roomy = Limits { time: Duration::from_secs(60), ..Limits::default() };
        for source in ["def f: [f]; f", "def f: 1 + f; f", "def f: {a: f}; f", "def f: [f, 1]; f"] {
            assert_eq!(over_budget(source, roomy), Exceeded::Stack, "{source}");
        }
    }

    #[test]
    fn after_a_budget_failure_the_next_message_runs_normally() {
        assert_eq!(over_budget("until(false; .)", SHORT), Exceeded::Time(SHORT.time));
        let program = JqProgram::new("[.[] | . * 2] | add").unwrap().with_limits(SHORT);
        assert_eq!(program.run(&json!([1, 2, 3])).unwrap(), [json!(12)]);
    }

    #[test]
    fn checkpoints_keep_paths_and_updates_working() {
        let run = |source: &str, input: Value| JqProgram::new(source).unwrap().without_fast_path().run(&input).unwrap();
        assert_eq!(run("def f: .a; path(f)", json!({"a": 1})), [json!(["a"])]);
        assert_eq!(run("def f: .a; f |= . + 1", json!({"a": 1})), [json!({"a": 2})]);
        assert_eq!(run("[paths]", json!({"a": [1]})), [json!([["a"], ["a", 0]])]);
        assert_eq!(run("del(.. | select(. == 2))", json!([1, 2, [2, 3]])), [json!([1, [3]])]);
        assert_eq!(run("to_entries | map(.value += 1) | from_entries", json!({"x": 1})), [json!({"x": 2})]);
        assert_eq!(run("reduce .[] as [$k, $v] ({}; .[$k] = $v)", json!([["a", 1]])), [json!({"a": 1})]);
        assert_eq!(run("[foreach .[] as $x (0; . + $x; [$x, .])]", json!([1, 2])), [json!([[1, 1], [2, 3]])]);
        assert_eq!(run("[limit(3; repeat(1))]", json!(null)), [json!([1, 1, 1])]);
        assert_eq!(run("walk(if type == \"number\" then . + 1 else . end)", json!([1, {"a": 2}])), [json!([2, {"a": 3}])]);
    }

    #[test]
    fn limits_are_set_in_the_configuration() {
        #[derive(Debug, Deserialize)]
        struct Config {
            program: JqProgram,
        }
        let table: Config = toml::from_str("program = { source = '.a', timeout_ms = 50, max_memory_mb = 8 }").unwrap();
        assert_eq!(table.program.source(), ".a");
        assert_eq!(table.program.limits(), Limits { time: Duration::from_millis(50), memory: 8 * 1024 * 1024 });
        let plain: Config = toml::from_str("program = '.a'").unwrap();
        assert_eq!(plain.program.limits(), Limits::default());
        for (text, expected) in [
            ("program = { source = '.a |' }", "jq syntax error at column 5"),
            ("program = { source = '.a', timeout_ms = 0 }", "`timeout_ms` must be at least 1"),
            ("program = { source = '.a', timeout = 5 }", "unknown field `timeout`"),
            ("program = { timeout_ms = 5 }", "missing field `source`"),
            ("program = 5", "a jq program, or a table"),
        ] {
            let error = toml::from_str::<Config>(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    fn problems(source: &str) -> Vec<CompileProblem> {
        match JqProgram::new(source) {
            Err(JqError::Compile { problems, .. }) => problems,
            other => panic!("expected a compile error for `{source}`, got {other:?}"),
        }
    }

    fn at(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn syntax_errors_point_into_the_expression() {
        let error = JqProgram::new(".kind ==").unwrap_err();
        assert_eq!(error.to_string(), "jq syntax error at column 9 of `.kind ==`: expected term, unexpected end of input");

        let [problem] = &problems("1 + ` ")[..] else { panic!("one problem") };
        assert_eq!((problem.kind, problem.position), (ProblemKind::Syntax, at(1, 5)));
        assert_eq!(problem.message, "expected token, unexpected character '`'");
    }

    #[test]
    fn unclosed_delimiters_name_where_they_opened() {
        let [problem] = &problems("map(")[..] else { panic!("one problem") };
        assert_eq!(problem.position, at(1, 5));
        assert_eq!(problem.message, "expected closing parenthesis, unexpected end of input (`(` opened at column 4)");
    }

    #[test]
    fn columns_count_characters_and_lines() {
        // "é" is two bytes but one column; the error is at the end of the second line.
        let [problem] = &problems(".a\n| \"é\" + ")[..] else { panic!("one problem") };
        assert_eq!(problem.position, at(2, 9));
        let message = JqProgram::new(".a\n| .b ==").unwrap_err().to_string();
        assert!(message.starts_with("jq syntax error at line 2, column 8: "), "{message}");
    }

    #[test]
    fn undefined_names_are_all_reported() {
        let found = problems("foo(1) | $x | @nope");
        let summary: Vec<_> = found.iter().map(|p| (p.kind, p.position.column, p.message.as_str())).collect();
        assert_eq!(
            summary,
            [
                (ProblemKind::Undefined, 1, "undefined filter foo/1"),
                (ProblemKind::Undefined, 10, "undefined variable $x"),
                (ProblemKind::Undefined, 15, "undefined filter @nope/0"),
            ]
        );
        let error = JqProgram::new("foo(1)").unwrap_err();
        assert_eq!(error.to_string(), "jq name error at column 1 of `foo(1)`: undefined filter foo/1");
    }

    #[test]
    fn imports_are_refused() {
        let [problem] = &problems(r#"import "lib" as lib; ."#)[..] else { panic!("one problem") };
        assert_eq!(problem.kind, ProblemKind::Import);
    }

    #[test]
    fn runtime_errors_are_errors_not_panics() {
        let input = json!({"a": "x"});
        let run = |source: &str| JqProgram::new(source).unwrap().run(&input).unwrap_err().to_string();
        assert_eq!(run(".a + 1"), r#"jq error: cannot calculate "x" + 1"#);
        assert_eq!(run(r#"error("boom")"#), "jq error: boom");
        assert_eq!(run(r#"error({"code": 42})"#), r#"jq error: {"code":42} (not a string)"#);
        assert_eq!(run("halt_error"), "jq program called halt with exit code 5");
        assert_eq!(run("repeat(1)"), "jq program produced more than 10000 outputs");
    }

    #[test]
    fn run_collects_every_output() {
        let program = JqProgram::new(".items[] | . * 2").unwrap();
        assert_eq!(program.run(&json!({"items": [1, 2.5]})).unwrap(), [json!(2), json!(5.0)]);
        assert_eq!(program.run(&json!({"items": []})).unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn run_bool_looks_only_at_the_first_output() {
        let truthy = |source: &str, input: Value| JqProgram::new(source).unwrap().run_bool(&input);
        assert!(truthy(r#".kind == "chat""#, json!({"kind": "chat"})).unwrap());
        assert!(!truthy(".missing", json!({})).unwrap());
        assert!(truthy(".n", json!({"n": 0})).unwrap(), "0 is truthy in jq");
        assert!(!truthy("empty", json!(1)).unwrap());
        assert!(truthy(r#"true, error("never reached")"#, json!(1)).unwrap());
        assert!(truthy(".a + 1", json!({"a": "x"})).is_err());
    }

    #[test]
    fn deserialises_from_a_string() {
        #[derive(Debug, Deserialize)]
        struct Config {
            program: JqProgram,
        }
        let ok: Config = toml::from_str("program = '.a'").unwrap();
        assert_eq!(ok.program.source(), ".a");
        let error = toml::from_str::<Config>("program = '.a |'").unwrap_err();
        assert!(error.to_string().contains("jq syntax error at column 5 of `.a |`"), "{error}");
    }
}
