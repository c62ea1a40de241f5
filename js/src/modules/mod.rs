//! The modules runnel gives handlers, named as PubNub's where PubNub has one: `kvstore`,
//! `xhr` (and `fetch`), `crypto`, `codec/base64`, `codec/query_string`, `codec/auth` (and
//! `codec` with all three), and the globals `console`, `fetch`, `crypto`, `btoa` and `atob`.
//!
//! [`Modules`] is what the modules of one block share (the store, the fetch rules, the console's
//! rate limit): it crosses threads, and each engine makes its [`Host`] from it. The modules'
//! objects are made once per engine ([`install`]) and kept in the runtime's user data, where a
//! module's definition ([`Builtin`]) finds its exports when the handler imports it.
//!
//! - `store`: the SQLite key-value store; `kvstore`: its JavaScript face.
//! - `fetch`: HTTP requests through reqwest, with the block's cap and host allowlist.
//! - `crypto`, `codec`, `console`: digests and HMACs, base64 and query strings, the log.

mod codec;
mod console;
mod crypto;
mod fetch;
mod kvstore;
mod store;

#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rquickjs::module::{Declarations, Exports, ModuleDef};
use rquickjs::{Ctx, Module, Object, Value};
use runnel_engine::BuildContext;

pub(crate) use fetch::{AllowedHost, FetchRules};
pub(crate) use kvstore::Kv;

/// The built-in modules: their names and their named exports (each also has a default export,
/// the whole module, as PubNub's `require` gives it).
const BUILTINS: [(&str, &[&str]); 8] = [
    ("kvstore", &["get", "set", "getItem", "setItem", "removeItem", "delete", "incrCounter", "getCounter"]),
    ("xhr", &["fetch"]),
    ("fetch", &[]),
    ("crypto", &["hmac", "sha1", "sha256", "sha512", "randomUUID", "ALGORITHM"]),
    ("codec", &["base64", "query_string", "auth"]),
    ("codec/base64", &["btoa", "atob"]),
    ("codec/query_string", &["parse", "stringify", "escape", "unescape"]),
    ("codec/auth", &["basic"]),
];

/// Whether `name` is a built-in module (imported by its bare name, not a file).
pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|(builtin, _)| *builtin == name)
}

/// What the modules of one block share, across its threads and the engines made anew.
#[derive(Clone, Debug)]
pub(crate) struct Modules {
    /// The node's name, for the log.
    pub(crate) node: Arc<str>,
    /// The key-value store, opened at its first use.
    pub(crate) kv: Arc<Kv>,
    /// What `fetch` may do.
    pub(crate) fetch: Arc<FetchRules>,
    /// The console's rate limit, shared by the block's threads.
    pub(crate) console: Arc<console::Limit>,
}

impl Modules {
    /// The modules of the block being built in `cx`, with its store at `kvstore` (see
    /// [`store_path`]) and its `fetch` rules.
    pub(crate) fn new(cx: &BuildContext, kvstore: Option<&Path>, fetch: FetchRules) -> Self {
        Self { node: Arc::clone(&cx.name), kv: Arc::new(Kv::new(store_path(kvstore, cx))), fetch: Arc::new(fetch), console: Arc::default() }
    }
}

/// Where a block's store is: `kvstore` (relative to the pipeline file), or `kvstore.sqlite` in
/// the pipeline's state folder; `None` (in memory) when there is neither.
fn store_path(kvstore: Option<&Path>, cx: &BuildContext) -> Option<PathBuf> {
    match (kvstore, &cx.state_dir) {
        (Some(path), _) => Some(cx.resolve(path)),
        (None, Some(state)) => Some(state.join("kvstore.sqlite")),
        (None, None) => None,
    }
}

/// One engine's side of the modules: the shared parts and the running invocation's counts.
#[derive(Debug)]
pub(crate) struct Host {
    modules: Modules,
    /// Fetches the running invocation has made.
    fetches: Cell<usize>,
    /// The engine's deadline (nanoseconds after `epoch`; 0: none runs).
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    /// The block's time limit, which also bounds the fetches of the module's own code (a
    /// top-level `await`), run when no invocation does.
    timeout: Duration,
    /// The engine's HTTP client, made at its first fetch.
    client: std::cell::OnceCell<reqwest::Client>,
}

impl Host {
    /// The host of an engine whose invocations end at `deadline` (nanoseconds after `epoch`)
    /// and last `timeout` at most.
    pub(crate) fn new(modules: Modules, deadline: Arc<AtomicU64>, epoch: Instant, timeout: Duration) -> Rc<Self> {
        Rc::new(Self { modules, fetches: Cell::new(0), deadline, epoch, timeout, client: std::cell::OnceCell::new() })
    }

