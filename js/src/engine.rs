//! One QuickJS runtime with the handler loaded: its limits (an interrupt at the wall-time
//! deadline, a memory limit, a stack limit), a resolver that keeps imports inside the handler's
//! folder, and one invocation. Everything here lives on one thread: QuickJS values cannot cross
//! threads (see `worker`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::{AsyncContext, AsyncRuntime, CatchResultExt, CaughtError, Ctx, Function, Module, Persistent, Value};
use runnel_engine::{BuildContext, BuildError};
use serde_json::Value as Json;

use crate::convert::{from_js, to_js};
use crate::modules::{self, Host, Modules};
use crate::shape::{Invocation, Shape};

/// The handler's code and where its imports may come from.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The module's name in stack traces: its file, or `<node>.js` for inline code.
    pub(crate) name: String,
    /// The module's text.
    pub(crate) code: String,
    /// The folder imports resolve in; nothing outside it can be imported.
    pub(crate) root: PathBuf,
    /// How the handler is written; `None`: found from the module's exports.
    pub(crate) shape: Option<Shape>,
    /// What the shapes' adapters tell the handler of the block.
    pub(crate) invocation: Invocation,
    /// The built-in modules it may import (`kvstore`, `fetch`...), shared by the block.
    pub(crate) modules: Modules,
}

impl Source {
    /// The handler of a configuration: its `code`, or the `file` (resolved against the
    /// pipeline's folder) whose folder is then where imports come from.
    ///
    /// # Errors
    /// The file cannot be read; neither is given (validation refuses that first).
    pub(crate) fn read(
        code: Option<&str>,
        file: Option<&Path>,
        cx: &BuildContext,
        shape: Option<Shape>,
        invocation: Invocation,
        modules: Modules,
    ) -> Result<Self, BuildError> {
        match (code, file) {
            (Some(code), _) => {
                Ok(Self { name: format!("{}.js", cx.name), code: code.to_owned(), root: cx.resolve(Path::new(".")), shape, invocation, modules })
            }
            (None, Some(file)) => {
                let path = cx.resolve(file);
                let code = std::fs::read_to_string(&path).map_err(|e| BuildError::Invalid(format!("cannot read `file` {}: {e}", path.display())))?;
                let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
                Ok(Self { name: path.display().to_string(), code, root, shape, invocation, modules })
            }
            (None, None) => Err(BuildError::Invalid("no handler: give `code` or `file`".to_owned())),
        }
    }
}

/// Compiles a module's text without running it: a syntax error with its line and column.
pub(crate) fn compile(name: &str, code: &str) -> Result<(), String> {
    let runtime = rquickjs::Runtime::new().map_err(|e| e.to_string())?;
    runtime.set_loader(SyntaxOnly, SyntaxOnly);
    let context = rquickjs::Context::full(&runtime).map_err(|e| e.to_string())?;
    context.with(|ctx| Module::declare(ctx.clone(), name, code).catch(&ctx).map(drop).map_err(describe))
}

/// The problems of a handler `file` (resolved against `base_dir`): it cannot be read, or does
/// not compile (with its file, line and column); `field` names it in the configuration.
pub(crate) fn file_problems(base_dir: &Path, file: &Path, field: &str) -> Vec<String> {
    // An absolute `file` replaces the folder.
    let path = base_dir.join(file);
    match std::fs::read_to_string(&path) {
        Err(error) => vec![format!("`{field}`: cannot read {}: {error}", path.display())],
        Ok(code) => match compile(&path.display().to_string(), &code) {
            Ok(()) => Vec::new(),
            Err(error) => vec![format!("`{field}` does not compile: {error}")],
        },
    }
}

/// What one engine may use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Wall time per invocation.
    pub(crate) timeout: Duration,
    /// Bytes the runtime may allocate.
    pub(crate) memory: usize,
    /// Elements an array the handler returns may have (checked before it is converted).
    pub(crate) max_outputs: usize,
}

/// Why an invocation gave no result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The handler threw, its promise was rejected, or its result has no JSON form.
    Error(String),
    /// It ran (or waited) past the time limit. After a timeout while waiting, the engine must be
    /// built again: the handler's pending work is still queued in it.
    TimedOut { waiting: bool },
}

