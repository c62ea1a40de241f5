//! The `sql` block's configuration and its checks.

use std::collections::BTreeMap;

use runnel_blocks::JqProgram;
use runnel_blocks::time::Span;
use serde::Deserialize;

use crate::field_path::FieldPath;

/// The `sql` block: a query per message, its rows set into the message.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlLookupConfig {
    /// The database: `sqlite:<path>` (relative to the pipeline file) or `postgres://...`.
    pub url: String,
    /// The query, with named parameters (`:owner`) bound from `params`, never spliced in.
    pub query: String,
    /// Each named parameter of `query`, a jq expression of the message (its first output; none
    /// is NULL).
    #[serde(default)]
    pub params: BTreeMap<String, JqProgram>,
    /// Where the rows go in the message.
    #[serde(default = "default_result_at")]
    pub result_at: FieldPath,
    /// `all`: the rows as an array of objects; `one`: the first row, or `null` when none.
    #[serde(default)]
    pub rows: Rows,
    /// Answers kept for the same parameters, for a while.
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    /// Statements run once, when the database is first opened, before the node's own: the
    /// schema it needs (`CREATE TABLE IF NOT EXISTS ...`).
    #[serde(default)]
    pub init: Option<String>,
    /// PostgreSQL connections kept open, at most (queries of a batch share one, pipelined).
    #[serde(default = "super::super::config::default_pool_size")]
    pub pool_size: usize,
    /// TLS to PostgreSQL (off unless given).
    #[serde(default)]
    pub tls: Option<super::super::config::TlsConfig>,
    /// The first wait before querying again after the database failed; it doubles up to 30 s.
    #[serde(default = "default_retry_backoff")]
    pub retry_backoff: Span,
}

/// How the rows are set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rows {
    /// Every row, as an array of objects (empty when none).
    #[default]
    All,
    /// The first row as an object, or `null`.
    One,
}

/// The cache of answers, by parameters.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// How long an answer is used before the database is asked again.
    pub ttl: Span,
    /// Answers kept at most; the least used go first.
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
}

fn default_result_at() -> FieldPath {
    FieldPath::try_from("rows".to_owned()).unwrap_or_else(|_| unreachable!("a valid path"))
}

fn default_retry_backoff() -> Span {
    Span::from_millis(200)
}

fn default_max_entries() -> u64 {
    10_000
}

impl SqlLookupConfig {
    /// Every problem with the configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = super::super::database::Target::parse(&self.url).err().into_iter().collect();
        problems.extend(super::super::config::tls_problems(&self.url, self.tls.as_ref()));
        for name in self.params.keys() {
            if !super::super::config::is_identifier(name) {
                problems.push(format!("`params`: `{name}` is not a parameter name of letters, digits and `_`"));
            }
        }
        if self.pool_size == 0 {
            problems.push("`pool_size` must be at least 1".to_owned());
        }
        if let Some(cache) = &self.cache {
            if cache.ttl.duration().is_zero() {
                problems.push("`cache.ttl` must be more than 0 (leave `cache` out to ask every time)".to_owned());
            }
            if cache.max_entries == 0 {
                problems.push("`cache.max_entries` must be at least 1".to_owned());
            }
        }
        problems
    }
}
