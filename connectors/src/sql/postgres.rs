//! The PostgreSQL side of the `sql` sink and block: a pool of connections (a broken one is
//! replaced at the next use), the statement with its named parameters numbered, prepared once
//! per connection. A transaction's rows are sent pipelined (one round trip for the batch, not
//! one per row). PostgreSQL aborts a whole transaction at its first failing statement, so a row
//! it refuses is taken out and the rest written again in a new transaction: one extra round
//! trip per refused row, none when every row fits.

mod value;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::TryStreamExt as _;
use futures::future::join_all;
use serde_json::{Map, Value};
use tokio_postgres::config::SslMode;
use tokio_postgres::{NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use self::value::{Bind, BindError};
use super::database::Spec;
use super::named;
use super::params::RowRef;
use super::sqlite::Row;

/// What the statement is for, which decides what is checked of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Rows written (`INSERT`, `UPDATE`...): only its parameters must bind.
    Write,
    /// Rows read: its columns must read into JSON too.
    Query,
}

/// A pool of connections to one database, and the statement checked against it.
pub(crate) struct Database {
    pool: Pool,
    /// Run before the statement is first prepared, once.
    init: Option<String>,
    initialized: AtomicBool,
    sql: String,
    /// For each numbered parameter, where rows hold its value.
    positions: Vec<usize>,
    purpose: Purpose,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("sql", &self.sql).finish_non_exhaustive()
    }
}