/// What a handler called at once gave: its answer, or a promise of it.
enum Answer {
    Done(Option<Json>),
    Pending(Persistent<rquickjs::Promise<'static>>),
}

/// A runtime, its context and the handler. The fields drop in this order: the handler and the
/// context before the runtime that holds them (QuickJS asserts that nothing outlives it).
pub(crate) struct Engine {
    handler: Persistent<Function<'static>>,
    shape: Shape,
    /// Whether the handler declares a second parameter, the metadata.
    wants_meta: bool,
    context: AsyncContext,
    runtime: AsyncRuntime,
    /// Nanoseconds after `epoch` when the running invocation must stop; 0: none runs.
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    limits: Limits,
    host: Rc<Host>,
}

impl Engine {
    /// Builds a runtime with `limits`, loads `source` and keeps its default export.
    ///
    /// # Errors
    /// A compile error, an import that fails, a module without a default export function, all
    /// with the file, line and column QuickJS gives.
    pub(crate) async fn new(source: &Source, limits: Limits) -> Result<Self, String> {
        let runtime = AsyncRuntime::new().map_err(|e| e.to_string())?;
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = Arc::clone(&deadline);
        runtime
            .set_interrupt_handler(Some(Box::new(move || {
                let at = watched.load(Ordering::Relaxed);
                at != 0 && nanos(epoch.elapsed()) > at
            })))
            .await;
        runtime.set_memory_limit(limits.memory).await;
        runtime.set_max_stack_size(512 * 1024).await;
        let sandbox = Sandbox { root: source.root.clone() };
        runtime.set_loader(sandbox.clone(), sandbox).await;
        let context = AsyncContext::full(&runtime).await.map_err(|e| e.to_string())?;
        let host = Host::new(source.modules.clone(), Arc::clone(&deadline), epoch, limits.timeout);
        context.with(|ctx| modules::install(&ctx, &host).catch(&ctx).map_err(describe)).await?;
        let (shape, handler, wants_meta) = context
            .async_with(async |ctx| {
                set_process_env(&ctx, &source.invocation.env).catch(&ctx).map_err(describe)?;
                let module = Module::declare(ctx.clone(), source.name.as_str(), source.code.as_str()).catch(&ctx).map_err(describe)?;
                let (module, loaded) = module.eval().catch(&ctx).map_err(describe)?;
                loaded.into_future::<()>().await.catch(&ctx).map_err(describe)?;
                let exports = module.namespace().catch(&ctx).map_err(describe)?;
                let (shape, handler) = crate::shape::handler(&ctx, &exports, source.shape, &source.invocation, &source.name)?;
                let parameters: usize = handler.get("length").unwrap_or(1);
                Ok::<_, String>((shape, Persistent::save(&ctx, handler), parameters >= 2))
            })
            .await?;
        Ok(Self { handler, shape, wants_meta, context, runtime, deadline, epoch, limits, host })
    }

    /// How the loaded handler is written.
    pub(crate) fn shape(&self) -> Shape {
        self.shape
    }

