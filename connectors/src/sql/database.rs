//! The database behind a `sql` node, whichever it is: SQLite (embedded, its blocking calls on
//! tokio's blocking threads) or PostgreSQL (a pool of async connections). The sink and the
//! block speak to this, not to either.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::postgres;
pub(crate) use super::postgres::{Failure, Purpose};
use runnel_engine::Message;

use super::params::{Params, RowRef};
use super::sqlite::{self, Row};

/// Why a message was not written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A parameter's expression failed on it.
    Params(String),
    /// The database refused its row (a constraint, a type): its message.
    Database(String),
}

/// Each message's row, borrowed from it; `None` where a parameter could not be read (listed).
fn rows<'a>(messages: &'a [Message], params: &'a Params) -> (Vec<Option<RowRef<'a>>>, Vec<(usize, Refusal)>) {
    let mut unread = Vec::new();
    let rows = messages
        .iter()
        .enumerate()
        .map(|(index, message)| match params.row_ref(message.value()) {
            Ok(row) => Some(row),
            Err(error) => {
                unread.push((index, Refusal::Params(error)));
                None
            }
        })
        .collect();
    (rows, unread)
}

/// Both kinds of refusal, in message order.
fn refusals(mut unread: Vec<(usize, Refusal)>, refused: Vec<(usize, String)>) -> Vec<(usize, Refusal)> {
    unread.extend(refused.into_iter().map(|(index, message)| (index, Refusal::Database(message))));
    unread.sort_by_key(|(index, _)| *index);
    unread
}

/// Where a `url` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `sqlite:<path>`, the path as written.
    Sqlite(String),
    /// `postgres://...` or `postgresql://...`.
    Postgres(String),
}

impl Target {
    /// Reads a `url`.
    ///
    /// # Errors
    /// A URL of neither kind.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite:").filter(|path| !path.is_empty()) {
            return Ok(Self::Sqlite(path.to_owned()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(format!("`url` must be `sqlite:<path>` or `postgres://user@host:port/database`, not `{url}`"))
    }
}

/// What a node runs: its statement, the order rows hold its parameters in, and what to run
/// once before it.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    /// The statement, with `:name` parameters.
    pub(crate) sql: String,
    /// The parameters' names, in the order rows hold their values.
    pub(crate) order: Vec<String>,
    /// Statements run once when the database is opened (`CREATE TABLE IF NOT EXISTS ...`).
    pub(crate) init: Option<String>,
    /// PostgreSQL connections kept open, at most.
    pub(crate) pool_size: usize,
    /// What the statement is for.
    pub(crate) purpose: Purpose,
    /// TLS to PostgreSQL, with the `ca_file` resolved.
    pub(crate) tls: Option<super::config::TlsConfig>,
}

/// An open database with a node's statement.
#[derive(Debug)]
pub(crate) enum Database {
    /// One SQLite connection; opened again after a failure.
    Sqlite { connection: Arc<Mutex<sqlite::Database>>, path: PathBuf, spec: Arc<Spec> },
    /// A pool of PostgreSQL connections.
    Postgres(Arc<postgres::Database>),
}

impl Database {
    /// Opens the database for `sql`, whose parameters rows hold in the order of `order`. SQLite
    /// is opened (and the file created) now; PostgreSQL is connected to now if it answers, so a
    /// statement that does not fit the schema is an error at start, and otherwise at first use
    /// (a database that starts after runnel is waited for).
    ///
    /// # Errors
    /// The database's message, for what trying again will not mend.
    pub(crate) async fn open(target: &Target, resolve: impl Fn(&str) -> PathBuf, spec: Spec, node: &str) -> Result<Self, String> {
        match target {
            Target::Sqlite(path) => {
                let (path, spec) = (resolve(path), Arc::new(spec));
                let connection = {
                    let (path, spec) = (path.clone(), Arc::clone(&spec));
                    tokio::task::spawn_blocking(move || sqlite::Database::open(&path, &spec)).await.map_err(|e| e.to_string())??
                };
                Ok(Self::Sqlite { connection: Arc::new(Mutex::new(connection)), path, spec })
            }
            Target::Postgres(url) => {
                let database = postgres::Database::new(url, &spec)?;
                match database.check().await {
                    Ok(()) => {}
                    Err(Failure::Statement(message)) => return Err(message),
                    Err(Failure::Unreachable(error)) => {
                        tracing::warn!(node = %node, %error, "cannot reach PostgreSQL yet; the node starts and tries again when it has work");
                    }
                }
                Ok(Self::Postgres(Arc::new(database)))
            }
        }
    }

    /// Writes each message's row (its `params`) in one transaction; the messages not written,
    /// by index, and why.
    ///
    /// # Errors
    /// Nothing was committed.
    pub(crate) async fn write(&self, messages: Arc<Vec<Message>>, params: Arc<Params>) -> Result<Vec<(usize, Refusal)>, Failure> {
        match self {
            Self::Sqlite { .. } => {
                self.blocking(move |database| {
                    let (rows, unread) = rows(&messages, &params);
                    Ok(refusals(unread, database.write(&rows)?))
                })
                .await
            }
            Self::Postgres(database) => {
                let (rows, unread) = rows(&messages, &params);
                Ok(refusals(unread, database.write(&rows).await?))
            }
        }
    }

    /// Runs the query for each parameter row: its rows as objects, or why its parameters were
    /// refused.
    ///
    /// # Errors
    /// The database failed (not the parameters).
    pub(crate) async fn query(&self, rows: Arc<Vec<Row>>) -> Result<Vec<Result<Vec<Value>, String>>, Failure> {
        match self {
            Self::Sqlite { .. } => self.blocking(move |database| database.query(&rows)).await,
            Self::Postgres(database) => database.query(&rows).await,
        }
    }

    /// Runs `work` on the SQLite connection on a blocking thread; after a failure, the
    /// connection is opened again for the next attempt (it may be what failed).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut sqlite::Database) -> Result<T, String> + Send + 'static,
    ) -> Result<T, Failure> {
        let Self::Sqlite { connection, path, spec } = self else { unreachable!("called for SQLite only") };
        let (connection, path, spec) = (Arc::clone(connection), path.clone(), Arc::clone(spec));
        tokio::task::spawn_blocking(move || {
            let mut database = connection.lock().unwrap_or_else(PoisonError::into_inner);
            let done = work(&mut database);
            if done.is_err()
                && let Ok(reopened) = sqlite::Database::open(&path, &spec)
            {
                *database = reopened;
            }
            done.map_err(Failure::Unreachable)
        })
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?
    }
}
