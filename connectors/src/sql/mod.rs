//! The `sql` sink: messages as rows, written in transactions to SQLite (embedded: a file, nothing
//! to install). Each message's parameters come from jq expressions; a row the database refuses
//! (a constraint, a type a `STRICT` table does not take) fails that message alone, to the
//! `errors` port with the database's message; the rest of the transaction commits. Messages are acknowledged only after the commit; when the database
//! itself fails (busy, a full disk, a lost file), the whole transaction is written again after a
//! backoff, and nothing of it is acknowledged before.
//!
//! - [`config`]: [`SqlSinkConfig`], its fields and their checks.
//! - `sqlite`: the connection and one transaction.

pub mod config;
mod sqlite;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use runnel_engine::{
    AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, CancellationToken, Component, Role, RunContext, async_trait,
};
use serde_json::Value;

pub use self::config::SqlSinkConfig;
use self::sqlite::{Database, Row};

/// The longest wait between two attempts at a failing database.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Component for SqlSinkConfig {
    const TYPE: &'static str = "sql";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "Writes messages as rows of a SQLite table (insert or upsert, or a statement with named parameters), in transactions; acknowledges after the commit.";
    const EXAMPLE: &'static str = r#"url = "sqlite:media.db"
table = "media"
columns = { owner = ".owner", url = ".url", bytes = ".bytes" }
key = ["url"]"#;
}

#[async_trait]
impl BlockConfig for SqlSinkConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let path = cx.resolve(std::path::Path::new(self.url.strip_prefix("sqlite:").unwrap_or_default()));
        let (sql, params) = self.sql();
        let order: Arc<Vec<String>> = Arc::new(params.iter().map(|(name, _)| name.clone()).collect());
        let database = {
            let (path, sql, order) = (path.clone(), sql.clone(), Arc::clone(&order));
            tokio::task::spawn_blocking(move || Database::open(&path, &sql, &order))
                .await
                .map_err(|e| BuildError::Other(Box::new(e)))?
                .map_err(|e| BuildError::Other(e.into()))?
        };
        Ok(BuiltBlock::task(SqlSink { config: self.clone(), path, sql, params, order, database: Arc::new(Mutex::new(database)) }))
    }
}

/// The running sink.
struct SqlSink {
    config: SqlSinkConfig,
    path: PathBuf,
    sql: String,
    params: Vec<(String, runnel_blocks::JqProgram)>,
    /// The parameters' names, in the order rows hold them (to open the database again).
    order: Arc<Vec<String>>,
    database: Arc<Mutex<Database>>,
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
                match self.row(message.value()) {
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
            if !failures.is_empty() {
                cx.metrics.errors.inc_by(failures.len() as u64);
                cx.output.fail(failures).await?;
            }
            timer.observe_duration();
        }
        Ok(())
    }
}

impl SqlSink {
    /// The parameters of a message's row.
    fn row(&self, value: &Value) -> Result<Row, String> {
        self.params
            .iter()
            .map(|(name, program)| program.run_first(value).map(|v| v.unwrap_or(Value::Null)).map_err(|e| format!("`{name}`: {e}")))
            .collect()
    }

    /// Writes `rows` in one transaction, again and again until the database takes it (or the
    /// pipeline stops); returns the rows it refused, by index, with its message.
    async fn write(&self, values: Arc<Vec<Row>>, node: &str, shutdown: &CancellationToken) -> Result<Vec<(usize, String)>, BlockError> {
        let mut backoff = self.config.retry_backoff.duration();
        loop {
            let (database, rows, order) = (Arc::clone(&self.database), Arc::clone(&values), Arc::clone(&self.order));
            let (path, sql) = (self.path.clone(), self.sql.clone());
            let attempt = tokio::task::spawn_blocking(move || {
                let mut database = database.lock().unwrap_or_else(PoisonError::into_inner);
                let written = database.write(&rows);
                // The connection may be what failed: open it again for the next attempt.
                if written.is_err()
                    && let Ok(reopened) = Database::open(&path, &sql, &order)
                {
                    *database = reopened;
                }
                written
            })
            .await
            .map_err(BlockError::other)?;
            match attempt {
                Ok(refused) => return Ok(refused),
                Err(error) => {
                    tracing::warn!(node = %node, %error, retry_in = ?backoff, rows = values.len(), "cannot write to the database; nothing of it is acknowledged, trying again");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return Err(BlockError::other(format!("stopping with {} rows not written: {error}", values.len()))),
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
