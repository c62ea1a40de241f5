//! `kvstore`, as PubNub's: `get`, `set(key, value, ttl?)`, `getItem`/`setItem`,
//! `removeItem`/`delete`, `incrCounter(key, by = 1, ttl?)` and `getCounter`, each returning a
//! promise. The store's calls block (SQLite), so they run on tokio's blocking threads, not on
//! the engine's.
//!
//! A `ttl` is a number of minutes (PubNub's unit, fractions allowed) or a duration with its
//! unit (`"90s"`, `"1h"`), as the last argument or as `{ ttl }`; without one a value does not
//! expire (PubNub's default is a day).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rquickjs::prelude::{Async, Opt};
use rquickjs::{Ctx, Function, Object, Value};
use serde_json::Value as Json;

use super::store::{Store, StoreError};
use super::{error, type_error};
use crate::convert::{from_js, to_js};

/// A block's store: where it is, and the store once opened (at the first call).
#[derive(Debug)]
pub(crate) struct Kv {
    path: Option<PathBuf>,
    store: OnceLock<Result<Arc<Store>, String>>,
}

impl Kv {
    /// The store at `path` (`None`: the process's in-memory store), not opened yet.
    pub(crate) fn new(path: Option<PathBuf>) -> Self {
        Self { path, store: OnceLock::new() }
    }

    /// Runs `call` on the store, on a blocking thread, opening the store first if need be.
    async fn run<T: Send + 'static>(self: &Arc<Self>, call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static) -> Result<T, String> {
        let kv = Arc::clone(self);
        let work = move || {
            let store = kv.store.get_or_init(|| Store::shared(kv.path.as_deref()).map_err(|e| e.to_string())).clone()?;
            call(&store).map_err(|e| e.to_string())
        };
        tokio::task::spawn_blocking(work).await.map_err(|e| format!("kvstore: {e}"))?
    }
}

/// The `kvstore` object of one engine.
pub(super) fn object<'js>(ctx: &Ctx<'js>, kv: &Arc<Kv>) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    // `get(key)`: the value, or `null` when there is none (or it expired).
    let get = keyed(ctx, kv, "get", |store, key| store.get(key).map(|value| value.unwrap_or(Json::Null)))?;
    let set = setter(ctx, kv, "set")?;
    // `removeItem(key)`: whether there was a value.
    let remove = keyed(ctx, kv, "removeItem", |store, key| store.remove(key).map(Json::Bool))?;
    object.set("get", get.clone())?;
    object.set("getItem", get)?;
    object.set("set", set.clone())?;
    object.set("setItem", set)?;
    object.set("removeItem", remove.clone())?;
    object.set("delete", remove)?;
    object.set("incrCounter", incrementer(ctx, kv)?)?;
    // `getCounter(key)`: the counter's value, 0 when there is none.
    object.set("getCounter", keyed(ctx, kv, "getCounter", |store, key| store.counter(key).map(Json::from))?)?;
    Ok(object)
}

/// A function of one key (`get`, `removeItem`, `getCounter`): runs `call` on the store and
/// resolves to its answer.
fn keyed<'js>(ctx: &Ctx<'js>, kv: &Arc<Kv>, name: &str, call: fn(&Store, &str) -> Result<Json, StoreError>) -> rquickjs::Result<Function<'js>> {
    let kv = Arc::clone(kv);
    Function::new(
        ctx.clone(),
        Async(move |ctx: Ctx<'js>, key: String| {
            let kv = Arc::clone(&kv);
            async move {
                let answer = kv.run(move |store| call(store, &key)).await.map_err(|e| error(&ctx, &e))?;
                to_js(&ctx, &answer)
            }
        }),
    )?
    .with_name(name)
}

