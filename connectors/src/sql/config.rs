//! The `sql` sink's configuration and its checks.

use std::collections::BTreeMap;

use runnel_blocks::JqProgram;
use runnel_blocks::time::Span;
use serde::Deserialize;

use super::params::Params;

/// The `sql` sink: messages as rows of a table, written in transactions.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSinkConfig {
    /// The database: `sqlite:<path>` (relative to the pipeline file; created if missing) or
    /// `postgres://user:password@host:port/database` (TLS is not used).
    pub url: String,
    /// Statements run once, when the database is first opened, before the node's own: the
    /// schema it needs (`CREATE TABLE IF NOT EXISTS ...`).
    #[serde(default)]
    pub init: Option<String>,
    /// PostgreSQL connections kept open, at most.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// TLS to PostgreSQL (off unless given).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The table rows go into, with `columns`.
    #[serde(default)]
    pub table: Option<String>,
    /// Each column's value, a jq expression of the message (its first output; none is NULL).
    #[serde(default)]
    pub columns: BTreeMap<String, JqProgram>,
    /// Columns of a unique key: a row whose key exists updates the other columns (an upsert).
    #[serde(default)]
    pub key: Vec<String>,
    /// Instead of `table`: a statement with named parameters (`:owner`), bound from `params`.
    #[serde(default)]
    pub statement: Option<String>,
    /// Each named parameter of `statement`, a jq expression of the message.
    #[serde(default)]
    pub params: BTreeMap<String, JqProgram>,
    /// Messages written in one transaction, at most.
    #[serde(default = "default_max_messages")]
    pub max_messages: usize,
    /// How long the first message of a transaction waits for more before it is written.
    #[serde(default = "default_linger")]
    pub linger: Span,
    /// The first wait before writing again after the database failed; it doubles up to 30 s.
    #[serde(default = "default_retry_backoff")]
    pub retry_backoff: Span,
}

pub(crate) fn default_pool_size() -> usize {
    4
}

fn default_max_messages() -> usize {
    500
}

fn default_linger() -> Span {
    Span::from_millis(50)
}

fn default_retry_backoff() -> Span {
    Span::from_millis(200)
}

/// TLS to PostgreSQL: on with this table (`tls = {}` trusts the Mozilla roots), with
/// `ca_file` for a private authority or a server's self-signed certificate.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificates trusted besides the Mozilla roots, relative to the pipeline file.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl TlsConfig {
    /// The settings with `ca_file` resolved against the pipeline file.
    pub(crate) fn resolved(&self, cx: &runnel_engine::BuildContext) -> Self {
        Self { ca_file: self.ca_file.as_ref().map(|file| cx.resolve(file)) }
    }
}

/// The problems of `tls` with `url`: TLS is for PostgreSQL, and an URL that asks for TLS needs it.
pub(crate) fn tls_problems(url: &str, tls: Option<&TlsConfig>) -> Vec<String> {
    let asks = url.contains("sslmode=require") || url.contains("sslmode=verify");
    match (super::database::Target::parse(url), tls) {
        (Ok(super::database::Target::Sqlite(_)), Some(_)) => vec!["`tls` is for PostgreSQL; SQLite is a local file".to_owned()],
        (Ok(super::database::Target::Postgres(_)), None) if asks => {
            vec!["`url` asks for TLS (`sslmode`): add `tls = {}` (or `tls = { ca_file = \"...\" }`)".to_owned()]
        }
        _ => Vec::new(),
    }
}

/// Whether `name` can be a table or column name as written (letters, digits, `_`).
pub(crate) fn is_identifier(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SqlSinkConfig {
    /// Every problem with the configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(super::database::Target::parse(&self.url).err());
        problems.extend(tls_problems(&self.url, self.tls.as_ref()));
        if self.pool_size == 0 {
            problems.push("`pool_size` must be at least 1".to_owned());
        }
        match (&self.table, &self.statement) {
            (Some(_), Some(_)) => problems.push("give `table` (with `columns`) or `statement` (with `params`), not both".to_owned()),
            (None, None) => problems.push("give `table` (with `columns`) or `statement` (with `params`)".to_owned()),
            (Some(table), None) => {
                if !is_identifier(table) {
                    problems.push(format!("`table`: `{table}` is not a name of letters, digits and `_`"));
                }
                if self.columns.is_empty() {
                    problems.push("`columns` is empty: name each column and the jq expression of its value".to_owned());
                }
                for column in self.columns.keys().chain(&self.key) {
                    if !is_identifier(column) {
                        problems.push(format!("`{column}` is not a column name of letters, digits and `_`"));
                    }
                }
                for column in &self.key {
                    if !self.columns.contains_key(column) {
                        problems.push(format!("`key`: `{column}` is not one of `columns`"));
                    }
                }
                if !self.params.is_empty() {
                    problems.push("`params` go with `statement`; with `table`, use `columns`".to_owned());
                }
            }
            (None, Some(_)) => {
                if !self.columns.is_empty() || !self.key.is_empty() {
                    problems.push("`columns` and `key` go with `table`; with `statement`, use `params`".to_owned());
                }
                for name in self.params.keys() {
                    if !is_identifier(name) {
                        problems.push(format!("`params`: `{name}` is not a parameter name of letters, digits and `_`"));
                    }
                }
            }
        }
        if self.max_messages == 0 {
            problems.push("`max_messages` must be at least 1".to_owned());
        }
        problems
    }

    /// The statement each message runs, and its parameters in order (`:name`).
    pub(crate) fn sql(&self) -> (String, Params) {
        if let Some(statement) = &self.statement {
            return (statement.clone(), Params::new(&self.params));
        }
        let table = self.table.as_deref().unwrap_or_default();
        let names: Vec<&String> = self.columns.keys().collect();
        let quoted = |name: &str| format!("\"{name}\"");
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quoted(table),
            names.iter().map(|n| quoted(n)).collect::<Vec<_>>().join(", "),
            names.iter().map(|n| format!(":{n}")).collect::<Vec<_>>().join(", ")
        );
        if !self.key.is_empty() {
            let rest: Vec<String> = names.iter().filter(|n| !self.key.contains(n)).map(|n| format!("{0} = excluded.{0}", quoted(n))).collect();
            let key = self.key.iter().map(|k| quoted(k)).collect::<Vec<_>>().join(", ");
            if rest.is_empty() {
                sql.push_str(&format!(" ON CONFLICT ({key}) DO NOTHING"));
            } else {
                sql.push_str(&format!(" ON CONFLICT ({key}) DO UPDATE SET {}", rest.join(", ")));
            }
        }
        (sql, Params::new(&self.columns))
    }
}