impl Database {
    /// A pool of up to `pool_size` connections to `url` (a `postgres://` URL; TLS is not
    /// used), for `sql` whose parameters rows hold in the order of `order`. Nothing connects
    /// yet: [`Database::check`] does.
    ///
    /// # Errors
    /// A URL that does not parse, a parameter that `order` does not name.
    pub(crate) fn new(url: &str, spec: &Spec) -> Result<Self, String> {
        let (sql, order, pool_size, purpose) = (spec.sql.as_str(), spec.order.as_slice(), spec.pool_size, spec.purpose);
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("`url`: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match &spec.tls {
            None => Manager::from_config(config, NoTls, recycling),
            Some(tls) => {
                // With TLS asked for, a server that does not offer it is refused, not used in clear.
                if config.get_ssl_mode() == SslMode::Prefer {
                    config.ssl_mode(SslMode::Require);
                }
                let client = crate::tls::client_config(tls.ca_file.as_deref()).map_err(|e| format!("`tls`: {e}"))?;
                Manager::from_config(config, MakeRustlsConnect::new(Arc::unwrap_or_clone(client)), recycling)
            }
        };
        let pool = Pool::builder(manager).max_size(pool_size.max(1)).build().map_err(|e| e.to_string())?;
        let numbered = named::number(sql);
        let positions = numbered
            .names
            .iter()
            .map(|name| {
                order.iter().position(|o| o == name).ok_or_else(|| format!("`statement`: the parameter `:{name}` has no expression in `params`"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { pool, init: spec.init.clone(), initialized: AtomicBool::new(false), sql: numbered.sql, positions, purpose })
    }

    /// Connects and prepares the statement: an error says what does not fit the schema.
    ///
    /// # Errors
    /// [`Failure::Unreachable`] when no connection opens; [`Failure::Statement`] when the
    /// statement does not prepare or has a parameter or column runnel cannot convert.
    pub(crate) async fn check(&self) -> Result<(), Failure> {
        let client = self.pool.get().await.map_err(|e| Failure::Unreachable(e.to_string()))?;
        self.prepare(&client).await.map(drop)
    }

    async fn prepare(&self, client: &deadpool_postgres::Client) -> Result<Statement, Failure> {
        if let Some(init) = self.init.as_deref().filter(|_| !self.initialized.load(Ordering::Acquire)) {
            client.batch_execute(init).await.map_err(|error| match error.as_db_error() {
                Some(db) => Failure::Statement(format!("`init`: {}", db.message())),
                None => Failure::Unreachable(error.to_string()),
            })?;
            self.initialized.store(true, Ordering::Release);
        }
        let statement = client.prepare_cached(&self.sql).await.map_err(|error| match error.as_db_error() {
            Some(db) => Failure::Statement(format!("the statement `{}` does not prepare: {}", self.sql, db.message())),
            None => Failure::Unreachable(error.to_string()),
        })?;
        if let Some(ty) = statement.params().iter().find(|ty| !value::binds(ty)) {
            return Err(Failure::Statement(format!(
                "a parameter of the statement has type {ty}, which runnel does not bind a JSON value to: cast it from text in the statement (`CAST(:name AS text)::{ty}`)"
            )));
        }
        if self.purpose == Purpose::Query
            && let Some(column) = statement.columns().iter().find(|c| !value::reads(c.type_()))
        {
            return Err(Failure::Statement(format!(
                "the column `{}` has type {}, which runnel does not read: cast it in the query (`{0}::text`)",
                column.name(),
                column.type_()
            )));
        }
        Ok(statement)
    }

    /// Writes `rows` in one transaction (a `None` is skipped). Returns the rows the database
    /// refused (a constraint, a value of the wrong type), by index, with its message; the others
    /// are committed.
    ///
    /// # Errors
    /// When the transaction as a whole fails (the connection is lost, the server stops):
    /// nothing of it is committed.
    pub(crate) async fn write(&self, rows: &[Option<RowRef<'_>>]) -> Result<Vec<(usize, String)>, Failure> {
        let mut client = self.pool.get().await.map_err(|e| Failure::Unreachable(e.to_string()))?;
        let statement = self.prepare(&client).await?;
        let mut live: Vec<usize> = rows.iter().enumerate().filter(|(_, row)| row.is_some()).map(|(index, _)| index).collect();
        let mut refused: Vec<(usize, String)> = Vec::new();
        loop {
            let transaction = client.transaction().await.map_err(unreachable)?;
            let results = join_all(live.iter().map(|&index| {
                let row = rows[index].as_deref().unwrap_or_default();
                let params = self.positions.iter().map(move |&at| Bind(row.get(at).and_then(Option::as_deref)));
                transaction.execute_raw(&statement, params)
            }))
            .await;
            let mut out = Vec::new();
            let mut aborted = None;
            for (at, result) in results.iter().enumerate() {
                let Err(error) = result else { continue };
                if let Some(bind) = bind_error(error) {
                    out.push((at, bind.to_string()));
                } else if aborted.is_none() {
                    aborted = Some((at, error));
                }
            }
            match aborted {
                None => {
                    transaction.commit().await.map_err(unreachable)?;
                    refused.extend(out.into_iter().map(|(at, message)| (live[at], message)));
                    refused.sort_unstable_by_key(|(index, _)| *index);
                    return Ok(refused);
                }
                Some((at, error)) if refuses_the_row(error) => {
                    out.push((at, message(error)));
                    transaction.rollback().await.map_err(unreachable)?;
                    refused.extend(out.iter().map(|(at, message)| (live[*at], message.clone())));
                    let gone: Vec<usize> = out.iter().map(|(at, _)| *at).collect();
                    live = live.iter().enumerate().filter(|(at, _)| !gone.contains(at)).map(|(_, &index)| index).collect();
                }
                Some((_, error)) => return Err(Failure::Unreachable(message(error))),
            }
        }
    }

    /// Runs the query once per parameter row, pipelined; each row's result is its rows as
    /// objects, or why the database refused its parameters.
    ///
    /// # Errors
    /// When the database cannot be reached or answers with a failure that is not about the
    /// parameters.
    pub(crate) async fn query(&self, rows: &[Row]) -> Result<Vec<Result<Vec<Value>, String>>, Failure> {
        let client = self.pool.get().await.map_err(|e| Failure::Unreachable(e.to_string()))?;
        let statement = self.prepare(&client).await?;
        let results = join_all(rows.iter().map(|row| {
            let params = self.positions.iter().map(move |&at| Bind(row.get(at)));
            let (client, statement) = (&client, &statement);
            async move { client.query_raw(statement, params).await?.try_collect::<Vec<_>>().await }
        }))
        .await;
        results
            .into_iter()
            .map(|result| match result {
                Ok(found) => found.iter().map(object).collect::<Result<Vec<_>, _>>().map(Ok).map_err(unreachable),
                Err(error) if bind_error(&error).is_some() || refuses_the_row(&error) => Ok(Err(message(&error))),
                Err(error) => Err(Failure::Unreachable(message(&error))),
            })
            .collect()
    }
}

/// Why the database could not do what was asked.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connection failed or was lost, or the server failed: worth trying again.
    Unreachable(String),
    /// The statement does not fit the database: trying again will not help.
    Statement(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(message) | Self::Statement(message) => f.write_str(message),
        }
    }
}

fn unreachable(error: tokio_postgres::Error) -> Failure {
    Failure::Unreachable(message(&error))
}

/// A row as an object of its columns.
fn object(row: &tokio_postgres::Row) -> Result<Value, tokio_postgres::Error> {
    let mut object = Map::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        object.insert(column.name().to_owned(), value::column(row, index)?);
    }
    Ok(Value::Object(object))
}

fn bind_error(error: &tokio_postgres::Error) -> Option<&BindError> {
    std::error::Error::source(error).and_then(|source| source.downcast_ref::<BindError>())
}

/// Whether the server refused the row rather than failed: a data exception (class 22: a value
/// of the wrong syntax or out of range) or an integrity constraint (class 23).
fn refuses_the_row(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("23"))
}

/// The server's message with its SQLSTATE and detail, or the client's error.
fn message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({}: {detail})", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => bind_error(error).map_or_else(|| error.to_string(), ToString::to_string),
    }
}
