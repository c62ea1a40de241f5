//! The running `sql` sink: transactions of up to `max_messages` rows, gathered for at most
//! `linger`, written until the database takes them.

use std::sync::Arc;
use std::time::Duration;

use runnel_engine::{AckStatus, Block, BlockError, CancellationToken, RunContext, async_trait};

use super::config::SqlSinkConfig;
use super::database::{Database, Failure};
use super::params::Params;
use super::sqlite::Row;

/// The longest wait between two attempts at a failing database.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The running sink.
pub(super) struct SqlSink {
    config: SqlSinkConfig,
    /// Each parameter's name and expression, in the order rows hold them.
    params: Params,
    database: Arc<Database>,
}

impl SqlSink {
    pub(super) fn new(config: SqlSinkConfig, params: Params, database: Arc<Database>) -> Self {
        Self { config, params, database }
    }
}

#[async_trait]
impl Block for SqlSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let linger = self.config.linger.duration();
        let max = self.config.max_messages;
        while let Some(first) = cx.input.next().await {
            // A transaction: what is queued, and what comes within `linger`, up to `max`.
            let mut messages = first;
            let deadline = tokio::time::Instant::now() + linger;
            while messages.len() < max {
                match tokio::time::timeout_at(deadline, cx.input.next()).await {
                    Ok(Some(more)) => messages.extend(more),
                    _ => break,
                }
            }
            let timer = cx.metrics.batch_duration.start_timer();
            let mut rows = Vec::with_capacity(messages.len());
            let mut written = Vec::with_capacity(messages.len());
            let mut failures = Vec::new();
            for message in messages {
                match self.params.row(message.value()) {
                    Ok(row) => {
                        rows.push(row);
                        written.push(message);
                    }
                    Err(error) => failures.push((message, error)),
                }
            }
            let mut refused = self.write(Arc::new(rows), &cx.name, &cx.shutdown).await?.into_iter().peekable();
            for (index, message) in written.into_iter().enumerate() {
                match refused.next_if(|(at, _)| *at == index) {
                    Some((_, error)) => failures.push((message, format!("the database refused the row: {error}"))),
                    None => message.ack(AckStatus::Delivered),
                }
            }
            cx.output.fail(failures).await?;
            timer.observe_duration();
        }
        Ok(())
    }
}

impl SqlSink {
    /// Writes `rows` in one transaction, again and again until the database takes it (or the
    /// pipeline stops); returns the rows it refused, by index, with its message. A statement
    /// that does not fit the database (found at first use, when PostgreSQL was not reachable at
    /// start) stops the sink.
    async fn write(&self, values: Arc<Vec<Row>>, node: &str, shutdown: &CancellationToken) -> Result<Vec<(usize, String)>, BlockError> {
        let mut backoff = self.config.retry_backoff.duration();
        loop {
            let error = match self.database.write(Arc::clone(&values)).await {
                Ok(refused) => return Ok(refused),
                Err(Failure::Statement(message)) => return Err(BlockError::other(message)),
                Err(Failure::Unreachable(error)) => error,
            };
            tracing::warn!(node = %node, %error, retry_in = ?backoff, rows = values.len(), "cannot write to the database; nothing of it is acknowledged, trying again");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return Err(BlockError::other(format!("stopping with {} rows not written: {error}", values.len()))),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
