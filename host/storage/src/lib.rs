//! The service's database behind one interface, with two backends.
//!
//! - **SQLite** (the embedded default): one file, for one host and the CLI beside it.
//! - **PostgreSQL**: several `serve` replicas share the queue, the accounts and the budget.
//!
//! Queries are written once, in the SQL both understand, with numbered parameters (`?1`);
//! [`Dialect`] holds the few differences. Each backend implements [`SqlBackend`]; everything
//! above it ([`Conn`], [`Tx`], [`Savepoint`], migrations) is shared. Transactions name what
//! they serialize ([`Conn::transaction`]): SQLite serializes every writer anyway, PostgreSQL
//! takes a lock of that name for the transaction, so a check-then-write (a budget spend, a
//! token-refresh lease) holds across replicas.

pub mod dialect;
mod migrate;
mod postgres;
mod sqlite;
pub mod testing;
mod value;

pub use dialect::Dialect;
pub use migrate::Migrations;
pub use value::{FromSql, Params, Row, ToSql, Value};

use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::NoTls;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no row matched the query")]
    NoRows,
    /// A unique key already held (by this process or another replica).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Other(String),
}

impl StorageError {
    pub fn other(message: impl Into<String>) -> Self {
        StorageError::Other(message.into())
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// What a backend does; the rest of this crate is written once on top of it.
pub trait SqlBackend {
    /// Runs one statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs one statement and returns every row it produced.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Runs statements without parameters (migrations, transaction control).
    fn batch(&mut self, sql: &str) -> Result<()>;
}

/// `query_row(…).optional()`: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(StorageError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Where the database is.
#[derive(Clone)]
pub enum Location {
    SqliteFile(PathBuf),
    SqliteInMemory,
    /// A libpq-style URL or key=value string; the password, when given apart (from a file
    /// or the environment), is added to it and never logged.
    Postgres {
        url: String,
        password: Option<String>,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::SqliteFile(p) => write!(f, "SQLite file {}", p.display()),
            Location::SqliteInMemory => write!(f, "SQLite in memory"),
            Location::Postgres { url, .. } => write!(f, "PostgreSQL {}", postgres_target(url)),
        }
    }
}

/// Host, port and database of a PostgreSQL URL, without user or password: for messages.
fn postgres_target(url: &str) -> String {
    match url.parse::<r2d2_postgres::postgres::Config>() {
        Ok(c) => {
            let hosts: Vec<String> = c
                .get_hosts()
                .iter()
                .map(|h| match h {
                    r2d2_postgres::postgres::config::Host::Tcp(h) => h.clone(),
                    r2d2_postgres::postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            format!(
                "{} port {} database {}",
                hosts.join(","),
                c.get_ports()
                    .first()
                    .map_or("5432".to_string(), |p| p.to_string()),
                c.get_dbname().unwrap_or("(the user's)")
            )
        }
        Err(_) => "(an unreadable URL)".into(),
    }
}

type PgPool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Connections the pool keeps to PostgreSQL: the workers, the HTTP handlers' blocking
/// threads and the poller each hold one only for a statement or a transaction.
const POSTGRES_POOL: u32 = 16;
/// How long a caller waits for a free pooled connection (or a reachable server).
const POSTGRES_WAIT: Duration = Duration::from_secs(10);

pub struct Database {
    backend: Backend,
}

enum Backend {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(PgPool),
}

impl Database {
    /// Opens the database and brings its schema up to date with `migrations`.
    pub fn open(location: &Location, migrations: &Migrations) -> Result<Self> {
        let backend = match location {
            Location::SqliteFile(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StorageError::other(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let db = rusqlite::Connection::open(path).map_err(|e| {
                    StorageError::other(format!("cannot open {}: {e}", path.display()))
                })?;
                sqlite::configure(&db)?;
                Backend::Sqlite(Mutex::new(db))
            }
            Location::SqliteInMemory => {
                let db = rusqlite::Connection::open_in_memory().map_err(sqlite::error)?;
                sqlite::configure(&db)?;
                Backend::Sqlite(Mutex::new(db))
            }
            Location::Postgres { url, password } => {
                let mut config: r2d2_postgres::postgres::Config = url.parse().map_err(|e| {
                    StorageError::other(format!(
                        "the storage URL is not a PostgreSQL connection string ({e}); \
                         write it as postgres://user@host:5432/database"
                    ))
                })?;
                if let Some(pw) = password {
                    config.password(pw);
                }
                config.connect_timeout(POSTGRES_WAIT);
                let pool = r2d2::Pool::builder()
                    .max_size(POSTGRES_POOL)
                    .min_idle(Some(1))
                    .connection_timeout(POSTGRES_WAIT)
                    .error_handler(Box::new(r2d2::NopErrorHandler))
                    .build(PostgresConnectionManager::new(config, NoTls))
                    .map_err(|e| {
                        StorageError::other(format!(
                            "cannot connect to {location:?}: {e}; check [storage] url and \
                             password, and that the server accepts this host"
                        ))
                    })?;
                Backend::Postgres(pool)
            }
        };
        let db = Database { backend };
        migrations.apply(&db.conn()?)?;
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A connection for a statement or a transaction; give it back (drop it) soon.
    pub fn conn(&self) -> Result<Conn<'_>> {
        let held = match &self.backend {
            Backend::Sqlite(db) => Held::Sqlite(db.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres(pool) => Held::Postgres(Box::new(pool.get().map_err(|e| {
                StorageError::other(format!(
                    "no PostgreSQL connection within {} s: {e}",
                    POSTGRES_WAIT.as_secs()
                ))
            })?)),
        };
        Ok(Conn {
            held: RefCell::new(held),
            dialect: self.dialect(),
            savepoints: Cell::new(0),
        })
    }
}

enum Held<'a> {
    Sqlite(MutexGuard<'a, rusqlite::Connection>),
    Postgres(Box<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>>),
}

/// One connection, used from one thread at a time.
pub struct Conn<'a> {
    held: RefCell<Held<'a>>,
    dialect: Dialect,
    savepoints: Cell<u32>,
}

impl<'a> Conn<'a> {
    fn with<R>(&self, f: impl FnOnce(&mut dyn SqlBackend) -> R) -> R {
        let mut held = self.held.borrow_mut();
        match &mut *held {
            Held::Sqlite(db) => f(&mut **db),
            Held::Postgres(client) => f(&mut ***client),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        let values = params.into_values();
        self.with(|b| b.execute(sql, &values)).map(|n| n as usize)
    }

    /// The first row's answer; [`StorageError::NoRows`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        let values = params.into_values();
        let rows = self.with(|b| b.query(sql, &values))?;
        f(rows.first().ok_or(StorageError::NoRows)?)
    }

    pub fn query_map<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let values = params.into_values();
        let rows = self.with(|b| b.query(sql, &values))?;
        rows.iter().map(f).collect()
    }

    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.with(|b| b.batch(sql))
    }

    /// Begins a transaction that writes. `lock` names what it serializes: on PostgreSQL
    /// another transaction naming the same lock (on any replica) waits until this one ends;
    /// SQLite serializes every writing transaction already (`BEGIN IMMEDIATE`).
    pub fn transaction(&self, lock: &str) -> Result<Tx<'_, 'a>> {
        match self.dialect {
            Dialect::Sqlite => self.execute_batch("BEGIN IMMEDIATE")?,
            Dialect::Postgres => {
                self.execute_batch("BEGIN")?;
                let tx = Tx {
                    conn: self,
                    done: false,
                };
                tx.query_row(
                    "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))",
                    [lock],
                    |_| Ok(()),
                )?;
                return Ok(tx);
            }
        }
        Ok(Tx {
            conn: self,
            done: false,
        })
    }
}

/// A transaction; rolled back when dropped without [`Tx::commit`].
pub struct Tx<'c, 'a> {
    conn: &'c Conn<'a>,
    done: bool,
}

impl<'a> std::ops::Deref for Tx<'_, 'a> {
    type Target = Conn<'a>;
    fn deref(&self) -> &Conn<'a> {
        self.conn
    }
}

