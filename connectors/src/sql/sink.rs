//! The running `sql` sink: transactions of up to `max_messages` rows, gathered for at most
//! `linger`, written until the database takes them.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use runnel_engine::{AckStatus, Block, BlockError, CancellationToken, Message, Output, RunContext, async_trait};

use super::config::SqlSinkConfig;
use super::database::{Database, Failure, Refusal};
use super::params::Params;

/// The longest wait between two attempts at a failing database.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The running sink.
pub(super) struct SqlSink {
    config: SqlSinkConfig,
    /// Each parameter's name and expression, in the order rows hold them.
    params: Arc<Params>,
    database: Arc<Database>,
}

impl SqlSink {
    pub(super) fn new(config: SqlSinkConfig, params: Params, database: Arc<Database>) -> Self {
        Self { config, params: Arc::new(params), database }
    }
}

#[async_trait]
impl Block for SqlSink {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let RunContext { mut input, output, metrics, name, shutdown, .. } = cx;
        // The output goes with the transaction being committed (which may fail messages), and comes back.
        let mut output = Some(output);
        let (linger, max) = (self.config.linger.duration(), self.config.max_messages);
        // While one transaction commits, the next is gathered and its rows made, so the
        // source never waits for the disk (one transaction in flight: the database takes them
        // one at a time anyway).
        let mut committing: Option<BoxFuture<'_, Result<Output, BlockError>>> = None;
        loop {
            let gather = async {
                let mut messages = input.next().await?;
                let deadline = tokio::time::Instant::now() + linger;
                while messages.len() < max {
                    match tokio::time::timeout_at(deadline, input.next()).await {
                        Ok(Some(more)) => messages.extend(more),
                        _ => break,
                    }
                }
                Some(messages)
            };
            let next = match committing.take() {
                Some(previous) => {
                    let (next, committed) = tokio::join!(gather, previous);
                    output = Some(committed?);
                    next
                }
                None => gather.await,
            };
            let Some(messages) = next else { break };
            let mut out = output.take().expect("given back by the last commit");
            let (self_, metrics, name, shutdown) = (&self, &metrics, &name, &shutdown);
            committing = Some(Box::pin(async move {
                let timer = metrics.batch_duration.start_timer();
                let (messages, refused) = self_.write(messages, name, shutdown).await?;
                let mut refused = refused.into_iter().peekable();
                let mut failures = Vec::new();
                for (index, message) in messages.into_iter().enumerate() {
                    match refused.next_if(|(at, _)| *at == index) {
                        Some((_, Refusal::Params(error))) => failures.push((message, error)),
                        Some((_, Refusal::Database(error))) => failures.push((message, format!("the database refused the row: {error}"))),
                        None => message.ack(AckStatus::Delivered),
                    }
                }
                out.fail(failures).await?;
                timer.observe_duration();
                Ok(out)
            }));
        }
        Ok(())
    }
}

impl SqlSink {
    /// Writes the messages' rows in one transaction, again and again until the database takes
    /// it (or the pipeline stops); gives the messages back with those not written, by index,
    /// and why. A statement
    /// that does not fit the database (found at first use, when PostgreSQL was not reachable at
    /// start) stops the sink.
    async fn write(
        &self,
        messages: Vec<Message>,
        node: &str,
        shutdown: &CancellationToken,
    ) -> Result<(Vec<Message>, Vec<(usize, Refusal)>), BlockError> {
        let messages = Arc::new(messages);
        let mut backoff = self.config.retry_backoff.duration();
        loop {
            let error = match self.database.write(Arc::clone(&messages), Arc::clone(&self.params)).await {
                Ok(refused) => {
                    // The database's side (a blocking thread, or the borrowed rows) is done with them.
                    let messages = Arc::try_unwrap(messages).map_err(|_| BlockError::other("the written messages are still shared"))?;
                    return Ok((messages, refused));
                }
                Err(Failure::Statement(message)) => return Err(BlockError::other(message)),
                Err(Failure::Unreachable(error)) => error,
            };
            tracing::warn!(node = %node, %error, retry_in = ?backoff, rows = messages.len(), "cannot write to the database; nothing of it is acknowledged, trying again");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return Err(BlockError::other(format!("stopping with {} rows not written: {error}", messages.len()))),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