/// `set(key, value, ttl?)`: stores a JSON value.
fn setter<'js>(ctx: &Ctx<'js>, kv: &Arc<Kv>, name: &str) -> rquickjs::Result<Function<'js>> {
    let kv = Arc::clone(kv);
    Function::new(
        ctx.clone(),
        Async(move |ctx: Ctx<'js>, key: String, value: Value<'js>, ttl: Opt<Value<'js>>| {
            let kv = Arc::clone(&kv);
            let args = match from_js(&value) {
                Ok(Some(value)) => parse_ttl(ttl.0.as_ref()).map(|ttl| (value, ttl)),
                Ok(None) => Err(format!("kvstore.set(\"{key}\"): the value is undefined or a function (remove a key with removeItem)")),
                Err(e) => Err(format!("kvstore.set(\"{key}\"): the value has no JSON form: {e}")),
            };
            async move {
                let (value, ttl) = args.map_err(|e| type_error(&ctx, &e))?;
                kv.run(move |store| store.set(&key, &value, ttl)).await.map_err(|e| error(&ctx, &e))
            }
        }),
    )?
    .with_name(name)
}

/// `incrCounter(key, by = 1, ttl?)`: resolves to the counter's new value.
fn incrementer<'js>(ctx: &Ctx<'js>, kv: &Arc<Kv>) -> rquickjs::Result<Function<'js>> {
    let kv = Arc::clone(kv);
    Function::new(
        ctx.clone(),
        Async(move |ctx: Ctx<'js>, key: String, by: Opt<f64>, ttl: Opt<Value<'js>>| {
            let kv = Arc::clone(&kv);
            let by = by.0.unwrap_or(1.0);
            let args = parse_ttl(ttl.0.as_ref()).and_then(|ttl| whole(by).map(|by| (by, ttl)));
            async move {
                let (by, ttl) = args.map_err(|e| type_error(&ctx, &format!("kvstore.incrCounter(\"{key}\"): {e}")))?;
                #[allow(clippy::cast_precision_loss)] // JavaScript numbers are doubles
                kv.run(move |store| store.increment(&key, by, ttl)).await.map(|n| n as f64).map_err(|e| error(&ctx, &e))
            }
        }),
    )?
    .with_name("incrCounter")
}

/// An increment: a whole number that fits in 64 bits.
#[allow(clippy::cast_possible_truncation)]
fn whole(by: f64) -> Result<i64, String> {
    if by.fract() != 0.0 || !by.is_finite() || by.abs() > 9_007_199_254_740_992.0 {
        return Err(format!("the increment must be a whole number, not {by}"));
    }
    Ok(by as i64)
}

/// A `ttl` argument: `undefined`/`null` (none), minutes, a duration text, or `{ ttl }` of either.
fn parse_ttl(ttl: Option<&Value<'_>>) -> Result<Option<Duration>, String> {
    let Some(ttl) = ttl.filter(|ttl| !ttl.is_undefined() && !ttl.is_null()) else { return Ok(None) };
    if let Some(options) = ttl.as_object().filter(|_| ttl.type_of() == rquickjs::Type::Object) {
        let inner: Value<'_> = options.get("ttl").map_err(|e| e.to_string())?;
        if inner.is_object() {
            return Err("`ttl` must be minutes or a duration such as \"90s\"".to_owned());
        }
        return parse_ttl(Some(&inner));
    }
    if let Some(minutes) = ttl.as_number() {
        if !(minutes > 0.0 && minutes.is_finite()) {
            return Err(format!("a ttl must be a positive number of minutes, not {minutes}"));
        }
        return Duration::try_from_secs_f64(minutes * 60.0).map(Some).map_err(|e| format!("the ttl of {minutes} minutes: {e}"));
    }
    if let Some(text) = ttl.as_string() {
        let text = text.to_string().map_err(|e| e.to_string())?;
        return match humantime::parse_duration(&text) {
            Ok(duration) if !duration.is_zero() => Ok(Some(duration)),
            Ok(_) => Err("a ttl must be more than 0".to_owned()),
            Err(e) => Err(format!("the ttl `{text}` is not a duration such as \"90s\" or \"5m\": {e}")),
        };
    }
    Err("a ttl must be minutes (a number) or a duration such as \"90s\"".to_owned())
}
