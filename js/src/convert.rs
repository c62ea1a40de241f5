#![allow(unsafe_code)]
//! JSON values into JavaScript and back, directly (no JSON text in between: about twice as fast
//! as `JSON.parse` and `JSON.stringify` for a chat message). Numbers: JavaScript has only
//! doubles, so an integer beyond 2^53 arrives rounded, and a whole double comes back as an
//! integer (`2` stays `2`, not `2.0`). What JSON cannot hold (functions, symbols, `undefined` in
//! an object) is left out as `JSON.stringify` leaves it; `NaN` and infinities become `null`.

use rquickjs::{Array, Ctx, IntoJs, Object, Type, Value, qjs};
use serde_json::{Map, Number, Value as Json};

/// How deep a value may be, either way: deeper (or a cycle) is an error, not a stack overflow.
pub(crate) const MAX_DEPTH: usize = 1_000;

/// A JSON value as a JavaScript value.
pub(crate) fn to_js<'js>(ctx: &Ctx<'js>, value: &Json) -> rquickjs::Result<Value<'js>> {
    to_js_at(ctx, value, 0)
}

fn to_js_at<'js>(ctx: &Ctx<'js>, value: &Json, depth: usize) -> rquickjs::Result<Value<'js>> {
    if depth > MAX_DEPTH {
        return Err(rquickjs::Error::new_into_js_message("JSON", "value", "nested too deep"));
    }
    Ok(match value {
        Json::Null => Value::new_null(ctx.clone()),
        Json::Bool(b) => Value::new_bool(ctx.clone(), *b),
        Json::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => Value::new_int(ctx.clone(), i),
            None => Value::new_float(ctx.clone(), n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => s.as_str().into_js(ctx)?,
        Json::Array(items) => {
            let array = Array::new(ctx.clone())?;
            for (i, item) in items.iter().enumerate() {
                array.set(i, to_js_at(ctx, item, depth + 1)?)?;
            }
            array.into_value()
        }
        Json::Object(fields) => {
            let object = Object::new(ctx.clone())?;
            for (key, item) in fields {
                define(ctx, &object, key, to_js_at(ctx, item, depth + 1)?)?;
            }
            object.into_value()
        }
    })
}

/// Makes `key` an own property of a new `object`, as `JSON.parse` does: defined, not set, so
/// that neither a setter up the prototype chain nor a `__proto__` key applies (and no chain is
/// looked up for one: the faster call).
fn define<'js>(ctx: &Ctx<'js>, object: &Object<'js>, key: &str, value: Value<'js>) -> rquickjs::Result<()> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `raw` is the live context of `object` and `value`; the atom made here is freed
    // here; `JS_DefinePropertyValue` consumes a reference to the value, taken here (`value`
    // drops its own, and its context's, as usual).
    let defined = unsafe {
        let atom = qjs::JS_NewAtomLen(raw, key.as_ptr().cast(), key.len() as qjs::size_t);
        if atom == qjs::JS_ATOM_NULL {
            return Err(rquickjs::Error::Exception);
        }
        let defined = qjs::JS_DefinePropertyValue(raw, object.as_raw(), atom, qjs::JS_DupValue(raw, value.as_raw()), qjs::JS_PROP_C_W_E as i32);
        qjs::JS_FreeAtom(raw, atom);
        defined
    };
    if defined < 0 { Err(rquickjs::Error::Exception) } else { Ok(()) }
}

/// A JavaScript value as JSON, as `JSON.stringify` would write it; `None` for `undefined` (and
/// what JSON cannot hold).
///
/// # Errors
/// A value nested past [`MAX_DEPTH`] (a cycle), or a property that cannot be read (a getter
/// that throws).
pub(crate) fn from_js(value: &Value<'_>) -> Result<Option<Json>, String> {
    from_js_at(value, 0)
}

