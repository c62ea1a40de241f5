//! The database behind a `sql` node, whichever it is: SQLite (embedded, its blocking calls on
//! tokio's blocking threads) or PostgreSQL (a pool of async connections). The sink and the
//! block speak to this, not to either.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::postgres;
pub(crate) use super::postgres::{Failure, Purpose};
use super::sqlite::{self, Row};

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

    /// Writes `rows` in one transaction; the rows the database refused, by index, with its
    /// message.
    ///
    /// # Errors
    /// Nothing was committed.
    pub(crate) async fn write(&self, rows: Arc<Vec<Row>>) -> Result<Vec<(usize, String)>, Failure> {
        match self {
            Self::Sqlite { .. } => self.blocking(move |database| database.write(&rows)).await,
            Self::Postgres(database) => database.write(&rows).await,
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
