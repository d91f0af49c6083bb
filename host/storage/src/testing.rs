//! A PostgreSQL database per test, for the suites that run on both backends.
//!
//! `./x test` starts a throwaway cluster and sets `EXLOGARE_TEST_POSTGRES` to a URL on it
//! that may create databases; each call here creates a new, empty database there, so tests
//! running in parallel never see each other's rows. Without the variable the tests fail and
//! say how to get one: a suite that passed without PostgreSQL would claim what it never ran.

use crate::Location;
use std::sync::atomic::{AtomicU32, Ordering};

pub const TEST_POSTGRES_VAR: &str = "EXLOGARE_TEST_POSTGRES";

/// A new empty database on the test cluster, or `None` when the run opted out with
/// `EXLOGARE_TEST_POSTGRES=skip` (said on stderr). Panics with instructions when the
/// variable is missing.
pub fn fresh_postgres(purpose: &str) -> Option<Location> {
    let admin = match std::env::var(TEST_POSTGRES_VAR) {
        Ok(v) if v == "skip" => {
            eprintln!("{purpose}: PostgreSQL skipped ({TEST_POSTGRES_VAR}=skip)");
            return None;
        }
        Ok(v) => v,
        Err(_) => panic!(
            "{purpose} needs PostgreSQL and none is configured: run `./x test`, which installs \
             Debian's postgresql when missing and starts a throwaway cluster, or set \
             {TEST_POSTGRES_VAR}=postgres://user@127.0.0.1:5432/postgres (a user that may create \
             databases), or {TEST_POSTGRES_VAR}=skip to leave PostgreSQL out knowingly"
        ),
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "exl_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap_or_else(|e| {
        panic!("{purpose}: cannot reach the test PostgreSQL ({TEST_POSTGRES_VAR}): {e}")
    });
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("{purpose}: cannot create a test database: {e}"));
    let mut config: postgres::Config = admin.parse().expect("the URL just connected");
    config.dbname(&name);
    Some(Location::Postgres {
        url: config_url(&config, &name),
        password: config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    })
}

/// The admin URL with another database: key=value form, which every libpq-style parser reads.
fn config_url(config: &postgres::Config, dbname: &str) -> String {
    let mut parts = vec![format!("dbname={dbname}")];
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(host) = config.get_hosts().first() {
        match host {
            postgres::config::Host::Tcp(h) => parts.push(format!("host={h}")),
            postgres::config::Host::Unix(p) => parts.push(format!("host={}", p.display())),
        }
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    parts.join(" ")
}
