//! The running `http_response` sink: for each message, takes the reply slot of the request its
//! `request_id` attribute names (one lock per batch), and answers it. A message whose request no
//! longer waits is counted and logged (at most every few seconds), and acknowledged as dropped:
//! the client is gone, not the pipeline broken. A message without the attribute, or that is no
//! valid reply, fails (the request, if it waits, gets a 500 saying why).

use axum::http::StatusCode;
use runnel_engine::{
    AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, LogLimiter, Message, Role, RunContext, async_trait,
};
use serde_json::json;

use super::config::HttpResponseConfig;
use super::metrics::ReplyMetrics;
use super::reply::{Shape, json_answer};
use crate::http_server::REQUEST_ID;
use crate::http_server::pending;

impl Component for HttpResponseConfig {
    const TYPE: &'static str = "http_response";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "Answers the requests of `http_server` routes with `ack = \"reply\"`: each message becomes its request's HTTP answer (status, headers, JSON or bytes).";
    const EXAMPLE: &'static str = "status_field = \"status\"\nheaders_field = \"headers\"\nheaders = { \"Cache-Control\" = \"no-store\" }";
}

#[async_trait]
impl BlockConfig for HttpResponseConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(HttpResponse {
            shape: Shape::new(self),
            metrics: ReplyMetrics::register(&cx.metrics, &cx.name),
            node: cx.name.to_string(),
            log_limit: LogLimiter::new(LogLimiter::DEFAULT_INTERVAL),
        }))
    }
}

/// The running `http_response` sink.
#[derive(Debug)]
pub struct HttpResponse {
    shape: Shape,
    metrics: ReplyMetrics,
    node: String,
    log_limit: LogLimiter,
}

#[async_trait]
impl Block for HttpResponse {
    async fn run(mut self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            let timer = cx.metrics.batch_duration.start_timer();
            let failures = self.answer(batch);
            cx.output.fail(failures).await?;
            timer.observe_duration();
        }
        Ok(())
    }
}

impl HttpResponse {
    /// Answers the requests of `batch`'s messages; returns the messages that failed, and why.
    fn answer(&mut self, batch: Vec<Message>) -> Vec<(Message, String)> {
        let ids: Vec<Option<u64>> = batch.iter().map(|m| m.meta().attribute(REQUEST_ID).and_then(serde_json::Value::as_u64)).collect();
        let slots = pending::take(ids.iter().copied());
        let (mut failures, mut unanswerable, mut answered) = (Vec::new(), 0, 0);
        for ((message, id), slot) in batch.into_iter().zip(ids).zip(slots) {
            let Some(slot) = slot else {
                if id.is_some() {
                    unanswerable += 1;
                    message.ack(AckStatus::Dropped);
                } else {
                    let why =
                        format!("the message has no `{REQUEST_ID}` attribute: it did not come from an `http_server` route with `ack = \"reply\"`");
                    failures.push((message, why));
                }
                continue;
            };
            let (answer, failure) = match self.shape.reply(&message) {
                Ok(answer) => (answer, None),
                Err(why) => (json_answer(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": why, "node": self.node})), Some(why)),
            };
            // Sent before the message is acknowledged: its request sees the reply first.
            let sent = slot.send(answer).is_ok();
            match (failure, sent) {
                (Some(why), _) => failures.push((message, why)),
                (None, true) => {
                    answered += 1;
                    message.ack(AckStatus::Delivered);
                }
                (None, false) => {
                    unanswerable += 1;
                    message.ack(AckStatus::Dropped);
                }
            }
        }
        self.metrics.answered.inc_by(answered);
        if unanswerable > 0 {
            self.metrics.unanswerable.inc_by(unanswerable);
            if let Some(suppressed) = self.log_limit.check(unanswerable) {
                tracing::warn!(node = %self.node, count = unanswerable, suppressed, "replies for requests that no longer wait (answered already, timed out, or gone)");
            }
        }
        failures
    }
}
