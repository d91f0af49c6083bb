//! The interface's behaviour, run once per backend: what a query written once gets from each.

use super::*;

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB, n INTEGER);",
        "ALTER TABLE t ADD COLUMN note TEXT;",
    ],
    postgres: &[
        "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BYTEA, n BIGINT);",
        "ALTER TABLE t ADD COLUMN note TEXT;",
    ],
};

fn sqlite_db() -> Database {
    Database::open(&Location::SqliteInMemory, &MIGRATIONS).unwrap()
}

fn postgres_db(purpose: &str) -> Option<(Database, Location)> {
    let at = testing::fresh_postgres(purpose)?;
    Some((Database::open(&at, &MIGRATIONS).unwrap(), at))
}

/// A test run on SQLite and on PostgreSQL; `$body` gets the database and where it is.
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let at = Location::SqliteFile(dir.path().join("t.db"));
                let db = Database::open(&at, &MIGRATIONS).unwrap();
                ($body)(db, at);
            }
            #[test]
            fn postgres() {
                if let Some((db, at)) = postgres_db(concat!("storage ", stringify!($name))) {
                    ($body)(db, at);
                }
            }
        }
    };
}

fn insert(c: &Conn<'_>, name: &str, n: i64) -> Result<i64> {
    c.query_row(
        "INSERT INTO t (name, data, n) VALUES (?1, ?2, ?3) RETURNING id",
        params![name, vec![0u8, 255, 10], n],
        |r| r.get(0),
    )
}

on_both!(values_read_back_as_written, |db: Database, _| {
    let c = db.conn().unwrap();
    let id = insert(&c, "Сборка упала", -7).unwrap();
    let (name, data, n, note): (String, Vec<u8>, i64, Option<String>) = c
        .query_row(
            "SELECT name, data, n, note FROM t WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (name.as_str(), data, n, note),
        ("Сборка упала", vec![0, 255, 10], -7, None)
    );
    // An integer parameter compared with a literal, a count and a sum cast to read back.
    let (count, sum): (u64, i64) = c
        .query_row(
            "SELECT COUNT(*), CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM t WHERE ?1 = 1",
            [1],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((count, sum), (1, -7));
});

on_both!(
    no_row_is_none_and_a_taken_name_a_conflict,
    |db: Database, _| {
        let c = db.conn().unwrap();
        let missing = c
            .query_row("SELECT id FROM t WHERE name = ?1", ["nobody"], |r| {
                r.get::<i64>(0)
            })
            .optional()
            .unwrap();
        assert_eq!(missing, None);
        insert(&c, "a", 1).unwrap();
        assert!(matches!(insert(&c, "a", 2), Err(StorageError::Conflict(_))));
        // The connection is usable after the refusal.
        assert_eq!(
            c.query_map("SELECT n FROM t ORDER BY id", [], |r| r.get::<i64>(0))
                .unwrap(),
            vec![1]
        );
    }
);

on_both!(
    an_unfinished_transaction_leaves_nothing,
    |db: Database, _| {
        let c = db.conn().unwrap();
        {
            let tx = c.transaction("t").unwrap();
            insert(&tx, "gone", 1).unwrap();
        }
        {
            let tx = c.transaction("t").unwrap();
            insert(&tx, "kept", 2).unwrap();
            // A savepoint whose statement failed is undone alone; the transaction goes on.
            {
                let sp = tx.savepoint().unwrap();
                assert!(insert(&sp, "kept", 3).is_err());
            }
            let sp = tx.savepoint().unwrap();
            insert(&sp, "also", 4).unwrap();
            sp.commit().unwrap();
            tx.commit().unwrap();
        }
        let names = c
            .query_map("SELECT name FROM t ORDER BY id", [], |r| r.get::<String>(0))
            .unwrap();
        assert_eq!(names, ["kept", "also"]);
    }
);

on_both!(
    migrations_run_once_and_a_newer_schema_is_refused,
    |db: Database, at: Location| {
        drop(db);
        // Opening again applies nothing new (the ALTER would fail if it ran twice).
        let db = Database::open(&at, &MIGRATIONS).unwrap();
        insert(&db.conn().unwrap(), "x", 1).unwrap();
        drop(db);
        let older = Migrations {
            sqlite: &MIGRATIONS.sqlite[..1],
            postgres: &MIGRATIONS.postgres[..1],
        };
        let e = Database::open(&at, &older).err().unwrap().to_string();
        assert!(
            e.contains("schema version 2, newer than this build knows (1)"),
            "{e}"
        );
    }
);

#[test]
fn postgres_locks_hold_across_connections_and_claims_skip_locked_rows() {
    let Some((db, _)) = postgres_db("storage locks") else {
        return;
    };
    let a = db.conn().unwrap();
    let b = db.conn().unwrap();
    for (i, name) in ["one", "two"].iter().enumerate() {
        insert(&a, name, i as i64).unwrap();
    }
    let held = a.transaction("budget:cloud").unwrap();
    let taken = |c: &Conn<'_>, lock: &str| -> bool {
        c.query_row(
            "SELECT pg_try_advisory_lock(hashtextextended(?1, 0))",
            [lock],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(
        !taken(&b, "budget:cloud"),
        "the lock is held by the other transaction"
    );
    assert!(taken(&b, "budget:other"), "another name is free");
    b.execute_batch("SELECT pg_advisory_unlock_all()").unwrap();

    let claim = format!(
        "SELECT name FROM t d ORDER BY id LIMIT 1{}",
        Dialect::Postgres.skip_locked("d")
    );
    let first: String = held.query_row(&claim, [], |r| r.get(0)).unwrap();
    let tx_b = b.transaction("other").unwrap();
    let second: String = tx_b.query_row(&claim, [], |r| r.get(0)).unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("one", "two"));
    drop(tx_b);
    held.commit().unwrap();
    assert!(taken(&b, "budget:cloud"), "released at commit");
}

#[test]
fn a_wrong_url_or_an_absent_server_says_what_to_check() {
    let e = Database::open(
        &Location::Postgres {
            url: "postgres://u@127.0.0.1:1/db?connect_timeout=1".into(),
            password: Some("secret-pw".into()),
        },
        &MIGRATIONS,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("cannot connect to PostgreSQL 127.0.0.1 port 1 database db"),
        "{e}"
    );
    assert!(!e.contains("secret-pw"), "{e}");
    let e = Database::open(
        &Location::Postgres {
            url: "postgres://[::1".into(),
            password: None,
        },
        &MIGRATIONS,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("not a PostgreSQL connection string"), "{e}");
}

#[test]
fn in_memory_sqlite_works_for_unit_tests() {
    let db = sqlite_db();
    assert_eq!(db.dialect(), Dialect::Sqlite);
    insert(&db.conn().unwrap(), "x", 1).unwrap();
}
