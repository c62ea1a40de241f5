//! JSON values to PostgreSQL parameters and columns back to JSON. A parameter is bound as the
//! type PostgreSQL inferred for it (a column's type, or a cast in the statement); a value that
//! does not fit fails its row alone, before anything is sent.

use std::error::Error;
use std::fmt;

use bytes::BytesMut;
use serde_json::{Number, Value};
use tokio_postgres::Row;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// The parameter types runnel binds JSON values to.
pub(crate) fn binds(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::JSONB
    )
}

/// The column types runnel reads into JSON.
pub(crate) fn reads(ty: &Type) -> bool {
    binds(ty) && *ty != Type::UNKNOWN || matches!(*ty, Type::OID | Type::BYTEA)
}

/// A value that does not fit its parameter's type: its row is refused.
#[derive(Debug)]
pub(crate) struct BindError(String);

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BindError {}

/// A message's value bound to a parameter: `null` (or no value) as NULL; booleans, integers
/// and other numbers to the types that hold them; strings to text types (other values as their
/// JSON text); anything to `json` and `jsonb`.
#[derive(Debug)]
pub(crate) struct Bind<'a>(pub(crate) Option<&'a Value>);

impl ToSql for Bind<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let value = match self.0 {
            None | Some(Value::Null) => return Ok(IsNull::Yes),
            Some(value) => value,
        };
        // A `BindError`, not a box of one: `?` boxes it, so that the error's source downcasts to it.
        let mismatch = || BindError(format!("{} does not fit a parameter of type {ty}", describe(value)));
        match *ty {
            Type::BOOL => value.as_bool().ok_or_else(mismatch)?.to_sql(ty, out),
            Type::INT2 => i16::try_from(value.as_i64().ok_or_else(mismatch)?).map_err(|_| mismatch())?.to_sql(ty, out),
            Type::INT4 => i32::try_from(value.as_i64().ok_or_else(mismatch)?).map_err(|_| mismatch())?.to_sql(ty, out),
            Type::INT8 => value.as_i64().ok_or_else(mismatch)?.to_sql(ty, out),
            #[allow(clippy::cast_possible_truncation)]
            Type::FLOAT4 => (value.as_f64().ok_or_else(mismatch)? as f32).to_sql(ty, out),
            Type::FLOAT8 => value.as_f64().ok_or_else(mismatch)?.to_sql(ty, out),
            Type::JSON | Type::JSONB => value.to_sql(ty, out),
            _ if binds(ty) => match value {
                Value::String(text) => text.as_str().to_sql(ty, out),
                other => other.to_string().as_str().to_sql(ty, out),
            },
            _ => Err(Box::new(BindError(format!("runnel cannot bind a parameter of type {ty}")))),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Column `index` of `row` as JSON: numbers, booleans, text, JSON as it is stored, `bytea` as
/// base64, NULL as `null`.
pub(crate) fn column(row: &Row, index: usize) -> Result<Value, tokio_postgres::Error> {
    use base64::Engine as _;
    let ty = row.columns()[index].type_();
    Ok(match *ty {
        Type::BOOL => row.try_get::<_, Option<bool>>(index)?.map(Value::Bool),
        Type::INT2 => row.try_get::<_, Option<i16>>(index)?.map(Value::from),
        Type::INT4 => row.try_get::<_, Option<i32>>(index)?.map(Value::from),
        Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::from),
        Type::OID => row.try_get::<_, Option<u32>>(index)?.map(Value::from),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(index)?.and_then(|f| Number::from_f64(f64::from(f))).map(Value::Number),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(index)?.and_then(Number::from_f64).map(Value::Number),
        Type::JSON | Type::JSONB => row.try_get::<_, Option<Value>>(index)?,
        Type::BYTEA => row.try_get::<_, Option<&[u8]>>(index)?.map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
        _ => row.try_get::<_, Option<String>>(index)?.map(Value::String),
    }
    .unwrap_or(Value::Null))
}
