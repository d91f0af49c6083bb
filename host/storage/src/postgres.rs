//! The PostgreSQL backend: a pool of connections shared by the replicas' threads.
//!
//! Parameters are bound by the type the server infers for them, not by the Rust type: a
//! query written for SQLite compares `?2 = 1` (an `int4` to PostgreSQL) with a value that
//! is an `i64` here, and that must work without a cast in every query.

use crate::dialect::postgres_placeholders;
use crate::value::{Row, Value};
use crate::{SqlBackend, StorageError};
use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use std::error::Error;

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("an integer cannot be bound where {ty} is expected").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("a real number cannot be bound where {ty} is expected").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("text cannot be bound where {ty} is expected").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(format!("bytes cannot be bound where {ty} is expected").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn column(row: &postgres::Row, i: usize) -> Result<Value, StorageError> {
    let ty = row.columns()[i].type_();
    let read = |e: postgres::Error| StorageError::other(format!("PostgreSQL: {e}"));
    Ok(match *ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(read)?
            .map(Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(read)?
            .map(|v| Value::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(read)?
            .map(|v| Value::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(read)?
            .map(|v| Value::Int(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(read)?
            .map(Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(read)?
            .map(|v| Value::Real(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(i)
            .map_err(read)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(read)?
            .map(Value::Blob),
        // What `SELECT pg_advisory_xact_lock(…)` returns: nothing to read.
        Type::VOID => None,
        _ => {
            return Err(StorageError::other(format!(
                "column `{}` has the PostgreSQL type {ty}, which the storage layer does not read; \
                 cast it in the query (for a sum: CAST(SUM(x) AS BIGINT))",
                row.columns()[i].name()
            )));
        }
    }
    .unwrap_or(Value::Null))
}

pub(crate) fn error(e: postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
            StorageError::Conflict(format!("PostgreSQL: {}", db.message()))
        }
        Some(db) => StorageError::other(format!(
            "PostgreSQL refused a statement: {}{}",
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        )),
        None if e.is_closed() => StorageError::other(
            "the connection to PostgreSQL was closed; the pool reconnects on the next use",
        ),
        None => StorageError::other(format!("PostgreSQL: {e}")),
    }
}

fn bind(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl SqlBackend for postgres::Client {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StorageError> {
        let sql = postgres_placeholders(sql);
        postgres::Client::execute(self, sql.as_ref(), &bind(params)).map_err(error)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StorageError> {
        let sql = postgres_placeholders(sql);
        let rows = postgres::Client::query(self, sql.as_ref(), &bind(params)).map_err(error)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| column(r, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row::new)
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StorageError> {
        self.batch_execute(sql).map_err(error)
    }
}