fn from_js_at(value: &Value<'_>, depth: usize) -> Result<Option<Json>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the value is nested deeper than {MAX_DEPTH} levels (or refers to itself)"));
    }
    let js = |e: rquickjs::Error| e.to_string();
    Ok(Some(match value.type_of() {
        Type::Uninitialized | Type::Undefined | Type::Function | Type::Constructor | Type::Symbol => return Ok(None),
        Type::Null => Json::Null,
        Type::Bool => Json::Bool(value.as_bool().unwrap_or_default()),
        Type::Int => Json::from(value.as_int().unwrap_or_default()),
        Type::Float => number(value.as_float().unwrap_or(f64::NAN)),
        Type::String => Json::String(value.as_string().map(|s| s.to_string()).transpose().map_err(js)?.unwrap_or_default()),
        Type::BigInt => return Err("a BigInt has no JSON form: convert it with String() or Number()".to_owned()),
        Type::Array => {
            let array = value.as_array().ok_or("an array that is not one")?;
            let mut items = Vec::with_capacity(array.len());
            for item in array.iter::<Value<'_>>() {
                items.push(from_js_at(&item.map_err(js)?, depth + 1)?.unwrap_or(Json::Null));
            }
            Json::Array(items)
        }
        _ => {
            let Some(object) = value.as_object() else { return Ok(None) };
            Json::Object(fields(object, depth)?)
        }
    }))
}

/// An object's own enumerable string-keyed properties, as `JSON.stringify` reads them. Straight
/// through QuickJS's calls: the generic iterator builds a wrapper per key and value, which was a
/// good part of a small handler's cost.
fn fields(object: &Object<'_>, depth: usize) -> Result<Map<String, Json>, String> {
    let ctx = object.ctx();
    let raw = ctx.as_raw().as_ptr();
    let mut table: *mut qjs::JSPropertyEnum = std::ptr::null_mut();
    let mut len: u32 = 0;
    let flags = (qjs::JS_GPN_STRING_MASK | qjs::JS_GPN_ENUM_ONLY) as i32;
    // SAFETY: `raw` is the object's live context; the table QuickJS fills is freed below.
    if unsafe { qjs::JS_GetOwnPropertyNames(raw, &raw mut table, &raw mut len, object.as_raw(), flags) } < 0 {
        return Err(thrown(ctx));
    }
    // SAFETY: QuickJS gave `len` entries at `table` (none when `len` is 0).
    let atoms: &[qjs::JSPropertyEnum] = if len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(table, len as usize) } };
    let read = (|| {
        let mut pairs = Vec::with_capacity(atoms.len());
        for entry in atoms {
            // SAFETY: the atom is one of the table's, alive until it is freed; the value
            // `JS_GetProperty` returns is owned, and handed to a `Value` that frees it.
            let item = unsafe { Value::from_raw(ctx.clone(), qjs::JS_GetProperty(raw, object.as_raw(), entry.atom)) };
            if item.is_exception() {
                return Err(thrown(ctx));
            }
            let Some(item) = from_js_at(&item, depth + 1)? else { continue };
            pairs.push((atom_text(raw, entry.atom)?, item));
        }
        // Built at once from the pairs rather than key by key.
        Ok(pairs.into_iter().collect())
    })();
    // SAFETY: the table and its atoms, as QuickJS gave them, freed once.
    unsafe { qjs::JS_FreePropertyEnum(raw, table, len) };
    read
}

/// A property name as Rust text.
fn atom_text(raw: *mut qjs::JSContext, atom: qjs::JSAtom) -> Result<String, String> {
    let mut len = 0;
    // SAFETY: a live atom of the live context `raw`; the C string is freed once, after it is
    // copied.
    unsafe {
        let text = qjs::JS_AtomToCStringLen(raw, &raw mut len, atom);
        if text.is_null() {
            return Err("a property name that cannot be read".to_owned());
        }
        let owned = std::str::from_utf8(std::slice::from_raw_parts(text.cast::<u8>(), len as usize)).map(str::to_owned).map_err(|e| e.to_string());
        qjs::JS_FreeCString(raw, text);
        owned
    }
}

/// The exception QuickJS has pending, as text.
fn thrown(ctx: &Ctx<'_>) -> String {
    crate::engine::describe(rquickjs::CaughtError::from_error(ctx, rquickjs::Error::Exception))
}

/// A double as JSON: whole numbers that fit as integers, `NaN` and infinities as `null`.
#[allow(clippy::cast_possible_truncation)]
fn number(float: f64) -> Json {
    if float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0 {
        return Json::from(float as i64);
    }
    Number::from_f64(float).map_or(Json::Null, Json::Number)
}
