//! The SQLite backend: one file in WAL mode, for a single host (and the CLI beside it).

use crate::value::{Row, Value};
use crate::{SqlBackend, StorageError};
use rusqlite::types::{ToSqlOutput, ValueRef};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn read(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

pub(crate) fn error(e: rusqlite::Error) -> StorageError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StorageError::NoRows,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StorageError::Conflict(format!("SQLite: {e}"))
        }
        _ => StorageError::other(format!("SQLite: {e}")),
    }
}

/// Opens (creating its folder) and configures a database file: WAL, full fsync on commit
/// (a delivery is acknowledged only once it is on disk), foreign keys, a busy wait for the
/// CLI writing beside `serve`.
pub(crate) fn configure(db: &rusqlite::Connection) -> Result<(), StorageError> {
    db.pragma_update(None, "journal_mode", "WAL")
        .map_err(error)?;
    db.pragma_update(None, "synchronous", "FULL")
        .map_err(error)?;
    db.pragma_update(None, "foreign_keys", "ON")
        .map_err(error)?;
    db.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(error)?;
    db.set_prepared_statement_cache_capacity(128);
    Ok(())
}

impl SqlBackend for rusqlite::Connection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StorageError> {
        let mut st = self.prepare_cached(sql).map_err(error)?;
        let n = st
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(error)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StorageError> {
        let mut st = self.prepare_cached(sql).map_err(error)?;
        let columns = st.column_count();
        let mut rows = st
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(error)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(error)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(read(r.get_ref(i).map_err(error)?));
            }
            out.push(Row::new(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StorageError> {
        self.execute_batch(sql).map_err(error)
    }
}
