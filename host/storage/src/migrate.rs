//! Schema migrations, kept per backend side by side and tracked in the database itself.
//!
//! SQLite counts applied migrations in `PRAGMA user_version` (as the files written before
//! PostgreSQL existed do); PostgreSQL in the table `exlogare_schema_migrations`, under a lock
//! so replicas starting together apply each migration once.

use crate::{Conn, Dialect, Result, StorageError};

/// The migration files of each backend, in order. The two lists have their own numbering:
/// each describes the same schema in its backend's types.
pub struct Migrations {
    pub sqlite: &'static [&'static str],
    pub postgres: &'static [&'static str],
}

fn too_new(version: usize, known: usize) -> StorageError {
    StorageError::other(format!(
        "the database is at schema version {version}, newer than this build knows ({known}); \
         run a newer exlogare-host"
    ))
}

fn failed(n: usize, e: StorageError) -> StorageError {
    StorageError::other(format!("migration {n} failed: {e}"))
}

impl Migrations {
    pub(crate) fn apply(&self, conn: &Conn<'_>) -> Result<()> {
        match conn.dialect() {
            Dialect::Sqlite => self.apply_sqlite(conn),
            Dialect::Postgres => self.apply_postgres(conn),
        }
    }

    fn apply_sqlite(&self, conn: &Conn<'_>) -> Result<()> {
        let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > self.sqlite.len() {
            return Err(too_new(version, self.sqlite.len()));
        }
        for (i, sql) in self.sqlite.iter().enumerate().skip(version) {
            let tx = conn.transaction("schema migrations")?;
            tx.execute_batch(sql).map_err(|e| failed(i + 1, e))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            tx.commit()?;
        }
        Ok(())
    }

    fn apply_postgres(&self, conn: &Conn<'_>) -> Result<()> {
        let tx = conn.transaction("exlogare schema migrations")?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS exlogare_schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )?;
        let version: usize = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM exlogare_schema_migrations",
            [],
            |r| r.get(0),
        )?;
        if version > self.postgres.len() {
            return Err(too_new(version, self.postgres.len()));
        }
        for (i, sql) in self.postgres.iter().enumerate().skip(version) {
            tx.execute_batch(sql).map_err(|e| failed(i + 1, e))?;
            tx.execute(
                "INSERT INTO exlogare_schema_migrations (version, applied_at)
                 VALUES (?1, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT))",
                [i + 1],
            )?;
        }
        tx.commit()
    }
}
