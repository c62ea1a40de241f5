//! The `sql` block (lookup, enrichment): a query per message, its parameters from jq
//! expressions bound by the database, its rows set into the message at `result_at`. A batch's
//! queries go to the database together (pipelined on one PostgreSQL connection; one after
//! another on SQLite's), each distinct set of parameters once; with `cache`, answers are kept
//! for `ttl`. Parameters the database refuses (`'abc'` for an integer) fail that message; a
//! database that fails is asked again after a backoff, and messages wait rather than go on
//! without their rows.
//!
//! - [`config`]: [`SqlLookupConfig`], its fields and their checks.

pub mod config;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use prometheus::IntCounter;
use runnel_engine::{
    Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, CancellationToken, Component, Message, Role, RunContext, async_trait,
};
use serde_json::Value;

pub use self::config::{CacheConfig, Rows, SqlLookupConfig};
use super::database::{Database, Failure, Purpose, Spec, Target};
use super::params::Params;
use super::sqlite::Row;

/// The longest wait between two attempts at a failing database.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Lookups of a `sql` block, one per message, by `result`: `hit` (answered without a query: by
/// the cache, or by the query of the same parameters for another message of the batch) or
/// `miss` (a query).
pub const LOOKUPS: &str = "runnel_sql_lookups_total";

impl Component for SqlLookupConfig {
    const TYPE: &'static str = "sql";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Looks up rows in SQLite or PostgreSQL for each message (a query with named parameters from jq) and sets them in the message; optional cache.";
    const EXAMPLE: &'static str = r#"url = "sqlite:media.db"
init = "CREATE TABLE IF NOT EXISTS media (owner TEXT, url TEXT PRIMARY KEY, width INTEGER, height INTEGER)"
query = "SELECT url, width, height FROM media WHERE owner = :owner ORDER BY url"
params = { owner = ".user" }
result_at = "media"
rows = "all"
cache = { ttl = "30s", max_entries = 10000 }"#;
}

#[async_trait]
impl BlockConfig for SqlLookupConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let target = Target::parse(&self.url).map_err(|e| BuildError::Other(e.into()))?;
        let params = Params::new(&self.params);
        let spec = Spec {
            sql: self.query.clone(),
            order: params.names(),
            init: self.init.clone(),
            pool_size: self.pool_size,
            purpose: Purpose::Query,
            tls: self.tls.as_ref().map(|tls| tls.resolved(cx)),
        };
        let resolve = |path: &str| cx.resolve(std::path::Path::new(path));
        let database = Database::open(&target, resolve, spec, &cx.name).await.map_err(|e| BuildError::Other(e.into()))?;
        let cache = self.cache.as_ref().map(|cache| Cache::builder().max_capacity(cache.max_entries).time_to_live(cache.ttl.duration()).build());
        let family = cx.metrics.counter_family(
            LOOKUPS,
            "Lookups of a sql block, one per message, by result: hit (no query: the cache, or the same parameters earlier in the batch) or miss (a query).",
            &["node", "result"],
        );
        Ok(BuiltBlock::task(SqlLookup {
            params,
            result_at: self.result_at.clone(),
            rows: self.rows,
            retry_backoff: self.retry_backoff.duration(),
            database,
            cache,
            hits: family.with_label_values(&[&*cx.name, "hit"]),
            misses: family.with_label_values(&[&*cx.name, "miss"]),
        }))
    }
}

/// The running block.
struct SqlLookup {
    params: Params,
    result_at: crate::field_path::FieldPath,
    rows: Rows,
    retry_backoff: Duration,
    database: Database,
    /// Answers by their parameters' JSON text.
    cache: Option<Cache<String, Arc<Value>>>,
    hits: IntCounter,
    misses: IntCounter,
}

#[async_trait]
impl Block for SqlLookup {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            let mut failures = Vec::new();
            // Each message with the key of its parameters; each key's parameters once.
            let mut waiting: Vec<(Message, String)> = Vec::with_capacity(batch.len());
            let mut answers: HashMap<String, Option<Arc<Value>>> = HashMap::new();
            let mut asked: Vec<(String, Row)> = Vec::new();
            for message in batch {
                let row = match self.params.row(message.value()) {
                    Ok(row) => row,
                    Err(error) => {
                        failures.push((message, error));
                        continue;
                    }
                };
                let key = Value::Array(row.clone()).to_string();
                if !answers.contains_key(&key) {
                    let cached = self.cache.as_ref().and_then(|cache| cache.get(&key));
                    if cached.is_none() {
                        asked.push((key.clone(), row));
                    }
                    answers.insert(key.clone(), cached);
                }
                waiting.push((message, key));
            }
            self.misses.inc_by(asked.len() as u64);
            self.hits.inc_by((waiting.len() - asked.len()) as u64);
            let refused = self.ask(&mut answers, asked, &cx.name, &cx.shutdown).await?;
            let mut out = Vec::with_capacity(waiting.len());
            for (mut message, key) in waiting {
                if let Some(error) = refused.get(&key) {
                    failures.push((message, error.clone()));
                    continue;
                }
                let Some(Some(answer)) = answers.get(&key) else { unreachable!("every key was answered or refused") };
                match self.result_at.set(message.value_mut(), Value::clone(answer)) {
                    Ok(()) => out.push(message),
                    Err(error) => failures.push((message, error)),
                }
            }
            if !out.is_empty() {
                cx.output.send(out).await?;
            }
            cx.output.fail(failures).await?;
        }
        Ok(())
    }
}

impl SqlLookup {
    /// Asks the database for the keys the cache did not answer (trying again while it fails),
    /// and fills `answers`; returns the keys whose parameters it refused, with why. When the
    /// pipeline stops while the database fails, every key asked is refused with the failure.
    async fn ask(
        &self,
        answers: &mut HashMap<String, Option<Arc<Value>>>,
        asked: Vec<(String, Row)>,
        node: &str,
        shutdown: &CancellationToken,
    ) -> Result<HashMap<String, String>, BlockError> {
        let mut refused = HashMap::new();
        if asked.is_empty() {
            return Ok(refused);
        }
        let (keys, rows): (Vec<String>, Vec<Row>) = asked.into_iter().unzip();
        let rows = Arc::new(rows);
        let mut backoff = self.retry_backoff;
        let results = loop {
            let error = match self.database.query(Arc::clone(&rows)).await {
                Ok(results) => break results,
                Err(Failure::Statement(message)) => return Err(BlockError::other(message)),
                Err(Failure::Unreachable(error)) => error,
            };
            if shutdown.is_cancelled() {
                let message = format!("the database cannot be reached: {error}");
                return Ok(keys.into_iter().map(|key| (key, message.clone())).collect());
            }
            tracing::warn!(node = %node, %error, retry_in = ?backoff, queries = rows.len(), "cannot query the database; the messages wait, trying again");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        for (key, result) in keys.into_iter().zip(results) {
            match result {
                Ok(found) => {
                    let answer = Arc::new(match self.rows {
                        Rows::All => Value::Array(found),
                        Rows::One => found.into_iter().next().unwrap_or(Value::Null),
                    });
                    if let Some(cache) = &self.cache {
                        cache.insert(key.clone(), Arc::clone(&answer));
                    }
                    answers.insert(key, Some(answer));
                }
                Err(error) => {
                    refused.insert(key, format!("the database refused the parameters: {error}"));
                }
            }
        }
        Ok(refused)
    }
}