    /// Calls the handler with the message's value and metadata and waits for its result
    /// (`None`: `undefined`), within the time limit.
    /// The metadata is only made for a handler that declares a second parameter (most take
    /// the event alone, and making it is a good part of a small handler's cost).
    pub(crate) async fn call(&self, event: &Json, meta: impl FnOnce() -> Json) -> Result<Option<Json>, Failure> {
        self.host.begin();
        let started = self.epoch.elapsed();
        self.deadline.store(nanos(started + self.limits.timeout), Ordering::Relaxed);
        // Most handlers answer at once: they are called in a plain `with`, and only a promise
        // goes on through the asynchronous path (which also runs the job queue and the host's
        // futures), within what is left of the time limit.
        let first = self
            .context
            .with(|ctx| {
                let handler = self.handler.clone().restore(&ctx).map_err(|e| e.to_string())?;
                let event = to_js(&ctx, event).map_err(|e| e.to_string())?;
                let meta = if self.wants_meta { to_js(&ctx, &meta()).map_err(|e| e.to_string())? } else { Value::new_undefined(ctx.clone()) };
                let returned: Value<'_> = handler.call((event, meta)).catch(&ctx).map_err(describe)?;
                match returned.clone().into_promise() {
                    Some(promise) => Ok(Answer::Pending(Persistent::save(&ctx, promise))),
                    None => self.result(&returned).map(Answer::Done),
                }
            })
            .await;
        // What is left of the time limit, when it is asked.
        let left = || self.limits.timeout.saturating_sub(self.epoch.elapsed().saturating_sub(started));
        let outcome = match first {
            Ok(Answer::Pending(promise)) => {
                let settle = self.context.async_with(async |ctx| {
                    let promise = promise.restore(&ctx).map_err(|e| e.to_string())?;
                    let value: Value<'_> = promise.into_future().await.catch(&ctx).map_err(describe)?;
                    self.result(&value)
                });
                tokio::time::timeout(left(), settle).await
            }
            Ok(Answer::Done(value)) => {
                // Work the handler left queued (a promise it did not await) runs now.
                if self.runtime.is_job_pending().await {
                    let _ = tokio::time::timeout(left(), self.context.async_with(async |_ctx| ())).await;
                }
                Ok(Ok(value))
            }
            Err(error) => Ok(Err(error)),
        };
        self.deadline.store(0, Ordering::Relaxed);
        match outcome {
            Err(_) => Err(Failure::TimedOut { waiting: true }),
            Ok(Err(error)) if error.starts_with("InternalError: interrupted") => Err(Failure::TimedOut { waiting: false }),
            Ok(Err(error)) => Err(Failure::Error(error)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// A handler's answer as JSON, an array past `max_outputs` refused before it is converted.
    fn result(&self, value: &Value<'_>) -> Result<Option<Json>, String> {
        if let Some(array) = value.as_array()
            && array.len() > self.limits.max_outputs
        {
            return Err(format!("the handler returned {} messages, more than `max_outputs` ({})", array.len(), self.limits.max_outputs));
        }
        from_js(value)
    }

    /// Frees what the last invocations left (after one ran out of memory, say).
    pub(crate) async fn collect_garbage(&self) {
        self.runtime.run_gc().await;
    }
}

/// `process.env`, as Lambda handlers read their configuration: the block's `env`, frozen. There
/// is nothing else of Node's `process`.
fn set_process_env<'js>(ctx: &Ctx<'js>, env: &BTreeMap<String, String>) -> rquickjs::Result<()> {
    let variables = rquickjs::Object::new(ctx.clone())?;
    for (name, value) in env {
        variables.set(name.as_str(), value.as_str())?;
    }
    let process = rquickjs::Object::new(ctx.clone())?;
    process.set("env", variables.clone())?;
    let freeze: Function<'js> = ctx.eval("Object.freeze")?;
    freeze.call::<_, Value<'js>>((variables,))?;
    freeze.call::<_, Value<'js>>((process.clone(),))?;
    ctx.globals().set("process", process)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// An error as users read them: `TypeError: bad event` and its stack (`at default (h.js:3:9)`).
pub(crate) fn describe(error: CaughtError<'_>) -> String {
    match error {
        CaughtError::Exception(exception) => {
            let name: String = exception.get("name").unwrap_or_else(|_| "Error".to_owned());
            let message = exception.message().unwrap_or_default();
            match exception.stack().filter(|stack| !stack.trim().is_empty()) {
                Some(stack) => format!("{name}: {message}\n{}", stack.trim_end()),
                None => format!("{name}: {message}"),
            }
        }
        CaughtError::Value(value) => match from_js(&value) {
            Ok(Some(Json::String(text))) => format!("thrown: {text}"),
            Ok(Some(other)) => format!("thrown: {other}"),
            _ => "thrown: a value that is not an Error".to_owned(),
        },
        CaughtError::Error(error) => error.to_string(),
    }
}

/// Imports: runnel's modules by their names (`kvstore`), and files under `root` only, named
/// relative to the importing module (`./lib/util.js`); any other name, or one that climbs out
/// of the folder, is refused.
#[derive(Clone)]
struct Sandbox {
    root: PathBuf,
}

impl Resolver for Sandbox {
    fn resolve<'js>(&mut self, _: &Ctx<'js>, base: &str, name: &str, _: Option<ImportAttributes<'js>>) -> rquickjs::Result<String> {
        if let Some(builtin) = builtin(base, name)? {
            return Ok(builtin);
        }
        let mut path = Path::new(base).parent().filter(|p| p.starts_with(&self.root)).map_or_else(|| self.root.clone(), Path::to_path_buf);
        for component in Path::new(name).components() {
            match component {
                Component::ParentDir => {
                    path.pop();
                }
                Component::Normal(part) => path.push(part),
                _ => {}
            }
        }
        if !path.starts_with(&self.root) {
            return Err(rquickjs::Error::new_resolving_message(base, name, "it is outside the handler's folder"));
        }
        Ok(path.to_string_lossy().into_owned())
    }
}

/// `Some(name)` for one of runnel's modules, `None` for a relative file name, and an error for
/// any other name.
fn builtin(base: &str, name: &str) -> rquickjs::Result<Option<String>> {
    if modules::is_builtin(name) {
        return Ok(Some(name.to_owned()));
    }
    if !name.starts_with("./") && !name.starts_with("../") {
        let message =
            "only runnel's modules (`kvstore`, `fetch`, `xhr`, `crypto`, `codec/...`) and files beside the handler (`./name.js`) can be imported";
        return Err(rquickjs::Error::new_resolving_message(base, name, message));
    }
    Ok(None)
}

impl Loader for Sandbox {
    fn load<'js>(&mut self, ctx: &Ctx<'js>, name: &str, _: Option<ImportAttributes<'js>>) -> rquickjs::Result<Module<'js>> {
        if modules::is_builtin(name) {
            return modules::declare(ctx, name);
        }
        let code = std::fs::read(name).map_err(|e| rquickjs::Error::new_loading_message(name, e.to_string()))?;
        Module::declare(ctx.clone(), name, code)
    }
}

/// Imports for validation, which checks a module's syntax only (QuickJS resolves imports when
/// it compiles): runnel's modules as they are, and every file an empty module (files are read
/// when the pipeline starts, from the folder known then).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyntaxOnly;

impl Resolver for SyntaxOnly {
    fn resolve<'js>(&mut self, _: &Ctx<'js>, base: &str, name: &str, _: Option<ImportAttributes<'js>>) -> rquickjs::Result<String> {
        Ok(builtin(base, name)?.unwrap_or_else(|| name.to_owned()))
    }
}

impl Loader for SyntaxOnly {
    fn load<'js>(&mut self, ctx: &Ctx<'js>, name: &str, _: Option<ImportAttributes<'js>>) -> rquickjs::Result<Module<'js>> {
        if modules::is_builtin(name) {
            return modules::declare(ctx, name);
        }
        Module::declare(ctx.clone(), name, "")
    }
}