impl<'a> Tx<'_, 'a> {
    pub fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.done = true;
        Ok(())
    }

    /// A savepoint: its work is undone alone when it is dropped without
    /// [`Savepoint::commit`], and the transaction goes on.
    pub fn savepoint(&self) -> Result<Savepoint<'_, 'a>> {
        let depth = self.conn.savepoints.get() + 1;
        self.conn.execute_batch(&format!("SAVEPOINT sp{depth}"))?;
        self.conn.savepoints.set(depth);
        Ok(Savepoint {
            conn: self.conn,
            depth,
            done: false,
        })
    }
}

impl Drop for Tx<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            // After a failed statement PostgreSQL refuses everything but a rollback; the
            // connection goes back to its pool clean.
            let _ = self.conn.execute_batch("ROLLBACK");
            self.conn.savepoints.set(0);
        }
    }
}

pub struct Savepoint<'c, 'a> {
    conn: &'c Conn<'a>,
    depth: u32,
    done: bool,
}

impl<'a> std::ops::Deref for Savepoint<'_, 'a> {
    type Target = Conn<'a>;
    fn deref(&self) -> &Conn<'a> {
        self.conn
    }
}

impl Savepoint<'_, '_> {
    pub fn commit(mut self) -> Result<()> {
        self.conn
            .execute_batch(&format!("RELEASE SAVEPOINT sp{}", self.depth))?;
        self.done = true;
        self.conn.savepoints.set(self.depth - 1);
        Ok(())
    }
}

impl Drop for Savepoint<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            let d = self.depth;
            let _ = self.conn.execute_batch(&format!(
                "ROLLBACK TO SAVEPOINT sp{d}; RELEASE SAVEPOINT sp{d}"
            ));
            self.conn.savepoints.set(d - 1);
        }
    }
}

#[cfg(test)]
mod tests;
