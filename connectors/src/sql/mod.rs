//! Records in SQL: the `sql` sink writes messages as rows, the `sql` block looks rows up for
//! each message. Both speak to SQLite (embedded: a file, nothing to install) or PostgreSQL (a
//! connection URL, a pool, TLS not used), with parameters from jq expressions bound by the
//! database (never spliced into the statement's text).
//!
//! The sink writes in transactions and acknowledges after the commit; a row the database
//! refuses (a constraint, a value of the wrong type) fails that message alone, to the `errors`
//! port with the database's message, and the rest commits. When the database itself fails (a
//! lost connection, a busy or full disk), the whole transaction is written again after a
//! backoff, and nothing of it is acknowledged before.
//!
//! - [`config`]: [`SqlSinkConfig`], its fields and their checks.
//! - [`lookup`]: the `sql` block, [`SqlLookupConfig`].
//! - `sink`: the running sink.
//! - `database`: SQLite or PostgreSQL behind one interface.
//! - `sqlite`, `postgres`: each database's connection, transaction and query.
//! - `named`: `:name` parameters numbered for PostgreSQL.
//! - `params`: a node's parameters, jq expressions of the message.

pub mod config;
mod database;
pub mod lookup;
mod named;
mod params;
mod postgres;
mod sink;
mod sqlite;

use std::sync::Arc;

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Role, async_trait};

pub use self::config::SqlSinkConfig;
use self::database::{Database, Purpose, Spec, Target};
pub use self::lookup::SqlLookupConfig;
use self::sink::SqlSink;

impl Component for SqlSinkConfig {
    const TYPE: &'static str = "sql";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "Writes messages as rows of a SQLite or PostgreSQL table (insert or upsert, or a statement with named parameters), in transactions; acknowledges after the commit.";
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
        let target = Target::parse(&self.url).map_err(|e| BuildError::Other(e.into()))?;
        let (sql, params) = self.sql();
        let spec = Spec {
            sql,
            order: params.names(),
            init: self.init.clone(),
            pool_size: self.pool_size,
            purpose: Purpose::Write,
            tls: self.tls.as_ref().map(|tls| tls.resolved(cx)),
        };
        let resolve = |path: &str| cx.resolve(std::path::Path::new(path));
        let database = Database::open(&target, resolve, spec, &cx.name).await.map_err(|e| BuildError::Other(e.into()))?;
        Ok(BuiltBlock::task(SqlSink::new(self.clone(), params, Arc::new(database))))
    }
}
