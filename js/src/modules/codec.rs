//! `codec/base64` (`btoa`, `atob`), `codec/query_string` (`parse`, `stringify`, `escape`,
//! `unescape`), `codec/auth` (`basic`), as PubNub's, and `codec` holding the three. Text is
//! UTF-8 both ways (a browser's `btoa` takes Latin-1 only); `atob` also reads the URL-safe
//! alphabet and missing padding.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rquickjs::prelude::Opt;
use rquickjs::{Ctx, Function, Object, Value};
use serde_json::{Map, Value as Json};

use super::type_error;
use crate::convert::{from_js, to_js};

/// What `encodeURIComponent` leaves as it is.
const COMPONENT: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'!').remove(b'~').remove(b'*').remove(b'\'').remove(b'(').remove(b')');

/// Decodes base64 with or without padding.
const LENIENT: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// `codec`, `codec/base64`, `codec/query_string` and `codec/auth` of one engine.
pub(super) fn objects<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<(Object<'js>, Object<'js>, Object<'js>, Object<'js>)> {
    let base64 = Object::new(ctx.clone())?;
    base64.set("btoa", Function::new(ctx.clone(), |text: String| STANDARD.encode(text))?.with_name("btoa")?)?;
    base64.set("atob", Function::new(ctx.clone(), atob)?.with_name("atob")?)?;
    let query = Object::new(ctx.clone())?;
    query.set("parse", Function::new(ctx.clone(), parse)?.with_name("parse")?)?;
    query.set("stringify", Function::new(ctx.clone(), stringify)?.with_name("stringify")?)?;
    query.set("escape", Function::new(ctx.clone(), |text: String| utf8_percent_encode(&text, COMPONENT).to_string())?.with_name("escape")?)?;
    query.set("unescape", Function::new(ctx.clone(), unescape)?.with_name("unescape")?)?;
    let auth = Object::new(ctx.clone())?;
    let basic = |user: String, password: String| format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    auth.set("basic", Function::new(ctx.clone(), basic)?.with_name("basic")?)?;
    let codec = Object::new(ctx.clone())?;
    codec.set("base64", base64.clone())?;
    codec.set("query_string", query.clone())?;
    codec.set("auth", auth.clone())?;
    Ok((codec, base64, query, auth))
}

/// Base64 (standard or URL-safe, padded or not) to text.
fn atob(ctx: Ctx<'_>, encoded: String) -> rquickjs::Result<String> {
    let standard: String = encoded
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = LENIENT.decode(standard).map_err(|e| type_error(&ctx, &format!("atob: not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| type_error(&ctx, "atob: the decoded bytes are not UTF-8 text"))
}

/// `%41` and `+` back to text.
fn unescape(text: String) -> String {
    percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// `a=1&b=x&b=y` to `{a: "1", b: ["x", "y"]}`, over `defaults` (missing keys take theirs).
fn parse<'js>(ctx: Ctx<'js>, text: String, defaults: Opt<Value<'js>>) -> rquickjs::Result<Value<'js>> {
    let mut fields = match defaults.0.as_ref().map(from_js).transpose().map_err(|e| type_error(&ctx, &e))?.flatten() {
        Some(Json::Object(defaults)) => defaults,
        None | Some(Json::Null) => Map::new(),
        Some(_) => return Err(type_error(&ctx, "query_string.parse: the defaults must be an object")),
    };
    let mut seen = Map::new();
    for pair in text.trim_start_matches('?').split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (unescape(key.to_owned()), Json::String(unescape(value.to_owned())));
        match seen.get_mut(&key) {
            Some(Json::Array(values)) => values.push(value),
            Some(first) => *first = Json::Array(vec![first.take(), value]),
            None => {
                seen.insert(key, value);
            }
        }
    }
    fields.extend(seen);
    to_js(&ctx, &Json::Object(fields))
}

/// `{a: 1, b: ["x", "y"]}` to `a=1&b=x&b=y` (nested objects and `null` as empty values).
fn stringify<'js>(ctx: Ctx<'js>, params: Value<'js>) -> rquickjs::Result<String> {
    let Some(Json::Object(fields)) = from_js(&params).map_err(|e| type_error(&ctx, &e))? else {
        return Err(type_error(&ctx, "query_string.stringify: give an object"));
    };
    let text = |value: &Json| match value {
        Json::String(text) => text.clone(),
        Json::Number(_) | Json::Bool(_) => value.to_string(),
        _ => String::new(),
    };
    let mut pairs = Vec::new();
    for (key, value) in &fields {
        let key = utf8_percent_encode(key, COMPONENT);
        match value {
            Json::Array(values) => pairs.extend(values.iter().map(|v| format!("{key}={}", utf8_percent_encode(&text(v), COMPONENT)))),
            value => pairs.push(format!("{key}={}", utf8_percent_encode(&text(value), COMPONENT))),
        }
    }
    Ok(pairs.join("&"))
}
