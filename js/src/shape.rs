//! The handler shapes users bring from Lambda and PubNub, and how each is called: which export
//! of the module is the handler, and the adapter (`shape/adapters.js`) that gives it the objects
//! it expects and turns its answer into runnel's result.

use rquickjs::{CatchResultExt as _, Ctx, Function, Object, Value};
use serde::Deserialize;

use crate::engine::describe;

/// How a handler is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `export default (event, meta) => result`: the message's value and its metadata; the
    /// result is the message, several, `null` or `undefined` (dropped), or `{port, message}`.
    Event,
    /// AWS Lambda's `export const handler = async (event, context) => result`, with a Lambda
    /// context (`functionName`, `awsRequestId`, `getRemainingTimeInMillis()`...).
    Lambda,
    /// PubNub's before-publish: `export default (request) => request.ok()` or
    /// `request.abort()`; the handler may change `request.message`, and an abort drops it.
    BeforePublish,
    /// PubNub's after-publish: as `before_publish`, but the handler sees a copy: the message
    /// goes on unchanged unless it aborts.
    AfterPublish,
    /// PubNub's on-interval: as `before_publish`, for the ticks of a timer source.
    OnInterval,
    /// PubNub's on-request: `export default (request, response) => response.send(body, status)`,
    /// for `http_server` requests; the result `{status, headers, body}` is what an
    /// `http_response` sink answers with.
    OnRequest,
}

impl Shape {
    /// The name configurations use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Lambda => "lambda",
            Self::BeforePublish => "before_publish",
            Self::AfterPublish => "after_publish",
            Self::OnInterval => "on_interval",
            Self::OnRequest => "on_request",
        }
    }

    /// Whether the message goes on as it came (unless the handler drops it).
    pub(crate) fn keeps_message(self) -> bool {
        self == Self::AfterPublish
    }

    fn export(self) -> &'static str {
        if self == Self::Lambda { "handler" } else { "default" }
    }
}

/// What the handler is told of its block: its name, limits and `process.env`.
#[derive(Clone, Debug)]
pub(crate) struct Invocation {
    /// The node's name: a Lambda context's `functionName`.
    pub(crate) node: String,
    /// A Lambda context's `memoryLimitInMB`.
    pub(crate) memory_mib: usize,
    /// What `getRemainingTimeInMillis()` counts down from.
    pub(crate) timeout_ms: u64,
    /// `process.env`.
    pub(crate) env: std::collections::BTreeMap<String, String>,
}

impl Invocation {
    /// What a block named `node` with these limits tells its handler.
    pub(crate) fn new(node: &str, memory_mib: usize, timeout: runnel_engine::Span, env: std::collections::BTreeMap<String, String>) -> Self {
        Self { node: node.to_owned(), memory_mib, timeout_ms: u64::try_from(timeout.duration().as_millis()).unwrap_or(u64::MAX), env }
    }
}

/// The function to call with `(event, meta)`, for the module whose exports are `exports`:
/// the export `shape` names, adapted. Without a configured shape, a default export is an
/// `event` handler and, in a module without one, a `handler` export a Lambda handler.
///
/// # Errors
/// The module has no such export, or it is not a function.
pub(crate) fn handler<'js>(
    ctx: &Ctx<'js>,
    exports: &Object<'js>,
    shape: Option<Shape>,
    invocation: &Invocation,
    module: &str,
) -> Result<(Shape, Function<'js>), String> {
    let export = |name: &str| -> Result<Option<Function<'js>>, String> {
        let value: Value<'js> = exports.get(name).catch(ctx).map_err(describe)?;
        if value.is_undefined() {
            return Ok(None);
        }
        value.into_function().map(Some).ok_or_else(|| format!("{module}: the export `{name}` is not a function"))
    };
    let (shape, function) = match shape {
        Some(shape) => match export(shape.export())? {
            Some(function) => (shape, function),
            None => return Err(missing(module, shape)),
        },
        None => match (export("default")?, export("handler")?) {
            (Some(function), _) => (Shape::Event, function),
            (None, Some(function)) => (Shape::Lambda, function),
            (None, None) => {
                return Err(format!(
                    "{module}: the module exports no handler: `export default (event) => ...`, or Lambda's `export const handler = async (event, context) => ...`"
                ));
            }
        },
    };
    if shape == Shape::Event {
        return Ok((shape, function));
    }
    let adapters: Object<'js> = ctx.eval(include_str!("shape/adapters.js")).catch(ctx).map_err(describe)?;
    let adapted: Function<'js> = match shape {
        Shape::Event => unreachable!("returned above"),
        Shape::Lambda => {
            let adapt: Function<'js> = adapters.get("lambda").catch(ctx).map_err(describe)?;
            adapt.call((function, invocation.node.as_str(), invocation.memory_mib, invocation.timeout_ms)).catch(ctx).map_err(describe)?
        }
        Shape::BeforePublish | Shape::AfterPublish | Shape::OnInterval => {
            let adapt: Function<'js> = adapters.get("publish").catch(ctx).map_err(describe)?;
            adapt.call((function,)).catch(ctx).map_err(describe)?
        }
        Shape::OnRequest => {
            let adapt: Function<'js> = adapters.get("request").catch(ctx).map_err(describe)?;
            adapt.call((function,)).catch(ctx).map_err(describe)?
        }
    };
    Ok((shape, adapted))
}

fn missing(module: &str, shape: Shape) -> String {
    match shape {
        Shape::Lambda => format!("{module}: a `lambda` handler is the export `handler`: `export const handler = async (event, context) => ...`"),
        Shape::OnRequest => format!("{module}: an `on_request` handler is the default export: `export default (request, response) => ...`"),
        other => format!("{module}: a `{}` handler is the default export: `export default (request) => request.ok()`", other.name()),
    }
}
