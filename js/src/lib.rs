//! The JavaScript `function` block: a serverless function as users write one for Lambda or
//! PubNub, run per message in QuickJS (through rquickjs), sandboxed.
//!
//! The handler is the default export of an ES module, inline (`code`) or a file (`file`):
//! `export default (event, meta) => ...`, or `async`. It gets the message's value and its
//! metadata (`key`, `timestamp`, `attributes`, `origin`), and returns the message (a value), an
//! array of messages (fan-out), `null` or `undefined` (the message is dropped, acknowledged as
//! dropped), or `{port: "name", message}` for a named port. A thrown error or a rejected promise
//! fails the message, to the `errors` port, with the error's stack (file, line and column).
//!
//! The sandbox: QuickJS has no file system, process or network access of its own (runnel does not
//! build QuickJS's `std` and `os` modules): the network only through the `fetch` module, within
//! the block's cap and host list. Imports resolve to runnel's modules (`kvstore`, `fetch`,
//! `crypto`, `codec/...`) and to files under the handler's folder only, and each invocation has a wall-time limit (an interrupt; the message fails, the
//! context goes on) and the context a memory limit.
//!
//! - [`config`]: [`FunctionConfig`], its fields and their checks (a compile error is located).
//! - `convert`: JSON values into JavaScript and back.
//! - `engine`: one QuickJS runtime with the handler loaded, and one invocation.
//! - `modules`: what handlers import (`kvstore`, `fetch`/`xhr`, `crypto`, `codec/...`) and the
//!   globals (`console`, `fetch`, `crypto`, `btoa`, `atob`).
//! - `worker`: the thread that owns the engine (QuickJS values cannot cross threads).
//! - `block`: the running block.
//! - [`lambda`]: a handler for the `lambda` block (Lambda's event-source-mapping semantics).
//! - `shape`: the handler shapes of Lambda and PubNub, adapted.

pub mod config;
pub mod lambda;

mod block;
mod convert;
mod engine;
mod modules;
mod shape;
mod worker;

#[cfg(test)]
mod tests;

pub use config::FunctionConfig;
pub use lambda::{LambdaFunction, LambdaFunctionConfig};
use runnel_engine::Registry;
pub use shape::Shape;

/// The JavaScript blocks, to add to a registry: `function`.
pub fn registry() -> Registry {
    Registry::new().with::<FunctionConfig>()
}
