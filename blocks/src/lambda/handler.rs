//! The function a `lambda` block invokes: the [`Handler`] trait, and its first implementation,
//! a jq program ([`JqHandler`]).

use std::fmt;
use std::sync::Arc;

use runnel_engine::{BuildContext, BuildError, async_trait};
use serde::Deserialize;
use serde_json::Value;

use crate::jq::JqProgram;

/// A function invoked with one Lambda event (`{"Records": [...]}`, plus the window's fields
/// under a tumbling window) that answers with Lambda's response shape: `null` or `{}` for
/// success, `{"batchItemFailures": [...]}` for a partial failure, `{"state": ...}` under a
/// tumbling window.
///
/// ```
/// use runnel_blocks::lambda::{Handler, HandlerError};
/// use serde_json::{Value, json};
///
/// /// Fails a batch that holds a record with partition key "poison".
/// #[derive(Debug)]
/// struct Picky;
///
/// #[runnel_engine::async_trait]
/// impl Handler for Picky {
///     async fn invoke(&self, event: Value) -> Result<Value, HandlerError> {
///         let records = event["Records"].as_array().map_or(&[][..], Vec::as_slice);
///         if records.iter().any(|r| r["kinesis"]["partitionKey"] == "poison") {
///             return Err(HandlerError::Function("poison record".into()));
///         }
///         Ok(json!({}))
///     }
/// }
/// ```
#[async_trait]
pub trait Handler: fmt::Debug + Send + Sync + 'static {
    /// Handles one event and returns the response.
    ///
    /// # Errors
    /// [`HandlerError`] when the function fails: the block retries or bisects the batch as
    /// Lambda does for a function error.
    async fn invoke(&self, event: Value) -> Result<Value, HandlerError>;
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The function raised an error (Lambda's `Unhandled` function error).
    #[error("the function failed: {0}")]
    Function(String),
}

/// Which function a `lambda` block invokes: the `handler` table of its configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HandlerConfig {
    /// `{ type = "map", program = "..." }`: a jq program that receives the event and outputs
    /// the response (no output is a `null` response; more than one output is a failure).
    Map {
        /// The jq program (a string, or a table with `source` and the budget's limits).
        program: JqProgram,
    },
    /// `{ type = "function", file = "index.mjs" }` (or `code`): a JavaScript handler as written
    /// for Lambda, `export const handler = async (event, context) => ...`, run in QuickJS on a
    /// thread of its own (Cargo feature `js`).
    #[cfg(feature = "js")]
    Function(runnel_js::LambdaFunctionConfig),
    /// A handler written in Rust, given by a program embedding runnel (not in pipeline files).
    #[serde(skip)]
    Rust(RustHandler),
}

impl HandlerConfig {
    /// A configuration invoking `handler`.
    pub fn rust(handler: impl Handler) -> Self {
        Self::Rust(RustHandler(Arc::new(handler)))
    }

    /// Problems with the handler's own configuration.
    pub(super) fn problems(&self) -> Vec<String> {
        match self {
            #[cfg(feature = "js")]
            Self::Function(function) => function.problems(),
            Self::Map { .. } | Self::Rust(_) => Vec::new(),
        }
    }

    /// Problems with a handler file the configuration names, read from `base_dir`.
    pub(super) fn file_problems(&self, base_dir: &std::path::Path) -> Vec<String> {
        let _ = base_dir;
        match self {
            #[cfg(feature = "js")]
            Self::Function(function) => function.file_problems(base_dir),
            Self::Map { .. } | Self::Rust(_) => Vec::new(),
        }
    }

    /// The handler to invoke, loaded.
    ///
    /// # Errors
    /// A JavaScript handler that does not load.
    pub(super) async fn build(&self, cx: &BuildContext) -> Result<Arc<dyn Handler>, BuildError> {
        let _ = cx;
        Ok(match self {
            Self::Map { program } => Arc::new(JqHandler { program: program.clone() }),
            #[cfg(feature = "js")]
            Self::Function(function) => Arc::new(JsHandler(function.start(cx).await?)),
            Self::Rust(RustHandler(handler)) => Arc::clone(handler),
        })
    }
}

/// A handler given in Rust ([`HandlerConfig::rust`]).
#[derive(Clone)]
pub struct RustHandler(Arc<dyn Handler>);

impl fmt::Debug for RustHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A jq program as a handler. It runs synchronously, within the program's budget (1 s and
/// 64 MiB by default), on the block's task.
#[derive(Debug, Clone)]
pub struct JqHandler {
    program: JqProgram,
}

#[async_trait]
impl Handler for JqHandler {
    async fn invoke(&self, event: Value) -> Result<Value, HandlerError> {
        let mut outputs = self.program.run(&event).map_err(|e| HandlerError::Function(e.to_string()))?;
        match outputs.len() {
            0 => Ok(Value::Null),
            1 => Ok(outputs.swap_remove(0)),
            n => Err(HandlerError::Function(format!("the program gave {n} responses; a handler answers with one"))),
        }
    }
}

/// A JavaScript Lambda handler (Cargo feature `js`).
#[cfg(feature = "js")]
#[derive(Debug)]
struct JsHandler(runnel_js::LambdaFunction);

#[cfg(feature = "js")]
#[async_trait]
impl Handler for JsHandler {
    async fn invoke(&self, event: Value) -> Result<Value, HandlerError> {
        self.0.invoke(event).await.map_err(HandlerError::Function)
    }
}