    /// Starts counting a new invocation's fetches.
    pub(crate) fn begin(&self) {
        self.fetches.set(0);
    }

    /// Time left to the running invocation, or the block's time limit when none runs.
    fn remaining(&self) -> Duration {
        match self.deadline.load(Ordering::Relaxed) {
            0 => self.timeout,
            at => Duration::from_nanos(at).saturating_sub(self.epoch.elapsed()),
        }
    }
}

/// Makes the modules' objects in `ctx` (kept for imports) and sets the globals.
///
/// # Errors
/// QuickJS fails to make an object (out of memory).
pub(crate) fn install(ctx: &Ctx<'_>, host: &Rc<Host>) -> rquickjs::Result<()> {
    let kvstore = kvstore::object(ctx, &host.modules.kv)?;
    let fetch = fetch::function(ctx, host)?;
    let xhr = Object::new(ctx.clone())?;
    xhr.set("fetch", fetch.clone())?;
    let crypto = crypto::object(ctx)?;
    let (codec, base64, query_string, auth) = codec::objects(ctx)?;
    let globals = ctx.globals();
    globals.set("console", console::object(ctx, &host.modules)?)?;
    globals.set("fetch", fetch.clone())?;
    globals.set("crypto", crypto.clone())?;
    globals.set("btoa", base64.get::<_, Value<'_>>("btoa")?)?;
    globals.set("atob", base64.get::<_, Value<'_>>("atob")?)?;
    let objects: BTreeMap<String, Value<'_>> = [
        ("kvstore", kvstore.into_value()),
        ("xhr", xhr.into_value()),
        ("fetch", fetch.into_value()),
        ("crypto", crypto.into_value()),
        ("codec", codec.into_value()),
        ("codec/base64", base64.into_value()),
        ("codec/query_string", query_string.into_value()),
        ("codec/auth", auth.into_value()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    ctx.store_userdata(objects).map_err(|_| rquickjs::Error::new_loading_message("runnel", "the built-in modules are in use"))?;
    Ok(())
}

/// Declares the built-in module `name` (one of [`BUILTINS`]) in `ctx`.
///
/// # Errors
/// `name` is not a built-in module.
pub(crate) fn declare<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js>> {
    let ctx = ctx.clone();
    match BUILTINS.iter().position(|(builtin, _)| *builtin == name) {
        Some(0) => Module::declare_def::<Builtin<0>, _>(ctx, name),
        Some(1) => Module::declare_def::<Builtin<1>, _>(ctx, name),
        Some(2) => Module::declare_def::<Builtin<2>, _>(ctx, name),
        Some(3) => Module::declare_def::<Builtin<3>, _>(ctx, name),
        Some(4) => Module::declare_def::<Builtin<4>, _>(ctx, name),
        Some(5) => Module::declare_def::<Builtin<5>, _>(ctx, name),
        Some(6) => Module::declare_def::<Builtin<6>, _>(ctx, name),
        Some(7) => Module::declare_def::<Builtin<7>, _>(ctx, name),
        _ => Err(rquickjs::Error::new_loading_message(name, "not a built-in module")),
    }
}

/// The definition of the built-in module `BUILTINS[I]`: its exports are the properties of the
/// object [`install`] made for it.
struct Builtin<const I: usize>;

impl<const I: usize> ModuleDef for Builtin<I> {
    fn declare(declarations: &Declarations<'_>) -> rquickjs::Result<()> {
        declarations.declare("default")?;
        for name in BUILTINS[I].1 {
            declarations.declare(*name)?;
        }
        Ok(())
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> rquickjs::Result<()> {
        let (name, names) = BUILTINS[I];
        let module = ctx
            .userdata::<BTreeMap<String, Value<'js>>>()
            .and_then(|objects| objects.get(name).cloned())
            .ok_or_else(|| rquickjs::Error::new_loading_message(name, "the built-in modules are not installed"))?;
        if let Some(object) = module.as_object() {
            for export in names {
                exports.export(*export, object.get::<_, Value<'js>>(*export)?)?;
            }
        }
        exports.export("default", module)?;
        Ok(())
    }
}

/// An `Error` thrown in `ctx` with `message`, to reject a promise or fail a call.
fn error(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    rquickjs::Exception::throw_message(ctx, message)
}

/// A `TypeError` thrown in `ctx`: an argument of the wrong kind.
fn type_error(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    rquickjs::Exception::throw_type(ctx, message)
}
