//! The global `console`: `log`, `info`, `debug`, `warn` and `error` write to runnel's log
//! (tracing, target `runnel_js::console`) with the node's name. A block logs at most
//! [`BURST`] lines at once and [`PER_SECOND`] a second on average; the lines past that are
//! counted, and a warning says how many were held back (at most once per
//! [`LogLimiter::DEFAULT_INTERVAL`]).

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use rquickjs::prelude::Rest;
use rquickjs::{Ctx, Function, Object, Value};
use runnel_engine::LogLimiter;

use super::Modules;
use crate::convert::from_js;

/// Lines a block may log at once.
const BURST: f64 = 100.0;

/// Lines a block may log a second, on average.
const PER_SECOND: f64 = 100.0;

/// The console's rate limit: a token bucket for the lines, and the limiter of the warning
/// that counts the lines held back.
#[derive(Debug)]
pub(crate) struct Limit {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled: Instant,
    held_back: LogLimiter,
}

impl Default for Limit {
    fn default() -> Self {
        Self { state: Mutex::new(State { tokens: BURST, refilled: Instant::now(), held_back: LogLimiter::default() }) }
    }
}

impl Limit {
    /// Whether a line may be logged now; when it may not, `Some(n)` when it is time to say that
    /// `n` lines were held back.
    fn take(&self) -> Result<(), Option<u64>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        state.tokens = (state.tokens + now.duration_since(state.refilled).as_secs_f64() * PER_SECOND).min(BURST);
        state.refilled = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            return Ok(());
        }
        Err(state.held_back.check(1).map(|n| n + 1))
    }
}

/// The levels of the console's functions.
#[derive(Clone, Copy, Debug)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// The `console` object of one engine.
pub(super) fn object<'js>(ctx: &Ctx<'js>, modules: &Modules) -> rquickjs::Result<Object<'js>> {
    let console = Object::new(ctx.clone())?;
    for (name, level) in [("log", Level::Info), ("info", Level::Info), ("debug", Level::Debug), ("warn", Level::Warn), ("error", Level::Error)] {
        let modules = modules.clone();
        let log = move |args: Rest<Value<'js>>| write(&modules, level, &line(&args.0));
        console.set(name, Function::new(ctx.clone(), log)?.with_name(name)?)?;
    }
    Ok(console)
}

/// The arguments as one line: strings as they are, errors as `Name: message`, the rest as JSON.
fn line(args: &[Value<'_>]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|arg| {
            if let Some(text) = arg.as_string().and_then(|s| s.to_string().ok()) {
                return text;
            }
            if let Some(exception) = arg.as_exception() {
                let name: String = exception.get("name").unwrap_or_else(|_| "Error".to_owned());
                return format!("{name}: {}", exception.message().unwrap_or_default());
            }
            match from_js(arg) {
                Ok(Some(json)) => json.to_string(),
                Ok(None) if arg.is_undefined() => "undefined".to_owned(),
                Ok(None) => format!("[{}]", arg.type_name()),
                Err(_) => "[a value with no JSON form]".to_owned(),
            }
        })
        .collect();
    parts.join(" ")
}

fn write(modules: &Modules, level: Level, text: &str) {
    let node = &*modules.node;
    match modules.console.take() {
        Ok(()) => match level {
            Level::Debug => tracing::debug!(target: "runnel_js::console", node, "{text}"),
            Level::Info => tracing::info!(target: "runnel_js::console", node, "{text}"),
            Level::Warn => tracing::warn!(target: "runnel_js::console", node, "{text}"),
            Level::Error => tracing::error!(target: "runnel_js::console", node, "{text}"),
        },
        Err(Some(held_back)) => {
            tracing::warn!(target: "runnel_js::console", node, held_back, "the handler logs more than {PER_SECOND} lines a second: lines held back");
        }
        Err(None) => {}
    }
}
