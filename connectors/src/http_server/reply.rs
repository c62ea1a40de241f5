//! How a request of a route with `ack = "reply"` is answered, once its messages are in the
//! pipeline: with the first reply an `http_response` sink makes for it; 204 if every sink
//! confirmed its messages (or a block dropped them) without a reply; 500 if one failed them;
//! 504 when no reply came within the route's timeout.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runnel_engine::{AckReceiver, AckStatus};

use super::http::error;
use super::pending::Waiting;

/// Waits for `waiting`'s reply, or for the messages' acknowledgement on `outcome`, at most
/// `timeout`. `None` when the pipeline stopped before either came.
pub(crate) async fn wait(mut waiting: Waiting, outcome: &mut AckReceiver, timeout: Duration) -> Option<Response> {
    let answer = tokio::select! {
        biased;
        reply = &mut waiting.reply => reply.unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the reply was lost")),
        ack = outcome.recv() => {
            // A sink sends its reply before it acknowledges the message: a reply made is here.
            if let Ok(reply) = waiting.reply.try_recv() {
                return Some(reply);
            }
            match ack.map(|ack| ack.status) {
                Some(status) if status.is_done() => StatusCode::NO_CONTENT.into_response(),
                Some(AckStatus::Failed) => {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "a block or sink failed a message of this request before any reply")
                }
                _ => return None,
            }
        }
        () = tokio::time::sleep(timeout) => error(StatusCode::GATEWAY_TIMEOUT, "no reply in time"),
    };
    Some(answer)
}
