//! JSON values into JavaScript and back, directly (no JSON text in between: about twice as fast
//! as `JSON.parse` and `JSON.stringify` for a chat message). Numbers: JavaScript has only
//! doubles, so an integer beyond 2^53 arrives rounded, and a whole double comes back as an
//! integer (`2` stays `2`, not `2.0`). What JSON cannot hold (functions, symbols, `undefined` in
//! an object) is left out as `JSON.stringify` leaves it; `NaN` and infinities become `null`.

use rquickjs::{Array, Ctx, IntoJs, Object, Type, Value};
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
                object.set(key.as_str(), to_js_at(ctx, item, depth + 1)?)?;
            }
            object.into_value()
        }
    })
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
            let mut fields = Map::new();
            for prop in object.props::<String, Value<'_>>() {
                let (key, item) = prop.map_err(js)?;
                if let Some(item) = from_js_at(&item, depth + 1)? {
                    fields.insert(key, item);
                }
            }
            Json::Object(fields)
        }
    }))
}

/// A double as JSON: whole numbers that fit as integers, `NaN` and infinities as `null`.
#[allow(clippy::cast_possible_truncation)]
fn number(float: f64) -> Json {
    if float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0 {
        return Json::from(float as i64);
    }
    Number::from_f64(float).map_or(Json::Null, Json::Number)
}
