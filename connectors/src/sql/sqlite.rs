//! The SQLite side of the `sql` sink and block: a connection (WAL, `synchronous = FULL`, so a
//! commit is on disk; readers do not wait for the writer), one transaction of rows, and queries. A row the database refuses is undone alone without a
//! savepoint: SQLite's default conflict resolution (`ABORT`) backs out the failing statement and
//! keeps the transaction and the rows before it.

use std::path::Path;
use std::time::Duration;

use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode};
use serde_json::{Map, Number, Value};

use super::database::Spec;
use super::params::RowRef;

/// One message's parameters, in the statement's order.
pub(crate) type Row = Vec<Value>;

/// An open database with the statement checked against it.
#[derive(Debug)]
pub(crate) struct Database {
    connection: Connection,
    sql: String,
    /// For each of the statement's parameters, where rows hold its value.
    positions: Vec<usize>,
}

impl Database {
    /// Opens (or creates) the database at `path`, runs `spec.init`, and prepares the statement
    /// once, so a statement that does not fit the schema is an error at start; rows hold the
    /// parameters named in `spec.order`.
    ///
    /// # Errors
    /// The database's message when it cannot be opened, `init` fails or the statement does not
    /// prepare, or a parameter of the statement that `order` does not name.
    pub(crate) fn open(path: &Path, spec: &Spec) -> Result<Self, String> {
        let (sql, order) = (spec.sql.as_str(), spec.order.as_slice());
        let connection = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        connection.busy_timeout(Duration::from_secs(5)).map_err(|e| e.to_string())?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(|e| e.to_string())?;
        connection.pragma_update(None, "synchronous", "FULL").map_err(|e| e.to_string())?;
        if let Some(init) = &spec.init {
            connection.execute_batch(init).map_err(|e| format!("`init`: {e}"))?;
        }
        let positions = {
            let statement = connection.prepare_cached(sql).map_err(|e| format!("the statement `{sql}` does not prepare: {e}"))?;
            (1..=statement.parameter_count())
                .map(|i| {
                    let name = statement.parameter_name(i).unwrap_or_default().trim_start_matches([':', '@', '$']);
                    order.iter().position(|o| o == name).ok_or_else(|| format!("`statement`: the parameter `:{name}` has no expression in `params`"))
                })
                .collect::<Result<_, _>>()?
        };
        Ok(Self { connection, sql: sql.to_owned(), positions })
    }

    /// Writes `rows` in one transaction (a `None` is skipped). Returns the rows the database
    /// refused (a constraint, a type mismatch), by index, with its message; they are undone and
    /// the others are committed.
    ///
    /// # Errors
    /// When the transaction as a whole fails (the database is busy, the disk full, the file
    /// gone): nothing of it is committed.
    pub(crate) fn write(&mut self, rows: &[Option<RowRef<'_>>]) -> Result<Vec<(usize, String)>, String> {
        let transaction = self.connection.transaction().map_err(|e| e.to_string())?;
        let mut refused = Vec::new();
        {
            let mut statement = transaction.prepare_cached(&self.sql).map_err(|e| e.to_string())?;
            for (index, row) in rows.iter().enumerate() {
                let Some(row) = row else { continue };
                let params = self.positions.iter().map(|&at| Param(row.get(at).and_then(Option::as_deref)));
                match statement.execute(rusqlite::params_from_iter(params)) {
                    Ok(_) => {}
                    Err(error) if refuses_the_row(&error) => refused.push((index, error.to_string())),
                    Err(error) => return Err(error.to_string()),
                }
            }
        }
        transaction.commit().map_err(|e| e.to_string())?;
        Ok(refused)
    }
}

impl Database {
    /// Runs the query once per parameter row; each row's result is its rows as objects, or why
    /// SQLite refused its parameters.
    ///
    /// # Errors
    /// When the database fails (busy past the timeout, the file gone).
    pub(crate) fn query(&mut self, rows: &[Row]) -> Result<Vec<Result<Vec<Value>, String>>, String> {
        let mut statement = self.connection.prepare_cached(&self.sql).map_err(|e| e.to_string())?;
        let names: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let mut results = Vec::with_capacity(rows.len());
        for row in rows {
            let params = self.positions.iter().map(|&at| Param(row.get(at)));
            let found = statement.query_map(rusqlite::params_from_iter(params), |found| {
                let mut object = Map::with_capacity(names.len());
                for (index, name) in names.iter().enumerate() {
                    object.insert(name.clone(), column(found.get_ref(index)?));
                }
                Ok(Value::Object(object))
            });
            match found.and_then(Iterator::collect::<Result<Vec<_>, _>>) {
                Ok(objects) => results.push(Ok(objects)),
                Err(error) if refuses_the_row(&error) => results.push(Err(error.to_string())),
                Err(error) => return Err(error.to_string()),
            }
        }
        Ok(results)
    }
}

/// A column's value as JSON: integers and reals as numbers, text as strings, blobs as base64.
fn column(value: ValueRef<'_>) -> Value {
    use base64::Engine as _;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(text) => Value::String(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

/// Whether the error is about the row rather than the database: a constraint, a type the
/// column does not take, a value too big.
fn refuses_the_row(error: &rusqlite::Error) -> bool {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => {
            matches!(failure.code, ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig)
        }
        rusqlite::Error::ToSqlConversionFailure(_) | rusqlite::Error::InvalidParameterName(_) => true,
        _ => false,
    }
}

/// A JSON value bound as SQLite stores it: `null` (or a missing value) as NULL, booleans as 0
/// and 1, integers as INTEGER, other numbers as REAL, strings as TEXT (borrowed, not copied),
/// arrays and objects as their JSON text.
struct Param<'a>(Option<&'a Value>);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            None | Some(Value::Null) => ToSqlOutput::Borrowed(ValueRef::Null),
            Some(Value::Bool(b)) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
            Some(Value::Number(n)) => ToSqlOutput::Owned(match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => n.as_f64().map_or_else(|| SqlValue::Text(n.to_string()), SqlValue::Real),
            }),
            Some(Value::String(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Some(other) => ToSqlOutput::Owned(SqlValue::Text(other.to_string())),
        })
    }
}
