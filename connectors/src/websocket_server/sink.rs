//! The `websocket_server` sink: delivers each message to the subscribers of the channel its
//! template names, through the hub of a `websocket_server` source of the same pipeline.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use runnel_engine::{
    AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, NodeRef, Role, RunContext, async_trait,
};

use super::config::WebSocketServerSinkConfig;
use super::hub::{self, Hub, Lease};
use super::template::Template;

impl Component for WebSocketServerSinkConfig {
    const TYPE: &'static str = "websocket_server";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str =
        "Delivers each message to the subscribers of a channel of a `websocket_server` source (`channel = \"room/{room}\"`).";
    const EXAMPLE: &'static str = "server = \"ws\"\nchannel = \"chat/pub/{room}\"\nhistory = true";
}

#[async_trait]
impl BlockConfig for WebSocketServerSinkConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    fn references(&self) -> Vec<NodeRef> {
        vec![NodeRef::new("server", self.server.clone(), super::SERVER_KIND)]
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        // The graph rules checked the reference, and the server was built first.
        let hub = hub::find(&cx.resources, &self.server)
            .ok_or_else(|| BuildError::Invalid(format!("the `websocket_server` source `{}` registered no hub", self.server)))?;
        Ok(BuiltBlock::task(WebSocketServerSink { lease: hub.lease(), hub, channel: self.channel.clone(), history: self.history }))
    }
}

/// The running `websocket_server` sink.
#[derive(Debug)]
pub struct WebSocketServerSink {
    hub: Arc<Hub>,
    lease: Lease,
    channel: Template,
    history: bool,
}

#[async_trait]
impl Block for WebSocketServerSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            let timer = cx.metrics.batch_duration.start_timer();
            let failures = self.deliver(batch);
            cx.output.fail(failures).await?;
            timer.observe_duration();
        }
        drop(self.lease);
        Ok(())
    }
}

impl WebSocketServerSink {
    /// Delivers runs of messages bound for the same channel together; returns the messages
    /// whose channel could not be named.
    fn deliver(&self, batch: Vec<Message>) -> Vec<(Message, String)> {
        let mut failures = Vec::new();
        let mut run: Vec<Message> = Vec::new();
        let mut run_channel = String::new();
        for message in batch {
            match self.channel.render(message.value(), Some(message.meta())) {
                Ok(channel) => {
                    if channel != run_channel {
                        self.flush(&run_channel, std::mem::take(&mut run));
                        run_channel = channel;
                    }
                    run.push(message);
                }
                Err(error) => failures.push((message, error)),
            }
        }
        self.flush(&run_channel, run);
        failures
    }

    fn flush(&self, channel: &str, run: Vec<Message>) {
        if run.is_empty() {
            return;
        }
        let data: Vec<Utf8Bytes> = run.iter().map(|m| Utf8Bytes::from(crate::codec::encode_text(m))).collect();
        let (reached, recorded) = self.hub.deliver(channel, &data, self.history);
        // Queued for every subscriber (or kept in history) is delivered; nobody to deliver to
        // and nothing kept is a deliberate drop, as in any publish/subscribe broker.
        let status = if reached > 0 || recorded { AckStatus::Delivered } else { AckStatus::Dropped };
        runnel_engine::ack_batch(run, status);
    }
}
